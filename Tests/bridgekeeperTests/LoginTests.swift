import BridgekeeperCore
import BridgekeeperDemoIdP
import BridgekeeperFetch
import BridgekeeperJOSE
import Dispatch
import Foundation
import Synchronization
import Testing

/// `bridgekeeper login`, `token` and `logout` as a person uses them: the built binary as a
/// process, the demo OpenID Connect provider in this process on loopback, this test as the
/// browser (GET the printed URL, POST the sign-in form, follow the 302 to the CLI's loopback
/// listener), and a real `bridgekeeper serve` as the broker.
@Suite("bridgekeeper login / token / logout", .serialized)
struct LoginTests {
    // MARK: Sign in once, tokens for several servers

    @Test("login through the browser saves a 0600 session in a 0700 folder; token then serves two servers with no new sign-in")
    func signInOnceTokensForTwoServers() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        let broker = try await Broker.start(world)
        defer { broker.stop() }
        try world.writeClientConfig(broker: broker.issuer)

        let login = try world.cli("login", "--no-browser")
        let callback = try await Browser(world).signIn(url: try await login.authorizationURL(), user: "alice")
        #expect(callback.status == 200)
        #expect(callback.text.contains("You signed in to demo"), "\(callback.text)")
        let result = try await login.finish()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("Signed in to demo as alice@example.com; session saved in \(world.sessionFile)"), "\(result.stderr)")

        // The session: a private file in a private folder, holding what token needs.
        #expect(try world.mode(of: world.sessionFile) == 0o600)
        #expect(try world.mode(of: world.sessionDirectory) == 0o700)
        let session = try world.session()
        #expect(session["issuer"] == .string(world.issuer))
        #expect(session["subject"] == "00u-alice")
        #expect(session["token_endpoint"] == .string(world.issuer + "/token"))
        let idToken = try #require(session["id_token"]?.stringValue)
        #expect(session["refresh_token"]?.stringValue != nil)
        #expect(!result.stderr.contains(idToken) && !result.stdout.contains(idToken))

        // Two servers, one sign-in: the provider saw one code and no refresh.
        for (server, resource, scope) in [("github", Broker.github, "tool:create_issue tool:get_file tool:merge_pull_request tool:search_code"),
                                          ("notion", Broker.notion, "tool:search_pages")] {
            let token = try await world.cli("token", "--server", server).finish()
            #expect(token.status == 0, "\(server): \(token.stderr)")
            #expect(token.stderr.isEmpty)
            let lines = token.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 2 && lines[1].isEmpty, "just the token and a newline")
            let claims = try await broker.verifyAccessToken(String(lines[0]), resource: resource)
            #expect(claims["sub"] == "00u-alice")
            #expect(claims["client_id"] == "bridgekeeper-cli")
            #expect(claims["scope"] == .string(scope))
        }
        #expect(world.provider.statistics == DemoOIDCProvider.Statistics(codesIssued: 1, codesRedeemed: 1, refreshes: 0))

        // The MCP client configuration entry.
        let entry = try await world.cli("token", "--server", "notion", "--mcp-config").finish()
        #expect(entry.status == 0, "\(entry.stderr)")
        let object = try #require(try JSONValue.parse(entry.stdout).objectValue)
        let notion = try #require(object["mcpServers"]?.objectValue?["notion"]?.objectValue)
        #expect(notion["type"] == "http")
        #expect(notion["url"] == .string(Broker.notion))
        let header = try #require(notion["headers"]?.objectValue?["Authorization"]?.stringValue)
        #expect(header.hasPrefix("Bearer "))
        _ = try await broker.verifyAccessToken(String(header.dropFirst("Bearer ".count)), resource: Broker.notion)

        // An unknown server is named; logout forgets the session, and token then asks for a login.
        let unknown = try await world.cli("token", "--server", "jira").finish()
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "error: unknown_server: the broker at \(broker.issuer) has no server named jira\n")
        let logout = try await world.cli("logout", "--idp", "demo").finish()
        #expect(logout.status == 0)
        #expect(!FileManager.default.fileExists(atPath: world.sessionFile))
        let after = try await world.cli("token", "--server", "github").finish()
        #expect(after.status == 1)
        #expect(after.stdout.isEmpty)
        #expect(after.stderr == "error: login_required: no session for demo: run `bridgekeeper login --idp demo`\n")
    }

    @Test("token --agent gets a token for the signed-in person's registered agent acting for them (act = the agent); another agent's id with this key, or --agent alone, is refused")
    func agentActingForOwner() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        let broker = try await Broker.start(world)
        defer { broker.stop() }
        try world.writeClientConfig(broker: broker.issuer)
        try await world.signIn(user: "alice")

        // The agent's key pair, and its registration by an administrator (the same database).
        let pem = world.directory.appendingPathComponent("bot.pem").path
        let jwks = world.directory.appendingPathComponent("bot-jwks.json").path
        let generated = try await RunningProcess(["keys", "generate", "--alg", "ES256", "--private-out", pem, "--public-out", jwks], environment: [:]).finish()
        #expect(generated.status == 0, "\(generated.stderr)")
        let created = try await RunningProcess(["agents", "create", "--config", broker.configFile, "--id", "alice-bot", "--owner", "00u-alice",
                                                "--owner-idp", "demo-oidc", "--grant", "github:read", "--jwks-file", jwks],
                                               environment: ["BRIDGEKEEPER_DEMO_KEK": Broker.kek]).finish()
        #expect(created.status == 0, "\(created.stderr)")

        let token = try await world.cli("token", "--server", "github", "--agent", "alice-bot", "--agent-key", pem).finish()
        #expect(token.status == 0, "\(token.stderr)")
        let claims = try await broker.verifyAccessToken(token.stdout.trimmingCharacters(in: .newlines), resource: Broker.github)
        #expect(claims["sub"] == "00u-alice")
        #expect(claims["act"]?.objectValue?["sub"] == "alice-bot")
        #expect(claims["principal_class"] == "agent")
        #expect(claims["scope"] == "tool:get_file tool:search_code", "read only: the agent's grant")

        let impostor = try await world.cli("token", "--server", "github", "--agent", "bob-bot", "--agent-key", pem).finish()
        #expect(impostor.status == 1)
        #expect(impostor.stdout.isEmpty)
        #expect(impostor.stderr.hasPrefix("error: invalid_request: "), "\(impostor.stderr)")
        let alone = try await world.cli("token", "--server", "github", "--agent", "alice-bot").finish()
        #expect(alone.status == 2)
        #expect(alone.stderr == "error: usage: --agent and --agent-key go together\n")
    }

    @Test("a server policy does not grant prints the broker's refusal: the server's name and the policy reason")
    func deniedServer() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        let broker = try await Broker.start(world)
        defer { broker.stop() }
        try world.writeClientConfig(broker: broker.issuer)
        try await world.signIn(user: "bob")

        let denied = try await world.cli("token", "--server", "github").finish()
        #expect(denied.status == 1)
        #expect(denied.stdout.isEmpty)
        #expect(denied.stderr.hasPrefix("error: invalid_request: policy does not grant this subject access to github"), "\(denied.stderr)")
        #expect(denied.stderr.contains("no_matching_rule"), "the policy reason: \(denied.stderr)")
        // Bob still reaches what policy gives everyone.
        let notion = try await world.cli("token", "--server", "notion").finish()
        #expect(notion.status == 0, "\(notion.stderr)")
    }

    // MARK: Refresh

    @Test("an ID token expiring within 60 s is refreshed silently; the refresh token rotates and the old one is spent")
    func refreshNearExpiry() async throws {
        let world = try await LoginWorld.start { $0.idTokenLifetime = 30 }
        defer { world.stop() }
        let broker = try await Broker.start(world)
        defer { broker.stop() }
        try world.writeClientConfig(broker: broker.issuer)
        try await world.signIn(user: "alice")
        let before = try world.session()
        let oldRefresh = try #require(before["refresh_token"]?.stringValue)

        let token = try await world.cli("token", "--server", "github").finish()
        #expect(token.status == 0, "\(token.stderr)")
        #expect(token.stderr.isEmpty)
        _ = try await broker.verifyAccessToken(token.stdout.trimmingCharacters(in: .newlines), resource: Broker.github)
        #expect(world.provider.statistics.refreshes == 1)
        let after = try world.session()
        let newRefresh = try #require(after["refresh_token"]?.stringValue)
        #expect(newRefresh != oldRefresh)
        #expect(after["id_token"] != before["id_token"])
        #expect(after["nonce"] == before["nonce"])
        #expect(try world.mode(of: world.sessionFile) == 0o600)

        // Rotation at the provider: the old refresh token no longer works.
        let replay = try await Browser(world).post(world.issuer + "/token", [("grant_type", "refresh_token"), ("refresh_token", oldRefresh),
                                                                              ("client_id", DemoOIDCProvider.Settings.demoClientID)])
        #expect(replay.status == 400)
        #expect(replay.text.contains(#""error":"invalid_grant""#))

        // The next token refreshes again (30 s < 60 s) with the rotated token.
        #expect(try await world.cli("token", "--server", "notion").finish().status == 0)
        #expect(world.provider.statistics.refreshes == 2)
    }

    @Test("an expired session without a refresh token asks for a new login")
    func expiredWithoutRefresh() async throws {
        let world = try await LoginWorld.start { $0.idTokenLifetime = 1 }
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9", scopes: "[openid, email]")
        let login = try world.cli("login", "--no-browser")
        _ = try await Browser(world).signIn(url: try await login.authorizationURL(), user: "alice")
        let result = try await login.finish()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("no refresh token"))
        #expect(try world.session()["refresh_token"] == nil)
        try await Task.sleep(for: .milliseconds(1100))
        let token = try await world.cli("token", "--server", "github").finish()
        #expect(token.status == 1)
        #expect(token.stderr == "error: login_required: the session for demo expired and has no refresh token: run `bridgekeeper login --idp demo`\n")
    }

    // MARK: Sign-in failures: each names its cause, and nothing is saved

    @Test("a redirect whose state is not the one sent is refused")
    func stateMismatch() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9")
        let login = try world.cli("login", "--no-browser")
        let url = try await login.authorizationURL()
        let callback = try await Browser(world).signIn(url: try replacing("state", with: "forged-state", in: url), user: "alice")
        #expect(callback.status == 400)
        #expect(callback.text.contains("does not belong to the sign-in started in your terminal"))
        let result = try await login.finish()
        #expect(result.status == 1)
        #expect(result.stderr.hasSuffix("error: state_mismatch: the redirect's state is not the one this sign-in sent (a forged or stale response); nothing was saved\n"),
                "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.sessionFile))
        #expect(world.provider.statistics.codesRedeemed == 0)
    }

    @Test("an ID token whose nonce is not the one sent is refused")
    func wrongNonce() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9")
        let login = try world.cli("login", "--no-browser")
        _ = try await Browser(world).signIn(url: try replacing("nonce", with: "injected-nonce", in: try await login.authorizationURL()), user: "alice")
        let result = try await login.finish()
        #expect(result.status == 1)
        #expect(result.stderr.hasSuffix("error: nonce_mismatch: the ID token's nonce is not the one this sign-in sent (a replayed or injected response)\n"),
                "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.sessionFile))
    }

    @Test("an ID token not signed by a published key of the IdP (forged) is refused")
    func forgedIDToken() async throws {
        // The provider signs with a key of its own under the demo kid, and publishes the real demo key.
        let forger = try SigningKey.generate(.rs256, keyID: DemoOIDCProvider.Settings.demoKeyID)
        let published = try #require(try JWKSet(bytes: Array(try Data(contentsOf: CLI.fixtures.appendingPathComponent("jwks.json"))))
            .keys.first { $0.keyID == DemoOIDCProvider.Settings.demoKeyID })
        let world = try await LoginWorld.start { settings in
            settings.signingKey = forger
            settings.publishedKeys = [try! published.publicJWK()]
        }
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9")
        let login = try world.cli("login", "--no-browser")
        _ = try await Browser(world).signIn(url: try await login.authorizationURL(), user: "alice")
        let result = try await login.finish()
        #expect(result.status == 1)
        #expect(result.stderr.contains("error: bad_signature: the ID token from \(world.issuer) was refused"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.sessionFile))
    }

    @Test("a code whose PKCE challenge is not the CLI's (an injected authorization request) is refused by the provider")
    func pkceMismatch() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9")
        let login = try world.cli("login", "--no-browser")
        let attacker = PKCEPair()
        _ = try await Browser(world).signIn(url: try replacing("code_challenge", with: attacker.challenge, in: try await login.authorizationURL()),
                                            user: "alice")
        let result = try await login.finish()
        #expect(result.status == 1)
        #expect(result.stderr.hasSuffix("error: invalid_grant: code_verifier does not match the code_challenge (RFC 7636 4.6)\n"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.sessionFile))
    }

    @Test("an unknown user gets the form again with an error; a known one then completes the sign-in")
    func unknownUser() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9")
        let login = try world.cli("login", "--no-browser")
        let browser = Browser(world)
        let page = try await browser.get(try await login.authorizationURL())
        let fields = Browser.hiddenFields(page.text)
        let refused = try await browser.post(world.issuer + "/authorize", fields + [("username", "mallory")])
        #expect(refused.status == 200)
        #expect(refused.location == nil)
        #expect(refused.text.contains("Unknown user mallory."))
        // The re-rendered form carries the same request.
        #expect(Browser.hiddenFields(refused.text).map(\.1) == fields.map(\.1))
        let accepted = try await browser.post(world.issuer + "/authorize", Browser.hiddenFields(refused.text) + [("username", "carol")])
        let callback = try await browser.get(try #require(accepted.location))
        #expect(callback.status == 200)
        let result = try await login.finish()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("as carol@example.com"))
    }

    @Test("a refused sign-in (error=access_denied) is reported as the IdP's refusal")
    func accessDenied() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9")
        let login = try world.cli("login", "--no-browser")
        let browser = Browser(world)
        let page = try await browser.get(try await login.authorizationURL())
        let cancelled = try await browser.post(world.issuer + "/authorize", Browser.hiddenFields(page.text) + [("cancel", "1")])
        let location = try #require(cancelled.location)
        #expect(location.contains("error=access_denied"))
        let callback = try await browser.get(location)
        #expect(callback.text.contains("demo refused the sign-in (access_denied)"))
        let result = try await login.finish()
        #expect(result.status == 1)
        #expect(result.stderr.hasSuffix("error: access_denied: demo refused the sign-in: the person cancelled the sign-in\n"), "\(result.stderr)")
    }

    @Test("nobody signing in ends with a timeout error after --timeout seconds")
    func timeout() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9")
        let started = Date()
        let result = try await world.cli("login", "--no-browser", "--timeout", "1").finish()
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(result.status == 1)
        #expect(result.stderr.hasSuffix("error: timeout: no sign-in completed within 1 s; run the command again and finish the sign-in in the browser\n"),
                "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.sessionFile))
    }

    @Test("a discovery document naming another issuer is refused before anything is shown")
    func discoveryIssuerMismatch() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9", issuer: world.issuer + "/")
        let result = try await world.cli("login", "--no-browser").finish()
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: discovery_failed: \(world.issuer)/: the discovery document names issuer \(world.issuer), not the configured one"),
                "\(result.stderr)")
        #expect(!result.stderr.contains("Open this URL"))
    }

    @Test("an invalid client configuration names the key path; an inline secret is refused")
    func badClientConfiguration() async throws {
        let world = try await LoginWorld.start()
        defer { world.stop() }
        try world.writeClientConfig(broker: "http://127.0.0.1:9", secret: "inline-secret-value")
        let inline = try await world.cli("login", "--no-browser").finish()
        #expect(inline.status == 1)
        #expect(inline.stderr == "error: invalid_client_configuration: client_secret: must be env:NAME or file:PATH; a secret is never written in this file\n")
    }
}

// MARK: - Support

/// The demo provider in this process, a temporary state folder and client configuration.
final class LoginWorld: Sendable {
    let provider: DemoOIDCProvider
    let running: DemoOIDCProvider.Running
    let directory: URL
    var issuer: String { running.issuer }
    var stateHome: String { directory.appendingPathComponent("state").path }
    var sessionDirectory: String { stateHome + "/bridgekeeper/sessions" }
    var sessionFile: String { sessionDirectory + "/demo.json" }
    var clientConfig: String { directory.appendingPathComponent("client.yaml").path }

    private init(provider: DemoOIDCProvider, running: DemoOIDCProvider.Running, directory: URL) {
        self.provider = provider
        self.running = running
        self.directory = directory
    }

    static func start(_ adjust: (inout DemoOIDCProvider.Settings) throws -> Void = { _ in }) async throws -> LoginWorld {
        var settings = try DemoOIDCProvider.Settings.demo(fixtures: CLI.fixtures.path)
        try adjust(&settings)
        let provider = DemoOIDCProvider(settings: settings)
        return LoginWorld(provider: provider, running: try await provider.start(), directory: try CLI.temporaryDirectory())
    }

    func writeClientConfig(broker: String, issuer: String? = nil, scopes: String = "[openid, profile, email, offline_access]",
                           secret: String = "env:TEST_CLI_SECRET") throws {
        try """
        broker: \(broker)
        client_id: bridgekeeper-cli
        client_secret: \(secret)
        idps:
          - name: demo
            issuer: \(issuer ?? self.issuer)
            client_id: \(DemoOIDCProvider.Settings.demoClientID)
            scopes: \(scopes)
        development:
          allow_loopback_http: true
        """.write(toFile: clientConfig, atomically: true, encoding: .utf8)
    }

    /// `bridgekeeper login --no-browser` completed by the test browser as `user`.
    func signIn(user: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let login = try cli("login", "--no-browser")
        _ = try await Browser(self).signIn(url: try await login.authorizationURL(), user: user)
        let result = try await login.finish()
        #expect(result.status == 0, "\(result.stderr)", sourceLocation: sourceLocation)
    }

    /// The binary with this world's client configuration and state folder.
    func cli(_ arguments: String...) throws -> RunningProcess {
        try RunningProcess(arguments + ["--client-config", clientConfig],
                           environment: ["XDG_STATE_HOME": stateHome, "TEST_CLI_SECRET": "demo-cli-secret-not-for-production"])
    }

    func session() throws -> JSONObject {
        try #require(try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: sessionFile)))).objectValue)
    }

    func mode(of path: String) throws -> Int {
        try #require((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue)
    }

    /// Stops the provider (in the background: a `defer` cannot wait) and removes the folder.
    func stop() {
        let running = self.running
        Task { await running.stop() }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A child process whose output is collected while it runs.
final class RunningProcess: @unchecked Sendable {  // the Process is only touched from the test's task
    final class Output: Sendable {
        let buffers = Mutex<(out: Data, err: Data)>((Data(), Data()))
    }

    let process = Process()
    let output = Output()
    let readers = DispatchGroup()

    init(_ arguments: [String], environment changes: [String: String]) throws {
        process.executableURL = CLI.binary
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["BRIDGEKEEPER_CLIENT_CONFIG"] = nil
        for (name, value) in changes { environment[name] = value }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        for (handle, isError) in [(out.fileHandleForReading, false), (err.fileHandleForReading, true)] {
            readers.enter()
            DispatchQueue.global().async { [output, readers] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    output.buffers.withLock { if isError { $0.err.append(chunk) } else { $0.out.append(chunk) } }
                }
                readers.leave()
            }
        }
    }

    var stdout: String { String(decoding: output.buffers.withLock { $0.out }, as: UTF8.self) }
    var stderr: String { String(decoding: output.buffers.withLock { $0.err }, as: UTF8.self) }

    /// Waits until `text` appears on stdout or stderr, or the process ends.
    func waitFor(_ text: String, timeout: Double = 15) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) || stderr.contains(text) { return true }
            if !process.isRunning { return stdout.contains(text) || stderr.contains(text) }
            try await Task.sleep(for: .milliseconds(25))
        }
        return false
    }

    /// The sign-in URL `login` prints on stderr.
    func authorizationURL() async throws -> String {
        let prefix = "Open this URL to sign in: "
        guard try await waitFor(prefix), let line = stderr.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else {
            throw LoginTestFailure("login printed no URL: \(stderr)")
        }
        return String(line.dropFirst(prefix.count))
    }

    /// Waits for the exit (terminating the process after `timeout`) and returns what it printed.
    func finish(timeout: Double = 30) async throws -> CLI.Result {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                throw LoginTestFailure("the process did not exit within \(timeout) s: \(stderr)")
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        readers.wait()
        return CLI.Result(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

struct LoginTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `bridgekeeper serve` on the demo configuration, with `demo-oidc` pointed at this world's provider.
struct Broker {
    static let github = "https://mcp.demo.bridgekeeper.test/github"
    static let notion = "https://mcp.demo.bridgekeeper.test/notion"

    let process: RunningProcess
    let issuer: String
    /// The broker's configuration file (for `bridgekeeper agents` against its database).
    let configFile: String
    static let kek = Base64URL.encode([UInt8](repeating: 9, count: 32))

    static func start(_ world: LoginWorld) async throws -> Broker {
        let folder = world.directory.appendingPathComponent("broker")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent("jwks.json"), to: folder.appendingPathComponent("jwks.json"))
        let demo = try String(contentsOf: CLI.fixtures.appendingPathComponent("bridgekeeper-demo.yaml"), encoding: .utf8)
        #expect(demo.contains("issuer: http://127.0.0.1:9400"))
        let file = folder.appendingPathComponent("bridgekeeper.yaml")
        for _ in 1...5 {
            let port = Int.random(in: 30_000...39_999)
            let issuer = "http://127.0.0.1:\(port)"
            try demo.replacingOccurrences(of: "issuer: http://127.0.0.1:9400", with: "issuer: \(world.issuer)")
                .replacingOccurrences(of: "issuer: http://127.0.0.1:8080", with: "issuer: \(issuer)")
                .write(to: file, atomically: true, encoding: .utf8)
            let process = try RunningProcess(["serve", "--config", file.path, "--port", String(port)],
                                             environment: ["BRIDGEKEEPER_DEMO_KEK": kek])
            if try await process.waitFor("listening on 127.0.0.1:\(port)"), process.process.isRunning {
                return Broker(process: process, issuer: issuer, configFile: file.path)
            }
            process.stop()  // the port was taken: try another
        }
        throw LoginTestFailure("bridgekeeper serve did not start on any of 5 ports")
    }

    /// Verifies an access token against the broker's published keys (RFC 9068): issuer, audience.
    func verifyAccessToken(_ token: String, resource: String) async throws -> JSONObject {
        let jwks = try await Browser.fetcher.get(issuer + "/jwks.json")
        let verifier = JWTVerifier(kind: .accessToken, signatures: JWSVerifier(keys: try JWKSet(bytes: jwks.body)),
                                   rules: ClaimRules(issuer: issuer, audience: resource))
        return try verifier.verify(token, now: Date()).claims.object
    }

    func stop() { process.stop() }
}

/// The test as a browser: GETs and form POSTs, redirects handed back (and followed by hand).
struct Browser {
    static let fetcher: CurlFetcher = {
        var settings = CurlFetcher.Settings()
        settings.allowLoopbackHTTP = true
        return CurlFetcher(settings: settings)
    }()

    let world: LoginWorld

    init(_ world: LoginWorld) { self.world = world }

    struct Page {
        let status: Int
        let text: String
        let location: String?
    }

    func get(_ url: String) async throws -> Page {
        var request = HTTPRequest(url: url)
        request.returnRedirects = true
        return Page(try await Self.fetcher.send(request))
    }

    func post(_ url: String, _ pairs: [(String, String)]) async throws -> Page {
        var request = HTTPRequest.form(url, pairs)
        request.returnRedirects = true
        return Page(try await Self.fetcher.send(request))
    }

    /// GET the sign-in URL, submit the form as `user`, follow the 302 to the CLI: the CLI's page.
    func signIn(url: String, user: String) async throws -> Page {
        let page = try await get(url)
        #expect(page.status == 200, "\(page.text)")
        #expect(page.text.contains("<code>\(user)</code>"), "the form lists the users")
        let redirect = try await post(world.issuer + "/authorize", Self.hiddenFields(page.text) + [("username", user)])
        #expect(redirect.status == 302, "\(redirect.text)")
        let location = try #require(redirect.location)
        #expect(location.hasPrefix("http://127.0.0.1:"))
        return try await get(location)
    }

    /// The hidden inputs of the sign-in form, in order, as a browser submits them.
    static func hiddenFields(_ html: String) -> [(String, String)] {
        html.components(separatedBy: "<input type=\"hidden\" ").dropFirst().compactMap { rest in
            let parts = rest.components(separatedBy: "\"")
            guard parts.count >= 4, parts[0] == "name=", parts[2] == " value=" else { return nil }
            let value = parts[3].replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
            return (parts[1], value)
        }
    }
}

extension Browser.Page {
    init(_ document: FetchedDocument) {
        self.init(status: document.status, text: String(decoding: document.body, as: UTF8.self), location: document.location)
    }
}

/// The URL with one query parameter's value replaced (what an attacker or a stale tab would send).
func replacing(_ name: String, with value: String, in url: String) throws -> String {
    guard let mark = url.firstIndex(of: "?") else { throw LoginTestFailure("no query in \(url)") }
    var found = false
    let pairs = url[url.index(after: mark)...].split(separator: "&").map { pair -> String in
        guard pair.hasPrefix(name + "=") else { return String(pair) }
        found = true
        return name + "=" + HTTPRequest.percentEncoded(value)
    }
    guard found else { throw LoginTestFailure("no \(name) in \(url)") }
    return String(url[..<mark]) + "?" + pairs.joined(separator: "&")
}

/// A PKCE pair of the test's own (RFC 7636 §4.1, §4.2).
struct PKCEPair {
    let verifier = SecureRandom.identifier(bytes: 32)
    var challenge: String { Base64URL.encode(Digest.sha256(Array(verifier.utf8))) }
}
