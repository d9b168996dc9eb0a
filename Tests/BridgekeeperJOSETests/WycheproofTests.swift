import Foundation
import Testing
@testable import BridgekeeperJOSE

/// Project Wycheproof signature vectors (Apache 2.0; see Vectors/LICENSE-NOTES.md).
///
/// Each group's public key is loaded through our JWK import path (the group's JWK, or for the few
/// ECDSA groups without one, a JWK built from `wx`/`wy`), and each test's signature is verified over
/// its message with the JWS algorithm the file backs.
///
/// `valid` must verify; `invalid` must be rejected. `acceptable` (only RSA PKCS#1 tcId 8, "missing
/// NULL" in the DigestInfo) is treated as must-reject: a token broker gains nothing from accepting a
/// legacy encoding that no conforming signer produces, and OpenSSL rejects it.
@Suite("Wycheproof vectors")
struct WycheproofTests {
    struct File: Decodable {
        let algorithm: String
        let numberOfTests: Int
        let testGroups: [Group]
    }

    struct Group: Decodable {
        let type: String
        let publicKeyJwk: [String: String]?
        let keyJwk: [String: String]?
        let publicKey: PublicKey?
        let publicKeyDer: String?
        let tests: [Case]
    }

    struct PublicKey: Decodable {
        let curve: String?
        let wx: String?
        let wy: String?
    }

    struct Case: Decodable {
        let tcId: Int
        let comment: String
        let msg: String
        let sig: String
        let result: String
        let flags: [String]
    }

    static let files: [(name: String, algorithm: JWSAlgorithm)] = [
        ("ecdsa_secp256r1_sha256_p1363_test.json", .es256),
        ("ecdsa_secp384r1_sha384_p1363_test.json", .es384),
        ("rsa_signature_2048_sha256_test.json", .rs256),
        ("rsa_signature_3072_sha256_test.json", .rs256),
        ("rsa_pss_2048_sha256_mgf1_32_test.json", .ps256),
        ("ed25519_test.json", .eddsa),
    ]

    /// The group's key as a JWK, through the same import path IdP keys take.
    static func jwk(for group: Group, curve: ECCurve?) throws -> JWK {
        if let object = group.publicKeyJwk ?? group.keyJwk {
            var json = JSONObject()
            for (name, value) in object.sorted(by: { $0.key < $1.key }) { json[name] = .string(value) }
            return try JWK(object: json)
        }
        let curve = try #require(curve)
        let key = try #require(group.publicKey)
        func coordinate(_ hex: String?) throws -> String {
            var bytes = Support.hex(try #require(hex))
            while bytes.count > curve.fieldBytes, bytes.first == 0 { bytes.removeFirst() }
            bytes = [UInt8](repeating: 0, count: max(0, curve.fieldBytes - bytes.count)) + bytes
            return Base64URL.encode(bytes)
        }
        return try JWK(object: JSONObject([
            "kty": "EC", "crv": .string(curve.rawValue), "x": .string(try coordinate(key.wx)), "y": .string(try coordinate(key.wy)),
        ]))
    }

    @Test("every vector gives the expected result", arguments: files.map(\.name))
    func vectors(_ name: String) throws {
        let algorithm = try #require(Self.files.first { $0.name == name }?.algorithm)
        let file = try JSONDecoder().decode(File.self, from: try Support.data(name))
        let curve: ECCurve? = if case .ecdsa(let curve) = algorithm.family { curve } else { nil }
        var counted = 0
        var valid = 0
        for group in file.testGroups {
            let key = try Self.jwk(for: group, curve: curve)
            #expect(key.allowedAlgorithms.contains(algorithm), "\(name): key must allow \(algorithm.rawValue)")
            for test in group.tests {
                counted += 1
                let message = Support.hex(test.msg)
                let signature = Support.hex(test.sig)
                let error = Support.error {
                    try signature.withUnsafeBytes { sig in
                        try message.withUnsafeBytes { msg in
                            try key.verifySignature(algorithm, signature: sig, message: msg)
                        }
                    }
                }
                if test.result == "valid" {
                    valid += 1
                    #expect(error == nil, "\(name) tcId \(test.tcId) (\(test.comment)) must verify: \(String(describing: error))")
                } else {
                    #expect(error != nil, "\(name) tcId \(test.tcId) (\(test.comment), \(test.result)) must be rejected")
                    if let error {
                        #expect([.badSignature, .badSignatureEncoding].contains(error.code), "tcId \(test.tcId): \(error)")
                    }
                }
            }
        }
        #expect(counted == file.numberOfTests, "\(name): every test case ran")
        #expect(valid > 0)
    }

    @Test("the DER public keys load to the same key as the JWKs")
    func derMatchesJWK() throws {
        for (name, _) in Self.files {
            let file = try JSONDecoder().decode(File.self, from: try Support.data(name))
            for group in file.testGroups.prefix(3) {
                guard let der = group.publicKeyDer, group.publicKeyJwk ?? group.keyJwk != nil else { continue }
                let fromDER = try EVPKey.publicKey(der: Support.hex(der))
                let jwk = try Self.jwk(for: group, curve: nil)
                let viaDER = JWK(material: .asymmetric(fromDER), keyType: jwk.keyType, keyID: nil, isPrivate: false)
                #expect(try viaDER.thumbprint() == jwk.thumbprint(), "\(name)")
            }
        }
    }
}
