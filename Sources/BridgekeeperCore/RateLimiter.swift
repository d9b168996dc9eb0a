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
