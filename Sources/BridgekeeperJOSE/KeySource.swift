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

/// The keys could not be had (the IdP is unreachable and no last good set is left).
public struct KeySourceError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A fixed key set.
public struct StaticKeySource: KeySource {
    public let set: JWKSet
    public init(_ set: JWKSet) { self.set = set }
    public func keys() -> JWKSet { set }
    public func keysAfterUnknownKeyID() -> JWKSet { set }
}
