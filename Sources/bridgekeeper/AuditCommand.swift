import ArgumentParser
import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperConfig
import BridgekeeperJOSE
import BridgekeeperStoreSQLite
import Foundation

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Read and check the audit trail.",
        subcommands: [Verify.self, Tail.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain from the first record to the last.",
            discussion: """
                Recomputes every record's hash and link. With --anchor SEQUENCE:HASH (a head you kept elsewhere,
                e.g. in a SIEM), also proves that nothing was cut off the end. Exit 0 when intact, 1 when not.
                """
        )

        @OptionGroup var location: Location

        @Option(help: "An expected head, SEQUENCE:HASH.")
        var anchor: String?

        func run() async throws {
            try await reportingFailures {
                let store = try await SQLiteStore.open(path: try location.configuration().databasePath)
                var expected: (sequence: Int64, hash: String)? = nil
                if let anchor {
                    let parts = anchor.split(separator: ":", maxSplits: 1).map(String.init)
                    guard parts.count == 2, let sequence = Int64(parts[0]) else {
                        throw CLIFailure("usage", "--anchor must be SEQUENCE:HASH", exitCode: 2)
                    }
                    expected = (sequence, parts[1])
                }
                var records: [AuditRecord] = []
                var after: Int64 = 0
                while true {
                    let page = try await store.auditRecords(afterSequence: after, limit: 5000)
                    records += page
                    guard let last = page.last else { break }
                    after = last.sequence
                }
                await store.close()
                switch AuditChain.verify(records) {
                case .intact(let count, let lastSequence, let lastHash):
                    // An anchor is a head kept elsewhere earlier: the chain must still contain it, so
                    // nothing up to it was cut off or rewritten (later records may follow it).
                    if let expected {
                        guard let anchored = records.first(where: { $0.sequence == expected.sequence }) else {
                            throw CLIFailure("audit_chain_broken", "the chain ends at \(lastSequence), before the anchor \(expected.sequence): records were cut off the end")
                        }
                        guard anchored.hash.utf8.elementsEqual(expected.hash.utf8) else {
                            throw CLIFailure("audit_chain_broken", "record \(expected.sequence) does not match the anchor's hash")
                        }
                    }
                    print("intact: \(count) records; head \(lastSequence):\(lastHash)")
                case .broken(let sequence, let reason):
                    throw CLIFailure("audit_chain_broken", "at record \(sequence): \(reason)")
                }
            }
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the latest audit records as a table, or as JSON lines for a SIEM."
        )

        @OptionGroup var location: Location

        @Option(name: [.short, .long], help: "How many records.")
        var lines: Int = 20

        @Flag(help: "One JSON object per line (the hashed fields, plus seq, hash and prev_hash).")
        var json = false

        @Option(help: "Only the records of this agent (what it did, and what was done to it).")
        var agent: String?

        @Option(help: "Only the records of this person (their IdP sub) and of their agents.")
        var owner: String?

        func run() async throws {
            try await reportingFailures {
                let store = try await SQLiteStore.open(path: try location.configuration().databasePath)
                let filter = AuditFilter(agent: agent, owner: owner)
                var records: [AuditRecord] = []
                do {
                    // From the head backwards, a page at a time, until enough records match.
                    var before = (try await store.lastAuditRecord()?.sequence ?? 0) + 1
                    let page: Int64 = filter.isEmpty ? Int64(max(lines, 0)) : 5_000
                    while records.count < lines, before > 1 {
                        let start = max(0, before - 1 - page)
                        let chunk = try await store.auditRecords(afterSequence: start, limit: Int(before - 1 - start))
                        records = chunk.filter(filter.matches) + records
                        before = start + 1
                    }
                    records = Array(records.suffix(max(lines, 0)))
                } catch {
                    await store.close()
                    throw error
                }
                await store.close()
                if json {
                    for record in records {
                        guard case .object(var object) = try JSONValue.parse(AuditChain.canonicalBytes(sequence: record.sequence, event: record.event)) else { continue }
                        object["hash"] = .string(record.hash)
                        object["prev_hash"] = .string(record.previousHash)
                        print(JSONValue.object(object).serialized(sortedKeys: true))
                    }
                    return
                }
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                var rows = [["SEQ", "TIME", "KIND", "REASON", "PRINCIPAL", "SUBJECT", "AGENT", "OWNER", "CLIENT", "SERVER", "SCOPES", "REMOTE", "BY", "ROUTE", "COUNT"]]
                for record in records {
                    let e = record.event
                    rows.append([String(record.sequence), formatter.string(from: e.time), e.kind.rawValue, e.reason.rawValue,
                                 e.principalClass ?? "-", e.subject ?? "-", e.actor ?? "-", e.owner ?? "-", e.clientID ?? "-", e.server ?? "-",
                                 e.scopes.isEmpty ? "-" : e.scopes.joined(separator: " "), e.remoteAddress ?? "-", e.performedBy ?? "-",
                                 e.route ?? "-", e.count.map(String.init) ?? "-"])
                }
                let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
                for row in rows {
                    print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
                }
            }
        }
    }
}
