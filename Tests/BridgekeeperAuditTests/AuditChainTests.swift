import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import Foundation
import Testing

@Suite("Audit hash chain")
struct AuditChainTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_262_400.5)

    static func issuance(_ subject: String = "00u-alice", at offset: Double = 0) -> AuditEvent {
        AuditEvent(kind: .issuance, reason: .issued, time: t0.addingTimeInterval(offset), issuer: "https://idp.example.com",
                   subject: subject, clientID: "mcp-client", principalClass: "human", server: "https://mcp.example.com/github",
                   scopes: ["repo:read", "issues:write"], tokenID: "at-1", remoteAddress: "127.0.0.1")
    }

    static func chain(_ count: Int) -> [AuditRecord] {
        var records: [AuditRecord] = []
        for index in 0..<count {
            let event = index % 3 == 1
                ? AuditEvent(kind: .denial, reason: ReasonCode("assertion_replayed"), time: t0.addingTimeInterval(Double(index)),
                             issuer: "https://idp.example.com", subject: "00u-bob", clientID: "mcp-client", assertionID: "jag-\(index)")
                : issuance("00u-user-\(index)", at: Double(index))
            records.append(AuditChain.append(event, after: records.last))
        }
        return records
    }

    @Test("the canonical encoding and the first hash are pinned (hash computed with Python's hashlib)")
    func golden() {
        let record = AuditChain.append(Self.issuance(), after: nil)
        let canonical = String(decoding: AuditChain.canonicalBytes(sequence: 1, event: record.event), as: UTF8.self)
        #expect(canonical == #"{"client_id":"mcp-client","iss":"https://idp.example.com","jti":"at-1","kind":"issuance","principal":"human","reason":"issued","remote":"127.0.0.1","scopes":["repo:read","issues:write"],"seq":1,"server":"https://mcp.example.com/github","sub":"00u-alice","time_ms":1795262400500,"v":1}"#)
        #expect(record.sequence == 1)
        #expect(record.previousHash == AuditChain.genesis)
        #expect(record.hash == "847ff3041429fe11f87942fa8343beaa8ecbf73a97a154c62aa355c3935c37e5")
    }

    @Test("an untouched chain verifies and reports its head")
    func intact() {
        let records = Self.chain(10)
        #expect(AuditChain.verify(records) == .intact(count: 10, lastSequence: 10, lastHash: records[9].hash))
        #expect(AuditChain.verify(records, expectedHead: (10, records[9].hash)) == .intact(count: 10, lastSequence: 10, lastHash: records[9].hash))
        #expect(AuditChain.verify([AuditRecord]()) == .intact(count: 0, lastSequence: 0, lastHash: AuditChain.genesis))
    }

    @Test("an altered field is caught at its record")
    func altered() {
        var records = Self.chain(5)
        var event = records[2].event
        event.subject = "00u-mallory"
        records[2] = AuditRecord(sequence: 3, event: event, previousHash: records[2].previousHash, hash: records[2].hash)
        guard case .broken(let sequence, let reason) = AuditChain.verify(records) else { Issue.record("not detected"); return }
        #expect(sequence == 3)
        #expect(reason.contains("altered"))
    }

    @Test("a record re-hashed after alteration breaks the next link")
    func rehashed() {
        var records = Self.chain(5)
        var event = records[1].event
        event.reason = .issued
        records[1] = AuditChain.append(event, after: records[0])  // a consistent forgery of record 2 alone
        guard case .broken(let sequence, let reason) = AuditChain.verify(records) else { Issue.record("not detected"); return }
        #expect(sequence == 3)
        #expect(reason.contains("previous-hash"))
    }

    @Test("deleted, duplicated and reordered records are caught")
    func structure() {
        let records = Self.chain(6)
        var deleted = records
        deleted.remove(at: 3)
        #expect(AuditChain.verify(deleted) == .broken(sequence: 5, reason: "expected sequence 4: a record is missing, duplicated or out of order"))
        var duplicated = records
        duplicated.insert(records[2], at: 3)
        guard case .broken(let duplicateAt, _) = AuditChain.verify(duplicated) else { Issue.record("duplicate not detected"); return }
        #expect(duplicateAt == 3)
        var swapped = records
        swapped.swapAt(1, 2)
        guard case .broken(let swapAt, _) = AuditChain.verify(swapped) else { Issue.record("swap not detected"); return }
        #expect(swapAt == 3)
    }

    @Test("records cut off the end are caught only against an anchor, as documented")
    func truncation() {
        let records = Self.chain(6)
        let cut = Array(records.prefix(4))
        #expect(AuditChain.verify(cut) == .intact(count: 4, lastSequence: 4, lastHash: records[3].hash))
        guard case .broken(let sequence, let reason) = AuditChain.verify(cut, expectedHead: (6, records[5].hash)) else {
            Issue.record("truncation not detected against the anchor"); return
        }
        #expect(sequence == 5)
        #expect(reason.contains("cut off"))
    }

    @Test("verification can resume from a checkpoint")
    func resume() {
        let records = Self.chain(8)
        let tail = Array(records.suffix(3))
        #expect(AuditChain.verify(tail, startingAfter: (5, records[4].hash)) == .intact(count: 3, lastSequence: 8, lastHash: records[7].hash))
        guard case .broken = AuditChain.verify(tail, startingAfter: (5, AuditChain.genesis)) else { Issue.record("wrong checkpoint accepted"); return }
    }

    @Test("time is hashed at millisecond precision and survives a round trip")
    func timePrecision() {
        let event = AuditEvent(kind: .revocation, reason: ReasonCode("rfc7009"), time: Date(timeIntervalSince1970: 1_795_262_400.123_9))
        #expect(event.timeMilliseconds == 1_795_262_400_123)
        let again = AuditEvent(kind: .revocation, reason: ReasonCode("rfc7009"), time: event.time)
        #expect(AuditChain.canonicalBytes(sequence: 1, event: again) == AuditChain.canonicalBytes(sequence: 1, event: event))
    }

    @Test("e-mail addresses are stored only as a keyed hash (HMAC-SHA-256, value from Python's hmac)")
    func emailHash() {
        let key = Array("audit-key-0123456789abcdef012345".utf8)
        let hash = AuditEvent.emailHash("Alice@Example.com", key: key)
        #expect(hash == "hmac-sha256:e8ea0497aea0b7e11cd6f36a197426b17a304787fa4b635bf5bc611a7515f8f4")
        #expect(AuditEvent.emailHash("alice@example.com", key: Array("another-key-0123456789abcdef0123".utf8)) != hash)
        #expect(!hash.contains("alice"))
    }

    @Test("the directly written canonical form equals the sorted-key JSON serialisation, for every field and awkward strings")
    func canonicalEqualsSortedJSON() throws {
        let event = AuditEvent(kind: .denial, reason: ReasonCode("assertion_replayed"), time: Date(timeIntervalSince1970: 1_795_262_400.123),
                               issuer: "https://login.microsoftonline.com/t/v2.0", tenant: "t-\"1\"", subject: "sub\\é\u{1F600}",
                               clientID: "client", principalClass: "human", server: "https://mcp.example.com/x", scopes: ["a", "b:c"],
                               tokenID: "jti", assertionID: "a-jti", remoteAddress: "::1", emailHash: "hmac-sha256:00",
                               actor: "robot-\"1\"", owner: "00u-alice", performedBy: "sub:https://idp.example|00u-admin")
        for sequence: Int64 in [1, 42, 9_007_199_254_740_993] {
            var object = JSONObject()
            object["v"] = .number(JSONNumber(AuditChain.formatVersion))
            object["seq"] = .number(JSONNumber(sequence))
            object["kind"] = .string(event.kind.rawValue)
            object["reason"] = .string(event.reason.rawValue)
            object["time_ms"] = .number(JSONNumber(event.timeMilliseconds))
            for (name, value) in [("iss", event.issuer), ("tenant", event.tenant), ("sub", event.subject), ("client_id", event.clientID),
                                  ("principal", event.principalClass), ("server", event.server), ("jti", event.tokenID),
                                  ("assertion_jti", event.assertionID), ("remote", event.remoteAddress), ("email_hash", event.emailHash),
                                  ("actor", event.actor), ("owner", event.owner), ("by", event.performedBy)] {
                if let value { object[name] = .string(value) }
            }
            object["scopes"] = .array(event.scopes.map(JSONValue.string))
            let reference = Array(JSONValue.object(object).serialized(sortedKeys: true).utf8)
            #expect(AuditChain.canonicalBytes(sequence: sequence, event: event) == reference)
        }
        let bare = AuditEvent(kind: .issuance, reason: .issued, time: Date(timeIntervalSince1970: 0))
        #expect(String(decoding: AuditChain.canonicalBytes(sequence: 1, event: bare), as: UTF8.self)
                == #"{"kind":"issuance","reason":"issued","seq":1,"time_ms":0,"v":1}"#)
    }
}
