public import BridgekeeperCore
public import BridgekeeperFetch
import BridgekeeperJOSE
public import BridgekeeperVerifier

extension AccessTokenVerifier {
    /// A verifier whose keys come from the broker itself: its RFC 8414 metadata
    /// (`/.well-known/oauth-authorization-server`, whose `issuer` must be `settings.issuer` exactly)
    /// names the `jwks_uri`, fetched over libcurl and cached (Cache-Control within bounds, last good
    /// keys kept while the broker is unreachable, an unknown `kid` refetched at most every 30 s).
    public static func discovering(_ settings: VerifierSettings, fetcher: CurlFetcher = CurlFetcher(), clock: any WallClock = SystemClock(),
                                   cache: JWKSCache.Settings = JWKSCache.Settings()) -> AccessTokenVerifier {
        let jwks = JWKSCache(fetcher: fetcher, clock: clock, settings: cache)
        let keys = DiscoveredKeySource(issuer: settings.issuer, fetcher: fetcher, cache: jwks, clock: clock, document: "oauth-authorization-server")
        return AccessTokenVerifier(settings: settings, keys: keys, clock: clock)
    }
}
