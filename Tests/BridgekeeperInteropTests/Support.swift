import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
// `server.store.close()`: BridgekeeperServer's public API exposes the SQLite store (a `public
// import` there); the target's declared dependencies reach it through BridgekeeperServer.
import BridgekeeperStoreSQLite
import Foundation
import Synchronization
import Hummingbird
import Logging
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A running Bridgekeeper on loopback: issuer `http://127.0.0.1:<port>` (development
/// `allow_loopback_http`), SQLite in a temporary folder, an RS256 test IdP key whose JWKS is a file
/// there (`idp-jwks.json`). With the default deployment (`yaml`): three confidential clients and a
/// github and a notion server; `withBrokers` takes other deployments (`BridgeChain`).
final class Broker: Sendable {
    static let idpIssuer = "https://idp.interop.example"
    static let postClient = "sdk-post"
    static let basicClient = "sdk-basic"
    static let clientSecret = "interop-secret-0123456789abcdef"
    /// A client whose id and secret change under RFC 6749 §2.3.1 form-encoding (the SDK encodes
    /// both before Basic; the server must decode them).
    static let encodedClient = "sdk basic:encoded/1"
    static let encodedSecret = "p@ss:w/rd+x%y &=0123456789abcdef"
    static let githubResource = "https://mcp.test.example/github"
    static let notionResource = "https://mcp.test.example/notion"
    /// A gateway: it may read the revocation feed and introspect (HTTP Basic, the shared secret).
    static let gatewayClient = "gateway-github"

    let directory: String
    let port: Int
    let idpKey: SigningKey
    /// The running server (its store, signal processor and keys), for what a test does beside HTTP.
    let server: BridgekeeperServer
    var issuer: String { Self.issuer(port: port) }

    init(directory: String, port: Int, idpKey: SigningKey, server: BridgekeeperServer) {
        self.directory = directory
        self.port = port
        self.idpKey = idpKey
        self.server = server
    }

    static func yaml(port: Int, secretHash: String, encodedSecretHash: String) -> String {
        """
        \(preamble(port: port))
        idps:
          - name: interop-idp
            issuer: \(idpIssuer)
            jwks_file: idp-jwks.json
            algorithms: [RS256]
            max_assertion_lifetime: 300
        clients:
          - id: \(postClient)
            secret_hash: "\(secretHash)"
            auth_methods: [client_secret_post]
            servers: ["*", bridgekeeper]
          - id: \(basicClient)
            secret_hash: "\(secretHash)"
            auth_methods: [client_secret_basic]
            servers: ["*", bridgekeeper]
          - id: "\(encodedClient)"
            secret_hash: "\(encodedSecretHash)"
            auth_methods: [client_secret_basic]
            servers: ["*", bridgekeeper]
          - id: \(gatewayClient)
            secret_hash: "\(secretHash)"
            auth_methods: [client_secret_basic]
            grant_types: []
            introspection: true
            revocation_feed: true
            servers: ["*"]
        servers:
          - name: github
            resource: \(githubResource)
            tools:
              - { name: search_code, category: read }
              - { name: create_issue, category: write }
              - { name: delete_repository, category: destructive }
          - name: notion
            resource: \(notionResource)
            tools:
              - { name: search_pages, category: read }
        policy:
          - id: engineering-github
            effect: allow
            groups: [engineering]
            servers: [github]
            categories: [read, write]
          - id: everyone-notion
            effect: allow
            everyone: true
            servers: [notion]
            categories: [read]
        """
    }

    /// `pbkdf2-sha256$<iterations>$<salt>$<hash>`, the format `secret_hash` takes.
    static func secretHash(_ secret: String, iterations: Int = 10_000) -> String {
        let salt = SecureRandom.bytes(16)
        let hash = Digest.pbkdf2SHA256(password: Array(secret.utf8), salt: salt, iterations: iterations)
        return "pbkdf2-sha256$\(iterations)$\(Base64URL.encode(salt))$\(Base64URL.encode(hash))"
    }

    /// A fresh ID-JAG from the test IdP for alice (group engineering), asking for every github tool.
    func idJAG(client: String, resource: String = Broker.githubResource,
               scope: String = "tool:search_code tool:create_issue tool:delete_repository") throws -> String {
        let iat = Int64(Date().timeIntervalSince1970)
        return try idpKey.signJWT(type: "oauth-id-jag+jwt", claims: JSONObject([
            "iss": .string(Self.idpIssuer), "sub": .string("00u-alice"), "aud": .string(issuer), "client_id": .string(client),
            "jti": .string(SecureRandom.identifier()), "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + 120)),
            "resource": .string(resource), "scope": .string(scope), "groups": .array([.string("engineering")]),
            "email": .string("alice@example.com"),
        ]))
    }

    /// Runs `python/mcp_sdk_redeem.py`: the MCP Python SDK redeems `assertions` (one per exchange).
    func sdkRedeem(client: String, secret: String = Broker.clientSecret, authMethod: String, assertions: [String],
                   scope: String? = nil, strictMetadata: Bool = true) async throws -> PythonRun {
        var arguments = ["--issuer", issuer, "--server-url", Self.githubResource, "--client-id", client,
                         "--client-secret", secret, "--auth-method", authMethod]
        for assertion in assertions { arguments += ["--assertion", assertion] }
        if let scope { arguments += ["--scope", scope] }
        if strictMetadata { arguments.append("--strict-metadata") }
        return try await python("mcp_sdk_redeem.py", arguments)
    }

    /// Redeems an ID-JAG with a plain form POST (`client_secret_post`) and returns the access token.
    func redeemDirectly(_ assertion: String, client: String = Broker.postClient) async throws -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let pairs = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion),
                     ("client_id", client), ("client_secret", Self.clientSecret), ("resource", Self.githubResource)]
        var request = URLRequest(url: URL(string: issuer + "/token")!)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&").utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        let text = String(decoding: data, as: UTF8.self)
        guard (response as? HTTPURLResponse)?.statusCode == 200, case .object(let body) = try JSONValue.parse(text),
              let token = body["access_token"]?.stringValue else {
            throw InteropFailure.badTokenResponse(text)
        }
        return token
    }

    /// Runs `python/<script>` with python3 from PATH; stdout and stderr go to files (no pipe to fill).
    func python(_ script: String, _ arguments: [String], timeout: Duration = .seconds(120)) async throws -> PythonRun {
        let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("python")
        let name = UUID().uuidString
        let stdoutPath = (directory as NSString).appendingPathComponent("\(name).out")
        let stderrPath = (directory as NSString).appendingPathComponent("\(name).err")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let stdout = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        let stderr = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        defer {
            try? stdout.close()
            try? stderr.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scripts.appendingPathComponent(script).path] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONDONTWRITEBYTECODE"] = "1"  // no __pycache__ beside the scripts
        process.environment = environment
        process.standardOutput = stdout
        process.standardError = stderr
        // A hung script must not hang the suite: past `timeout` it is killed, and the status says so.
        // The watchdog kills only while the script has not ended, so it never signals a reused
        // process id, and it is cancelled as soon as the script ends.
        let watchdog = Watchdog()
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in
                watchdog.end()
                continuation.resume(returning: finished.terminationStatus)
            }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            watchdog.start(pid: process.processIdentifier, after: timeout)
        }
        let out = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        if status == SIGKILL && process.terminationReason == .uncaughtSignal {
            throw InteropFailure.pythonTimedOut("\(script) ran past \(timeout)\nstdout: \(out)\nstderr: \(err)")
        }
        return PythonRun(status: status, stdout: out, stderr: err)
    }
}

/// Kills a child process that runs past its time, unless it has ended first.
final class Watchdog: Sendable {
    private let state = Mutex<(ended: Bool, task: Task<Void, Never>?)>((false, nil))

    func start(pid: Int32, after timeout: Duration) {
        let task = Task { [self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            state.withLock { if !$0.ended { _ = kill(pid, SIGKILL) } }
        }
        state.withLock { state in
            if state.ended { task.cancel() } else { state.task = task }
        }
    }

    func end() {
        state.withLock { state in
            state.ended = true
            state.task?.cancel()
        }
    }
}

/// A finished Python script: exit status, output, and its stdout parsed as one JSON object.
struct PythonRun: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String

    var json: JSONObject? {
        guard case .object(let object) = try? JSONValue.parse(stdout, limits: JSONLimits(maxBytes: 1 << 20)) else { return nil }
        return object
    }
}

/// A free loopback TCP port: bind port 0, read what the kernel chose, close. The server binds it
/// moments later; `withBrokers` retries on the rare loss of that race.
func freeLoopbackPort() throws -> Int {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw InteropFailure.serverDidNotStart }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw InteropFailure.serverDidNotStart }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw InteropFailure.serverDidNotStart }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// What one server's YAML is written from: its port, the ports of every server started with it
/// (so servers can name each other's issuers before any of them runs), and the client-secret hashes.
struct BrokerSetup: Sendable {
    let ports: [Int]
    let index: Int
    let secretHash: String
    let encodedSecretHash: String
    var port: Int { ports[index] }
    var issuer: String { issuer(of: index) }
    /// The issuer of the `index`th server started with this one.
    func issuer(of index: Int) -> String { Broker.issuer(port: ports[index]) }
}

extension Broker {
    static func issuer(port: Int) -> String { "http://127.0.0.1:\(port)" }

    /// What every interop deployment starts with: issuer and listener on `port`, loopback http,
    /// SQLite in its folder, the key-encryption key from the environment, no propagation delay.
    static func preamble(port: Int) -> String {
        """
        issuer: \(issuer(port: port))
        listen: { host: 127.0.0.1, port: \(port) }
        development: { allow_loopback_http: true }
        storage: { sqlite: bridgekeeper.sqlite }
        keys:
          encryption_key: env:INTEROP_KEK
          propagation_delay: 0
        """
    }

    /// The default deployment (`yaml(port:secretHash:encodedSecretHash:)`) for `setup`.
    static func yaml(_ setup: BrokerSetup) -> String {
        yaml(port: setup.port, secretHash: setup.secretHash, encodedSecretHash: setup.encodedSecretHash)
    }
}

/// A started server: its `Broker` and how to stop it (stop serving, close the store, remove the folder).
private struct RunningBroker {
    let broker: Broker
    let stop: () async -> Void

    /// Prepares and starts the server for `setup`; nil (after cleaning up) when another process took its port.
    static func start(_ setup: BrokerSetup, yaml: (BrokerSetup) -> String, logger: Logger) async throws -> RunningBroker? {
        let directory = NSTemporaryDirectory() + "bk-interop-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let server: BridgekeeperServer
        let idpKey: SigningKey
        do {
            idpKey = try SigningKey.generate(.rs256, keyID: "interop-idp-rs256")
            let jwks = JSONValue.object(JSONObject(["keys": .array([.object(try idpKey.publicJWK())])])).serialized()
            try jwks.write(toFile: (directory as NSString).appendingPathComponent("idp-jwks.json"), atomically: true, encoding: .utf8)
            let configuration = try Configuration.parse(
                yaml: yaml(setup), baseDirectory: directory,
                environment: ["INTEROP_KEK": Base64URL.encode(SecureRandom.bytes(32))])
            server = try await BridgekeeperServer.prepare(configuration, clock: SystemClock(), logger: logger)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        let (started, running) = AsyncStream<Int>.makeStream()
        let app = server.application(onServerRunning: { running.yield($0) })
        let serving = Task {
            defer { running.finish() }
            try await app.runService(gracefulShutdownSignals: [])
        }
        let stop = {
            serving.cancel()
            _ = await serving.result
            await server.store.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        var boundPort: Int? = nil
        for await bound in started {
            boundPort = bound
            break
        }
        guard boundPort == setup.port else {  // lost the port to someone else
            await stop()
            return nil
        }
        return RunningBroker(broker: Broker(directory: directory, port: setup.port, idpKey: idpKey, server: server), stop: stop)
    }
}

/// Starts the real server (`BridgekeeperServer.prepare` + its Hummingbird application, as
/// `bridgekeeper serve` does, without signal handlers) on a free loopback port with the default
/// deployment, runs `body`, then stops it, closes the store and removes the folder.
func withBroker(_ body: (Broker) async throws -> Void) async throws {
    try await withBrokers([Broker.yaml]) { brokers in try await body(brokers[0]) }
}

/// Starts one real server per YAML builder, in order, each on its own free loopback port and in its
/// own folder (with its own test IdP key); every builder sees every port, so the servers can trust
/// each other. Runs `body` with the brokers in the same order, then stops them all, last first.
/// When a port is lost to another process between choosing and binding, all start again on new ports.
func withBrokers(_ yamls: [(BrokerSetup) -> String], _ body: ([Broker]) async throws -> Void) async throws {
    var logger = Logger(label: "interop")
    logger.logLevel = .critical
    func stopAll(_ running: [RunningBroker]) async {
        for broker in running.reversed() { await broker.stop() }
    }
    for _ in 1...3 {
        let ports = try yamls.map { _ in try freeLoopbackPort() }
        guard Set(ports).count == ports.count else { continue }
        let secretHash = Broker.secretHash(Broker.clientSecret)
        let encodedSecretHash = Broker.secretHash(Broker.encodedSecret)
        var running: [RunningBroker] = []
        do {
            for index in yamls.indices {
                let setup = BrokerSetup(ports: ports, index: index, secretHash: secretHash, encodedSecretHash: encodedSecretHash)
                guard let started = try await RunningBroker.start(setup, yaml: yamls[index], logger: logger) else { break }
                running.append(started)
            }
        } catch {
            await stopAll(running)
            throw error
        }
        guard running.count == yamls.count else {  // a port was lost: try other ports
            await stopAll(running)
            continue
        }
        do {
            try await body(running.map(\.broker))
        } catch {
            await stopAll(running)
            throw error
        }
        await stopAll(running)
        return
    }
    throw InteropFailure.serverDidNotStart
}
