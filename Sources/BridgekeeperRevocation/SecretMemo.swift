import BridgekeeperCore
import BridgekeeperJOSE
import Foundation
import Synchronization
import BridgekeeperKeys

/// The static secrets signal sources present (a SCIM bearer token, an SSF push authorization, an
/// Okta hook header), checked against their hash once per process: a secret that matched is
/// remembered by its SHA-256 with the source it belongs to, so later calls cost a hash, not a PBKDF2.
///
/// These routes have no claimed identity, so their per-credential limits (`limits`, issue 18 §3)
/// are keyed by the route's source and the peer address (`limitKey`): every request is counted
/// before anything is checked, and a PBKDF2 check of a secret not seen before only within
/// `secretChecks`. A `sha256$` hash (a generated secret) costs one hash and needs no such limit.
final class SecretMemo: Sendable {
    private let matched = Mutex<[String: String]>([:])
    let limits: CredentialLimits

    init(limits: CredentialLimits = .none) { self.limits = limits }

    enum Outcome: Equatable {
        case match, mismatch
        /// Not checked: the source's PBKDF2 budget is spent; retry after this many seconds.
        case refused(retryAfter: Int)
    }

    static func fingerprint(_ secret: String) -> String { Base64URL.encode(Digest.sha256(Array(secret.utf8))) }

    /// The limit key of a request to `route` (`scim`, `ssf:NAME`, `okta:NAME`) from `remote`.
    static func limitKey(_ route: String, remote: String?) -> String { route + "|" + (remote ?? "-") }

    /// The source `secret` matched before, if any.
    func source(of secret: String) -> String? {
        let fingerprint = Self.fingerprint(secret)
        return matched.withLock { $0[fingerprint] }
    }

    /// Whether `secret` matches `hash`, the secret of `source`; a stretched check not yet known good
    /// is first admitted by `limits.secretChecks` under `key`.
    func check(_ secret: String, _ hash: SecretHash, source: String, key: String, now: Date) -> Outcome {
        if self.source(of: secret) == source { return .match }
        if hash.isStretched, let retryAfter = limits.refuseSecretCheck(key, now: now) { return .refused(retryAfter: retryAfter) }
        guard hash.matches(secret) else { return .mismatch }
        let fingerprint = Self.fingerprint(secret)
        matched.withLock { entries in
            if entries.count > 1_000 { entries.removeAll() }
            entries[fingerprint] = source
        }
        return .match
    }
}
