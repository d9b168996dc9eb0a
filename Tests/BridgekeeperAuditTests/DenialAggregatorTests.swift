import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import Foundation
import Testing

/// A flood's refused authentications become one record at once and one aggregate per source,
/// route and reason per interval (issue 18 §3). Time is an input.
@Suite("Denial aggregation")
struct DenialAggregatorTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let bad = ReasonCode("bad_client_secret")
    static let replayed = ReasonCode("assertion_replayed")

    static func refusal(_ reason: ReasonCode = bad, client: String? = "gateway", remote: String = "192.0.2.1", at offset: Double) -> AuditEvent {
        AuditEvent(kind: .denial, reason: reason, time: t0.addingTimeInterval(offset), clientID: client, remoteAddress: remote)
    }

    func aggregator(maxKeys: Int = 100) -> DenialAggregator { DenialAggregator(interval: 60, maxKeys: maxKeys, reasons: [Self.bad]) }

    @Test("100 bad attempts from one source: the first recorded at once, 99 counted, one aggregate of 99 when the interval ends")
    func hundredFromOneSource() throws {
        let aggregator = aggregator()
        var written: [AuditEvent] = []
        for index in 0..<100 {
            let (record, due) = aggregator.admit(Self.refusal(at: Double(index) * 0.5), route: "/introspect", now: Self.t0.addingTimeInterval(Double(index) * 0.5))
            written += due + (record.map { [$0] } ?? [])
        }
        #expect(written.count == 1)
        #expect(written.first?.reason == Self.bad && written.first?.clientID == "gateway" && written.first?.route == "/introspect")
        #expect(written.first?.count == nil)
        #expect(aggregator.due(now: Self.t0.addingTimeInterval(59.9)).isEmpty)
        let aggregates = aggregator.due(now: Self.t0.addingTimeInterval(60))
        #expect(aggregates.count == 1)
        let aggregate = try #require(aggregates.first)
        #expect(aggregate.count == 99)
        #expect(aggregate.kind == .denial && aggregate.reason == Self.bad)
        #expect(aggregate.clientID == "gateway" && aggregate.remoteAddress == "192.0.2.1" && aggregate.route == "/introspect")
        #expect(aggregate.time == Self.t0.addingTimeInterval(60))
        // The interval is closed: the next refusal is recorded at once again.
        #expect(aggregator.admit(Self.refusal(at: 61), route: "/introspect", now: Self.t0.addingTimeInterval(61)).record != nil)
        #expect(aggregator.openCount == 1)
    }

    @Test("an aggregate that is due is handed back with the next refusal of any source")
    func dueWithNextRefusal() {
        let aggregator = aggregator()
        _ = aggregator.admit(Self.refusal(at: 0), route: "/token", now: Self.t0)
        _ = aggregator.admit(Self.refusal(at: 1), route: "/token", now: Self.t0.addingTimeInterval(1))
        let (record, due) = aggregator.admit(Self.refusal(client: "other", at: 70), route: "/token", now: Self.t0.addingTimeInterval(70))
        #expect(record?.clientID == "other")
        #expect(due.map(\.count) == [1])
        #expect(due.first?.clientID == "gateway")
    }

    @Test("distinct sources, routes and reasons get distinct records; a single refusal gets no aggregate")
    func distinctKeys() {
        let aggregator = aggregator()
        let other = DenialAggregator(interval: 60, reasons: [Self.bad, Self.replayed])
        #expect(aggregator.admit(Self.refusal(at: 0), route: "/token", now: Self.t0).record != nil)
        #expect(aggregator.admit(Self.refusal(client: "mcp-client", at: 0), route: "/token", now: Self.t0).record != nil)
        #expect(aggregator.admit(Self.refusal(client: nil, remote: "192.0.2.7", at: 0), route: "/token", now: Self.t0).record?.remoteAddress == "192.0.2.7")
        #expect(aggregator.admit(Self.refusal(at: 0), route: "/introspect", now: Self.t0).record != nil)
        #expect(other.admit(Self.refusal(at: 0), route: "/token", now: Self.t0).record != nil)
        #expect(other.admit(Self.refusal(Self.replayed, at: 0), route: "/token", now: Self.t0).record != nil)
        #expect(aggregator.openCount == 4)
        #expect(aggregator.due(now: Self.t0.addingTimeInterval(60)).isEmpty)
    }

    @Test("a denial of another reason, and any non-denial, is recorded every time")
    func otherReasonsPassThrough() {
        let aggregator = aggregator()
        for _ in 0..<3 {
            #expect(aggregator.admit(Self.refusal(Self.replayed, at: 0), route: "/token", now: Self.t0).record != nil)
            let issuance = AuditEvent(kind: .issuance, reason: Self.bad, time: Self.t0, clientID: "gateway")
            #expect(aggregator.admit(issuance, route: "/token", now: Self.t0).record == issuance)
        }
        #expect(aggregator.openCount == 0)
        let off = DenialAggregator(interval: 0, reasons: [Self.bad])
        #expect(off.admit(Self.refusal(at: 0), route: "/token", now: Self.t0).record != nil)
        #expect(off.admit(Self.refusal(at: 0), route: "/token", now: Self.t0).record != nil)
    }

    @Test("memory is bounded: past maxKeys, new sources share a catch-all key whose records name no source")
    func bounded() throws {
        let aggregator = aggregator(maxKeys: 2)
        _ = aggregator.admit(Self.refusal(client: "a", at: 0), route: "/token", now: Self.t0)
        _ = aggregator.admit(Self.refusal(client: "b", at: 0), route: "/token", now: Self.t0)
        let first = try #require(aggregator.admit(Self.refusal(client: "c", at: 0), route: "/token", now: Self.t0).record)
        #expect(first.clientID == nil && first.remoteAddress == nil && first.route == "/token")
        for index in 0..<1_000 {
            #expect(aggregator.admit(Self.refusal(client: "flood-\(index)", at: 1), route: "/token", now: Self.t0.addingTimeInterval(1)).record == nil)
        }
        #expect(aggregator.openCount == 3)
        let aggregates = aggregator.due(now: Self.t0.addingTimeInterval(60))
        #expect(aggregates.count == 1)
        #expect(aggregates.first?.count == 1_000 && aggregates.first?.clientID == nil)
    }

    @Test("drain hands back every open aggregate (shutdown), ended or not")
    func drain() {
        let aggregator = aggregator()
        for _ in 0..<5 { _ = aggregator.admit(Self.refusal(at: 0), route: "/revoke", now: Self.t0) }
        _ = aggregator.admit(Self.refusal(client: "lonely", at: 0), route: "/revoke", now: Self.t0)
        let drained = aggregator.drain(now: Self.t0.addingTimeInterval(5))
        #expect(drained.map(\.count) == [4])
        #expect(aggregator.openCount == 0)
    }

    @Test("count and route are hashed (a changed count breaks the chain) and absent they leave the bytes as before")
    func hashed() {
        var aggregate = Self.refusal(at: 60)
        let plain = AuditChain.canonicalBytes(sequence: 1, event: aggregate)
        #expect(!String(decoding: plain, as: UTF8.self).contains("count"))
        aggregate.count = 99
        aggregate.route = "/introspect"
        let text = String(decoding: AuditChain.canonicalBytes(sequence: 1, event: aggregate), as: UTF8.self)
        #expect(text.contains(#""client_id":"gateway","count":99,"kind""#), "\(text)")
        #expect(text.contains(#""remote":"192.0.2.1","route":"/introspect","seq""#), "\(text)")
        let record = AuditChain.append(aggregate, after: nil)
        guard case .intact = AuditChain.verify([record]) else { Issue.record("intact chain refused"); return }
        var forged = aggregate
        forged.count = 9
        let tampered = AuditRecord(sequence: 1, event: forged, previousHash: record.previousHash, hash: record.hash)
        guard case .broken = AuditChain.verify([tampered]) else { Issue.record("changed count not detected"); return }
    }
}
