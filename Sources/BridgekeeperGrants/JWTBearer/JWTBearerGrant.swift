public import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperStore
import Foundation
import BridgekeeperClientAuth

/// The JWT bearer grant (RFC 7523 §2.1) whose assertion is an ID-JAG (draft-ietf-oauth-identity-
/// assertion-authz-grant §4.4; MCP EMA §5), redeemed for an access token for one MCP server.
///
/// Validation runs in one fixed order (docs/architecture.md, pinned by tests): request shape →
/// assertion size and shape → `typ` → `alg` not none → `iss` not Bridgekeeper's own (its issuer or
/// bridge issuer) → `alg` allowed → trusted `iss` → `alg` on that IdP's list →
/// key by `kid` from the IdP's JWKS → signature → required claims → `iss`, `aud` (our issuer,
/// string or one-element array) → `exp`/`nbf`/`iat` with leeway → lifetime cap → no `cnf` or
/// `authorization_details` (unsupported, never ignored) → `jti` unused →
/// `client_id` = the authenticated client → `resource` a catalog server this client may use →
/// tenant trusted → subject not disabled → policy → scope → mint → commit (replay mark, token,
/// audit in one transaction) → response.
///
/// - Throws: `invalid_request` for missing or malformed parameters; `invalid_grant` for every
///   assertion failure, a replay, a client or resource mismatch, a disabled subject or a policy
///   deny; `invalid_target` for an unknown resource or one the client may not use; `invalid_scope`
///   when nothing of the requested scope is granted.
public struct JWTBearerGrant: Grant {
    public static let grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    public static let parameters: Set<String> = ["assertion", "scope", "resource"]
    public static let repeatable: Set<String> = ["resource"]

    let deps: GrantDependencies

    public init(_ deps: GrantDependencies) { self.deps = deps }

    static func refusal(_ failure: IdPToken.Failure) -> OAuthError { IdPToken.refusal(failure, code: .invalidGrant, what: "assertion") }

    static func invalidGrant(_ error: JOSEError) -> OAuthError { refusal(.jose(error)) }

    public func issue(_ request: TokenRequest, for client: AuthenticatedClient, draft: inout AuditDraft) async throws(OAuthError) -> TokenResponse {
        let form = request.form
        draft.principal = .human

        // Request shape.
        let assertion = try form.required("assertion")
        let requestedScope = try form.value("scope").map { text throws(OAuthError) in try Scope(parsing: text) }
        let requestedResources = form.values("resource")
        guard requestedResources.count <= 1 else {
            throw OAuthError(.invalidTarget, "an access token is for one MCP server: send one resource", reason: .malformedResource)
        }
        let requestedResource = try requestedResources.first.map { text throws(OAuthError) in try ResourceURI(text) }

        // Assertion: size and shape, typ, alg, trusted issuer, then its own algorithm list; key by
        // kid, signature, claims.
        let signed: IdPToken
        do throws(IdPToken.Failure) {
            signed = try IdPToken(assertion, kind: .idJAG, idps: deps.idps, anyAlgorithms: deps.anyIdPAlgorithms, ownIssuers: deps.ownIssuers)
        } catch { throw Self.refusal(error) }
        let idp = signed.idp
        draft.issuer = signed.issuer
        let now = deps.clock.now()
        let verified: VerifiedJWT
        do throws(IdPToken.Failure) {
            try signed.checkAlgorithm()
            verified = try await signed.verify(rules: ClaimRules(issuer: signed.issuer, audience: deps.issuer, leeway: idp.leeway,
                                                                maxLifetime: idp.maxAssertionLifetime), now: now)
        } catch { throw Self.refusal(error) }
        let claims = verified.claims
        if let refusal = IdPToken.unsupportedExtension(in: claims, code: .invalidGrant, what: "assertion") { throw refusal }
        let subject: String, jti: String, expiration: Date, assertionClient: String
        do throws(JOSEError) {
            guard let sub = try claims.subject(), !sub.isEmpty, sub.utf8.count <= 255, !sub.utf8.contains(where: { $0 < 0x20 }) else {
                throw JOSEError(.invalidClaim, "sub must be 1 to 255 bytes without control characters")
            }
            guard let id = try claims.tokenID(), !id.isEmpty, id.utf8.count <= 256 else {
                throw JOSEError(.invalidClaim, "jti must be 1 to 256 bytes")
            }
            guard let exp = try claims.expiration(), let clientID = try claims.string("client_id") else {
                throw JOSEError(.missingClaim, "exp and client_id are required")
            }
            subject = sub
            jti = id
            expiration = exp
            assertionClient = clientID
            if let email = try claims.string("email") { draft.emailHash = AuditEvent.emailHash(email, key: deps.emailHashKey) }
        } catch { throw Self.invalidGrant(error) }
        draft.subject = subject
        draft.assertionID = jti

        // The steps after `jti` that need no store run first. The store's answers (mark present,
        // subject disabled) are then taken where the documented order puts them: on the way to an
        // issuance, inside the commit itself (one transaction, no window between check and write);
        // on the way to a refusal, from one read, so a replay is still reported as a replay.
        let mark = ReplayMark(namespace: .assertion, issuer: signed.issuer, jti: jti, expiresAt: expiration.addingTimeInterval(idp.leeway))
        let tenant = signed.tenant(in: claims)
        let subjectKey = SubjectKey(issuer: signed.issuer, tenant: tenant.value, subject: subject)
        let attributes = deps.attributes(claims, idp, of: subjectKey)
        let plan: Plan
        do throws(Refusal) {
            plan = try decide(claims: claims, idp: idp, attributes: attributes, tenant: tenant, requestedResource: requestedResource,
                              requestedScope: requestedScope, assertionClient: assertionClient, client: client, draft: &draft)
        } catch {
            let facts: RedemptionFacts
            do { facts = try await deps.store.redemptionFacts(mark: mark, subject: subjectKey) } catch { throw GrantDependencies.storeFailure }
            if facts.markPresent { throw Self.replayed }
            if error.afterSubjectStep, facts.subjectDisabled { throw Self.subjectDisabled }
            throw error.error
        }

        // Mint, then commit the mark, the token and the audit record together, unless the mark is
        // present or the subject disabled.
        let (token, outcome) = try await deps.mintAndCommit(subject: subjectKey, server: plan.server, scope: plan.scope, client: client,
                                                            marks: [mark], assertionID: jti, now: now, draft: &draft)
        switch outcome {
        case .committed: break
        case .replayed: throw Self.replayed
        case .subjectDisabled: throw Self.subjectDisabled
        }
        await deps.noteOwnerAttributes(attributes, of: subjectKey, issuedAt: claims.verifiedIssuedAt, now: now)
        return TokenResponse(accessToken: token, expiresIn: Int(deps.minter.lifetime), scope: plan.scope.description)
    }

    static let replayed = OAuthError(.invalidGrant, "assertion was already used", reason: .assertionReplayed)
    static let subjectDisabled = OAuthError(.invalidGrant, "the subject is disabled", reason: .subjectDisabled)

    /// What the store-free steps decided: the one server and the scope to grant.
    struct Plan {
        let server: MCPServer
        let scope: Scope
    }

    /// A store-free step's refusal, and whether that step comes after "subject not disabled" in
    /// the documented order (then a disabled subject is reported first).
    struct Refusal: Error {
        let error: OAuthError
        let afterSubjectStep: Bool
    }

    /// The steps after `jti` that need no store, in their documented order: `client_id`, resource,
    /// tenant, (subject not disabled: the store's), policy, scope.
    private func decide(claims: JWTClaims, idp: TrustedIdP, attributes: SubjectAttributes, tenant: (value: String?, trusted: Bool), requestedResource: ResourceURI?, requestedScope: Scope?,
                        assertionClient: String, client: AuthenticatedClient, draft: inout AuditDraft) throws(Refusal) -> Plan {
        // Bound to the authenticated client.
        guard assertionClient.isExactly(client.id) else {
            throw Refusal(error: OAuthError(.invalidGrant, "assertion was issued to another client", reason: .assertionClientMismatch),
                          afterSubjectStep: false)
        }

        // The one MCP server: the request's resource within the assertion's, in the catalog, for this client.
        let server: MCPServer
        do throws(OAuthError) { server = try resolveServer(requested: requestedResource, claims: claims, client: client) } catch {
            throw Refusal(error: error, afterSubjectStep: false)
        }
        draft.server = server.resource.canonical

        // Tenant.
        guard tenant.trusted else {
            throw Refusal(error: OAuthError(.invalidGrant, "assertion tenant is not trusted", reason: .tenantNotAllowed),
                          afterSubjectStep: false)
        }
        draft.tenant = tenant.value

        // Policy, then scope = requested ∩ assertion ∩ policy.
        do throws(OAuthError) {
            let assertionScope: Scope?
            do throws(OAuthError) {
                assertionScope = try (try? claims.string("scope")).flatMap { $0 }.map { text throws(OAuthError) in try Scope(parsing: text) }
            } catch { throw OAuthError(.invalidGrant, "assertion scope is malformed", reason: .malformedScope) }
            if claims.object["scope"] != nil, claims.object["scope"]?.stringValue == nil {
                throw OAuthError(.invalidGrant, "assertion scope must be a string", reason: .malformedScope)
            }
            let scope = try deps.grantedScope(claims: claims, idp: idp, attributes: attributes, server: server, requested: requestedScope, assertion: assertionScope,
                                              denial: .invalidGrant)
            draft.scopes = scope.tokens
            return Plan(server: server, scope: scope)
        } catch {
            throw Refusal(error: error, afterSubjectStep: true)
        }
    }

    private func resolveServer(requested: ResourceURI?, claims: JWTClaims, client: AuthenticatedClient) throws(OAuthError) -> MCPServer {
        var granted: [ResourceURI] = []
        if let value = claims.object["resource"] {
            let texts: [String]
            if let single = value.stringValue { texts = [single] } else if let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) {
                texts = array.compactMap(\.stringValue)
            } else {
                throw OAuthError(.invalidGrant, "assertion resource must be a string or an array of strings", reason: .malformedResource)
            }
            for text in texts {
                guard let uri = try? ResourceURI(text) else {
                    throw OAuthError(.invalidGrant, "assertion resource is not a valid resource indicator", reason: .malformedResource)
                }
                granted.append(uri)
            }
        }
        let target: ResourceURI
        if let requested {
            guard granted.isEmpty || granted.contains(requested) else {
                throw OAuthError(.invalidGrant, "resource is not one the assertion was issued for", reason: .resourceMismatch)
            }
            target = requested
        } else if granted.count == 1 {
            target = granted[0]
        } else if granted.isEmpty, deps.catalog.servers.count == 1 {
            target = deps.catalog.servers[0].resource
        } else {
            throw OAuthError(.invalidRequest, "name the MCP server with the resource parameter", reason: .resourceRequired)
        }
        return try deps.catalogServer(target, for: client)
    }
}

extension ReasonCode {
    /// The store failed; the request is answered 500 without detail.
    public static let storeUnavailable = ReasonCode("store_unavailable")
    /// No signing key is active (or OpenSSL failed to sign); answered 500 without detail.
    public static let signingUnavailable = ReasonCode("signing_unavailable")
}
