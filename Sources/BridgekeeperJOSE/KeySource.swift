/// Where an issuer's verification keys come from: a fetched `jwks_uri` (BridgekeeperFetch) or a
/// static set from configuration. Grants see only this protocol (STYLE: keys reach Grants through
/// a `KeySource`).
public protocol KeySource: Sendable {
    /// The current keys.
    func keys() async throws(KeySourceError) -> JWKSet
    /// The keys after a token named a `kid` the current set lacks: a refetch, rate-limited by the
    /// source, or the same set.
    func keysAfterUnknownKeyID() async throws(KeySourceError) -> JWKSet
}

/// The keys could not be had (the IdP is unreachable and no last good set is left). A struct with
/// an extensible code (STYLE rule 6).
public struct KeySourceError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// Unreachable, failing, or not a usable JWK Set.
        public static let unavailable = Code("unavailable")
        /// The key URL's host resolved only to internal addresses, which the source may not reach
        /// (an agent's `jwks_uri`, issue 18 §2): nothing was sent.
        public static let internalAddress = Code("internal_address")
    }

    public let code: Code
    public let reason: String
    public init(_ reason: String, code: Code = .unavailable) {
        self.code = code
        self.reason = reason
    }
    public var description: String { reason }
}

/// A fixed key set.
public struct StaticKeySource: KeySource {
    public let set: JWKSet
    public init(_ set: JWKSet) { self.set = set }
    public func keys() -> JWKSet { set }
    public func keysAfterUnknownKeyID() -> JWKSet { set }
}
