public import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperPolicy
public import BridgekeeperStore
public import Foundation
internal import SQLiteNIO

/// What bounds an agent by its owner, on SQLite: the owner's last known groups and roles, and the
/// cascade of an owner's offboarding, each change in one writer transaction with its records.
extension SQLiteStore {
    public func attributes(of subject: SubjectKey) async throws -> (attributes: SubjectAttributes, updatedAt: Date)? {
        guard let row = try await read("SELECT * FROM subject_attributes WHERE subject_key = ?", [.text(subject.storageKey)]).first else {
            return nil
        }
        guard let groups = row.column("groups_json")?.string, let roles = row.column("roles_json")?.string,
              let seconds = row.column("updated_at")?.integer else { throw CorruptRow(table: "subject_attributes", column: "*") }
        return (SubjectAttributes(origin: SubjectOrigin(subject), groups: try Self.strings(groups), roles: try Self.strings(roles)),
                Date(timeIntervalSince1970: Double(seconds)))
    }

    /// `updated_at` holds the time the stored attributes are true as of (whole seconds).
    public func recordAttributes(_ attributes: SubjectAttributes, of subject: SubjectKey, asOf: Date, winsTie: Bool) async throws -> AttributeRecording {
        let seconds = Int(asOf.timeIntervalSince1970.rounded(.down))
        let binds: [SQLiteData] = [.text(subject.storageKey), .text(Self.json(attributes.groups)), .text(Self.json(attributes.roles)), .integer(seconds)]
        // The stored row (groups, roles, as-of seconds) and whether the news replaced it.
        let (old, written): ((String, String, Int)?, Bool) = try await exclusive { db in
            var old: (String, String, Int)? = nil
            if let row = try await db.query("SELECT groups_json, roles_json, updated_at FROM subject_attributes WHERE subject_key = ?", [binds[0]]).first {
                guard let groups = row.column("groups_json")?.string, let roles = row.column("roles_json")?.string,
                      let stored = row.column("updated_at")?.integer else { throw CorruptRow(table: "subject_attributes", column: "*") }
                old = (groups, roles, stored)
                if stored > seconds || (stored == seconds && !winsTie) { return (old, false) }
            }
            _ = try await db.query("""
                INSERT INTO subject_attributes (subject_key, groups_json, roles_json, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (subject_key) DO UPDATE SET groups_json = excluded.groups_json, roles_json = excluded.roles_json,
                                                       updated_at = excluded.updated_at
                """, binds)
            return (old, true)
        }
        guard let (groups, roles, stored) = old else { return .recorded(previous: nil) }
        let attributes = SubjectAttributes(origin: SubjectOrigin(subject), groups: try Self.strings(groups), roles: try Self.strings(roles))
        return written ? .recorded(previous: attributes) : .stale(current: attributes, asOf: Date(timeIntervalSince1970: Double(stored)))
    }

    public func liveAgentTokens(ownedBy owner: SubjectKey, now: Date) async throws -> [IssuedToken] {
        let rows = try await read("""
            SELECT t.* FROM issued_tokens t JOIN agents a ON a.id = t.agent_id
            WHERE a.owner_issuer = ? AND a.owner_subject = ? AND coalesce(a.owner_tenant, '') = ?
              AND t.revoked_at IS NULL AND t.expires_at > ? ORDER BY t.jti
            """, [.text(owner.issuer), .text(owner.subject), .text(owner.tenant ?? ""), .integer(Int(now.timeIntervalSince1970))])
        return try rows.map { try Self.tokenState($0).token }
    }

    public func revoke(_ revocations: [(jti: String, audit: AuditEvent)], at time: Date) async throws -> [String] {
        let seconds = Int(time.timeIntervalSince1970)
        let pairs = revocations.map { ($0.jti, $0.audit) }
        return try await auditedMany { db in
            var revoked: [String] = []
            var events: [AuditEvent] = []
            for (jti, event) in pairs {
                let rows = try await db.query("UPDATE issued_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL RETURNING jti",
                                              [.integer(seconds), .text(jti)])
                if !rows.isEmpty {
                    revoked.append(jti)
                    events.append(event)
                }
            }
            return (revoked, events)
        }
    }

    public func revokeSubject(_ owner: SubjectKey, at time: Date, disable: Bool, asOf: Date,
                              records: @escaping @Sendable (OwnerOffboarding) throws -> RevocationRecords) async throws -> OwnerOffboarding {
        let seconds = Int(time.timeIntervalSince1970)
        let ownerBinds: [SQLiteData] = [.text(owner.issuer), .text(owner.subject), .text(owner.tenant ?? "")]
        return try await auditedMany { db in
            var agents: [SQLiteRow] = []
            var superseded = false
            if disable {
                let (disabled, lastChange) = try await Self.status(owner.storageKey, db)
                superseded = !StatusOrder.disables(asOf: asOf, lastChange: lastChange, disabled: disabled)
                try await Self.noteStatusChange(owner.storageKey, asOf: asOf, db)
            }
            if disable && !superseded {
                _ = try await db.query("INSERT INTO disabled_subjects (subject_key, disabled_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                       [.text(owner.storageKey), .integer(seconds)])
                agents = try await db.query("""
                    UPDATE agents SET status = 'disabled', updated_at = ?
                    WHERE owner_issuer = ? AND owner_subject = ? AND coalesce(owner_tenant, '') = ? AND status = 'active' RETURNING id
                    """, [.integer(seconds)] + ownerBinds)
            }
            _ = try await db.query("""
                INSERT INTO subject_epochs (subject_key, not_before) VALUES (?, ?)
                ON CONFLICT (subject_key) DO UPDATE SET not_before = max(not_before, excluded.not_before)
                """, [.text(owner.storageKey), .integer(Int(SubjectStanding.epoch(after: time).timeIntervalSince1970))])
            let tokens = try await db.query("UPDATE issued_tokens SET revoked_at = ? WHERE \(Self.liveOwnerTokens) RETURNING *",
                                            [.integer(seconds), .integer(seconds)] + ownerBinds + ownerBinds)
            let outcome = OwnerOffboarding(
                agentsDisabled: agents.compactMap { $0.column("id")?.string }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) },
                tokensRevoked: try tokens.map { try Self.tokenState($0).token }.sorted { Array($0.jti.utf8).lexicographicallyPrecedes(Array($1.jti.utf8)) },
                disableSuperseded: superseded)
            let written = try records(outcome)
            if var receipt = written.receipt {
                // This job runs alone in its batch, so its records are chained right after the
                // head read here: the receipt's last record is head + count.
                receipt.auditSequence = try await Self.auditHead(db) + Int64(written.audit.count)
                try await Self.insert(receipt, db)
            }
            if let signal = written.completes { try await Self.markCompleted(signal, at: seconds, db) }
            return (outcome, written.audit)
        }
    }

    public func standing(of subject: SubjectKey) async throws -> SubjectStanding {
        let rows = try await read("""
            SELECT EXISTS (SELECT 1 FROM disabled_subjects WHERE subject_key = ?) AS disabled,
                   (SELECT not_before FROM subject_epochs WHERE subject_key = ?) AS not_before
            """, [.text(subject.storageKey), .text(subject.storageKey)])
        let epoch = rows.first?.column("not_before").flatMap { $0.isNull ? nil : $0.integer }
        return SubjectStanding(disabled: rows.first?.column("disabled")?.integer == 1,
                               revokedBefore: epoch.map { Date(timeIntervalSince1970: Double($0)) })
    }

    public func liveTokens(ofOwner owner: SubjectKey, now: Date) async throws -> [IssuedToken] {
        let ownerBinds: [SQLiteData] = [.text(owner.issuer), .text(owner.subject), .text(owner.tenant ?? "")]
        return try await read("SELECT * FROM issued_tokens WHERE \(Self.liveOwnerTokens) ORDER BY jti",
                              [.integer(Int(now.timeIntervalSince1970))] + ownerBinds + ownerBinds).map { try Self.tokenState($0).token }
    }

    /// The live tokens of a person and of every agent they own: binds the time, then the owner's
    /// issuer, subject and tenant twice. The owner's own tokens include those their agents got on
    /// their behalf (whose subject is the owner); every agent's, active or already disabled.
    static let liveOwnerTokens = """
        revoked_at IS NULL AND expires_at > ?
          AND ((issuer = ? AND subject = ? AND coalesce(tenant, '') = ?)
               OR agent_id IN (SELECT id FROM agents WHERE owner_issuer = ? AND owner_subject = ? AND coalesce(owner_tenant, '') = ?))
        """

    static func json(_ values: [String]) -> String { JSONValue.array(values.map(JSONValue.string)).serialized() }

    static func strings(_ text: String) throws -> [String] {
        guard case .array(let values) = try JSONValue.parse(text) else { throw CorruptRow(table: "subject_attributes", column: "json") }
        return values.compactMap(\.stringValue)
    }
}
