import ArgumentParser
import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperRevocation
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import BridgekeeperKeys
import BridgekeeperClientAuth

/// `bridgekeeper receipts`: the signed evidence of each offboarding (issue 6).
struct ReceiptsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipts",
        abstract: "Show the signed revocation receipts that offboardings produced.",
        subcommands: [Show.self, List.self]
    )

    /// A receipt as JSON: its id, the JWS, and its claims after checking the signature against the
    /// broker's own published keys.
    static func describe(_ receipt: StoredReceipt, configuration c: Configuration, store: SQLiteStore) async throws -> JSONObject {
        let keys = try await KeyRing.forOperator(c, store: store)
        var object = JSONObject(["id": .string(receipt.id), "signal_id": .string(receipt.signalID), "jws": .string(receipt.jws)])
        do {
            let claims = try ReceiptVerifier.verify(receipt.jws, issuer: c.issuer, keys: keys.snapshot.published, now: SystemClock().now())
            object["signature"] = .string("valid")
            object["claims"] = .object(claims.object)
        } catch {
            object["signature"] = .string("invalid: \(error)")
        }
        for member in try await ReceiptAcknowledgements.json(receipt, store: store).members { object[member.name] = member.value }
        return object
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one receipt as JSON: the JWS, its verified claims (subject, trigger, time, agents and tokens revoked), and the gateways that acknowledged it on the revocation feed.",
            discussion: "Exit 0 with signature \"valid\"; exit 1 when there is no such receipt or its signature does not verify."
        )

        @OptionGroup var location: Location
        @Argument(help: "The receipt's id (rcpt_…).") var id: String

        func run() async throws {
            try await reportingFailures {
                try await AgentsCommand.withStore(location) { c, store in
                    guard let receipt = try await store.receipt(id: id) else { throw CLIFailure("not_found", "no receipt \(id)") }
                    let object = try await ReceiptsCommand.describe(receipt, configuration: c, store: store)
                    print(JSONValue.object(object).serialized(pretty: true))
                    guard object["signature"] == .string("valid") else { throw CLIFailure("invalid_receipt", "the receipt's signature does not verify") }
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a person's receipts, newest first: id, time, signal.")

        @OptionGroup var location: Location
        @OptionGroup var person: UsersCommand.SubjectOptions

        func run() async throws {
            try await reportingFailures {
                try await AgentsCommand.withStore(location) { c, store in
                    let f = ISO8601DateFormatter()
                    for receipt in try await store.receipts(of: try person.key(c)) {
                        print("\(receipt.id)  \(f.string(from: receipt.issuedAt))  \(receipt.signalID)")
                    }
                }
            }
        }
    }
}
