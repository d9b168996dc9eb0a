import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperPolicy
public import BridgekeeperStore
import Foundation

/// What the grants that issue access tokens to people share (jwt-bearer with an ID-JAG, token
/// exchange of an ID token).
public struct GrantDependencies: Sendable {
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
    /// Union of every IdP's algorithms, for the `alg` step that comes before the issuer is known.
    let anyIdPAlgorithms: Set<JWSAlgorithm>

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
        anyIdPAlgorithms = idps.reduce(into: []) { $0.formUnion($1.algorithms) }
    }

    /// A store failure: the endpoint answers 500 without detail.
    static let storeFailure = OAuthError(.invalidRequest, "temporarily unavailable", reason: .storeUnavailable)

    /// The catalog server for `resource`, if this client may obtain tokens for it.
    func catalogServer(_ resource: ResourceURI, for client: AuthenticatedClient) throws(OAuthError) -> MCPServer {
        guard let server = catalog.server(for: resource) else {
            throw OAuthError(.invalidTarget, "resource is not an MCP server this authorization server serves", reason: .unknownResource)
        }
        guard clients.registration(client.id)?.allows(resource: server.resource) == true else {
            throw OAuthError(.invalidTarget, "this client may not obtain tokens for that resource", reason: .resourceNotAllowedForClient)
        }
        return server
    }

    /// The policy decision on the groups and roles in `claims`, then scope = requested ∩ assertion
    /// ∩ policy. A deny is answered with `denial` (the grants differ: RFC 6749 vs RFC 8693).
    func grantedScope(claims: JWTClaims, idp: TrustedIdP, server: MCPServer, requested: Scope?, assertion: Scope?,
                      denial: OAuthError.Code) throws(OAuthError) -> Scope {
        let attributes = SubjectAttributes(groups: Self.strings(claims, idp.groupsClaim), roles: Self.strings(claims, idp.rolesClaim))
        switch policy.decide(for: attributes, on: server) {
        case .deny(let reason):
            throw OAuthError(denial, "policy does not grant this subject access to \(server.name)", reason: reason)
        case .allow(let tools, _):
            return try ScopeGrant.grant(requested: requested, assertion: assertion, policyTools: tools)
        }
    }

    /// A claim read as a list of strings: an array of strings, or one string; anything else is empty.
    static func strings(_ claims: JWTClaims, _ name: String?) -> [String] {
        guard let name, let value = claims.object[name] else { return [] }
        if let single = value.stringValue { return [single] }
        return value.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// Mints a person's access token for `server` and commits it with `marks` and its audit record,
    /// unless a mark is present or the subject disabled (decided inside the commit). Returns the
    /// token with `.committed`, or the outcome that refused it (nothing was written).
    func mintAndCommit(subject: SubjectKey, server: MCPServer, scope: Scope, client: AuthenticatedClient, marks: [ReplayMark],
                       assertionID: String?, now: Date, draft: inout AuditDraft) async throws(OAuthError) -> (token: String, outcome: CommitOutcome) {
        let minted = minter.claims(subject: subject, principal: .human, audience: server.resource.canonical, clientID: client.id,
                                   scope: scope, now: now)
        draft.tokenID = minted.jti
        let token: String
        do { token = try minter.sign(minted) } catch {
            throw OAuthError(.invalidRequest, "temporarily unavailable", reason: .signingUnavailable)
        }
        let record = IssuedToken(jti: minted.jti, subject: subject, principal: .human, clientID: client.id, resource: server.resource.canonical,
                                 scope: scope.tokens, issuedAt: minted.issuedAt, expiresAt: minted.expiresAt, assertionID: assertionID)
        let outcome: CommitOutcome
        do {
            outcome = try await store.commit(marks: marks, token: record, audit: draft.event(.issuance, reason: .issued, time: now),
                                             unlessDisabled: subject)
        } catch { throw Self.storeFailure }
        if case .committed = outcome {} else { draft.tokenID = nil }
        return (token, outcome)
    }
}

/// A JWT an IdP signed (an ID-JAG, an ID token), through the steps every kind shares: size and
/// shape → `typ` of `kind` → `alg` not `none` and on some IdP's list → trusted `iss` (`init`); `alg`
/// on that IdP's list (`checkAlgorithm`, once the grant has recorded the issuer); then `verify`:
/// key by `kid` from that IdP's keys (one refetch on an unknown `kid`), signature, and `rules`.
struct IdPToken {
    enum Failure: Error {
        case jose(JOSEError)
        case untrustedIssuer
        case keysUnavailable
    }

    let idp: TrustedIdP
    let kind: TokenKind
    let parsed: ParsedJWT

    init(_ compact: String, kind: TokenKind, idps: [TrustedIdP], anyAlgorithms: Set<JWSAlgorithm>) throws(Failure) {
        let jws: UnverifiedJWS
        let parsed: ParsedJWT
        let issuer: String?
        do throws(JOSEError) {
            jws = try UnverifiedJWS(compact: compact)
            try kind.checkType(jws.header)
            if jws.algorithmName.asciiLowercased.isExactly("none") {
                throw JOSEError(.algorithmNone, "alg none is never accepted")
            }
            guard let algorithm = JWSAlgorithm(rawValue: jws.algorithmName), anyAlgorithms.contains(algorithm) else {
                throw JOSEError(.algorithmNotAllowed, "alg \(jws.algorithmName.prefix(20)) is not accepted")
            }
            parsed = try ParsedJWT(jws)
            issuer = try parsed.claims.issuer()
        } catch { throw .jose(error) }
        guard let issuer, let idp = idps.first(where: { $0.issuer.isExactly(issuer) }) else { throw .untrustedIssuer }
        self.idp = idp
        self.kind = kind
        self.parsed = parsed
    }

    func checkAlgorithm() throws(Failure) {
        guard let algorithm = JWSAlgorithm(rawValue: parsed.jws.algorithmName), idp.algorithms.contains(algorithm) else {
            throw .jose(JOSEError(.algorithmNotAllowed, "alg \(parsed.jws.algorithmName) is not accepted from this issuer"))
        }
    }

    func verify(rules: ClaimRules, now: Date) async throws(Failure) -> VerifiedJWT {
        do {
            return try await KeyedVerification.verify(parsed, kind: kind, keys: idp.keys, algorithms: idp.algorithms, rules: rules, now: now)
        } catch {
            switch error {
            case .jose(let jose): throw .jose(jose)
            case .keysUnavailable: throw .keysUnavailable
            }
        }
    }

    /// The failure as an OAuth error with `code`, naming the token as `what` ("assertion").
    static func refusal(_ failure: Failure, code: OAuthError.Code, what: String) -> OAuthError {
        switch failure {
        case .jose(let error): OAuthError(code, "\(what) rejected: \(error.reason)", reason: ReasonCode(error.code.rawValue))
        case .untrustedIssuer: OAuthError(code, "\(what) issuer is not trusted", reason: .untrustedIssuer)
        case .keysUnavailable: OAuthError(code, "the issuer's keys are unavailable", reason: .keysUnavailable)
        }
    }
}
