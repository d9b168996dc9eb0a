import Foundation
import Testing
@testable import BridgekeeperJOSE

/// The RFC 7515 / 7520 / 8037 / 7797 JWS examples and the attacks derived from them
/// (Vectors/jws_vectors.json; see Vectors/LICENSE-NOTES.md).
///
/// Each vector is verified through the full compact-JWS path with its `jwk_public` as the only key and
/// the vector's `alg` as the verifier's allow-list (a broker takes the algorithm from configuration,
/// never from the token). `signature_valid` must pass the JWS layer; `reject` must fail with the
/// named error the vector is about.
@Suite("JOSE RFC vectors")
struct JOSEVectorTests {
    struct Vectors: Decodable { let vectors: [Vector] }

    struct Vector: Decodable {
        let id: String
        let alg: String
        let compact: String?
        let compact_attempt: String?
        let expect: String
        let deterministic_signature: Bool?
        let jwk_public: [String: String]
        let jwk_private: [String: String]?
    }

    static let all: [Vector] = {
        let data = try! Support.data("jws_vectors.json")
        return try! JSONDecoder().decode(Vectors.self, from: data).vectors
    }()

    static func object(_ members: [String: String]) -> JSONObject {
        var json = JSONObject()
        for (name, value) in members.sorted(by: { $0.key < $1.key }) { json[name] = .string(value) }
        return json
    }

    /// What each reject vector must be refused for.
    static let expectedErrors: [String: Set<JOSEError.Code>] = [
        "rfc7515-A.5-none": [.algorithmNone],
        "rfc7520-4.5-HS256-detached": [.detachedPayload],
        // The compact attempt has four segments: the payload "$.02" contains a dot.
        "rfc7797-4.2-HS256-b64false": [.unencodedPayload, .malformed],
        "b64false-compact-HS256": [.badBase64URL, .unencodedPayload],
        "rfc7515-A.2-alg-confusion-HS256-with-RSA-PEM": [.symmetricAlgorithm],
        "rfc7515-A.3-ES256-zero-sig": [.badSignature],
        "rfc7515-A.3-ES256-DER-sig": [.badSignatureEncoding],
    ]

    @Test("each vector gives its expected result", arguments: all.map(\.id))
    func vector(_ id: String) throws {
        let vector = try #require(Self.all.first { $0.id == id })
        let symmetric = vector.jwk_public["kty"] == "oct"
        let verifier: JWSVerifier
        if let key = try? JWK(object: Self.object(vector.jwk_public), options: JWK.ParseOptions(allowSymmetric: symmetric)) {
            let allowed: Set<JWSAlgorithm> = JWSAlgorithm(rawValue: vector.alg).map { [$0] } ?? []
            verifier = JWSVerifier(keys: JWKSet(keys: [key]), algorithms: allowed)
        } else {
            // The `none` vector's "key" is an empty secret, which no key set can hold; the token must
            // fail against any real configuration, here our default asymmetric one.
            #expect(vector.expect == "reject" && vector.alg == "none", "\(id): its key must load")
            verifier = Support.verifier(Support.es256)
        }
        let compact = try #require(vector.compact ?? vector.compact_attempt)
        let error = Support.error { _ = try verifier.verify(UnverifiedJWS(compact: compact)) }
        if vector.expect == "signature_valid" {
            #expect(error == nil, "\(id) must verify at the JWS layer: \(String(describing: error))")
        } else {
            let error = try #require(error, "\(id) must be rejected")
            let expected = Self.expectedErrors[id] ?? [.badSignature]
            #expect(expected.contains(error.code), "\(id): got \(error)")
        }
    }

    @Test("deterministic signatures are reproduced exactly from the private JWKs")
    func deterministicResigning() throws {
        var checked = 0
        for vector in Self.all where vector.deterministic_signature == true && vector.expect == "signature_valid" {
            guard let privateJWK = vector.jwk_private, privateJWK["kty"] != "oct", let compact = vector.compact,
                  let algorithm = JWSAlgorithm(rawValue: vector.alg) else { continue }
            let key = try JWK(object: Self.object(privateJWK), options: JWK.ParseOptions(allowPrivate: true))
            guard case .asymmetric(let evp) = key.material else { Issue.record("not asymmetric"); continue }
            let parts = compact.split(separator: ".", omittingEmptySubsequences: false)
            let input = Array("\(parts[0]).\(parts[1])".utf8)
            let signature = try input.withUnsafeBytes { try evp.sign(algorithm, message: $0) }
            #expect(Base64URL.encode(signature) == String(parts[2]), "\(vector.id)")
            checked += 1
        }
        #expect(checked >= 3, "RS256 (A.2, 4.1) and EdDSA must be re-signed")
    }

    @Test("thumbprints of the vector keys match joserfc's (an independent implementation)")
    func thumbprints() throws {
        // Computed with joserfc 1.6.5 (`import_key(jwk).thumbprint()`); the Ed25519 one is also RFC 8037 A.3's.
        let expected = [
            "rfc7515-A.2-RS256": "IsUn6_e04MaShXFIISMp4kG62LWzMIPy_MvSA5pJgX8",
            "rfc7515-A.3-ES256": "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U",
            "rfc8037-A.4-EdDSA": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
            "rfc7520-4.1-RS256": "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
            "rfc7515-A.4-ES512": "u5YUSjQ2-2chBi51NSk3t3g7IM4o2KYcnPqPtCNGd3U",
        ]
        for (id, thumbprint) in expected {
            let vector = try #require(Self.all.first { $0.id == id })
            #expect(try JWK(object: Self.object(vector.jwk_public)).thumbprint() == thumbprint, "\(id)")
            if let privateJWK = vector.jwk_private {
                // The private JWK's thumbprint is its public key's.
                #expect(try JWK(object: Self.object(privateJWK), options: JWK.ParseOptions(allowPrivate: true)).thumbprint() == thumbprint)
            }
        }
    }

    @Test("RFC 7515 A.2 and A.3 tokens verify as JWS but fail claims: they expired in 2011")
    func rfcTokensExpired() throws {
        let vector = try #require(Self.all.first { $0.id == "rfc7515-A.3-ES256" })
        let key = try JWK(object: Self.object(vector.jwk_public))
        let jws = try UnverifiedJWS(compact: try #require(vector.compact))
        _ = try JWSVerifier(keys: JWKSet(keys: [key])).verify(jws)
        let claims = JWTClaims(try jws.unverifiedClaims())
        #expect(Support.error { try ClaimRules().check(claims, now: Support.now) }?.code == .expired)
        #expect(Support.error { try ClaimRules().check(claims, now: Date(timeIntervalSince1970: 1_300_819_000)) } == nil)
    }
}
