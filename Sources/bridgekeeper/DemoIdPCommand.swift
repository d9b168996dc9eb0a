import ArgumentParser
import BridgekeeperDemoIdP
import Foundation
import Logging

/// `bridgekeeper demo idp`: the demo OpenID Connect provider, the sign-in page of `bridgekeeper login`.
struct DemoIdPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idp",
        abstract: "Run the demo OpenID Connect provider on 127.0.0.1 (demo only: no passwords, a public key).",
        discussion: """
            Users from users.json, ID tokens signed with signing-rs256.pem (kid demo-rs256, in jwks.json), one public
            client bridgekeeper-cli-native redirecting to http://127.0.0.1:<any port>/callback. `serve --demo` trusts it
            as demo-oidc at http://127.0.0.1:9400. Stops on SIGTERM or SIGINT.
            """
    )

    @Option(help: "Port on 127.0.0.1 (the demo configuration expects 9400).")
    var port: Int = 9400

    @Option(help: "The demo IdP fixtures folder.")
    var fixtures: String = "idp-fixtures/demo-idp"

    @Option(help: "ID-token lifetime in seconds (1 to 86400).")
    var idTokenLifetime: Int = 3600

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        guard (1...86_400).contains(idTokenLifetime) else { throw ValidationError("--id-token-lifetime must be 1 to 86400") }
    }

    func run() async throws {
        try await reportingFailures {
            var settings = try DemoOIDCProvider.Settings.demo(fixtures: fixtures)
            settings.idTokenLifetime = TimeInterval(idTokenLifetime)
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
                return handler
            }
            let users = settings.users.map(\.name).joined(separator: ", ")
            let provider = DemoOIDCProvider(settings: settings, logger: Logger(label: "demo-idp"))
            try await provider.run(port: port) { issuer in
                FileHandleWriter.write("demo idp: issuer \(issuer); users \(users); client \(DemoOIDCProvider.Settings.demoClientID) "
                                       + "(redirect http://127.0.0.1:<port>/callback)\n", to: 1)
            }
        }
    }
}
