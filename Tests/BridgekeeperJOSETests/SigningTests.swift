import Foundation
import Testing
@testable import BridgekeeperJOSE

@Suite("Signing")
struct SigningTests {
    @Test("ES256, ES384, EdDSA, RS256 and PS256 sign tokens that verify", arguments: [JWSAlgorithm.es256, .es384, .eddsa, .rs256, .ps256])
    func signAndVerify(_ algorithm: JWSAlgorithm) throws {
        let key = switch algorithm {
        case .es256: Support.es256
        case .es384: Support.es384
        case .eddsa: Support.eddsa
        case .rs256: Support.rs256
        default: Support.ps256
        }
        let token = try key.signJWT(type: "at+jwt", claims: Support.claims(.accessToken))
        let jws = try UnverifiedJWS(compact: token)
        #expect(jws.header["alg"]?.stringValue == algorithm.rawValue)
        #expect(jws.header["typ"] == "at+jwt")
        #expect(jws.keyID == key.keyID)
        let verified = try JWTVerifier(kind: .accessToken, signatures: Support.verifier(key), rules: ClaimRules()).verify(jws, now: Support.now)
        #expect(verified.algorithm == algorithm)
        #expect(try verified.claims.subject() == "user-1")
    }

    @Test("other ECDSA sizes, RSA-PSS and RSA digests round-trip too")
    func otherAlgorithms() throws {
        for algorithm in [JWSAlgorithm.es512, .rs384, .rs512, .ps384, .ps512, .ed25519] {
            let key = try SigningKey.generate(algorithm)
            let token = try key.signJWT(type: "JWT", claims: JSONObject(["sub": "x"]))
            let verifier = JWSVerifier(keys: JWKSet(keys: [key.verificationKey()]))
            #expect(Support.error { _ = try verifier.verify(UnverifiedJWS(compact: token)) } == nil, "\(algorithm)")
        }
    }

    @Test("an RSA PKCS#1 v1.5 signature verifies only under the digest it was made with (our DigestInfo against OpenSSL's signing)")
    func rsaDigestInfoPerDigest() throws {
        let key = try EVPKey.generate(for: .rs256)
        let message = Array("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0".utf8)
        let algorithms: [JWSAlgorithm] = [.rs256, .rs384, .rs512, .ps256]
        for signer in algorithms {
            let signature = try message.withUnsafeBytes { try key.sign(signer, message: $0) }
            for verifier in algorithms {
                let error = Support.error {
                    try signature.withUnsafeBytes { sig in try message.withUnsafeBytes { try key.verify(verifier, signature: sig, message: $0) } }
                }
                #expect((error == nil) == (signer == verifier), "signed \(signer.rawValue), verified as \(verifier.rawValue)")
            }
            var flipped = signature
            flipped[flipped.count - 1] ^= 1
            #expect(Support.error { try flipped.withUnsafeBytes { sig in try message.withUnsafeBytes { try key.verify(signer, signature: sig, message: $0) } } }?.code == .badSignature)
        }
    }

    @Test("ECDSA signatures are exactly 2 x field size (leading zeros kept)")
    func ecdsaLength() throws {
        for _ in 0..<64 {
            let token = try Support.es256.sign(payload: [1, 2, 3])
            #expect(try Base64URL.decode(String(token.split(separator: ".")[2])).count == 64)
        }
        let p521 = try SigningKey.generate(.es512)
        #expect(try Base64URL.decode(String(try p521.sign(payload: [1]).split(separator: ".")[2])).count == 132)
    }

    @Test("contexts are reused across many concurrent signatures and verifications")
    func concurrency() async throws {
        let verifier = Support.verifier(Support.es256, Support.eddsa, Support.rs256)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let key = [Support.es256, Support.eddsa, Support.rs256][index % 3]
                    let token = try key.signJWT(type: "JWT", claims: JSONObject(["n": .number(JSONNumber(Int64(index)))]))
                    _ = try verifier.verify(UnverifiedJWS(compact: token))
                    // A failure returns nothing bad to the pool: the next verification still works.
                    let parts = token.split(separator: ".")
                    #expect(throws: JOSEError.self) { try verifier.verify(UnverifiedJWS(compact: "\(parts[0]).\(parts[1]).\(Base64URL.encode([UInt8](repeating: 9, count: key.algorithm == .rs256 ? 256 : 64)))")) }
                }
            }
            try await group.waitForAll()
        }
    }
}

@Suite("Digest")
struct DigestTests {
    @Test("SHA-256 and HMAC-SHA-256 match known values (FIPS 180-2 'abc'; Python's hmac)")
    func knownValues() {
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let mac = Digest.hmacSHA256(key: Array("key".utf8), message: Array("The quick brown fox jumps over the lazy dog".utf8))
        #expect(Digest.hex(mac) == "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
        #expect(Digest.hex([0x00, 0x0f, 0xf0, 0xff]) == "000ff0ff")
    }
}
