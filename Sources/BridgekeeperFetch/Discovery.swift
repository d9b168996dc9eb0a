public import BridgekeeperCore
public import BridgekeeperJOSE
public import Foundation
import Synchronization

/// An issuer's keys found through its OpenID Connect discovery document (OIDC Discovery §4):
/// `{issuer}/.well-known/openid-configuration` is fetched (with the same locked-down fetcher as
/// JWKS), its `issuer` must equal the configured issuer byte for byte (§4.3: otherwise the
/// document is not that issuer's), and its `jwks_uri` is then read through the JWKS cache like a
/// configured one. The `jwks_uri` is remembered; the document is fetched again at most once a
/// minute, when the keys cannot be had from the remembered URL (the IdP moved its keys).
public final class DiscoveredKeySource: KeySource {
    public let issuer: String
    let fetcher: any DocumentFetcher
    let cache: JWKSCache
    let clock: any WallClock
    /// Seconds between two discovery fetches. Default 60.
    let minimumInterval: TimeInterval
    /// The well-known document's name: `openid-configuration` (OIDC Discovery) or
    /// `oauth-authorization-server` (RFC 8414, what a gateway reads from the broker).
    let document: String
    private let state = Mutex<(url: String?, lastAttempt: Date?)>((nil, nil))

    public init(issuer: String, fetcher: any DocumentFetcher, cache: JWKSCache, clock: any WallClock, minimumInterval: TimeInterval = 60,
                document: String = "openid-configuration") {
        self.document = document
        self.issuer = issuer
        self.fetcher = fetcher
        self.cache = cache
        self.clock = clock
        self.minimumInterval = minimumInterval
    }

    /// The discovery document's URL for `issuer` (a trailing slash is not doubled).
    public static func documentURL(issuer: String, document: String = "openid-configuration") -> String {
        (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/.well-known/" + document
    }

    /// Pure: the `jwks_uri` of a discovery document for `issuer`, or why it cannot be used.
    public static func jwksURI(document body: [UInt8], issuer: String) throws(FetchError) -> String {
        guard let value = try? JSONValue.parse(body), case .object(let document) = value else {
            throw FetchError(.invalidDocument, "the discovery document is not a JSON object")
        }
        guard let stated = document["issuer"]?.stringValue, stated.isExactly(issuer) else {
            throw FetchError(.invalidDocument, "the discovery document's issuer is not \(issuer) (OIDC Discovery §4.3)")
        }
        guard let uri = document["jwks_uri"]?.stringValue, !uri.isEmpty else {
            throw FetchError(.invalidDocument, "the discovery document has no jwks_uri")
        }
        return uri
    }

    /// The remembered `jwks_uri`, or a fresh one from the discovery document.
    func jwksURI(forceRefresh: Bool) async throws(KeySourceError) -> String {
        let now = clock.now()
        let (known, lastAttempt) = state.withLock { ($0.url, $0.lastAttempt) }
        if let known, !forceRefresh { return known }
        if let lastAttempt, now.timeIntervalSince(lastAttempt) < minimumInterval {
            if let known { return known }
            throw KeySourceError("\(issuer): discovery failed less than \(Int(minimumInterval)) s ago")
        }
        state.withLock { $0.lastAttempt = now }
        let url = Self.documentURL(issuer: issuer, document: document)
        do {
            let document = try await fetcher.get(url)
            guard document.status == 200 else { throw FetchError(.httpStatus, "HTTP \(document.status)") }
            let uri = try Self.jwksURI(document: document.body, issuer: issuer)
            state.withLock { $0.url = uri }
            return uri
        } catch {
            if let known { return known }
            throw KeySourceError("\(url): \(error)")
        }
    }

    public func keys() async throws(KeySourceError) -> JWKSet {
        let url = try await jwksURI(forceRefresh: false)
        do { return try await cache.keys(at: url) } catch {
            // The remembered URL failed with no last good set: the IdP may have moved its keys.
            let fresh = try await jwksURI(forceRefresh: true)
            do { return try await cache.keys(at: fresh) } catch { throw KeySourceError("\(fresh): \(error)") }
        }
    }

    public func keysAfterUnknownKeyID() async throws(KeySourceError) -> JWKSet {
        let url = try await jwksURI(forceRefresh: false)
        do { return try await cache.refreshForUnknownKey(at: url) } catch { throw KeySourceError("\(url): \(error)") }
    }
}
