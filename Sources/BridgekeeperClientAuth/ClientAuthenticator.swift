public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
public import BridgekeeperAudit
public import Foundation
import Synchronization
import BridgekeeperKeys

/// Authenticates confidential clients (RFC 6749 §2.3): `client_secret_basic` (§2.3.1, the
/// TypeScript and Swift SDKs and the conformance mock), `client_secret_post` (the Python and Go
/// SDKs), and `private_key_jwt` (RFC 7523 §2.2, rfc7523bis: `aud` is our issuer, one value; `jti`
/// single use). Exactly one method per request; no public clients.
public struct ClientAuthenticator: Sendable {
    public static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// RFC 6749 §4.4: the only grant an agent, and a feed client besides its others, may use.
    public static let clientCredentialsGrantType = "client_credentials"
    /// Default longest client assertion (and actor token) lifetime, `exp - iat`: one hour, what
    /// Okta accepts and what Authlib signs by default. Each is single-use and bound to our issuer,
    /// so a longer lifetime lets a stolen, unused assertion be spent once later, no more.
    public static let defaultMaxAssertionLifetime: TimeInterval = 3600

    private let clients: [ExactString: ClientRegistration]
    private let issuer: String
    private let ledger: any IssuanceLedger
    private let clock: any WallClock
    private let maxAssertionLifetime: TimeInterval
    private let verified = VerifiedSecrets()
    /// Registered agents, which authenticate with their own credentials (issue 5).
    let agents: AgentClients?
    /// Per-client limits, by the client id a request claims (issue 18 §3).
    let limits: CredentialLimits

    public init(clients: [ClientRegistration], issuer: String, ledger: any IssuanceLedger, clock: any WallClock, agents: AgentClients? = nil,
                maxAssertionLifetime: TimeInterval = ClientAuthenticator.defaultMaxAssertionLifetime, limits: CredentialLimits = .none) {
        self.limits = limits
        self.maxAssertionLifetime = maxAssertionLifetime
        var byID: [ExactString: ClientRegistration] = [:]
        for client in clients { byID[ExactString(client.id)] = client }
        self.clients = byID
        self.issuer = issuer
        self.ledger = ledger
        self.clock = clock
        self.agents = agents
    }

    public func registration(_ id: String) -> ClientRegistration? { clients[ExactString(id)] }

    /// Whether `client` may use `grantType`: a configured client by its registration; an agent
    /// only `client_credentials` (acting as itself; the grant checks its mode). An agent acting for
    /// its owner never authenticates as the client: its owner's client makes the exchange and the
    /// agent proves itself with the actor token.
    public func allows(_ client: AuthenticatedClient, grantType: String) -> Bool {
        if client.isAgent { return grantType.isExactly(Self.clientCredentialsGrantType) }
        guard let registration = registration(client.id) else { return false }
        // A feed client may get feed tokens (`FeedAccess`), whatever else it may do.
        if registration.mayReadRevocationFeed, grantType.isExactly(Self.clientCredentialsGrantType) { return true }
        return registration.allows(grantType: grantType)
    }

    /// The form parameters client authentication reads; every endpoint declares them.
    public static let parameters: Set<String> = ["client_id", "client_secret", "client_assertion", "client_assertion_type"]

    /// - Parameter authorization: the `Authorization` header, if any.
    /// - Throws: `invalid_client` (401) for a missing, unknown or failed authentication;
    ///   `invalid_request` (400) for two methods at once or a `client_id` that contradicts them.
    public func authenticate(authorization: String?, form: FormParameters) async throws(OAuthError) -> AuthenticatedClient {
        var basic: (id: String, secret: String)? = nil
        if let authorization { basic = try Self.basicCredentials(authorization) }
        let postSecret = form.value("client_secret")
        let assertion = form.value("client_assertion")
        let formClientID = form.value("client_id")
        let presented = [basic != nil, postSecret != nil, assertion != nil].filter { $0 }.count
        guard presented <= 1 else {
            throw OAuthError(.invalidRequest, "use exactly one client authentication method", reason: .clientAuthenticationAmbiguous)
        }
        if let basic {
            if let formClientID, !formClientID.isExactly(basic.id) {
                throw OAuthError(.invalidRequest, "client_id differs from the authenticated client", reason: .clientIDMismatch)
            }
            return try await verifySecret(id: basic.id, secret: basic.secret, method: .clientSecretBasic)
        }
        if let postSecret {
            guard let formClientID else {
                throw OAuthError(.invalidRequest, "client_secret needs client_id", reason: .missingParameter)
            }
            return try await verifySecret(id: formClientID, secret: postSecret, method: .clientSecretPost)
        }
        if let assertion {
            return try await verifyAssertion(assertion, type: form.value("client_assertion_type"), formClientID: formClientID)
        }
        throw OAuthError(.invalidClient, "client authentication is required", reason: .clientAuthenticationMissing)
    }

    /// The per-client request limit (`rate_limits.per_client`) of every endpoint that authenticates
    /// clients (token, introspection, revocation, the revocation feed), keyed by the client id the
    /// request claims and checked before any secret or signature is. The claimed id goes into the
    /// audit draft (replaced by the authenticated one once known), so that a refused authentication
    /// names the client it claimed and a flood's refusals aggregate by it.
    ///
    /// - Throws: `rate_limited` (429 with `Retry-After`).
    public func admit(form: FormParameters, authorization: String?, draft: inout AuditDraft) throws(OAuthError) {
        guard let claimed = Self.claimedClient(form: form, authorization: authorization) else { return }
        draft.clientID = draft.clientID ?? claimed
        if let retryAfter = limits.refuseRequest("client:" + claimed, now: clock.now()) {
            throw OAuthError.rateLimited(retryAfter: retryAfter)
        }
    }

    /// The client a request claims to be, before authentication: the Basic user name, else the form's
    /// `client_id`, else a client assertion's unverified `sub`.
    public static func claimedClient(form: FormParameters, authorization: String?) -> String? {
        if let basic = claimedClientID(authorization: authorization) { return basic }
        if let id = form.value("client_id") { return id }
        if let assertion = form.value("client_assertion"), let jws = try? UnverifiedJWS(compact: assertion),
           let claims = try? jws.unverifiedClaims() { return claims["sub"]?.stringValue }
        return nil
    }

    /// The client id an `Authorization: Basic` header claims (its user name), unverified and
    /// without the secret: for the per-client limit and for logging a refusal before the client is known.
    public static func claimedClientID(authorization: String?) -> String? {
        guard let authorization, let credentials = try? basicCredentials(authorization) else { return nil }
        return credentials.id
    }

    /// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
    static func basicCredentials(_ header: String) throws(OAuthError) -> (id: String, secret: String)? {
        let bytes = Array(header.utf8)
        guard bytes.count > 6, bytes.prefix(6).map({ $0 | 0x20 }) == Array("basic ".utf8) else {
            // Another scheme (Bearer, DPoP) is not client authentication at this endpoint.
            return nil
        }
        var credentials = bytes.dropFirst(6)
        while let first = credentials.first, first == 0x20 || first == 0x09 { credentials = credentials.dropFirst() }
        while let last = credentials.last, last == 0x20 || last == 0x09 { credentials = credentials.dropLast() }
        guard let raw = Self.standardBase64(credentials), let decoded = String(validating: raw, as: UTF8.self),
              let colon = decoded.firstIndex(of: ":") else {
            throw OAuthError(.invalidClient, "malformed Basic credentials", reason: .badClientSecret)
        }
        do {
            let id = try FormParameters.decode(Array(decoded[..<colon].utf8))
            let secret = try FormParameters.decode(Array(decoded[decoded.index(after: colon)...].utf8))
            guard !id.isEmpty else { throw OAuthError(.invalidClient, "empty client id", reason: .unknownClient) }
            return (id, secret)
        } catch {
            throw OAuthError(.invalidClient, "malformed Basic credentials", reason: .badClientSecret)
        }
    }

    /// Standard base64 with padding (RFC 4648 §4), as RFC 7617 sends it; nil when malformed.
    static func standardBase64(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var body = text
        var padding = 0
        while body.last == UInt8(ascii: "="), padding < 2 {
            body = body.dropLast()
            padding += 1
        }
        var translated: [UInt8] = []
        translated.reserveCapacity(body.count)
        for byte in body {
            switch byte {
            case UInt8(ascii: "+"): translated.append(UInt8(ascii: "-"))
            case UInt8(ascii: "/"): translated.append(UInt8(ascii: "_"))
            case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "="): return nil  // the URL alphabet, or padding inside
            default: translated.append(byte)
            }
        }
        return try? translated.withUnsafeBufferPointer { buffer throws(JOSEError) in try Base64URL.decode(buffer[...]) }
    }

    private func verifySecret(id: String, secret: String, method: AuthenticatedClient.Method) async throws(OAuthError) -> AuthenticatedClient {
        guard let client = registration(id) else {
            guard let agents, let agent = try await agents.agent(id) else {
                throw OAuthError(.invalidClient, "client authentication failed", reason: .unknownClient)
            }
            // An agent's secret counts only while the configuration allows agent secrets.
            guard case .secretHash(let encoded) = agent.credential, agents.allowSecrets, let hash = try? SecretHash(encoded: encoded) else {
                throw OAuthError(.invalidClient, "client authentication failed", reason: .wrongClientAuthenticationMethod)
            }
            try check(client: id, secret: secret, hash: hash)
            guard agent.status == .active else { throw OAuthError(.invalidClient, "the agent is disabled", reason: .agentDisabled) }
            return AuthenticatedClient(id: agent.id, method: method, isAgent: true)
        }
        guard case .secret(let hash) = client.credential, client.methods.contains(method) else {
            throw OAuthError(.invalidClient, "client authentication failed", reason: .wrongClientAuthenticationMethod)
        }
        try check(client: id, secret: secret, hash: hash)
        return AuthenticatedClient(id: id, method: method)
    }

    /// A secret against its hash: known good (cheap), else, for a stretched hash, within the
    /// client's `secretChecks` limit before PBKDF2 runs.
    private func check(client id: String, secret: String, hash: SecretHash) throws(OAuthError) {
        let outcome = verified.check(client: id, secret: secret, hash: hash) {
            limits.refuseSecretCheck("client:" + id, now: clock.now())
        }
        switch outcome {
        case .match: return
        case .mismatch: throw OAuthError(.invalidClient, "client authentication failed", reason: .badClientSecret)
        case .refused(let retryAfter): throw OAuthError.rateLimited(retryAfter: retryAfter)
        }
    }

    private func verifyAssertion(_ assertion: String, type: String?, formClientID: String?) async throws(OAuthError) -> AuthenticatedClient {
        guard let type, type.isExactly(Self.assertionType) else {
            throw OAuthError(.invalidClient, "client_assertion_type must be \(Self.assertionType)", reason: .badClientAssertion)
        }
        func failed(_ error: JOSEError) -> OAuthError {
            OAuthError(.invalidClient, "client assertion: \(error.reason)", reason: .badClientAssertion)
        }
        let jws: UnverifiedJWS
        let claimedID: String
        do throws(JOSEError) {
            jws = try UnverifiedJWS(compact: assertion)
            guard let sub = try JWTClaims(jws.unverifiedClaims()).subject() else {
                throw JOSEError(.missingClaim, "the client assertion needs sub")
            }
            claimedID = sub
        } catch { throw failed(error) }
        if let formClientID, !formClientID.isExactly(claimedID) {
            throw OAuthError(.invalidRequest, "client_id differs from the client assertion's sub", reason: .clientIDMismatch)
        }
        guard let client = registration(claimedID) else {
            guard let agents, let agent = try await agents.agent(claimedID) else {
                throw OAuthError(.invalidClient, "client authentication failed", reason: .unknownClient)
            }
            guard let keys = try agents.keySource(agent) else {
                throw OAuthError(.invalidClient, "client authentication failed", reason: .wrongClientAuthenticationMethod)
            }
            do throws(AssertionFailure) {
                try await checkAssertion(jws, of: agent.id, keys: keys, algorithms: AgentClients.algorithms)
            } catch { throw error.oauth(.invalidClient, what: "client assertion") }
            guard agent.status == .active else { throw OAuthError(.invalidClient, "the agent is disabled", reason: .agentDisabled) }
            return AuthenticatedClient(id: agent.id, method: .privateKeyJWT, isAgent: true)
        }
        guard case .privateKeyJWT(let keySource, let algorithms) = client.credential else {
            throw OAuthError(.invalidClient, "client authentication failed", reason: .wrongClientAuthenticationMethod)
        }
        do throws(AssertionFailure) {
            try await checkAssertion(jws, of: client.id, keys: keySource, algorithms: algorithms)
        } catch { throw error.oauth(.invalidClient, what: "client assertion") }
        return AuthenticatedClient(id: client.id, method: .privateKeyJWT)
    }

    /// Why an assertion signed by a client or an agent was refused.
    enum AssertionFailure: Error {
        case jose(JOSEError)
        case keysUnavailable(KeySourceError)
        case replayed
        case storeUnavailable

        func oauth(_ code: OAuthError.Code, what: String) -> OAuthError {
            switch self {
            case .jose(let error): OAuthError(code, "\(what): \(error.reason)", reason: code == .invalidClient ? .badClientAssertion : .badActorToken)
            case .keysUnavailable(let error) where error.code == .internalAddress:
                OAuthError(code, "the signer's keys are unavailable", reason: .jwksURIInternalAddress)
            case .keysUnavailable: OAuthError(code, "the signer's keys are unavailable", reason: .keysUnavailable)
            case .replayed: OAuthError(code, "\(what) was already used", reason: code == .invalidClient ? .clientAssertionReplayed : .actorTokenReplayed)
            case .storeUnavailable: OAuthError(code, "\(what) could not be recorded", reason: .storeUnavailable)
            }
        }
    }

    /// An RFC 7523 assertion by `signer` (`iss` = `sub` = the signer, `aud` = our issuer, at most
    /// `tokens.max_client_assertion_lifetime`, `jti` single use), verified with the signer's keys and algorithms; its `jti`
    /// is spent here.
    func checkAssertion(_ jws: UnverifiedJWS, of signer: String, keys: any KeySource, algorithms: Set<JWSAlgorithm>) async throws(AssertionFailure) {
        let rules = ClaimRules(issuer: signer, audience: issuer, leeway: 60, maxLifetime: maxAssertionLifetime)
        let now = clock.now()
        let verifiedJWT: VerifiedJWT
        do throws(KeyedVerification.Failure) {
            verifiedJWT = try await KeyedVerification.verify(jws, kind: .clientAssertion, keys: keys, algorithms: algorithms, rules: rules, now: now)
        } catch {
            switch error {
            case .jose(let jose): throw .jose(jose)
            case .keysUnavailable(let error): throw .keysUnavailable(error)
            }
        }
        let jti: String
        let expiry: Date
        do throws(JOSEError) {
            guard let sub = try verifiedJWT.claims.subject(), sub.isExactly(signer) else {
                throw JOSEError(.invalidClaim, "sub must be the signer")
            }
            guard let value = try verifiedJWT.claims.tokenID(), !value.isEmpty, value.utf8.count <= 256 else {
                throw JOSEError(.invalidClaim, "jti must be 1 to 256 bytes")
            }
            jti = value
            expiry = try verifiedJWT.claims.expiration() ?? now
        } catch { throw .jose(error) }
        let mark = ReplayMark(namespace: .clientAssertion, issuer: signer, jti: jti, expiresAt: expiry.addingTimeInterval(60))
        let outcome: CommitOutcome
        do { outcome = try await ledger.commit(marks: [mark], token: nil, audit: nil) } catch { throw .storeUnavailable }
        guard case .committed = outcome else { throw .replayed }
    }

    /// The agent that signed `actorToken` (RFC 8693 §2.1 `actor_token`, type `jwt`): an assertion
    /// in the shape of a client assertion, by a registered, active agent, verified with that
    /// agent's own keys (another agent's key fails the signature) and spent.
    package func actor(_ actorToken: String) async throws(OAuthError) -> AgentRecord {
        func refused(_ error: JOSEError) -> OAuthError { AssertionFailure.jose(error).oauth(.invalidRequest, what: "actor_token") }
        let jws: UnverifiedJWS
        let claimed: String
        do throws(JOSEError) {
            jws = try UnverifiedJWS(compact: actorToken)
            guard let sub = try JWTClaims(jws.unverifiedClaims()).subject() else { throw JOSEError(.missingClaim, "the actor token needs sub") }
            claimed = sub
        } catch { throw refused(error) }
        guard let agents, let agent = try await agents.agent(claimed) else {
            throw OAuthError(.invalidRequest, "actor_token does not name a registered agent", reason: .unknownAgent)
        }
        guard let keys = try agents.keySource(agent) else {
            throw OAuthError(.invalidRequest, "the agent has no registered keys to sign an actor_token with", reason: .badActorToken)
        }
        do throws(AssertionFailure) {
            try await checkAssertion(jws, of: agent.id, keys: keys, algorithms: AgentClients.algorithms)
        } catch { throw error.oauth(.invalidRequest, what: "actor_token") }
        return agent
    }
}

extension ReasonCode {
    /// The actor token failed verification (shape, signature with the agent's keys, claims).
    public static let badActorToken = ReasonCode("bad_actor_token")
    /// The actor token's `jti` was already used.
    public static let actorTokenReplayed = ReasonCode("actor_token_replayed")
    /// The actor token names no registered agent.
    public static let unknownAgent = ReasonCode("unknown_agent")
    /// The agent's `jwks_uri` led only to internal addresses (loopback, link-local, private, ...)
    /// and its host is not in `agents.jwks_uri_allowed_internal_hosts`: nothing was fetched.
    public static let jwksURIInternalAddress = ReasonCode("jwks_uri_internal_address")
}

/// Secrets that verified recently, so that PBKDF2 runs once per client and secret rather than once
/// per request. Held as HMAC under a key that lives only in this process; a wrong secret is never
/// cached. Before a stretched (PBKDF2) check the caller's limit is asked (`refuseSlowCheck`), so a
/// flood of wrong secrets pays PBKDF2 only as often as that limit allows; a `sha256$` hash is checked
/// at once (one hash).
///
/// The remembered tag binds the client, the secret **and the stored hash it matched** (its salt and
/// digest): once a credential is rotated (a new hash, with a fresh salt), the old secret's tag can no
/// longer match, so the old secret ends at once rather than when the new one is first used.
final class VerifiedSecrets: Sendable {
    private let key = SecureRandom.bytes(32)
    private let entries = Mutex<[ExactString: [UInt8]]>([:])

    enum Outcome: Equatable {
        case match, mismatch
        /// The slow check was not run: retry after this many seconds.
        case refused(retryAfter: Int)
    }

    func check(client: String, secret: String, hash: SecretHash, refuseSlowCheck: () -> Int? = { nil }) -> Outcome {
        var message = Array(client.utf8) + [0]
        message += hash.salt + hash.hash + [UInt8(truncatingIfNeeded: hash.iterations), UInt8(truncatingIfNeeded: hash.iterations >> 8),
                                           UInt8(truncatingIfNeeded: hash.iterations >> 16)]
        message += Array(secret.utf8)
        let tag = Digest.hmacSHA256(key: key, message: message)
        if let known = entries.withLock({ $0[ExactString(client)] }), Digest.constantTimeEquals(known, tag) { return .match }
        if hash.isStretched, let retryAfter = refuseSlowCheck() { return .refused(retryAfter: retryAfter) }
        guard hash.matches(secret) else { return .mismatch }
        entries.withLock { entries in
            if entries.count > 10_000 { entries.removeAll() }
            entries[ExactString(client)] = tag
        }
        return .match
    }
}

