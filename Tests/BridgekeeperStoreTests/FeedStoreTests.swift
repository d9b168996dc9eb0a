import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperStore
import Foundation
import Testing

/// The revocation feed's store contract (issue 7), on every store.
@Suite("Store contract: the revocation feed")
struct FeedStoreTests {
    typealias F = Fixture

    static func revocation(_ jti: String, at time: Date = F.t0) -> AuditEvent {
        AuditEvent(kind: .revocation, reason: ReasonCode("revoked_by_client"), time: time, issuer: F.idp, subject: "00u-alice", tokenID: jti)
    }

    static func stream(_ id: String, client: String = "gw", through: Int64 = 0) -> FeedStream {
        FeedStream(id: id, clientID: client, description: "d", eventsRequested: ["e"], createdAt: F.t0, acknowledgedThrough: through)
    }

    static func created(_ id: String) -> AuditEvent {
        AuditEvent(kind: .administration, reason: .feedStreamCreated, time: F.t0, clientID: "gw", performedBy: "feed:" + id)
    }

    @Test("the cursor moves over acknowledged events to the first unacknowledged one, over non-events to the head when none is left, never over an event it did not send")
    func acknowledgingIsPure() {
        let s = Self.stream("fs_1", through: 10)
        // Pending events 12, 15, 20 (11, 13, 14… are not events).
        #expect(s.acknowledging([12], pending: [12, 15, 20], complete: true, head: 30).acknowledgedThrough == 12)
        let gap = s.acknowledging([15, 20], pending: [12, 15, 20], complete: true, head: 30)
        #expect(gap.acknowledgedThrough == 10 && gap.acknowledgedBeyond == [15, 20])
        let filled = gap.acknowledging([12], pending: [12, 15, 20], complete: true, head: 30)
        #expect(filled.acknowledgedThrough == 30 && filled.acknowledgedBeyond.isEmpty)
        // Not complete (more pending than read): never to the head.
        #expect(s.acknowledging([12, 15, 20], pending: [12, 15, 20], complete: false, head: 30).acknowledgedThrough == 20)
        // A sequence that is not a pending event changes nothing.
        #expect(s.acknowledging([13, 99], pending: [12], complete: true, head: 30) == s)
        // Nothing pending: up to the head.
        #expect(s.acknowledging([], pending: [], complete: true, head: 30).acknowledgedThrough == 30)
    }

    @Test("streams are added, read by id and by client, acknowledged with a record and an audit event only when the cursor moves, and removed", arguments: StoreKind.allCases)
    func streams(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            _ = try await store.append(Self.revocation("at-1"))                                   // 1
            _ = try await store.append(AuditEvent(kind: .issuance, reason: .issued, time: F.t0))    // 2 (not an event)
            #expect(try await store.feedRecords(afterSequence: 0, limit: 10).map(\.sequence) == [1])
            try await store.addFeedStream(Self.stream("fs_a"), audit: Self.created("fs_a"))        // 3
            try await store.addFeedStream(Self.stream("fs_b", client: "other"), audit: Self.created("fs_b"))  // 4
            #expect(try await store.feedStream(id: "fs_a") == Self.stream("fs_a"))
            #expect(try await store.feedStreams(clientID: "gw").map(\.id) == ["fs_a"])
            let audit: @Sendable (FeedStream, FeedStream) -> [AuditEvent] = { _, after in
                [AuditEvent(kind: .administration, reason: .feedAcknowledged, time: F.t0, clientID: "gw", scopes: ["through:\(after.acknowledgedThrough)"])]
            }
            // A poll that acknowledges nothing writes nothing; one that acknowledges a sequence it was
            // never sent moves nothing and is not audited.
            #expect(try await store.acknowledgeFeed(streamID: "fs_a", sequences: [], at: F.t0, audit: audit) == Self.stream("fs_a"))
            #expect(try await store.acknowledgeFeed(streamID: "fs_a", sequences: [2, 99], at: F.t0, audit: audit) == Self.stream("fs_a"))
            let moved = try #require(try await store.acknowledgeFeed(streamID: "fs_a", sequences: [1], at: F.t0.addingTimeInterval(5), audit: audit))
            #expect(moved.acknowledgedThrough == 4)  // over the event, then the non-events to the head
            let records = try await store.auditRecords(afterSequence: 0, limit: 10)
            #expect(records.map(\.event.reason) == [ReasonCode("revoked_by_client"), .issued, .feedStreamCreated, .feedStreamCreated, .feedAcknowledged])
            #expect(try await store.feedAcknowledgements(covering: 1) == [FeedAcknowledgement(streamID: "fs_a", clientID: "gw", through: 4,
                                                                                                 at: F.t0.addingTimeInterval(5))])
            #expect(try await store.feedAcknowledgements(covering: 6).isEmpty)
            #expect(try await store.acknowledgeFeed(streamID: "fs_none", sequences: [1], at: F.t0, audit: audit) == nil)
            #expect(try await store.removeFeedStream(id: "fs_a", audit: Self.created("fs_a")))
            #expect(try await store.removeFeedStream(id: "fs_a", audit: Self.created("fs_a")) == false)
            #expect(try await store.feedStream(id: "fs_a") == nil)
            // Acknowledgements stay: they are evidence.
            #expect(try await store.feedAcknowledgements(covering: 1).count == 1)
        }
    }

    @Test("a new stream starts just before the first event within the lookback, else at the head", arguments: StoreKind.allCases)
    func start(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            #expect(try await store.feedStart(notBefore: F.t0) == 0)
            _ = try await store.append(Self.revocation("old", at: F.t0.addingTimeInterval(-7_200)))    // 1
            _ = try await store.append(AuditEvent(kind: .issuance, reason: .issued, time: F.t0))        // 2
            #expect(try await store.feedStart(notBefore: F.t0.addingTimeInterval(-3_600)) == 2)
            _ = try await store.append(Self.revocation("recent", at: F.t0.addingTimeInterval(-60)))     // 3
            _ = try await store.append(AuditEvent(kind: .issuance, reason: .issued, time: F.t0))        // 4
            #expect(try await store.feedStart(notBefore: F.t0.addingTimeInterval(-3_600)) == 2)
            #expect(try await store.feedStart(notBefore: F.t0.addingTimeInterval(-10_000)) == 0)
        }
    }

    @Test("a receipt written with an offboarding names the last audit sequence of its transaction", arguments: StoreKind.allCases)
    func receiptSequence(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            _ = try await store.append(AuditEvent(kind: .issuance, reason: .issued, time: F.t0))        // 1
            let receipt = StoredReceipt(id: "rcpt_1", subject: F.alice, signalID: "sig_1", issuedAt: F.t0, jws: "a.b.c")
            _ = try await store.revokeSubject(F.alice, at: F.t0, disable: true) { _ in
                RevocationRecords(audit: [AuditEvent(kind: .administration, reason: .subjectOffboarded, time: F.t0, issuer: F.idp, subject: "00u-alice"),
                                          AuditEvent(kind: .administration, reason: ReasonCode("agent_disabled_with_owner"), time: F.t0)],
                                  receipt: receipt)
            }
            #expect(try await store.receipt(id: "rcpt_1")?.auditSequence == 3)
            #expect(try await store.feedRecords(afterSequence: 0, limit: 10).map(\.sequence) == [2])
        }
    }
}
