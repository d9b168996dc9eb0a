import BridgekeeperCore
import BridgekeeperJOSE
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

/// The IdP's keys fetched from its `jwks_uri` over libcurl, end to end through the token endpoint:
/// a key rotation at the IdP is picked up on an unknown `kid` (at most one refetch per 30 s), and the
/// last good keys keep working while the IdP is down. The IdP is the loopback stand-in the fetcher's
/// own tests use (Tests/BridgekeeperFetchTests/idp_server.py, Python's standard library).
@Suite("IdP keys from a jwks_uri")
struct IdPKeysTests {
    /// A running idp_server.py; stops when `stdin` is closed.
    final class LoopbackIdP: Sendable {
        let port: Int
        let process: Process
        let stdin: Pipe

        init(directory: String) throws {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("BridgekeeperFetchTests/idp_server.py").path
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script, directory]
            let out = Pipe()
            stdin = Pipe()
            process.standardOutput = out
            process.standardInput = stdin
            try process.run()
            var line = Data()
            while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line += byte }
            port = try #require(Int(String(decoding: line, as: UTF8.self)))
        }

        func control(_ path: String) throws {
            let (status, _) = try CurlControl.get("http://127.0.0.1:\(port)\(path)")
            #expect(status == 204)
        }

        /// Stops the IdP: connections are refused from now on.
        func stop() {
            try? stdin.fileHandleForWriting.close()
            process.waitUntilExit()
        }

        deinit { stop() }
    }

    /// A GET without our fetcher (which only serves key documents): Foundation's URLSession.
    enum CurlControl {
        static func get(_ url: String) throws -> (Int, Data) {
            let semaphore = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var result: (Int, Data) = (0, Data())
            URLSession.shared.dataTask(with: URL(string: url)!) { data, response, _ in
                result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data())
                semaphore.signal()
            }.resume()
            semaphore.wait()
            return result
        }
    }

    static func jwks(_ keys: [SigningKey]) throws -> String {
        JSONValue.object(JSONObject(["keys": .array(try keys.map { .object(try $0.publicJWK()) })])).serialized()
    }

    @Test("a rotation at the IdP is picked up on an unknown kid, rate-limited, and last good keys outlive an outage")
    func rotationAndOutage() async throws {
        let keysDirectory = NSTemporaryDirectory() + "bk-idp-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: keysDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: keysDirectory) }
        let deploymentForKeys = try TestIdP()
        let newKey = try SigningKey.generate(.rs256, keyID: "idp-rs256-next")
        try Self.jwks([deploymentForKeys.key]).write(toFile: keysDirectory + "/jwks-a.json", atomically: true, encoding: .utf8)
        try Self.jwks([deploymentForKeys.key, newKey]).write(toFile: keysDirectory + "/jwks-b.json", atomically: true, encoding: .utf8)
        let idp = try LoopbackIdP(directory: keysDirectory)

        let deployment = try TestDeployment(extra: "development:\n  allow_loopback_http: true",
                                            idpKeys: "jwks_uri: http://127.0.0.1:\(idp.port)/rotating")
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        try await withServer(deployment, clock: clock) { client, _ in
            func redeem(signedBy key: SigningKey) async throws -> TestResponse {
                try await client.redeem(try key.signJWT(type: "oauth-id-jag+jwt", claims: TestIdP.claims(now: clock.now())))
            }
            // The IdP's current key, fetched from jwks_uri.
            #expect(try await redeem(signedBy: deploymentForKeys.key).status == .ok)
            // A kid the IdP does not publish yet: one refetch, still unknown.
            let early = try await redeem(signedBy: newKey)
            #expect(early.status == .badRequest)
            #expect(early.json?["error"] == .string("invalid_grant"))
            // The IdP rotates; within 30 s of the last refetch the cache does not ask again.
            try idp.control("/rotate")
            clock.advance(10)
            #expect(try await redeem(signedBy: newKey).status == .badRequest)
            // After the refetch interval the unknown kid triggers a refetch that finds the new key.
            clock.advance(21)
            let rotated = try await redeem(signedBy: newKey)
            #expect(rotated.status == .ok, "\(rotated.text)")
            // The IdP goes down: the last good keys keep serving, past their freshness (max-age 600).
            idp.stop()
            clock.advance(7200)
            let during = try await redeem(signedBy: newKey)
            #expect(during.status == .ok, "\(during.text)")
        }
    }

    @Test("each IdP's key cache has its own bounds: after a rotation, the IdP with a 5 s refetch interval is asked again at 10 s, the one with 60 s only after 60 s")
    func perIdPRefetchInterval() async throws {
        var folders: [String] = []
        defer { for folder in folders { try? FileManager.default.removeItem(atPath: folder) } }
        var started: [(key: SigningKey, next: SigningKey, server: LoopbackIdP)] = []
        for _ in 0..<2 {
            let folder = NSTemporaryDirectory() + "bk-idp-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            folders.append(folder)
            let key = try SigningKey.generate(.rs256, keyID: "current"), next = try SigningKey.generate(.rs256, keyID: "next")
            try Self.jwks([key]).write(toFile: folder + "/jwks-a.json", atomically: true, encoding: .utf8)
            try Self.jwks([key, next]).write(toFile: folder + "/jwks-b.json", atomically: true, encoding: .utf8)
            started.append((key, next, try LoopbackIdP(directory: folder)))
        }
        let idps = started
        let otherIssuer = "https://other-idp.test.example"
        let deployment = try TestDeployment(
            extra: "development:\n  allow_loopback_http: true",
            idpExtra: """
                  - name: other-idp
                    issuer: \(otherIssuer)
                    jwks_uri: http://127.0.0.1:\(idps[1].server.port)/rotating
                    algorithms: [RS256]
                    key_cache: { unknown_kid_refetch_interval: 60 }
                """,
            idpKeys: "jwks_uri: http://127.0.0.1:\(idps[0].server.port)/rotating\n    key_cache: { unknown_kid_refetch_interval: 5 }",
            policy: """
              - id: other-idp-engineering-github
                effect: allow
                groups: [engineering]
                idp: other-idp
                servers: [github]
                categories: [read, write]
            """)
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        try await withServer(deployment, clock: clock) { client, _ in
            func redeem(_ index: Int, signedBy key: SigningKey) async throws -> TestResponse {
                var claims = TestIdP.claims(now: clock.now())
                if index == 1 { claims["iss"] = .string(otherIssuer) }
                return try await client.redeem(try key.signJWT(type: "oauth-id-jag+jwt", claims: claims))
            }
            for index in 0..<2 {
                // Each IdP's current key is fetched; its next key is unknown until it rotates.
                let current = try await redeem(index, signedBy: idps[index].key)
                #expect(current.status == .ok, "IdP \(index): \(current.text)")
                #expect(try await redeem(index, signedBy: idps[index].next).status == .badRequest, "IdP \(index)")
                try idps[index].server.control("/rotate")
            }
            clock.advance(10)
            let fast = try await redeem(0, signedBy: idps[0].next)
            #expect(fast.status == .ok, "5 s interval, 10 s later: refetched: \(fast.text)")
            let slow = try await redeem(1, signedBy: idps[1].next)
            #expect(slow.status == .badRequest, "60 s interval, 10 s later: not asked again: \(slow.text)")
            #expect(slow.json?["error"] == .string("invalid_grant"))
            clock.advance(51)
            let later = try await redeem(1, signedBy: idps[1].next)
            #expect(later.status == .ok, "60 s interval, 61 s later: refetched: \(later.text)")
        }
    }
}
