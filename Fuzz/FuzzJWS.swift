// libFuzzer target for BridgekeeperJOSE's parsers: strict JSON, strict base64url, compact JWS
// (parse, claims, verification against a fixed key set), JWK and JWK Set.
//
// Built by Fuzz/run.sh with swiftc as ONE module together with Sources/BridgekeeperJOSE (not with
// SwiftPM), so this file is part of module BridgekeeperJOSE and sees its internal API too.
// Thrown JOSEErrors are expected and ignored; a crash, a sanitizer report, a leak, a timeout or one
// of the property traps below (`fuzzCheck`) is a finding.

internal import Foundation

// MARK: - Fixed keys (public halves only; generated once with `openssl`, see docs/fuzzing.md)

/// EC P-256, `openssl ecparam -name prime256v1 -genkey`.
private let ecP256PublicJWK = #"{"kty":"EC","crv":"P-256","kid":"fuzz-ec-1","use":"sig","alg":"ES256","x":"ZgPZy3rzE94nUPJq7EDsNklYM_TylyOwnqxTshmdaBk","y":"1qVNMXoyq7M8fMbVQYEqtZJ2ittnBZygM2SyV14JzqQ"}"#

/// RSA-2048, `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`.
private let rsa2048PublicJWK = #"{"kty":"RSA","kid":"fuzz-rsa-1","use":"sig","n":"n07slvjsLSB5omv5N9bBy37c2Qy1RLLuVXnVEcj7eCD_ObHSUZcw89bUype2z82SSKvMsKtIBkT9JmMhpoRLUlecQ757aged-rT5U83QhUg3ZHe6vWq_izR_WLTyuvzVt1z6y61_-DtwpcJDQA2oOJJAQnwUoY5fjaD7lg5Pc_jklDZdMiI-iiH3oPkvNcEhzUO6TOhsa3cDGb7JI0xtC71v8rjz4CGFVK2qdx_ONnXtsoT1uVJkxfaXNt3CDYF3X_R46uGJ4GqIYNSrovu5mgqxTnIO8bayfJKu_MXCmyBDEPGciaBgvpvIviV3k68DSQNXorus9QNhoPibX6yCQw","e":"AQAB"}"#

/// Ed25519, `openssl genpkey -algorithm ED25519`.
private let ed25519PublicJWK = #"{"kty":"OKP","crv":"Ed25519","kid":"fuzz-ed-1","x":"TDKosafM4aj0cCFrd8w0zZEvVfbGl4x7nA1bh9RAdnc"}"#

/// A 256-bit HMAC test secret (fuzzing only), for the explicitly symmetric verifier.
private let hmacJWK = #"{"kty":"oct","kid":"fuzz-hs-1","k":"ZnV6ei1obWFjLXRlc3Qtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY"}"#

/// The asymmetric verifier: the default allow-list (every asymmetric alg), three keys with kids.
private let asymmetricVerifier = buildFixedAsymmetricVerifier()

private func buildFixedAsymmetricVerifier() -> JWSVerifier {
    do {
        let set = try JWKSet(json: #"{"keys":["# + [ecP256PublicJWK, rsa2048PublicJWK, ed25519PublicJWK].joined(separator: ",") + "]}")
        fuzzCheck(set.keys.count == 3 && set.skipped.isEmpty, "fixed JWK set did not load")
        return JWSVerifier(keys: set)
    } catch {
        fatalError("fixed JWK set: \(error)")
    }
}

/// A symmetric verifier (HS256/384/512 allowed) with one oct key, to reach the HMAC path.
///
/// Built afresh for each input that parses as a JWS, not kept in a global. A global copy shows up
/// as a 70-byte LeakSanitizer false positive at exit: `JWK.Material.symmetric([UInt8])` is a
/// multi-payload enum that stores its case in the pointer's spare top bit (the stored word is
/// 0x8000_xxxx_xxxx_xxxx), so LSan's scan of globals does not recognise the reference to the
/// decoded secret.
private func makeSymmetricVerifier() -> JWSVerifier {
    do {
        let key = try JWK(json: hmacJWK, options: .init(allowSymmetric: true))
        return JWSVerifier(keys: JWKSet(keys: [key]), algorithms: Set(JWSAlgorithm.allCases))
    } catch {
        fatalError("fixed HMAC key: \(error)")
    }
}

/// Claim rules with every check switched on, evaluated at a fixed instant.
private let claimRules = ClaimRules(issuer: "https://issuer.example", audience: "bridgekeeper", leeway: 60,
                                    maxLifetime: 3600, maxAge: 86_400)
private let fixedNow = Date(timeIntervalSince1970: 1_795_000_000)

// MARK: - Properties

// fuzzCheck and hex are in Fuzz/FuzzSupport.swift.

/// JSON: a successful parse re-serialises to JSON that parses to an equal value, and serialisation
/// is a byte-exact fixpoint (so Swift's canonical-equivalence `==` on String cannot hide a change).
/// The sorted-keys and pretty forms must parse back to values with the same members.
private func fuzzJSON(_ bytes: [UInt8]) {
    guard let first = try? JSONValue.parse(bytes) else { return }
    let text = first.serialized()
    // The compact form is never longer than the input (escapes only shrink or stay), so the default
    // limits apply; nesting depth is unchanged.
    let second: JSONValue
    do {
        second = try JSONValue.parse(text)
    } catch {
        fatalError("FUZZ PROPERTY VIOLATED: serialisation of a parsed value does not re-parse: \(error); input hex \(hex(bytes)); serialised \(hex(text.utf8))")
    }
    fuzzCheck(second == first, "re-parsed value differs from the first parse; input hex \(hex(bytes)); serialised \(hex(text.utf8))")
    let again = second.serialized()
    fuzzCheck(Array(again.utf8) == Array(text.utf8),
              "serialisation is not a fixpoint: \(hex(text.utf8)) then \(hex(again.utf8))")

    // Pretty printing adds whitespace only; it may exceed the default size cap, so lift it.
    let roomy = JSONLimits(maxBytes: 1 << 24, maxDepth: 20)
    let pretty = first.serialized(pretty: true)
    do {
        let fromPretty = try JSONValue.parse(pretty, limits: roomy)
        fuzzCheck(fromPretty == first, "pretty form parses to a different value; input hex \(hex(bytes))")
    } catch {
        fatalError("FUZZ PROPERTY VIOLATED: pretty serialisation does not re-parse: \(error); input hex \(hex(bytes))")
    }
    // Sorted keys: same value up to member order.
    let sorted = first.serialized(sortedKeys: true)
    do {
        let fromSorted = try JSONValue.parse(sorted, limits: roomy)
        fuzzCheck(fromSorted.serialized(sortedKeys: true) == sorted, "sorted-keys serialisation is not a fixpoint; input hex \(hex(bytes))")
    } catch {
        fatalError("FUZZ PROPERTY VIOLATED: sorted-keys serialisation does not re-parse: \(error); input hex \(hex(bytes))")
    }
}

/// Base64URL: decoding is strict, so whatever it accepts must re-encode to exactly the input text.
private func fuzzBase64URL(_ text: String) {
    guard let decoded = try? Base64URL.decode(text) else { return }
    let encoded = Base64URL.encode(decoded)
    fuzzCheck(Array(encoded.utf8) == Array(text.utf8),
              "base64url round trip is not canonical: input \(hex(text.utf8)) re-encodes as \(hex(encoded.utf8))")
    fuzzCheck(Base64URL.encodeBytes(decoded) == Array(text.utf8), "encode and encodeBytes disagree")
}

/// Compact JWS: parse; on success read the claims, run every claim accessor, and verify with both
/// verifiers and every token kind. Only crashes count: each step may throw.
private func fuzzJWS(_ text: String) {
    guard let jws = try? UnverifiedJWS(compact: text) else { return }
    _ = jws.keyID
    _ = jws.type
    if let claims = try? jws.unverifiedClaims() {
        let jwt = JWTClaims(claims)
        _ = try? jwt.issuer()
        _ = try? jwt.subject()
        _ = try? jwt.tokenID()
        _ = try? jwt.audience()
        _ = try? jwt.expiration()
        _ = try? jwt.notBefore()
        _ = try? jwt.issuedAt()
        _ = try? claimRules.check(jwt, now: fixedNow)
    }
    for verifier in [asymmetricVerifier, makeSymmetricVerifier()] {
        if let verified = try? verifier.verify(jws) {
            // A verified token keeps exactly what was parsed.
            fuzzCheck(verified.payload == jws.payload, "verified payload differs from the parsed payload")
            fuzzCheck(verified.header == jws.header, "verified header differs from the parsed header")
            fuzzCheck(verified.algorithm.rawValue == jws.algorithmName, "verified alg differs from the header alg")
        }
    }
    for kind in TokenKind.all {
        _ = try? kind.checkType(jws.header)
        _ = try? JWTVerifier(kind: kind, signatures: asymmetricVerifier, rules: claimRules).verify(jws, now: fixedNow)
    }
}

/// JWK and JWK Set. An accepted public JWK exports a public JWK that parses back to a key with the
/// same RFC 7638 thumbprint.
private func fuzzJWK(_ bytes: [UInt8], _ text: String) {
    if let key = try? JWK(json: text) {
        checkJWKRoundTrip(key)
    }
    if let key = try? JWK(json: text, options: .init(allowSymmetric: true, allowPrivate: true)) {
        _ = key.allowedAlgorithms
        _ = try? key.thumbprint()
    }
    if let set = try? JWKSet(bytes: bytes) {
        for key in set.keys { checkJWKRoundTrip(key) }
        // The hot-path allow check agrees with the per-key allow-list, for every key and algorithm,
        // and key selection runs over every parsed set.
        for key in set.keys {
            for algorithm in JWSAlgorithm.allCases {
                fuzzCheck(key.allows(algorithm) == key.allowedAlgorithms.contains(algorithm), "allows(_:) disagrees with allowedAlgorithms")
            }
        }
        _ = set.candidate(keyID: nil, algorithm: .es256)
    }
}

private func checkJWKRoundTrip(_ key: JWK) {
    _ = key.permits(.verify)
    _ = key.allowedAlgorithms
    guard let thumbprint = try? key.thumbprint() else {
        fatalError("FUZZ PROPERTY VIOLATED: an accepted public \(key.keyType) JWK has no thumbprint")
    }
    let exported: JSONObject
    do { exported = try key.publicJWK() } catch {
        fatalError("FUZZ PROPERTY VIOLATED: an accepted public \(key.keyType) JWK cannot be exported: \(error)")
    }
    do {
        let back = try JWK(json: exported.serialized())
        let backThumbprint = try back.thumbprint()
        fuzzCheck(backThumbprint == thumbprint, "exported JWK has a different thumbprint")
        fuzzCheck(back.keyID == key.keyID && back.algorithm == key.algorithm && back.use == key.use,
                  "exported JWK lost kid/alg/use")
    } catch {
        fatalError("FUZZ PROPERTY VIOLATED: exported public JWK does not re-parse: \(error); exported \(exported.serialized())")
    }
}

// MARK: - Entry points

/// Builds the fixed key sets before the first input, so their one-time allocations are not
/// attributed to (and leak-checked with) an input.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzJWSInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32 {
    _ = asymmetricVerifier
    _ = fixedNow
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWSTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    // The text views: invalid UTF-8 is repaired (U+FFFD), as a String from a network peer would be.
    let text = String(decoding: bytes, as: UTF8.self)
    fuzzJSON(bytes)
    fuzzBase64URL(text)
    fuzzJWS(text)
    fuzzJWK(bytes, text)
    return 0
}
