import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperStore
import Foundation
internal import SQLiteNIO
import Synchronization

/// One unit of work for the writer.
enum Job: Sendable {
    case issuance(marks: [ReplayMark], token: IssuedToken?, audit: AuditEvent?, unlessDisabled: SubjectKey?, CheckedContinuation<CommitOutcome, any Error>)
    case audit(AuditEvent, CheckedContinuation<AuditRecord, any Error>)
    case revoke(jti: String, time: Date, audit: AuditEvent, CheckedContinuation<Bool, any Error>)
    /// Runs alone in its batch; the audit events it returns are chained in the same transaction.
    case exclusive(@Sendable (SQLiteConnection) async throws -> [AuditEvent], CheckedContinuation<Void, any Error>)

    func fail(_ error: any Error) {
        switch self {
        case .issuance(_, _, _, _, let c): c.resume(throwing: error)
        case .audit(_, let c): c.resume(throwing: error)
        case .revoke(_, _, _, let c): c.resume(throwing: error)
        case .exclusive(_, let c): c.resume(throwing: error)
        }
    }
}

/// Jobs waiting for the writer: many producers, one consumer that takes all of them at once.
final class JobQueue: Sendable {
    private struct State {
        var pending: [Job] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    struct Closed: Error, CustomStringConvertible {
        var description: String { "the store is closed" }
    }

    func enqueue(_ job: Job) {
        let (waiter, rejected): (CheckedContinuation<Void, Never>?, Bool) = state.withLock { state in
            if state.finished { return (nil, true) }
            state.pending.append(job)
            defer { state.waiter = nil }
            return (state.waiter, false)
        }
        if rejected { job.fail(Closed()) }
        waiter?.resume()
    }

    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Up to `limit` queued jobs, waiting for one when none is queued; empty once finished and
    /// drained. An exclusive job is taken alone, so what it changes is visible to every job of the
    /// batches after it and to none of a batch it shares.
    func take(limit: Int) async -> [Job] {
        while true {
            let taken: [Job]? = state.withLock { state in
                if !state.pending.isEmpty {
                    var count = 0
                    for job in state.pending.prefix(limit) {
                        if case .exclusive = job { if count == 0 { count = 1 }; break }
                        count += 1
                    }
                    let jobs = Array(state.pending.prefix(count))
                    state.pending.removeFirst(count)
                    return jobs
                }
                return state.finished ? [] : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if !state.pending.isEmpty || state.finished { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }
}

extension SQLiteStore {
    /// The writer loop: one transaction per batch of queued jobs.
    static func run(queue: JobQueue, on db: SQLiteConnection, finishCheckpoint: CheckpointRequest, bell: FeedBell) async {
        while true {
            let jobs = await queue.take(limit: maximumBatch)
            if jobs.isEmpty { return }
            do {
                let answers = try await write(jobs, on: db, bell: bell)
                for answer in answers { answer() }
                if finishCheckpoint.requested.exchange(false, ordering: .relaxed) {
                    // Between two batches no commit can land, so this copies what is left and the
                    // next transaction starts the WAL over (see `checkpoint`).
                    _ = try? await db.query("PRAGMA wal_checkpoint(PASSIVE)")
                }
            } catch {
                _ = try? await db.query("ROLLBACK")
                for job in jobs { job.fail(error) }
            }
        }
    }

    /// Writes a batch in one transaction and returns how to answer each job once it committed.
    private static func write(_ jobs: [Job], on db: SQLiteConnection, bell: FeedBell) async throws -> [() -> Void] {
        _ = try await db.query("BEGIN IMMEDIATE")

        // 1. All replay marks of the batch in one statement; the rows returned are the ones inserted.
        //    A mark repeated inside the batch goes to its first job only.
        var candidates: [ReplayMark] = []
        var seen: Set<ReplayMark> = []
        for job in jobs {
            guard case .issuance(let marks, _, _, _, _) = job else { continue }
            for mark in marks where seen.insert(mark).inserted { candidates.append(mark) }
        }
        var inserted: Set<ReplayMark> = []
        if !candidates.isEmpty {
            var sql = "INSERT INTO replay_marks (namespace, issuer, jti, expires_at) VALUES "
            var binds: [SQLiteData] = []
            for (index, mark) in candidates.enumerated() {
                sql += index == 0 ? "(?, ?, ?, ?)" : ", (?, ?, ?, ?)"
                binds += [.text(mark.namespace.rawValue), .text(mark.issuer), .text(mark.jti),
                          .integer(Int(mark.expiresAt.timeIntervalSince1970.rounded(.up)))]
            }
            sql += " ON CONFLICT DO NOTHING RETURNING namespace, issuer, jti"
            for row in try await db.query(sql, binds) {
                guard let namespace = row.column("namespace")?.string.flatMap(ReplayMark.Namespace.init(rawValue:)),
                      let issuer = row.column("issuer")?.string, let jti = row.column("jti")?.string else { continue }
                inserted.insert(ReplayMark(namespace: namespace, issuer: issuer, jti: jti, expiresAt: .distantPast))
            }
        }

        // 2. The batch's subject conditions in one read (an exclusive job, which might change them,
        //    always has a batch of its own).
        var subjects: [String] = []
        for job in jobs {
            if case .issuance(_, _, _, let subject?, _) = job { subjects.append(subject.storageKey) }
        }
        var disabled: Set<String> = []
        if !subjects.isEmpty {
            let unique = Array(Set(subjects))
            let sql = "SELECT subject_key FROM disabled_subjects WHERE subject_key IN (" + Array(repeating: "?", count: unique.count).joined(separator: ", ") + ")"
            for row in try await db.query(sql, unique.map(SQLiteData.text)) {
                if let key = row.column("subject_key")?.string { disabled.insert(key) }
            }
        }

        // 3. Each job in order; audit records chained from the head read inside this transaction.
        var head = try await db.query("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1").first.map(auditRecord)
        var records: [AuditRecord] = []
        var tokens: [IssuedToken] = []
        var claimed: Set<ReplayMark> = []
        var answers: [() -> Void] = []
        func chain(_ event: AuditEvent) -> AuditRecord {
            let record = AuditChain.append(event, after: head)
            head = record
            records.append(record)
            return record
        }
        for job in jobs {
            switch job {
            case .issuance(let marks, let token, let audit, let subject, let continuation):
                if let replayed = marks.first(where: { !inserted.contains($0) || claimed.contains($0) }) {
                    answers.append { continuation.resume(returning: .replayed(replayed)) }
                    continue
                }
                if let subject, disabled.contains(subject.storageKey) {
                    answers.append { continuation.resume(returning: .subjectDisabled) }
                    continue
                }
                claimed.formUnion(marks)
                if let token { tokens.append(token) }
                let sequence = audit.map { chain($0).sequence }
                answers.append { continuation.resume(returning: .committed(auditSequence: sequence)) }
            case .audit(let event, let continuation):
                let record = chain(event)
                answers.append { continuation.resume(returning: record) }
            case .revoke(let jti, let time, let audit, let continuation):
                let rows = try await db.query("UPDATE issued_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL RETURNING jti",
                                              [.integer(Int(time.timeIntervalSince1970)), .text(jti)])
                let revoked = !rows.isEmpty
                if revoked { _ = chain(audit) }
                answers.append { continuation.resume(returning: revoked) }
            case .exclusive(let body, let continuation):
                for event in try await body(db) { _ = chain(event) }
                answers.append { continuation.resume() }
            }
        }

        // 4. Marks inserted for jobs that turned out to be replays, and claimed by no other job of the
        //    batch, are taken back; tokens and records written.
        for mark in candidates where inserted.contains(mark) && !claimed.contains(mark) {
            _ = try await db.query("DELETE FROM replay_marks WHERE namespace = ? AND issuer = ? AND jti = ?",
                                   [.text(mark.namespace.rawValue), .text(mark.issuer), .text(mark.jti)])
        }
        if !tokens.isEmpty {
            var sql = "INSERT INTO issued_tokens (jti, kind, issuer, tenant, subject, principal, client_id, resource, scope, issued_at, expires_at, assertion_jti, agent_id) VALUES "
            var binds: [SQLiteData] = []
            for (index, token) in tokens.enumerated() {
                sql += index == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                binds += [.text(token.jti), .text(token.kind.rawValue), .text(token.subject.issuer), token.subject.tenant.map(SQLiteData.text) ?? .null,
                          .text(token.subject.subject), .text(token.principal.rawValue), .text(token.clientID), .text(token.resource),
                          .text(token.scope.joined(separator: " ")), .integer(Int(token.issuedAt.timeIntervalSince1970)),
                          .integer(Int(token.expiresAt.timeIntervalSince1970)), token.assertionID.map(SQLiteData.text) ?? .null,
                          token.agent.map(SQLiteData.text) ?? .null]
            }
            _ = try await db.query(sql, binds)
        }
        // In statements of at most 500 rows: an offboarding's records can be thousands, and one
        // statement binds at most 250,000 values (sqlite-nio's SQLITE_MAX_VARIABLE_NUMBER): 12,500 rows.
        for chunk in stride(from: 0, to: records.count, by: 500).map({ records[$0..<min($0 + 500, records.count)] }) {
            var sql = "INSERT INTO audit_log (seq, time_ms, kind, reason, issuer, tenant, subject, client_id, principal, server, scopes, jti, assertion_jti, remote, email_hash, actor, owner, performed_by, count, route, prev_hash, hash) VALUES "
            var binds: [SQLiteData] = []
            func optional(_ value: String?) -> SQLiteData { value.map(SQLiteData.text) ?? .null }
            for (index, record) in chunk.enumerated() {
                sql += (index == 0 ? "(" : ", (") + Array(repeating: "?", count: 22).joined(separator: ", ") + ")"
                let e = record.event
                binds += [.integer(Int(record.sequence)), .integer(Int(e.timeMilliseconds)), .text(e.kind.rawValue), .text(e.reason.rawValue),
                          optional(e.issuer), optional(e.tenant), optional(e.subject), optional(e.clientID), optional(e.principalClass),
                          optional(e.server), .text(e.scopes.joined(separator: " ")), optional(e.tokenID), optional(e.assertionID),
                          optional(e.remoteAddress), optional(e.emailHash), optional(e.actor), optional(e.owner), optional(e.performedBy),
                          e.count.map { .integer(Int($0)) } ?? .null, optional(e.route),
                          .text(record.previousHash), .text(record.hash)]
            }
            _ = try await db.query(sql, binds)
        }
        _ = try await db.query("COMMIT")
        // A revocation committed: held revocation-feed polls wake now.
        if records.contains(where: \.isFeedEvent) { answers.append { bell.ring() } }
        return answers
    }
}
