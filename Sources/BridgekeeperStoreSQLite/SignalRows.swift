public import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
public import BridgekeeperStore
public import Foundation
internal import SQLiteNIO

/// The signal inbox and the revocation receipts on SQLite (issue 6).
extension SQLiteStore {
    public func receive(_ signal: InboundSignal, audit: AuditEvent?) async throws -> SignalReceipt {
        return try await auditedMany { db in
            if let external = signal.externalID {
                let earlier = try await db.query("SELECT id FROM signals WHERE source = ? AND connection = ? AND external_id = ?",
                                                 [.text(signal.source.rawValue), .text(signal.connection), .text(external)])
                if let id = earlier.first?.column("id")?.string { return (SignalReceipt.duplicate(signalID: id), []) }
            }
            try await Self.insert(signal, db)
            return (SignalReceipt.accepted, audit.map { [$0] } ?? [])
        }
    }

    public func pendingSignals(limit: Int) async throws -> [InboundSignal] {
        try await read("SELECT * FROM signals WHERE completed_at IS NULL ORDER BY received_at, id LIMIT ?", [.integer(max(limit, 0))])
            .map { try Self.signal($0) }
    }

    public func signal(id: String) async throws -> (signal: InboundSignal, completedAt: Date?)? {
        guard let row = try await read("SELECT * FROM signals WHERE id = ?", [.text(id)]).first else { return nil }
        let completed = row.column("completed_at").flatMap { $0.isNull ? nil : $0.integer }
        return (try Self.signal(row), completed.map { Date(timeIntervalSince1970: Double($0)) })
    }

    public func completeSignal(_ signalID: String, at time: Date, audit: [AuditEvent]) async throws {
        let seconds = Int(time.timeIntervalSince1970)
        try await auditedMany { db in
            guard try await Self.isPending(signalID, db) else { return ((), []) }
            try await Self.markCompleted(signalID, at: seconds, db)
            return ((), audit)
        }
    }

    public func completeEnabling(_ signalID: String, subject: SubjectKey, at time: Date, asOf: Date,
                                 audit: @escaping @Sendable (EnableOutcome) -> [AuditEvent]) async throws -> EnableOutcome {
        let seconds = Int(time.timeIntervalSince1970)
        let key = subject.storageKey
        return try await auditedMany { db in
            let (disabled, lastChange) = try await Self.status(key, db)
            let outcome: EnableOutcome
            if !disabled {
                outcome = .notDisabled
            } else if StatusOrder.enables(asOf: asOf, lastChange: lastChange) {
                outcome = .enabled
            } else {
                outcome = .superseded(lastChange: lastChange ?? asOf)
            }
            guard try await Self.isPending(signalID, db) else { return (outcome, []) }
            if outcome == .enabled { _ = try await db.query("DELETE FROM disabled_subjects WHERE subject_key = ?", [.text(key)]) }
            try await Self.noteStatusChange(key, asOf: asOf, db)
            try await Self.markCompleted(signalID, at: seconds, db)
            return (outcome, audit(outcome))
        }
    }

    /// Whether `subject_key` is disabled, and the event time of their last status change.
    static func status(_ key: String, _ db: SQLiteConnection) async throws -> (disabled: Bool, lastChange: Date?) {
        let rows = try await db.query("""
            SELECT EXISTS (SELECT 1 FROM disabled_subjects WHERE subject_key = ?1) AS disabled,
                   (SELECT changed_at_ms FROM subject_status WHERE subject_key = ?1) AS changed
            """, [.text(key)])
        let changed = rows.first?.column("changed").flatMap { $0.isNull ? nil : $0.integer }
        return (rows.first?.column("disabled")?.integer == 1, changed.map { StatusOrder.date(milliseconds: Int64($0)) })
    }

    /// Records `asOf` as the person's last status change, unless a later one is recorded.
    static func noteStatusChange(_ key: String, asOf: Date, _ db: SQLiteConnection) async throws {
        _ = try await db.query("""
            INSERT INTO subject_status (subject_key, changed_at_ms) VALUES (?, ?)
            ON CONFLICT (subject_key) DO UPDATE SET changed_at_ms = max(changed_at_ms, excluded.changed_at_ms)
            """, [.text(key), .integer(Int(StatusOrder.milliseconds(asOf)))])
    }

    static func isPending(_ signalID: String, _ db: SQLiteConnection) async throws -> Bool {
        !(try await db.query("SELECT 1 FROM signals WHERE id = ? AND completed_at IS NULL", [.text(signalID)])).isEmpty
    }

    public func receipt(id: String) async throws -> StoredReceipt? {
        try await read("SELECT * FROM receipts WHERE id = ?", [.text(id)]).first.map { try Self.receipt($0) }
    }

    public func receipts(of subject: SubjectKey) async throws -> [StoredReceipt] {
        try await read("SELECT * FROM receipts WHERE subject_key = ? ORDER BY issued_at DESC, id DESC", [.text(subject.storageKey)])
            .map { try Self.receipt($0) }
    }

    /// Writes a signal as pending (no duplicate check).
    static func insert(_ signal: InboundSignal, _ db: SQLiteConnection) async throws {
        _ = try await db.query("""
            INSERT INTO signals (id, source, connection, external_id, event, subject_key, issuer, tenant, subject, action, action_json,
                                 received_at, occurred_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [
            .text(signal.id), .text(signal.source.rawValue), .text(signal.connection), signal.externalID.map(SQLiteData.text) ?? .null,
            .text(signal.event), .text(signal.subject.storageKey), .text(signal.subject.issuer), signal.subject.tenant.map(SQLiteData.text) ?? .null,
            .text(signal.subject.subject), .text(signal.action.name), .text(Self.actionJSON(signal.action)),
            .integer(Int(signal.receivedAt.timeIntervalSince1970)), .integer(Int(StatusOrder.milliseconds(signal.occurredAt))),
        ])
    }

    static func insert(_ receipt: StoredReceipt, _ db: SQLiteConnection) async throws {
        _ = try await db.query("INSERT INTO receipts (id, subject_key, signal_id, issued_at, jws, audit_sequence) VALUES (?, ?, ?, ?, ?, ?)", [
            .text(receipt.id), .text(receipt.subject.storageKey), .text(receipt.signalID), .integer(Int(receipt.issuedAt.timeIntervalSince1970)),
            .text(receipt.jws), receipt.auditSequence.map { .integer(Int($0)) } ?? .null,
        ])
    }

    static func markCompleted(_ signalID: String, at seconds: Int, _ db: SQLiteConnection) async throws {
        _ = try await db.query("UPDATE signals SET completed_at = ? WHERE id = ? AND completed_at IS NULL", [.integer(seconds), .text(signalID)])
    }

    static func actionJSON(_ action: InboundSignal.Action) -> String {
        if case .leaveGroup(let group) = action { return JSONValue.object(JSONObject(["group": .string(group)])).serialized() }
        guard case .attributes(let groups, let roles) = action else { return "{}" }
        var object = JSONObject()
        if let groups { object["groups"] = .array(groups.map(JSONValue.string)) }
        if let roles { object["roles"] = .array(roles.map(JSONValue.string)) }
        return JSONValue.object(object).serialized()
    }

    static func signal(_ row: SQLiteRow) throws -> InboundSignal {
        func text(_ column: String) throws -> String {
            guard let value = row.column(column)?.string else { throw CorruptRow(table: "signals", column: column) }
            return value
        }
        guard let source = InboundSignal.Source(rawValue: try text("source")) else { throw CorruptRow(table: "signals", column: "source") }
        let action: InboundSignal.Action
        switch try text("action") {
        case "offboard": action = .offboard
        case "revoke_sessions": action = .revokeSessions
        case "enable": action = .enable
        case "attributes":
            guard case .object(let object) = try JSONValue.parse(try text("action_json")) else { throw CorruptRow(table: "signals", column: "action_json") }
            func list(_ name: String) -> [String]? {
                guard case .array(let values)? = object[name] else { return nil }
                return values.compactMap(\.stringValue)
            }
            action = .attributes(groups: list("groups"), roles: list("roles"))
        case "leave_group":
            guard case .object(let object) = try JSONValue.parse(try text("action_json")), case .string(let group)? = object["group"] else {
                throw CorruptRow(table: "signals", column: "action_json")
            }
            action = .leaveGroup(group)
        default: throw CorruptRow(table: "signals", column: "action")
        }
        let tenant = row.column("tenant").flatMap { $0.isNull ? nil : $0.string }
        let external = row.column("external_id").flatMap { $0.isNull ? nil : $0.string }
        guard let received = row.column("received_at")?.integer else { throw CorruptRow(table: "signals", column: "received_at") }
        guard let occurred = row.column("occurred_at_ms")?.integer else { throw CorruptRow(table: "signals", column: "occurred_at_ms") }
        return InboundSignal(id: try text("id"), source: source, connection: try text("connection"), externalID: external, event: try text("event"),
                             subject: SubjectKey(issuer: try text("issuer"), tenant: tenant, subject: try text("subject")), action: action,
                             receivedAt: Date(timeIntervalSince1970: Double(received)), occurredAt: StatusOrder.date(milliseconds: Int64(occurred)))
    }

    static func receipt(_ row: SQLiteRow) throws -> StoredReceipt {
        let parts = (row.column("subject_key")?.string ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let id = row.column("id")?.string, let signal = row.column("signal_id")?.string,
              let issued = row.column("issued_at")?.integer, let jws = row.column("jws")?.string else {
            throw CorruptRow(table: "receipts", column: "*")
        }
        let sequence = row.column("audit_sequence").flatMap { $0.isNull ? nil : $0.integer }
        return StoredReceipt(id: id, subject: SubjectKey(issuer: parts[0], tenant: parts[1].isEmpty ? nil : parts[1], subject: parts[2]),
                             signalID: signal, issuedAt: Date(timeIntervalSince1970: Double(issued)), jws: jws,
                             auditSequence: sequence.map(Int64.init))
    }
}
