import Foundation
@testable import BridgekeeperJOSE

/// Test inputs: vectors from `Vectors/` (copied into the repository with their licence), keys made
/// once per run, and a fixed clock.
enum Support {
    static let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Vectors")

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: vectors.appendingPathComponent(name))
    }

    static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            out.append(UInt8(nibble(high) << 4 | nibble(low)))
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return c - UInt8(ascii: "A") + 10
        }
    }

    /// 2026-11-21T12:00:00Z, the instant every claim test is evaluated at.
    static let now = Date(timeIntervalSince1970: 1_795_262_400)
    static var nowSeconds: Int64 { Int64(now.timeIntervalSince1970) }

    /// One signing key per algorithm for the whole run (RSA generation is slow).
    static let es256 = try! SigningKey.generate(.es256, keyID: "es256-key")
    static let es384 = try! SigningKey.generate(.es384, keyID: "es384-key")
    static let eddsa = try! SigningKey.generate(.eddsa, keyID: "ed-key")
    static let rs256 = try! SigningKey.generate(.rs256, keyID: "rsa-key")
    static let ps256 = try! SigningKey.generate(.ps256, keyID: "pss-key")
    static let attacker = try! SigningKey.generate(.es256, keyID: "es256-key")

    static func verifier(_ keys: SigningKey..., algorithms: Set<JWSAlgorithm> = JWSAlgorithm.asymmetric) -> JWSVerifier {
        JWSVerifier(keys: JWKSet(keys: keys.map { $0.verificationKey() }), algorithms: algorithms)
    }

    /// A claim set valid at `now` for the given kind.
    static func claims(_ kind: TokenKind, _ extra: KeyValuePairs<String, JSONValue> = [:]) -> JSONObject {
        var claims = JSONObject([
            "iss": "https://idp.example.com", "sub": "user-1", "aud": "https://broker.example.com",
            "iat": .number(JSONNumber(nowSeconds - 10)), "exp": .number(JSONNumber(nowSeconds + 290)), "jti": "jti-1",
        ])
        if kind == .idJAG || kind == .accessToken { claims["client_id"] = "client-1" }
        if kind == .clientAssertion { claims["iss"] = "client-1"; claims["sub"] = "client-1" }
        if kind == .securityEvent {
            claims["sub"] = nil
            claims["exp"] = nil
            claims["events"] = .object(JSONObject(["https://schemas.openid.net/secevent/caep/event-type/session-revoked": .object(JSONObject())]))
        }
        if kind == .revocationReceipt {
            // As the broker signs one: evidence with no audience, expiry or sub.
            claims["sub"] = nil
            claims["aud"] = nil
            claims["exp"] = nil
            claims["sub_id"] = .object(JSONObject(["format": "iss_sub", "iss": "https://idp.example.com", "sub": "user-1"]))
            claims["trigger"] = .object(JSONObject(["source": "scim"]))
        }
        for (name, value) in extra { claims[name] = value }
        return claims
    }

    static func typ(_ kind: TokenKind) -> String {
        switch kind {
        case .idToken: return "JWT"
        case .idJAG: return "oauth-id-jag+jwt"
        case .accessToken: return "at+jwt"
        case .securityEvent: return "secevent+jwt"
        case .revocationReceipt: return "bridgekeeper-receipt+jwt"
        default: return "client-authentication+jwt"
        }
    }

    /// Assembles a compact JWS from raw header and payload text and raw signature bytes.
    static func assemble(header: String, payload: String, signature: [UInt8]) -> String {
        Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8)) + "." + Base64URL.encode(signature)
    }

    /// Signs raw header and payload text exactly as given (for malformed-but-signed inputs).
    static func signRaw(_ key: SigningKey, header: String, payload: String) throws -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let signature = try Array(input.utf8).withUnsafeBytes { try key.key.sign(key.algorithm, message: $0) }
        return input + "." + Base64URL.encode(signature)
    }

    /// The error a throwing expression raised, as a JOSEError.
    static func error(_ body: () throws -> Void) -> JOSEError? {
        do {
            try body()
            return nil
        } catch let error as JOSEError {
            return error
        } catch {
            return JOSEError(.cryptoFailure, "unexpected error type: \(error)")
        }
    }
}
