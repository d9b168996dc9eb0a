import ArgumentParser
import BridgekeeperCore
import BridgekeeperJOSE
import Foundation

struct JWTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jwt",
        abstract: "Verify or decode a JWT.",
        subcommands: [Verify.self, Decode.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a JWT's signature against a JWKS and check its claims.",
            discussion: """
                Prints {"header": ..., "claims": ...} as JSON and exits 0 when the token verifies; otherwise prints
                one line 'error: <code>: <reason>' on stderr and exits 1. Keys come only from --jwks, never from the
                token. With --typ the token must be of that kind: id_token (typ JWT or none), id-jag
                (oauth-id-jag+jwt), access_token (at+jwt), set (secevent+jwt), client_assertion
                (client-authentication+jwt); each kind refuses the others.
                """
        )

        @Option(help: "JWK Set file (JSON) holding the verification keys.")
        var jwks: String

        @Option(help: "Required token kind or typ (id_token, id-jag, access_token, set, client_assertion).")
        var typ: String?

        @Option(help: "Required issuer, compared exactly.")
        var iss: String?

        @Option(help: "Required audience, compared exactly (aud string, or array of exactly this one).")
        var aud: String?

        @Option(help: "Clock skew allowed on exp, nbf and iat, in seconds (0 to 300).")
        var leeway: Int = 60

        @Option(help: "Longest accepted exp - iat, in seconds.")
        var maxLifetime: Int?

        @Option(name: .customLong("alg"), help: "Allowed algorithm (repeatable). Default: every asymmetric JWS algorithm.")
        var algorithms: [String] = []

        @Option(help: "Check the claims as of this time (seconds since 1970) instead of now.")
        var at: Double?

        @Argument(help: "The compact JWT, or '-' to read it from standard input.")
        var token: String

        func validate() throws {
            guard (0...300).contains(leeway) else { throw ValidationError("--leeway must be between 0 and 300 seconds") }
        }

        func run() throws {
            try reportingFailures {
                let kind: TokenKind?
                if let typ {
                    guard let named = TokenKind.named(typ) else {
                        throw CLIFailure("usage", "unknown --typ \(typ); use id_token, id-jag, access_token, set or client_assertion", exitCode: 2)
                    }
                    kind = named
                } else {
                    kind = nil
                }
                var allowed = JWSAlgorithm.asymmetric
                if !algorithms.isEmpty {
                    allowed = []
                    for name in algorithms {
                        guard let algorithm = JWSAlgorithm(exactName: name), !algorithm.isSymmetric else {
                            throw CLIFailure("usage", "--alg \(name) is not an asymmetric JWS algorithm", exitCode: 2)
                        }
                        allowed.insert(algorithm)
                    }
                }
                let keys: JWKSet
                do {
                    keys = try JWKSet(bytes: try InputFiles.read(jwks, what: "JWKS"))
                } catch let error as JOSEError {
                    throw CLIFailure("invalid_jwks", error.reason)
                }
                let rules = ClaimRules(
                    issuer: iss, audience: aud, leeway: TimeInterval(leeway), maxLifetime: maxLifetime.map(TimeInterval.init))
                let clock: any WallClock = at.map { FixedClock(Date(timeIntervalSince1970: $0)) } ?? SystemClock()
                let signatures = JWSVerifier(keys: keys, algorithms: allowed)
                do {
                    let compact = try InputFiles.token(token)
                    let output: JSONObject
                    if let kind {
                        let verified = try JWTVerifier(kind: kind, signatures: signatures, rules: rules).verify(compact, now: clock.now())
                        output = JSONObject([
                            "kind": .string(kind.name), "header": .object(verified.header), "claims": .object(verified.claims.object),
                        ])
                    } else {
                        let jws = try UnverifiedJWS(compact: compact)
                        let verified = try signatures.verify(jws)
                        let claims = JWTClaims(try jws.unverifiedClaims())
                        try rules.check(claims, now: clock.now())
                        output = JSONObject(["header": .object(verified.header), "claims": .object(claims.object)])
                    }
                    print(output.serialized(pretty: true))
                } catch let error as JOSEError {
                    throw CLIFailure(error.code.rawValue, error.reason)
                }
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decode a JWT without verifying it (output is marked unverified).",
            discussion: "Checks shape only (strict base64url and JSON). Nothing it prints is trustworthy."
        )

        @Argument(help: "The compact JWT, or '-' to read it from standard input.")
        var token: String

        func run() throws {
            try reportingFailures {
                do {
                    let jws = try UnverifiedJWS(compact: try InputFiles.token(token))
                    var output = JSONObject(["verified": .bool(false), "header": .object(jws.header)])
                    if let claims = try? jws.unverifiedClaims() {
                        output["claims"] = .object(claims)
                    } else if let text = String(validating: jws.payload, as: UTF8.self) {
                        output["payload_text"] = .string(text)
                    } else {
                        output["payload_base64url"] = .string(Base64URL.encode(jws.payload))
                    }
                    printError("warning: UNVERIFIED: the signature was not checked")
                    print(output.serialized(pretty: true))
                } catch let error as JOSEError {
                    throw CLIFailure(error.code.rawValue, error.reason)
                }
            }
        }
    }
}
