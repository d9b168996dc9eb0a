import ArgumentParser
import BridgekeeperConfig
import BridgekeeperServer
import Foundation

/// Which deployment a command works on: a configuration file, or the demo's data folder.
struct Location: ParsableArguments {
    @Option(help: "The configuration file (YAML).")
    var config: String?

    @Option(help: "The demo's data folder (what `serve --demo` uses); default ./bridgekeeper-data.")
    var data: String?

    @Option(help: "The demo IdP fixtures folder.")
    var fixtures: String = "idp-fixtures/demo-idp"

    func configuration(demoPort: Int = 8080) throws -> Configuration {
        if let config {
            guard data == nil else { throw CLIFailure("usage", "give --config or --data, not both", exitCode: 2) }
            return try Configuration.load(file: config)
        }
        return try Demo.configuration(fixtures: fixtures, data: data ?? "bridgekeeper-data", port: demoPort)
    }
}
