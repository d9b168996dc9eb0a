import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import BridgekeeperTesting

/// Log records kept in memory (a swift-log handler), for tests of what the server logs.
final class CapturedLog: Sendable {
    struct Record: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
        /// Everything the line carries, as one text to search for what must never be logged.
        var text: String { message + " " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
    }

    let records = Mutex<[Record]>([])

    /// A logger at `level` (the server's default is `info`) that writes here.
    func logger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "bridgekeeper") { _ in Handler(log: self) }
        logger.logLevel = level
        return logger
    }

    var all: [Record] { records.withLock { $0 } }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            let merged = metadata.merging(explicit ?? [:]) { _, new in new }
            log.records.withLock { $0.append(Record(level: level, message: message.description, metadata: merged.mapValues { "\($0)" })) }
        }
    }
}

// At the default log level, every refusal is one log line with its reason code, client and
// route, and never a credential (STYLE rule 15).

@Suite("refusals are logged at the default level")
struct RefusalLogTests: JWTBearerTesting {
    /// The records at `notice` or above after the first `from` records (start-up notes the first
    /// signing key): what an operator sees at the default level.
    func visible(_ log: CapturedLog, from start: Int = 0) -> [CapturedLog.Record] { log.all.dropFirst(start).filter { $0.level >= .notice } }

    @Test("a refused token request logs exactly one line: reason, client id and route, no assertion or secret")
    func refusedTokenRequest() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        let log = CapturedLog()
        try await withServer(deployment, clock: clock, logger: log.logger()) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()), with: deployment.idp.otherKey)
            let start = log.all.count
            let response = try await client.redeem(assertion)
            try await expectRefusal(response, error: "invalid_grant", reason: "bad_signature", server: server)
            let lines = visible(log, from: start)
            #expect(lines.count == 1, "\(lines.map(\.text))")
            let line = try #require(lines.first)
            #expect(line.metadata["reason"] == "bad_signature", "\(line.text)")
            #expect(line.metadata["client_id"] == TestDeployment.clientID, "\(line.text)")
            #expect(line.metadata["route"] == "POST /token", "\(line.text)")
            #expect(line.metadata["status"] == "400", "\(line.text)")
            for record in log.all {
                #expect(!record.text.contains(assertion), "the assertion was logged: \(record.text)")
                #expect(!record.text.contains(assertion.split(separator: ".")[2]), "the signature was logged: \(record.text)")
                #expect(!record.text.contains(TestDeployment.clientSecret), "the secret was logged: \(record.text)")
            }
        }
    }

    @Test("a wrong client secret logs one line with bad_client_secret and never the secret tried")
    func wrongSecret() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        let log = CapturedLog()
        try await withServer(deployment, clock: clock, logger: log.logger()) { client, server in
            let tried = "guessed-secret-do-not-log-0123456789"
            let start = log.all.count
            let response = try await client.post("/introspect", [("token", "x.y.z")], authorization: basic(TestDeployment.gatewayID, tried))
            #expect(response.status == .unauthorized)
            let lines = visible(log, from: start)
            #expect(lines.count == 1, "\(lines.map(\.text))")
            #expect(lines.first?.metadata["reason"] == "bad_client_secret")
            #expect(lines.first?.metadata["client_id"] == TestDeployment.gatewayID)
            #expect(lines.first?.metadata["route"] == "POST /introspect")
            #expect(log.all.allSatisfy { !$0.text.contains(tried) && !$0.text.contains("x.y.z") })
        }
    }

    @Test("a refusal by a JSON API (the management API without a token) is logged the same way, once")
    func refusedAPIRequest() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        let log = CapturedLog()
        try await withServer(deployment, clock: clock, logger: log.logger()) { client, server in
            let start = log.all.count
            let response = try await client.execute(uri: "/admin/v1/agents?owner=00u-alice", method: .get)
            #expect(response.status == .unauthorized)
            let audited = try await auditTrail(server).last?.event
            #expect(audited?.kind == .denial)
            let lines = visible(log, from: start)
            #expect(lines.count == 1, "\(lines.map(\.text))")
            #expect(lines.first?.metadata["reason"] == audited?.reason.rawValue)
            #expect(lines.first?.metadata["route"] == "GET /admin/v1/agents", "the query is never logged")
            #expect(lines.first?.metadata["status"] == "401")
        }
    }

    @Test("outside the OAuth endpoints a Basic user name is never logged as a client id: it may be a token")
    func basicUserNameElsewhere() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        let log = CapturedLog()
        try await withServer(deployment, clock: clock, logger: log.logger()) { client, _ in
            let start = log.all.count
            let secret = "ghp_0123456789abcdefTOKENinUSERNAME"
            let basic = "Basic " + Data("\(secret):x-oauth-basic".utf8).base64EncodedString()
            let response = try await client.execute(uri: "/admin/v1/agents", method: .get, headers: [.authorization: basic])
            #expect(response.status == .badRequest, "\(response.text)")
            let lines = visible(log, from: start)
            #expect(lines.count == 1, "\(lines.map(\.text))")
            #expect(lines.first?.metadata["client_id"] == "-")
            #expect(log.all.allSatisfy { !$0.text.contains(secret) })
        }
    }

    @Test("a successful request logs no refusal")
    func successIsNotARefusal() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        let log = CapturedLog()
        try await withServer(deployment, clock: clock, logger: log.logger()) { client, _ in
            let start = log.all.count
            let response = try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now())))
            #expect(response.status == .ok, "\(response.text)")
            #expect(visible(log, from: start).isEmpty, "\(visible(log, from: start).map(\.text))")
        }
    }
}
