import BridgekeeperGrants
import BridgekeeperJOSE
import Synchronization

/// The static secrets signal sources present (a SCIM bearer token, an SSF push authorization, an
/// Okta hook header), checked against their PBKDF2 hash once per process: a secret that matched is
/// remembered by its SHA-256 with the source it belongs to, so later calls cost a hash, not a PBKDF2.
final class SecretMemo: Sendable {
    private let matched = Mutex<[String: String]>([:])

    static func fingerprint(_ secret: String) -> String { Base64URL.encode(Digest.sha256(Array(secret.utf8))) }

    /// The source `secret` matched before, if any.
    func source(of secret: String) -> String? {
        let fingerprint = Self.fingerprint(secret)
        return matched.withLock { $0[fingerprint] }
    }

    /// Whether `secret` matches `hash`, the secret of `source`.
    func matches(_ secret: String, _ hash: SecretHash, source: String) -> Bool {
        if self.source(of: secret) == source { return true }
        guard hash.matches(secret) else { return false }
        let fingerprint = Self.fingerprint(secret)
        matched.withLock { entries in
            if entries.count > 1_000 { entries.removeAll() }
            entries[fingerprint] = source
        }
        return true
    }
}
