import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import Testing

/// What only the durable store promises: restarts, migrations, and an audit log the database refuses to change.
@Suite("SQLite store")
struct SQLiteStoreTests {
    typealias F = Fixture

    /// Fills a store with one of everything.
    static func populate(_ store: SQLiteStore) async throws {
        #expect(try await store.commit(marks: [F.mark("jag-1")], token: F.token("at-1"), audit: F.issuance("at-1")) == .committed(auditSequence: 1))
        #expect(try await store.commit(marks: [F.mark("jag-2")], token: F.token("at-2"), audit: F.issuance("at-2")) == .committed(auditSequence: 2))
        _ = try await store.append(F.denial(3))
        #expect(try await store.revoke(jti: "at-2", at: F.t0.addingTimeInterval(20), audit: F.revocation("at-2")))
        try await store.setDisabled(SubjectKey(issuer: F.idp, tenant: "tenant-a", subject: "00u-bob"), true, at: F.t0)
        try await store.addSigningKey(F.signingKey("k1", at: 0), retiring: nil)
        try await store.addSigningKey(F.signingKey("k2", at: 1000),
                                      retiring: (keyID: "k1", retiresAt: F.t0.addingTimeInterval(1300), unpublishAt: F.t0.addingTimeInterval(4900)))
    }

    @Test("marks, tokens, revocations, disabled subjects, audit records and keys survive close and reopen")
    func survivesReopen() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("store.sqlite")

        let first = try await SQLiteStore.open(path: path)
        try await Self.populate(first)
        let records = try await first.allAuditRecords()
        let keys = try await first.signingKeys()
        await first.close()

        let reopened = try await SQLiteStore.open(path: path)
        #expect(try await reopened.contains(F.mark("jag-1")))
        #expect(try await reopened.commit(marks: [F.mark("jag-1")], token: F.token("at-3"), audit: F.issuance("at-3")) == .replayed(F.mark("jag-1")))
        #expect(try await reopened.tokenState(jti: "at-1") == TokenState(token: F.token("at-1"), revokedAt: nil))
        #expect(try await reopened.tokenState(jti: "at-2") == TokenState(token: F.token("at-2"), revokedAt: F.t0.addingTimeInterval(20)))
        #expect(try await reopened.tokenState(jti: "at-3") == nil)
        #expect(try await reopened.isDisabled(SubjectKey(issuer: F.idp, tenant: "tenant-a", subject: "00u-bob")))
        #expect(try await reopened.allAuditRecords() == records)
        #expect(records.count == 4)
        #expect(try await reopened.signingKeys() == keys)
        #expect(keys.count == 2)
        // The chain continues where it stopped.
        let next = try await reopened.append(F.denial(5))
        #expect(next.sequence == 5)
        #expect(next.previousHash == records.last?.hash)
        guard case .intact(count: 5, lastSequence: 5, _) = AuditChain.verify(try await reopened.allAuditRecords()) else {
            Issue.record("chain not intact after reopen")
            await reopened.close()
            return
        }
        await reopened.close()
    }

    @Test("schema version is 11 (bridge keys, token kinds, agents, robot tokens, who administered, revocation epochs, signal inbox, receipts, SCIM resources, the revocation feed, SCIM members in rows only, signals by event time, aggregated refusals) after open and after reopen (migrations are idempotent)")
    func schemaVersion() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("store.sqlite")
        let first = try await SQLiteStore.open(path: path)
        #expect(try await first.schemaVersion() == 11)
        _ = try await first.append(F.denial(1))
        await first.close()
        for _ in 0..<2 {
            let again = try await SQLiteStore.open(path: path)
            #expect(try await again.schemaVersion() == 11)
            #expect(try await again.lastAuditRecord()?.sequence == 1)
            await again.close()
        }
    }

    @Test("the audit_log table refuses UPDATE and DELETE, even through a raw connection")
    func auditLogIsAppendOnly() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("store.sqlite")
        let store = try await SQLiteStore.open(path: path)
        try await Self.populate(store)
        let before = try await store.allAuditRecords()
        await store.close()

        let sqlite3 = try #require(executableOnPath("sqlite3"), "the sqlite3 command-line shell is needed for this check")
        let update = try runProcess(sqlite3, [path, "UPDATE audit_log SET reason = 'tampered' WHERE seq = 2;"])
        #expect(update.status != 0)
        #expect(update.stderr.contains("the audit log is append-only"), "\(update.stderr)")
        let delete = try runProcess(sqlite3, [path, "DELETE FROM audit_log WHERE seq = 4;"])
        #expect(delete.status != 0)
        #expect(delete.stderr.contains("the audit log is append-only"), "\(delete.stderr)")
        // Python's sqlite3 module agrees (the same check without the CLI).
        let python = try runProcess("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            for sql in ("UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log"):
                try:
                    db.execute(sql); db.commit(); print("allowed: " + sql); sys.exit(1)
                except sqlite3.DatabaseError as error:
                    print("refused: " + str(error))
            """, path])
        #expect(python.status == 0, "\(python.stdout)\(python.stderr)")
        #expect(python.stdout.components(separatedBy: "refused: the audit log is append-only").count == 3, "\(python.stdout)")

        let reopened = try await SQLiteStore.open(path: path)
        #expect(try await reopened.allAuditRecords() == before)
        await reopened.close()
    }

    @Test("a record changed behind the store's back (trigger dropped) breaks the chain at that sequence")
    func tamperingIsDetected() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("store.sqlite")
        let store = try await SQLiteStore.open(path: path)
        try await Self.populate(store)
        guard case .intact = AuditChain.verify(try await store.allAuditRecords()) else {
            Issue.record("chain not intact before tampering")
            await store.close()
            return
        }
        await store.close()

        let python = try runProcess("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("DROP TRIGGER audit_log_no_update")
            db.execute("UPDATE audit_log SET reason = 'issued_quietly' WHERE seq = 2")
            db.commit()
            """, path])
        #expect(python.status == 0, "\(python.stderr)")

        let reopened = try await SQLiteStore.open(path: path)
        let records = try await reopened.allAuditRecords()
        await reopened.close()
        #expect(records.count == 4)
        #expect(records.first { $0.sequence == 2 }?.event.reason == ReasonCode("issued_quietly"))
        guard case .broken(let sequence, let reason) = AuditChain.verify(records) else {
            Issue.record("tampering not detected: \(AuditChain.verify(records))")
            return
        }
        #expect(sequence == 2)
        #expect(reason.contains("altered"))
    }
}
