import ArgumentParser
import BridgekeeperConfig
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperPolicy
import Foundation

struct ClientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clients",
        abstract: "Client credentials.",
        subcommands: [HashSecret.self]
    )

    struct HashSecret: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-secret",
            abstract: "Make a client secret and its salted hash for clients[].secret_hash.",
            discussion: """
                Without --secret, generates a 256-bit secret and prints it (give it to the client) and then its hash
                (put it in the configuration). With --secret -, reads the secret from standard input.
                """
        )

        @Option(help: "The secret to hash, or - for standard input.")
        var secret: String?

        func run() throws {
            try reportingFailures {
                var value = SecureRandom.identifier(bytes: 32)
                if let secret {
                    value = try InputFiles.token(secret)
                    guard value.utf8.count >= 16 else { throw CLIFailure("weak_secret", "a client secret needs at least 16 characters") }
                } else {
                    print("secret: \(value)")
                }
                print("secret_hash: \(SecretHash.make(secret: value))")
            }
        }
    }
}

struct PRMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prm",
        abstract: "Print the RFC 9728 protected resource metadata an MCP server should publish.",
        discussion: """
            The MCP server serves it at /.well-known/oauth-protected-resource (plus its path). Bridgekeeper also
            serves it at /servers/NAME/oauth-protected-resource.
            """
    )

    @Argument(help: "The catalog server's name.")
    var server: String

    @OptionGroup var location: Location

    func run() throws {
        try reportingFailures {
            let c = try location.configuration()
            guard let entry = c.catalog.server(named: server) else {
                throw CLIFailure("unknown_server", "no server \(server); known: \(c.catalog.servers.map(\.name).joined(separator: ", "))")
            }
            print(JSONValue.object(Metadata.protectedResource(entry, issuer: c.issuer)).serialized(pretty: true))
        }
    }
}
