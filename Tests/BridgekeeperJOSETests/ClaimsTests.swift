import Foundation
import Testing
@testable import BridgekeeperJOSE

@Suite("JWT claim checks (pure, with an injected time)")
struct ClaimsTests {
    func check(_ claims: JSONObject, _ rules: ClaimRules = ClaimRules(leeway: 30), at now: Date = Support.now) -> JOSEError? {
        Support.error { try rules.check(JWTClaims(claims), now: now) }
    }

    func n(_ value: Int64) -> JSONValue { .number(JSONNumber(value)) }
    var t: Int64 { Support.nowSeconds }

    @Test("exp: refused at exp + leeway, accepted just before")
    func expiry() {
        #expect(check(JSONObject(["exp": n(t - 29)])) == nil)
        #expect(check(JSONObject(["exp": n(t - 30)]))?.code == .expired)
        #expect(check(JSONObject(["exp": n(t)]), ClaimRules(leeway: 0))?.code == .expired)
        #expect(check(JSONObject(["exp": n(t + 1)]), ClaimRules(leeway: 0)) == nil)
    }

    @Test("nbf and iat: refused beyond the leeway into the future")
    func future() {
        #expect(check(JSONObject(["nbf": n(t + 30)])) == nil)
        #expect(check(JSONObject(["nbf": n(t + 31)]))?.code == .notYetValid)
        #expect(check(JSONObject(["iat": n(t + 30)])) == nil)
        #expect(check(JSONObject(["iat": n(t + 31)]))?.code == .issuedInFuture)
    }

    @Test("lifetime cap and maximum age")
    func lifetime() {
        let rules = ClaimRules(leeway: 0, maxLifetime: 300, maxAge: 600)
        #expect(check(JSONObject(["iat": n(t), "exp": n(t + 300)]), rules) == nil)
        #expect(check(JSONObject(["iat": n(t), "exp": n(t + 301)]), rules)?.code == .lifetimeTooLong)
        #expect(check(JSONObject(["exp": n(t + 301)]), rules)?.code == .lifetimeTooLong)
        #expect(check(JSONObject(["iat": n(t - 601), "exp": n(t + 10)]), ClaimRules(leeway: 0, maxAge: 600))?.code == .lifetimeTooLong)
    }

    @Test("iss and aud are compared exactly; aud may be a string or a one-element array")
    func exactMatching() {
        let rules = ClaimRules(issuer: "https://idp.example.com", audience: "https://as.example.com")
        let good = JSONObject(["iss": "https://idp.example.com", "aud": "https://as.example.com"])
        #expect(check(good, rules) == nil)
        #expect(check(JSONObject(["iss": "https://idp.example.com", "aud": .array(["https://as.example.com"])]), rules) == nil)
        for iss in ["https://idp.example.com/", "https://IDP.example.com", "https://idp.example.com ", "http://idp.example.com"] {
            #expect(check(JSONObject(["iss": .string(iss), "aud": "https://as.example.com"]), rules)?.code == .wrongIssuer, "\(iss)")
        }
        #expect(check(JSONObject(["aud": "https://as.example.com"]), rules)?.code == .wrongIssuer)
        #expect(check(JSONObject(["iss": "https://idp.example.com", "aud": "https://as.example.com/"]), rules)?.code == .wrongAudience)
        #expect(check(JSONObject(["iss": "https://idp.example.com"]), rules)?.code == .wrongAudience)
        #expect(check(JSONObject(["iss": "https://idp.example.com", "aud": .array([])]), rules)?.code == .wrongAudience)
        #expect(check(JSONObject(["iss": "https://idp.example.com", "aud": .array(["https://as.example.com", "https://as.example.com"])]), rules)?.code == .multipleAudiences)
        #expect(check(JSONObject(["iss": "https://idp.example.com", "aud": .number(JSONNumber(42))]), rules)?.code == .invalidClaim)
        #expect(check(JSONObject(["iss": "https://idp.example.com", "aud": .array(["https://as.example.com", .bool(true)])]), rules)?.code == .invalidClaim)
        #expect(check(JSONObject(["aud": .number(JSONNumber(42))]))?.code == .invalidClaim, "aud is a string or strings even when no audience is expected")
    }

    @Test("claims of the wrong JSON type are refused")
    func types() {
        #expect(check(JSONObject(["exp": "1795262400"]))?.code == .invalidClaim)
        #expect(check(JSONObject(["exp": n(-1)]))?.code == .invalidClaim)
        #expect(check(JSONObject(["exp": .number(JSONNumber(text: "1e300", double: 1e300))]))?.code == .invalidClaim)
        #expect(check(JSONObject(["iss": .bool(true)]), ClaimRules(issuer: "x"))?.code == .invalidClaim)
        #expect(check(JSONObject(["aud": .array([.number(JSONNumber(1))])]), ClaimRules(audience: "x"))?.code == .invalidClaim)
        // Fractional NumericDates are legal (RFC 7519 §2).
        #expect(check(JSONObject(["exp": .number(JSONNumber(text: "1795262460.5", double: 1_795_262_460.5))])) == nil)
    }

    @Test("leeway is bounded to 0...300 seconds")
    func leewayBounds() {
        #expect(ClaimRules(leeway: 10_000).leeway == 300)
        #expect(ClaimRules(leeway: -5).leeway == 0)
    }
}

@Suite("Token kinds: no kind passes as another")
struct TokenKindTests {
    static let kinds: [TokenKind] = TokenKind.all

    func verify(_ token: String, as kind: TokenKind) -> JOSEError? {
        let verifier = JWTVerifier(kind: kind, signatures: Support.verifier(Support.es256), rules: ClaimRules())
        return Support.error { _ = try verifier.verify(token, now: Support.now) }
    }

    @Test("each kind accepts its own typ, with or without application/ and in any case")
    func ownType() throws {
        for kind in Self.kinds {
            for typ in [Support.typ(kind), "application/" + Support.typ(kind), Support.typ(kind).uppercased()] {
                let token = try Support.es256.signJWT(type: typ, claims: Support.claims(kind))
                #expect(verify(token, as: kind) == nil, "\(kind) with typ \(typ)")
            }
        }
    }

    @Test("every kind refuses every other kind's token", arguments: TokenKind.all.map(\.name))
    func crossKind(_ name: String) throws {
        let kind = try #require(Self.kinds.first { $0.name == name })
        for other in Self.kinds where other != kind {
            // The other kind's token exactly as its issuer would mint it.
            let token = try Support.es256.signJWT(type: Support.typ(other), claims: Support.claims(other))
            let error = verify(token, as: kind)
            #expect(error != nil, "a \(other) must not pass as a \(kind)")
            #expect([.wrongType, .missingClaim, .forbiddenClaim, .invalidClaim].contains(error?.code), "\(other) as \(kind): \(String(describing: error))")
        }
    }

    @Test("an untyped ID token and a legacy untyped client assertion cannot pass as each other")
    func untypedKinds() throws {
        let idToken = try Support.es256.sign(payload: Array(Support.claims(.idToken).serialized().utf8))
        #expect(verify(idToken, as: .idToken) == nil)
        #expect(verify(idToken, as: .clientAssertion)?.code == .invalidClaim)
        var assertion = Support.claims(.clientAssertion)
        assertion["iat"] = .number(JSONNumber(Support.nowSeconds))
        let legacy = try Support.es256.sign(payload: Array(assertion.serialized().utf8))
        #expect(verify(legacy, as: .clientAssertion) == nil)
        #expect(verify(legacy, as: .idToken)?.code == .invalidClaim)
    }

    @Test("explicitly typed kinds refuse a missing typ; a SET needs an events object")
    func missingType() throws {
        for kind in [TokenKind.idJAG, .accessToken, .securityEvent, .revocationReceipt] {
            let token = try Support.es256.sign(payload: Array(Support.claims(kind).serialized().utf8))
            #expect(verify(token, as: kind)?.code == .wrongType)
        }
        let noEvents = try Support.es256.signJWT(type: "secevent+jwt", claims: Support.claims(.securityEvent, ["events": "x"]))
        #expect(verify(noEvents, as: .securityEvent)?.code == .invalidClaim)
        let idTokenWithEvents = try Support.es256.signJWT(type: "JWT", claims: Support.claims(.idToken, ["events": .object(JSONObject())]))
        #expect(verify(idTokenWithEvents, as: .idToken)?.code == .forbiddenClaim)
    }

    @Test("required claims are enforced per kind")
    func required() throws {
        for kind in Self.kinds {
            for claim in kind.requiredClaims {
                var claims = Support.claims(kind)
                claims[claim] = nil
                let token = try Support.es256.signJWT(type: Support.typ(kind), claims: claims)
                let error = verify(token, as: kind)
                #expect(error?.code == .missingClaim, "\(kind) without \(claim): \(String(describing: error))")
            }
        }
    }

    @Test("the validation order is fixed: typ before alg before signature before claims")
    func order() throws {
        // Wrong typ AND alg none AND expired: typ is reported.
        let header = #"{"alg":"none","typ":"JWT"}"#
        let expired = Support.claims(.idJAG, ["exp": .number(JSONNumber(1))]).serialized()
        let none = Support.assemble(header: header, payload: expired, signature: [])
        #expect(verify(none, as: .idJAG)?.code == .wrongType)
        // Right typ, alg none, expired: alg is reported.
        let none2 = Support.assemble(header: #"{"alg":"none","typ":"oauth-id-jag+jwt"}"#, payload: expired, signature: [])
        #expect(verify(none2, as: .idJAG)?.code == .algorithmNone)
        // Bad signature and expired: the signature is reported; claims are never read unverified.
        let bad = try Support.attacker.signJWT(type: "oauth-id-jag+jwt", claims: Support.claims(.idJAG, ["exp": .number(JSONNumber(1))]))
        #expect(verify(bad, as: .idJAG)?.code == .badSignature)
        // Good signature, expired: claims.
        let old = try Support.es256.signJWT(type: "oauth-id-jag+jwt", claims: Support.claims(.idJAG, ["exp": .number(JSONNumber(1))]))
        #expect(verify(old, as: .idJAG)?.code == .expired)
    }
}
