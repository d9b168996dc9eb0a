public import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
public import Foundation
internal import SQLiteNIO

/// The revocation feed's streams and reading of the audit log on SQLite (issue 7).
extension SQLiteStore {
    /// The audit records the feed sends (`AuditRecord.isFeedEvent`), as SQL: the partial index
    /// `audit_log_feed` has the same condition, so every feed query reads only its entries.
    static let feedEventCondition = "(kind = 'revocation' AND jti IS NOT NULL) OR (kind = 'administration' AND reason IN ('subject_offboarded', 'sessions_revoked') AND issuer IS NOT NULL AND subject IS NOT NULL)"

    public func addFeedStream(_ stream: FeedStream, audit event: AuditEvent) async throws {
        try await audited { db in
            _ = try await db.query("""
                INSERT INTO feed_streams (id, client_id, description, events_requested, created_at, acknowledged_through, acknowledged_beyond)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, Self.binds(stream))
            return ((), event)
        }
    }

    public func feedStream(id: String) async throws -> FeedStream? {
        try await read("SELECT * FROM feed_streams WHERE id = ?", [.text(id)]).first.map { try Self.feedStream($0) }
    }

    public func feedStreams(clientID: String) async throws -> [FeedStream] {
        try await read("SELECT * FROM feed_streams WHERE client_id = ? ORDER BY created_at, id", [.text(clientID)]).map { try Self.feedStream($0) }
    }

    public func removeFeedStream(id: String, audit event: AuditEvent) async throws -> Bool {
        try await audited { db in
            let rows = try await db.query("DELETE FROM feed_streams WHERE id = ? RETURNING id", [.text(id)])
            return (!rows.isEmpty, rows.isEmpty ? nil : event)
        }
    }

    public func acknowledgeFeed(streamID: String, sequences: Set<Int64>, at time: Date,
                                audit: @escaping @Sendable (FeedStream, FeedStream) -> [AuditEvent]) async throws -> FeedStream? {
        // Nothing acknowledged: nothing to write, and no exclusive job holding up the writer.
        guard !sequences.isEmpty else { return try await feedStream(id: streamID) }
        return try await auditedMany { db in
            guard let before = try await db.query("SELECT * FROM feed_streams WHERE id = ?", [.text(streamID)]).first.map({ try Self.feedStream($0) }) else {
                return (nil, [])
            }
            let limit = 10_000
            let head = try await Self.auditHead(db)
            let pending = try await db.query("SELECT seq FROM audit_log WHERE seq > ? AND (\(Self.feedEventCondition)) ORDER BY seq LIMIT ?",
                                             [.integer(Int(before.acknowledgedThrough)), .integer(limit)]).compactMap { $0.column("seq")?.integer.map(Int64.init) }
            let after = before.acknowledging(sequences, pending: pending, complete: pending.count < limit, head: head)
            guard after != before else { return (after, []) }
            _ = try await db.query("UPDATE feed_streams SET acknowledged_through = ?, acknowledged_beyond = ? WHERE id = ?", [
                .integer(Int(after.acknowledgedThrough)), .text(after.acknowledgedBeyond.map(String.init).joined(separator: " ")), .text(streamID),
            ])
            guard after.acknowledgedThrough > before.acknowledgedThrough else { return (after, []) }
            _ = try await db.query("INSERT INTO feed_acks (stream_id, client_id, through, acked_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", [
                .text(streamID), .text(before.clientID), .integer(Int(after.acknowledgedThrough)), .integer(Int(time.timeIntervalSince1970)),
            ])
            return (after, audit(before, after))
        }
    }

    public func feedRecords(afterSequence: Int64, limit: Int) async throws -> [AuditRecord] {
        try await read("SELECT * FROM audit_log WHERE seq > ? AND (\(Self.feedEventCondition)) ORDER BY seq LIMIT ?",
                       [.integer(Int(afterSequence)), .integer(max(limit, 0))]).map(Self.auditRecord)
    }

    /// The audit log's last sequence, read inside a write transaction.
    static func auditHead(_ db: SQLiteConnection) async throws -> Int64 {
        Int64(try await db.query("SELECT coalesce(max(seq), 0) AS head FROM audit_log").first?.column("head")?.integer ?? 0)
    }

    public func feedStart(notBefore time: Date) async throws -> Int64 {
        let milliseconds = Int((time.timeIntervalSince1970 * 1000).rounded(.down))
        let rows = try await read("""
            SELECT (SELECT min(seq) FROM audit_log WHERE (\(Self.feedEventCondition)) AND time_ms >= ?) AS first,
                   (SELECT coalesce(max(seq), 0) FROM audit_log) AS head
            """, [.integer(milliseconds)])
        if let first = rows.first?.column("first"), !first.isNull, let sequence = first.integer { return Int64(sequence) - 1 }
        return Int64(rows.first?.column("head")?.integer ?? 0)
    }

    public func feedAcknowledgements(covering sequence: Int64) async throws -> [FeedAcknowledgement] {
        try await read("""
            SELECT stream_id, client_id, min(through) AS through, min(acked_at) AS acked_at FROM feed_acks WHERE through >= ?
            GROUP BY stream_id, client_id ORDER BY acked_at, stream_id
            """, [.integer(Int(sequence))]).map { row in
            guard let stream = row.column("stream_id")?.string, let client = row.column("client_id")?.string,
                  let through = row.column("through")?.integer, let at = row.column("acked_at")?.integer else {
                throw CorruptRow(table: "feed_acks", column: "*")
            }
            return FeedAcknowledgement(streamID: stream, clientID: client, through: Int64(through), at: Date(timeIntervalSince1970: Double(at)))
        }
    }

    static func binds(_ stream: FeedStream) -> [SQLiteData] {
        [.text(stream.id), .text(stream.clientID), stream.description.map(SQLiteData.text) ?? .null,
         .text(JSONValue.array(stream.eventsRequested.map(JSONValue.string)).serialized()), .integer(Int(stream.createdAt.timeIntervalSince1970)),
         .integer(Int(stream.acknowledgedThrough)), .text(stream.acknowledgedBeyond.map(String.init).joined(separator: " "))]
    }

    static func feedStream(_ row: SQLiteRow) throws -> FeedStream {
        guard let id = row.column("id")?.string, let client = row.column("client_id")?.string, let events = row.column("events_requested")?.string,
              case .array(let requested) = try JSONValue.parse(events), let created = row.column("created_at")?.integer,
              let through = row.column("acknowledged_through")?.integer, let beyond = row.column("acknowledged_beyond")?.string else {
            throw CorruptRow(table: "feed_streams", column: "*")
        }
        let description = row.column("description").flatMap { $0.isNull ? nil : $0.string }
        return FeedStream(id: id, clientID: client, description: description, eventsRequested: requested.compactMap(\.stringValue),
                          createdAt: Date(timeIntervalSince1970: Double(created)), acknowledgedThrough: Int64(through),
                          acknowledgedBeyond: beyond.split(separator: " ").compactMap { Int64($0) })
    }
}
