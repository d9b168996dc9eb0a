public import Foundation

/// The source of "now". Decisions take time as an input; only `SystemClock` reads the real clock,
/// so every check is a pure function of its inputs and tests fix the time (STYLE rule 4).
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The machine's clock.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that always answers the same instant: for tests and for "was this valid at T?" checks.
public struct FixedClock: WallClock {
    public let instant: Date
    public init(_ instant: Date) { self.instant = instant }
    public func now() -> Date { instant }
}
