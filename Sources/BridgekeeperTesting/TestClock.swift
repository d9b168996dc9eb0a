public import BridgekeeperCore
public import Foundation
import Synchronization

/// The one clock tests move (STYLE: time is an input). It starts at a fixed instant, never reads
/// the real time, and moves only when the test says: `advance(_:)` forward by seconds, `set(_:)` to
/// an instant. Thread-safe, so a server under test and the test body can share it.
public final class TestClock: WallClock, Sendable {
    /// 2026-11-22 00:00:00 UTC: an arbitrary fixed instant for tests that need no particular one.
    public static let defaultStart = Date(timeIntervalSince1970: 1_795_262_400)

    private let instant: Mutex<Date>

    public init(_ start: Date = TestClock.defaultStart) { instant = Mutex(start) }

    public func now() -> Date { instant.withLock { $0 } }

    public func advance(_ seconds: TimeInterval) { instant.withLock { $0 = $0.addingTimeInterval(seconds) } }

    public func set(_ time: Date) { instant.withLock { $0 = time } }
}

/// The real clock plus an offset the test moves forward, for tests against real processes or
/// timers (an interval passes without waiting for it, however slowly a loaded machine runs).
public final class SteppedClock: WallClock, Sendable {
    private let offset = Mutex<TimeInterval>(0)

    public init() {}

    public func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }

    public func advance(by seconds: TimeInterval) { offset.withLock { $0 += seconds } }
}
