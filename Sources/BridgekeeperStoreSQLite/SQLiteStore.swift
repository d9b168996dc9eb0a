public import BridgekeeperAudit
public import BridgekeeperCore
public import BridgekeeperStore
public import Foundation
internal import SQLiteNIO
import Synchronization

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on disk
/// before `commit` returns.
///
/// Writes go through one writer connection in **group commits**: requests queue, and the writer takes
/// everything queued, writes it in one transaction with multi-row statements, commits once and
/// answers every waiter. While a commit is syncing, the next batch gathers, so durability costs one
/// fsync per batch, not per request. Reads use a second connection, which WAL lets run beside the
/// writer; a read sees every commit that returned before it started.
///
/// Several processes may open the same file (the CLI beside the server): the writer takes SQLite's
/// write lock with `BEGIN IMMEDIATE` and reads the audit chain's head inside the transaction.
public final class SQLiteStore: BridgekeeperStore {
    private let writer: SQLiteConnection
    private let readers: [SQLiteConnection]
    private let nextReader = Atomic<Int>(0)
    private let queue = JobQueue()
    private let worker: Task<Void, Never>
    private let checkpointer: Task<Void, Never>
    private let checkpoints: SQLiteConnection
    private let gate = ReadGate()
    /// Set by the checkpointer, cleared by the writer once it checkpointed between two batches.
    private let finishCheckpoint = CheckpointRequest()
    /// Rung after every commit that wrote a revocation-feed event.
    public let feedBell = FeedBell()
    private let executor: WriterExecutor
    private let threads: Threads
    /// Most jobs in one transaction (bounds the statement's bind count).
    static let maximumBatch = 256
    /// Read connections.
    static let readerCount = 2

    /// A read on one of the read connections, round robin (reads run in parallel, each connection
    /// serialises its own), through the gate the checkpointer may close for a moment.
    func read(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        await gate.enter()
        defer { gate.leave() }
        return try await readers[nextReader.wrappingAdd(1, ordering: .relaxed).oldValue % readers.count].query(sql, binds)
    }

    private init(writer: SQLiteConnection, readers: [SQLiteConnection], checkpoints: SQLiteConnection, threads: Threads) {
        self.writer = writer
        self.readers = readers
        self.threads = threads
        self.checkpoints = checkpoints
        let queue = self.queue
        executor = WriterExecutor(name: "bridgekeeper-sqlite-writer")
        let finishCheckpoint = self.finishCheckpoint
        let bell = self.feedBell
        worker = Task(executorPreference: executor) { await Self.run(queue: queue, on: writer, finishCheckpoint: finishCheckpoint, bell: bell) }
        let gate = self.gate
        checkpointer = Task { await Self.checkpoint(checkpoints, gate: gate, finish: finishCheckpoint, every: .milliseconds(200)) }
    }

    /// WAL checkpoints, mostly off the commit path. The writer never checkpoints on its own
    /// (`wal_autocheckpoint=0`); this connection copies committed pages into the database every
    /// 200 ms (PASSIVE: it blocks neither the writer nor a reader). Under constant load new commits
    /// land while it copies, so it never catches up and the WAL is never started over; past
    /// `finishingWALFrames` it therefore asks the writer to finish the job between two batches,
    /// when no commit can land (the copying left is what came in since the last pass: a few
    /// milliseconds), after which the writer's next transaction starts the WAL over. Reads hold WAL
    /// snapshots too; if they keep it growing anyway, past `maximumWALFrames` new reads are held at
    /// the gate for a moment and a RESTART checkpoint waits for the ones in flight.
    static func checkpoint(_ db: SQLiteConnection, gate: ReadGate, finish: CheckpointRequest, every interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            if Task.isCancelled { break }
            let rows = (try? await db.query("PRAGMA wal_checkpoint(PASSIVE)")) ?? []
            guard let frames = rows.first?.column("log")?.integer else { continue }
            if frames > maximumWALFrames {
                await gate.close()
                _ = try? await db.query("PRAGMA wal_checkpoint(RESTART)")
                gate.open()
            } else if frames > finishingWALFrames {
                finish.requested.store(true, ordering: .relaxed)
            }
        }
    }

    /// WAL size (in pages) past which the writer finishes a checkpoint: 4 MiB of 4 KiB pages.
    static let finishingWALFrames = 1_024
    /// WAL size (in pages) past which the checkpointer restarts it: 128 MiB of 4 KiB pages.
    static let maximumWALFrames = 32_768

    /// Opens (creating when needed) the database file at `path` and applies pending migrations.
    public static func open(path: String) async throws -> SQLiteStore {
        try await open(path: path, migratingThrough: Int.max)
    }

    /// The same, applying the migrations up to `version` only: tests of a migration over rows an
    /// older schema wrote.
    static func open(path: String, migratingThrough version: Int) async throws -> SQLiteStore {
        let storage = SQLiteConnection.Storage.file(path: path)
        // The writer has a pool thread and an event loop of its own, both at a raised priority, so
        // a commit never waits behind request handling or the reads; the readers and the
        // checkpoints share another pool, one thread per connection.
        let writerPool = NIOThreadPool(numberOfThreads: 1)
        let readerPool = NIOThreadPool(numberOfThreads: readerCount + 1)
        let writerLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        writerPool.start()
        readerPool.start()
        let threads = Threads(pools: [writerPool, readerPool], loops: writerLoops)
        _ = try? await writerPool.runIfActive { raiseThreadPriority() }
        let writerLoop = writerLoops.next()
        _ = try? await writerLoop.submit { raiseThreadPriority() }.get()
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let writer: SQLiteConnection
        do { writer = try await SQLiteConnection.open(storage: storage, threadPool: writerPool, on: writerLoop) } catch {
            await threads.shutdown()
            throw error
        }
        do {
            _ = try await writer.query("PRAGMA journal_mode=WAL")
            _ = try await writer.query("PRAGMA synchronous=FULL")
            // Statement journals of the multi-row inserts stay in memory.
            _ = try await writer.query("PRAGMA temp_store=MEMORY")
            _ = try await writer.query("PRAGMA wal_autocheckpoint=0")
            _ = try await writer.query("PRAGMA busy_timeout=10000")
            try await migrate(writer, through: version)
            var readers: [SQLiteConnection] = []
            for _ in 0..<readerCount {
                let reader = try await SQLiteConnection.open(storage: storage, threadPool: readerPool, on: loop)
                _ = try await reader.query("PRAGMA busy_timeout=10000")
                readers.append(reader)
            }
            let checkpoints = try await SQLiteConnection.open(storage: storage, threadPool: readerPool, on: loop)
            _ = try await checkpoints.query("PRAGMA busy_timeout=10000")
            return SQLiteStore(writer: writer, readers: readers, checkpoints: checkpoints, threads: threads)
        } catch {
            try? await writer.close()
            await threads.shutdown()
            throw error
        }
    }

    /// Applies the migrations not yet applied, each in its own transaction.
    static func migrate(_ db: SQLiteConnection, through version: Int = Int.max) async throws {
        _ = try await db.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
        for migration in Migrations.all where migration.version <= version {
            _ = try await db.query("BEGIN IMMEDIATE")
            do {
                let applied = try await db.query("SELECT 1 FROM schema_migrations WHERE version = ?", [.integer(migration.version)])
                if applied.isEmpty {
                    for statement in migration.statements { _ = try await db.query(statement) }
                    _ = try await db.query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                           [.integer(migration.version), .integer(Int(Date().timeIntervalSince1970))])
                }
                _ = try await db.query("COMMIT")
            } catch {
                _ = try? await db.query("ROLLBACK")
                throw error
            }
        }
    }

    /// Stops the writer after the queued jobs and closes both connections.
    public func close() async {
        queue.finish()
        await worker.value
        executor.stop()
        checkpointer.cancel()
        await checkpointer.value
        _ = try? await checkpoints.query("PRAGMA wal_checkpoint(PASSIVE)")
        try? await checkpoints.close()
        for reader in readers { try? await reader.close() }
        try? await writer.close()
        await threads.shutdown()
    }

    /// The schema version applied.
    public func schemaVersion() async throws -> Int {
        let rows = try await read("SELECT MAX(version) AS v FROM schema_migrations")
        return rows.first?.column("v")?.integer ?? 0
    }

    // MARK: IssuanceLedger

    public func commit(marks: [ReplayMark], token: IssuedToken?, audit: AuditEvent?, unlessDisabled subject: SubjectKey?) async throws -> CommitOutcome {
        try await withCheckedThrowingContinuation { continuation in
            queue.enqueue(.issuance(marks: marks, token: token, audit: audit, unlessDisabled: subject, continuation))
        }
    }

    public func contains(_ mark: ReplayMark) async throws -> Bool {
        let rows = try await read(
            "SELECT 1 FROM replay_marks WHERE namespace = ? AND issuer = ? AND jti = ?",
            [.text(mark.namespace.rawValue), .text(mark.issuer), .text(mark.jti)])
        return !rows.isEmpty
    }

    public func redemptionFacts(mark: ReplayMark?, subject: SubjectKey) async throws -> RedemptionFacts {
        guard let mark else { return RedemptionFacts(markPresent: false, subjectDisabled: try await isDisabled(subject)) }
        let rows = try await read(
            """
            SELECT EXISTS (SELECT 1 FROM replay_marks WHERE namespace = ? AND issuer = ? AND jti = ?) AS replayed,
                   EXISTS (SELECT 1 FROM disabled_subjects WHERE subject_key = ?) AS disabled
            """,
            [.text(mark.namespace.rawValue), .text(mark.issuer), .text(mark.jti), .text(subject.storageKey)])
        return RedemptionFacts(markPresent: rows.first?.column("replayed")?.integer == 1,
                               subjectDisabled: rows.first?.column("disabled")?.integer == 1)
    }

    public func purgeExpiredMarks(now: Date) async throws -> Int {
        let cutoff = Int(now.timeIntervalSince1970.rounded(.down))
        return try await exclusive { db in
            let marks = try await db.query("DELETE FROM replay_marks WHERE expires_at < ? RETURNING 1", [.integer(cutoff)])
            // Issued-token records are kept a day past expiry for introspection answers and audits.
            _ = try await db.query("DELETE FROM issued_tokens WHERE expires_at < ?", [.integer(cutoff - 86_400)])
            return marks.count
        }
    }

    // MARK: AuditLog

    public func append(_ event: AuditEvent) async throws -> AuditRecord {
        let record: AuditRecord = try await withCheckedThrowingContinuation { continuation in
            queue.enqueue(.audit(event, continuation))
        }
        DenialTap.note(event)  // durable now: the request's refusal log line may name it
        return record
    }

    public func auditRecords(afterSequence: Int64, limit: Int) async throws -> [AuditRecord] {
        let rows = try await read("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                                          [.integer(Int(afterSequence)), .integer(max(limit, 0))])
        return try rows.map(Self.auditRecord)
    }

    public func lastAuditRecord() async throws -> AuditRecord? {
        try await read("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1").first.map(Self.auditRecord)
    }

    // MARK: TokenRegistry

    public func tokenState(jti: String) async throws -> TokenState? {
        let rows = try await read("SELECT * FROM issued_tokens WHERE jti = ?", [.text(jti)])
        return try rows.first.map(Self.tokenState)
    }

    public func revoke(jti: String, at time: Date, audit: AuditEvent) async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            queue.enqueue(.revoke(jti: jti, time: time, audit: audit, continuation))
        }
    }

    // MARK: SubjectDirectory

    public func isDisabled(_ subject: SubjectKey) async throws -> Bool {
        !(try await read("SELECT 1 FROM disabled_subjects WHERE subject_key = ?", [.text(subject.storageKey)])).isEmpty
    }

    public func setDisabled(_ subject: SubjectKey, _ disabled: Bool, at time: Date) async throws {
        let key = subject.storageKey
        let seconds = Int(time.timeIntervalSince1970)
        try await exclusive { db in
            if disabled {
                _ = try await db.query("INSERT INTO disabled_subjects (subject_key, disabled_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                       [.text(key), .integer(seconds)])
            } else {
                _ = try await db.query("DELETE FROM disabled_subjects WHERE subject_key = ?", [.text(key)])
            }
            try await Self.noteStatusChange(key, asOf: time, db)
        }
    }

    // MARK: SigningKeyStore

    public func signingKeys() async throws -> [StoredSigningKey] {
        try await read("SELECT * FROM signing_keys ORDER BY activates_at, created_at").map(Self.signingKey)
    }

    public func addSigningKey(_ key: StoredSigningKey, retiring: (keyID: String, retiresAt: Date, unpublishAt: Date)?) async throws {
        let retire = retiring.map { ($0.keyID, Int($0.retiresAt.timeIntervalSince1970), Int($0.unpublishAt.timeIntervalSince1970)) }
        try await exclusive { db in
            if let (kid, retiresAt, unpublishAt) = retire {
                _ = try await db.query("UPDATE signing_keys SET retires_at = ?, unpublish_at = ? WHERE kid = ?",
                                       [.integer(retiresAt), .integer(unpublishAt), .text(kid)])
            }
            var sealed = ByteBuffer()
            sealed.writeBytes(key.sealedPrivateKey)
            _ = try await db.query(
                "INSERT INTO signing_keys (kid, purpose, alg, sealed_private_key, public_jwk, created_at, activates_at, retires_at, unpublish_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [.text(key.keyID), .text(key.purpose.rawValue), .text(key.algorithm), .blob(sealed), .text(key.publicJWK),
                 .integer(Int(key.createdAt.timeIntervalSince1970)), .integer(Int(key.activatesAt.timeIntervalSince1970)),
                 key.retiresAt.map { .integer(Int($0.timeIntervalSince1970)) } ?? .null,
                 key.unpublishAt.map { .integer(Int($0.timeIntervalSince1970)) } ?? .null])
        }
    }

    /// Runs `body` as its own job on the writer, inside a batch's transaction.
    func exclusive<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await auditedMany { db in (try await body(db), []) }
    }

    /// The same, appending the audit event `body` returns (if any) in the same transaction: the
    /// change and its evidence are durable together or not at all.
    func audited<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> (T, AuditEvent?)) async throws -> T {
        try await auditedMany { db in
            let (value, event) = try await body(db)
            return (value, event.map { [$0] } ?? [])
        }
    }

    /// Runs `sql` in a write transaction of its own, auditing nothing: tests that set up rows as an
    /// older schema wrote them.
    func execute(_ sql: String) async throws {
        try await auditedMany { db in
            _ = try await db.query(sql)
            return ((), [])
        }
    }

    /// The same with any number of audit events, chained in order.
    func auditedMany<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> (T, [AuditEvent])) async throws -> T {
        let box = ResultBox<T>()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.enqueue(.exclusive({ db in
                let (value, event) = try await body(db)
                box.value.withLock { $0 = value }
                return event
            }, continuation))
        }
        return box.value.withLock { $0! }
    }
}

/// The threads a store started, stopped when it closes.
struct Threads: Sendable {
    let pools: [NIOThreadPool]
    let loops: MultiThreadedEventLoopGroup

    func shutdown() async {
        for pool in pools { try? await pool.shutdownGracefully() }
        try? await loops.shutdownGracefully()
    }
}

/// The checkpointer's request that the writer finish a checkpoint.
final class CheckpointRequest: Sendable {
    let requested = Atomic<Bool>(false)
}

/// Carries an exclusive job's result out of its closure.
final class ResultBox<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}
