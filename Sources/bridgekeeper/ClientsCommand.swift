import ArgumentParser
import BridgekeeperConfig
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperPolicy
import Foundation
import BridgekeeperKeys
import BridgekeeperClientAuth

struct ClientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clients",
        abstract: "Client credentials.",
        subcommands: [HashSecret.self]
    )

    struct HashSecret: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-secret",
            abstract: "Make a secret and its hash for clients[].secret_hash, a SCIM token_hash, an SSF push or Okta hook hash.",
            discussion: """
                Without --secret, generates a 256-bit secret and prints it (give it to the client) and then its hash
                (put it in the configuration): sha256$…, one SHA-256, which is enough for a random 256-bit secret and
                makes a wrong secret cheap to refuse. With --secret (- reads standard input), the secret may be one a
                person chose, so it is hashed with PBKDF2 (pbkdf2-sha256$…); --fast asks for sha256$… instead and is
                refused unless the secret has the generated shape (43+ base64url characters).
                """
        )

        @Option(help: "The secret to hash, or - for standard input.")
        var secret: String?

        @Flag(help: "Hash a given generated secret (43+ base64url characters) with one SHA-256 instead of PBKDF2.")
        var fast = false

        func run() throws {
            try reportingFailures {
                guard let secret else {
                    let generated = SecretHash.generate()
                    print("secret: \(generated.secret)")
                    print("secret_hash: \(generated.encoded)")
                    return
                }
                let value = try InputFiles.token(secret)
                guard value.utf8.count >= 16 else { throw CLIFailure("weak_secret", "a client secret needs at least 16 characters") }
                if fast {
                    do throws(ConfigurationProblem) { print("secret_hash: \(try SecretHash.makeFast(secret: value))") } catch {
                        throw CLIFailure("weak_secret", error.message)
                    }
                } else {
                    print("secret_hash: \(SecretHash.make(secret: value))")
                }
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
