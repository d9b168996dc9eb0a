import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperPolicy
public import BridgekeeperStore
import Foundation

/// The JWT bearer grant (RFC 7523 §2.1) whose assertion is an ID-JAG (draft-ietf-oauth-identity-
/// assertion-authz-grant §4.4; MCP EMA §5), redeemed for an access token for one MCP server.
///
/// Validation runs in one fixed order (docs/architecture.md, pinned by tests): request shape →
/// assertion size and shape → `typ` → `alg` allowed → trusted `iss` → `alg` on that IdP's list →
/// key by `kid` from the IdP's JWKS → signature → required claims → `iss`, `aud` (our issuer,
/// string or one-element array) → `exp`/`nbf`/`iat` with leeway → lifetime cap → `jti` unused →
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

    public struct Dependencies: Sendable {
        public let issuer: String
        public let idps: [TrustedIdP]
        public let catalog: Catalog
        public let policy: Policy
        public let clients: ClientAuthenticator
        public let store: any IssuanceLedger
        public let minter: AccessTokenMinter
        public let clock: any WallClock
        /// Key for `AuditEvent.emailHash`.
        public let emailHashKey: [UInt8]

        public init(issuer: String, idps: [TrustedIdP], catalog: Catalog, policy: Policy, clients: ClientAuthenticator,
                    store: any IssuanceLedger, minter: AccessTokenMinter, clock: any WallClock, emailHashKey: [UInt8]) {
            self.issuer = issuer
            self.idps = idps
            self.catalog = catalog
            self.policy = policy
            self.clients = clients
            self.store = store
            self.minter = minter
            self.clock = clock
            self.emailHashKey = emailHashKey
        }
    }

    let deps: Dependencies
    /// Union of every IdP's algorithms, for the `alg` step that comes before the issuer is known.
    let anyIdPAlgorithms: Set<JWSAlgorithm>

    public init(_ deps: Dependencies) {
        self.deps = deps
        anyIdPAlgorithms = deps.idps.reduce(into: []) { $0.formUnion($1.algorithms) }
    }

    static func invalidGrant(_ error: JOSEError) -> OAuthError {
        OAuthError(.invalidGrant, "assertion rejected: \(error.reason)", reason: ReasonCode(error.code.rawValue))
    }

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

        // Assertion: size and shape, typ, alg.
        let jws: UnverifiedJWS
        let parsed: ParsedJWT
        do throws(JOSEError) {
            jws = try UnverifiedJWS(compact: assertion)
            try TokenKind.idJAG.checkType(jws.header)
            if jws.algorithmName.isExactly("none") || jws.algorithmName.asciiLowercased.isExactly("none") {
                throw JOSEError(.algorithmNone, "alg none is never accepted")
            }
            guard let algorithm = JWSAlgorithm(rawValue: jws.algorithmName), anyIdPAlgorithms.contains(algorithm) else {
                throw JOSEError(.algorithmNotAllowed, "alg \(jws.algorithmName.prefix(20)) is not accepted")
            }
            parsed = try ParsedJWT(jws)
        } catch { throw Self.invalidGrant(error) }

        // Trusted issuer, then its own algorithm list.
        let claimedIssuer: String?
        do throws(JOSEError) { claimedIssuer = try parsed.claims.issuer() } catch { throw Self.invalidGrant(error) }
        guard let claimedIssuer, let idp = deps.idps.first(where: { $0.issuer.isExactly(claimedIssuer) }) else {
            throw OAuthError(.invalidGrant, "assertion issuer is not trusted", reason: .untrustedIssuer)
        }
        draft.issuer = idp.issuer
        guard let algorithm = JWSAlgorithm(rawValue: jws.algorithmName), idp.algorithms.contains(algorithm) else {
            throw Self.invalidGrant(JOSEError(.algorithmNotAllowed, "alg \(jws.algorithmName) is not accepted from this issuer"))
        }

        // Key by kid, signature, claims.
        let now = deps.clock.now()
        let rules = ClaimRules(issuer: idp.issuer, audience: deps.issuer, leeway: idp.leeway, maxLifetime: idp.maxAssertionLifetime)
        let verified: VerifiedJWT
        do throws(KeyedVerification.Failure) {
            verified = try await KeyedVerification.verify(parsed, kind: .idJAG, keys: idp.keys, algorithms: idp.algorithms, rules: rules, now: now)
        } catch {
            switch error {
            case .jose(let jose): throw Self.invalidGrant(jose)
            case .keysUnavailable:
                throw OAuthError(.invalidGrant, "the issuer's keys are unavailable", reason: .keysUnavailable)
            }
        }
        let claims = verified.claims
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
        let mark = ReplayMark(namespace: .assertion, issuer: idp.issuer, jti: jti, expiresAt: expiration.addingTimeInterval(idp.leeway))
        let tenant: String? = idp.tenant.flatMap { rule in (try? claims.string(rule.claim)) ?? nil }
        let subjectKey = SubjectKey(issuer: idp.issuer, tenant: tenant, subject: subject)
        let plan: Plan
        do throws(Refusal) {
            plan = try decide(claims: claims, idp: idp, tenant: tenant, requestedResource: requestedResource,
                              requestedScope: requestedScope, assertionClient: assertionClient, client: client, draft: &draft)
        } catch {
            let facts: RedemptionFacts
            do { facts = try await deps.store.redemptionFacts(mark: mark, subject: subjectKey) } catch { throw Self.storeFailure }
            if facts.markPresent { throw Self.replayed }
            if error.afterSubjectStep, facts.subjectDisabled { throw Self.subjectDisabled }
            throw error.error
        }

        // Mint, then commit the mark, the token and the audit record together, unless the mark is
        // present or the subject disabled.
        let minted = deps.minter.claims(subject: subjectKey, principal: .human, audience: plan.server.resource.canonical,
                                        clientID: client.id, scope: plan.scope, now: now)
        draft.tokenID = minted.jti
        let token: String
        do { token = try deps.minter.sign(minted) } catch {
            throw OAuthError(.invalidGrant, "temporarily unavailable", reason: .signingUnavailable)
        }
        let record = IssuedToken(jti: minted.jti, subject: subjectKey, principal: .human, clientID: client.id,
                                 resource: plan.server.resource.canonical, scope: plan.scope.tokens, issuedAt: minted.issuedAt,
                                 expiresAt: minted.expiresAt, assertionID: jti)
        let outcome: CommitOutcome
        do {
            outcome = try await deps.store.commit(marks: [mark], token: record, audit: draft.event(.issuance, reason: .issued, time: now),
                                                  unlessDisabled: subjectKey)
        } catch { throw Self.storeFailure }
        switch outcome {
        case .committed: break
        case .replayed:
            draft.tokenID = nil
            throw Self.replayed
        case .subjectDisabled:
            draft.tokenID = nil
            throw Self.subjectDisabled
        }
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
    private func decide(claims: JWTClaims, idp: TrustedIdP, tenant: String?, requestedResource: ResourceURI?, requestedScope: Scope?,
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
        if let rule = idp.tenant {
            guard let tenant, rule.allowed.containsExactly(tenant) else {
                throw Refusal(error: OAuthError(.invalidGrant, "assertion tenant is not trusted", reason: .tenantNotAllowed),
                              afterSubjectStep: false)
            }
        }
        draft.tenant = tenant

        // Policy, then scope = requested ∩ assertion ∩ policy.
        do throws(OAuthError) {
            let attributes = SubjectAttributes(groups: Self.strings(claims, idp.groupsClaim), roles: Self.strings(claims, idp.rolesClaim))
            let tools: [Tool]
            switch deps.policy.decide(for: attributes, on: server) {
            case .deny(let reason):
                throw OAuthError(.invalidGrant, "policy does not grant this subject access to \(server.name)", reason: reason)
            case .allow(let allowed, _):
                tools = allowed
            }
            let assertionScope: Scope?
            do throws(OAuthError) {
                assertionScope = try (try? claims.string("scope")).flatMap { $0 }.map { text throws(OAuthError) in try Scope(parsing: text) }
            } catch { throw OAuthError(.invalidGrant, "assertion scope is malformed", reason: .malformedScope) }
            if claims.object["scope"] != nil, claims.object["scope"]?.stringValue == nil {
                throw OAuthError(.invalidGrant, "assertion scope must be a string", reason: .malformedScope)
            }
            let scope = try ScopeGrant.grant(requested: requestedScope, assertion: assertionScope, policyTools: tools)
            draft.scopes = scope.tokens
            return Plan(server: server, scope: scope)
        } catch {
            throw Refusal(error: error, afterSubjectStep: true)
        }
    }

    /// A store failure: the endpoint answers 500 without detail.
    static let storeFailure = OAuthError(.invalidRequest, "temporarily unavailable", reason: .storeUnavailable)

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
        guard let server = deps.catalog.server(for: target) else {
            throw OAuthError(.invalidTarget, "resource is not an MCP server this authorization server serves", reason: .unknownResource)
        }
        guard deps.clients.registration(client.id)?.allows(resource: server.resource) == true else {
            throw OAuthError(.invalidTarget, "this client may not obtain tokens for that resource", reason: .resourceNotAllowedForClient)
        }
        return server
    }

    /// A claim read as a list of strings: an array of strings, or one string; anything else is empty.
    static func strings(_ claims: JWTClaims, _ name: String?) -> [String] {
        guard let name, let value = claims.object[name] else { return [] }
        if let single = value.stringValue { return [single] }
        return value.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

extension ReasonCode {
    /// The store failed; the request is answered 500 without detail.
    public static let storeUnavailable = ReasonCode("store_unavailable")
    /// No signing key is active (or OpenSSL failed to sign); answered 500 without detail.
    public static let signingUnavailable = ReasonCode("signing_unavailable")
}
