import BridgekeeperCore
import BridgekeeperJOSE

/// An audit record as stored: the event, its position, and the hash chain that makes any change,
/// insertion, deletion or reordering of earlier records detectable.
public struct AuditRecord: Sendable, Hashable {
    /// 1-based and gapless.
    public let sequence: Int64
    public let event: AuditEvent
    /// `hash` of the previous record (`AuditChain.genesis` for the first), lower-case hex.
    public let previousHash: String
    /// SHA-256 over `previousHash` and the canonical encoding of (`sequence`, `event`), lower-case hex.
    public let hash: String

    /// A record as read back from a store, hashes as stored (verification recomputes them).
    public init(sequence: Int64, event: AuditEvent, previousHash: String, hash: String) {
        self.sequence = sequence
        self.event = event
        self.previousHash = previousHash
        self.hash = hash
    }
}

/// The hash chain over audit records. Pure: a store appends what `append` returns, in the same
/// transaction as the issuance, denial or revocation it records.
///
/// `hash(n) = SHA-256( previousHash(n) ‖ "\n" ‖ canonical(n) )`, where `canonical(n)` is the record's
/// fields (format version, sequence, event) as JSON with sorted member names, no whitespace, absent
/// fields omitted, the time in integer milliseconds. The chain proves order and integrity from its
/// first record to its last; that nothing was cut off the end needs an anchor kept elsewhere (the
/// last sequence and hash, exported to a SIEM or signed), which `verify(_:expectedHead:)` checks.
public enum AuditChain {
    public static let formatVersion: Int64 = 1
    public static let genesis = String(repeating: "0", count: 64)

    /// The bytes that are hashed for a record.
    public static func canonicalBytes(sequence: Int64, event: AuditEvent) -> [UInt8] {
        // Written directly, members in sorted (byte) order; the same bytes as serialising the
        // object with sorted keys (pinned by a test against a hash computed with Python).
        var out: [UInt8] = []
        out.reserveCapacity(512)
        var first = true
        func member(_ name: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func string(_ name: StaticString, _ value: String?) {
            guard let value else { return }
            member(name)
            JSONValue.writeString(value, into: &out)
        }
        // `actor`, `owner` and `by` came with format 1's agent records; absent, they are omitted, so
        // the hashes of records written before them are unchanged.
        string("actor", event.actor)
        string("assertion_jti", event.assertionID)
        string("by", event.performedBy)
        string("client_id", event.clientID)
        if let count = event.count {
            // Like `route`, only on refusals aggregated since issue 18; absent, the bytes are unchanged.
            member("count")
            out.append(contentsOf: String(count).utf8)
        }
        string("email_hash", event.emailHash)
        string("iss", event.issuer)
        string("jti", event.tokenID)
        string("kind", event.kind.rawValue)
        string("owner", event.owner)
        string("principal", event.principalClass)
        string("reason", event.reason.rawValue)
        string("remote", event.remoteAddress)
        string("route", event.route)
        if !event.scopes.isEmpty {
            member("scopes")
            out.append(UInt8(ascii: "["))
            for (index, scope) in event.scopes.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(scope, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        member("seq")
        out.append(contentsOf: String(sequence).utf8)
        string("server", event.server)
        string("sub", event.subject)
        string("tenant", event.tenant)
        member("time_ms")
        out.append(contentsOf: String(event.timeMilliseconds).utf8)
        member("v")
        out.append(contentsOf: String(formatVersion).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func hash(previousHash: String, sequence: Int64, event: AuditEvent) -> String {
        var input = Array(previousHash.utf8)
        input.append(0x0A)
        input.append(contentsOf: canonicalBytes(sequence: sequence, event: event))
        return Digest.hex(Digest.sha256(input))
    }

    /// The record that follows `last` (or starts the chain).
    public static func append(_ event: AuditEvent, after last: AuditRecord?) -> AuditRecord {
        let sequence = (last?.sequence ?? 0) + 1
        let previous = last?.hash ?? genesis
        return AuditRecord(sequence: sequence, event: event, previousHash: previous,
                           hash: hash(previousHash: previous, sequence: sequence, event: event))
    }

    public enum Verification: Sendable, Equatable {
        /// Every record checked; the chain's head (last sequence and hash).
        case intact(count: Int, lastSequence: Int64, lastHash: String)
        /// The first record that does not fit, and why.
        case broken(sequence: Int64, reason: String)
    }

    /// Checks records in order: gapless sequences from `start` (default: the chain's first record),
    /// each linked to the one before, each hash recomputed. With `expectedHead`, the last record must
    /// also be that anchor (detects records cut off the end).
    public static func verify<Records: Sequence>(
        _ records: Records, startingAfter start: (sequence: Int64, hash: String)? = nil,
        expectedHead: (sequence: Int64, hash: String)? = nil
    ) -> Verification where Records.Element == AuditRecord {
        var expectedSequence = (start?.sequence ?? 0) + 1
        var previous = start?.hash ?? genesis
        var count = 0
        for record in records {
            guard record.sequence == expectedSequence else {
                return .broken(sequence: record.sequence, reason: "expected sequence \(expectedSequence): a record is missing, duplicated or out of order")
            }
            guard record.previousHash.utf8.elementsEqual(previous.utf8) else {
                return .broken(sequence: record.sequence, reason: "previous-hash link does not match the record before it")
            }
            let recomputed = hash(previousHash: previous, sequence: record.sequence, event: record.event)
            guard recomputed.utf8.elementsEqual(record.hash.utf8) else {
                return .broken(sequence: record.sequence, reason: "content does not match its hash: the record was altered")
            }
            previous = record.hash
            expectedSequence += 1
            count += 1
        }
        let lastSequence = expectedSequence - 1
        if let expectedHead, expectedHead.sequence != lastSequence || !expectedHead.hash.utf8.elementsEqual(previous.utf8) {
            return .broken(sequence: lastSequence + 1, reason: "chain ends at \(lastSequence), but the anchor is at \(expectedHead.sequence): records were cut off the end")
        }
        return .intact(count: count, lastSequence: lastSequence, lastHash: previous)
    }
}
