import Foundation
import Testing
import BridgekeeperJOSE
import BridgekeeperGrants
import BridgekeeperKeys
import BridgekeeperClientAuth

/// The `bridgekeeper` binary as an operator types it: real process, real files, real exit codes.
enum CLI {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("idp-fixtures/demo-idp")

    /// The built binary: $BRIDGEKEEPER_BIN, else beside the test bundle, else .build/debug.
    static let binary: URL = {
        if let path = ProcessInfo.processInfo.environment["BRIDGEKEEPER_BIN"] { return URL(fileURLWithPath: path) }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("bridgekeeper")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("bridgekeeper")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/bridgekeeper")
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ executable: URL, _ arguments: [String], stdin: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func bridgekeeper(_ arguments: String..., stdin: String? = nil) throws -> Result {
        try run(binary, arguments, stdin: stdin)
    }

    static func fixture(_ name: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bk-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

@Suite("bridgekeeper jwt verify / decode")
struct JWTCommandTests {
    let jwks = CLI.fixtures.appendingPathComponent("jwks.json").path
    /// One minute after the demo tokens were issued.
    let at = "1795262460"

    @Test("verifies the demo ID-JAG and prints the verified header and claims as JSON")
    func verifiesIDJAG() throws {
        let result = try CLI.bridgekeeper("jwt", "verify", "--jwks", jwks, "--typ", "id-jag", "--iss", "https://idp.demo.bridgekeeper.test",
                                          "--aud", "https://broker.demo.bridgekeeper.test", "--at", at, try CLI.fixture("id-jag.jwt"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let output = try #require(try JSONValue.parse(result.stdout).objectValue)
        #expect(output["kind"] == "ID-JAG")
        #expect(output["header"]?.objectValue?["typ"] == "oauth-id-jag+jwt")
        #expect(output["header"]?.objectValue?["kid"] == "demo-es256")
        let claims = try #require(output["claims"]?.objectValue)
        #expect(claims["sub"] == "00u-alice")
        #expect(claims["client_id"] == "mcp-client-demo")
        #expect(claims["iat"]?.numberValue?.exactInteger == 1_795_262_400)
    }

    @Test("reads the token from stdin with '-'")
    func stdin() throws {
        let result = try CLI.bridgekeeper("jwt", "verify", "--jwks", jwks, "--typ", "id_token", "--at", at, "-", stdin: try CLI.fixture("id-token.jwt") + "\n")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try JSONValue.parse(result.stdout).objectValue?["header"]?.objectValue?["alg"] == "RS256")
    }

    @Test("each failure is one line 'error: <code>: <reason>' on stderr with exit 1", arguments: [
        (["--typ", "id_token"], "id-jag.jwt", "wrong_typ"),
        (["--typ", "access_token"], "id-token.jwt", "wrong_typ"),
        (["--typ", "id-jag", "--aud", "https://broker.demo.bridgekeeper.test/"], "id-jag.jwt", "wrong_audience"),
        (["--typ", "id-jag", "--iss", "https://evil.example"], "id-jag.jwt", "wrong_issuer"),
        (["--typ", "id-jag", "--alg", "RS256"], "id-jag.jwt", "alg_not_allowed"),
        (["--typ", "id-jag", "--max-lifetime", "60"], "id-jag.jwt", "lifetime_too_long"),
    ])
    func failures(_ options: [String], _ token: String, _ code: String) throws {
        let arguments = ["jwt", "verify", "--jwks", jwks, "--at", at] + options + [try CLI.fixture(token)]
        let result = try CLI.run(CLI.binary, arguments)
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("error: \(code): ") == true, "\(result.stderr)")
    }

    @Test("an ID-JAG with an empty or non-string sub, or a kid that is not a string, is refused (issue 18)", arguments: [
        (JSONValue.string("demo-es256"), JSONValue.string(""), "invalid_claim"),
        (JSONValue.string("demo-es256"), JSONValue.number(JSONNumber(42)), "invalid_claim"),
        (JSONValue.object(JSONObject(["kid": "demo-es256"])), JSONValue.string("00u-alice"), "invalid_header"),
        (JSONValue.number(JSONNumber(7)), JSONValue.string("00u-alice"), "invalid_header"),
    ])
    func malformedSubjectAndKid(_ kid: JSONValue, _ sub: JSONValue, _ code: String) throws {
        // Signed with the demo IdP's own key, so only sub or kid is wrong.
        let key = try SigningKey(pem: try String(contentsOf: CLI.fixtures.appendingPathComponent("signing-es256.pem"), encoding: .utf8),
                                 algorithm: .es256, keyID: "demo-es256")
        var claims = try UnverifiedJWS(compact: try CLI.fixture("id-jag.jwt")).unverifiedClaims()
        claims["sub"] = sub
        let token = try key.sign(payload: Array(JSONValue.object(claims).serialized().utf8),
                                 header: JSONObject(["typ": "oauth-id-jag+jwt", "kid": kid]))
        let control = try CLI.run(CLI.binary, ["jwt", "verify", "--jwks", jwks, "--typ", "id-jag", "--at", at, try CLI.fixture("id-jag.jwt")])
        #expect(control.status == 0, "\(control.stderr)")
        let result = try CLI.run(CLI.binary, ["jwt", "verify", "--jwks", jwks, "--typ", "id-jag", "--at", at, token])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stderr.hasPrefix("error: \(code): "), "\(result.stderr)")
    }

    @Test("an expired token is refused at the real current time")
    func expiredNow() throws {
        let result = try CLI.bridgekeeper("jwt", "verify", "--jwks", jwks, try CLI.fixture("id-token.jwt"))
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("error: expired: "))
    }

    @Test("a forged or malformed token is refused with the named error")
    func forged() throws {
        let token = try CLI.fixture("id-jag.jwt")
        let parts = token.split(separator: ".").map(String.init)
        let cases: [(String, String)] = [
            (parts[0] + "." + parts[1] + "." + Base64URL.encode([UInt8](repeating: 0, count: 64)), "bad_signature"),
            ("eyJhbGciOiJub25lIn0." + parts[1] + ".", "alg_none"),
            (token + "==", "bad_base64url"),
            ("a.b.c.d.e", "jwe_not_supported"),
            ("not-a-token", "malformed"),
        ]
        for (input, code) in cases {
            let result = try CLI.bridgekeeper("jwt", "verify", "--jwks", jwks, "--at", at, input)
            #expect(result.status == 1)
            #expect(result.stderr.hasPrefix("error: \(code): "), "\(code): \(result.stderr)")
        }
    }

    @Test("a bad JWKS file or option is reported, not crashed on")
    func badInputs() throws {
        let token = try CLI.fixture("id-jag.jwt")
        let missing = try CLI.bridgekeeper("jwt", "verify", "--jwks", "/nonexistent/jwks.json", token)
        #expect(missing.status == 1)
        #expect(missing.stderr.hasPrefix("error: unreadable_file: "))
        let directory = try CLI.temporaryDirectory()
        let bad = directory.appendingPathComponent("bad.json")
        try #"{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"}]}"#.write(to: bad, atomically: true, encoding: .utf8)
        let secret = try CLI.bridgekeeper("jwt", "verify", "--jwks", bad.path, token)
        #expect(secret.status == 1)
        #expect(secret.stderr.hasPrefix("error: invalid_jwks: "))
        let typ = try CLI.bridgekeeper("jwt", "verify", "--jwks", jwks, "--typ", "bogus", token)
        #expect(typ.status == 2)
        #expect(typ.stderr.hasPrefix("error: usage: "))
        let hmac = try CLI.bridgekeeper("jwt", "verify", "--jwks", jwks, "--alg", "HS256", token)
        #expect(hmac.status == 2)
    }

    @Test("decode prints header and claims marked unverified, and still refuses malformed input")
    func decode() throws {
        let result = try CLI.bridgekeeper("jwt", "decode", try CLI.fixture("access-token.jwt"))
        #expect(result.status == 0)
        #expect(result.stderr.contains("UNVERIFIED"))
        let output = try #require(try JSONValue.parse(result.stdout).objectValue)
        #expect(output["verified"] == .bool(false))
        #expect(output["claims"]?.objectValue?["aud"] == "https://mcp.demo.bridgekeeper.test/github")
        let malformed = try CLI.bridgekeeper("jwt", "decode", "eyJhbGciOiJFUzI1NiIsImFsZyI6Im5vbmUifQ.e30.AA")
        #expect(malformed.status == 1)
        #expect(malformed.stderr.hasPrefix("error: duplicate_member: "))
    }
}

@Suite("bridgekeeper keys generate")
struct KeysCommandTests {
    @Test("prints a PKCS#8 PEM and a public JWK whose kid is its RFC 7638 thumbprint", arguments: ["ES256", "ES384", "EdDSA", "RS256", "PS256"])
    func generate(_ alg: String) throws {
        let result = try CLI.bridgekeeper("keys", "generate", "--alg", alg)
        #expect(result.status == 0, "\(result.stderr)")
        let marker = "-----END PRIVATE KEY-----\n"
        let end = try #require(result.stdout.range(of: marker))
        let pem = String(result.stdout[..<end.upperBound])
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let jwkLine = try #require(result.stdout.split(separator: "\n").last)
        let jwk = try JWK(json: String(jwkLine))
        #expect(jwk.keyID == (try jwk.thumbprint()))
        #expect(jwk.algorithm?.rawValue == alg)
        #expect(jwk.use == "sig")
        #expect(!jwkLine.contains("\"d\""))
        // The PEM signs tokens the JWK verifies.
        let key = try SigningKey(pem: pem, algorithm: try #require(JWSAlgorithm(rawValue: alg)))
        let token = try key.signJWT(type: "JWT", claims: JSONObject(["sub": "x"]))
        #expect(throws: Never.self) { try JWSVerifier(keys: JWKSet(keys: [jwk])).verify(UnverifiedJWS(compact: token)) }
    }

    @Test("writes the private key 0600 and a JWKS, and never overwrites")
    func files() throws {
        let directory = try CLI.temporaryDirectory()
        let pem = directory.appendingPathComponent("key.pem").path
        let jwks = directory.appendingPathComponent("jwks.json").path
        let result = try CLI.bridgekeeper("keys", "generate", "--alg", "ES256", "--kid", "k1", "--private-out", pem, "--public-out", jwks)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("PRIVATE KEY"))
        let attributes = try FileManager.default.attributesOfItem(atPath: pem)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let set = try JWKSet(json: try String(contentsOfFile: jwks, encoding: .utf8))
        #expect(set.keys.map(\.keyID) == ["k1"])
        let again = try CLI.bridgekeeper("keys", "generate", "--alg", "ES256", "--private-out", pem)
        #expect(again.status == 1)
        #expect(again.stderr.hasPrefix("error: unwritable_file: "))
    }

    @Test("refuses symmetric, none and unknown algorithms, and weak RSA sizes")
    func refusals() throws {
        for alg in ["HS256", "none", "ES999"] {
            let result = try CLI.bridgekeeper("keys", "generate", "--alg", alg)
            #expect(result.status == 2, "\(alg)")
            #expect(result.stderr.hasPrefix("error: usage: "))
        }
        let weak = try CLI.bridgekeeper("keys", "generate", "--alg", "RS256", "--rsa-bits", "1024")
        #expect(weak.status == 1)
        #expect(weak.stderr.hasPrefix("error: invalid_key: "))
    }
}

/// Interoperability with JOSE libraries we did not write: joserfc and PyJWT verify what we mint,
/// and we verify what joserfc mints. Needs python3 with joserfc and PyJWT (scripts/install-deps).
@Suite("Interop with joserfc and PyJWT")
struct InteropTests {
    static let python = URL(fileURLWithPath: "/usr/bin/env")
    static let scripts = CLI.root.appendingPathComponent("Tests/interop")

    @Test("joserfc and PyJWT verify ES256, ES384, EdDSA, RS256 and PS256 tokens we sign")
    func theyVerifyOurs() throws {
        let directory = try CLI.temporaryDirectory()
        var keys: [JSONValue] = []
        var lines: [String] = []
        for alg in [JWSAlgorithm.es256, .es384, .eddsa, .rs256, .ps256] {
            let key = try SigningKey.generate(alg)
            keys.append(.object(try key.publicJWK()))
            let claims = JSONObject(["iss": "https://broker.example", "sub": "interop-subject", "aud": "https://mcp.example/github",
                                     "iat": .number(JSONNumber(1_795_262_400)), "exp": .number(JSONNumber(1_795_262_700))])
            lines.append("\(alg.rawValue) \(try key.signJWT(type: "at+jwt", claims: claims))")
        }
        let jwks = directory.appendingPathComponent("jwks.json")
        let tokens = directory.appendingPathComponent("tokens.txt")
        try JSONObject(["keys": .array(keys)]).serialized().write(to: jwks, atomically: true, encoding: .utf8)
        try lines.joined(separator: "\n").write(to: tokens, atomically: true, encoding: .utf8)
        let result = try CLI.run(Self.python, ["python3", "-W", "ignore", Self.scripts.appendingPathComponent("verify_tokens.py").path, jwks.path, tokens.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("10 passed, 0 failed"), "\(result.stdout)\(result.stderr)")
    }

    @Test("bridgekeeper jwt verify accepts joserfc's ES256, ES384, EdDSA, RS256 and PS256 access tokens")
    func weVerifyTheirs() throws {
        let directory = try CLI.temporaryDirectory()
        let mint = try CLI.run(Self.python, ["python3", "-W", "ignore", Self.scripts.appendingPathComponent("mint_tokens.py").path, directory.path])
        #expect(mint.status == 0, "\(mint.stderr)")
        let lines = try String(contentsOf: directory.appendingPathComponent("tokens.txt"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5)
        for line in lines {
            let parts = line.split(separator: " ").map(String.init)
            let result = try CLI.bridgekeeper("jwt", "verify", "--jwks", directory.appendingPathComponent("jwks.json").path, "--typ", "access_token",
                                              "--alg", parts[0], "--at", "1795262460", parts[1])
            #expect(result.status == 0, "\(parts[0]): \(result.stderr)")
        }
    }
}

@Suite("bridgekeeper clients hash-secret")
struct HashSecretCommandTests {
    static func value(_ name: String, in output: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix("\(name): ") }.map { String($0.dropFirst(name.count + 2)) }
    }

    @Test("without --secret: a generated 256-bit secret and its sha256$ hash, which verifies it")
    func generates() throws {
        let result = try CLI.bridgekeeper("clients", "hash-secret")
        #expect(result.status == 0, "\(result.stderr)")
        let secret = try #require(Self.value("secret", in: result.stdout))
        let encoded = try #require(Self.value("secret_hash", in: result.stdout))
        #expect(secret.utf8.count == 43)
        #expect(encoded.hasPrefix("sha256$"))
        let hash = try SecretHash(encoded: encoded)
        #expect(hash.matches(secret) && !hash.matches(secret + "x"))
    }

    @Test("a given secret (one a person may have chosen) gets PBKDF2; --fast is refused for it")
    func givenSecret() throws {
        let chosen = "correct-horse-battery-staple"
        let result = try CLI.bridgekeeper("clients", "hash-secret", "--secret", "-", stdin: chosen + "\n")
        #expect(result.status == 0, "\(result.stderr)")
        let encoded = try #require(Self.value("secret_hash", in: result.stdout))
        #expect(encoded.hasPrefix("pbkdf2-sha256$100000$"))
        #expect(try SecretHash(encoded: encoded).matches(chosen))
        #expect(!result.stdout.contains(chosen))
        let fast = try CLI.bridgekeeper("clients", "hash-secret", "--fast", "--secret", "-", stdin: chosen + "\n")
        #expect(fast.status == 1)
        #expect(fast.stdout.isEmpty)
        #expect(fast.stderr.hasPrefix("error: weak_secret: "), "\(fast.stderr)")
    }

    @Test("--fast hashes a given generated secret with one SHA-256")
    func fastGiven() throws {
        let secret = SecureRandom.identifier(bytes: 32)
        let result = try CLI.bridgekeeper("clients", "hash-secret", "--fast", "--secret", "-", stdin: secret + "\n")
        #expect(result.status == 0, "\(result.stderr)")
        let encoded = try #require(Self.value("secret_hash", in: result.stdout))
        #expect(encoded.hasPrefix("sha256$"))
        #expect(try SecretHash(encoded: encoded).matches(secret))
    }
}
