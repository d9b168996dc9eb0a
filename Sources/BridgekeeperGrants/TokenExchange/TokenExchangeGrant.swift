import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperStore
import Foundation

/// RFC 8693 token exchange of an upstream IdP's OIDC ID token for an access token to one MCP
/// server: the identity bridge for IdPs that cannot issue ID-JAGs (SPECS §5). The person signed in
/// once; the client exchanges the same ID token for each server policy approves.
///
/// Order (docs/architecture.md, pinned by tests): `subject_token_type` is an ID token →
/// `requested_token_type` is an access token → no `actor_token` → one `resource` → subject token
/// size and shape → `typ` (an ID token's: `JWT` or none, so an ID-JAG or an access token is refused)
/// → `alg` allowed → trusted `iss` → `alg` on that IdP's list → this client has an id at that IdP →
/// key by `kid` → signature → claims (`iss`, `aud` = the client's id at the IdP, `exp`/`nbf`/`iat`
/// with leeway, lifetime cap, `auth_time` within the IdP's maximum age when set) → subject claim →
/// `resource` a catalog server this client may use → tenant trusted → subject not disabled (decided
/// in the commit) → policy → scope → mint → commit (token and audit record together) → response.
///
/// Errors follow RFC 8693 §2.2.2: an unacceptable subject token, or one refused by policy, is
/// `invalid_request`; a resource that is not ours or not this client's is `invalid_target`;
/// nothing granted of the requested scope is `invalid_scope`. Each is audited with its reason.
/// The ID token is not single-use: one sign-in reaches every approved server until it expires.
public struct TokenExchangeGrant: Grant {
    public static let grantType = "urn:ietf:params:oauth:grant-type:token-exchange"
    public static let parameters: Set<String> = [
        "subject_token", "subject_token_type", "requested_token_type", "resource", "audience", "scope", "actor_token", "actor_token_type",
    ]
    public static let repeatable: Set<String> = ["resource", "audience"]

    public static let idTokenType = "urn:ietf:params:oauth:token-type:id_token"
    public static let accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
    public static let idJAGType = "urn:ietf:params:oauth:token-type:id-jag"

    /// Token types this server issues by exchange (RFC 8414 `identity_chaining_requested_token_types_supported`).
    public static let issuedTokenTypes = [accessTokenType]

    let deps: GrantDependencies

    public init(_ deps: GrantDependencies) { self.deps = deps }

    static func refusal(_ failure: IdPToken.Failure) -> OAuthError { IdPToken.refusal(failure, code: .invalidRequest, what: "subject_token") }

    static func invalidSubjectToken(_ error: JOSEError) -> OAuthError { refusal(.jose(error)) }

    public func issue(_ request: TokenRequest, for client: AuthenticatedClient, draft: inout AuditDraft) async throws(OAuthError) -> TokenResponse {
        let form = request.form
        draft.principal = .human

        // Request shape.
        let subjectTokenType = try form.required("subject_token_type")
        guard subjectTokenType.isExactly(Self.idTokenType) else {
            throw OAuthError(.invalidRequest, "subject_token_type must be \(Self.idTokenType)", reason: .unsupportedTokenType)
        }
        let requested = form.value("requested_token_type") ?? Self.accessTokenType
        guard requested.isExactly(Self.accessTokenType) else {
            throw OAuthError(.invalidRequest, "requested_token_type must be \(Self.accessTokenType)", reason: .unsupportedTokenType)
        }
        guard form.value("actor_token") == nil, form.value("actor_token_type") == nil else {
            throw OAuthError(.invalidRequest, "delegation (actor_token) is not accepted with an ID token", reason: .actorTokenNotAccepted)
        }
        guard form.values("audience").isEmpty else {
            throw OAuthError(.invalidTarget, "an access token is for an MCP server: name it with resource, not audience", reason: .audienceNotAccepted)
        }
        let resources = form.values("resource")
        guard resources.count == 1 else {
            throw OAuthError(resources.isEmpty ? .invalidRequest : .invalidTarget, "name exactly one MCP server with resource",
                             reason: resources.isEmpty ? .resourceRequired : .malformedResource)
        }
        let requestedResource = try ResourceURI(resources[0])
        let requestedScope = try form.value("scope").map { text throws(OAuthError) in try Scope(parsing: text) }
        let subjectToken = try form.required("subject_token")

        // The subject token: size and shape, typ, alg, trusted issuer and its algorithms.
        let signed: IdPToken
        do throws(IdPToken.Failure) {
            signed = try IdPToken(subjectToken, kind: .idToken, idps: deps.idps, anyAlgorithms: deps.anyIdPAlgorithms)
            draft.issuer = signed.idp.issuer
            try signed.checkAlgorithm()
        } catch { throw Self.refusal(error) }
        let idp = signed.idp

        // An ID token belongs to the client it was issued to (OIDC Core §2): its aud must be this
        // client's id at that IdP.
        let registration = deps.clients.registration(client.id)
        guard let upstreamClientID = registration?.idpClientIDs[idp.name] else {
            throw OAuthError(.invalidRequest, "this client has no client id at \(idp.name) to accept its ID tokens",
                             reason: .noUpstreamClient)
        }

        // Key by kid, signature, claims.
        let now = deps.clock.now()
        let verified: VerifiedJWT
        do throws(IdPToken.Failure) {
            verified = try await signed.verify(rules: ClaimRules(issuer: idp.issuer, audience: upstreamClientID, leeway: idp.leeway,
                                                                 maxLifetime: idp.maxIDTokenLifetime), now: now)
        } catch { throw Self.refusal(error) }
        let claims = verified.claims
        let subject: String
        do throws(JOSEError) {
            if let maxAge = idp.maxIDTokenAge {
                guard let authTime = try claims.date("auth_time") else {
                    throw JOSEError(.missingClaim, "auth_time is required: this IdP's sign-ins are accepted for \(Int(maxAge)) s")
                }
                guard now.timeIntervalSince(authTime) <= maxAge + idp.leeway else {
                    throw JOSEError(.expired, "the sign-in (auth_time) is older than \(Int(maxAge)) s")
                }
            }
            guard let value = try claims.string(idp.subjectClaim), !value.isEmpty, value.utf8.count <= 255,
                  !value.utf8.contains(where: { $0 < 0x20 }) else {
                throw JOSEError(.invalidClaim, "\(idp.subjectClaim) must be 1 to 255 bytes without control characters")
            }
            subject = value
            if let email = try claims.string("email") { draft.emailHash = AuditEvent.emailHash(email, key: deps.emailHashKey) }
        } catch { throw Self.invalidSubjectToken(error) }
        draft.subject = subject
        draft.assertionID = (try? claims.tokenID()) ?? nil

        // The one MCP server, in the catalog, for this client.
        let server = try deps.catalogServer(requestedResource, for: client)
        draft.server = server.resource.canonical

        // Tenant; the subject's state is decided in the commit (after policy on the way to a
        // refusal, where one read tells it).
        let tenant: String? = idp.tenant.flatMap { rule in (try? claims.string(rule.claim)) ?? nil }
        if let rule = idp.tenant {
            guard let tenant, rule.allowed.containsExactly(tenant) else {
                throw OAuthError(.invalidRequest, "subject_token tenant is not trusted", reason: .tenantNotAllowed)
            }
        }
        draft.tenant = tenant
        let subjectKey = SubjectKey(issuer: idp.issuer, tenant: tenant, subject: subject)

        // Policy, then scope = requested ∩ policy.
        let scope: Scope
        do throws(OAuthError) {
            scope = try deps.grantedScope(claims: claims, idp: idp, server: server, requested: requestedScope, assertion: nil,
                                          denial: .invalidRequest)
        } catch {
            let disabled: Bool
            do { disabled = try await deps.store.redemptionFacts(mark: nil, subject: subjectKey).subjectDisabled } catch {
                throw GrantDependencies.storeFailure
            }
            if disabled { throw Self.subjectDisabled }
            throw error
        }
        draft.scopes = scope.tokens

        // Mint, then commit the token and its audit record, unless the subject is disabled.
        let (token, outcome) = try await deps.mintAndCommit(subject: subjectKey, server: server, scope: scope, client: client, marks: [],
                                                            assertionID: draft.assertionID, now: now, draft: &draft)
        guard case .committed = outcome else { throw Self.subjectDisabled }
        return TokenResponse(accessToken: token, expiresIn: Int(deps.minter.lifetime), scope: scope.description,
                             issuedTokenType: Self.accessTokenType)
    }

    static let subjectDisabled = OAuthError(.invalidRequest, "the subject is disabled", reason: .subjectDisabled)
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
}
