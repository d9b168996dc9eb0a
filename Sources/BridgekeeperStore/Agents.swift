public import BridgekeeperAudit
public import BridgekeeperCore
public import BridgekeeperPolicy
public import Foundation

/// An AI agent's robot identity (issue 5): its own credential, a human owner, a grant that only
/// ever narrows what the owner may do, and how it acts.
public struct AgentRecord: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case active, disabled
    }

    /// How the agent proves who it is. Keys by default (`private_key_jwt`); a secret only where the
    /// configuration allows it.
    public enum Credential: Sendable, Hashable {
        /// Its public keys, a JWK Set document (JSON text).
        case jwks(String)
        /// Where its public keys are published.
        case jwksURI(String)
        /// A `SecretHash` in its encoded form (never the secret).
        case secretHash(String)
    }

    /// The agent's id: its `client_id`, and the `sub` of the tokens it gets acting as itself.
    public let id: String
    public let displayName: String
    /// The human who owns it, as their IdP names them.
    public let owner: SubjectKey
    public let credential: Credential
    public let grant: AgentGrant
    public let mode: AgentMode
    public let status: Status
    public let createdAt: Date
    public let updatedAt: Date

    public init(id: String, displayName: String, owner: SubjectKey, credential: Credential, grant: AgentGrant, mode: AgentMode,
                status: Status = .active, createdAt: Date, updatedAt: Date? = nil) {
        self.id = id
        self.displayName = displayName
        self.owner = owner
        self.credential = credential
        self.grant = grant
        self.mode = mode
        self.status = status
        self.createdAt = Date(timeIntervalSince1970: createdAt.timeIntervalSince1970.rounded(.down))
        self.updatedAt = Date(timeIntervalSince1970: (updatedAt ?? createdAt).timeIntervalSince1970.rounded(.down))
    }

    /// The same agent with another status, as of `time`.
    public func with(status: Status, at time: Date) -> AgentRecord {
        AgentRecord(id: id, displayName: displayName, owner: owner, credential: credential, grant: grant, mode: mode, status: status,
                    createdAt: createdAt, updatedAt: time)
    }

    /// The same agent with another credential (a key rotation), as of `time`.
    public func with(credential: Credential, at time: Date) -> AgentRecord {
        AgentRecord(id: id, displayName: displayName, owner: owner, credential: credential, grant: grant, mode: mode, status: status,
                    createdAt: createdAt, updatedAt: time)
    }
}

/// The agent registry. Every change is written with its audit record, both durable before the
/// call returns.
public protocol AgentRegistry: Sendable {
    func agent(id: String) async throws -> AgentRecord?
    /// The agents of `owner`, or every agent when nil, by id.
    func agents(ownedBy owner: SubjectKey?) async throws -> [AgentRecord]
    /// Adds `agent` and appends `audit`; false (nothing written) when the id is taken.
    func addAgent(_ agent: AgentRecord, audit: AuditEvent) async throws -> Bool
    /// Sets one agent's status and appends `audit`; nil (nothing written) when there is none.
    /// Each change touches only its own columns, so two administrators acting at once never undo
    /// each other (a rotation cannot re-enable a disabled agent, a disable cannot restore a key).
    ///
    /// Disabling also revokes, in the same transaction, every live token the agent holds (as
    /// itself or for its owner: unrevoked, unexpired at `time`), each with the audit record
    /// `revocation` makes of it, so introspection, the revocation feed and receipts see it at once.
    /// Returns those tokens (none when enabling).
    func setAgentStatus(id: String, _ status: AgentRecord.Status, at time: Date, audit: AuditEvent,
                        revocation: @escaping @Sendable (IssuedToken) -> AuditEvent) async throws -> [IssuedToken]?
    /// Replaces one agent's credential and appends `audit`; false (nothing written) when there is none.
    func setAgentCredential(id: String, _ credential: AgentRecord.Credential, at time: Date, audit: AuditEvent) async throws -> Bool
}

/// What an owner's offboarding did, in one transaction: the agents it disabled and the tokens it
/// revoked (the owner's own and every agent's).
public struct OwnerOffboarding: Sendable, Hashable {
    public let agentsDisabled: [String]
    public let tokensRevoked: [IssuedToken]
    /// Asked to disable, but an enable that occurred later stands (`StatusOrder`): the person and
    /// their agents stay as they are; their tokens were still revoked.
    public let disableSuperseded: Bool

    public init(agentsDisabled: [String], tokensRevoked: [IssuedToken], disableSuperseded: Bool = false) {
        self.agentsDisabled = agentsDisabled
        self.tokensRevoked = tokensRevoked
        self.disableSuperseded = disableSuperseded
    }
}

/// The order of a person's status changes (issue 18): a disable or an enable counts as of the time
/// its event occurred (a SET's `event_timestamp` or `iat`, an Okta event's `published`, the moment
/// SCIM or an operator spoke), never as of when it reached us. The store keeps the event time of
/// the last change it applied, so a late "enable" cannot undo a newer "disable", nor a late
/// "disable" a newer "enable". At the same instant the disable wins: fail closed. Revocation of
/// tokens is not ordered: a late disable still revokes.
public enum StatusOrder {
    /// Whether a disable that occurred at `asOf` leaves the person disabled: yes when they are
    /// already, or when no later enable stands.
    public static func disables(asOf: Date, lastChange: Date?, disabled: Bool) -> Bool {
        disabled || lastChange.map { asOf >= $0 } ?? true
    }

    /// Whether an enable that occurred at `asOf` enables a disabled person: only when it is
    /// strictly newer than the change that disabled them.
    public static func enables(asOf: Date, lastChange: Date?) -> Bool {
        lastChange.map { asOf > $0 } ?? true
    }

    /// The stored form of an event time: whole milliseconds since 1970.
    public static func milliseconds(_ time: Date) -> Int64 { Int64((time.timeIntervalSince1970 * 1000).rounded(.down)) }

    public static func date(milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
}

/// What an enable did (`SignalInbox.completeEnabling`).
public enum EnableOutcome: Sendable, Hashable {
    /// The person was disabled and no longer is.
    case enabled
    /// The person was not disabled; nothing changed but the time of their last status change.
    case notDisabled
    /// A disable that occurred at or after the enable stands (at `lastChange`); nothing changed.
    case superseded(lastChange: Date)
}

/// What `recordAttributes` did.
public enum AttributeRecording: Sendable, Hashable {
    /// Written; the attributes replaced (nil when there were none).
    case recorded(previous: SubjectAttributes?)
    /// Not written: the stored attributes are newer than the news; they stay.
    case stale(current: SubjectAttributes, asOf: Date)
}

/// What bounds an agent by its owner (issue 5): the owner's current groups and roles, their status,
/// and the cascade when either changes.
public protocol OwnerDirectory: Sendable {
    /// What the organisation last said about `subject`'s groups and roles, and when.
    func attributes(of subject: SubjectKey) async throws -> (attributes: SubjectAttributes, updatedAt: Date)?
    /// Records `attributes` as `subject`'s current ones, true as of `asOf` (a token's `iat`, a
    /// signal's time), unless the stored ones are newer: a change stored after `asOf` (or at the same
    /// second, unless `winsTie`) is never overwritten by older news, so an old, still-valid ID token
    /// cannot write back a group that SCIM or Shared Signals has since removed. Atomic.
    func recordAttributes(_ attributes: SubjectAttributes, of subject: SubjectKey, asOf: Date, winsTie: Bool) async throws -> AttributeRecording
    /// Tokens issued to agents of `owner` that are neither revoked nor expired at `now`.
    func liveAgentTokens(ownedBy owner: SubjectKey, now: Date) async throws -> [IssuedToken]
    /// Revokes each token not yet revoked and appends its audit record, in one transaction; the
    /// jtis revoked (a token already revoked is skipped, with no record).
    func revoke(_ revocations: [(jti: String, audit: AuditEvent)], at time: Date) async throws -> [String]
    /// In one transaction: when `disable`, disables `subject` (no new tokens) and their active
    /// agents, unless an enable that occurred after `asOf` stands (`StatusOrder`; the outcome says
    /// `disableSuperseded`), and records `asOf` as their last status change; always moves their revocation epoch to the second after `time` (tokens of theirs
    /// issued before it are dead) and revokes every live token of theirs and of all their agents;
    /// writes the records `records` makes of what was done (audit, receipt, the signal completed);
    /// when `records` throws, nothing is written. Idempotent: a second call finds nothing more to
    /// revoke or disable.
    func revokeSubject(_ subject: SubjectKey, at time: Date, disable: Bool, asOf: Date,
                       records: @escaping @Sendable (OwnerOffboarding) throws -> RevocationRecords) async throws -> OwnerOffboarding
    /// Live (unrevoked, unexpired) tokens of `owner` and of all their agents, by jti.
    func liveTokens(ofOwner owner: SubjectKey, now: Date) async throws -> [IssuedToken]
}

extension OwnerDirectory {
    /// `revokeSubject` of a change that occurs now (`asOf` is `time`).
    public func revokeSubject(_ subject: SubjectKey, at time: Date, disable: Bool,
                              records: @escaping @Sendable (OwnerOffboarding) throws -> RevocationRecords) async throws -> OwnerOffboarding {
        try await revokeSubject(subject, at: time, disable: disable, asOf: time, records: records)
    }

    /// An offboarding: `revokeSubject` with the subject and their agents disabled.
    public func disableOwner(_ owner: SubjectKey, at time: Date,
                             audit: @escaping @Sendable (OwnerOffboarding) -> [AuditEvent]) async throws -> OwnerOffboarding {
        try await revokeSubject(owner, at: time, disable: true, audit: audit)
    }
}
