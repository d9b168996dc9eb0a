import ArgumentParser
import BridgekeeperJOSE

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage signing keys.",
        subcommands: [Generate.self]
    )

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
