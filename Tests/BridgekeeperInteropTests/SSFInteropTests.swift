import BridgekeeperCore
import BridgekeeperJOSE
import Foundation
import Synchronization
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
import BridgekeeperSignalSettings
#endif

/// Shared Signals end to end with a transmitter we did not build into the broker
/// (`python/ssf_transmitter.py`: its own HTTP server, SETs signed by joserfc, written from SSF 1.0,
/// RFC 8935 and RFC 8936). `bridgekeeper ssf stream create`, as an operator types it, registers a
/// push stream and a poll stream from the transmitter's `/.well-known/ssf-configuration`; the broker
/// then runs with the entries it printed, receives pushes, polls, acknowledges and refuses.
@Suite("Interop: a Shared Signals transmitter pushes to and is polled by the broker", .serialized)
struct SSFInteropTests {
    static let managementToken = "interop-ssf-management-token-0123456789"
    static let audience = "https://receiver.interop.example"
    static let introspector = "gateway"
    static let risc = "https://schemas.openid.net/secevent/risc/event-type/"
    static let caep = "https://schemas.openid.net/secevent/caep/event-type/"

    /// The default deployment, an introspecting gateway client, and the `signals.ssf` entries.
    static func yaml(_ setup: BrokerSetup, entries: [String]) -> String {
        Broker.yaml(setup).replacingOccurrences(of: "\nservers:\n", with: """

              - id: \(introspector)
                secret_hash: "\(setup.secretHash)"
                grant_types: []
                introspection: true
                servers: ["*"]
            servers:

            """) + """

        signals:
          ssf:

        """ + entries.map { $0.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") }.joined(separator: "\n") + "\n"
    }

    @Test("stream create (push and poll) from the transmitter's configuration; pushed and polled SETs revoke; refusals reach the transmitter as err codes; verify, status and delete")
    func pushAndPoll() async throws {
        let transmitter = try await Transmitter.start()
        defer { transmitter.stop() }
        let created = Mutex<[String: (stream: String, entry: String)]>([:])
        let build = { (setup: BrokerSetup) -> String in
            var entries: [String] = []
            for delivery in ["push", "poll"] {
                let run = transmitter.cli(["ssf", "stream", "create", "--issuer", setup.issuer, "--transmitter", transmitter.issuer,
                                           "--name", "acme-\(delivery)", "--idp", "interop-idp", "--delivery", delivery, "--allow-loopback-http"])
                // The poll entry names the token by environment variable; this in-process broker is
                // given its value directly.
                let entry = run.stdout.replacingOccurrences(of: "env:SSF_TRANSMITTER_TOKEN", with: Self.managementToken)
                let stream = entry.split(separator: "\n").first { $0.contains("# stream_id: ") }.map { String($0.split(separator: " ").last!) } ?? ""
                created.withLock { $0[delivery] = (stream, run.status == 0 ? entry : "# create failed: \(run.stderr)") }
                entries.append(entry)
            }
            return Self.yaml(setup, entries: entries)
        }
        try await withBrokers([build]) { brokers in
            let broker = brokers[0]
            let streams = created.withLock { $0 }
            let push = try #require(streams["push"]), poll = try #require(streams["poll"])
            #expect(push.entry.contains("delivery: push") && push.entry.contains("push_authorization_hash: \"sha256$"), "\(push.entry)")
            #expect(push.entry.contains("audience: \"\(Self.audience)\"") && push.entry.contains("jwks_uri: \"\(transmitter.issuer)/jwks.json\""))
            #expect(poll.entry.contains("delivery: poll") && poll.entry.contains("endpoint: \"\(transmitter.issuer)/poll/\(poll.stream)\""), "\(poll.entry)")

            // The poll stream's verification, asked for before the broker ran, is polled and acknowledged.
            try await transmitter.until("the verification SET is acknowledged") { (try await transmitter.state(poll.stream))["acked"]?.arrayValue?.count == 1 }

            // Push verification, asked again now that the broker listens: 202.
            let verify = transmitter.cli(["ssf", "stream", "verify", "--transmitter", transmitter.issuer, "--stream-id", push.stream, "--allow-loopback-http"])
            #expect(verify.status == 0, "\(verify.stderr)")
            try await transmitter.until("the verification push is answered 202") {
                (try await transmitter.state(push.stream))["pushes"]?.arrayValue?.last?.objectValue?["push_status"] == .number(JSONNumber(202))
            }

            // Alice and Bob each hold a token.
            let alice = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            let bob = try await broker.redeemDirectly(try idJAG(broker, subject: "00u-bob"))
            #expect(try await introspect(broker, alice) == true)
            #expect(try await introspect(broker, bob) == true)

            // Pushed: RISC account-disabled for alice (iss_sub) → 202, and her token is dead.
            let disabled = try await transmitter.emit(push.stream, event: Self.risc + "account-disabled",
                                                      subject: JSONObject(["format": "iss_sub", "iss": .string(Broker.idpIssuer), "sub": "00u-alice"]))
            #expect(disabled["push_status"] == .number(JSONNumber(202)), "\(disabled)")
            #expect(try await introspect(broker, alice) == false)
            #expect(try await introspect(broker, bob) == true)

            // Pushed with another audience: 400 invalid_audience, nothing revoked.
            let wrong = try await transmitter.emit(push.stream, event: Self.caep + "session-revoked",
                                                   subject: JSONObject(["format": "iss_sub", "iss": .string(Broker.idpIssuer), "sub": "00u-bob"]), aud: "https://elsewhere.example")
            #expect(wrong["push_status"] == .number(JSONNumber(400)))
            #expect(try JSONValue.parse(wrong["push_body"]?.stringValue ?? "").objectValue?["err"] == "invalid_audience", "\(wrong)")
            #expect(try await introspect(broker, bob) == true)

            // Polled: a SET from another issuer is refused back in setErrs; CAEP session-revoked for
            // bob is acknowledged once durable, and his token is dead.
            let forged = try await transmitter.emit(poll.stream, event: Self.caep + "session-revoked",
                                                    subject: JSONObject(["format": "iss_sub", "iss": .string(Broker.idpIssuer), "sub": "00u-bob"]), iss: "https://impostor.example")
            let forgedJTI = try #require(forged["jti"]?.stringValue)
            try await transmitter.until("the forged SET comes back as invalid_issuer") {
                (try await transmitter.state(poll.stream))["errs"]?.objectValue?[forgedJTI]?.objectValue?["err"] == "invalid_issuer"
            }
            #expect(try await introspect(broker, bob) == true)
            let revoked = try await transmitter.emit(poll.stream, event: Self.caep + "session-revoked",
                                                     subject: JSONObject(["format": "iss_sub", "iss": .string(Broker.idpIssuer), "sub": "00u-bob"]))
            let revokedJTI = try #require(revoked["jti"]?.stringValue)
            try await transmitter.until("session-revoked is acknowledged") {
                (try await transmitter.state(poll.stream))["acked"]?.arrayValue?.contains(.string(revokedJTI)) == true
            }
            #expect(try await introspect(broker, bob) == false)
            // Session revocation does not disable: Bob gets a new token; Alice, offboarded, does not.
            _ = try await broker.redeemDirectly(try idJAG(broker, subject: "00u-bob"))
            await #expect(throws: InteropFailure.self) { _ = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient)) }

            // Status and delete from the CLI.
            let status = transmitter.cli(["ssf", "stream", "status", "--transmitter", transmitter.issuer, "--stream-id", poll.stream, "--allow-loopback-http"])
            #expect(status.status == 0 && status.stdout.contains("\"enabled\""), "\(status.stdout)\(status.stderr)")
            let delete = transmitter.cli(["ssf", "stream", "delete", "--transmitter", transmitter.issuer, "--stream-id", push.stream, "--allow-loopback-http"])
            #expect(delete.status == 0, "\(delete.stderr)")
            let gone = transmitter.cli(["ssf", "stream", "status", "--transmitter", transmitter.issuer, "--stream-id", push.stream, "--allow-loopback-http"])
            #expect(gone.status == 1 && gone.stderr.hasPrefix("error: transmitter_refused: "), "\(gone.stderr)")
            let unauthorized = transmitter.cli(["ssf", "stream", "status", "--transmitter", transmitter.issuer, "--stream-id", poll.stream, "--allow-loopback-http"],
                                               token: "wrong")
            #expect(unauthorized.status == 1 && unauthorized.stderr.contains("HTTP 401"), "\(unauthorized.stderr)")
        }
    }

    func idJAG(_ broker: Broker, subject: String) throws -> String {
        let iat = Int64(Date().timeIntervalSince1970)
        return try broker.idpKey.signJWT(type: "oauth-id-jag+jwt", claims: JSONObject([
            "iss": .string(Broker.idpIssuer), "sub": .string(subject), "aud": .string(broker.issuer), "client_id": .string(Broker.postClient),
            "jti": .string(SecureRandom.identifier()), "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + 120)),
            "resource": .string(Broker.githubResource), "scope": "tool:search_code", "groups": .array(["engineering"]),
        ]))
    }

    /// RFC 7662 introspection by the gateway client: `active`.
    func introspect(_ broker: Broker, _ token: String) async throws -> Bool? {
        var request = URLRequest(url: URL(string: broker.issuer + "/introspect")!)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.setValue("Basic " + Data("\(Self.introspector):\(Broker.clientSecret)".utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        request.httpBody = Data("token=\(token)".utf8)
        let (data, _) = try await URLSession.shared.data(for: request)
        return try JSONValue.parse(String(decoding: data, as: UTF8.self)).objectValue?["active"]?.boolValue
    }
}

/// `python/ssf_transmitter.py` running in the background, and the `bridgekeeper` binary to drive it.
final class Transmitter: Sendable {
    let process: Process
    let port: Int
    var issuer: String { "http://127.0.0.1:\(port)" }

    init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    static func start() async throws -> Transmitter {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python/ssf_transmitter.py")
        let output = NSTemporaryDirectory() + "bk-ssf-\(UUID().uuidString).out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--token", SSFInteropTests.managementToken, "--audience", SSFInteropTests.audience]
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first, case .object(let object)? = try? JSONValue.parse(String(line)),
               let port = object["port"]?.numberValue?.exactInteger {
                return Transmitter(process: process, port: Int(port))
            }
            if text.contains("error") || !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        _ = kill(process.processIdentifier, SIGKILL)
        throw InteropFailure.scriptFailed
    }

    /// SIGKILL: a child of the test runner may inherit an ignored SIGTERM.
    func stop() {
        if process.isRunning { _ = kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// The `bridgekeeper` binary (built beside the tests), run to its end with the management token.
    func cli(_ arguments: [String], token: String = SSFInteropTests.managementToken) -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SSF_TRANSMITTER_TOKEN"] = token
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return (-1, "", "\(error)") }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// $BRIDGEKEEPER_BIN, else the `bridgekeeper` the build put beside the test bundle.
    static let binary: URL = {
        if let path = ProcessInfo.processInfo.environment["BRIDGEKEEPER_BIN"] { return URL(fileURLWithPath: path) }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent("bridgekeeper")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/bridgekeeper")
    }()

    func emit(_ stream: String, event: String, subject: JSONObject, aud: String? = nil, iss: String? = nil) async throws -> JSONObject {
        var body = JSONObject(["stream_id": .string(stream), "event": .string(event), "sub_id": .object(subject)])
        if let aud { body["aud"] = .string(aud) }
        if let iss { body["iss"] = .string(iss) }
        return try await call("POST", "/control/emit", body)
    }

    func state(_ stream: String) async throws -> JSONObject { try await call("GET", "/control/streams/\(stream)", nil) }

    func call(_ method: String, _ path: String, _ body: JSONObject?) async throws -> JSONObject {
        var request = URLRequest(url: URL(string: issuer + path)!)
        request.httpMethod = method
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(JSONValue.object(body).serialized().utf8)
        }
        let (data, _) = try await URLSession.shared.data(for: request)
        return try JSONValue.parse(String(decoding: data, as: UTF8.self), limits: JSONLimits(maxBytes: 1 << 20)).objectValue ?? JSONObject()
    }

    /// Waits (up to 20 s) for `condition`; a condition never met fails the test with `what`.
    func until(_ what: String, _ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for _ in 0..<400 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting until \(what)", sourceLocation: sourceLocation)
        throw InteropFailure.scriptFailed
    }
}
