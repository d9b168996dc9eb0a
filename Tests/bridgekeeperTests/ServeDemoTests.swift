import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// README's run command, end to end: `bridgekeeper serve --demo` as a process, the walk-through it
/// prints (demo id-jag, redeem, introspect, replay, revoke), a graceful stop on SIGTERM, and the
/// audit trail checked by `audit verify` afterwards.
@Suite("serve --demo")
struct ServeDemoTests {
    /// Starts `serve --demo` on a random port in a range the other suites do not use, and returns
    /// once it printed its walk-through; a port already taken makes the server exit, and the next
    /// attempt takes another port.
    static func startDemo(data: String) throws -> (server: Process, issuer: String, printed: String) {
        for _ in 1...5 {
            let port = Int.random(in: 20_000...29_999)
            let server = Process()
            server.executableURL = CLI.binary
            server.arguments = ["serve", "--demo", "--port", String(port), "--data", data, "--fixtures", CLI.fixtures.path]
            let out = Pipe()
            server.standardOutput = out
            server.standardError = FileHandle.nullDevice
            try server.run()
            var printed = ""
            let reader = out.fileHandleForReading
            while !printed.contains("audit verify") {
                let chunk = reader.availableData
                if chunk.isEmpty { break }  // the server exited: the port was taken
                printed += String(decoding: chunk, as: UTF8.self)
            }
            if printed.contains("audit verify") { return (server, "http://127.0.0.1:\(port)", printed) }
            server.waitUntilExit()
        }
        throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: "serve --demo did not start on any of 5 ports"])
    }

    struct HTTPResult {
        let status: Int
        let body: String
        let cacheControl: String?
    }

    static func post(_ url: String, _ body: String, user: String, password: String) async throws -> HTTPResult {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.setValue("Basic " + Data("\(user):\(password)".utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        request.httpBody = Data(body.utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        return HTTPResult(status: http.statusCode, body: String(decoding: data, as: UTF8.self),
                          cacheControl: http.value(forHTTPHeaderField: "Cache-Control"))
    }

    static func encoded(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    @Test("the demo serves the walk-through it prints, stops on SIGTERM, and leaves an intact audit chain")
    func walkThrough() async throws {
        let data = try CLI.temporaryDirectory().appendingPathComponent("data").path
        // The server prints the issuer and the walk-through once it listens.
        let (server, issuer, printed) = try Self.startDemo(data: data)
        defer { if server.isRunning { server.terminate() } }
        #expect(printed.contains("issuer \(issuer)"))
        #expect(printed.contains("demo id-jag --user alice --server github --issuer \(issuer)"))

        let minted = try CLI.bridgekeeper("demo", "id-jag", "--user", "alice", "--server", "github", "--issuer", issuer,
                                          "--fixtures", CLI.fixtures.path)
        #expect(minted.status == 0, "\(minted.stderr)")
        let assertion = minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let grant = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=\(assertion)"
            + "&resource=\(Self.encoded("https://mcp.demo.bridgekeeper.test/github"))"

        let issued = try await Self.post("\(issuer)/token", grant, user: "mcp-client-demo", password: "demo-client-secret-not-for-production")
        #expect(issued.status == 200, "\(issued.body)")
        #expect(issued.cacheControl == "no-store")
        #expect(issued.body.contains(#""scope":"tool:create_issue tool:get_file tool:merge_pull_request tool:search_code""#))
        let token = try #require(issued.body.split(separator: "\"").drop { $0 != "access_token" }.dropFirst(2).first.map(String.init))

        let active = try await Self.post("\(issuer)/introspect", "token=\(token)", user: "gateway-demo", password: "demo-gateway-secret-not-for-production")
        #expect(active.status == 200)
        #expect(active.body.hasPrefix(#"{"active":true"#))
        #expect(active.body.contains(#""sub":"00u-alice""#))

        let replay = try await Self.post("\(issuer)/token", grant, user: "mcp-client-demo", password: "demo-client-secret-not-for-production")
        #expect(replay.status == 400)
        #expect(replay.body.contains(#""error":"invalid_grant""#))

        let revoked = try await Self.post("\(issuer)/revoke", "token=\(token)", user: "mcp-client-demo", password: "demo-client-secret-not-for-production")
        #expect(revoked.status == 200)
        let inactive = try await Self.post("\(issuer)/introspect", "token=\(token)", user: "gateway-demo", password: "demo-gateway-secret-not-for-production")
        #expect(inactive.body == #"{"active":false}"#)

        server.terminate()  // SIGTERM: graceful shutdown
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)

        let verify = try CLI.bridgekeeper("audit", "verify", "--data", data, "--fixtures", CLI.fixtures.path)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.hasPrefix("intact: 3 records"))
        let tail = try CLI.bridgekeeper("audit", "tail", "--json", "--data", data, "--fixtures", CLI.fixtures.path)
        let lines = tail.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.first?.contains(#""reason":"issued""#) == true)
        #expect(lines.dropFirst().first?.contains(#""reason":"assertion_replayed""#) == true)
        #expect(lines.last?.contains(#""kind":"revocation""#) == true)
        #expect(!tail.stdout.contains(assertion) && !tail.stdout.contains(token))
    }
}
