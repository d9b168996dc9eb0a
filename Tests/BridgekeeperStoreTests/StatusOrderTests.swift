import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperStore
import Foundation
import Testing

/// Status changes apply by when their event occurred, not when they arrived (issue 18): a late
/// "enable" never undoes a newer "disable", nor a late "disable" a newer "enable".
@Suite("Store contract: status changes in event order")
struct StatusOrderContractTests {
    typealias F = Fixture
    static let person = SubjectKey(issuer: F.idp, subject: "00u-late")

    static func signal(_ id: String, _ action: InboundSignal.Action, occurred: TimeInterval) -> InboundSignal {
        InboundSignal(id: id, source: .ssf, connection: "idp-stream", externalID: id, event: "test", subject: person, action: action,
                      receivedAt: F.t0.addingTimeInterval(100), occurredAt: F.t0.addingTimeInterval(occurred))
    }

    static func outcomeRecord(_ outcome: EnableOutcome) -> [AuditEvent] {
        let name = switch outcome {
        case .enabled: "enabled"
        case .notDisabled: "not_disabled"
        case .superseded: "superseded"
        }
        return [AuditEvent(kind: .administration, reason: ReasonCode("enable_\(name)"), time: F.t0)]
    }

    @Test("the rule: a disable stands unless a later enable does; an enable must be strictly newer (the same instant goes to the disable)")
    func rule() {
        let t = F.t0
        #expect(StatusOrder.disables(asOf: t, lastChange: nil, disabled: false))
        #expect(StatusOrder.disables(asOf: t, lastChange: t, disabled: false))
        #expect(!StatusOrder.disables(asOf: t, lastChange: t.addingTimeInterval(0.001), disabled: false))
        #expect(StatusOrder.disables(asOf: t, lastChange: t.addingTimeInterval(5), disabled: true), "already disabled: stays so")
        #expect(StatusOrder.enables(asOf: t, lastChange: nil))
        #expect(!StatusOrder.enables(asOf: t, lastChange: t))
        #expect(StatusOrder.enables(asOf: t.addingTimeInterval(0.001), lastChange: t))
        #expect(!StatusOrder.enables(asOf: t, lastChange: t.addingTimeInterval(1)))
    }

    @Test("signals keep their event time (to the millisecond) in the inbox", arguments: StoreKind.allCases)
    func eventTimeRoundTrips(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let signal = Self.signal("sig-1", .enable, occurred: 12.345)
            _ = try await store.receive(signal, audit: nil)
            let pending = try #require(try await store.pendingSignals(limit: 10).first)
            #expect(pending.occurredAt == F.t0.addingTimeInterval(12.345))
            #expect(pending.receivedAt == F.t0.addingTimeInterval(100))
            #expect(try await store.signal(id: "sig-1")?.signal.occurredAt == F.t0.addingTimeInterval(12.345))
        }
    }

    @Test("out of order: a late enable is superseded, a newer one enables, a late disable revokes but does not disable, a tie goes to the disable; completed signals write nothing",
          arguments: StoreKind.allCases)
    func lateSignals(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let person = Self.person
            for signal in [Self.signal("disable-30", .offboard, occurred: 30), Self.signal("enable-10", .enable, occurred: 10),
                           Self.signal("enable-40", .enable, occurred: 40), Self.signal("disable-35", .offboard, occurred: 35),
                           Self.signal("disable-50", .offboard, occurred: 50), Self.signal("enable-50", .enable, occurred: 50)] {
                _ = try await store.receive(signal, audit: nil)
            }
            func offboard(_ id: String, asOf: TimeInterval, at: TimeInterval) async throws -> OwnerOffboarding {
                try await store.revokeSubject(person, at: F.t0.addingTimeInterval(at), disable: true, asOf: F.t0.addingTimeInterval(asOf),
                                              records: { _ in RevocationRecords(audit: [], completes: id) })
            }
            func enable(_ id: String, asOf: TimeInterval, at: TimeInterval) async throws -> EnableOutcome {
                try await store.completeEnabling(id, subject: person, at: F.t0.addingTimeInterval(at), asOf: F.t0.addingTimeInterval(asOf),
                                                 audit: Self.outcomeRecord)
            }

            #expect(try await offboard("disable-30", asOf: 30, at: 100).disableSuperseded == false)
            #expect(try await store.isDisabled(person))

            // Disabled at 30; an enable of 10 arrives late: nothing changes, the signal completes.
            #expect(try await enable("enable-10", asOf: 10, at: 101) == .superseded(lastChange: F.t0.addingTimeInterval(30)))
            #expect(try await store.isDisabled(person))
            #expect(try await store.signal(id: "enable-10")?.completedAt != nil)
            #expect(try await store.lastAuditRecord()?.event.reason == ReasonCode("enable_superseded"))

            // An enable of 40 is newer: enabled.
            #expect(try await enable("enable-40", asOf: 40, at: 102) == .enabled)
            #expect(try await !store.isDisabled(person))

            // A disable of 35 arrives after it: the token issued meanwhile is revoked, the person stays enabled.
            _ = try await store.commit(marks: [], token: F.token("after-enable", subject: person, assertion: nil), audit: nil)
            let late = try await offboard("disable-35", asOf: 35, at: 103)
            #expect(late.disableSuperseded)
            #expect(late.tokensRevoked.map(\.jti) == ["after-enable"])
            #expect(try await !store.isDisabled(person))
            #expect(try await store.signal(id: "disable-35")?.completedAt != nil)

            // A disable and an enable of the same instant: the disable wins, whichever comes first.
            #expect(try await offboard("disable-50", asOf: 50, at: 104).disableSuperseded == false)
            #expect(try await enable("enable-50", asOf: 50, at: 105) == .superseded(lastChange: F.t0.addingTimeInterval(50)))
            #expect(try await store.isDisabled(person))

            // Completing a completed signal tells the outcome and writes nothing.
            let head = try await store.lastAuditRecord()?.sequence
            #expect(try await enable("enable-40", asOf: 40, at: 106) == .superseded(lastChange: F.t0.addingTimeInterval(50)))
            #expect(try await store.isDisabled(person))
            #expect(try await store.lastAuditRecord()?.sequence == head)

            // Another person's status is their own.
            #expect(try await !store.isDisabled(SubjectKey(issuer: F.idp, tenant: "t2", subject: "00u-late")))
        }
    }

    @Test("an enable of someone not disabled is recorded as their last change: a late disable older than it does not disable",
          arguments: StoreKind.allCases)
    func enableWhileEnabled(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            for signal in [Self.signal("enable-20", .enable, occurred: 20), Self.signal("disable-15", .offboard, occurred: 15)] {
                _ = try await store.receive(signal, audit: nil)
            }
            #expect(try await store.completeEnabling("enable-20", subject: Self.person, at: F.t0.addingTimeInterval(100),
                                                     asOf: F.t0.addingTimeInterval(20), audit: Self.outcomeRecord) == .notDisabled)
            let late = try await store.revokeSubject(Self.person, at: F.t0.addingTimeInterval(101), disable: true, asOf: F.t0.addingTimeInterval(15),
                                                     records: { _ in RevocationRecords(audit: [], completes: "disable-15") })
            #expect(late.disableSuperseded)
            #expect(try await !store.isDisabled(Self.person))
        }
    }
}
