import Foundation
import Testing
@testable import BridgekeeperJOSE

/// The classic JWT attacks (RFC 8725 §2), each refused with its own named error.
@Suite("JWT attacks")
struct AttackTests {
    let verifier = Support.verifier(Support.es256, Support.rs256, Support.eddsa)
    let claims = Support.claims(.idJAG).serialized()

    func refusal(_ compact: String, kind: TokenKind = .idJAG) -> JOSEError? {
        let jwt = JWTVerifier(kind: kind, signatures: verifier, rules: ClaimRules(issuer: "https://idp.example.com", audience: "https://broker.example.com"))
        return Support.error { _ = try jwt.verify(compact, now: Support.now) }
    }

    @Test("control: a well-formed ID-JAG verifies")
    func control() throws {
        let token = try Support.es256.signJWT(type: "oauth-id-jag+jwt", claims: Support.claims(.idJAG))
        #expect(refusal(token) == nil)
    }

    @Test("alg none is refused, whatever its case, with or without a signature")
    func algNone() {
        for alg in ["none", "None", "NONE"] {
            let header = #"{"alg":"\#(alg)","typ":"oauth-id-jag+jwt"}"#
            #expect(refusal(Support.assemble(header: header, payload: claims, signature: []))?.code == .algorithmNone)
            #expect(refusal(Support.assemble(header: header, payload: claims, signature: [1, 2, 3]))?.code == .algorithmNone)
        }
    }

    @Test("HS256 keyed with the RSA public key (PEM and DER) is refused as a symmetric algorithm")
    func hmacKeyConfusion() throws {
        let header = #"{"alg":"HS256","typ":"oauth-id-jag+jwt","kid":"rsa-key"}"#
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        let publicJWK = try Support.rs256.publicJWK().serialized()
        for secret in [Array(publicJWK.utf8), Array((try Support.rs256.privateKeyPEM()).utf8)] {
            let mac = try Array(input.utf8).withUnsafeBytes { try HMACSignature.compute(.hs256, key: secret, message: $0) }
            let error = refusal(input + "." + Base64URL.encode(mac))
            #expect(error?.code == .symmetricAlgorithm, "\(String(describing: error))")
        }
        // Even a verifier configured to allow HS256 refuses it: it holds no symmetric key.
        let lax = JWSVerifier(keys: JWKSet(keys: [Support.rs256.verificationKey()]), algorithms: [.hs256, .rs256])
        let mac = try Array(input.utf8).withUnsafeBytes { try HMACSignature.compute(.hs256, key: Array(publicJWK.utf8), message: $0) }
        #expect(Support.error { _ = try lax.verify(UnverifiedJWS(compact: input + "." + Base64URL.encode(mac))) }?.code == .symmetricAlgorithm)
    }

    @Test("ECDSA r = s = 0 (CVE-2022-21449) is refused")
    func psychicSignature() {
        let header = #"{"alg":"ES256","typ":"oauth-id-jag+jwt","kid":"es256-key"}"#
        #expect(refusal(Support.assemble(header: header, payload: claims, signature: [UInt8](repeating: 0, count: 64)))?.code == .badSignature)
        // r = 0 with s valid-looking, and s = 0 alone.
        #expect(refusal(Support.assemble(header: header, payload: claims, signature: [UInt8](repeating: 0, count: 32) + [UInt8](repeating: 7, count: 32)))?.code == .badSignature)
        #expect(refusal(Support.assemble(header: header, payload: claims, signature: [UInt8](repeating: 7, count: 32) + [UInt8](repeating: 0, count: 32)))?.code == .badSignature)
    }

    @Test("a DER-encoded ECDSA signature where r||s is expected is refused")
    func derSignature() throws {
        let token = try Support.es256.signJWT(type: "oauth-id-jag+jwt", claims: Support.claims(.idJAG))
        let parts = token.split(separator: ".").map(String.init)
        let raw = try Base64URL.decode(parts[2])
        let der = raw.withUnsafeBytes { ECDSASignatureDER.encode(r: UnsafeRawBufferPointer(rebasing: $0[0..<32]), s: UnsafeRawBufferPointer(rebasing: $0[32..<64])) }
        #expect(refusal(parts[0] + "." + parts[1] + "." + Base64URL.encode(der))?.code == .badSignatureEncoding)
        // A 64-byte r||s with one byte trimmed, or padded, is refused the same way.
        #expect(refusal(parts[0] + "." + parts[1] + "." + Base64URL.encode(raw.dropLast()))?.code == .badSignatureEncoding)
        #expect(refusal(parts[0] + "." + parts[1] + "." + Base64URL.encode([0] + raw))?.code == .badSignatureEncoding)
    }

    @Test("a key in the header (jwk, jku, x5u, x5c) is refused, even when the token is signed by that key")
    func embeddedKey() throws {
        let attackerJWK = try Support.attacker.publicJWK()
        let headers = [
            JSONObject(["typ": "oauth-id-jag+jwt", "jwk": .object(attackerJWK)]),
            JSONObject(["typ": "oauth-id-jag+jwt", "jku": "https://evil.example/jwks.json"]),
            JSONObject(["typ": "oauth-id-jag+jwt", "x5u": "https://evil.example/cert.pem"]),
            JSONObject(["typ": "oauth-id-jag+jwt", "x5c": .array(["MIIB"])]),
        ]
        for header in headers {
            let token = try Support.attacker.sign(payload: Array(claims.utf8), header: header)
            #expect(refusal(token)?.code == .embeddedKey, "\(header.names)")
        }
        // Without the header the attacker's key (same kid as ours) simply fails the signature.
        let plain = try Support.attacker.signJWT(type: "oauth-id-jag+jwt", claims: Support.claims(.idJAG))
        #expect(refusal(plain)?.code == .badSignature)
    }

    @Test("an unknown crit extension is refused, and b64:false too")
    func unknownCrit() throws {
        let crit = try Support.signRaw(Support.es256, header: #"{"alg":"ES256","kid":"es256-key","typ":"oauth-id-jag+jwt","crit":["exp"],"exp":1}"#, payload: claims)
        #expect(refusal(crit)?.code == .unknownCritical)
        let malformedCrit = try Support.signRaw(Support.es256, header: #"{"alg":"ES256","kid":"es256-key","typ":"oauth-id-jag+jwt","crit":[]}"#, payload: claims)
        #expect(refusal(malformedCrit)?.code == .unknownCritical)
        let b64 = try Support.signRaw(Support.es256, header: #"{"alg":"ES256","kid":"es256-key","typ":"oauth-id-jag+jwt","b64":false,"crit":["b64"]}"#, payload: claims)
        #expect(refusal(b64)?.code == .unencodedPayload)
    }

    @Test("duplicate claim names, and duplicate header names, are refused")
    func duplicateNames() throws {
        let payload = #"{"iss":"https://idp.example.com","sub":"victim","sub":"user-1","aud":"https://broker.example.com","client_id":"c","jti":"j","iat":\#(Support.nowSeconds),"exp":\#(Support.nowSeconds + 60)}"#
        let token = try Support.signRaw(Support.es256, header: #"{"alg":"ES256","kid":"es256-key","typ":"oauth-id-jag+jwt"}"#, payload: payload)
        #expect(refusal(token)?.code == .duplicateMember)
        let header = try Support.signRaw(Support.es256, header: #"{"alg":"ES256","kid":"es256-key","typ":"oauth-id-jag+jwt","typ":"JWT"}"#, payload: claims)
        #expect(refusal(header)?.code == .duplicateMember)
    }

    @Test("non-canonical base64url (padding, flipped unused bits, whitespace, std alphabet) is refused")
    func nonCanonicalBase64() throws {
        let token = try Support.es256.signJWT(type: "oauth-id-jag+jwt", claims: Support.claims(.idJAG))
        var parts = token.split(separator: ".").map(String.init)
        // 64-byte signature: 86 characters, the last carrying 4 unused bits.
        let last = parts[2].last!
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let index = alphabet.firstIndex(of: last)!
        parts[2] = String(parts[2].dropLast()) + String(alphabet[index ^ 1])
        #expect(refusal(parts.joined(separator: "."))?.code == .badBase64URL)
        #expect(refusal(token + "==")?.code == .badBase64URL)
        #expect(refusal(token.replacingOccurrences(of: ".", with: " .", options: [], range: token.range(of: ".")))?.code == .badBase64URL)
        // The standard alphabet's '+' and '/' (same 6-bit values as '-' and '_') are refused in every segment.
        let segments = token.split(separator: ".").map(String.init)
        for (index, char) in [(0, "+"), (1, "/"), (2, "+")] {
            var altered = segments
            altered[index] = char + altered[index].dropFirst()
            #expect(refusal(altered.joined(separator: "."))?.code == .badBase64URL, "\(char) in segment \(index)")
        }
    }

    @Test("a token of the wrong typ is refused")
    func wrongTyp() throws {
        let accessToken = try Support.es256.signJWT(type: "at+jwt", claims: Support.claims(.idJAG))
        #expect(refusal(accessToken)?.code == .wrongType)
        let untyped = try Support.es256.sign(payload: Array(claims.utf8))
        #expect(refusal(untyped)?.code == .wrongType)
    }

    @Test("aud arrays with more than one member are refused, even when one member is ours")
    func multipleAudiences() throws {
        let two = Support.claims(.idJAG, ["aud": .array(["https://broker.example.com", "https://other.example.com"])])
        #expect(refusal(try Support.es256.signJWT(type: "oauth-id-jag+jwt", claims: two))?.code == .multipleAudiences)
        let one = Support.claims(.idJAG, ["aud": .array(["https://broker.example.com"])])
        #expect(refusal(try Support.es256.signJWT(type: "oauth-id-jag+jwt", claims: one)) == nil)
        let wrong = Support.claims(.idJAG, ["aud": "https://broker.example.com/"])
        #expect(refusal(try Support.es256.signJWT(type: "oauth-id-jag+jwt", claims: wrong))?.code == .wrongAudience)
    }

    @Test("a JWE (five segments) gets its own error; other segment counts are malformed")
    func shapes() {
        #expect(refusal("a.b.c.d.e")?.code == .jweNotSupported)
        #expect(refusal("a.b")?.code == .malformed)
        #expect(refusal("a.b.c.d")?.code == .malformed)
        #expect(refusal("")?.code == .malformed)
        #expect(refusal(String(repeating: "a", count: 20_000))?.code == .tooLarge)
    }

    @Test("a signature bit flip, a tampered payload and a key of the wrong algorithm are refused")
    func tampering() throws {
        let token = try Support.rs256.signJWT(type: "oauth-id-jag+jwt", claims: Support.claims(.idJAG))
        var parts = token.split(separator: ".").map(String.init)
        var signature = try Base64URL.decode(parts[2])
        signature[100] ^= 0x01
        #expect(refusal(parts[0] + "." + parts[1] + "." + Base64URL.encode(signature))?.code == .badSignature)
        parts[1] = Base64URL.encode(Array(Support.claims(.idJAG, ["sub": "admin"]).serialized().utf8))
        #expect(refusal(parts.joined(separator: "."))?.code == .badSignature)
        // A PS256 token claiming the RS256 key's kid: the key allows only RS256 (its alg member).
        let pss = try Support.signRaw(Support.ps256, header: #"{"alg":"PS256","kid":"rsa-key","typ":"oauth-id-jag+jwt"}"#, payload: claims)
        #expect(refusal(pss)?.code == .algorithmNotAllowed)
    }
}

/// Swift's `String ==` uses Unicode canonical equivalence; JOSE identifiers must match exactly
/// (RFC 7519 §2, RFC 7515 §4.1.4). Found while writing the fuzz harness (Fuzz/findings/).
@Suite("Exact comparison, not canonical equivalence")
struct ExactComparisonTests {
    let kelvin = "\u{212A}"  // KELVIN SIGN, canonically equivalent to "K"

    @Test("a kid with a Kelvin sign does not select the key with kid \"Key-1\"")
    func kid() throws {
        let key = try SigningKey.generate(.eddsa, keyID: "Key-1")
        let verifier = JWSVerifier(keys: JWKSet(keys: [key.verificationKey()]))
        let token = try key.sign(payload: Array("{}".utf8), header: JSONObject(["kid": .string("\(kelvin)ey-1")]))
        #expect(Support.error { _ = try verifier.verify(UnverifiedJWS(compact: token)) }?.code == .unknownKey)
    }

    @Test("iss and aud with canonically equivalent characters do not match")
    func issuerAndAudience() {
        let rules = ClaimRules(issuer: "https://Kelvin.example", audience: "https://caf\u{E9}.example")
        let issuer = JWTClaims(JSONObject(["iss": .string("https://\(kelvin)elvin.example"), "aud": "https://caf\u{E9}.example"]))
        #expect(Support.error { try rules.check(issuer, now: Support.now) }?.code == .wrongIssuer)
        let audience = JWTClaims(JSONObject(["iss": "https://Kelvin.example", "aud": "https://cafe\u{301}.example"]))
        #expect(Support.error { try rules.check(audience, now: Support.now) }?.code == .wrongAudience)
    }

    @Test("member names that are only canonically equivalent are distinct, not duplicates")
    func memberNames() throws {
        let object = try #require(try JSONValue.parse("{\"K\":1,\"\\u212a\":2}").objectValue)
        #expect(object.count == 2)
        #expect(object["K"]?.numberValue?.exactInteger == 1)
        #expect(object[kelvin]?.numberValue?.exactInteger == 2)
        let nfd = try #require(try JSONValue.parse("{\"\u{E9}\":1,\"e\u{301}\":2}").objectValue)
        #expect(nfd.count == 2)
        // And many members (the set-based duplicate check) behave the same.
        let many = "{" + (0..<20).map { "\"m\($0)\":\($0)" }.joined(separator: ",") + ",\"K\":1,\"\\u212a\":2}"
        #expect(try JSONValue.parse(many).objectValue?.count == 22)
        #expect(JSONValue.string("K") != JSONValue.string(kelvin))
    }

    @Test("a client assertion's iss and sub must be the same bytes")
    func subjectRule() throws {
        let claims = Support.claims(.clientAssertion, ["iss": "client-K", "sub": .string("client-\(kelvin)")])
        let token = try Support.es256.signJWT(type: "client-authentication+jwt", claims: claims)
        let verifier = JWTVerifier(kind: .clientAssertion, signatures: Support.verifier(Support.es256), rules: ClaimRules())
        #expect(Support.error { _ = try verifier.verify(token, now: Support.now) }?.code == .invalidClaim)
    }

    @Test("typ is ASCII case-insensitive only; alg is case-sensitive")
    func typAndAlg() throws {
        let token = try Support.es256.signJWT(type: "AT+JWT", claims: Support.claims(.accessToken))
        let verifier = JWTVerifier(kind: .accessToken, signatures: Support.verifier(Support.es256), rules: ClaimRules())
        #expect(Support.error { _ = try verifier.verify(token, now: Support.now) } == nil)
        let lower = try Support.signRaw(Support.es256, header: #"{"alg":"es256","kid":"es256-key","typ":"at+jwt"}"#, payload: Support.claims(.accessToken).serialized())
        #expect(Support.error { _ = try verifier.verify(lower, now: Support.now) }?.code == .algorithmNotAllowed)
    }

    @Test("a kid that is not a non-empty string is refused at parsing, before any key is picked", arguments: [
        #"{"kid":"x"}"#, #"42"#, #"["es256-key"]"#, #"null"#, #"true"#, #""""#,
    ])
    func kidNotAString(kid: String) throws {
        // Signed by the only key, which a verifier ignoring the kid would pick and accept.
        let header = #"{"alg":"ES256","typ":"oauth-id-jag+jwt","kid":"# + kid + "}"
        let token = try Support.signRaw(Support.es256, header: header, payload: Support.claims(.idJAG).serialized())
        let single = JWTVerifier(kind: .idJAG, signatures: Support.verifier(Support.es256), rules: ClaimRules())
        #expect(Support.error { _ = try single.verify(token, now: Support.now) }?.code == .invalidHeader)
        #expect(Support.error { _ = try UnverifiedJWS(compact: token) }?.code == .invalidHeader)
        #expect(Support.error { _ = try Support.verifier(Support.es256).verify(UnverifiedJWS(compact: token)) }?.code == .invalidHeader)
        // Control: the same token without a kid verifies with the one key.
        let plain = try Support.signRaw(Support.es256, header: #"{"alg":"ES256","typ":"oauth-id-jag+jwt"}"#, payload: Support.claims(.idJAG).serialized())
        #expect(Support.error { _ = try single.verify(plain, now: Support.now) } == nil)
    }

    @Test("typ and cty that are not non-empty strings are refused as malformed headers")
    func typNotAString() throws {
        for header in [#"{"alg":"ES256","kid":"es256-key","typ":1}"#, #"{"alg":"ES256","kid":"es256-key","typ":""}"#,
                       #"{"alg":"ES256","kid":"es256-key","typ":"oauth-id-jag+jwt","cty":{}}"#] {
            let token = try Support.signRaw(Support.es256, header: header, payload: Support.claims(.idJAG).serialized())
            let jwt = JWTVerifier(kind: .idJAG, signatures: Support.verifier(Support.es256), rules: ClaimRules())
            #expect(Support.error { _ = try jwt.verify(token, now: Support.now) }?.code == .invalidHeader, "\(header)")
        }
    }

    @Test("every kind that names a subject needs sub as a non-empty string", arguments: [TokenKind.idToken, .idJAG, .accessToken, .clientAssertion])
    func subjectIsNonEmptyString(kind: TokenKind) throws {
        let verifier = JWTVerifier(kind: kind, signatures: Support.verifier(Support.es256), rules: ClaimRules())
        func verify(_ sub: JSONValue?) throws -> JOSEError? {
            var claims = Support.claims(kind)
            claims["sub"] = sub
            if kind == .clientAssertion, let text = sub?.stringValue { claims["iss"] = .string(text) }
            let token = try Support.es256.signJWT(type: Support.typ(kind), claims: claims)
            return Support.error { _ = try verifier.verify(token, now: Support.now) }
        }
        #expect(try verify("user-1") == nil)
        #expect(try verify("")?.code == .invalidClaim)
        #expect(try verify(.number(JSONNumber(42)))?.code == .invalidClaim)
        #expect(try verify(.object(JSONObject()))?.code == .invalidClaim)
        #expect(try verify(.array(["user-1"]))?.code == .invalidClaim)
        #expect(try verify(.null)?.code == .invalidClaim)
        #expect(try verify(nil)?.code == .missingClaim)
    }

    @Test("iss, jti and client_id, when a token carries them, are non-empty strings for every kind", arguments: TokenKind.all)
    func identifiersAreNonEmptyStrings(kind: TokenKind) throws {
        let verifier = JWTVerifier(kind: kind, signatures: Support.verifier(Support.es256), rules: ClaimRules())
        for claim in ["jti", "client_id"] {
            for bad: JSONValue in ["", .number(JSONNumber(7)), .array([])] {
                var claims = Support.claims(kind)
                claims[claim] = bad
                let token = try Support.es256.signJWT(type: Support.typ(kind), claims: claims)
                #expect(Support.error { _ = try verifier.verify(token, now: Support.now) }?.code == .invalidClaim, "\(kind) \(claim)")
            }
        }
        var claims = Support.claims(kind)
        claims["iss"] = ""
        if kind == .clientAssertion { claims["sub"] = "" }
        let token = try Support.es256.signJWT(type: Support.typ(kind), claims: claims)
        #expect(Support.error { _ = try verifier.verify(token, now: Support.now) }?.code == .invalidClaim, "\(kind) iss")
    }
}
