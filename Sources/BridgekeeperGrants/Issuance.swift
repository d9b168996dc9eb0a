import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperPolicy
public import BridgekeeperStore
import Foundation
import BridgekeeperKeys
public import BridgekeeperClientAuth

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
    /// Third-party authorization servers the bridge issues ID-JAGs for.
    public let authorizationServers: [ThirdPartyAuthorizationServer]
    /// Signs those ID-JAGs (nil when none is configured).
    public let idJAGMinter: IDJAGMinter?
    /// Issuers that are Bridgekeeper itself (its own and the bridge's): a token from one of them is
    /// never redeemed or exchanged here.
    let ownIssuers: [String]
    /// Robot identities (issue 5); nil when the deployment has no agent registry (unit tests).
    public let agents: AgentSupport?

    public init(issuer: String, idps: [TrustedIdP], catalog: Catalog, policy: Policy, clients: ClientAuthenticator,
                store: any IssuanceLedger, minter: AccessTokenMinter, clock: any WallClock, emailHashKey: [UInt8],
                authorizationServers: [ThirdPartyAuthorizationServer] = [], idJAGMinter: IDJAGMinter? = nil, agents: AgentSupport? = nil) {
        self.issuer = issuer
        self.idps = idps
        self.catalog = catalog
        self.policy = policy
        self.clients = clients
        self.store = store
        self.minter = minter
        self.clock = clock
        self.emailHashKey = emailHashKey
        self.authorizationServers = authorizationServers
        self.idJAGMinter = idJAGMinter
        self.agents = agents
        anyIdPAlgorithms = idps.reduce(into: []) { $0.formUnion($1.algorithms) }
        // The bridge issuer is ours whether or not a bridge is configured now: an ID-JAG it issued
        // before the configuration changed is still never redeemed here.
        ownIssuers = [issuer, (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/bridge"]
            + (idJAGMinter.map { [$0.issuer] } ?? [])
    }

    /// A store failure: the endpoint answers 500 without detail.
    static let storeFailure = OAuthError(.invalidRequest, "temporarily unavailable", reason: .storeUnavailable)

    /// The catalog server for `resource`, if this client may obtain tokens for it, and its tokens
    /// come from `authorizationServer` (a third party's name; nil = Bridgekeeper itself).
    func catalogServer(_ resource: ResourceURI, for client: AuthenticatedClient,
                       at authorizationServer: ThirdPartyAuthorizationServer? = nil) throws(OAuthError) -> MCPServer {
        guard let server = catalog.server(for: resource) else {
            throw OAuthError(.invalidTarget, "resource is not an MCP server this authorization server serves", reason: .unknownResource)
        }
        // An agent has no client registration: its grant and its owner bound it (the grant decides).
        guard client.isAgent || clients.registration(client.id)?.allows(resource: server.resource) == true else {
            throw OAuthError(.invalidTarget, "this client may not obtain tokens for that resource", reason: .resourceNotAllowedForClient)
        }
        switch (server.authorizationServer, authorizationServer) {
        case (nil, nil):
            return server
        case (let reference?, nil):
            throw OAuthError(.invalidTarget, "\(server.name)'s tokens come from its own authorization server: request an ID-JAG with audience \(reference.issuer)",
                             reason: .thirdPartyResource)
        case (let reference?, let target?) where reference.name == target.name:
            return server
        case (_, .some):
            throw OAuthError(.invalidTarget, "resource is not served by the authorization server named in audience", reason: .resourceNotAtAudience)
        }
    }

    /// The policy decision on `attributes` (the groups and roles `claims` carry, with their origin),
    /// then scope = requested ∩ assertion ∩ policy. A deny is answered with `denial` (the grants
    /// differ: RFC 6749 vs RFC 8693).
    func grantedScope(claims: JWTClaims, idp: TrustedIdP, attributes: SubjectAttributes, server: MCPServer, requested: Scope?, assertion: Scope?,
                      denial: OAuthError.Code) throws(OAuthError) -> Scope {
        if let groupsClaim = idp.groupsClaim, Self.groupsOverflowed(claims, groupsClaim) {
            throw OAuthError(denial, "the token's \(groupsClaim) did not fit in it (groups overage): access is not decided on a partial group list",
                             reason: .groupsOverage)
        }
        switch policy.decide(for: attributes, on: server) {
        case .deny(let reason, let rules):
            // The person asking is told why (their own access): the reason code and, for a deny
            // rule, its id.
            let which = rules.isEmpty ? "" : " by \(rules.joined(separator: ", "))"
            throw OAuthError(denial, "policy does not grant this subject access to \(server.name) (\(reason.rawValue)\(which))", reason: reason)
        case .allow(let tools, _):
            return try ScopeGrant.grant(requested: requested, assertion: assertion, policyTools: tools)
        }
    }

    /// A claim read as a list of strings: an array of strings, or one string; anything else is empty.
    /// A name with dots that is not itself a top-level claim is a path into nested objects
    /// (Keycloak's `realm_access.roles`, `resource_access.<client>.roles`).
    static func strings(_ claims: JWTClaims, _ name: String?) -> [String] {
        guard let name, let value = claim(claims, name) else { return [] }
        if let single = value.stringValue { return [single] }
        return value.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// The claim `name`, or the value at its dotted path when no top-level claim has that name.
    static func claim(_ claims: JWTClaims, _ name: String) -> JSONValue? {
        if let value = claims.object[name] { return value }
        guard name.contains(".") else { return nil }
        var current: JSONValue? = .object(claims.object)
        for part in name.split(separator: ".", omittingEmptySubsequences: false) {
            current = current?.objectValue?[String(part)]
        }
        return current
    }

    /// Whether the token says its `groupsClaim` was left out for size: OIDC Core §5.6.2
    /// distributed claims (`_claim_names` naming it; Entra's overage) or Entra's `hasgroups: true`.
    static func groupsOverflowed(_ claims: JWTClaims, _ groupsClaim: String) -> Bool {
        if claims.object["_claim_names"]?.objectValue?[groupsClaim] != nil { return true }
        if case .bool(true)? = claims.object["hasgroups"] { return true }
        return false
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

extension GrantDependencies {
    /// Signs an ID-JAG with the bridge key and commits its record (kind `id_jag`) and audit record,
    /// unless the subject is disabled (decided inside the commit). Returns the ID-JAG with
    /// `.committed`, or the outcome that refused it (nothing was written).
    func signAndCommit(_ claims: IDJAGClaims, client: AuthenticatedClient, now: Date,
                       draft: inout AuditDraft) async throws(OAuthError) -> (token: String, outcome: CommitOutcome) {
        draft.tokenID = claims.jti
        let token: String
        do {
            guard let idJAGMinter else { throw JOSEError(.invalidKey, "no bridge") }
            token = try idJAGMinter.sign(claims)
        } catch {
            throw OAuthError(.invalidRequest, "temporarily unavailable", reason: .signingUnavailable)
        }
        let record = IssuedToken(jti: claims.jti, kind: .idJAG, subject: claims.subject, principal: .human, clientID: client.id,
                                 resource: claims.resource, scope: claims.scope.tokens, issuedAt: claims.issuedAt, expiresAt: claims.expiresAt,
                                 assertionID: draft.assertionID)
        let outcome: CommitOutcome
        do {
            outcome = try await store.commit(marks: [], token: record, audit: draft.event(.issuance, reason: .idJAGIssued, time: now),
                                             unlessDisabled: claims.subject)
        } catch { throw Self.storeFailure }
        if case .committed = outcome {} else { draft.tokenID = nil }
        return (token, outcome)
    }
}

/// A JWT an IdP signed (an ID-JAG, an ID token), through the steps every kind shares: size and
/// shape → `typ` of `kind` → `alg` not `none` → `iss` not Bridgekeeper's own → `alg` on some IdP's
/// list → trusted `iss` (`init`); `alg`
/// on that IdP's list (`checkAlgorithm`, once the grant has recorded the issuer); then `verify`:
/// key by `kid` from that IdP's keys (one refetch on an unknown `kid`), signature, and `rules`.
struct IdPToken {
    enum Failure: Error {
        case jose(JOSEError)
        case untrustedIssuer
        /// Bridgekeeper's own issuer or its bridge's: never redeemed here (SPECS §2, "other rules").
        case selfIssued
        case keysUnavailable
    }

    let idp: TrustedIdP
    /// The issuer the token named, among the IdP's (with its tenant and keys).
    let entry: TrustedIdP.Issuer
    let kind: TokenKind
    let parsed: ParsedJWT

    /// The token's exact `iss`.
    var issuer: String { entry.issuer }

    init(_ compact: String, kind: TokenKind, idps: [TrustedIdP], anyAlgorithms: Set<JWSAlgorithm>, ownIssuers: [String]) throws(Failure) {
        let jws: UnverifiedJWS
        let parsed: ParsedJWT
        let issuer: String?
        do throws(JOSEError) {
            jws = try UnverifiedJWS(compact: compact)
            try kind.checkType(jws.header)
            if jws.algorithmName.asciiLowercased.isExactly("none") {
                throw JOSEError(.algorithmNone, "alg none is never accepted")
            }
            parsed = try ParsedJWT(jws)
            issuer = try parsed.claims.issuer()
        } catch { throw .jose(error) }
        // Before the algorithm list: the bridge may sign with an algorithm no IdP uses, and a token
        // of our own must be named as such whatever its algorithm.
        if let issuer, ownIssuers.containsExactly(issuer) { throw .selfIssued }
        guard let algorithm = JWSAlgorithm(rawValue: jws.algorithmName), anyAlgorithms.contains(algorithm) else {
            throw .jose(JOSEError(.algorithmNotAllowed, "alg \(jws.algorithmName.prefix(20)) is not accepted"))
        }
        guard let issuer else { throw .untrustedIssuer }
        var found: (TrustedIdP, TrustedIdP.Issuer)? = nil
        for idp in idps {
            if let entry = idp.issuers.first(where: { $0.issuer.isExactly(issuer) }) {
                found = (idp, entry)
                break
            }
        }
        guard let (idp, entry) = found else { throw .untrustedIssuer }
        self.idp = idp
        self.entry = entry
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
            return try await KeyedVerification.verify(parsed, kind: kind, keys: entry.keys, algorithms: idp.algorithms, rules: rules, now: now)
        } catch {
            switch error {
            case .jose(let jose): throw .jose(jose)
            case .keysUnavailable: throw .keysUnavailable
            }
        }
    }

    /// The token's tenant under the IdP's tenant rule: nil and trusted when the IdP has no rule;
    /// otherwise the claim's value, trusted when it is on the allowed list and, for an issuer
    /// expanded from a template, is the tenant that issuer names (Entra: `tid` must match `iss`).
    func tenant(in claims: JWTClaims) -> (value: String?, trusted: Bool) {
        guard let rule = idp.tenant else {
            // No rule: trusted, unless the issuer itself names a tenant (a template expanded in code
            // without a rule), which the token must then carry in the tenant claim of the draft.
            guard let expected = entry.tenant else { return (nil, true) }
            let value = (try? claims.string("tenant")) ?? nil
            return (value, value.map { $0.isExactly(expected) } ?? false)
        }
        guard let value = (try? claims.string(rule.claim)) ?? nil else { return (nil, false) }
        let trusted = rule.allowed.containsExactly(value) && (entry.tenant.map { $0.isExactly(value) } ?? true)
        return (value, trusted)
    }

    /// Claims that bind or narrow a grant in ways Bridgekeeper does not enforce yet, refused rather
    /// than ignored: ignoring them would silently widen what the IdP granted.
    /// - `cnf` (RFC 7800; `cnf.jkt` of DPoP, RFC 9449 §6): the grant is bound to a key whose
    ///   possession we would not check, so redeeming it as a bearer grant would unbind it.
    /// - `authorization_details` (RFC 9396): the IdP narrowed access in a form we do not evaluate.
    static func unsupportedExtension(in claims: JWTClaims, code: OAuthError.Code, what: String) -> OAuthError? {
        if claims.object["cnf"] != nil {
            return OAuthError(code, "\(what) is bound to a key (cnf): key-bound (DPoP) grants are not supported, and it is never redeemed as a bearer grant",
                              reason: .keyBoundGrantUnsupported)
        }
        if claims.object["authorization_details"] != nil {
            return OAuthError(code, "\(what) carries authorization_details (RFC 9396), which are not supported: it is refused rather than redeemed without them",
                              reason: .authorizationDetailsUnsupported)
        }
        return nil
    }

    /// The failure as an OAuth error with `code`, naming the token as `what` ("assertion").
    static func refusal(_ failure: Failure, code: OAuthError.Code, what: String) -> OAuthError {
        switch failure {
        case .jose(let error): OAuthError(code, "\(what) rejected: \(error.reason)", reason: ReasonCode(error.code.rawValue))
        case .untrustedIssuer: OAuthError(code, "\(what) issuer is not trusted", reason: .untrustedIssuer)
        case .selfIssued: OAuthError(code, "\(what) was issued by Bridgekeeper itself and is never redeemed here", reason: .selfIssued)
        case .keysUnavailable: OAuthError(code, "the issuer's keys are unavailable", reason: .keysUnavailable)
        }
    }
}

extension JWTClaims {
    /// `iat` of a verified token (`ClaimRules` checked it is a NumericDate when present).
    var verifiedIssuedAt: Date? { (try? issuedAt()) ?? nil }
}

extension ReasonCode {
    /// The IdP's token carries `cnf`: a key-bound (e.g. DPoP) grant, which is not supported.
    public static let keyBoundGrantUnsupported = ReasonCode("key_bound_grant_unsupported")
    /// The IdP's token carries RFC 9396 `authorization_details`, which are not supported.
    public static let authorizationDetailsUnsupported = ReasonCode("authorization_details_unsupported")
    /// The token's `iss` is Bridgekeeper's own issuer or its bridge issuer.
    public static let selfIssued = ReasonCode("self_issued")
    /// The resource is a catalog server whose tokens a third-party authorization server issues.
    public static let thirdPartyResource = ReasonCode("third_party_resource")
    /// The resource's authorization server is not the one named in `audience`.
    public static let resourceNotAtAudience = ReasonCode("resource_not_at_audience")
    /// The token's groups were left out for size (distributed claims, Entra's overage): refused,
    /// never decided on a partial list.
    public static let groupsOverage = ReasonCode("groups_overage")
}
