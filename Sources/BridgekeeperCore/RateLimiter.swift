public import Foundation
import Synchronization

/// Token buckets by key (a client id, a remote address): `rate` requests per second sustained,
/// `burst` at once. Time is an input. Idle buckets are dropped once full again, so memory is bounded
/// by the keys active within one refill period.
public final class RateLimiter: Sendable {
    public enum Decision: Sendable, Equatable {
        case admit
        /// Refused; retry after this many whole seconds (at least 1).
        case refuse(retryAfter: Int)
    }

    struct Bucket {
        var tokens: Double
        var updated: Date
    }

    public let rate: Double
    public let burst: Double
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(rate: Double, burst: Int) {
        self.rate = max(rate, 0.001)
        self.burst = Double(max(burst, 1))
    }

    public func admit(_ key: String, now: Date) -> Decision {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            let elapsed = max(0, now.timeIntervalSince(bucket.updated))
            bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
            bucket.updated = now
            if buckets.count > 100_000 { buckets = buckets.filter { $0.value.tokens + now.timeIntervalSince($0.value.updated) * rate < burst } }
            guard bucket.tokens >= 1 else {
                buckets[key] = bucket
                return .refuse(retryAfter: max(1, Int(((1 - bucket.tokens) / rate).rounded(.up))))
            }
            bucket.tokens -= 1
            buckets[key] = bucket
            return .admit
        }
    }
}

/// The per-credential limits of the authenticated routes (issue 18 §3), keyed by the identity a
/// request claims (a client id, or for a bearer secret with no claimed identity, the route's source
/// and the peer address), and checked before any credential is:
///
/// - `requests`: every request (`rate_limits.per_client`);
/// - `secretChecks`: checks of a stretched (PBKDF2) secret that is not already known good
///   (`rate_limits.per_client_secret_checks`), the expensive ones: a flood of wrong secrets for a
///   known client costs at most this many PBKDF2 runs a second, and a client whose secret verified
///   before never spends from it.
public struct CredentialLimits: Sendable {
    public let requests: RateLimiter?
    public let secretChecks: RateLimiter?

    public init(requests: RateLimiter? = nil, secretChecks: RateLimiter? = nil) {
        self.requests = requests
        self.secretChecks = secretChecks
    }

    public static let none = CredentialLimits()

    /// The whole seconds to wait when `key` is over its request limit at `now`; nil when admitted.
    public func refuseRequest(_ key: String, now: Date) -> Int? {
        guard let requests, case .refuse(let retryAfter) = requests.admit(key, now: now) else { return nil }
        return retryAfter
    }

    /// The whole seconds to wait when `key` may not have another stretched secret checked at `now`.
    public func refuseSecretCheck(_ key: String, now: Date) -> Int? {
        guard let secretChecks, case .refuse(let retryAfter) = secretChecks.admit(key, now: now) else { return nil }
        return retryAfter
    }
}
