import ArgumentParser
import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperFetch
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperRevocation
import Foundation
import BridgekeeperKeys
import BridgekeeperSignalSettings
import BridgekeeperClientAuth

/// `bridgekeeper ssf stream …`: registers and manages the Shared Signals stream an IdP's
/// transmitter sends us (SSF 1.0 §8.1), from its `/.well-known/ssf-configuration`.
struct SSFCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssf",
        abstract: "Shared Signals: register the stream an IdP sends revocation events on.",
        subcommands: [Stream.self]
    )

    struct Stream: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create, verify, inspect and delete a stream at a transmitter.",
            subcommands: [Create.self, Verify.self, Status.self, Delete.self]
        )
    }

    /// Where the transmitter is and how we authenticate to its stream management API.
    struct Transmitter: ParsableArguments {
        @Option(help: "The transmitter's issuer; its /.well-known/ssf-configuration is read.")
        var transmitter: String

        @Option(help: "The environment variable holding the bearer token for the transmitter's stream management API.")
        var tokenEnv: String = "SSF_TRANSMITTER_TOKEN"

        @Flag(help: "Allow http:// to a loopback transmitter (local testing only).")
        var allowLoopbackHTTP = false

        var token: String {
            get throws {
                guard let token = ProcessInfo.processInfo.environment[tokenEnv], !token.isEmpty else {
                    throw CLIFailure("no_token", "set \(tokenEnv) to the bearer token for the transmitter's stream management API")
                }
                return token
            }
        }

        func connect() async throws -> (SSFStreamClient, SSFTransmitterMetadata) {
            var settings = CurlFetcher.Settings()
            settings.allowLoopbackHTTP = allowLoopbackHTTP
            settings.totalTimeout = 15
            let client = SSFStreamClient(fetcher: CurlFetcher(settings: settings), token: try token)
            do { return (client, try await client.discover(issuer: transmitter)) } catch {
                throw CLIFailure("discovery_failed", "\(error)")
            }
        }
    }

    static func call<T>(_ body: () async throws(FetchError) -> T) async throws -> T {
        do { return try await body() } catch { throw CLIFailure("transmitter_refused", "\(error)") }
    }

    static func requestVerification(_ client: SSFStreamClient, _ metadata: SSFTransmitterMetadata, streamID: String) async throws {
        let state = SecureRandom.identifier(bytes: 16)
        try await call { () throws(FetchError) in try await client.verify(at: metadata, streamID: streamID, state: state) }
        printError("verification requested (state \(state)): the broker records it as ssf_verification in `bridgekeeper audit tail` when it arrives")
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a stream at the transmitter and print its signals.ssf entry.",
            discussion: """
                Reads the transmitter's SSF configuration, creates a stream delivering every CAEP and RISC event the broker
                acts on, and asks for a verification event. For push (RFC 8935) the stream's endpoint is
                <issuer>/signals/ssf/<name> with a fresh authorization header, of which only the hash is printed. For poll
                (RFC 8936) the entry's token is read from the same environment variable as --token-env names.
                Prints the entry for signals.ssf on standard output; add it to the configuration and restart.
                """
        )

        @OptionGroup var location: Location
        @OptionGroup var source: Transmitter

        @Option(help: "The broker's issuer (instead of reading it from the configuration).")
        var issuer: String?

        @Option(help: "The stream's name here: a path segment of lower-case letters, digits, '-' or '_'.")
        var name: String

        @Option(help: "The IdP (its name in idps) whose people the stream speaks about.")
        var idp: String

        @Option(help: "Their tenant, for a multi-tenant IdP.")
        var tenant: String?

        @Option(help: "push (RFC 8935, the transmitter calls us) or poll (RFC 8936, we call it).")
        var delivery: String = "push"

        @Option(help: "The description the transmitter shows for the stream.")
        var description: String = "Bridgekeeper revocation signals"

        @Flag(help: "Do not ask for a verification event.")
        var noVerify = false

        func run() async throws {
            try await reportingFailures {
                guard Configuration.isSignalSourceName(name) else {
                    throw CLIFailure("usage", "--name must be lower-case letters, digits, '-' or '_'", exitCode: 2)
                }
                guard delivery == "push" || delivery == "poll" else { throw CLIFailure("usage", "--delivery must be push or poll", exitCode: 2) }
                let ourIssuer: String
                if let issuer { ourIssuer = issuer } else {
                    let c = try location.configuration()
                    guard c.idps.contains(where: { $0.name == idp }) else { throw CLIFailure("unknown_idp", "no IdP named \(idp) in idps") }
                    ourIssuer = c.issuer
                }
                let (client, metadata) = try await source.connect()
                let method = delivery == "push" ? SSFTransmitterMetadata.push : SSFTransmitterMetadata.poll
                if !metadata.deliveryMethods.isEmpty && !metadata.deliveryMethods.contains(method) {
                    throw CLIFailure("unsupported_delivery", "the transmitter offers \(metadata.deliveryMethods.joined(separator: ", ")), not \(method)")
                }
                var deliveryObject = JSONObject(["method": .string(method)])
                var pushHash: String? = nil
                if delivery == "push" {
                    var base = ourIssuer
                    while base.hasSuffix("/") { base.removeLast() }
                    let header = "Bearer " + SecureRandom.identifier(bytes: 32)
                    deliveryObject["endpoint_url"] = .string("\(base)/signals/ssf/\(name)")
                    deliveryObject["authorization_header"] = .string(header)
                    // Generated, 256 bits: its SHA-256 suffices (`SecretHash`), and a flood of wrong
                    // pushes then costs the broker a hash each rather than a PBKDF2.
                    pushHash = try SecretHash.makeFast(secret: header)
                }
                let stream = try await SSFCommand.call { () throws(FetchError) in
                    try await client.create(at: metadata, delivery: deliveryObject, events: SSFEvents.handled, description: description)
                }
                let streamID = stream["stream_id"]?.stringValue ?? ""
                var audience: String? = nil
                switch stream["aud"] {
                case .string(let value)?: audience = value
                case .array(let values)?: audience = values.first?.stringValue
                default: break
                }
                let delivered: [String]
                if case .array(let values)? = stream["events_delivered"] { delivered = values.compactMap(\.stringValue) } else { delivered = [] }
                var lines = ["- name: \(name)", "  idp: \(idp)"]
                if let tenant { lines.append("  tenant: \(yamlString(tenant))") }
                lines.append("  issuer: \(yamlString(stream["iss"]?.stringValue ?? metadata.issuer))")
                if let audience, audience != ourIssuer { lines.append("  audience: \(yamlString(audience))") }
                if let jwks = metadata.jwksURI { lines.append("  jwks_uri: \(yamlString(jwks))") }
                lines.append("  algorithms: [RS256]")
                lines.append("  # stream_id: \(streamID)")
                if let pushHash {
                    lines += ["  delivery: push", "  push_authorization_hash: \(yamlString(pushHash))"]
                } else {
                    guard case .object(let answered)? = stream["delivery"], let endpoint = answered["endpoint_url"]?.stringValue else {
                        throw CLIFailure("transmitter_refused", "the transmitter created stream \(streamID) but gave no poll endpoint_url")
                    }
                    lines += ["  delivery: poll", "  poll:", "    endpoint: \(yamlString(endpoint))", "    token: env:\(source.tokenEnv)"]
                }
                print(lines.joined(separator: "\n"))
                var summary = "created stream \(streamID) at \(metadata.issuer): \(delivered.count) events delivered"
                let missing = SSFEvents.handled.filter { !delivered.contains($0) }.map { $0.split(separator: "/").last.map(String.init) ?? $0 }
                if !delivered.isEmpty && !missing.isEmpty { summary += "; not delivered: " + missing.joined(separator: ", ") }
                printError(summary)
                if !noVerify { try await SSFCommand.requestVerification(client, metadata, streamID: streamID) }
            }
        }

        func yamlString(_ value: String) -> String { JSONValue.string(value).serialized() }
    }

    /// A stream at a transmitter: where, how we authenticate, and its id.
    struct StreamReference: ParsableArguments {
        @OptionGroup var source: Transmitter
        @Option(help: "The stream's id at the transmitter.") var streamID: String
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask the transmitter for a verification event on a stream.")

        @OptionGroup var stream: StreamReference

        func run() async throws {
            try await reportingFailures {
                let (client, metadata) = try await stream.source.connect()
                try await SSFCommand.requestVerification(client, metadata, streamID: stream.streamID)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a stream's status at the transmitter (enabled, paused or disabled).")

        @OptionGroup var stream: StreamReference

        func run() async throws {
            try await reportingFailures {
                let (client, metadata) = try await stream.source.connect()
                let status = try await SSFCommand.call { () throws(FetchError) in try await client.status(at: metadata, streamID: stream.streamID) }
                print(JSONValue.object(status).serialized(pretty: true))
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a stream at the transmitter.")

        @OptionGroup var stream: StreamReference

        func run() async throws {
            try await reportingFailures {
                let (client, metadata) = try await stream.source.connect()
                try await SSFCommand.call { () throws(FetchError) in try await client.delete(at: metadata, streamID: stream.streamID) }
                printError("deleted stream \(stream.streamID) at \(metadata.issuer)")
            }
        }
    }
}
