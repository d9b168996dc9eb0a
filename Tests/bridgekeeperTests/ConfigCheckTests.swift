import Foundation
import Testing
import BridgekeeperJOSE

@Suite("bridgekeeper config check")
struct ConfigCheckTests {
    static let kek = Base64URL.encode([UInt8](repeating: 7, count: 32))

    /// A configuration file in its own folder, the key-encryption key inline.
    static func write(_ yaml: String) throws -> (folder: URL, file: String) {
        let folder = try CLI.temporaryDirectory()
        let file = folder.appendingPathComponent("bridgekeeper.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return (folder, file.path)
    }

    static let good = """
        issuer: https://auth.example.com
        keys:
          encryption_key: \(kek)
        idps:
          - name: corp
            issuer: https://idp.example.com
            jwks_uri: https://idp.example.com/keys
        servers:
          - name: github
            resource: https://mcp.example.com/github
            tools:
              - { name: search_code, category: read }
              - { name: delete_repository, category: delete }
        policy:
          - { id: readers, effect: allow, everyone: true, servers: [github], categories: [read] }
        """

    @Test("a valid file prints ok with a summary and exits 0")
    func valid() throws {
        let (folder, file) = try Self.write(Self.good.replacingOccurrences(of: "category: delete", with: "category: destructive"))
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try CLI.bridgekeeper("config", "check", file)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "ok: issuer https://auth.example.com; 1 IdP(s), 0 client(s), 1 server(s), 1 policy rule(s)\n")
        #expect(result.stderr.isEmpty)
    }

    @Test("an invalid file prints error: invalid_configuration: <path>: <why> on stderr and exits 1")
    func invalid() throws {
        let (folder, file) = try Self.write(Self.good)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try CLI.bridgekeeper("config", "check", file)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "error: invalid_configuration: servers[0].tools[1].category: must be read, write, destructive or admin\n")
    }

    @Test("a typo is named by its key path")
    func typo() throws {
        let yaml = Self.good.replacingOccurrences(of: "category: delete", with: "category: destructive")
            .replacingOccurrences(of: "jwks_uri:", with: "jwks_url:")
        let (folder, file) = try Self.write(yaml)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try CLI.bridgekeeper("config", "check", file)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: invalid_configuration: idps[0].jwks_url: unknown key"), "\(result.stderr)")
    }

    @Test("a client without servers passes with a warning on stderr naming clients[N].servers: it reaches no server")
    func clientWithoutServersWarns() throws {
        let hash = "pbkdf2-sha256$10000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        let yaml = Self.good.replacingOccurrences(of: "category: delete", with: "category: destructive") + """

            clients:
              - { id: listed, secret_hash: "\(hash)", servers: [github] }
              - { id: unlisted, secret_hash: "\(hash)" }
              - { id: gateway, secret_hash: "\(hash)", introspection: true }
            """
        let (folder, file) = try Self.write(yaml)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try CLI.bridgekeeper("config", "check", file)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "ok: issuer https://auth.example.com; 1 IdP(s), 3 client(s), 1 server(s), 1 policy rule(s)\n")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(result.stderr)")
        #expect(lines.first?.hasPrefix("warning: clients[1].servers: not given, so this client gets tokens for no server") == true, "\(result.stderr)")
        #expect(lines.last?.hasPrefix("warning: clients[2].servers: not given, so every token introspects as inactive for this client") == true,
                "\(result.stderr)")
    }

    @Test("an issuer with a trailing slash passes with a warning naming its key path: tokens must carry exactly that string")
    func trailingSlashIssuerWarns() throws {
        let yaml = Self.good.replacingOccurrences(of: "category: delete", with: "category: destructive")
            .replacingOccurrences(of: "issuer: https://auth.example.com", with: "issuer: https://auth.example.com/")
            .replacingOccurrences(of: "issuer: https://idp.example.com", with: "issuer: https://idp.example.com/")
        let (folder, file) = try Self.write(yaml)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try CLI.bridgekeeper("config", "check", file)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("ok: issuer https://auth.example.com/;"), "\(result.stdout)")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(result.stderr)")
        #expect(lines.first?.hasPrefix("warning: issuer: ends with /") == true, "\(result.stderr)")
        #expect(lines.last?.hasPrefix("warning: idps[0].issuer: ends with /") == true, "\(result.stderr)")
        #expect(lines.allSatisfy { $0.contains("exactly") }, "\(result.stderr)")
    }

    /// Runs the binary with `environment` added to (or, for nil values, removed from) this process's.
    static func bridgekeeper(_ arguments: [String], environment changes: [String: String?]) throws -> CLI.Result {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for (name, value) in changes { environment[name] = value }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLI.Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                          stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test("the demo configuration checks with its key-encryption key from the environment, and names the variable without it")
    func demo() throws {
        let file = CLI.fixtures.appendingPathComponent("bridgekeeper-demo.yaml").path
        let ok = try Self.bridgekeeper(["config", "check", file], environment: ["BRIDGEKEEPER_DEMO_KEK": Self.kek])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout == "ok: issuer http://127.0.0.1:8080; 2 IdP(s), 3 client(s), 2 server(s), 6 policy rule(s)\n")
        let missing = try Self.bridgekeeper(["config", "check", file], environment: ["BRIDGEKEEPER_DEMO_KEK": nil])
        #expect(missing.status == 1)
        #expect(missing.stdout.isEmpty)
        #expect(missing.stderr == "error: invalid_configuration: keys.encryption_key: environment variable BRIDGEKEEPER_DEMO_KEK is not set\n")
    }

    @Test("a file that does not exist is an error, exit 1")
    func missingFile() throws {
        let result = try CLI.bridgekeeper("config", "check", "/nonexistent/bridgekeeper.yaml")
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: invalid_configuration: cannot read /nonexistent/bridgekeeper.yaml"), "\(result.stderr)")
    }
}
