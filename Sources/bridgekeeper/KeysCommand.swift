import ArgumentParser
import BridgekeeperConfig
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperStoreSQLite
import BridgekeeperStore
import BridgekeeperCore
import Foundation
import BridgekeeperKeys
import BridgekeeperClientAuth

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage signing keys.",
        subcommands: [Rotate.self, List.self, EncryptionKey.self, Generate.self]
    )

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a new signing key now; it signs after keys.propagation_delay.",
            discussion: """
                The new key appears in the JWKS at once (servers reload keys every keys.reload_interval) and starts
                signing after the propagation delay, so verifiers that cache the JWKS see it first. The key signing
                now stops then and stays published for the access-token lifetime plus 60 s, so every token it
                signed still verifies. --immediate skips the delay (a compromised key): verifiers holding a cached
                JWKS refuse new tokens until they refetch.
                """
        )

        @OptionGroup var location: Location

        @Flag(help: "Sign with the new key at once.")
        var immediate = false

        @Option(help: "Which keys: access (access tokens, /jwks.json) or bridge (ID-JAGs, /bridge/jwks.json).")
        var purpose: String = "access"

        func run() async throws {
            try await reportingFailures {
                guard let purpose = StoredSigningKey.Purpose(rawValue: purpose) else {
                    throw CLIFailure("usage", "--purpose must be access or bridge", exitCode: 2)
                }
                let c = try location.configuration()
                if purpose == .bridge, c.authorizationServers.isEmpty {
                    throw CLIFailure("usage", "no authorization_servers are configured: there is no bridge key to rotate", exitCode: 2)
                }
                let store = try await SQLiteStore.open(path: c.databasePath)
                let sealing = try KeySealing(keyEncryptionKey: c.keyEncryptionKey)
                let now = SystemClock().now()
                let rotated = try await KeyManagement.rotate(in: store, sealing: sealing, algorithm: c.signingAlgorithm, purpose: purpose, now: now,
                                                             propagation: immediate ? 0 : c.keyPropagationDelay,
                                                             retention: c.longestTokenRetention)
                await store.close()
                print("published \(purpose.rawValue) key \(rotated.keyID) (\(c.signingAlgorithm.rawValue)); signs from \(ISO8601DateFormatter().string(from: rotated.activatesAt))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List signing keys and their schedule.")

        @OptionGroup var location: Location

        func run() async throws {
            try await reportingFailures {
                let c = try location.configuration()
                let store = try await SQLiteStore.open(path: c.databasePath)
                let keys = try await store.signingKeys()
                await store.close()
                let now = SystemClock().now()
                let f = ISO8601DateFormatter()
                print(["KID", "PURPOSE", "ALG", "STATE", "ACTIVATES", "RETIRES", "UNPUBLISHED"].joined(separator: "\t"))
                for key in keys {
                    let state: String
                    if let unpublish = key.unpublishAt, unpublish <= now { state = "unpublished" }
                    else if let retires = key.retiresAt, retires <= now { state = "retired (published)" }
                    else if key.activatesAt > now { state = "next (published)" }
                    else { state = "signing" }
                    print([key.keyID, key.purpose.rawValue, key.algorithm, state, f.string(from: key.activatesAt), key.retiresAt.map(f.string) ?? "-",
                           key.unpublishAt.map(f.string) ?? "-"].joined(separator: "\t"))
                }
            }
        }
    }

    struct EncryptionKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "encryption-key",
            abstract: "Print a new random key-encryption key (32 bytes, base64url) for keys.encryption_key."
        )

        func run() {
            print(Base64URL.encode(SecureRandom.bytes(32)))
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a signing key: the private key as PKCS#8 PEM, the public key as a JWK.",
            discussion: """
                Without --private-out, prints the PEM and then the public JWK (one JSON line) on stdout. With
                --private-out, writes the PEM to that file (mode 0600, never overwriting) and prints only the JWK.
                With --public-out, also writes a JWK Set holding the public key. The kid defaults to the key's
                RFC 7638 thumbprint.
                """
        )

        @Option(help: "Algorithm: ES256, ES384, ES512, EdDSA, RS256, RS384, RS512, PS256, PS384 or PS512.")
        var alg: String

        @Option(help: "Key id; defaults to the RFC 7638 thumbprint.")
        var kid: String?

        @Option(help: "RSA modulus size in bits (2048 to 8192).")
        var rsaBits: Int = 2048

        @Option(help: "Write the private key PEM to this new file (mode 0600).")
        var privateOut: String?

        @Option(help: "Write a JWK Set with the public key to this new file.")
        var publicOut: String?

        func run() throws {
            try reportingFailures {
                guard let algorithm = JWSAlgorithm(exactName: alg), !algorithm.isSymmetric else {
                    throw CLIFailure("usage", "--alg \(alg) is not an asymmetric JWS algorithm", exitCode: 2)
                }
                do {
                    let key = try SigningKey.generate(algorithm, rsaBits: rsaBits, keyID: kid)
                    let pem = try key.privateKeyPEM()
                    let jwk = JSONValue.object(try key.publicJWK())
                    if let publicOut {
                        try InputFiles.create(publicOut, contents: JSONObject(["keys": .array([jwk])]).serialized(pretty: true) + "\n", mode: 0o644)
                    }
                    if let privateOut {
                        try InputFiles.create(privateOut, contents: pem, mode: 0o600)
                    } else {
                        print(pem, terminator: "")
                    }
                    print(jwk.serialized())
                } catch let error as JOSEError {
                    throw CLIFailure(error.code.rawValue, error.reason)
                }
            }
        }
    }
}
