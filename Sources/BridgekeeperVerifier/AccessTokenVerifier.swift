public import BridgekeeperCore
public import BridgekeeperJOSE
public import Foundation
import Synchronization

/// What a gateway (or MCP server) configures: whose tokens it takes, for which resource.
public struct VerifierSettings: Sendable {
    /// The broker's issuer (exact `iss`).
    public var issuer: String
    /// This server's resource indicator (exact `aud`).
    public var resource: String
    /// The algorithms accepted; asymmetric only (`none` and HMAC are never accepted whatever this
    /// says). Default: what the broker signs with.
    public var algorithms: Set<JWSAlgorithm> = [.es256, .es384, .es512, .eddsa, .rs256, .ps256]
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds. Default 30, at most 300 (as
    /// `ClaimRules` takes it).
    public var leeway: TimeInterval = 30
    /// This server's RFC 9728 protected-resource metadata URL, named in `WWW-Authenticate`.
    public var resourceMetadata: String?
    /// The scope a tool needs. Default `tool:<name>` (the broker's default scope token).
    public var scopeForTool: @Sendable (String) -> String = { "tool:" + $0 }
    /// Most tokens kept verified in the cache. Default 50,000.
    public var maxCachedTokens = 50_000
    /// The longest access token accepted, `exp - iat`, in seconds. Default 3600, the longest the
    /// broker issues (`tokens.access_token_lifetime` is at most 3600, agents' at most 900). It also
    /// bounds how long a subject's revocation epoch is remembered: once every token issued before
    /// it has expired, the epoch is forgotten.
    public var maxTokenLifetime: TimeInterval = 3600
    /// When set, every answer fails closed (`stale`) once the revocation feed has not been heard
    /// from for this many seconds (`noteFeedHeard`). Nil: no feed, offline verification only.
    public var maxStaleness: TimeInterval?

    public init(issuer: String, resource: String) {
        self.issuer = issuer
        self.resource = resource
    }
}

/// An `at+jwt` access token (RFC 9068) from the broker, verified for this server.
public struct VerifiedAccessToken: Sendable, Hashable {
    public let tokenID: String
    /// `sub`: the person (or the agent acting as itself).
    public let subject: String
    /// `idp_iss`: the IdP that vouched for the subject (what the broker's revocation feed names).
    public let subjectIssuer: String?
    public let clientID: String
    /// The `scope` claim as the broker wrote it (space-separated, RFC 9068 §2.2.3); empty if absent.
    public let scope: String
    public let issuedAt: Date?
    public let expiresAt: Date
    /// `act.sub`: the agent acting for the subject, when delegated.
    public let actor: String?
    public let claims: JSONObject

    /// The scope tokens granted (split at spaces byte by byte, as `grants` reads them).
    public var scopes: Set<String> {
        Set(scope.utf8.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) })
    }

    /// Whether the token grants `wanted`: an exact match of one space-separated token of `scope`,
    /// found in place (no set is built per token).
    public func grants(_ wanted: String) -> Bool {
        var scope = scope, wanted = wanted
        return scope.withUTF8 { granted in
            wanted.withUTF8 { wanted in
                guard !wanted.isEmpty else { return false }
                var start = 0
                while start < granted.count {
                    var end = start
                    while end < granted.count, granted[end] != UInt8(ascii: " ") { end += 1 }
                    if end - start == wanted.count,
                       memcmp(granted.baseAddress! + start, wanted.baseAddress!, wanted.count) == 0 { return true }
                    start = end + 1
                }
                return false
            }
        }
    }

    /// The subject's revocation-epoch key (`idp_iss`, `sub`).
    var epochKey: EpochKey { EpochKey(issuer: subjectIssuer ?? "", subject: subject) }
}

/// A subject as the revocation feed names it: the IdP's issuer and the subject there.
struct EpochKey: Hashable, Sendable {
    let issuer: String
    let subject: String
}

/// The verified-token cache's key: the whole compact token, compared byte for byte (a token that
/// differs anywhere is a miss), hashed over its length and its last 32 bytes. Those lie in the
/// signature, which only the broker's key can make for a token that verifies, so hashing them
/// spreads cached tokens as well as hashing all of the ~1 KB would, at a 30th of the cost; the
/// fingerprint is compared before the bytes, so a probe that meets another token seldom reads it.
struct TokenKey: Hashable, Sendable {
    let token: String
    private let count: Int
    private let tail: (UInt64, UInt64, UInt64, UInt64)

    init(_ token: String) {
        self.token = token
        var copy = token
        (count, tail) = copy.withUTF8 { bytes in
            var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            let take = min(32, bytes.count)
            withUnsafeMutableBytes(of: &words) { out in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[(bytes.count - take)...]))
            }
            return (bytes.count, words)
        }
    }

    static func == (lhs: TokenKey, rhs: TokenKey) -> Bool {
        lhs.count == rhs.count && lhs.tail == rhs.tail && lhs.token.isExactly(rhs.token)
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        hasher.combine(tail.0)
        hasher.combine(tail.1)
        hasher.combine(tail.2)
        hasher.combine(tail.3)
    }
}

/// Verifies the broker's access tokens offline and answers whether one may call a tool.
///
/// The order (STYLE rule 3): size and shape, `typ` `at+jwt`, `alg` in the allow-list, the key by
/// `kid` from the broker's JWKS (one rate-limited refetch on an unknown `kid`), the signature, exact
/// `iss`, `aud` = this resource, `exp`/`nbf`/`iat` with leeway, the claims a gateway needs, then
/// revocation (the token's `jti`, its subject's epoch). A token that passed is cached until it
/// expires or is revoked, so the next call with it is one hash lookup and a string comparison.
public final class AccessTokenVerifier: Sendable {
    public let settings: VerifierSettings
    package let keys: any KeySource
    let clock: any WallClock
    let state: Mutex<State>

    struct State {
        /// The verified tokens, by the whole compact token (equality over every byte: a token
        /// that differs anywhere, even in a signature that happens to verify, is a miss).
        var cache: [TokenKey: VerifiedAccessToken] = [:]
        /// Revoked `jti`s, each kept until its token would have expired anyway.
        var revoked: [String: Date] = [:]
        /// Revocation epochs by subject (`idp_iss`, `sub`): tokens issued before are dead. An epoch
        /// is forgotten once every token it could kill has expired (`maxTokenLifetime` plus leeway
        /// after it), so memory is bounded by the subjects revoked within one token lifetime.
        var epochs: [EpochKey: Date] = [:]
        /// How many epochs are remembered before the lapsed ones are forgotten.
        var epochsPruneAt = State.minimumRevokedPrune
        /// When the revocation feed was last heard from.
        var feedHeard: Date?
        /// How many revoked `jti`s are remembered before the lapsed ones are forgotten.
        var revokedPruneAt = State.minimumRevokedPrune
        static let minimumRevokedPrune = 4_096
    }

    /// The largest token accepted, in bytes.
    public static let maxTokenBytes = 16_384

    public init(settings: VerifierSettings, keys: any KeySource, clock: any WallClock = SystemClock()) {
        var settings = settings
        settings.algorithms.formIntersection(JWSAlgorithm.asymmetric)
        settings.leeway = min(max(settings.leeway, 0), 300)
        settings.maxTokenLifetime = min(max(settings.maxTokenLifetime, 60), 86_400)
        self.settings = settings
        self.keys = keys
        self.clock = clock
        self.state = Mutex(State())
    }

    /// The token, verified; or why not.
    public func verify(_ token: String) async -> Result<VerifiedAccessToken, VerificationError> {
        let now = clock.now()
        guard token.utf8.count <= Self.maxTokenBytes else { return .failure(VerificationError(.malformed, "the token is too large")) }
        let key = TokenKey(token)
        let cached: Result<VerifiedAccessToken, VerificationError>? = state.withLock { state in
            if let failure = Self.staleness(state, settings, now) { return .failure(failure) }
            guard let hit = state.cache[key] else { return nil }
            if let failure = Self.revocation(hit, state, now: now, leeway: settings.leeway) {
                state.cache[key] = nil
                return .failure(failure)
            }
            return .success(hit)
        }
        if let cached { return cached }
        return await verifyUncached(key, now: now)
    }

    /// Whether the token may call `tool` on this server: the verified token, or why not
    /// (`insufficientScope` names the scope it lacks).
    public func authorize(_ token: String?, tool: String) async -> Result<VerifiedAccessToken, VerificationError> {
        guard let token, !token.isEmpty else { return .failure(VerificationError(.missingToken, "a bearer token is required")) }
        switch await verify(token) {
        case .failure(let error): return .failure(error)
        case .success(let verified):
            let scope = settings.scopeForTool(tool)
            guard verified.grants(scope) else {
                return .failure(VerificationError(.insufficientScope, "the token does not grant \(scope)", scope: scope))
            }
            return .success(verified)
        }
    }

    /// The token of an `Authorization: Bearer …` header value (RFC 6750 §2.1; the scheme is
    /// case-insensitive), or nil.
    public static func bearerToken(fromAuthorization header: String?) -> String? { BearerToken.from(authorization: header) }

    // MARK: Revocation inputs (the broker's feed applies these)

    /// The token with this `jti` is revoked (kept until `expiresAt`, after which it is dead anyway).
    /// Constant time whatever the cache holds: every answer, cached or not, checks the revoked
    /// `jti`s and epochs, and a cached entry found revoked is dropped then. Lapsed `jti`s are
    /// forgotten (with any cached entry of theirs) in passes amortised over revocations and evictions.
    public func revokeToken(id: String, expiresAt: Date) {
        let now = clock.now()
        state.withLock { state in
            if let known = state.revoked[id], known >= expiresAt { return }
            state.revoked[id] = expiresAt
            if state.revoked.count >= state.revokedPruneAt { Self.forgetLapsedRevocations(&state, now: now) }
        }
    }

    /// Every token of the subject issued before `before` is revoked (a CAEP `session-revoked`).
    /// Epochs only move forward. Constant time, as `revokeToken`.
    /// An epoch whose tokens have all expired (a feed replaying old events) is not remembered;
    /// lapsed epochs are forgotten in passes amortised over revocations and evictions.
    public func revokeSubject(issuer: String?, subject: String, before: Date) {
        let key = EpochKey(issuer: issuer ?? "", subject: subject)
        let now = clock.now()
        let horizon = epochHorizon
        state.withLock { state in
            guard before.addingTimeInterval(horizon) > now else { return }
            if let known = state.epochs[key], known >= before { return }
            state.epochs[key] = before
            if state.epochs.count >= state.epochsPruneAt { Self.forgetLapsedEpochs(&state, now: now, horizon: horizon) }
        }
    }

    /// How long after an epoch a token issued before it can still be alive: the longest lifetime
    /// plus the leeway on `exp`.
    var epochHorizon: TimeInterval { settings.maxTokenLifetime + settings.leeway }

    /// How many subject epochs are remembered (for metrics and tests).
    public var epochCount: Int { state.withLock { $0.epochs.count } }

    /// The revocation feed answered: the staleness clock starts again.
    public func noteFeedHeard(at time: Date) {
        state.withLock { state in
            if state.feedHeard.map({ $0 < time }) ?? true { state.feedHeard = time }
        }
    }

    /// Forgets every cached verification (after a missed interval, the feed re-syncs and the cache
    /// is rebuilt from verified tokens, never trusted stale). Revocations are kept. The table keeps
    /// its capacity: it refills to the same size.
    public func clearCache() {
        state.withLock { $0.cache.removeAll(keepingCapacity: true) }
    }

    /// How many tokens are cached (for metrics and tests).
    public var cachedCount: Int { state.withLock { $0.cache.count } }

    // MARK: The uncached path

    func verifyUncached(_ key: TokenKey, now: Date) async -> Result<VerifiedAccessToken, VerificationError> {
        let jws: UnverifiedJWS
        do { jws = try UnverifiedJWS(compact: key.token) } catch { return .failure(Self.mapped(error)) }
        let verifier: (JWKSet) -> JWTVerifier = { [settings] keys in
            JWTVerifier(kind: .accessToken, signatures: JWSVerifier(keys: keys, algorithms: settings.algorithms),
                        rules: ClaimRules(issuer: settings.issuer, audience: settings.resource, leeway: settings.leeway,
                                          maxLifetime: settings.maxTokenLifetime))
        }
        var verified: VerifiedJWT
        do {
            let current: JWKSet
            do { current = try await keys.keys() } catch {
                return .failure(VerificationError(.keysUnavailable, "the broker's keys cannot be had: \(error.reason)"))
            }
            do { verified = try verifier(current).verify(jws, now: now) } catch where error.code == .unknownKey {
                // A key the broker published since the last fetch: one refetch, rate-limited by the source.
                let fresh: JWKSet
                do { fresh = try await keys.keysAfterUnknownKeyID() } catch {
                    return .failure(VerificationError(.keysUnavailable, "the broker's keys cannot be had: \(error.reason)"))
                }
                verified = try verifier(fresh).verify(jws, now: now)
            }
        } catch {
            return .failure(Self.mapped(error))
        }
        let claims = verified.claims.object
        guard let subject = claims["sub"]?.stringValue, !subject.isEmpty, let jti = claims["jti"]?.stringValue, !jti.isEmpty,
              let clientID = claims["client_id"]?.stringValue, let exp = claims["exp"]?.numberValue?.exactInteger else {
            return .failure(VerificationError(.invalidClaims, "an access token needs sub, jti, client_id and exp (RFC 9068 §2.2)"))
        }
        var scope = ""
        if let value = claims["scope"] {
            guard let text = value.stringValue else { return .failure(VerificationError(.invalidClaims, "scope is not a string")) }
            scope = text
        }
        let access = VerifiedAccessToken(
            tokenID: jti, subject: subject, subjectIssuer: claims["idp_iss"]?.stringValue, clientID: clientID, scope: scope,
            issuedAt: claims["iat"]?.numberValue?.exactInteger.map { Date(timeIntervalSince1970: Double($0)) },
            expiresAt: Date(timeIntervalSince1970: Double(exp)), actor: claims["act"]?.objectValue?["sub"]?.stringValue, claims: claims)
        let settings = self.settings
        let horizon = epochHorizon
        return state.withLock { state in
            if let failure = Self.staleness(state, settings, now) ?? Self.revocation(access, state, now: now, leeway: settings.leeway) {
                return .failure(failure)
            }
            if state.cache.count >= settings.maxCachedTokens {
                Self.evict(&state, limit: settings.maxCachedTokens, now: now, epochHorizon: horizon)
            }
            state.cache[key] = access
            return .success(access)
        }
    }

    /// Expired entries go first; if the cache is still full, a quarter of it (an arbitrary quarter:
    /// a miss costs one signature check, never a wrong answer).
    static func evict(_ state: inout State, limit: Int, now: Date, epochHorizon: TimeInterval) {
        forgetLapsedRevocations(&state, now: now)
        forgetLapsedEpochs(&state, now: now, horizon: epochHorizon)
        state.cache = state.cache.filter { $0.value.expiresAt > now }
        guard state.cache.count >= limit else { return }
        for key in Array(state.cache.keys.prefix(max(1, state.cache.count / 4))) { state.cache[key] = nil }
    }

    /// Forgets revoked `jti`s past their retention; a revoked jti forgotten takes any cached entry
    /// of it along, so no cached answer outlives the memory of its revocation. The next pass is due
    /// once twice as many are remembered, so revoking stays constant time amortised.
    static func forgetLapsedRevocations(_ state: inout State, now: Date) {
        let forgotten = state.revoked.filter { $0.value <= now }
        if !forgotten.isEmpty {
            state.revoked = state.revoked.filter { $0.value > now }
            state.cache = state.cache.filter { forgotten[$0.value.tokenID] == nil }
        }
        state.revokedPruneAt = max(State.minimumRevokedPrune, 2 * state.revoked.count)
    }

    /// Forgets the epochs no live token can be older than: a token issued before an epoch expired
    /// at most `maxTokenLifetime` after it (longer ones are refused), and is refused `leeway` later.
    static func forgetLapsedEpochs(_ state: inout State, now: Date, horizon: TimeInterval) {
        state.epochs = state.epochs.filter { $0.value.addingTimeInterval(horizon) > now }
        state.epochsPruneAt = max(State.minimumRevokedPrune, 2 * state.epochs.count)
    }

    static func staleness(_ state: State, _ settings: VerifierSettings, _ now: Date) -> VerificationError? {
        guard let bound = settings.maxStaleness else { return nil }
        guard let heard = state.feedHeard else { return VerificationError(.stale, "the revocation feed has not been heard from yet") }
        let silence = now.timeIntervalSince(heard)
        return silence > bound ? VerificationError(.stale, "the revocation feed has been silent for \(Int(silence)) s (bound \(Int(bound)) s)") : nil
    }

    /// Expiry (with leeway) and revocation, for a token verified now or earlier.
    static func revocation(_ token: VerifiedAccessToken, _ state: State, now: Date, leeway: TimeInterval) -> VerificationError? {
        if now.timeIntervalSince(token.expiresAt) >= leeway { return VerificationError(.expired, "the token has expired") }
        if !state.revoked.isEmpty, state.revoked[token.tokenID] != nil { return VerificationError(.revoked, "the token was revoked") }
        if !state.epochs.isEmpty, let epoch = state.epochs[token.epochKey], (token.issuedAt ?? .distantPast) < epoch {
            return VerificationError(.revoked, "the subject's tokens were revoked")
        }
        return nil
    }

    static func mapped(_ error: JOSEError) -> VerificationError {
        switch error.code {
        case .wrongType: return VerificationError(.wrongType, "not an access token (typ must be at+jwt)")
        case .algorithmNone, .symmetricAlgorithm, .algorithmNotAllowed: return VerificationError(.algorithmNotAllowed, error.reason)
        case .unknownKey, .keyIDRequired: return VerificationError(.unknownKey, "no key of the broker matches the token's kid")
        case .badSignature, .badSignatureEncoding, .invalidKey, .embeddedKey: return VerificationError(.badSignature, "the signature does not verify")
        case .wrongIssuer: return VerificationError(.wrongIssuer, "iss is not the broker")
        case .wrongAudience, .multipleAudiences: return VerificationError(.wrongAudience, "the token is not for this server")
        case .expired: return VerificationError(.expired, "the token has expired")
        case .notYetValid, .issuedInFuture: return VerificationError(.notYetValid, "the token is not valid yet")
        case .missingClaim, .invalidClaim, .forbiddenClaim, .lifetimeTooLong: return VerificationError(.invalidClaims, error.reason)
        default: return VerificationError(.malformed, "not a well-formed signed token (\(error.code.rawValue))")
        }
    }
}
