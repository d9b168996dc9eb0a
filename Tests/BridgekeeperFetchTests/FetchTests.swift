import BridgekeeperCore
import BridgekeeperFetch
import BridgekeeperJOSE
import Foundation
import Synchronization
import Testing
import BridgekeeperTesting

/// A real HTTP server on loopback (Tests/BridgekeeperFetchTests/idp_server.py), started once.
final class LoopbackIdP: Sendable {
    let port: Int
    let keyA: SigningKey
    let keyB: SigningKey
    private let process: Process
    /// Our end of the server's stdin: when this process exits, it closes and the server exits.
    private let lifeline: Pipe

    static let shared = try! LoopbackIdP()

    init() throws {
        keyA = try SigningKey.generate(.es256, keyID: "key-a")
        keyB = try SigningKey.generate(.es256, keyID: "key-b")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bk-idp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try JSONObject(["keys": .array([.object(try keyA.publicJWK())])]).serialized()
            .write(to: directory.appendingPathComponent("jwks-a.json"), atomically: true, encoding: .utf8)
        try JSONObject(["keys": .array([.object(try keyA.publicJWK()), .object(try keyB.publicJWK())])]).serialized()
            .write(to: directory.appendingPathComponent("jwks-b.json"), atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("idp_server.py")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, directory.path]
        let output = Pipe()
        lifeline = Pipe()
        process.standardOutput = output
        process.standardInput = lifeline
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line.append(byte) }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else { throw FetchError(.network, "test IdP did not start") }
        self.port = port
    }

    deinit { process.terminate() }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// A fetcher allowed to use plain http to this loopback server.
    static func fetcher(timeout: Double = 2) -> CurlFetcher {
        var settings = CurlFetcher.Settings()
        settings.allowLoopbackHTTP = true
        settings.totalTimeout = timeout
        return CurlFetcher(settings: settings)
    }

    /// Sends a control request (/rotate, /break) or reads /count.
    func control(_ path: String) async throws -> String {
        String(decoding: try await Self.fetcher().get(url(path)).body, as: UTF8.self)
    }
}

/// A clock the test moves by hand.
@Suite("libcurl fetcher against a loopback server", .serialized)
struct CurlFetcherTests {
    let idp = LoopbackIdP.shared
    var fetcher: CurlFetcher { LoopbackIdP.fetcher(timeout: 1) }

    func failure(_ path: String) async -> FetchError? {
        do {
            _ = try await fetcher.get(idp.url(path))
            return nil
        } catch {
            return error
        }
    }

    @Test("fetches a document and its Cache-Control header")
    func fetches() async throws {
        let document = try await fetcher.get(idp.url("/jwks"))
        #expect(document.status == 200)
        #expect(document.cacheControl == "public, max-age=600")
        #expect(try JWKSet(bytes: document.body).keys.map(\.keyID) == ["key-a"])
    }

    @Test("does not follow redirects, caps the body, times out, and reports HTTP errors")
    func refusals() async {
        #expect(await failure("/redirect")?.code == .redirect)
        #expect(await failure("/big")?.code == .tooLarge)
        #expect(await failure("/slow")?.code == .timeout)
        #expect(await failure("/error")?.code == .httpStatus)
        #expect(await failure("/missing")?.code == .httpStatus)
    }

    @Test("plain http is refused by default, and allowed only to loopback when enabled")
    func https() async {
        do {
            _ = try await CurlFetcher().get(idp.url("/jwks"))
            Issue.record("http was fetched")
        } catch {
            #expect(error.code == .insecureURL)
        }
        do {
            _ = try await fetcher.get("http://example.com/jwks")
            Issue.record("http to a non-loopback host was fetched")
        } catch {
            #expect(error.code == .insecureURL)
        }
    }

    @Test("a connection refused is a network error, not a crash")
    func refused() async {
        do {
            _ = try await fetcher.get("http://127.0.0.1:9/jwks")
            Issue.record("fetched from a closed port")
        } catch {
            #expect(error.code == .network)
        }
    }
}

@Suite("JWKS cache", .serialized)
struct JWKSCacheTests {
    let idp = LoopbackIdP.shared

    func cache(_ clock: TestClock) -> JWKSCache {
        JWKSCache(fetcher: LoopbackIdP.fetcher(), clock: clock)
    }

    func count() async throws -> Int {
        try #require(Int(try await idp.control("/count")))
    }

    @Test("serves from cache while Cache-Control says fresh, refetches after")
    func freshness() async throws {
        let clock = TestClock()
        let cache = cache(clock)
        let before = try await count()
        _ = try await cache.keys(at: idp.url("/counted"))
        _ = try await cache.keys(at: idp.url("/counted"))
        clock.advance(599)
        _ = try await cache.keys(at: idp.url("/counted"))
        #expect(try await count() == before + 1)
        clock.advance(2)
        _ = try await cache.keys(at: idp.url("/counted"))
        #expect(try await count() == before + 2)
    }

    @Test("an unknown kid refetches, at most once per interval, and sees a rotated key")
    func unknownKid() async throws {
        let clock = TestClock()
        let cache = cache(clock)
        #expect(try await cache.keys(at: idp.url("/rotating")).keys.map(\.keyID) == ["key-a"])
        _ = try await idp.control("/rotate")
        // Within the interval after the last fetch: no refetch, still the old set.
        #expect(try await cache.refreshForUnknownKey(at: idp.url("/rotating")).keys.map(\.keyID) == ["key-a"])
        clock.advance(31)
        #expect(try await cache.refreshForUnknownKey(at: idp.url("/rotating")).keys.map(\.keyID) == ["key-a", "key-b"])
        // A token signed by the rotated key verifies with what the cache now holds.
        let token = try idp.keyB.signJWT(type: "JWT", claims: JSONObject(["sub": "x"]))
        let keys = try await cache.keys(at: idp.url("/rotating"))
        #expect(throws: Never.self) { try JWSVerifier(keys: keys).verify(UnverifiedJWS(compact: token)) }
    }

    @Test("keeps the last good keys while the IdP fails, within the staleness bound")
    func lastGood() async throws {
        let clock = TestClock()
        let cache = cache(clock)
        #expect(try await cache.keys(at: idp.url("/flaky")).keys.map(\.keyID) == ["key-a"])
        _ = try await idp.control("/break")
        clock.advance(120)  // stale (max-age=60), and the IdP now answers 503
        #expect(try await cache.keys(at: idp.url("/flaky")).keys.map(\.keyID) == ["key-a"])
        clock.advance(86_400)  // beyond the staleness bound: the failure is reported
        do {
            _ = try await cache.keys(at: idp.url("/flaky"))
            Issue.record("stale keys served past the bound")
        } catch {
            #expect(error.code == .httpStatus)
        }
    }

    @Test("a document that is not a JWK Set is refused, never cached")
    func notJWKS() async {
        let cache = cache(TestClock())
        do {
            _ = try await cache.keys(at: idp.url("/not-jwks"))
            Issue.record("accepted a non-JWKS document")
        } catch {
            #expect(error.code == .invalidDocument)
        }
    }

    @Test("Cache-Control lifetimes are clamped to the configured bounds")
    func lifetimes() async throws {
        let clock = TestClock()
        let cache = cache(clock)
        let before = try await count()
        _ = try await cache.keys(at: idp.url("/jwks-nocache"))
        clock.advance(59)
        _ = try await cache.keys(at: idp.url("/jwks-nocache"))  // no-cache still holds for the 60 s minimum
        _ = try await cache.keys(at: idp.url("/counted"))
        #expect(try await count() == before + 1)
    }
}
