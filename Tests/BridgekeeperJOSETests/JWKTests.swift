import Foundation
import Testing
@testable import BridgekeeperJOSE

@Suite("JWK and JWKS")
struct JWKTests {
    static let p256X = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
    static let p256Y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"

    @Test("RSA keys under 2048 bits are refused")
    func weakRSA() {
        var modulus = [UInt8](repeating: 0xC5, count: 128)  // 1024 bits
        modulus[127] |= 1
        let jwk = #"{"kty":"RSA","n":"\#(Base64URL.encode(modulus))","e":"AQAB"}"#
        #expect(Support.error { _ = try JWK(json: jwk) }?.code == .invalidKey)
    }

    @Test("RSA moduli from 2048 to 8192 bits import and export; larger ones are refused (fuzzer finding)")
    func rsaSizeLimits() throws {
        func jwk(bytes: Int) -> String {
            var modulus = [UInt8](repeating: 0xC5, count: bytes)
            modulus[bytes - 1] |= 1
            return #"{"kty":"RSA","n":"\#(Base64URL.encode(modulus))","e":"AQAB"}"#
        }
        for bytes in [256, 512, 1024] {
            let key = try JWK(json: jwk(bytes: bytes))
            // Every accepted key has a thumbprint and a public export that parses back.
            let exported = try key.publicJWK()
            #expect(try JWK(object: exported).thumbprint() == key.thumbprint())
        }
        // 1101 bytes was accepted on import but could not be exported (Fuzz/findings/jwk-rsa-8808-...).
        for bytes in [1025, 1101, 2048] {
            #expect(Support.error { _ = try JWK(json: jwk(bytes: bytes)) }?.code == .invalidKey, "\(bytes * 8) bits")
        }
        #expect(Support.error { _ = try SigningKey.generate(.rs256, rsaBits: 8193) }?.code == .invalidKey)
    }

    @Test("RSA exponents that are even, 1 or oversized are refused")
    func badExponent() throws {
        let n = try #require(try Support.rs256.publicJWK()["n"]?.stringValue)
        for e in ["AQ", "AAE", "Ag", Base64URL.encode([UInt8](repeating: 1, count: 9))] {
            let text = #"{"kty":"RSA","n":"\#(n)","e":"\#(e)"}"#
            // "AQ" is 1, "AAE" is 1 with a leading zero, "Ag" is 2 (even), the last is 72 bits.
            #expect(Support.error { _ = try JWK(json: text) }?.code == .invalidKey, "e=\(e)")
        }
    }

    @Test("EC points must be on the curve, with coordinates of the exact size")
    func ecPointChecks() throws {
        #expect(Support.error { _ = try JWK(json: #"{"kty":"EC","crv":"P-256","x":"\#(Self.p256X)","y":"\#(Self.p256Y)"}"#) } == nil)
        var y = try Base64URL.decode(Self.p256Y)
        y[31] ^= 1
        let offCurve = #"{"kty":"EC","crv":"P-256","x":"\#(Self.p256X)","y":"\#(Base64URL.encode(y))"}"#
        #expect(Support.error { _ = try JWK(json: offCurve) }?.code == .invalidKey)
        let short = #"{"kty":"EC","crv":"P-256","x":"\#(Base64URL.encode(try Base64URL.decode(Self.p256X).dropFirst()))","y":"\#(Self.p256Y)"}"#
        #expect(Support.error { _ = try JWK(json: short) }?.code == .invalidKey)
        let wrongCurve = #"{"kty":"EC","crv":"P-384","x":"\#(Self.p256X)","y":"\#(Self.p256Y)"}"#
        #expect(Support.error { _ = try JWK(json: wrongCurve) }?.code == .invalidKey)
        let secp256k1 = #"{"kty":"EC","crv":"secp256k1","x":"\#(Self.p256X)","y":"\#(Self.p256Y)"}"#
        #expect(Support.error { _ = try JWK(json: secp256k1) }?.code == .invalidKey)
    }

    @Test("OKP keys: Ed25519 only, 32 bytes")
    func okp() {
        #expect(Support.error { _ = try JWK(json: #"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#) } == nil)
        // 31 bytes of x: refused as a key (the short encoding is also non-canonical base64url).
        #expect(Support.error { _ = try JWK(json: #"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR"}"#) }?.code == .invalidKey)
        #expect(Support.error { _ = try JWK(json: #"{"kty":"OKP","crv":"Ed25519","x":"\#(Base64URL.encode([UInt8](repeating: 7, count: 31)))"}"#) }?.code == .invalidKey)
        #expect(Support.error { _ = try JWK(json: #"{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#) }?.code == .invalidKey)
    }

    @Test("symmetric and private keys are refused where a public key is expected")
    func publicOnly() throws {
        let oct = #"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#
        #expect(Support.error { _ = try JWK(json: oct) }?.code == .invalidKey)
        #expect(Support.error { _ = try JWK(json: oct, options: JWK.ParseOptions(allowSymmetric: true)) } == nil)
        let short = #"{"kty":"oct","k":"c2hvcnQ"}"#
        #expect(Support.error { _ = try JWK(json: short, options: JWK.ParseOptions(allowSymmetric: true)) }?.code == .invalidKey)
        let privateKey = #"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
        #expect(Support.error { _ = try JWK(json: privateKey) }?.code == .invalidKey)
        #expect(Support.error { _ = try JWKSet(json: #"{"keys":[\#(privateKey)]}"#) }?.code == .invalidKey)
        #expect(Support.error { _ = try JWKSet(json: #"{"keys":[\#(oct)]}"#) }?.code == .invalidKey)
    }

    @Test("private JWKs must match their public part")
    func privateConsistency() {
        // RFC 8037 A.1's d with another key's x.
        let mismatched = #"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"}"#
        #expect(Support.error { _ = try JWK(json: mismatched, options: JWK.ParseOptions(allowPrivate: true)) }?.code == .invalidKey)
    }

    @Test("a JWKS keeps usable keys and lists what it skipped and why")
    func jwksSkips() throws {
        let es = try Support.es256.publicJWK().serialized()
        let ed = try Support.eddsa.publicJWK().serialized()
        let set = try JWKSet(json: """
            {"keys":[\(es),
              {"kty":"EC","crv":"P-256","x":"\(Self.p256X)","y":"\(Self.p256Y)","use":"enc","kid":"enc-key"},
              {"kty":"RSA","n":"AQAB","e":"AQAB","kid":"weak"},
              {"kty":"EC","crv":"P-256","x":"\(Self.p256X)","y":"\(Self.p256Y)","key_ops":["encrypt"],"kid":"ops"},
              {"kty":"foo","kid":"unknown"}, 7, \(ed)]}
            """)
        #expect(set.keys.compactMap(\.keyID) == ["es256-key", "ed-key"])
        #expect(set.skipped.map(\.keyID) == ["enc-key", "weak", "ops", "unknown", nil])
        #expect(Support.error { _ = try JWKSet(json: #"{"kys":[]}"#) }?.code == .invalidKey)
        #expect(Support.error { _ = try JWKSet(json: #"[]"#) }?.code == .invalidKey)
    }

    @Test("the key's alg member narrows its allow-list; a mismatched alg member is refused")
    func keyAlgorithm() throws {
        var jwk = try Support.rs256.publicJWK()
        #expect(try JWK(object: jwk).allowedAlgorithms == [.rs256])
        jwk["alg"] = nil
        #expect(try JWK(object: jwk).allowedAlgorithms == [.rs256, .rs384, .rs512, .ps256, .ps384, .ps512])
        jwk["alg"] = "ES256"
        #expect(Support.error { _ = try JWK(object: jwk) }?.code == .invalidKey)
        jwk["alg"] = "none"
        #expect(Support.error { _ = try JWK(object: jwk) }?.code == .algorithmNone)
        // Ed25519 keys accept both EdDSA and the RFC 9864 name.
        #expect(Support.eddsa.verificationKey().allowedAlgorithms == [.eddsa, .ed25519])
    }

    @Test("without a kid, one candidate key is used; several need a kid")
    func keySelection() throws {
        let one = JWSVerifier(keys: JWKSet(keys: [try JWK(object: { var j = try Support.es256.publicJWK(); j["kid"] = nil; return j }())]))
        let token = try Support.signRaw(Support.es256, header: #"{"alg":"ES256"}"#, payload: "{}")
        #expect(Support.error { _ = try one.verify(UnverifiedJWS(compact: token)) } == nil)
        let other = try SigningKey.generate(.es256, keyID: "second")
        let two = Support.verifier(Support.es256, other)
        #expect(Support.error { _ = try two.verify(UnverifiedJWS(compact: token)) }?.code == .keyIDRequired)
        let unknown = try Support.signRaw(Support.es256, header: #"{"alg":"ES256","kid":"nope"}"#, payload: "{}")
        #expect(Support.error { _ = try two.verify(UnverifiedJWS(compact: unknown)) }?.code == .unknownKey)
    }

    @Test("use and key_ops are honoured for signing keys")
    func signingUse() throws {
        var jwk = #"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo""#
        #expect(Support.error { _ = try SigningKey(jwk: jwk + #","use":"enc"}"#) }?.code == .invalidKey)
        #expect(Support.error { _ = try SigningKey(jwk: jwk + #","key_ops":["verify"]}"#) }?.code == .invalidKey)
        jwk += #","key_ops":["sign"]}"#
        let key = try SigningKey(jwk: jwk)
        #expect(key.algorithm == .eddsa)
        #expect(key.keyID == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
    }

    @Test("PKCS#8 PEM round trip for every signing algorithm keeps the key")
    func pemRoundTrip() throws {
        for key in [Support.es256, Support.es384, Support.eddsa, Support.rs256, Support.ps256] {
            let pem = try key.privateKeyPEM()
            #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))
            let again = try SigningKey(pem: pem, algorithm: key.algorithm)
            #expect(try again.verificationKey().thumbprint() == key.verificationKey().thumbprint())
            let token = try again.signJWT(type: "JWT", claims: JSONObject(["sub": "x"]))
            let verifier = JWSVerifier(keys: JWKSet(keys: [try JWK(object: { var j = try key.publicJWK(); j["kid"] = .string(again.keyID); return j }())]))
            #expect(Support.error { _ = try verifier.verify(UnverifiedJWS(compact: token)) } == nil)
        }
    }

    @Test("traditional, encrypted and garbage PEM are refused without prompting")
    func pemRefusals() {
        let traditional = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n"
        #expect(Support.error { _ = try SigningKey(pem: traditional, algorithm: .es256) }?.code == .invalidKey)
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----\n"
        #expect(Support.error { _ = try SigningKey(pem: encrypted, algorithm: .es256) }?.code == .invalidKey)
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        #expect(Support.error { _ = try SigningKey(pem: garbage, algorithm: .es256) }?.code == .invalidKey)
    }

    @Test("a key refuses algorithms that do not fit it")
    func signingAlgorithmFit() throws {
        let pem = try Support.es256.privateKeyPEM()
        #expect(Support.error { _ = try SigningKey(pem: pem, algorithm: .es384) }?.code == .algorithmNotAllowed)
        #expect(Support.error { _ = try SigningKey(pem: pem, algorithm: .rs256) }?.code == .algorithmNotAllowed)
        #expect(Support.error { _ = try SigningKey(pem: pem, algorithm: .hs256) }?.code == .symmetricAlgorithm)
    }

    @Test("public export holds no private members and round-trips through the parser")
    func publicExport() throws {
        for key in [Support.es256, Support.es384, Support.eddsa, Support.rs256] {
            let jwk = try key.publicJWK()
            for member in ["d", "p", "q", "dp", "dq", "qi", "k"] { #expect(jwk[member] == nil) }
            #expect(jwk["use"] == "sig")
            #expect(jwk["alg"]?.stringValue == key.algorithm.rawValue)
            let parsed = try JWK(object: jwk)
            #expect(try parsed.thumbprint() == key.verificationKey().thumbprint())
            #expect(parsed.keyID == key.keyID)
        }
    }
}
