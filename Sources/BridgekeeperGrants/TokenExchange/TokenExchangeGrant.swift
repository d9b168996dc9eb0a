public import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperStore
import Foundation
import BridgekeeperClientAuth

/// RFC 8693 token exchange of an upstream IdP's OIDC ID token: the identity bridge for IdPs that
/// cannot issue ID-JAGs (SPECS §5). The person signed in once; the client exchanges the same ID
/// token for each server policy approves. Two outcomes:
/// - `requested_token_type` access token (the default) with `resource` = one of Bridgekeeper's
///   catalog servers: an access token, through the same policy, minting and commit as jwt-bearer;
/// - `requested_token_type` ID-JAG with `audience` = a configured third-party authorization server
///   and `resource` = a catalog server behind it: an ID-JAG signed by the bridge key (issuer
///   `{issuer}/bridge`), `client_id` = the client's id at that server, at most 300 s, policy still
///   deciding the scope. Bridgekeeper never redeems it (jwt-bearer refuses its own issuers).
///
/// Order (docs/architecture.md, pinned by tests): `subject_token_type` is an ID token →
/// `requested_token_type` known → no `actor_token` → target shape (access token: no `audience`,
/// one `resource`; ID-JAG: one `audience` that is a configured authorization server, not
/// Bridgekeeper, and one `resource`) → subject token size and shape → `typ` (an ID token's: `JWT`
/// or none, so an ID-JAG or an access token is refused) → `alg` not none → `iss` not Bridgekeeper's
/// own → `alg` allowed → trusted `iss` → `alg` on that IdP's list → this client has an id at that
/// IdP → key by `kid` → signature → claims (`iss`, `aud` = the client's id at the IdP,
/// `exp`/`nbf`/`iat` with leeway, lifetime cap, `auth_time` within the IdP's maximum age when set)
/// → subject claim → `resource` a catalog server this client may use, whose tokens come from the
/// requested issuer (ID-JAG: the client has an id at that authorization server, which knows this
/// IdP's people) → tenant trusted → subject not disabled (decided in the commit) → policy → scope
/// → mint → commit (record and audit together) → response.
///
/// Errors follow RFC 8693 §2.2.2: an unacceptable subject token, or one refused by policy, is
/// `invalid_request`; a resource or audience that is not acceptable is `invalid_target`; nothing
/// granted of the requested scope is `invalid_scope`. Each is audited with its reason. The ID
/// token is not single-use: one sign-in reaches every approved server until it expires.
public struct TokenExchangeGrant: Grant {
    public static let grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
    public static let parameters: Set<String> = [
        "subject_token", "subject_token_type", "requested_token_type", "resource", "audience", "scope", "actor_token", "actor_token_type",
    ]
    public static let repeatable: Set<String> = ["resource", "audience"]

    public static let idTokenType = "urn:ietf:params:oauth:token-type:id_token"
    public static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    public static let idJAGType = "urn:ietf:params:oauth:token-type:id-jag"
    /// The actor token's type: the agent's own signed assertion (RFC 8693 §3).
    public static let jwtTokenType = "urn:ietf:params:oauth:token-type:jwt"

    /// Token types this server issues by exchange (RFC 8414 `identity_chaining_requested_token_types_supported`):
    /// access tokens, and ID-JAGs when a third-party authorization server is configured.
    public static func issuedTokenTypes(bridging: Bool) -> [String] { bridging ? [accessTokenType, idJAGType] : [accessTokenType] }

    /// What the request asks for.
    enum Target {
        case accessToken(ResourceURI)
        case idJAG(ResourceURI, ThirdPartyAuthorizationServer)
    }

    let deps: GrantDependencies

    public init(_ deps: GrantDependencies) { self.deps = deps }

    /// The request's target, from `requested_token_type`, `audience` and `resource` (no store, no crypto).
    func target(_ form: FormParameters) throws(OAuthError) -> Target {
        let requested = form.value("requested_token_type") ?? Self.accessTokenType
        let bridging = deps.issuance.idJAGMinter != nil
        let wantsIDJAG = requested.isExactly(Self.idJAGType) && bridging
        guard requested.isExactly(Self.accessTokenType) || wantsIDJAG else {
            throw OAuthError(.invalidRequest, "requested_token_type must be \(Self.issuedTokenTypes(bridging: bridging).joined(separator: " or "))",
                             reason: .unsupportedTokenType)
        }
        if form.value("actor_token") != nil || form.value("actor_token_type") != nil {
            // Delegation to a registered agent, for an access token only (issue 5).
            guard deps.agents != nil, !wantsIDJAG else {
                throw OAuthError(.invalidRequest, "delegation (actor_token) is accepted only for an agent's access token", reason: .actorTokenNotAccepted)
            }
            guard form.value("actor_token") != nil, let type = form.value("actor_token_type"), type.isExactly(Self.jwtTokenType) else {
                throw OAuthError(.invalidRequest, "an actor_token needs actor_token_type \(Self.jwtTokenType)", reason: .unsupportedTokenType)
            }
        }
        let audiences = form.values("audience")
        let authorizationServer: ThirdPartyAuthorizationServer?
        if wantsIDJAG {
            guard audiences.count == 1 else {
                throw OAuthError(audiences.isEmpty ? .invalidRequest : .invalidTarget, "name exactly one authorization server with audience",
                                 reason: audiences.isEmpty ? .audienceRequired : .unknownAudience)
            }
            guard !deps.verifier.ownIssuers.containsExactly(audiences[0]) else {
                throw OAuthError(.invalidTarget, "Bridgekeeper issues access tokens for its own servers: request an access token, not an ID-JAG",
                                 reason: .selfAudience)
            }
            guard let known = deps.authorizationServers.first(where: { $0.issuer.isExactly(audiences[0]) }) else {
                throw OAuthError(.invalidTarget, "audience is not an authorization server that trusts this bridge", reason: .unknownAudience)
            }
            authorizationServer = known
        } else {
            guard audiences.isEmpty else {
                throw OAuthError(.invalidTarget, "an access token is for an MCP server: name it with resource, not audience", reason: .audienceNotAccepted)
            }
            authorizationServer = nil
        }
        let resources = form.values("resource")
        guard resources.count == 1 else {
            throw OAuthError(resources.isEmpty ? .invalidRequest : .invalidTarget, "name exactly one MCP server with resource",
                             reason: resources.isEmpty ? .resourceRequired : .malformedResource)
        }
        let resource = try ResourceURI(resources[0])
        return authorizationServer.map { .idJAG(resource, $0) } ?? .accessToken(resource)
    }

    public func issue(_ request: TokenRequest, for client: AuthenticatedClient, draft: inout AuditDraft) async throws(OAuthError) -> TokenResponse {
        let form = request.form
        draft.principal = .human

        // Request shape.
        let subjectTokenType = try form.required("subject_token_type")
        guard subjectTokenType.isExactly(Self.idTokenType) else {
            throw OAuthError(.invalidRequest, "subject_token_type must be \(Self.idTokenType)", reason: .unsupportedTokenType)
        }
        let target = try target(form)
        let requestedScope = try form.value("scope").map { text throws(OAuthError) in try Scope(parsing: text) }
        let subjectToken = try form.required("subject_token")

        // The subject token: size and shape, typ, alg, trusted issuer and its algorithms; then this
        // client's id at that IdP, which an ID token must name in its aud (OIDC Core §2: it belongs
        // to the client it was issued to); key by kid, signature, claims.
        let registration = deps.clients.registration(client.id)
        let now = deps.clock.now()
        let idToken = try await deps.verifier.verifyIDToken(subjectToken, now: now, audience: { idp throws(OAuthError) in
            guard let upstreamClientID = registration?.idpClientIDs[idp.name] else {
                throw OAuthError(.invalidRequest, "this client has no client id at \(idp.name) to accept its ID tokens",
                                 reason: .noUpstreamClient)
            }
            return upstreamClientID
        }, draft: &draft)
        draft.emailHash = idToken.emailHash ?? draft.emailHash
        draft.subject = idToken.subject.subject
        draft.assertionID = idToken.jti

        // The one MCP server, in the catalog, for this client, from the requested issuer.
        let server: MCPServer
        switch target {
        case .accessToken(let resource):
            server = try deps.access.catalogServer(resource, for: client)
        case .idJAG(let resource, let authorizationServer):
            server = try deps.access.catalogServer(resource, for: client, at: authorizationServer)
            guard registration?.authorizationServerClientIDs[authorizationServer.name] != nil else {
                throw OAuthError(.invalidTarget, "this client has no client id at \(authorizationServer.name)", reason: .noClientAtAudience)
            }
            guard authorizationServer.idp == idToken.idpName else {
                throw OAuthError(.invalidTarget, "\(authorizationServer.name) does not know people from \(idToken.idpName)",
                                 reason: .idpNotKnownToAudience)
            }
        }
        draft.server = server.resource.canonical

        // Tenant; the subject's state is decided in the commit (after policy on the way to a
        // refusal, where one read tells it).
        guard idToken.tenant.trusted else {
            throw OAuthError(.invalidRequest, "subject_token tenant is not trusted", reason: .tenantNotAllowed)
        }
        draft.tenant = idToken.tenant.value
        let subjectKey = idToken.subject

        // An agent acting for this person: its actor token, then the delegation rules.
        if let actorToken = form.value("actor_token"), case .accessToken = target {
            return try await delegate(to: actorToken, idToken: idToken, server: server, requested: requestedScope, client: client, now: now,
                                      draft: &draft)
        }

        // Policy, then scope = requested ∩ policy.
        let scope: Scope
        do throws(OAuthError) {
            scope = try deps.access.grantedScope(attributes: idToken.attributes, groupsOverage: idToken.groupsOverage, server: server,
                                                 requested: requestedScope, assertion: nil, denial: .invalidRequest)
        } catch {
            if try await deps.issuance.facts(subject: subjectKey).subjectDisabled { throw Self.subjectDisabled }
            throw error
        }
        draft.scopes = scope.tokens

        // Mint, then commit the record and its audit record, unless the subject is disabled.
        switch target {
        case .accessToken:
            let claims = deps.issuance.minter.claims(subject: subjectKey, principal: .human, audience: server.resource.canonical,
                                                     clientID: client.id, scope: scope, now: now)
            let token = try await deps.issuance.issue(.accessToken(claims), unlessDisabled: subjectKey, audit: .issued, now: now,
                                                      refusals: .init(disabled: Self.subjectDisabled), draft: &draft)
            await deps.noteOwnerAttributes(idToken.attributes, of: subjectKey, issuedAt: idToken.issuedAt, now: now)
            return TokenResponse(accessToken: token, expiresIn: Int(deps.issuance.minter.lifetime), scope: scope.description,
                                 issuedTokenType: Self.accessTokenType)
        case .idJAG(_, let authorizationServer):
            let issuedAt = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
            let idJAG = IDJAGClaims(issuer: deps.issuance.idJAGMinter?.issuer ?? "", subject: subjectKey, audience: authorizationServer.issuer,
                                    clientID: registration?.authorizationServerClientIDs[authorizationServer.name] ?? "",
                                    resource: server.resource.canonical, scope: scope, jti: AccessTokenMinter.tokenID(now: now),
                                    issuedAt: issuedAt, expiresAt: issuedAt.addingTimeInterval(authorizationServer.idJAGLifetime),
                                    authTime: idToken.authTime, amr: idToken.amr, acr: idToken.acr, email: idToken.verifiedEmail)
            let token = try await deps.issuance.issue(.idJAG(idJAG, clientID: client.id), unlessDisabled: subjectKey, audit: .idJAGIssued,
                                                      now: now, refusals: .init(disabled: Self.subjectDisabled), draft: &draft)
            return TokenResponse(accessToken: token, tokenType: "N_A", expiresIn: Int(authorizationServer.idJAGLifetime), scope: scope.description,
                                 issuedTokenType: Self.idJAGType)
        }
    }

    static let subjectDisabled = OAuthError(.invalidRequest, "the subject is disabled", reason: .subjectDisabled)

    /// Token exchange with an `actor_token` (issue 5): the owner's ID token (verified above) and
    /// the agent's own signed assertion. Order: actor token (shape, a registered agent, its keys,
    /// signature, claims, `jti` spent) → agent active → registered to act on its owner's behalf →
    /// the subject is its owner (a delegation the owner registered) → owner not disabled (also
    /// decided in the commit) → policy for the agent with the owner's rights of this ID token →
    /// scope → mint (`sub` = owner, `act` = agent, robot lifetime) → commit.
    func delegate(to actorToken: String, idToken: VerifiedIDToken, server: MCPServer, requested: Scope?,
                  client: AuthenticatedClient, now: Date, draft: inout AuditDraft) async throws(OAuthError) -> TokenResponse {
        let subject = idToken.subject
        guard let agents = deps.agents else {
            throw OAuthError(.invalidRequest, "delegation (actor_token) is not accepted here", reason: .actorTokenNotAccepted)
        }
        draft.principal = .agent
        let agent = try await deps.clients.actor(actorToken)
        draft.actor = agent.id
        draft.owner = agent.owner.subject
        guard agent.status == .active else {
            throw OAuthError(.invalidRequest, "agent \(agent.id) is disabled", reason: .agentDisabled)
        }
        guard agent.mode == .onBehalfOfOwner else {
            throw OAuthError(.invalidRequest, "agent \(agent.id) is registered to act as itself (client_credentials), not for its owner",
                             reason: .agentModeMismatch)
        }
        guard agent.owner == subject else {
            throw OAuthError(.invalidRequest, "the subject_token's person has not registered agent \(agent.id) to act for them",
                             reason: .notOwnersAgent)
        }
        let owner = idToken.attributes
        let scope: Scope
        do throws(OAuthError) {
            scope = try AgentRules.scope(for: agent, owner: owner, server: server, requested: requested, policy: deps.access.policy,
                                         delegation: agents.delegation, denial: .invalidRequest)
        } catch {
            if try await deps.issuance.facts(subject: subject).subjectDisabled { throw Self.subjectDisabled }
            throw error
        }
        draft.scopes = scope.tokens
        let token = try await deps.issueAgentToken(agent: agent, subject: subject, actsForOwner: true, server: server, scope: scope,
                                                   client: client, lifetime: agents.tokenLifetime, now: now,
                                                   refusals: .init(disabled: Self.subjectDisabled), draft: &draft)
        await deps.noteOwnerAttributes(owner, of: subject, issuedAt: idToken.issuedAt, now: now)
        return TokenResponse(accessToken: token, expiresIn: Int(agents.tokenLifetime), scope: scope.description, issuedTokenType: Self.accessTokenType)
    }
}

extension ReasonCode {
    /// `subject_token_type` or `requested_token_type` is not one this server exchanges.
    public static let unsupportedTokenType = ReasonCode("unsupported_token_type")
    /// An `actor_token` came with an ID token (delegation is for agents).
    public static let actorTokenNotAccepted = ReasonCode("actor_token_not_accepted")
    /// `audience` was sent for an access token (which names its server with `resource`).
    public static let audienceNotAccepted = ReasonCode("audience_not_accepted")
    /// The authenticated client has no client id at the ID token's IdP.
    public static let noUpstreamClient = ReasonCode("no_upstream_client")
    /// An ID-JAG was requested without `audience`.
    public static let audienceRequired = ReasonCode("audience_required")
    /// `audience` is not a configured third-party authorization server (or was repeated).
    public static let unknownAudience = ReasonCode("unknown_audience")
    /// `audience` names Bridgekeeper itself: its own servers get access tokens.
    public static let selfAudience = ReasonCode("self_audience")
    /// The client has no client id at the authorization server named in `audience`.
    public static let noClientAtAudience = ReasonCode("no_client_at_audience")
    /// The authorization server in `audience` does not know people from the ID token's IdP.
    public static let idpNotKnownToAudience = ReasonCode("idp_not_known_to_audience")
    /// An ID-JAG was issued for a third-party authorization server.
    public static let idJAGIssued = ReasonCode("id_jag_issued")
}
