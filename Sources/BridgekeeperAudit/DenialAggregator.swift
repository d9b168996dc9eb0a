public import BridgekeeperCore
public import Foundation
import Synchronization

/// Turns a flood of refused authentications into a bounded number of audit records (issue 18 §3):
/// per (route, source, reason), where the source is the client id the request named or else the
/// peer address, the first refusal of an interval is recorded at once, as any refusal is, and the
/// later ones of that interval are only counted; when the interval has ended, one aggregate record
/// with their `count` follows (written at the next refusal through the aggregator, by the server's
/// maintenance loop, or at shutdown, whichever comes first).
///
/// Only the reasons given at `init` are aggregated (failed authentication, rate limits): any other
/// denial is a decision about a request and is recorded each time. Memory is bounded: past
/// `maxKeys` open intervals, new sources of a route and reason share one catch-all key (source
/// `*`), whose records (the first at once, then the aggregate) name no client or address.
///
/// Pure state behind a lock; time is an input. The HTTP layer installs it per request with the
/// route (`current`); `AuditLog.appendRefusal` consults it.
public final class DenialAggregator: Sendable {
    public struct Key: Hashable, Sendable {
        public let route: String
        public let source: String
        public let reason: ReasonCode
    }

    struct Window {
        var opened: Date
        var first: AuditEvent
        var count: Int64
    }

    /// The aggregator and route of the request being handled, installed by the HTTP layer.
    public struct Scope: Sendable {
        public let aggregator: DenialAggregator
        public let route: String

        public init(aggregator: DenialAggregator, route: String) {
            self.aggregator = aggregator
            self.route = route
        }
    }

    @TaskLocal public static var current: Scope?

    /// The source of the catch-all key once `maxKeys` intervals are open.
    public static let catchAll = "*"

    public let interval: TimeInterval
    public let maxKeys: Int
    public let reasons: Set<ReasonCode>
    private let state = Mutex<(windows: [Key: Window], nextDue: Date)>(([:], .distantFuture))

    public init(interval: TimeInterval = 60, maxKeys: Int = 10_000, reasons: Set<ReasonCode>) {
        self.interval = max(interval, 0)
        self.maxKeys = max(maxKeys, 1)
        self.reasons = reasons
    }

    /// What to write for `event`, refused on `route` at `now`: the event itself (with its route)
    /// when it opens an interval or is not aggregated, nil when it was counted; and before it, the
    /// aggregates of intervals that have ended.
    public func admit(_ event: AuditEvent, route: String, now: Date) -> (record: AuditEvent?, due: [AuditEvent]) {
        guard event.kind == .denial, reasons.contains(event.reason), interval > 0 else { return (event, due(now: now)) }
        return state.withLock { state in
            let due = Self.takeDue(&state, now: now, interval: interval)
            var key = Key(route: route, source: event.clientID ?? event.remoteAddress ?? "-", reason: event.reason)
            if state.windows[key] == nil, state.windows.count >= maxKeys {
                key = Key(route: route, source: Self.catchAll, reason: event.reason)
            }
            if state.windows[key] != nil {
                state.windows[key]!.count += 1
                return (nil, due)
            }
            var first = event
            first.route = route
            if key.source == Self.catchAll {
                // Whose refusals share the catch-all is not known: the aggregate names none of them.
                first.clientID = nil
                first.remoteAddress = nil
                first.performedBy = nil
            }
            state.windows[key] = Window(opened: now, first: first, count: 0)
            state.nextDue = min(state.nextDue, now.addingTimeInterval(interval))
            return (first, due)
        }
    }

    /// The aggregates of the intervals that have ended by `now` (those that counted anything); their
    /// keys start afresh.
    public func due(now: Date) -> [AuditEvent] {
        state.withLock { Self.takeDue(&$0, now: now, interval: interval) }
    }

    /// Every aggregate still open, ended or not (at shutdown).
    public func drain(now: Date) -> [AuditEvent] {
        state.withLock { state in
            let open = state.windows.values.sorted { $0.opened < $1.opened }
            state.windows = [:]
            state.nextDue = .distantFuture
            return open.compactMap { Self.aggregate($0, at: now) }
        }
    }

    /// How many intervals are open (for tests of the bound).
    public var openCount: Int { state.withLock { $0.windows.count } }

    private static func takeDue(_ state: inout (windows: [Key: Window], nextDue: Date), now: Date, interval: TimeInterval) -> [AuditEvent] {
        guard now >= state.nextDue else { return [] }
        var ended: [Window] = []
        var next = Date.distantFuture
        for (key, window) in state.windows {
            let end = window.opened.addingTimeInterval(interval)
            if now >= end {
                ended.append(window)
                state.windows[key] = nil
            } else {
                next = min(next, end)
            }
        }
        state.nextDue = next
        return ended.sorted { $0.opened < $1.opened }.compactMap { aggregate($0, at: now) }
    }

    /// The record of the refusals counted in `window`, nil when there were none beyond the first.
    private static func aggregate(_ window: Window, at now: Date) -> AuditEvent? {
        guard window.count > 0 else { return nil }
        let first = window.first
        var event = AuditEvent(kind: .denial, reason: first.reason, time: now, clientID: first.clientID,
                               remoteAddress: first.remoteAddress, performedBy: first.performedBy)
        event.route = first.route
        event.count = window.count
        return event
    }
}
