public import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperPolicy
public import Foundation

/// A revocation signal as received (issue 6): who said it (SCIM, Shared Signals, an Okta Event Hook,
/// an operator), about whom, and what it asks for. It is written to the inbox, durable, before its
/// source is answered; processing it completes it.
public struct InboundSignal: Sendable, Hashable {
    public enum Source: String, Sendable, Hashable, CaseIterable {
        case scim
        /// A Shared Signals transmitter (a SET pushed or polled).
        case ssf
        case oktaEventHook = "okta_event_hook"
        /// An operator, with the CLI or the management API.
        case `operator`
    }

    /// The `action` a signal asks for.
    public enum Action: Sendable, Hashable {
        /// Disable the person and their agents; revoke every token of theirs and their agents'.
        case offboard
        /// Revoke every token of the person and their agents; nobody is disabled.
        case revokeSessions
        /// Let a disabled person get tokens again; nothing revoked comes back.
        case enable
        /// The person's groups or roles are now these (nil: unchanged): feed policy, and revoke the
        /// tokens of theirs and their agents that now exceed it.
        case attributes(groups: [String]?, roles: [String]?)
        /// The person left this group (their other groups unchanged): the same narrowing.
        case leaveGroup(String)

        public var name: String {
            switch self {
            case .offboard: "offboard"
            case .revokeSessions: "revoke_sessions"
            case .enable: "enable"
            case .attributes: "attributes"
            case .leaveGroup: "leave_group"
            }
        }
    }

    /// Ours: `sig_` and 128 random bits.
    public let id: String
    public let source: Source
    /// The configured connection it came through (a SCIM connection, a transmitter, a hook), or
    /// the operator who acted.
    public let connection: String
    /// The source's own id for it (a SET's `jti`, an Okta event's `uuid`): one signal per id and
    /// connection, whatever the retries. Nil for sources that are idempotent by state (SCIM).
    public let externalID: String?
    /// The source's event type (a SET event URI, an Okta event type, `scim:…`, `cli:…`).
    public let event: String
    public let subject: SubjectKey
    public let action: Action
    public let receivedAt: Date
    /// When the event happened, as its source says (a SET's `event_timestamp` or `iat`, an Okta
    /// event's `published`, never later than its arrival: `SignalProcessor.signal`); for SCIM and operators, the moment it was
    /// received. Status changes and attributes are ordered by it (`StatusOrder`). Whole milliseconds.
    public let occurredAt: Date

    public init(id: String, source: Source, connection: String, externalID: String?, event: String, subject: SubjectKey, action: Action,
                receivedAt: Date, occurredAt: Date? = nil) {
        self.id = id
        self.source = source
        self.connection = connection
        self.externalID = externalID
        self.event = event
        self.subject = subject
        self.action = action
        self.receivedAt = Date(timeIntervalSince1970: receivedAt.timeIntervalSince1970.rounded(.down))
        self.occurredAt = StatusOrder.date(milliseconds: StatusOrder.milliseconds(occurredAt ?? receivedAt))
    }

    /// Who acted, for the audit's `by`: `scim:CONNECTION`, `ssf:…`, `okta_event_hook:…`, or the
    /// operator's own performer string.
    public var performer: String { source == .operator ? connection : "\(source.rawValue):\(connection)" }

    /// The audit record of its arrival in the inbox.
    public var receivedEvent: AuditEvent {
        AuditEvent(kind: .administration, reason: .signalReceived, time: receivedAt, issuer: subject.issuer, tenant: subject.tenant,
                   subject: subject.subject, principalClass: PrincipalClass.human.rawValue, performedBy: performer)
    }
}

extension ReasonCode {
    /// A revocation signal reached the inbox (durable, pending).
    public static let signalReceived = ReasonCode("signal_received")
}

/// What the inbox did with a signal.
public enum SignalReceipt: Sendable, Hashable {
    /// Written, durable, pending.
    case accepted
    /// The same source and id was received before (as `signalID`); nothing written.
    case duplicate(signalID: String)
}

/// A signed revocation receipt (issue 6): the evidence of one offboarding, as a JWS.
public struct StoredReceipt: Sendable, Hashable {
    /// `rcpt_` and 128 random bits.
    public let id: String
    public let subject: SubjectKey
    /// The signal that caused it.
    public let signalID: String
    public let issuedAt: Date
    /// The compact JWS (`typ` `bridgekeeper-receipt+jwt`), signed with the broker's key.
    public let jws: String
    /// The last audit sequence of the transaction that wrote it, set by the store: a revocation
    /// feed stream that acknowledged through it has confirmed every revocation the receipt names.
    public var auditSequence: Int64?

    public init(id: String, subject: SubjectKey, signalID: String, issuedAt: Date, jws: String, auditSequence: Int64? = nil) {
        self.auditSequence = auditSequence
        self.id = id
        self.subject = subject
        self.signalID = signalID
        self.issuedAt = Date(timeIntervalSince1970: issuedAt.timeIntervalSince1970.rounded(.down))
        self.jws = jws
    }
}

/// What a revocation writes beside its changes, in the same transaction: the audit records, the
/// receipt, and the signal it completes.
public struct RevocationRecords: Sendable {
    public let audit: [AuditEvent]
    public let receipt: StoredReceipt?
    /// The inbox signal this work completes (nil for work no signal asked for).
    public let completes: String?

    public init(audit: [AuditEvent], receipt: StoredReceipt? = nil, completes: String? = nil) {
        self.audit = audit
        self.receipt = receipt
        self.completes = completes
    }
}

/// The durable inbox of revocation signals and the receipts of what they did (issue 6). A signal is
/// written before its source is answered; one that was answered but not yet processed (a crash in
/// between) is still pending at start-up, and processed then.
public protocol SignalInbox: Sendable {
    /// Writes `signal` as pending, with `audit`, unless the same connection already sent one with its
    /// `externalID`; durable before it returns.
    func receive(_ signal: InboundSignal, audit: AuditEvent?) async throws -> SignalReceipt
    /// Signals received and not yet completed, oldest first, at most `limit`.
    func pendingSignals(limit: Int) async throws -> [InboundSignal]
    /// A signal by id, and when it was completed (nil while pending).
    func signal(id: String) async throws -> (signal: InboundSignal, completedAt: Date?)?
    /// Completes `signalID` with `audit`, in one transaction. Completing a completed signal writes
    /// nothing.
    func completeSignal(_ signalID: String, at time: Date, audit: [AuditEvent]) async throws
    /// Completes `signalID`, an enable of `subject` that occurred at `asOf`, in one transaction:
    /// the person is no longer disabled unless a disable at or after `asOf` stands (`StatusOrder`),
    /// `asOf` is recorded as their last status change when it is the newest, and the records
    /// `audit` makes of the outcome are appended. A completed signal writes nothing (the outcome is
    /// still told).
    func completeEnabling(_ signalID: String, subject: SubjectKey, at time: Date, asOf: Date,
                          audit: @escaping @Sendable (EnableOutcome) -> [AuditEvent]) async throws -> EnableOutcome
    func receipt(id: String) async throws -> StoredReceipt?
    /// The receipts about `subject`, newest first.
    func receipts(of subject: SubjectKey) async throws -> [StoredReceipt]
}

extension OwnerDirectory {
    /// `revokeSubject` writing only audit records.
    public func revokeSubject(_ subject: SubjectKey, at time: Date, disable: Bool,
                              audit: @escaping @Sendable (OwnerOffboarding) -> [AuditEvent]) async throws -> OwnerOffboarding {
        try await revokeSubject(subject, at: time, disable: disable, asOf: time) { RevocationRecords(audit: audit($0)) }
    }
}
