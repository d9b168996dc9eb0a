import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperPolicy
import BridgekeeperStore
import Foundation
import Testing

/// The store contract (STYLE rule 10): every store passes the same suite.
@Suite("Store contract")
struct StoreContractTests {
    typealias F = Fixture

    // MARK: IssuanceLedger

    @Test("a commit with a mark, a token and an audit event writes all three", arguments: StoreKind.allCases)
    func commitWritesAllThree(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let mark = F.mark("jag-1")
            let token = F.token("at-1")
            let outcome = try await store.commit(marks: [mark], token: token, audit: F.issuance("at-1"))
            #expect(outcome == .committed(auditSequence: 1))
            #expect(try await store.contains(mark))
            #expect(try await store.tokenState(jti: "at-1") == TokenState(token: token, revokedAt: nil))
            let records = try await store.auditRecords(afterSequence: 0, limit: 10)
            #expect(records.map(\.sequence) == [1])
            #expect(records.first?.event == F.issuance("at-1"))
            #expect(records == [AuditChain.append(F.issuance("at-1"), after: nil)])
        }
    }

    @Test("a second commit of the same mark is replayed and writes neither token nor audit record", arguments: StoreKind.allCases)
    func replayWritesNothing(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let mark = F.mark("jag-1")
            #expect(try await store.commit(marks: [mark], token: F.token("at-1"), audit: F.issuance("at-1")) == .committed(auditSequence: 1))
            let again = try await store.commit(marks: [F.mark("jag-1", expiresIn: 900)], token: F.token("at-2"), audit: F.issuance("at-2"))
            #expect(again == .replayed(mark))
            #expect(try await store.tokenState(jti: "at-2") == nil)
            #expect(try await store.auditRecords(afterSequence: 0, limit: 10).count == 1)
            #expect(try await store.lastAuditRecord()?.sequence == 1)
        }
    }

    @Test("marks are told apart by namespace and issuer", arguments: StoreKind.allCases)
    func markIdentity(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            #expect(try await store.commit(marks: [F.mark("same")], token: nil, audit: nil) == .committed(auditSequence: nil))
            let otherIssuer = F.mark("same", issuer: "https://other-idp.example.com")
            let otherNamespace = F.mark("same", namespace: .clientAssertion)
            #expect(try await store.contains(otherIssuer) == false)
            #expect(try await store.contains(otherNamespace) == false)
            #expect(try await store.commit(marks: [otherIssuer], token: nil, audit: nil) == .committed(auditSequence: nil))
            #expect(try await store.commit(marks: [otherNamespace], token: nil, audit: nil) == .committed(auditSequence: nil))
        }
    }

    @Test("two marks in one commit, one already present: replayed, and the new one is not left behind", arguments: StoreKind.allCases)
    func partialReplayLeavesNothing(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let used = F.mark("client-assertion-1", issuer: "mcp-client", namespace: .clientAssertion)
            #expect(try await store.commit(marks: [used], token: nil, audit: nil) == .committed(auditSequence: nil))
            let fresh = F.mark("jag-2")
            let outcome = try await store.commit(marks: [fresh, used], token: F.token("at-2"), audit: F.issuance("at-2"))
            #expect(outcome == .replayed(used))
            #expect(try await store.contains(fresh) == false)
            #expect(try await store.tokenState(jti: "at-2") == nil)
            #expect(try await store.lastAuditRecord() == nil)
            // The fresh mark is still usable.
            #expect(try await store.commit(marks: [fresh], token: nil, audit: nil) == .committed(auditSequence: nil))
        }
    }

    @Test("200 concurrent commits with distinct marks all commit; the audit chain is intact and gapless", arguments: StoreKind.allCases)
    func concurrentDistinctCommits(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let count = 200
            let outcomes = try await withThrowingTaskGroup(of: CommitOutcome.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await store.commit(marks: [F.mark("jag-\(index)")], token: F.token("at-\(index)", assertion: "jag-\(index)"),
                                               audit: F.issuance("at-\(index)", assertion: "jag-\(index)", offset: Double(index)))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            var sequences: [Int64] = []
            for outcome in outcomes {
                guard case .committed(let sequence?) = outcome else {
                    Issue.record("expected a commit with an audit sequence, got \(outcome)")
                    continue
                }
                sequences.append(sequence)
            }
            #expect(sequences.sorted() == Array(1...Int64(count)))
            let records = try await store.allAuditRecords(pageSize: 64)
            #expect(records.map(\.sequence) == Array(1...Int64(count)))
            #expect(AuditChain.verify(records) == .intact(count: count, lastSequence: Int64(count), lastHash: records.last?.hash ?? ""))
            // Each committed token and mark is there, and each audit record names its own token.
            #expect(Set(records.compactMap(\.event.tokenID)) == Set((0..<count).map { "at-\($0)" }))
            for index in 0..<count {
                #expect(try await store.contains(F.mark("jag-\(index)")))
                #expect(try await store.tokenState(jti: "at-\(index)") != nil)
            }
        }
    }

    @Test("50 concurrent commits of the same mark: exactly one commits", arguments: StoreKind.allCases)
    func concurrentSameMark(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let mark = F.mark("jag-contended")
            let outcomes = try await withThrowingTaskGroup(of: (Int, CommitOutcome).self) { group in
                for index in 0..<50 {
                    group.addTask {
                        (index, try await store.commit(marks: [mark], token: F.token("at-\(index)"), audit: F.issuance("at-\(index)")))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.filter { $0.1 == .committed(auditSequence: 1) }
            #expect(winners.count == 1)
            #expect(outcomes.filter { $0.1 == .replayed(mark) }.count == 49)
            let records = try await store.allAuditRecords()
            #expect(records.count == 1)
            for (index, _) in outcomes {
                let written = try await store.tokenState(jti: "at-\(index)") != nil
                #expect(written == (index == winners.first?.0), "token at-\(index)")
            }
            if let winner = winners.first { #expect(records.first?.event.tokenID == "at-\(winner.0)") }
        }
    }

    @Test("a commit that wins a mark keeps it, even beside a replayed commit that named the same mark", arguments: StoreKind.allCases)
    func winnerKeepsMarkBesideLoser(_ kind: StoreKind) async throws {
        // A replayed commit takes back the marks it inserted. If a later commit in the same batch
        // claimed one of those marks, taking it back would leave a token without its mark: the
        // assertion could be redeemed again.
        try await kind.withStore { store async throws in
            let used = F.mark("already-used")
            #expect(try await store.commit(marks: [used], token: nil, audit: nil) == .committed(auditSequence: nil))
            let pairs = 100
            let outcomes = try await withThrowingTaskGroup(of: (Int, Bool, CommitOutcome).self) { group in
                for index in 0..<pairs {
                    let shared = F.mark("shared-\(index)")
                    group.addTask { (index, false, try await store.commit(marks: [shared, used], token: nil, audit: nil)) }
                    group.addTask { (index, true, try await store.commit(marks: [shared], token: F.token("at-\(index)"), audit: nil)) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (index, isWinner, outcome) in outcomes {
                if isWinner {
                    #expect(outcome == .committed(auditSequence: nil), "pair \(index)")
                } else {
                    #expect(outcome == .replayed(used) || outcome == .replayed(F.mark("shared-\(index)")), "pair \(index)")
                }
            }
            var lost: [Int] = []
            for index in 0..<pairs where !(try await store.contains(F.mark("shared-\(index)"))) { lost.append(index) }
            #expect(lost.isEmpty, "committed, but the mark is gone for pairs \(lost)")
            // And so the same assertion redeems again:
            if let index = lost.first {
                let again = try await store.commit(marks: [F.mark("shared-\(index)")], token: F.token("again"), audit: nil)
                #expect(again == .replayed(F.mark("shared-\(index)")))
            }
        }
    }

    @Test("a commit without an audit event commits with no sequence and writes no record", arguments: StoreKind.allCases)
    func commitWithoutAudit(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let outcome = try await store.commit(marks: [F.mark("jag-1")], token: F.token("at-1"), audit: nil)
            #expect(outcome == .committed(auditSequence: nil))
            #expect(try await store.tokenState(jti: "at-1") != nil)
            #expect(try await store.lastAuditRecord() == nil)
            // The next audited commit starts the chain at 1.
            #expect(try await store.commit(marks: [F.mark("jag-2")], token: nil, audit: F.issuance("at-2")) == .committed(auditSequence: 1))
        }
    }

    @Test("purging removes only marks that expired before now", arguments: StoreKind.allCases)
    func purgeExpiredMarks(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let early = F.mark("early", expiresIn: 10)
            let later = F.mark("later", expiresIn: 20)
            let boundary = F.mark("boundary", expiresIn: 50)
            let alive = F.mark("alive", expiresIn: 100)
            for mark in [early, later, boundary, alive] {
                #expect(try await store.commit(marks: [mark], token: nil, audit: nil) == .committed(auditSequence: nil))
            }
            #expect(try await store.purgeExpiredMarks(now: F.t0.addingTimeInterval(50)) == 2)
            #expect(try await store.contains(early) == false)
            #expect(try await store.contains(later) == false)
            #expect(try await store.contains(boundary))
            #expect(try await store.contains(alive))
            #expect(try await store.purgeExpiredMarks(now: F.t0.addingTimeInterval(50)) == 0)
            // A purged mark may be used again (its assertion has expired and is refused before the ledger).
            #expect(try await store.commit(marks: [early], token: nil, audit: nil) == .committed(auditSequence: nil))
        }
    }

    // MARK: AuditLog

    @Test("append returns gapless sequences chained from the head", arguments: StoreKind.allCases)
    func appendIsGapless(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            var returned: [AuditRecord] = []
            for index in 0..<5 { returned.append(try await store.append(F.denial(index))) }
            #expect(returned.map(\.sequence) == [1, 2, 3, 4, 5])
            #expect(returned.first?.previousHash == AuditChain.genesis)
            // A commit in between continues the same chain.
            #expect(try await store.commit(marks: [F.mark("jag-1")], token: nil, audit: F.issuance("at-1")) == .committed(auditSequence: 6))
            returned.append(try await store.append(F.denial(6)))
            #expect(returned.last?.sequence == 7)
            let stored = try await store.allAuditRecords()
            #expect(stored.map(\.sequence) == Array(1...7))
            #expect(stored[0..<5].elementsEqual(returned[0..<5]))
            #expect(stored.last == returned.last)
            guard case .intact(count: 7, lastSequence: 7, _) = AuditChain.verify(stored) else {
                Issue.record("chain not intact: \(AuditChain.verify(stored))")
                return
            }
        }
    }

    @Test("auditRecords pages by sequence and limit", arguments: StoreKind.allCases)
    func auditPaging(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            for index in 0..<25 { _ = try await store.append(F.denial(index)) }
            #expect(try await store.auditRecords(afterSequence: 0, limit: 10).map(\.sequence) == Array(1...10))
            #expect(try await store.auditRecords(afterSequence: 10, limit: 10).map(\.sequence) == Array(11...20))
            #expect(try await store.auditRecords(afterSequence: 20, limit: 10).map(\.sequence) == Array(21...25))
            #expect(try await store.auditRecords(afterSequence: 25, limit: 10).isEmpty)
            #expect(try await store.auditRecords(afterSequence: 3, limit: 0).isEmpty)
            #expect(try await store.auditRecords(afterSequence: 3, limit: 1).first?.event == F.denial(3))
            let pages = try await store.allAuditRecords(pageSize: 7)
            #expect(pages.map(\.sequence) == Array(1...25))
            #expect(AuditChain.verify(pages[10...], startingAfter: (pages[9].sequence, pages[9].hash))
                    == .intact(count: 15, lastSequence: 25, lastHash: pages[24].hash))
        }
    }

    @Test("lastAuditRecord is nil on an empty log, then the newest record", arguments: StoreKind.allCases)
    func lastAuditRecord(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            #expect(try await store.lastAuditRecord() == nil)
            _ = try await store.append(F.denial(1))
            let second = try await store.append(F.denial(2))
            #expect(try await store.lastAuditRecord() == second)
        }
    }

    // MARK: TokenRegistry

    @Test("revoke: true once, then false; the token records when; unknown tokens write nothing", arguments: StoreKind.allCases)
    func revoke(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let token = F.token("at-1")
            #expect(try await store.commit(marks: [F.mark("jag-1")], token: token, audit: F.issuance("at-1")) == .committed(auditSequence: 1))
            let when = F.t0.addingTimeInterval(30)
            #expect(try await store.revoke(jti: "at-1", at: when, audit: F.revocation("at-1")))
            #expect(try await store.tokenState(jti: "at-1") == TokenState(token: token, revokedAt: when))
            let records = try await store.allAuditRecords()
            #expect(records.map(\.sequence) == [1, 2])
            #expect(records.last?.event == F.revocation("at-1"))

            #expect(try await store.revoke(jti: "at-1", at: when.addingTimeInterval(5), audit: F.revocation("at-1")) == false)
            #expect(try await store.tokenState(jti: "at-1")?.revokedAt == when)
            #expect(try await store.revoke(jti: "never-issued", at: when, audit: F.revocation("never-issued")) == false)
            #expect(try await store.tokenState(jti: "never-issued") == nil)
            #expect(try await store.lastAuditRecord()?.sequence == 2)
        }
    }

    @Test("tokens round-trip with their tenant, scope and assertion", arguments: StoreKind.allCases)
    func tokenRoundTrip(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let tenanted = IssuedToken(jti: "at-t", subject: SubjectKey(issuer: F.idp, tenant: "tenant-a", subject: "00u-alice"),
                                       principal: .human, clientID: "c", resource: "https://mcp.example.com/notion", scope: [],
                                       issuedAt: F.t0.addingTimeInterval(0.75), expiresAt: F.t0.addingTimeInterval(60.5), assertionID: nil)
            #expect(try await store.commit(marks: [], token: tenanted, audit: nil) == .committed(auditSequence: nil))
            #expect(try await store.tokenState(jti: "at-t") == TokenState(token: tenanted, revokedAt: nil))
        }
    }

    // MARK: SubjectDirectory

    @Test("disabling a subject round-trips; the tenant is part of the subject", arguments: StoreKind.allCases)
    func disabledSubjects(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let plain = SubjectKey(issuer: F.idp, subject: "00u-alice")
            let tenantA = SubjectKey(issuer: F.idp, tenant: "tenant-a", subject: "00u-alice")
            let tenantB = SubjectKey(issuer: F.idp, tenant: "tenant-b", subject: "00u-alice")
            let otherIdP = SubjectKey(issuer: "https://other-idp.example.com", subject: "00u-alice")
            #expect(try await store.isDisabled(tenantA) == false)

            try await store.setDisabled(tenantA, true, at: F.t0)
            #expect(try await store.isDisabled(tenantA))
            #expect(try await store.isDisabled(plain) == false)
            #expect(try await store.isDisabled(tenantB) == false)
            #expect(try await store.isDisabled(otherIdP) == false)

            try await store.setDisabled(tenantA, true, at: F.t0.addingTimeInterval(1))  // idempotent
            try await store.setDisabled(plain, true, at: F.t0)
            #expect(try await store.isDisabled(plain))

            try await store.setDisabled(tenantA, false, at: F.t0.addingTimeInterval(2))
            #expect(try await store.isDisabled(tenantA) == false)
            #expect(try await store.isDisabled(plain))
            try await store.setDisabled(tenantA, false, at: F.t0.addingTimeInterval(3))  // idempotent
            #expect(try await store.isDisabled(tenantA) == false)
        }
    }

    @Test("a commit on condition of a disabled subject writes nothing and leaves its mark unused", arguments: StoreKind.allCases)
    func commitUnlessDisabled(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let bob = SubjectKey(issuer: F.idp, subject: "00u-bob")
            try await store.setDisabled(F.alice, true, at: F.t0)
            let refused = try await store.commit(marks: [F.mark("jag-1")], token: F.token("at-1"), audit: F.issuance("at-1"), unlessDisabled: F.alice)
            #expect(refused == .subjectDisabled)
            #expect(try await store.contains(F.mark("jag-1")) == false)
            #expect(try await store.tokenState(jti: "at-1") == nil)
            #expect(try await store.lastAuditRecord() == nil)

            // Another subject is not affected; re-enabled, the same mark commits.
            #expect(try await store.commit(marks: [F.mark("jag-2")], token: F.token("at-2", subject: bob), audit: nil, unlessDisabled: bob)
                == .committed(auditSequence: nil))
            try await store.setDisabled(F.alice, false, at: F.t0)
            #expect(try await store.commit(marks: [F.mark("jag-1")], token: F.token("at-1"), audit: F.issuance("at-1"), unlessDisabled: F.alice)
                == .committed(auditSequence: 1))
        }
    }

    @Test("redemptionFacts reads whether the mark is present and whether the subject is disabled; without a mark, only the subject", arguments: StoreKind.allCases)
    func redemptionFacts(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            #expect(try await store.redemptionFacts(mark: F.mark("jag-1"), subject: F.alice) == RedemptionFacts(markPresent: false, subjectDisabled: false))
            #expect(try await store.commit(marks: [F.mark("jag-1")], token: nil, audit: nil) == .committed(auditSequence: nil))
            #expect(try await store.redemptionFacts(mark: F.mark("jag-1"), subject: F.alice) == RedemptionFacts(markPresent: true, subjectDisabled: false))
            try await store.setDisabled(F.alice, true, at: F.t0)
            #expect(try await store.redemptionFacts(mark: F.mark("jag-1"), subject: F.alice) == RedemptionFacts(markPresent: true, subjectDisabled: true))
            #expect(try await store.redemptionFacts(mark: F.mark("jag-2"), subject: F.alice) == RedemptionFacts(markPresent: false, subjectDisabled: true))
            #expect(try await store.redemptionFacts(mark: nil, subject: F.alice) == RedemptionFacts(markPresent: false, subjectDisabled: true))
            #expect(try await store.redemptionFacts(mark: nil, subject: SubjectKey(issuer: F.idp, subject: "00u-bob"))
                == RedemptionFacts(markPresent: false, subjectDisabled: false))
        }
    }

    @Test("a replayed mark is reported before a disabled subject", arguments: StoreKind.allCases)
    func replayBeforeDisabled(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            #expect(try await store.commit(marks: [F.mark("jag-1")], token: nil, audit: nil) == .committed(auditSequence: nil))
            try await store.setDisabled(F.alice, true, at: F.t0)
            #expect(try await store.commit(marks: [F.mark("jag-1")], token: F.token("at-1"), audit: nil, unlessDisabled: F.alice)
                == .replayed(F.mark("jag-1")))
        }
    }

    @Test("commits racing a disable: each either commits before it or is refused; none commits after it", arguments: StoreKind.allCases)
    func disableRace(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let outcomes = try await withThrowingTaskGroup(of: (Int, CommitOutcome?).self) { group in
                for index in 0..<100 {
                    group.addTask {
                        (index, try await store.commit(marks: [F.mark("race-\(index)")], token: F.token("at-\(index)"),
                                                       audit: F.issuance("at-\(index)"), unlessDisabled: F.alice))
                    }
                    if index == 50 {
                        group.addTask {
                            try await store.setDisabled(F.alice, true, at: F.t0)
                            return (-1, nil)
                        }
                    }
                }
                var all: [Int: CommitOutcome] = [:]
                for try await (index, outcome) in group { if let outcome { all[index] = outcome } }
                return all
            }
            // Every commit that committed is in the audit trail, and once the disable is durable,
            // the next commit is refused.
            let committed = outcomes.values.filter { if case .committed = $0 { true } else { false } }.count
            let refused = outcomes.values.filter { $0 == .subjectDisabled }.count
            #expect(committed + refused == 100)
            #expect(try await store.auditRecords(afterSequence: 0, limit: 1000).count == committed)
            #expect(try await store.commit(marks: [F.mark("after")], token: nil, audit: nil, unlessDisabled: F.alice) == .subjectDisabled)
            for (index, outcome) in outcomes where outcome == .subjectDisabled {
                #expect(try await store.tokenState(jti: "at-\(index)") == nil)
                #expect(try await store.contains(F.mark("race-\(index)")) == false)
            }
        }
    }

    // MARK: SigningKeyStore

    @Test("signing keys: add, then add a successor that retires the old key", arguments: StoreKind.allCases)
    func signingKeys(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            #expect(try await store.signingKeys().isEmpty)
            let first = F.signingKey("k1", at: 0)
            try await store.addSigningKey(first, retiring: nil)
            #expect(try await store.signingKeys() == [first])

            let second = F.signingKey("k2", at: 1000)
            let retiresAt = F.t0.addingTimeInterval(1300), unpublishAt = F.t0.addingTimeInterval(1300 + 3600)
            try await store.addSigningKey(second, retiring: (keyID: "k1", retiresAt: retiresAt, unpublishAt: unpublishAt))
            let keys = try await store.signingKeys()
            let retired = StoredSigningKey(keyID: "k1", algorithm: first.algorithm, sealedPrivateKey: first.sealedPrivateKey,
                                           publicJWK: first.publicJWK, createdAt: first.createdAt, activatesAt: first.activatesAt,
                                           retiresAt: retiresAt, unpublishAt: unpublishAt)
            #expect(keys == [retired, second])
            #expect(keys.last?.retiresAt == nil)
            #expect(keys.last?.unpublishAt == nil)
        }
    }

    @Test("key purposes and token kinds round-trip: a bridge key and an ID-JAG record read back as such", arguments: StoreKind.allCases)
    func purposesAndKinds(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let access = F.signingKey("k-access", at: 0)
            let base = F.signingKey("k-bridge", at: 0)
            let bridge = StoredSigningKey(keyID: base.keyID, purpose: .bridge, algorithm: base.algorithm, sealedPrivateKey: base.sealedPrivateKey,
                                          publicJWK: base.publicJWK, createdAt: base.createdAt, activatesAt: base.activatesAt)
            try await store.addSigningKey(access, retiring: nil)
            try await store.addSigningKey(bridge, retiring: nil)
            let keys = try await store.signingKeys()
            #expect(keys.first { $0.keyID == "k-access" }?.purpose == .access)
            #expect(keys.first { $0.keyID == "k-bridge" }?.purpose == .bridge)

            let plain = F.token("at-1")
            let idJAG = IssuedToken(jti: "jag-out-1", kind: .idJAG, subject: F.alice, principal: .human, clientID: "mcp-client",
                                    resource: "https://mcp.partner.example/crm", scope: ["tool:read"], issuedAt: F.t0,
                                    expiresAt: F.t0.addingTimeInterval(300), assertionID: nil)
            _ = try await store.commit(marks: [], token: plain, audit: nil)
            _ = try await store.commit(marks: [], token: idJAG, audit: nil)
            #expect(try await store.tokenState(jti: "at-1")?.token.kind == .accessToken)
            #expect(try await store.tokenState(jti: "jag-out-1")?.token == idJAG)
        }
    }
}

@Suite("Store contract: the agent registry")
struct AgentRegistryContractTests {
    typealias F = Fixture
    static let owner = SubjectKey(issuer: F.idp, tenant: "t1", subject: "00u-alice")
    static let grant = AgentGrant([
        AgentGrant.Entry(servers: .named(["github", "notion"]), categories: [.read, .write], tools: ["delete_repo"]),
        AgentGrant.Entry(servers: .all, categories: [.read]),
    ])

    static func agent(_ id: String, owner: SubjectKey = owner, credential: AgentRecord.Credential = .jwksURI("https://agents.example.com/jwks.json"))
        -> AgentRecord {
        AgentRecord(id: id, displayName: "Agent \(id)", owner: owner, credential: credential, grant: grant, mode: .onBehalfOfOwner,
                    createdAt: F.t0)
    }

    static func event(_ reason: String, _ id: String) -> AuditEvent {
        AuditEvent(kind: .administration, reason: ReasonCode(reason), time: F.t0, issuer: owner.issuer, tenant: owner.tenant,
                   subject: owner.subject, clientID: id, principalClass: "agent")
    }

    @Test("an agent is added with its audit record and reads back whole; a second add of the id writes nothing", arguments: StoreKind.allCases)
    func addAndRead(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let agent = Self.agent("agent-1", credential: .jwks(#"{"keys":[]}"#))
            #expect(try await store.addAgent(agent, audit: Self.event("agent_created", "agent-1")))
            #expect(try await store.agent(id: "agent-1") == agent)
            #expect(try await store.addAgent(Self.agent("agent-1"), audit: Self.event("agent_created", "agent-1")) == false)
            #expect(try await store.agent(id: "agent-1") == agent)
            let trail = try await store.auditRecords(afterSequence: 0, limit: 10)
            #expect(trail.map(\.event.reason.rawValue) == ["agent_created"])
            #expect(trail.first?.event.kind == .administration)
            #expect(try await store.agent(id: "nobody") == nil)
        }
    }

    @Test("agents are listed by owner (tenant included) or all, by id", arguments: StoreKind.allCases)
    func listByOwner(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let bob = SubjectKey(issuer: F.idp, tenant: "t1", subject: "00u-bob")
            let otherTenant = SubjectKey(issuer: F.idp, tenant: "t2", subject: "00u-alice")
            for (id, owner) in [("b-agent", Self.owner), ("a-agent", Self.owner), ("bob-agent", bob), ("t2-agent", otherTenant)] {
                #expect(try await store.addAgent(Self.agent(id, owner: owner), audit: Self.event("agent_created", id)))
            }
            #expect(try await store.agents(ownedBy: Self.owner).map(\.id) == ["a-agent", "b-agent"])
            #expect(try await store.agents(ownedBy: bob).map(\.id) == ["bob-agent"])
            #expect(try await store.agents(ownedBy: nil).map(\.id) == ["a-agent", "b-agent", "bob-agent", "t2-agent"])
        }
    }

    @Test("status and credential change separately, each with its audit record; owner and creation time stay; an unknown id writes nothing",
          arguments: StoreKind.allCases)
    func update(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let agent = Self.agent("agent-1")
            _ = try await store.addAgent(agent, audit: Self.event("agent_created", "agent-1"))
            let later = F.t0.addingTimeInterval(60)
            #expect(try await store.setAgentStatus(id: "agent-1", .disabled, at: later, audit: Self.event("agent_disabled", "agent-1"),
                                                   revocation: { _ in Self.event("never", "agent-1") }) == [])
            let secret = AgentRecord.Credential.secretHash("pbkdf2-sha256$10000$c2FsdA$aGFzaA")
            #expect(try await store.setAgentCredential(id: "agent-1", secret, at: later.addingTimeInterval(1), audit: Self.event("agent_key_rotated", "agent-1")))
            let stored = try #require(try await store.agent(id: "agent-1"))
            // The rotation did not touch the status the disable set (and the reverse).
            #expect(stored == agent.with(status: .disabled, at: later).with(credential: secret, at: later.addingTimeInterval(1)))
            #expect(stored.status == .disabled && stored.createdAt == F.t0 && stored.updatedAt == later.addingTimeInterval(1))
            #expect(try await store.setAgentStatus(id: "ghost", .disabled, at: later, audit: Self.event("agent_disabled", "ghost"),
                                                   revocation: { _ in Self.event("never", "ghost") }) == nil)
            #expect(try await store.setAgentCredential(id: "ghost", secret, at: later, audit: Self.event("agent_key_rotated", "ghost")) == false)
            let reasons = try await store.auditRecords(afterSequence: 0, limit: 10).map(\.event.reason.rawValue)
            #expect(reasons == ["agent_created", "agent_disabled", "agent_key_rotated"])
        }
    }
}

extension AgentRegistryContractTests {
    @Test("disabling an agent revokes its live tokens in the same transaction, each with its revocation record; its expired, revoked and others' tokens stay; enabling revokes nothing",
          arguments: StoreKind.allCases)
    func disableRevokes(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            _ = try await store.addAgent(Self.agent("agent-1"), audit: Self.event("agent_created", "agent-1"))
            _ = try await store.addAgent(Self.agent("agent-2"), audit: Self.event("agent_created", "agent-2"))
            let live = OwnerDirectoryContractTests.agentToken("t-live", agent: "agent-1", subject: Self.owner)
            let forOwner = OwnerDirectoryContractTests.agentToken("t-for-owner", agent: "agent-1", subject: Self.owner, expiresIn: 600)
            let expired = OwnerDirectoryContractTests.agentToken("t-expired", agent: "agent-1", subject: Self.owner, expiresIn: 10)
            let already = OwnerDirectoryContractTests.agentToken("t-revoked", agent: "agent-1", subject: Self.owner)
            let other = OwnerDirectoryContractTests.agentToken("t-other", agent: "agent-2", subject: Self.owner)
            for token in [live, forOwner, expired, already, other] {
                _ = try await store.commit(marks: [], token: token, audit: Self.event("issued", token.agent ?? ""))
            }
            _ = try await store.revoke(jti: "t-revoked", at: F.t0.addingTimeInterval(5), audit: Self.event("revoked_by_client", "agent-1"))
            let later = F.t0.addingTimeInterval(60)
            let revoked = try await store.setAgentStatus(id: "agent-1", .disabled, at: later, audit: Self.event("agent_disabled", "agent-1"),
                                                         revocation: { AuditEvent(kind: .revocation, reason: ReasonCode("agent_disabled"), time: later, tokenID: $0.jti) })
            #expect(revoked?.map(\.jti) == ["t-for-owner", "t-live"])
            for jti in ["t-live", "t-for-owner"] { #expect(try await store.tokenState(jti: jti)?.revokedAt == later) }
            #expect(try await store.tokenState(jti: "t-expired")?.revokedAt == nil)
            #expect(try await store.tokenState(jti: "t-revoked")?.revokedAt == F.t0.addingTimeInterval(5))
            #expect(try await store.tokenState(jti: "t-other")?.revokedAt == nil)
            let records = try await store.auditRecords(afterSequence: 0, limit: 100)
            let tail = records.suffix(3).map { "\($0.event.kind.rawValue):\($0.event.reason.rawValue):\($0.event.tokenID ?? "-")" }
            #expect(tail == ["administration:agent_disabled:-", "revocation:agent_disabled:t-for-owner", "revocation:agent_disabled:t-live"])
            #expect(records.suffix(2).allSatisfy { $0.isFeedEvent })
            // Enabling again brings nothing back and revokes nothing.
            #expect(try await store.setAgentStatus(id: "agent-1", .active, at: later.addingTimeInterval(1), audit: Self.event("agent_enabled", "agent-1"),
                                                   revocation: { _ in Self.event("never", "agent-1") }) == [])
            #expect(try await store.tokenState(jti: "t-live")?.revokedAt == later)
        }
    }
}

@Suite("Store contract: owners of agents")
struct OwnerDirectoryContractTests {
    typealias F = Fixture
    typealias A = AgentRegistryContractTests
    static let owner = A.owner

    static func agentToken(_ jti: String, agent: String, subject: SubjectKey, expiresIn: TimeInterval = 120) -> IssuedToken {
        IssuedToken(jti: jti, subject: subject, principal: .agent, clientID: agent, resource: "https://mcp.example.com/wiki", scope: ["tool:read"],
                    issuedAt: F.t0, expiresAt: F.t0.addingTimeInterval(expiresIn), assertionID: nil, agent: agent)
    }

    @Test("attributes are recorded per person with their origin, returning the ones they replace", arguments: StoreKind.allCases)
    func attributes(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let origin = SubjectOrigin(Self.owner)
            #expect(try await store.attributes(of: Self.owner) == nil)
            let first = SubjectAttributes(origin: origin, groups: ["engineering", "admins"], roles: ["Reader"])
            #expect(try await store.recordAttributes(first, of: Self.owner, asOf: F.t0, winsTie: false) == .recorded(previous: nil))
            let read = try #require(try await store.attributes(of: Self.owner))
            #expect(read.attributes == first && read.updatedAt == F.t0)
            let second = SubjectAttributes(origin: origin, groups: ["engineering"])
            #expect(try await store.recordAttributes(second, of: Self.owner, asOf: F.t0.addingTimeInterval(5), winsTie: false) == .recorded(previous: first))
            #expect(try await store.attributes(of: Self.owner)?.attributes == second)
            #expect(try await store.attributes(of: SubjectKey(issuer: F.idp, tenant: "t2", subject: "00u-alice")) == nil)
        }
    }

    @Test("older news never overwrites newer attributes: a token issued before the last change is stale; a tie goes to a signal, not a token",
          arguments: StoreKind.allCases)
    func olderNewsIsStale(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let origin = SubjectOrigin(Self.owner)
            let removed = SubjectAttributes(origin: origin, groups: ["engineering"])
            let old = SubjectAttributes(origin: origin, groups: ["engineering", "admins"])
            // SCIM removed "admins" at t0 + 100.
            _ = try await store.recordAttributes(removed, of: Self.owner, asOf: F.t0.addingTimeInterval(100), winsTie: true)
            // An ID token issued at t0 + 50 still says "admins": stale, not written.
            #expect(try await store.recordAttributes(old, of: Self.owner, asOf: F.t0.addingTimeInterval(50), winsTie: false)
                    == .stale(current: removed, asOf: F.t0.addingTimeInterval(100)))
            // Issued the same second as the change: still stale (a token loses a tie).
            #expect(try await store.recordAttributes(old, of: Self.owner, asOf: F.t0.addingTimeInterval(100), winsTie: false)
                    == .stale(current: removed, asOf: F.t0.addingTimeInterval(100)))
            #expect(try await store.attributes(of: Self.owner)?.attributes == removed)
            // A signal of the same second wins the tie; a token issued later is news.
            let readded = SubjectAttributes(origin: origin, groups: ["engineering", "admins"], roles: ["x"])
            #expect(try await store.recordAttributes(readded, of: Self.owner, asOf: F.t0.addingTimeInterval(100), winsTie: true) == .recorded(previous: removed))
            #expect(try await store.recordAttributes(old, of: Self.owner, asOf: F.t0.addingTimeInterval(101), winsTie: false) == .recorded(previous: readded))
            #expect(try await store.attributes(of: Self.owner)?.updatedAt == F.t0.addingTimeInterval(101))
        }
    }

    @Test("disableOwner: subject disabled, their active agents disabled, every live token of theirs and their agents revoked with the records it makes; others untouched; idempotent",
          arguments: StoreKind.allCases)
    func disableOwner(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let bob = SubjectKey(issuer: F.idp, tenant: "t1", subject: "00u-bob")
            for (id, owner) in [("robot", Self.owner), ("helper", Self.owner), ("bobs", bob)] {
                _ = try await store.addAgent(A.agent(id, owner: owner), audit: A.event("agent_created", id))
            }
            let tokens = [
                F.token("own", subject: Self.owner, assertion: nil),
                Self.agentToken("robot-1", agent: "robot", subject: SubjectKey(issuer: "https://broker.example", subject: "robot")),
                Self.agentToken("helper-1", agent: "helper", subject: Self.owner),
                Self.agentToken("expired", agent: "robot", subject: SubjectKey(issuer: "https://broker.example", subject: "robot"), expiresIn: -1),
                Self.agentToken("bobs-1", agent: "bobs", subject: bob),
            ]
            for token in tokens { _ = try await store.commit(marks: [], token: token, audit: nil) }
            #expect(try await store.liveAgentTokens(ownedBy: Self.owner, now: F.t0).map(\.jti) == ["helper-1", "robot-1"])

            let outcome = try await store.disableOwner(Self.owner, at: F.t0) { outcome in
                [AuditEvent(kind: .administration, reason: ReasonCode("subject_offboarded"), time: F.t0, subject: "00u-alice")]
                    + outcome.tokensRevoked.map { AuditEvent(kind: .revocation, reason: ReasonCode("subject_offboarded"), time: F.t0, tokenID: $0.jti) }
            }
            #expect(outcome.agentsDisabled == ["helper", "robot"])
            #expect(outcome.tokensRevoked.map(\.jti) == ["helper-1", "own", "robot-1"])
            #expect(try await store.isDisabled(Self.owner))
            #expect(try await store.agent(id: "bobs")?.status == .active)
            #expect(try await store.tokenState(jti: "bobs-1")?.revokedAt == nil)
            #expect(try await store.tokenState(jti: "expired")?.revokedAt == nil)
            for jti in ["own", "robot-1", "helper-1"] { #expect(try await store.tokenState(jti: jti)?.revokedAt == F.t0) }
            #expect(try await store.liveAgentTokens(ownedBy: Self.owner, now: F.t0).isEmpty)
            let reasons = try await store.auditRecords(afterSequence: 3, limit: 10).map { "\($0.event.kind.rawValue) \($0.event.tokenID ?? "-")" }
            #expect(reasons == ["administration -", "revocation helper-1", "revocation own", "revocation robot-1"])
            let again = try await store.disableOwner(Self.owner, at: F.t0) { _ in [] }
            #expect(again == OwnerOffboarding(agentsDisabled: [], tokensRevoked: []))
            guard case .intact = AuditChain.verify(try await store.auditRecords(afterSequence: 0, limit: 100)) else {
                Issue.record("the audit chain is broken after the offboarding")
                return
            }
        }
    }

    @Test("revokeSubject without disabling: every live token of the person and their agents revoked, the epoch moved (never back), nobody disabled; liveTokens lists what is left",
          arguments: StoreKind.allCases)
    func revokeSessions(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            _ = try await store.addAgent(A.agent("robot", owner: Self.owner), audit: A.event("agent_created", "robot"))
            for token in [F.token("own", subject: Self.owner, assertion: nil),
                          Self.agentToken("robot-1", agent: "robot", subject: SubjectKey(issuer: "https://broker.example", subject: "robot"))] {
                _ = try await store.commit(marks: [], token: token, audit: nil)
            }
            #expect(try await store.liveTokens(ofOwner: Self.owner, now: F.t0).map(\.jti) == ["own", "robot-1"])
            #expect(try await store.revocationEpoch(of: Self.owner) == nil)
            let outcome = try await store.revokeSubject(Self.owner, at: F.t0.addingTimeInterval(10.7), disable: false) { outcome in
                outcome.tokensRevoked.map { AuditEvent(kind: .revocation, reason: ReasonCode("session_revoked"), time: F.t0, tokenID: $0.jti) }
            }
            #expect(outcome.tokensRevoked.map(\.jti) == ["own", "robot-1"])
            #expect(outcome.agentsDisabled.isEmpty)
            #expect(try await store.isDisabled(Self.owner) == false)
            #expect(try await store.agent(id: "robot")?.status == .active)
            let epoch = F.t0.addingTimeInterval(11)  // the whole second after the revocation
            #expect(try await store.revocationEpoch(of: Self.owner) == epoch)
            #expect(try await store.liveTokens(ofOwner: Self.owner, now: F.t0).isEmpty)
            #expect(try await store.auditRecords(afterSequence: 1, limit: 10).map(\.event.tokenID) == ["own", "robot-1"])
            // An earlier revocation never moves the epoch back; a second one finds nothing to revoke.
            let again = try await store.revokeSubject(Self.owner, at: F.t0, disable: false) { _ in [] }
            #expect(again.tokensRevoked.isEmpty)
            #expect(try await store.revocationEpoch(of: Self.owner) == epoch)
            #expect(try await store.revocationEpoch(of: SubjectKey(issuer: F.idp, tenant: "t2", subject: "00u-alice")) == nil)
        }
    }

    @Test("an offboarding of someone with 13,000 live tokens writes all 13,001 records in one transaction (more than the 250,000 values one SQLite statement binds), naming who did it",
          arguments: StoreKind.allCases)
    func largeOffboarding(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<13_000 {
                    group.addTask { _ = try await store.commit(marks: [], token: F.token("t\(index)", subject: Self.owner, assertion: nil), audit: nil) }
                }
                try await group.waitForAll()
            }
            let outcome = try await store.disableOwner(Self.owner, at: F.t0) { outcome in
                [AuditEvent(kind: .administration, reason: ReasonCode("subject_offboarded"), time: F.t0, subject: "00u-alice", performedBy: "local:ops")]
                    + outcome.tokensRevoked.map {
                        AuditEvent(kind: .revocation, reason: ReasonCode("subject_offboarded"), time: F.t0, tokenID: $0.jti, performedBy: "local:ops")
                    }
            }
            #expect(outcome.tokensRevoked.count == 13_000)
            let records = try await store.auditRecords(afterSequence: 0, limit: 20_000)
            #expect(records.count == 13_001)
            #expect(records.allSatisfy { $0.event.performedBy == "local:ops" })
            #expect(try await store.tokenState(jti: "t12999")?.revokedAt == F.t0)
            guard case .intact = AuditChain.verify(records) else {
                Issue.record("the audit chain is broken after a large offboarding")
                return
            }
        }
    }

    @Test("batch revocation revokes each live token once, with its record, and skips one already revoked", arguments: StoreKind.allCases)
    func batchRevoke(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            for jti in ["a", "b"] {
                _ = try await store.commit(marks: [], token: Self.agentToken(jti, agent: "robot", subject: Self.owner), audit: nil)
            }
            func event(_ jti: String) -> AuditEvent { AuditEvent(kind: .revocation, reason: ReasonCode("owner_rights_narrowed"), time: F.t0, tokenID: jti) }
            #expect(try await store.revoke([(jti: "a", audit: event("a"))], at: F.t0) == ["a"])
            #expect(try await store.revoke([(jti: "a", audit: event("a")), (jti: "b", audit: event("b")), (jti: "zz", audit: event("zz"))], at: F.t0) == ["b"])
            #expect(try await store.auditRecords(afterSequence: 0, limit: 10).map(\.event.tokenID) == ["a", "b"])
        }
    }
}
