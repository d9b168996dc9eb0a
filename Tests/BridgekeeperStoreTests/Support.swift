import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import Testing

/// The stores the contract suite runs against. PostgreSQL joins when its store exists (STYLE rule 14).
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory
    case sqlite

    var testDescription: String { rawValue }

    /// Opens a fresh, empty store of this kind, runs `body`, and closes it (and removes its files)
    /// whether or not `body` threw.
    func withStore<T>(_ body: (any BridgekeeperStore) async throws -> T) async throws -> T {
        switch self {
        case .memory:
            return try await body(MemoryStore())
        case .sqlite:
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let store = try await SQLiteStore.open(path: folder.file("store.sqlite"))
            do {
                let value = try await body(store)
                await store.close()
                return value
            } catch {
                await store.close()
                throw error
            }
        }
    }
}

/// A folder under the system temporary directory, removed by the test that made it.
struct TemporaryFolder: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("bk-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Values for store tests, at a fixed instant (whole seconds: SQLite stores dates in seconds).
enum Fixture {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let idp = "https://idp.example.com"
    static let alice = SubjectKey(issuer: idp, subject: "00u-alice")

    static func mark(_ jti: String, issuer: String = idp, namespace: ReplayMark.Namespace = .assertion,
                     expiresIn seconds: TimeInterval = 360) -> ReplayMark {
        ReplayMark(namespace: namespace, issuer: issuer, jti: jti, expiresAt: t0.addingTimeInterval(seconds))
    }

    static func token(_ jti: String, subject: SubjectKey = alice, assertion: String? = "jag-1") -> IssuedToken {
        IssuedToken(jti: jti, subject: subject, principal: .human, clientID: "mcp-client",
                    resource: "https://mcp.example.com/github", scope: ["search", "create_issue"],
                    issuedAt: t0, expiresAt: t0.addingTimeInterval(300), assertionID: assertion)
    }

    static func issuance(_ tokenID: String, assertion: String = "jag-1", offset: TimeInterval = 0) -> AuditEvent {
        AuditEvent(kind: .issuance, reason: .issued, time: t0.addingTimeInterval(offset), issuer: idp, subject: "00u-alice",
                   clientID: "mcp-client", principalClass: "human", server: "https://mcp.example.com/github",
                   scopes: ["search", "create_issue"], tokenID: tokenID, assertionID: assertion, remoteAddress: "127.0.0.1")
    }

    static func denial(_ index: Int) -> AuditEvent {
        AuditEvent(kind: .denial, reason: ReasonCode("assertion_replayed"), time: t0.addingTimeInterval(Double(index)),
                   issuer: idp, subject: "00u-bob", clientID: "mcp-client", assertionID: "jag-\(index)")
    }

    static func revocation(_ tokenID: String) -> AuditEvent {
        AuditEvent(kind: .revocation, reason: ReasonCode("revoked_by_client"), time: t0.addingTimeInterval(10),
                   clientID: "mcp-client", tokenID: tokenID)
    }

    static func signingKey(_ kid: String, at offset: TimeInterval) -> StoredSigningKey {
        StoredSigningKey(keyID: kid, algorithm: "ES256", sealedPrivateKey: Array("sealed-\(kid)".utf8) + [0, 1, 2, 255],
                         publicJWK: #"{"kty":"EC","crv":"P-256","kid":"\#(kid)","x":"x","y":"y"}"#,
                         createdAt: t0.addingTimeInterval(offset), activatesAt: t0.addingTimeInterval(offset + 300))
    }
}

extension AuditLog {
    /// Every audit record, read in pages of `pageSize`.
    func allAuditRecords(pageSize: Int = 100) async throws -> [AuditRecord] {
        var records: [AuditRecord] = []
        while true {
            let page = try await auditRecords(afterSequence: records.last?.sequence ?? 0, limit: pageSize)
            records += page
            if page.count < pageSize { return records }
        }
    }
}

/// A command run to its end.
struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `executable` with `arguments` (no shell) and waits for it.
func runProcess(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: stderr, as: UTF8.self))
}

/// The first executable named `name` on PATH, if any.
func executableOnPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
