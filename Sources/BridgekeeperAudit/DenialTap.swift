import Synchronization

/// The denials audited while one request is handled, so that the HTTP layer can log each refusal
/// once, in one place, whichever endpoint refused (token, introspection, revocation, the feed,
/// SCIM, Shared Signals, event hooks, the management API).
///
/// The HTTP layer installs a tap for the request (`DenialTap.$current.withValue`); a store calls
/// `note` once an audit record is durable, in the task that appended it, so the tap sees exactly
/// the denials recorded for that request. Without a tap (the CLI, background pollers) nothing is
/// kept.
public final class DenialTap: Sendable {
    @TaskLocal public static var current: DenialTap?

    private let noted = Mutex<[AuditEvent]>([])

    public init() {}

    /// Keeps `event` on the current task's tap when it is a denial.
    public static func note(_ event: AuditEvent) {
        guard event.kind == .denial, let tap = current else { return }
        tap.noted.withLock { $0.append(event) }
    }

    /// The denials noted so far, in the order they were recorded.
    public var denials: [AuditEvent] { noted.withLock { $0 } }
}
