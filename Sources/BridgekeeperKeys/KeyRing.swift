public import BridgekeeperJOSE
public import BridgekeeperStore
public import Foundation
import Synchronization

/// Bridgekeeper's signing keys in memory: the key that signs now, and the public set published at
/// `jwks_uri`, reloaded from the store (so `keys rotate` in another process, or another replica,
/// takes effect within one reload interval).
///
/// Rotation never signs with a key before it is published: a new key is stored with `activatesAt`
/// in the future (the propagation delay), so it appears in the JWKS first; the previous key stays
/// published until `unpublishAt`, at least the longest token lifetime after it stopped signing.
public final class KeyRing: Sendable {
    public struct Snapshot: Sendable {
        /// The newest key whose `activatesAt` has passed.
        public let signer: SigningKey?
        /// The published keys, for our own verification (introspection, revocation).
        public let published: JWKSet
        /// The JWKS document, serialised once per reload.
        public let document: String
        public let algorithms: Set<JWSAlgorithm>
    }

    private let sealing: KeySealing
    private let state: Mutex<Snapshot>
    /// Which of the stored keys this ring holds.
    public let purpose: StoredSigningKey.Purpose

    public init(sealing: KeySealing, purpose: StoredSigningKey.Purpose = .access) {
        self.sealing = sealing
        self.purpose = purpose
        state = Mutex(Snapshot(signer: nil, published: JWKSet(keys: []), document: #"{"keys":[]}"#, algorithms: []))
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Rebuilds the snapshot from the stored keys as of `now`.
    public func reload(from store: any SigningKeyStore, now: Date) async throws {
        let stored = try await store.signingKeys().filter { $0.purpose == purpose }
        let snapshot = try Self.snapshot(of: stored, sealing: sealing, now: now)
        state.withLock { $0 = snapshot }
    }

    /// Pure: which key signs and which are published at `now`.
    static func snapshot(of stored: [StoredSigningKey], sealing: KeySealing, now: Date) throws -> Snapshot {
        let published = stored.filter { key in key.unpublishAt.map { now < $0 } ?? true }
        // The newest key that has activated and not retired. Times are whole seconds, so a rotation
        // in the second its predecessor activated ties on activatesAt: retiresAt breaks the tie.
        let active = published.filter { key in key.activatesAt <= now && (key.retiresAt.map { now < $0 } ?? true) }
            .max { ($0.activatesAt, $0.createdAt) < ($1.activatesAt, $1.createdAt) }
        let signer = try active.map { try sealing.open($0) }
        var jwks: [JSONValue] = []
        var keys: [JWK] = []
        var algorithms: Set<JWSAlgorithm> = []
        for key in published {
            let object = try JSONValue.parse(key.publicJWK)
            guard case .object(let jwk) = object else { continue }
            jwks.append(object)
            keys.append(try JWK(object: jwk))
            if let algorithm = JWSAlgorithm(rawValue: key.algorithm) { algorithms.insert(algorithm) }
        }
        let document = JSONValue.object(JSONObject(["keys": .array(jwks)])).serialized()
        return Snapshot(signer: signer, published: JWKSet(keys: keys), document: document, algorithms: algorithms)
    }
}

/// Private keys at rest: PKCS#8 PEM sealed with AES-256-GCM under the key-encryption key from the
/// configuration (`keys.encryption_key`), with the `kid` (and the purpose, for bridge keys) as
/// associated data so that a sealed key cannot be moved to another row or relabelled to sign
/// another kind of token.
public struct KeySealing: Sendable {
    private let box: SecretBox

    /// Access keys keep the bare `kid` (the schema-1 format); other purposes prefix theirs.
    static func context(keyID: String, purpose: StoredSigningKey.Purpose) -> [UInt8] {
        purpose == .access ? Array(keyID.utf8) : Array("\(purpose.rawValue):\(keyID)".utf8)
    }

    public init(keyEncryptionKey: [UInt8]) throws(JOSEError) {
        box = try SecretBox(key: keyEncryptionKey)
    }

    public func seal(_ key: SigningKey, purpose: StoredSigningKey.Purpose = .access, now: Date, activatesAt: Date) throws(JOSEError) -> StoredSigningKey {
        let sealed = try box.seal(Array(try key.privateKeyPEM().utf8), context: Self.context(keyID: key.keyID, purpose: purpose))
        return StoredSigningKey(keyID: key.keyID, purpose: purpose, algorithm: key.algorithm.rawValue, sealedPrivateKey: sealed,
                                publicJWK: JSONValue.object(try key.publicJWK()).serialized(), createdAt: now, activatesAt: activatesAt)
    }

    public func open(_ stored: StoredSigningKey) throws(JOSEError) -> SigningKey {
        // Our kids are RFC 7638 thumbprints (base64url): a stored kid with any other character (a
        // `bridge:` prefix, say) is a row someone edited, refused before the associated data could
        // be made to match another purpose's.
        guard !stored.keyID.isEmpty, stored.keyID.utf8.allSatisfy({ Base64URL.isAlphabet($0) }) else {
            throw JOSEError(.invalidKey, "stored key id \(stored.keyID.prefix(20)) is not base64url")
        }
        guard let algorithm = JWSAlgorithm(rawValue: stored.algorithm) else {
            throw JOSEError(.unsupported, "stored key \(stored.keyID) has an unknown algorithm")
        }
        let pem = try box.open(stored.sealedPrivateKey, context: Self.context(keyID: stored.keyID, purpose: stored.purpose))
        return try SigningKey(pem: String(decoding: pem, as: UTF8.self), algorithm: algorithm, keyID: stored.keyID)
    }
}

/// Creating and rotating signing keys.
public enum KeyManagement {
    /// Creates the first key when the store has none that is published; it signs at once (nobody
    /// can hold an older JWKS). Returns the `kid` created, if any.
    public static func ensureKey(in store: any SigningKeyStore, sealing: KeySealing, algorithm: JWSAlgorithm, purpose: StoredSigningKey.Purpose = .access,
                                 now: Date) async throws -> String? {
        let stored = try await store.signingKeys().filter { $0.purpose == purpose }
        guard !stored.contains(where: { key in key.unpublishAt.map { now < $0 } ?? true }) else { return nil }
        let key = try SigningKey.generate(algorithm, rsaBits: 3072)
        try await store.addSigningKey(try sealing.seal(key, purpose: purpose, now: now, activatesAt: now), retiring: nil)
        return key.keyID
    }

    /// Publishes a new key now that signs after `propagation` seconds; the key signing now stops
    /// then and stays published for `retention` seconds more (the longest token lifetime plus
    /// leeway). Returns the new `kid` and when it starts signing.
    public static func rotate(in store: any SigningKeyStore, sealing: KeySealing, algorithm: JWSAlgorithm, purpose: StoredSigningKey.Purpose = .access,
                              now: Date, propagation: TimeInterval, retention: TimeInterval) async throws -> (keyID: String, activatesAt: Date) {
        let stored = try await store.signingKeys().filter { $0.purpose == purpose }
        let activatesAt = now.addingTimeInterval(propagation)
        // The key the new one replaces: the newest published key not yet scheduled to retire, active
        // or still waiting for its own activation (a second rotation within the propagation delay).
        let current = stored.filter { key in (key.unpublishAt.map { now < $0 } ?? true) && key.retiresAt == nil }
        let key = try SigningKey.generate(algorithm, rsaBits: 3072)
        let retiring = current.max { $0.activatesAt < $1.activatesAt }.map {
            (keyID: $0.keyID, retiresAt: activatesAt, unpublishAt: activatesAt.addingTimeInterval(retention))
        }
        try await store.addSigningKey(try sealing.seal(key, purpose: purpose, now: now, activatesAt: activatesAt), retiring: retiring)
        return (key.keyID, activatesAt)
    }
}
