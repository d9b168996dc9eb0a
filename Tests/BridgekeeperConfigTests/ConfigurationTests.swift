import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperPolicy
import Foundation
import BridgekeeperRevocation
import Testing
import BridgekeeperKeys
import BridgekeeperSignalSettings
import BridgekeeperClientAuth

/// A configuration file built from sections, so each test changes only the part it is about.
struct ConfigFile {
    static let kek = Base64URL.encode((1...32).map(UInt8.init))
    static let environment = ["BK_KEK": kek]
    /// A real hash (at the minimum iteration count, to keep the suite fast) of `secret`.
    static let secret = "client-secret-0123456789abcdef"
    static let secretHash = SecretHash.make(secret: secret, iterations: SecretHash.minimumIterations)

    var issuer = "issuer: https://auth.example.com"
    var keys = """
        keys:
          encryption_key: env:BK_KEK
        """
    var idps = """
        idps:
          - name: corp
            issuer: https://idp.example.com
            jwks_uri: https://idp.example.com/oauth2/v1/keys
        """
    var clients = """
        clients:
          - id: mcp-client
            secret_hash: \(ConfigFile.secretHash)
          - id: gateway
            secret_hash: \(ConfigFile.secretHash)
            grant_types: []
            introspection: true
        """
    var servers = """
        servers:
          - name: github
            resource: https://mcp.example.com/github
            tools:
              - { name: search_code, category: read }
              - { name: create_issue, category: write }
              - { name: delete_repository, category: destructive }
          - name: notion
            resource: https://mcp.example.com/notion
            tools:
              - { name: search_pages, category: read }
        """
    var policy = """
        policy:
          - id: everyone-reads
            effect: allow
            everyone: true
            servers: [github, notion]
            categories: [read]
        """
    var extra = ""

    var text: String { [issuer, keys, idps, clients, servers, policy, extra].filter { !$0.isEmpty }.joined(separator: "\n") + "\n" }

    func parse(baseDirectory: String = "/nonexistent", environment: [String: String] = ConfigFile.environment) throws(ConfigurationError) -> Configuration {
        try Configuration.parse(yaml: text, baseDirectory: baseDirectory, environment: environment)
    }
}

/// Expects `file` to be refused naming exactly `path`, with a message containing `why`.
func expectRefused(_ file: ConfigFile, path: String, because why: String, baseDirectory: String = "/nonexistent",
                   environment: [String: String] = ConfigFile.environment, sourceLocation: SourceLocation = #_sourceLocation) {
    let error = #expect(throws: ConfigurationError.self, sourceLocation: sourceLocation) {
        try file.parse(baseDirectory: baseDirectory, environment: environment)
    }
    guard let error else { return }
    #expect(error.path == path, "message: \(error.message)", sourceLocation: sourceLocation)
    #expect(error.message.contains(why), "message: \(error.message)", sourceLocation: sourceLocation)
    #expect(error.description.hasPrefix(path.isEmpty ? error.message : "\(path): "), sourceLocation: sourceLocation)
}

/// A folder under the system temporary directory, removed by the test that made it.
struct TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("bk-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    var path: String { url.path }

    func write(_ name: String, _ contents: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try contents.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

@Suite("Configuration: what a valid file gives")
struct ConfigurationDefaultsTests {
    @Test("a minimal file (issuer and key-encryption key) gets the documented defaults")
    func minimalDefaults() throws {
        let file = ConfigFile(idps: "", clients: "", servers: "", policy: "")
        let c = try file.parse(baseDirectory: "/srv/bridgekeeper")
        #expect(c.issuer == "https://auth.example.com")
        #expect(c.keyEncryptionKey == (1...32).map(UInt8.init))
        #expect(c.accessTokenLifetime == 300)
        #expect(c.longestTokenLifetime == 300)
        #expect(c.signingAlgorithm == .es256)
        #expect(c.keyPropagationDelay == 300)
        #expect(c.keyReloadInterval == 10)
        #expect(c.host == "127.0.0.1")
        #expect(c.port == 8080)
        #expect(c.perClientLimit.rate == 500 && c.perClientLimit.burst == 1000)
        #expect(c.perAddressLimit.rate == 1000 && c.perAddressLimit.burst == 2000)
        #expect(c.perClientSecretChecks.rate == 1 && c.perClientSecretChecks.burst == 5)
        #expect(c.refusalAuditInterval == 60)
        #expect(c.limitedResponseDelayMilliseconds == 500)
        #expect(c.purgeInterval == 60)
        #expect(c.allowLoopbackHTTP == false)
        #expect(c.databasePath == "/srv/bridgekeeper/bridgekeeper.sqlite")
        #expect(c.idps.isEmpty)
        #expect(c.clients.isEmpty)
        // Only the built-in management API, which no rule reaches: deny by default.
        #expect(c.catalog.servers.map(\.name) == ["bridgekeeper"])
        #expect(c.catalog.servers.first?.resource.canonical == "https://auth.example.com/admin")
        #expect(c.policy.rules.isEmpty)
    }

    @Test("an IdP gets the documented defaults: RS256 and ES256, 300 s assertions, 60 s leeway, groups and roles claims")
    func idpDefaults() throws {
        let c = try ConfigFile().parse()
        let idp = try #require(c.idps.first)
        #expect(c.idps.count == 1)
        #expect(idp.name == "corp")
        #expect(idp.issuer == "https://idp.example.com")
        guard case .remote(let url) = idp.keys else {
            Issue.record("expected a jwks_uri")
            return
        }
        #expect(url == "https://idp.example.com/oauth2/v1/keys")
        #expect(idp.algorithms == [.rs256, .es256])
        #expect(idp.maxAssertionLifetime == 300)
        #expect(idp.leeway == 60)
        #expect(idp.tenant == nil)
        #expect(idp.groupsClaim == "groups")
        #expect(idp.rolesClaim == "roles")
    }

    @Test("clients, servers and policy are read as written; a client defaults to the jwt-bearer grant and no server")
    func fullFile() throws {
        let c = try ConfigFile().parse()
        #expect(c.clients.map(\.id) == ["mcp-client", "gateway"])
        let client = c.clients[0]
        #expect(client.grantTypes == ["urn:ietf:params:oauth:grant-type:jwt-bearer"])
        #expect(client.servers == nil)
        #expect(client.methods == nil)
        #expect(client.introspection == false)
        #expect(c.clients[1].grantTypes.isEmpty)
        #expect(c.clients[1].introspection)
        #expect(c.catalog.servers.map(\.name) == ["github", "notion", "bridgekeeper"])
        #expect(c.catalog.servers[0].resource.canonical == "https://mcp.example.com/github")
        #expect(c.catalog.servers[0].displayName == "github")
        #expect(c.catalog.servers[0].tools.map(\.category) == [.read, .write, .destructive])
        #expect(c.policy.rules.map(\.id) == ["everyone-reads"])
        #expect(c.policy.rules[0].subjects == .everyone)
        #expect(c.policy.rules[0].servers == .named(["github", "notion"]))
    }

    @Test("every setting that has a default can be changed within its bounds")
    func overrides() throws {
        var file = ConfigFile()
        file.extra = """
            listen: { host: 0.0.0.0, port: 9443 }
            storage: { sqlite: data/bk.sqlite }
            tokens: { access_token_lifetime: 3600 }
            rate_limits:
              per_client: { requests_per_second: 20, burst: 30 }
              per_address: { requests_per_second: 50 }
              per_client_secret_checks: { requests_per_second: 3, burst: 7 }
              refusal_audit_interval: 0
              limited_response_delay_ms: 0
            """
        file.keys = """
            keys:
              algorithm: RS256
              encryption_key: env:BK_KEK
              propagation_delay: 0
              reload_interval: 300
            """
        let c = try file.parse(baseDirectory: "/etc/bk")
        #expect(c.host == "0.0.0.0")
        #expect(c.port == 9443)
        #expect(c.databasePath == "/etc/bk/data/bk.sqlite")
        #expect(c.accessTokenLifetime == 3600)
        #expect(c.longestTokenLifetime == 3600)
        #expect(c.signingAlgorithm == .rs256)
        #expect(c.keyPropagationDelay == 0)
        #expect(c.keyReloadInterval == 300)
        #expect(c.perClientLimit.rate == 20 && c.perClientLimit.burst == 30)
        #expect(c.perAddressLimit.rate == 50 && c.perAddressLimit.burst == 100)
        #expect(c.perClientSecretChecks.rate == 3 && c.perClientSecretChecks.burst == 7)
        #expect(c.refusalAuditInterval == 0)
        #expect(c.limitedResponseDelayMilliseconds == 0)
    }

    @Test("the demo configuration parses: 2 servers and the management API, 6 policy rules, 3 clients (one the sign-in CLI), the demo IdPs' JWKS file")
    func demoConfiguration() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("idp-fixtures/demo-idp")
        let yaml = try String(contentsOf: folder.appendingPathComponent("bridgekeeper-demo.yaml"), encoding: .utf8)
        let kek = Base64URL.encode([UInt8](repeating: 0x42, count: 32))
        let c = try Configuration.parse(yaml: yaml, baseDirectory: folder.path, environment: ["BRIDGEKEEPER_DEMO_KEK": kek])
        #expect(c.issuer == "http://127.0.0.1:8080")
        #expect(c.allowLoopbackHTTP)
        #expect(c.keyEncryptionKey == [UInt8](repeating: 0x42, count: 32))
        #expect(c.keyPropagationDelay == 60)
        #expect(c.catalog.servers.map(\.name) == ["github", "notion", "bridgekeeper"])
        #expect(c.policy.rules.count == 6)
        #expect(c.policy.rules.map(\.id).contains("nobody-merges-during-freeze"))
        #expect(c.policy.rules.first { $0.id == "platform-admins" }?.servers == .all)
        #expect(c.clients.map(\.id) == ["mcp-client-demo", "gateway-demo", "bridgekeeper-cli"])
        #expect(c.idps.map(\.name) == ["demo-idp", "demo-oidc"])
        #expect(c.clients[0].methods == [.clientSecretBasic, .clientSecretPost])
        #expect(c.clients[1].introspection)
        #expect(c.catalog.server(named: "notion")?.tools.first { $0.name == "export_workspace" }?.enabled == false)
        let idp = try #require(c.idps.first)
        #expect(idp.issuer == "https://idp.demo.bridgekeeper.test")
        guard case .fixed(let set) = idp.keys else {
            Issue.record("expected the demo IdP's JWKS file")
            return
        }
        #expect(!set.keys.isEmpty)
        // The secrets the file's comments announce match their hashes.
        guard case .secret(let hash) = c.clients[0].credential else {
            Issue.record("expected a secret client")
            return
        }
        #expect(hash.matches("demo-client-secret-not-for-production"))
        #expect(!hash.matches("demo-gateway-secret-not-for-production"))
    }

    @Test("a SecretHash made by SecretHash.make matches its secret and no other")
    func secretHash() throws {
        let encoded = SecretHash.make(secret: "s3cret-value")
        #expect(encoded.hasPrefix("pbkdf2-sha256$\(SecretHash.defaultIterations)$"))
        let hash = try SecretHash(encoded: encoded)
        #expect(hash.iterations == SecretHash.defaultIterations)
        #expect(hash.matches("s3cret-value"))
        #expect(!hash.matches("s3cret-valuE"))
        #expect(!hash.matches("s3cret-value "))
        #expect(!hash.matches(""))
        #expect(!hash.description.contains(encoded.split(separator: "$")[3]))
        // Fresh salt every time: the same secret hashes differently.
        #expect(SecretHash.make(secret: "s3cret-value") != encoded)
        // And a configured client's hash is the one the loader read.
        let c = try ConfigFile().parse()
        guard case .secret(let configured) = c.clients[0].credential else {
            Issue.record("expected a secret client")
            return
        }
        #expect(configured.matches(ConfigFile.secret))
        #expect(!configured.matches("wrong-secret"))
    }
}

@Suite("Configuration: what is refused, by key path")
struct ConfigurationErrorTests {
    // MARK: Shape

    @Test("an unknown key (a typo) is refused wherever it is", arguments: [
        ("isuer: https://auth.example.com", "isuer"),
        ("listen: { host: 127.0.0.1, prot: 8080 }", "listen.prot"),
        ("tokens: { access_token_lifetme: 300 }", "tokens.access_token_lifetme"),
        ("rate_limits: { per_client: { requests_per_second: 5, brust: 10 } }", "rate_limits.per_client.brust"),
        ("development: { allow_loopback: true }", "development.allow_loopback"),
    ])
    func unknownTopLevelKey(_ line: String, _ path: String) {
        var file = ConfigFile()
        file.extra = line
        expectRefused(file, path: path, because: "unknown key")
    }

    @Test("the flood settings are bounded (issue 18 §3)", arguments: [
        ("rate_limits: { refusal_audit_interval: 3601 }", "rate_limits.refusal_audit_interval", "must be 0 to 3600"),
        ("rate_limits: { limited_response_delay_ms: 10001 }", "rate_limits.limited_response_delay_ms", "must be 0 to 10000"),
        ("rate_limits: { per_client_secret_checks: { requests_per_second: 0 } }", "rate_limits.per_client_secret_checks.requests_per_second", "must be 1 to"),
    ])
    func floodSettingsBounded(_ line: String, _ path: String, _ why: String) {
        var file = ConfigFile()
        file.extra = line
        expectRefused(file, path: path, because: why)
    }

    @Test("an unknown key inside lists is refused with its index")
    func unknownNestedKey() {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: one
                secret_hash: \(ConfigFile.secretHash)
              - id: two
                secret_hsh: \(ConfigFile.secretHash)
            """
        expectRefused(file, path: "clients[1].secret_hsh", because: "unknown key")

        file = ConfigFile()
        file.servers = """
            servers:
              - name: github
                resource: https://mcp.example.com/github
                tools:
                  - { name: search_code, categroy: read }
            """
        expectRefused(file, path: "servers[0].tools[0].categroy", because: "unknown key")

        file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_uri: https://idp.example.com/keys
                claims: { group: grp }
            """
        expectRefused(file, path: "idps[0].claims.group", because: "unknown key")

        file = ConfigFile()
        file.policy = """
            policy:
              - id: r
                effect: allow
                everyone: true
                servers: [github]
                category: [read]
            """
        expectRefused(file, path: "policy[0].category", because: "unknown key")
    }

    @Test("a duplicate key is refused, naming its path, and the error does not echo the file's secrets")
    func duplicateKey() {
        // Inline secrets: whatever the error says goes to stderr and into logs.
        let inlineKEK = Base64URL.encode([UInt8](repeating: 0x5A, count: 32))
        for (keys, issuer, path) in [
            ("keys:\n  encryption_key: \(inlineKEK)\n  encryption_key: \(inlineKEK)", "issuer: https://auth.example.com", "keys.encryption_key"),
            ("keys:\n  encryption_key: \(inlineKEK)", "issuer: https://auth.example.com\nissuer: https://other.example.com", "issuer"),
        ] {
            let file = ConfigFile(issuer: issuer, keys: keys)
            let error = #expect(throws: ConfigurationError.self) { try file.parse() }
            guard let error else { continue }
            #expect(error.path == path, "message: \(error.message.prefix(200))")
            #expect(error.message.contains("twice") || error.message.contains("duplicate"), "message: \(error.message.prefix(200))")
            #expect(!error.description.contains(inlineKEK), "the error echoes the inline key-encryption key")
            #expect(!error.description.contains(ConfigFile.secretHash), "the error echoes a client's secret hash")
        }
    }

    @Test("a value of the wrong type names its path")
    func wrongType() {
        var file = ConfigFile()
        file.extra = "listen: { port: eighty }"
        expectRefused(file, path: "listen.port", because: "whole number")
        file.extra = "listen: { port: 70000 }"
        expectRefused(file, path: "listen.port", because: "0 to 65535")
        file.extra = "clients: 3"
        file.clients = ""
        expectRefused(file, path: "clients", because: "must be a list")
    }

    // MARK: Issuer

    @Test("the issuer is required")
    func missingIssuer() {
        expectRefused(ConfigFile(issuer: ""), path: "issuer", because: "required")
    }

    @Test("an http issuer is refused; http on loopback only with development.allow_loopback_http")
    func httpIssuer() throws {
        expectRefused(ConfigFile(issuer: "issuer: http://auth.example.com"), path: "issuer", because: "https")
        expectRefused(ConfigFile(issuer: "issuer: http://127.0.0.1:8080"), path: "issuer", because: "allow_loopback_http")
        var file = ConfigFile(issuer: "issuer: http://auth.example.com")
        file.extra = "development: { allow_loopback_http: true }"
        expectRefused(file, path: "issuer", because: "https")
        for loopback in ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"] {
            file.issuer = "issuer: \"\(loopback)\""
            let c = try file.parse()
            #expect(c.issuer == loopback)
            #expect(c.allowLoopbackHTTP)
        }
        expectRefused(ConfigFile(issuer: "issuer: auth.example.com"), path: "issuer", because: "absolute URL")
    }

    @Test("an issuer with a query or a fragment is refused", arguments: [
        "https://auth.example.com/?tenant=1", "https://auth.example.com/#top", "https://auth.example.com?", "https://auth.example.com/#",
    ])
    func issuerQueryOrFragment(_ issuer: String) {
        expectRefused(ConfigFile(issuer: "issuer: \"\(issuer)\""), path: "issuer", because: "no query or fragment")
    }

    // MARK: Tokens and keys

    @Test("the access-token lifetime must be 60 to 3600 seconds", arguments: [59, 3601, 0, -1])
    func lifetimeOutOfBounds(_ seconds: Int) {
        var file = ConfigFile()
        file.extra = "tokens: { access_token_lifetime: \(seconds) }"
        expectRefused(file, path: "tokens.access_token_lifetime", because: "60 to 3600")
    }

    @Test("the access-token lifetime bounds themselves are accepted", arguments: [60, 3600])
    func lifetimeBounds(_ seconds: Int) throws {
        var file = ConfigFile()
        file.extra = "tokens: { access_token_lifetime: \(seconds) }"
        #expect(try file.parse().accessTokenLifetime == TimeInterval(seconds))
    }

    @Test("keys and keys.encryption_key are required: the key-encryption key has no default")
    func missingEncryptionKey() {
        expectRefused(ConfigFile(keys: "keys: { algorithm: ES256 }"), path: "keys.encryption_key", because: "required")
        expectRefused(ConfigFile(keys: ""), path: "keys", because: "encryption_key")
    }

    @Test("an env: secret whose variable is unset or empty is refused")
    func envSecretUnset() {
        expectRefused(ConfigFile(), path: "keys.encryption_key", because: "environment variable BK_KEK is not set", environment: [:])
        expectRefused(ConfigFile(), path: "keys.encryption_key", because: "environment variable BK_KEK is not set", environment: ["BK_KEK": ""])
    }

    @Test("a file: secret is read from the file, trailing newline removed; a missing file is refused")
    func fileSecret() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("kek", ConfigFile.kek + "\n")
        let c = try ConfigFile(keys: "keys: { encryption_key: \"file:\(path)\" }").parse(environment: [:])
        #expect(c.keyEncryptionKey == (1...32).map(UInt8.init))

        let hashFile = try folder.write("client-hash", ConfigFile.secretHash + "\n")
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: from-file
                secret_hash: "file:\(hashFile)"
            """
        guard case .secret(let hash) = try file.parse().clients[0].credential else {
            Issue.record("expected a secret client")
            return
        }
        #expect(hash.matches(ConfigFile.secret))

        let missing = folder.url.appendingPathComponent("absent").path
        expectRefused(ConfigFile(keys: "keys: { encryption_key: \"file:\(missing)\" }"), path: "keys.encryption_key", because: "cannot read")
        let empty = try folder.write("empty", "\n")
        expectRefused(ConfigFile(keys: "keys: { encryption_key: \"file:\(empty)\" }"), path: "keys.encryption_key", because: "is empty")
    }

    @Test("a relative file: secret is read beside the configuration file, like jwks_file and storage.sqlite")
    func relativeFileSecret() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        _ = try folder.write("kek", ConfigFile.kek + "\n")
        let c = try ConfigFile(keys: "keys: { encryption_key: \"file:kek\" }").parse(baseDirectory: folder.path, environment: [:])
        #expect(c.keyEncryptionKey == (1...32).map(UInt8.init))
    }

    @Test("a key-encryption key that is not 32 bytes of base64url is refused", arguments: [
        Base64URL.encode([UInt8](repeating: 1, count: 31)), Base64URL.encode([UInt8](repeating: 1, count: 33)), "not*base64url",
        Base64URL.encode([UInt8](repeating: 1, count: 16)),
    ])
    func kekSize(_ value: String) {
        expectRefused(ConfigFile(), path: "keys.encryption_key", because: "32 bytes", environment: ["BK_KEK": value])
    }

    @Test("a symmetric signing algorithm for our own keys is refused")
    func symmetricSigningAlgorithm() {
        expectRefused(ConfigFile(keys: "keys: { algorithm: HS256, encryption_key: env:BK_KEK }"), path: "keys.algorithm", because: "one of")
    }

    // MARK: IdPs

    @Test("an IdP algorithm none or HMAC is refused", arguments: ["none", "HS256", "HS512", "rs256"])
    func idpAlgorithm(_ algorithm: String) {
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_uri: https://idp.example.com/keys
                algorithms: [\(algorithm), RS256]
            """
        expectRefused(file, path: "idps[0].algorithms[0]", because: "asymmetric")
        file.idps = file.idps.replacingOccurrences(of: "[\(algorithm), RS256]", with: "[RS256, \(algorithm)]")
        expectRefused(file, path: "idps[0].algorithms[1]", because: "none and HMAC are never allowed")
    }

    @Test("an IdP takes at most one of jwks_uri and jwks_file; with neither, its keys come from OIDC discovery")
    func idpKeysSource() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        _ = try folder.write("jwks.json", #"{"keys":[]}"#)
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_uri: https://idp.example.com/keys
                jwks_file: jwks.json
            """
        expectRefused(file, path: "idps[0]", because: "exactly one of jwks_uri, jwks_file", baseDirectory: folder.path)
        // Neither: the keys come from the issuer's OIDC discovery document.
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
            """
        let discovered = try file.parse(baseDirectory: folder.path)
        guard case .discover(let issuer) = discovered.idps[0].keys else {
            Issue.record("expected discovery, got \(discovered.idps[0].keys)")
            return
        }
        #expect(issuer == "https://idp.example.com")
    }

    @Test("an IdP jwks_uri must be https; http only on loopback with development.allow_loopback_http")
    func idpJWKSURIScheme() throws {
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_uri: http://idp.example.com/keys
            """
        expectRefused(file, path: "idps[0].jwks_uri", because: "https")
        file.extra = "development: { allow_loopback_http: true }"
        expectRefused(file, path: "idps[0].jwks_uri", because: "https")
        file.idps = file.idps.replacingOccurrences(of: "http://idp.example.com/keys", with: "http://127.0.0.1:9999/keys")
        #expect(try file.parse().idps.count == 1)
        file.extra = ""
        expectRefused(file, path: "idps[0].jwks_uri", because: "https")
    }

    @Test("an IdP jwks_file that cannot be read, or holds no key, is refused")
    func idpJWKSFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_file: missing.json
            """
        expectRefused(file, path: "idps[0].jwks_file", because: "cannot read", baseDirectory: folder.path)
        _ = try folder.write("missing.json", "not json")
        expectRefused(file, path: "idps[0].jwks_file", because: "not a usable JWK Set", baseDirectory: folder.path)
    }

    @Test("a relative jwks_file is read beside the configuration file")
    func idpJWKSFileRelative() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("idp-fixtures/demo-idp")
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_file: jwks.json
            """
        guard case .fixed(let set) = try file.parse(baseDirectory: fixtures.path).idps[0].keys else {
            Issue.record("expected a fixed JWKS")
            return
        }
        #expect(!set.keys.isEmpty)
    }

    @Test("a tenant rule must list its trusted tenants")
    func tenantRuleEmpty() throws {
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: entra
                issuer: https://login.microsoftonline.com/common/v2.0
                jwks_uri: https://login.microsoftonline.com/common/discovery/v2.0/keys
                tenant: { claim: tid, allowed: [] }
            """
        expectRefused(file, path: "idps[0].tenant.allowed", because: "trusted tenants")
        file.idps = file.idps.replacingOccurrences(of: "{ claim: tid, allowed: [] }", with: "{ claim: tid }")
        expectRefused(file, path: "idps[0].tenant.allowed", because: "trusted tenants")
        file.idps = file.idps.replacingOccurrences(of: "{ claim: tid }", with: "{ claim: tid, allowed: [72f988bf-86f1-41af-91ab-2d7cd011db47] }")
        let tenant = try #require(try file.parse().idps[0].tenant)
        #expect(tenant.claim == "tid")
        #expect(tenant.allowed == ["72f988bf-86f1-41af-91ab-2d7cd011db47"])
    }

    @Test("two IdPs with the same issuer are refused")
    func duplicateIdP() {
        var file = ConfigFile()
        file.idps = """
            idps:
              - { name: a, issuer: https://idp.example.com, jwks_uri: https://idp.example.com/keys }
              - { name: b, issuer: https://idp.example.com, jwks_uri: https://idp.example.com/keys }
            """
        expectRefused(file, path: "idps[1]", because: "unique")
    }

    // MARK: Clients

    @Test("a client without secret_hash or keys (a public client) is refused")
    func publicClient() {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: public-app
                grant_types: [urn:ietf:params:oauth:grant-type:jwt-bearer]
            """
        expectRefused(file, path: "clients[0]", because: "only confidential clients")
    }

    @Test("a generated secret's sha256$ hash matches it and no other, and checks in one hash")
    func fastSecretHash() throws {
        let (secret, encoded) = SecretHash.generate()
        #expect(secret.utf8.count == 43)
        #expect(encoded.hasPrefix("sha256$"))
        let hash = try SecretHash(encoded: encoded)
        #expect(hash.scheme == .sha256)
        #expect(!hash.isStretched)
        #expect(hash.matches(secret))
        #expect(!hash.matches(String(secret.dropLast()) + (secret.last == "A" ? "B" : "A")))
        #expect(!hash.matches(secret + " "))
        #expect(!hash.matches(""))
        #expect(!hash.description.contains(encoded.split(separator: "$")[1]))
        // The PBKDF2 format still verifies and still says it is stretched.
        let old = try SecretHash(encoded: ConfigFile.secretHash)
        #expect(old.isStretched && old.matches(ConfigFile.secret) && !old.matches(secret))
    }

    @Test("makeFast takes only a secret of the generated shape: a person's shorter secret needs PBKDF2", arguments: [
        "client-secret-0123456789abcdef", String(repeating: "a", count: 42), String(repeating: "a", count: 42) + "!",
        "Bearer " + String(repeating: "a", count: 42),
    ])
    func fastHashRefusesShortSecrets(_ secret: String) {
        #expect(throws: ConfigurationProblem.self) { try SecretHash.makeFast(secret: secret) }
    }

    @Test("makeFast takes a generated secret, bare or as a Bearer header value")
    func fastHashTakesGeneratedSecrets() throws {
        let secret = SecureRandom.identifier(bytes: 32)
        #expect(try SecretHash(encoded: SecretHash.makeFast(secret: secret)).matches(secret))
        #expect(try SecretHash(encoded: SecretHash.makeFast(secret: "Bearer " + secret)).matches("Bearer " + secret))
    }

    @Test("a client's secret_hash may be either format")
    func configAcceptsBothFormats() throws {
        let (secret, fast) = SecretHash.generate()
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
              - id: gateway
                secret_hash: "\(fast)"
                grant_types: []
                introspection: true
            """
        let c = try file.parse()
        guard case .secret(let stretched) = c.clients[0].credential, case .secret(let quick) = c.clients[1].credential else {
            Issue.record("expected secrets")
            return
        }
        #expect(stretched.scheme == .pbkdf2SHA256 && stretched.matches(ConfigFile.secret))
        #expect(quick.scheme == .sha256 && quick.matches(secret) && !quick.matches(ConfigFile.secret))
    }

    @Test("a malformed secret_hash is refused", arguments: [
        ("plaintext-secret", "must be pbkdf2-sha256$<iterations>$<salt>$<hash>"),
        ("bcrypt$10$abc$def", "must be pbkdf2-sha256$<iterations>$<salt>$<hash>"),
        ("pbkdf2-sha1$100000$hY7H04rbkNLpH94WT4PPdg$D2b-yjdJ1VqThWBgeUfCJqBHsgJdgD7PQ_6cItdq7_Q", "must be pbkdf2-sha256$"),
        ("pbkdf2-sha256$100000$short$D2b-yjdJ1VqThWBgeUfCJqBHsgJdgD7PQ_6cItdq7_Q", "salt (16+ bytes) and hash (32 bytes) must be base64url"),
        ("pbkdf2-sha256$100000$hY7H04rbkNLpH94WT4PPdg$D2b-yjdJ1VqThWBgeUfCJqBH", "salt (16+ bytes) and hash (32 bytes) must be base64url"),
        ("pbkdf2-sha256$many$hY7H04rbkNLpH94WT4PPdg$D2b-yjdJ1VqThWBgeUfCJqBHsgJdgD7PQ_6cItdq7_Q", "iterations must be"),
        ("sha256$D2b-yjdJ1VqThWBgeUfCJqBH", "the sha256 hash must be 32 bytes in base64url"),
        ("sha256$D2b-yjdJ1VqThWBgeUfCJqBHsgJdgD7PQ_6cItdq7_QAA", "the sha256 hash must be 32 bytes in base64url"),
        ("sha256$D2b+yjdJ1VqThWBgeUfCJqBHsgJdgD7PQ_6cItdq7_Q", "the sha256 hash must be 32 bytes in base64url"),
        ("sha256$", "the sha256 hash must be 32 bytes in base64url"),
        ("sha256$D2b-yjdJ1VqThWBgeUfCJqBHsgJdgD7PQ_6cItdq7_Q$x", "must be pbkdf2-sha256$<iterations>$<salt>$<hash> or sha256$<hash>"),
        ("SHA256$D2b-yjdJ1VqThWBgeUfCJqBHsgJdgD7PQ_6cItdq7_Q", "must be pbkdf2-sha256$"),
    ])
    func malformedSecretHash(_ value: String, _ why: String) {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: good
                secret_hash: \(ConfigFile.secretHash)
              - id: bad
                secret_hash: "\(value)"
            """
        expectRefused(file, path: "clients[1].secret_hash", because: why)
    }

    @Test("a secret_hash below 10000 iterations is refused")
    func weakSecretHash() {
        let weak = SecretHash.make(secret: "x", iterations: 9_999)
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: good
                secret_hash: \(ConfigFile.secretHash)
              - id: weak
                secret_hash: \(weak)
            """
        expectRefused(file, path: "clients[1].secret_hash", because: "iterations must be 10000")
    }

    @Test("private_key_jwt is refused among a secret client's auth_methods")
    func privateKeyJWTForSecretClient() {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
                auth_methods: [client_secret_basic, private_key_jwt]
            """
        expectRefused(file, path: "clients[0].auth_methods[1]", because: "client_secret_basic or client_secret_post")
    }

    @Test("a client with both a secret and keys is refused")
    func secretAndKeys() {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
                jwks_uri: https://client.example.com/jwks
            """
        expectRefused(file, path: "clients[0]", because: "both")
    }

    @Test("an unsupported grant type is refused", arguments: ["client_credentials", "authorization_code", "refresh_token",
                                                              "urn:ietf:params:oauth:grant-type:saml2-bearer"])
    func unsupportedGrantType(_ grant: String) {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
                grant_types: [urn:ietf:params:oauth:grant-type:jwt-bearer, "\(grant)"]
            """
        expectRefused(file, path: "clients[0].grant_types[1]", because: "unsupported grant type")
    }

    @Test("a client naming a server not in the catalog is refused")
    func clientUnknownServer() throws {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
                servers: [github, jira]
            """
        expectRefused(file, path: "clients[0].servers[1]", because: "no server named jira")
        file.clients = file.clients.replacingOccurrences(of: "[github, jira]", with: "[github]")
        #expect(try file.parse().clients[0].servers == ["github"])
    }

    @Test("a gateway client (introspection or revocation_feed) without grant_types gets no grant; one that names a grant keeps it")
    func gatewayClientGetsNoGrant() throws {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: introspector
                secret_hash: \(ConfigFile.secretHash)
                introspection: true
              - id: feed
                secret_hash: \(ConfigFile.secretHash)
                revocation_feed: true
              - id: both
                secret_hash: \(ConfigFile.secretHash)
                introspection: true
                grant_types: [urn:ietf:params:oauth:grant-type:jwt-bearer]
                servers: [github]
              - id: client
                secret_hash: \(ConfigFile.secretHash)
            """
        let clients = try file.parse().clients
        #expect(clients[0].grantTypes.isEmpty)
        #expect(clients[1].grantTypes.isEmpty)
        #expect(clients[2].grantTypes == ["urn:ietf:params:oauth:grant-type:jwt-bearer"])
        #expect(clients[3].grantTypes == ["urn:ietf:params:oauth:grant-type:jwt-bearer"])
    }

    @Test("a client's servers: [\"*\"] is every catalog server but the management API, which is reached only by name")
    func clientAllServers() throws {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: all
                secret_hash: \(ConfigFile.secretHash)
                servers: ["*"]
              - id: all-and-admin
                secret_hash: \(ConfigFile.secretHash)
                servers: ["*", bridgekeeper, github]
              - id: none
                secret_hash: \(ConfigFile.secretHash)
            """
        let c = try file.parse()
        #expect(c.clients[0].servers == ["github", "notion"])
        #expect(c.clients[1].servers == ["github", "notion", "bridgekeeper"])
        #expect(c.clients[2].servers == nil)
    }

    @Test("a client id used twice is refused")
    func duplicateClient() {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
            """
        expectRefused(file, path: "clients[1].id", because: "used twice")
    }

    @Test("a keys client reads its JWKS and defaults to asymmetric algorithms")
    func keysClient() throws {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: jwt-client
                jwks_uri: https://client.example.com/jwks
            """
        guard case .keys(.remote(let url), let algorithms) = try file.parse().clients[0].credential else {
            Issue.record("expected a keys client")
            return
        }
        #expect(url == "https://client.example.com/jwks")
        #expect(!algorithms.isEmpty)
        #expect(algorithms.allSatisfy { !$0.isSymmetric })
        file.clients += "\n    algorithms: [HS256]"
        expectRefused(file, path: "clients[0].algorithms[0]", because: "never allowed")
    }

    // MARK: Servers

    @Test("a tool category outside read, write, destructive, admin is refused")
    func toolCategory() {
        var file = ConfigFile()
        file.servers = """
            servers:
              - name: github
                resource: https://mcp.example.com/github
                tools:
                  - { name: search_code, category: read }
                  - { name: create_issue, category: write }
                  - { name: delete_repository, category: delete }
            """
        expectRefused(file, path: "servers[0].tools[2].category", because: "read, write, destructive or admin")
    }

    @Test("a tool listed twice on one server is refused")
    func duplicateTool() {
        var file = ConfigFile()
        file.servers = """
            servers:
              - name: github
                resource: https://mcp.example.com/github
                tools:
                  - { name: search_code, category: read }
                  - { name: create_issue, category: write }
                  - { name: search_code, category: admin }
            """
        expectRefused(file, path: "servers[0].tools[2]", because: "appears twice")
    }

    @Test("a server resource that is not an RFC 8707 resource indicator is refused", arguments: [
        "https://mcp.example.com/github#tools", "https://mcp.example.com/github?x=1", "mcp.example.com/github", "ftp://mcp.example.com",
    ])
    func serverResource(_ resource: String) {
        var file = ConfigFile()
        file.servers = """
            servers:
              - name: github
                resource: "\(resource)"
            """
        file.policy = ""
        expectRefused(file, path: "servers[0].resource", because: "RFC 8707")
    }

    @Test("two servers with the same name, or the same canonical resource, are refused")
    func duplicateServer() {
        var file = ConfigFile()
        file.servers = """
            servers:
              - { name: github, resource: https://mcp.example.com/github }
              - { name: github, resource: https://mcp.example.com/github2 }
            """
        file.policy = ""
        expectRefused(file, path: "servers[1]", because: "unique")
        file.servers = """
            servers:
              - { name: github, resource: https://mcp.example.com/github }
              - { name: github2, resource: "HTTPS://MCP.example.com:443/github" }
            """
        expectRefused(file, path: "servers[1]", because: "unique")
    }

    // MARK: Policy

    @Test("a rule naming both everyone and groups, or neither, is refused")
    func ruleSubjects() {
        var file = ConfigFile()
        file.policy = """
            policy:
              - id: confused
                effect: allow
                everyone: true
                groups: [engineering]
                servers: [github]
                categories: [read]
            """
        expectRefused(file, path: "policy[0]", because: "not both")
        file.policy = """
            policy:
              - id: nobody
                effect: allow
                servers: [github]
                categories: [read]
            """
        expectRefused(file, path: "policy[0]", because: "needs groups and/or roles")
        file.policy = """
            policy:
              - id: nobody
                effect: allow
                everyone: false
                servers: [github]
                categories: [read]
            """
        expectRefused(file, path: "policy[0]", because: "needs groups and/or roles")
    }

    /// Two IdPs, one of them trusting two tenants (issue 18: groups belong to an IdP and tenant).
    static let twoIdPs = """
        idps:
          - name: corp
            issuer: https://idp.example.com
            jwks_uri: https://idp.example.com/oauth2/v1/keys
          - name: partners
            issuer: https://partners.example.com
            jwks_uri: https://partners.example.com/keys
            tenant: { claim: tid, allowed: [t1, t2] }
        """

    static func groupRule(_ extra: String) -> String {
        """
        policy:
          - id: eng
            effect: allow
            groups: [engineering]
        \(extra)
            servers: [github]
            categories: [read]
        """
    }

    @Test("a group or role rule must say which IdP (and, for a multi-tenant one, which tenants) its names belong to", arguments: [
        ("", "policy[0]", "not the IdP they belong to"),
        ("    idp: partners", "policy[0]", "trusts 2 tenants"),
        ("    idp: nowhere", "policy[0].idp", "no IdP named nowhere"),
        ("    idp: partners\n    tenants: [t3]", "policy[0].tenants[0]", "does not trust tenant t3"),
        ("    tenants: [t1]", "policy[0].tenants", "needs idp"),
        ("    idp: corp\n    tenants: [\"*\"]", "policy[0].tenants", "has no tenants"),
        ("    idp: []", "policy[0].idp", "must name an IdP"),
    ])
    func ambiguousRule(_ extra: String, _ path: String, _ why: String) {
        var file = ConfigFile()
        file.idps = Self.twoIdPs
        file.policy = Self.groupRule(extra)
        expectRefused(file, path: path, because: why)
    }

    @Test("a rule's idp and tenants resolve to the IdP's exact issuers and the named tenants; one IdP of one tenant may leave them out")
    func ruleSource() throws {
        var file = ConfigFile()
        file.idps = Self.twoIdPs
        file.policy = Self.groupRule("    idp: [corp, partners]\n    tenants: [t2]")
        let both = try #require(try file.parse().policy.rules.first?.source)
        #expect(both.issuers == ["https://idp.example.com", "https://partners.example.com"] && both.tenants == ["t2"])
        file.policy = Self.groupRule("    idp: partners\n    tenants: [\"*\"]")
        let all = try #require(try file.parse().policy.rules.first?.source)
        #expect(all.issuers == ["https://partners.example.com"] && all.tenants == nil)
        file.policy = Self.groupRule("    idp: corp")
        #expect(try file.parse().policy.rules.first?.source?.issuers == ["https://idp.example.com"])
        // An everyone rule may leave them out: it then matches people of every trusted IdP.
        file.policy = "policy:\n  - { id: all, effect: allow, everyone: true, servers: [github], categories: [read] }"
        #expect(try file.parse().policy.rules.first?.source == nil)
        // With the single default IdP, a group rule defaults to it.
        var single = ConfigFile()
        single.policy = Self.groupRule("")
        #expect(try single.parse().policy.rules.first?.source == AttributeSource(idp: "corp", issuers: ["https://idp.example.com"]))
    }

    @Test("an allow rule that names neither categories nor tools is refused")
    func allowWithoutGrant() {
        var file = ConfigFile()
        file.policy = """
            policy:
              - id: readers
                effect: allow
                everyone: true
                servers: [github]
              - id: empty
                effect: allow
                groups: [engineering]
                servers: [github]
            """
        expectRefused(file, path: "policy[0]", because: "must name categories or tools")
    }

    @Test("a rule naming a server not in the catalog is refused; [\"*\"] means every server")
    func ruleServers() throws {
        var file = ConfigFile()
        file.policy = """
            policy:
              - id: readers
                effect: allow
                roles: [reader]
                servers: [jira, github]
                categories: [read]
            """
        expectRefused(file, path: "policy[0].servers[0]", because: "no server named jira")
        file.policy = file.policy.replacingOccurrences(of: "[jira, github]", with: "[\"*\"]")
        let rule = try #require(try file.parse().policy.rules.first)
        #expect(rule.servers == .all)
        #expect(rule.subjects == .anyOf(groups: [], roles: ["reader"]))
        #expect(rule.categories == [.read])
        file.policy = file.policy.replacingOccurrences(of: "    servers: [\"*\"]\n", with: "")
        expectRefused(file, path: "policy[0].servers", because: "required")
    }

    @Test("a rule's effect must be allow or deny")
    func ruleEffect() {
        var file = ConfigFile()
        file.policy = """
            policy:
              - { id: r, effect: permit, everyone: true, servers: [github], categories: [read] }
            """
        expectRefused(file, path: "policy[0].effect", because: "allow or deny")
    }

    @Test("a policy category outside the four is refused")
    func ruleCategory() {
        var file = ConfigFile()
        file.policy = """
            policy:
              - { id: r, effect: allow, everyone: true, servers: [github], categories: [read, execute] }
            """
        expectRefused(file, path: "policy[0].categories[1]", because: "read, write, destructive or admin")
    }
}

@Suite("Configuration: the identity bridge (ID-token exchange)")
struct ConfigurationBridgeTests {
    @Test("idp_client_ids enables token exchange by default; ID-token settings on an IdP are read with their defaults and bounds")
    func bridgeSettings() throws {
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_uri: https://idp.example.com/oauth2/v1/keys
              - name: entra
                issuer: https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0
                jwks_uri: https://login.microsoftonline.com/common/discovery/v2.0/keys
                claims: { subject: oid }
                max_id_token_lifetime: 7200
                max_id_token_age: 3600
            """
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
                idp_client_ids: { corp: 0oa-corp-app, entra: 9a1b-entra-app }
              - id: plain
                secret_hash: \(ConfigFile.secretHash)
            """
        let configuration = try file.parse()
        #expect(configuration.idps[0].subjectClaim == "sub" && configuration.idps[0].maxIDTokenLifetime == 86_400)
        #expect(configuration.idps[0].maxIDTokenAge == nil)
        #expect(configuration.idps[1].subjectClaim == "oid" && configuration.idps[1].maxIDTokenLifetime == 7200)
        #expect(configuration.idps[1].maxIDTokenAge == 3600)
        #expect(configuration.clients[0].idpClientIDs == ["corp": "0oa-corp-app", "entra": "9a1b-entra-app"])
        #expect(configuration.clients[0].grantTypes == ["urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:token-exchange"])
        #expect(configuration.clients[1].grantTypes == ["urn:ietf:params:oauth:grant-type:jwt-bearer"])
    }

    @Test("idp_client_ids naming an IdP that is not configured is refused with its path")
    func unknownIdP() {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
                idp_client_ids: { okta: 0oa-app }
            """
        expectRefused(file, path: "clients[0].idp_client_ids.okta", because: "unknown key (allowed here: corp)")
    }

    @Test("token exchange without idp_client_ids is refused: no ID token could be accepted")
    func exchangeWithoutUpstreamIDs() {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
                grant_types: [urn:ietf:params:oauth:grant-type:token-exchange]
            """
        expectRefused(file, path: "clients[0].grant_types", because: "token exchange needs idp_client_ids")
    }

    @Test("max_id_token_age and max_id_token_lifetime outside their bounds are refused", arguments: [
        ("max_id_token_age: 10", "idps[0].max_id_token_age"), ("max_id_token_lifetime: 100000", "idps[0].max_id_token_lifetime"),
    ])
    func bounds(_ setting: String, _ path: String) {
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_uri: https://idp.example.com/oauth2/v1/keys
                \(setting)
            """
        expectRefused(file, path: path, because: "must be")
    }
}

@Suite("Configuration: third-party authorization servers (the bridge issuer's ID-JAGs)")
struct ConfigurationAuthorizationServerTests {
    /// A file with one third-party authorization server, a catalog server behind it and a client mapping.
    func bridgeFile(authorizationServers: String? = nil, idps: String? = nil) -> ConfigFile {
        var file = ConfigFile()
        if let idps { file.idps = idps }
        file.extra = authorizationServers ?? """
            authorization_servers:
              - name: partner
                issuer: https://as.partner.example
                id_jag_lifetime: 120
            """
        file.servers += """

              - name: crm
                resource: https://mcp.partner.example/crm
                authorization_server: partner
                tools:
                  - { name: read_accounts, category: read }
            """
        file.clients = """
            clients:
              - id: mcp-client
                secret_hash: \(ConfigFile.secretHash)
                idp_client_ids: { corp: 0oa-app }
                authorization_server_client_ids: { partner: partner-7 }
            """
        return file
    }

    @Test("an authorization server, the catalog server behind it and the client's id there are read; the bridge issuer is {issuer}/bridge")
    func reads() throws {
        let configuration = try bridgeFile().parse()
        let server = try #require(configuration.authorizationServers.first)
        #expect(server.name == "partner" && server.issuer == "https://as.partner.example" && server.idp == "corp" && server.idJAGLifetime == 120)
        #expect(configuration.catalog.server(named: "crm")?.authorizationServer == AuthorizationServerReference(name: "partner", issuer: "https://as.partner.example"))
        #expect(configuration.catalog.server(named: "github")?.authorizationServer == nil)
        #expect(configuration.clients[0].authorizationServerClientIDs == ["partner": "partner-7"])
        #expect(configuration.bridgeIssuer == "https://auth.example.com/bridge")
        #expect(configuration.longestTokenLifetime == 300)
    }

    @Test("refused: Bridgekeeper itself as the authorization server, http, a lifetime over 300 s, an unknown IdP, a duplicate", arguments: [
        ("issuer: https://auth.example.com", "authorization_servers[0].issuer", "is Bridgekeeper itself"),
        ("issuer: https://auth.example.com/bridge", "authorization_servers[0].issuer", "is Bridgekeeper itself"),
        ("issuer: http://as.partner.example", "authorization_servers[0].issuer", "must use https"),
        ("issuer: https://as.partner.example\n    id_jag_lifetime: 301", "authorization_servers[0].id_jag_lifetime", "must be"),
        ("issuer: https://as.partner.example\n    idp: okta", "authorization_servers[0].idp", "no IdP named okta"),
    ])
    func refused(_ entry: String, _ path: String, _ why: String) {
        let file = bridgeFile(authorizationServers: """
            authorization_servers:
              - name: partner
                \(entry)
            """)
        expectRefused(file, path: path, because: why)
    }

    @Test("with several IdPs the authorization server must name the one whose people it knows (sub is unique per IdP)")
    func idpRequiredWithSeveral() {
        let file = bridgeFile(idps: """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_uri: https://idp.example.com/oauth2/v1/keys
              - name: other
                issuer: https://other.example.com
                jwks_uri: https://other.example.com/keys
            """)
        expectRefused(file, path: "authorization_servers[0].idp", because: "is required when several IdPs are configured")
    }

    @Test("an IdP whose issuer is Bridgekeeper's own or its bridge's is refused: it never redeems what it issued")
    func idpIsSelf() {
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://auth.example.com/bridge
                jwks_uri: https://auth.example.com/bridge/jwks.json
            """
        expectRefused(file, path: "idps[0].issuer", because: "never redeems what it issued itself")
    }

    @Test("a catalog server naming an unknown authorization server, and a client mapping to one, are refused with their paths")
    func unknownNames() {
        var file = bridgeFile()
        file.servers = file.servers.replacingOccurrences(of: "authorization_server: partner", with: "authorization_server: nobody")
        expectRefused(file, path: "servers[2].authorization_server", because: "no authorization server named nobody")
        var client = bridgeFile()
        client.clients = client.clients.replacingOccurrences(of: "{ partner: partner-7 }", with: "{ nobody: x }")
        expectRefused(client, path: "clients[0].authorization_server_client_ids.nobody", because: "unknown key")
    }
}

@Suite("Configuration: IdP profiles are defaults, not code paths")
struct ConfigurationProfileTests {
    func file(_ idp: String) -> ConfigFile {
        var file = ConfigFile()
        file.idps = "idps:\n" + idp
        return file
    }

    @Test("entra: the issuer template expands to one issuer and one per-tenant key set per allowed tenant; oid, tid, RS256")
    func entra() throws {
        let c = try file("""
              - name: entra
                profile: entra
                tenant:
                  allowed: [aaaa-1111, bbbb-2222]
            """).parse()
        let idp = try #require(c.idps.first)
        #expect(idp.issuer == "https://login.microsoftonline.com/{tenantid}/v2.0")
        #expect(idp.issuers.map(\.issuer) == ["https://login.microsoftonline.com/aaaa-1111/v2.0", "https://login.microsoftonline.com/bbbb-2222/v2.0"])
        #expect(idp.issuers.map(\.tenant) == ["aaaa-1111", "bbbb-2222"])
        let urls = idp.issuers.map { entry -> String in
            if case .remote(let url) = entry.keys { return url }
            return "not remote"
        }
        #expect(urls == ["https://login.microsoftonline.com/aaaa-1111/discovery/v2.0/keys",
                         "https://login.microsoftonline.com/bbbb-2222/discovery/v2.0/keys"])
        #expect(idp.subjectClaim == "oid" && idp.tenant?.claim == "tid" && idp.algorithms == [.rs256])
        #expect(idp.groupsClaim == "groups" && idp.rolesClaim == "roles" && idp.groupsOverage == .refuse)
    }

    @Test("entra with one explicit tenant issuer finds its keys by discovery (its issuer is no template)")
    func entraSingleTenant() throws {
        let c = try file("""
              - name: entra
                profile: entra
                issuer: https://login.microsoftonline.com/aaaa-1111/v2.0
            """).parse()
        guard case .discover(let issuer) = c.idps[0].keys else { Issue.record("keys: \(c.idps[0].keys)"); return }
        #expect(issuer == "https://login.microsoftonline.com/aaaa-1111/v2.0")
        #expect(c.idps[0].issuers.map(\.issuer) == ["https://login.microsoftonline.com/aaaa-1111/v2.0"] && c.idps[0].subjectClaim == "oid")
    }

    @Test("an explicit key beats the profile's default")
    func overrides() throws {
        let c = try file("""
              - name: entra
                profile: entra
                tenant: { allowed: [aaaa-1111] }
                algorithms: [RS256, PS256]
                claims: { subject: sub }
            """).parse()
        #expect(c.idps[0].algorithms == [.rs256, .ps256] && c.idps[0].subjectClaim == "sub")
    }

    @Test("keycloak reads realm roles from realm_access.roles and finds keys by discovery; okta is RS256 only")
    func keycloakAndOkta() throws {
        let c = try file("""
              - name: kc
                profile: keycloak
                issuer: https://sso.example.com/realms/acme
              - name: okta
                profile: okta
                issuer: https://example.okta.com/oauth2/default
            """).parse()
        #expect(c.idps[0].rolesClaim == "realm_access.roles" && c.idps[0].subjectClaim == "sub")
        guard case .discover(let issuer) = c.idps[0].keys else { Issue.record("keycloak keys: \(c.idps[0].keys)"); return }
        #expect(issuer == "https://sso.example.com/realms/acme")
        #expect(c.idps[1].algorithms == [.rs256])
    }

    @Test("refused: an unknown profile, a template without tenants, a template tenant with a slash, a tenant-templated jwks_uri for a plain issuer, another overage rule, discovery over http", arguments: [
        ("  - name: x\n    profile: auth0\n    issuer: https://x.example", "idps[0].profile", "must be one of oidc, okta, entra, keycloak"),
        ("  - name: x\n    profile: entra", "idps[0].tenant", "is required"),
        ("  - name: x\n    profile: entra\n    tenant: { allowed: [a/b] }", "idps[0].tenant.allowed[0]", "letters, digits"),
        ("  - name: x\n    issuer: https://x.example\n    jwks_uri: https://x.example/{tenantid}/keys", "idps[0].jwks_uri", "the issuer is not a template"),
        ("  - name: x\n    issuer: https://x.example\n    on_groups_overage: ignore", "idps[0].on_groups_overage", "must be refuse"),
        ("  - name: x\n    issuer: http://x.example", "idps[0].issuer", "must use https for OIDC discovery"),
    ])
    func refused(_ idp: String, _ path: String, _ why: String) {
        expectRefused(file(idp), path: path, because: why)
    }

    @Test("two IdPs may not share an issuer, even through a template's expansion")
    func uniqueExpandedIssuers() {
        expectRefused(file("""
              - name: entra
                profile: entra
                tenant: { allowed: [aaaa-1111] }
              - name: again
                issuer: https://login.microsoftonline.com/aaaa-1111/v2.0
                jwks_uri: https://login.microsoftonline.com/aaaa-1111/discovery/v2.0/keys
            """), path: "idps[1]", because: "unique among idps")
    }
}

@Suite("Configuration: agents")
struct ConfigurationAgentsTests {
    @Test("defaults: keys only, 120 s robot tokens, destructive and admin never delegated, no server shared")
    func defaults() throws {
        let c = try ConfigFile().parse()
        #expect(!c.agents.allowClientSecret && c.agents.tokenLifetime == 120)
        #expect(c.agents.delegation == .default)
        #expect(c.catalog.servers.allSatisfy { !$0.shared })
    }

    @Test("settings are read; a single tool can be made delegable; a server can be shared")
    func settings() throws {
        var file = ConfigFile()
        file.servers = file.servers.replacingOccurrences(of: "  - name: notion\n", with: "  - name: notion\n    shared: true\n")
        file.extra = """
            agents:
              allow_client_secret: true
              token_lifetime: 60
              non_delegable_categories: [write, destructive, admin]
              delegable_tools: ["github:delete_repository"]
            """
        let c = try file.parse()
        #expect(c.agents.allowClientSecret && c.agents.tokenLifetime == 60)
        #expect(c.agents.delegation.nonDelegableCategories == [.write, .destructive, .admin])
        #expect(c.agents.delegation.delegableTools == [.init(server: "github", tool: "delete_repository")])
        #expect(c.catalog.server(named: "notion")?.shared == true && c.catalog.server(named: "github")?.shared == false)
    }

    @Test("refused: a category list without destructive or admin, an unknown delegable tool, a lifetime out of bounds", arguments: [
        ("non_delegable_categories: [destructive]", "agents.non_delegable_categories", "must include destructive and admin"),
        ("delegable_tools: [\"github:fly\"]", "agents.delegable_tools[0]", "SERVER:TOOL"),
        ("token_lifetime: 3600", "agents.token_lifetime", "must be"),
        ("jwks_uri_allowed_internal_hosts: [\"*.corp.internal\"]", "agents.jwks_uri_allowed_internal_hosts[0]", "no scheme, port, path or wildcard"),
        ("jwks_uri_allowed_internal_hosts: [\"https://keys.corp.internal\"]", "agents.jwks_uri_allowed_internal_hosts[0]", "host name or an IP address"),
        ("jwks_uri_allowed_internal_hosts: [ok.example, \"10.0.0.5:8443\"]", "agents.jwks_uri_allowed_internal_hosts[1]", "host name or an IP address"),
        ("jwks_uri_allowed_internal_hosts: [\"\"]", "agents.jwks_uri_allowed_internal_hosts[0]", "must not be empty"),
        ("jwks_uri_allowed_internal_hosts: keys.corp.internal", "agents.jwks_uri_allowed_internal_hosts", "must be a list"),
    ])
    func refused(_ setting: String, _ path: String, _ why: String) {
        var file = ConfigFile()
        file.extra = "agents:\n  \(setting)"
        expectRefused(file, path: path, because: why)
    }

    @Test("jwks_uri_allowed_internal_hosts: empty by default; names and IP addresses (IPv6 with or without brackets), matched without regard to case")
    func allowedInternalHosts() throws {
        #expect(try ConfigFile().parse().agents.jwksURIAllowedInternalHosts.isEmpty)
        var file = ConfigFile()
        file.extra = "agents:\n  jwks_uri_allowed_internal_hosts: [Keys.Corp.Internal, 10.0.0.5, \"[fd00::1]\", \"::1\"]"
        let allowed = try file.parse().agents.jwksURIAllowedInternalHosts
        #expect(allowed.hosts == ["keys.corp.internal", "10.0.0.5", "fd00::1", "::1"])
        #expect(allowed.contains(host: "keys.corp.internal") && allowed.contains(host: "[::1]") && !allowed.contains(host: "10.0.0.6"))
    }
}

@Suite("Configuration: signal sources (issue 6)")
struct SignalSourceConfigurationTests {
    static let hash = SecretHash.make(secret: "s3cret-token-0123456789", iterations: 10_000)

    @Test("scim, ssf and okta_event_hooks are read with their defaults: subjects from externalId, groups by displayName, RS256, our issuer as audience, the Authorization header")
    func defaults() throws {
        var file = ConfigFile()
        file.extra = """
            signals:
              scim:
                - { name: okta, idp: corp, token_hash: "\(Self.hash)" }
              ssf:
                - { name: okta, idp: corp, issuer: "https://example.okta.com", jwks_file: /nonexistent/keys.json, push_authorization_hash: "\(Self.hash)" }
              okta_event_hooks:
                - { name: okta, idp: corp, secret_hash: "\(Self.hash)" }
            """
        expectRefused(file, path: "signals.ssf[0].jwks_file", because: "cannot read /nonexistent/keys.json")
        file.extra = file.extra.replacingOccurrences(of: "jwks_file: /nonexistent/keys.json", with: "jwks_uri: https://example.okta.com/oauth2/v1/keys")
        let c = try file.parse()
        let scim = try #require(c.signals.scim.first)
        #expect(scim.subjectAttribute == .externalId && scim.groupAttribute == .displayName)
        #expect(scim.issuer == c.idps[0].issuers[0].issuer)
        #expect(scim.tokenHash.matches("s3cret-token-0123456789"))
        let ssf = try #require(c.signals.ssf.first)
        #expect(ssf.algorithms == [.rs256] && ssf.audience == nil && ssf.issuer == "https://example.okta.com")
        #expect(c.signals.oktaEventHooks.first?.header == "authorization")
    }

    @Test("a source naming an unknown IdP, lacking its secret, or with a name that is no path segment is refused, naming where")
    func refusals() {
        var file = ConfigFile()
        file.extra = "signals:\n  scim:\n    - { name: x, idp: nobody, token_hash: \"\(Self.hash)\" }"
        expectRefused(file, path: "signals.scim[0].idp", because: "no IdP named nobody")
        file.extra = "signals:\n  scim:\n    - { name: x, idp: corp }"
        expectRefused(file, path: "signals.scim[0]", because: "token_hash is required")
        file.extra = "signals:\n  okta_event_hooks:\n    - { name: \"Bad/Name\", idp: corp, secret_hash: \"\(Self.hash)\" }"
        expectRefused(file, path: "signals.okta_event_hooks[0].name", because: "URL path segment")
        file.extra = "signals:\n  scim:\n    - { name: x, idp: corp, token_hash: \"\(Self.hash)\", subject_attribute: email }"
        expectRefused(file, path: "signals.scim[0].subject_attribute", because: "externalId or userName")
    }

    @Test("a polled stream (delivery: poll) takes its endpoint, token and pacing with defaults, and no push hash; each mistake is refused, naming where")
    func pollDelivery() throws {
        var file = ConfigFile()
        let stream = "{ name: tx, idp: corp, issuer: \"https://tx.example\", jwks_uri: \"https://tx.example/jwks\", delivery: poll"
        file.extra = "signals:\n  ssf:\n    - \(stream), poll: { endpoint: \"https://tx.example/poll/1\", token: env:TX_TOKEN } }"
        var environment = ConfigFile.environment
        environment["TX_TOKEN"] = "poll-token-0123"
        let c = try file.parse(environment: environment)
        let ssf = try #require(c.signals.ssf.first)
        #expect(ssf.pushAuthorization == nil)
        let poll = try #require(ssf.poll)
        #expect(poll.endpoint == "https://tx.example/poll/1" && poll.token == "poll-token-0123")
        #expect(poll.maxEvents == 100 && poll.wait == 30 && poll.interval == 10)

        file.extra = "signals:\n  ssf:\n    - \(stream), poll: { endpoint: \"https://tx.example/p\", token: t, max_events: 5, wait: 0, interval: 2 } }"
        let tuned = try #require(try file.parse().signals.ssf.first?.poll)
        #expect(tuned.maxEvents == 5 && tuned.wait == 0 && tuned.interval == 2)

        file.extra = "signals:\n  ssf:\n    - \(stream) }"
        expectRefused(file, path: "signals.ssf[0]", because: "poll is required")
        file.extra = "signals:\n  ssf:\n    - \(stream), poll: { endpoint: \"http://tx.example/p\", token: t } }"
        expectRefused(file, path: "signals.ssf[0].poll.endpoint", because: "https")
        file.extra = "signals:\n  ssf:\n    - \(stream), poll: { endpoint: \"https://tx.example/p\" } }"
        expectRefused(file, path: "signals.ssf[0].poll", because: "token is required")
        file.extra = "signals:\n  ssf:\n    - \(stream), push_authorization_hash: \"\(Self.hash)\", poll: { endpoint: \"https://tx.example/p\", token: t } }"
        expectRefused(file, path: "signals.ssf[0].push_authorization_hash", because: "takes no pushes")
        file.extra = "signals:\n  ssf:\n    - \(stream), poll: { endpoint: \"https://tx.example/p\", token: t, max_events: 0 } }"
        expectRefused(file, path: "signals.ssf[0].poll.max_events", because: "1 to 1000")
        file.extra = "signals:\n  ssf:\n    - { name: tx, idp: corp, issuer: \"https://tx.example\", jwks_uri: \"https://tx.example/jwks\", delivery: carrier-pigeon }"
        expectRefused(file, path: "signals.ssf[0].delivery", because: "push (RFC 8935) or poll (RFC 8936)")
        file.extra = "signals:\n  ssf:\n    - { name: tx, idp: corp, issuer: \"https://tx.example\", jwks_uri: \"https://tx.example/jwks\", push_authorization_hash: \"\(Self.hash)\", poll: { endpoint: \"https://tx.example/p\", token: t } }"
        expectRefused(file, path: "signals.ssf[0].poll", because: "only a stream with delivery: poll")
    }
}

@Suite("Configuration: an IdP's key cache (idps[].key_cache)")
struct ConfigurationKeyCacheTests {
    @Test("defaults: refetch on an unknown kid at most every 30 s, keys at most a day old, last good keys a day past freshness")
    func defaults() throws {
        let cache = try ConfigFile().parse().idps[0].keyCache
        #expect(cache.unknownKIDRefetchInterval == 30)
        #expect(cache.maxAge == 86_400)
        #expect(cache.maxStaleness == 86_400)
    }

    @Test("each bound can be set per IdP")
    func overrides() throws {
        var file = ConfigFile()
        file.idps += """

                key_cache: { unknown_kid_refetch_interval: 5, max_age: 600, max_staleness: 0 }
              - name: other
                issuer: https://other.example.com
                jwks_uri: https://other.example.com/keys
                key_cache: { unknown_kid_refetch_interval: 3600 }
            """
        let idps = try file.parse().idps
        #expect(idps[0].keyCache.unknownKIDRefetchInterval == 5)
        #expect(idps[0].keyCache.maxAge == 600)
        #expect(idps[0].keyCache.maxStaleness == 0)
        #expect(idps[1].keyCache.unknownKIDRefetchInterval == 3600)
        #expect(idps[1].keyCache.maxAge == 86_400)
    }

    @Test("out-of-bounds values, unknown keys and a key_cache beside jwks_file are refused, naming the key path", arguments: [
        ("key_cache: { unknown_kid_refetch_interval: 4 }", "idps[0].key_cache.unknown_kid_refetch_interval", "5 to 3600"),
        ("key_cache: { unknown_kid_refetch_interval: 3601 }", "idps[0].key_cache.unknown_kid_refetch_interval", "5 to 3600"),
        ("key_cache: { max_age: 59 }", "idps[0].key_cache.max_age", "60 to 604800"),
        ("key_cache: { max_staleness: -1 }", "idps[0].key_cache.max_staleness", "0 to 604800"),
        ("key_cache: { max_staleness: 604801 }", "idps[0].key_cache.max_staleness", "0 to 604800"),
        ("key_cache: { refetch_interval: 10 }", "idps[0].key_cache.refetch_interval", "unknown key"),
    ])
    func refused(_ line: String, _ path: String, _ why: String) {
        var file = ConfigFile()
        file.idps += "\n    " + line
        expectRefused(file, path: path, because: why)
    }

    @Test("a key_cache on an IdP whose keys are a file is refused: nothing is fetched")
    func notWithFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let key = try SigningKey.generate(.rs256, keyID: "k")
        _ = try folder.write("jwks.json", JSONValue.object(JSONObject(["keys": .array([.object(try key.publicJWK())])])).serialized())
        var file = ConfigFile()
        file.idps = """
            idps:
              - name: corp
                issuer: https://idp.example.com
                jwks_file: jwks.json
                key_cache: { max_age: 600 }
            """
        expectRefused(file, path: "idps[0].key_cache", because: "jwks_uri", baseDirectory: folder.path)
    }
}

@Suite("Configuration: the revocation feed's clients and resource")
struct ConfigurationFeedTests {
    @Test("a feed client may authenticate with keys or client_secret_post: it gets feed tokens by client_credentials")
    func feedClientsAnyAuthentication() throws {
        var file = ConfigFile()
        file.clients = """
            clients:
              - id: keys-gateway
                jwks_uri: https://gateway.example.com/jwks
                revocation_feed: true
              - id: post-gateway
                secret_hash: \(ConfigFile.secretHash)
                auth_methods: [client_secret_post]
                revocation_feed: true
            """
        let clients = try file.parse().clients
        #expect(clients.map(\.revocationFeed) == [true, true])
        #expect(clients.allSatisfy { $0.grantTypes.isEmpty })
    }

    @Test("a server whose resource is the feed's ({issuer}/ssf) is refused: feed tokens must reach no server")
    func feedResourceReserved() {
        var file = ConfigFile()
        file.servers = """
            servers:
              - name: sneaky
                resource: https://auth.example.com/ssf
            """
        expectRefused(file, path: "servers[0].resource", because: "revocation feed")
    }
}
