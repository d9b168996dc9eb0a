public import BridgekeeperAudit
public import BridgekeeperCore
public import Foundation

/// Single-use marks, issued tokens and their audit records, written together (STYLE rule 10).
public protocol IssuanceLedger: Sendable {
    /// Atomically: if none of `marks` is present and `subject` (when given) is not disabled, inserts
    /// the marks, records `token` (when given) and appends `audit` (when given); durable before it
    /// returns. Otherwise writes nothing and returns `.replayed` with the first mark present, or
    /// else `.subjectDisabled`. Deciding inside the commit leaves no window between the check and
    /// the write (an offboarding that commits first is always seen).
    func commit(marks: [ReplayMark], token: IssuedToken?, audit: AuditEvent?, unlessDisabled subject: SubjectKey?) async throws -> CommitOutcome

    /// Whether `mark` is present (a read for the documented validation order; `commit` decides).
    func contains(_ mark: ReplayMark) async throws -> Bool

    /// What a refused issuance needs to know about its assertion's mark (when it has one) and its
    /// subject, read together (one round trip); the grant reports each in its documented place.
    func redemptionFacts(mark: ReplayMark?, subject: SubjectKey) async throws -> RedemptionFacts

    /// Deletes marks whose `expiresAt` is before `now`; the number deleted.
    func purgeExpiredMarks(now: Date) async throws -> Int
}

extension IssuanceLedger {
    /// `commit` with no subject condition.
    public func commit(marks: [ReplayMark], token: IssuedToken?, audit: AuditEvent?) async throws -> CommitOutcome {
        try await commit(marks: marks, token: token, audit: audit, unlessDisabled: nil)
    }
}

/// The append-only, hash-chained audit trail (see `AuditChain`).
public protocol AuditLog: Sendable {
    /// Appends one record (a denial, say), durable before it returns.
    func append(_ event: AuditEvent) async throws -> AuditRecord
    /// Records with sequence > `afterSequence`, in order, at most `limit`.
    func auditRecords(afterSequence: Int64, limit: Int) async throws -> [AuditRecord]
    /// The last record, if any.
    func lastAuditRecord() async throws -> AuditRecord?
}

extension AuditLog {
    /// Appends a refusal through the request's `DenialAggregator` (installed by the HTTP layer with
    /// the route), so that a flood of failed authentications writes one record per source, route
    /// and reason per interval: the refusal itself when it opens an interval (or is not of an
    /// aggregated kind), nothing when it was counted; first, the aggregates of intervals that have
    /// ended. Without an aggregator (the CLI, tests of one endpoint) it is `append`.
    ///
    /// - Returns: the record written for `event`, nil when it was counted.
    @discardableResult
    public func appendRefusal(_ event: AuditEvent) async throws -> AuditRecord? {
        guard let scope = DenialAggregator.current else { return try await append(event) }
        let (record, due) = scope.aggregator.admit(event, route: scope.route, now: event.time)
        try await flush(due)
        guard let record else { return nil }
        return try await append(record)
    }

    /// Appends aggregate records, outside any request's `DenialTap` (they are no refusal of the
    /// request that happens to write them).
    public func flush(_ aggregates: [AuditEvent]) async throws {
        guard !aggregates.isEmpty else { return }
        try await DenialTap.$current.withValue(nil) {
            for aggregate in aggregates { _ = try await append(aggregate) }
        }
    }
}

/// Issued tokens and their revocation (RFC 7009).
public protocol TokenRegistry: Sendable {
    func tokenState(jti: String) async throws -> TokenState?
    /// Atomically marks the token revoked and appends `audit`, durable before it returns.
    /// False (and nothing written) when the token is unknown or already revoked.
    func revoke(jti: String, at time: Date, audit: AuditEvent) async throws -> Bool
}

/// Subjects the organisation disabled (offboarding fills it; issue 6 adds its sources).
public protocol SubjectDirectory: Sendable {
    func isDisabled(_ subject: SubjectKey) async throws -> Bool
    func setDisabled(_ subject: SubjectKey, _ disabled: Bool, at time: Date) async throws
    /// Whether the subject is disabled, and their revocation epoch, in one read: what decides
    /// whether a token of theirs is still alive.
    func standing(of subject: SubjectKey) async throws -> SubjectStanding
}

/// Where a subject stands (issue 6).
public struct SubjectStanding: Sendable, Hashable {
    /// No new grants.
    public let disabled: Bool
    /// The revocation epoch: every token of theirs issued before it is dead, whatever its own
    /// record says. Nil when their tokens were never revoked as a whole.
    public let revokedBefore: Date?

    public init(disabled: Bool, revokedBefore: Date?) {
        self.disabled = disabled
        self.revokedBefore = revokedBefore
    }

    /// The epoch a revocation at `time` sets: the whole second after it, so a token issued in the
    /// revoking second (a request racing the revocation) is dead too.
    public static func epoch(after time: Date) -> Date { Date(timeIntervalSince1970: time.timeIntervalSince1970.rounded(.down) + 1) }

    /// Whether a token of this subject issued at `issuedAt` is still alive as far as the subject goes.
    public func allows(issuedAt: Date) -> Bool { !disabled && revokedBefore.map { issuedAt >= $0 } ?? true }
}

extension SubjectDirectory {
    /// The subject's revocation epoch (`standing(of:).revokedBefore`).
    public func revocationEpoch(of subject: SubjectKey) async throws -> Date? { try await standing(of: subject).revokedBefore }
}

/// Bridgekeeper's own signing keys.
public protocol SigningKeyStore: Sendable {
    func signingKeys() async throws -> [StoredSigningKey]
    /// Adds `key`; when `retiring` is given, in the same transaction sets that key's `retiresAt`
    /// and `unpublishAt`.
    func addSigningKey(_ key: StoredSigningKey, retiring: (keyID: String, retiresAt: Date, unpublishAt: Date)?) async throws
}

/// Everything the server needs from its store.
public typealias BridgekeeperStore = IssuanceLedger & AuditLog & TokenRegistry & SubjectDirectory & SigningKeyStore & AgentRegistry & OwnerDirectory
    & SignalInbox & SCIMStore & RevocationFeedStore
