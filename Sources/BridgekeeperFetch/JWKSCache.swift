public import BridgekeeperCore
public import BridgekeeperJOSE
public import Foundation

/// IdP signing keys, fetched from each issuer's `jwks_uri` and cached (SPECS §5: honour
/// Cache-Control, refetch on an unknown `kid` at a limited rate, keep the last good keys while the
/// IdP is unreachable).
///
/// - A set is fresh for the document's `Cache-Control: max-age`, clamped to
///   [`minimumLifetime`, `maximumLifetime`]; `no-cache`/`no-store` give the minimum; no header gives
///   `defaultLifetime`.
/// - A stale set is refetched on the next request. If that fails, the last good set is served
///   until `maximumStaleness` past its expiry, then the failure is reported.
/// - `refreshForUnknownKey` refetches at most once per `unknownKeyInterval` per URL, so tokens with
///   made-up `kid`s cannot make Bridgekeeper hammer an IdP.
public actor JWKSCache {
    public struct Settings: Sendable {
        public var minimumLifetime: TimeInterval = 60
        public var defaultLifetime: TimeInterval = 3600
        public var maximumLifetime: TimeInterval = 86_400
        public var unknownKeyInterval: TimeInterval = 30
        public var maximumStaleness: TimeInterval = 86_400

        public init() {}
    }

    struct Entry {
        var keys: JWKSet
        var expires: Date
        var lastAttempt: Date
    }

    private let fetcher: any DocumentFetcher
    private let clock: any WallClock
    private let settings: Settings
    private var entries: [ExactString: Entry] = [:]

    public init(fetcher: any DocumentFetcher, clock: any WallClock, settings: Settings = Settings()) {
        self.fetcher = fetcher
        self.clock = clock
        self.settings = settings
    }

    /// The keys at `url`: cached while fresh, else fetched; the last good set while the IdP fails.
    public func keys(at url: String) async throws(FetchError) -> JWKSet {
        let key = ExactString(url)
        let now = clock.now()
        if let entry = entries[key], now < entry.expires { return entry.keys }
        return try await refresh(key, now: now)
    }

    /// Called when a token names a `kid` the cached set lacks: refetches unless the last attempt was
    /// within `unknownKeyInterval`, and returns the (possibly unchanged) set.
    public func refreshForUnknownKey(at url: String) async throws(FetchError) -> JWKSet {
        let key = ExactString(url)
        let now = clock.now()
        if let entry = entries[key], now.timeIntervalSince(entry.lastAttempt) < settings.unknownKeyInterval {
            return entry.keys
        }
        return try await refresh(key, now: now)
    }

    private func refresh(_ key: ExactString, now: Date) async throws(FetchError) -> JWKSet {
        entries[key]?.lastAttempt = now
        do throws(FetchError) {
            let document = try await fetcher.get(key.value)
            let keys: JWKSet
            do { keys = try JWKSet(bytes: document.body) } catch {
                throw FetchError(.invalidDocument, "not a usable JWK Set: \(error.reason)")
            }
            let lifetime = Self.lifetime(cacheControl: document.cacheControl, settings: settings)
            entries[key] = Entry(keys: keys, expires: now.addingTimeInterval(lifetime), lastAttempt: now)
            return keys
        } catch {
            if let entry = entries[key], now.timeIntervalSince(entry.expires) < settings.maximumStaleness {
                return entry.keys  // last good keys while the IdP is unreachable or misbehaving
            }
            throw error
        }
    }

    /// Freshness from `Cache-Control` (RFC 9111 §5.2.2), clamped to the settings' bounds.
    static func lifetime(cacheControl: String?, settings: Settings) -> TimeInterval {
        guard let cacheControl else { return settings.defaultLifetime }
        var lifetime = settings.defaultLifetime
        for directive in cacheControl.lowercased().split(separator: ",") {
            let trimmed = String(directive).trimmingWhitespace()
            if trimmed == "no-cache" || trimmed == "no-store" { return settings.minimumLifetime }
            if trimmed.hasPrefix("max-age="), let seconds = Double(trimmed.dropFirst("max-age=".count)), seconds >= 0 {
                lifetime = seconds
            }
        }
        return min(max(lifetime, settings.minimumLifetime), settings.maximumLifetime)
    }
}

/// An issuer's `jwks_uri` through the cache, as a `KeySource` for the grants.
public struct RemoteKeySource: KeySource {
    public let cache: JWKSCache
    public let url: String

    public init(cache: JWKSCache, url: String) {
        self.cache = cache
        self.url = url
    }

    public func keys() async throws(KeySourceError) -> JWKSet {
        do { return try await cache.keys(at: url) } catch { throw failure(error) }
    }

    public func keysAfterUnknownKeyID() async throws(KeySourceError) -> JWKSet {
        do { return try await cache.refreshForUnknownKey(at: url) } catch { throw failure(error) }
    }

    func failure(_ error: FetchError) -> KeySourceError {
        KeySourceError("\(url): \(error)", code: error.code == .internalAddress ? .internalAddress : .unavailable)
    }
}
