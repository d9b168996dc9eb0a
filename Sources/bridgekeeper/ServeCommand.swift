import ArgumentParser
import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperServer
import BridgekeeperPolicy
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the authorization server.",
        discussion: """
            With --config, serves that configuration. With --demo, serves the embedded default: SQLite in --data
            (default ./bridgekeeper-data), the demo IdP from idp-fixtures/demo-idp, on 127.0.0.1:--port, and prints
            a walk-through. Stops gracefully on SIGTERM or SIGINT (in-flight requests finish, the store closes).
            """
    )

    @Option(help: "The configuration file (YAML).")
    var config: String?

    @Flag(help: "Serve the embedded demo.")
    var demo = false

    @Option(help: "Port (demo default 8080; overrides listen.port).")
    var port: Int?

    @Option(help: "Demo data folder.")
    var data: String = "bridgekeeper-data"

    @Option(help: "Demo IdP fixtures folder.")
    var fixtures: String = "idp-fixtures/demo-idp"

    func run() async throws {
        try await reportingFailures {
            var configuration: Configuration
            if demo {
                guard config == nil else { throw CLIFailure("usage", "give --config or --demo, not both", exitCode: 2) }
                configuration = try Demo.configuration(fixtures: fixtures, data: data, port: port ?? 8080)
            } else {
                guard let config else { throw CLIFailure("usage", "give --config FILE or --demo", exitCode: 2) }
                configuration = try Configuration.load(file: config)
                if let port { configuration.port = port }
            }
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
                return handler
            }
            let logger = Logger(label: "bridgekeeper")
            for warning in configuration.warnings {
                logger.warning("configuration warning", metadata: ["path": "\(warning.path)", "warning": "\(warning.message)"])
            }
            let server = try await BridgekeeperServer.prepare(configuration, logger: logger)
            let walkthrough = demo ? Self.walkthrough(configuration, data: data, fixtures: fixtures) : nil
            let (issuer, host) = (configuration.issuer, configuration.host)
            try await server.run { port in
                FileHandleWriter.write("bridgekeeper: issuer \(issuer), listening on \(host):\(port)\n" + (walkthrough.map { $0 + "\n" } ?? ""), to: 1)
            }
        }
    }

    static func walkthrough(_ c: Configuration, data: String, fixtures: String) -> String {
        let bin = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0]
            : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
        let issuer = c.issuer
        let github = c.catalog.server(named: "github")?.resource.canonical ?? ""
        return """

        Demo: SQLite and the key-encryption key in \(data)/, the demo IdP from \(fixtures)/.
        In another terminal, from this folder:

          BK=\(bin)
          # 1. A fresh ID-JAG (RS256, as Okta signs) for alice and the github server, from the demo IdP:
          ASSERTION=$($BK demo id-jag --user alice --server github --issuer \(issuer))
          # 2. Redeem it (RFC 7523 jwt-bearer grant, client_secret_basic):
          curl -s -u \(Demo.clientID):\(Demo.clientSecret) \\
            -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer -d "assertion=$ASSERTION" \\
            -d resource=\(github) \(issuer)/token | tee /tmp/bk-token.json
          TOKEN=$(sed -E 's/.*"access_token":"([^"]+)".*/\\1/' /tmp/bk-token.json)
          # 3. Introspect it as the gateway (RFC 7662):
          curl -s -u \(Demo.gatewayID):\(Demo.gatewaySecret) -d "token=$TOKEN" \(issuer)/introspect
          # 4. The same ID-JAG again is a replay: invalid_grant.
          curl -s -u \(Demo.clientID):\(Demo.clientSecret) \\
            -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer -d "assertion=$ASSERTION" \(issuer)/token
          # 5. Revoke the token (RFC 7009), then introspection says {"active":false}:
          curl -s -u \(Demo.clientID):\(Demo.clientSecret) -d "token=$TOKEN" \(issuer)/revoke
          curl -s -u \(Demo.gatewayID):\(Demo.gatewaySecret) -d "token=$TOKEN" \(issuer)/introspect
          # 6. Bob is in sales: policy gives him nothing on github (invalid_grant, no_matching_rule).
          # 7. The audit trail, and its hash chain checked:
          $BK audit tail --data \(data)
          $BK audit verify --data \(data)
          # 8. Sign in once from a terminal, then tokens for two servers (docs/login.md; the client
          #    configuration expects the broker on 127.0.0.1:8080):
          $BK demo idp --fixtures \(fixtures) &
          export BRIDGEKEEPER_CLIENT_CONFIG=\(fixtures)/client.yaml
          $BK login --no-browser          # open the printed URL, sign in as alice
          $BK token --server github
          $BK token --server notion --mcp-config
          # Discovery: \(issuer)/.well-known/oauth-authorization-server and \(issuer)/jwks.json
        """
    }
}

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Helpers for the embedded demo.",
        subcommands: [IDJAG.self, DemoIdPCommand.self]
    )

    struct IDJAG: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "id-jag",
            abstract: "Print a fresh ID-JAG from the demo IdP (RS256, 300 s, single use) for a demo user and server."
        )

        @Option(help: "Demo user (alice, bob, carol, dana).")
        var user: String

        @Option(help: "Catalog server name (github, notion).")
        var server: String

        @Option(help: "The broker's issuer (the ID-JAG's aud).")
        var issuer: String = "http://127.0.0.1:8080"

        @Option(help: "Scope to put in the ID-JAG (default: none, so policy decides).")
        var scope: String?

        @Option(help: "client_id to put in the ID-JAG.")
        var clientID: String = Demo.clientID

        @Option(help: "Demo IdP fixtures folder.")
        var fixtures: String = "idp-fixtures/demo-idp"

        @Option(help: "How many ID-JAGs to print, one per line (load tests).")
        var count: Int = 1

        @Option(help: "Lifetime in seconds (at most 300, the demo IdP's cap).")
        var lifetime: Int = 300

        func run() throws {
            try reportingFailures {
                guard count >= 1, (1...300).contains(lifetime) else { throw CLIFailure("usage", "--count ≥ 1 and --lifetime 1 to 300", exitCode: 2) }
                var out = ""
                let idp = try Demo.IdP(fixtures: fixtures)
                for _ in 0..<count {
                    out += try idp.idJAG(user: user, server: server, audience: issuer, scope: scope,
                                         clientID: clientID, lifetime: lifetime, now: SystemClock().now()) + "\n"
                    if out.utf8.count > 1 << 20 { FileHandleWriter.write(out, to: 1); out = "" }
                }
                FileHandleWriter.write(out, to: 1)
            }
        }
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with configuration files.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file; on error, print the bad key's path and exit 1."
        )

        @Argument(help: "The configuration file.")
        var file: String

        func run() throws {
            try reportingFailures {
                let c = try Configuration.load(file: file)
                for warning in c.warnings { FileHandleWriter.write("warning: \(warning)\n", to: 2) }
                print("ok: issuer \(c.issuer); \(c.idps.count) IdP(s), \(c.clients.count) client(s), \(c.catalog.servers.filter { !$0.builtIn }.count) server(s), \(c.policy.rules.count) policy rule(s)")
            }
        }
    }
}
