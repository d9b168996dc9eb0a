import BridgekeeperAudit
import BridgekeeperCore
@testable import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperKeys
import BridgekeeperStore
import Foundation
import Testing

/// The one issue-and-commit step every grant ends with (`Issuance.issue`), on the in-memory store:
/// what it writes, and how each commit outcome and each server failure comes out.
@Suite("issue and commit")
struct IssuanceTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let alice = SubjectKey(issuer: "https://idp.example.com", subject: "alice")
    static let replayed = OAuthError(.invalidGrant, "assertion was already used", reason: .assertionReplayed)
    static let disabled = OAuthError(.invalidGrant, "the subject is disabled", reason: .subjectDisabled)

    static func issuance(store: any IssuanceLedger & SigningKeyStore, withKey: Bool = true) async throws -> Issuance {
        let sealing = try KeySealing(keyEncryptionKey: SecureRandom.bytes(32))
        if withKey { _ = try await KeyManagement.ensureKey(in: store, sealing: sealing, algorithm: .es256, now: now.addingTimeInterval(-10)) }
        let keys = KeyRing(sealing: sealing)
        try await keys.reload(from: store, now: now)
        return Issuance(minter: AccessTokenMinter(issuer: "https://broker.example", lifetime: 300, keys: keys), idJAGMinter: nil, store: store)
    }

    static func claims(_ issuance: Issuance) throws -> AccessTokenClaims {
        issuance.minter.claims(subject: alice, principal: .human, audience: "https://mcp.example.com/github", clientID: "app",
                               scope: try Scope(parsing: "tool:search_issues"), now: now)
    }

    static let mark = ReplayMark(namespace: .assertion, issuer: "https://idp.example.com", jti: "j1", expiresAt: now.addingTimeInterval(300))

    @Test("signs, then commits the mark, the token record and its audit record; the draft names the token")
    func commits() async throws {
        let store = MemoryStore()
        let issuance = try await Self.issuance(store: store)
        let claims = try Self.claims(issuance)
        var draft = AuditDraft()
        draft.assertionID = "j1"
        let token = try await issuance.issue(.accessToken(claims), marks: [Self.mark], unlessDisabled: Self.alice, audit: .issued, now: Self.now,
                                             refusals: .init(replayed: Self.replayed, disabled: Self.disabled), draft: &draft)
        #expect(token.split(separator: ".").count == 3)
        #expect(draft.tokenID == claims.jti)
        #expect(await store.contains(Self.mark))
        let record = await store.tokenState(jti: claims.jti)?.token
        #expect(record?.assertionID == "j1")
        #expect(record?.subject == Self.alice)
        #expect(try await store.lastAuditRecord()?.event.reason == .issued)
    }

    @Test("a mark already present is the grant's replay refusal; nothing is written and the draft names no token")
    func replay() async throws {
        let store = MemoryStore()
        let issuance = try await Self.issuance(store: store)
        var draft = AuditDraft()
        _ = try await issuance.issue(.accessToken(try Self.claims(issuance)), marks: [Self.mark], unlessDisabled: Self.alice, audit: .issued,
                                     now: Self.now, refusals: .init(replayed: Self.replayed, disabled: Self.disabled), draft: &draft)
        var second = AuditDraft()
        let error = await #expect(throws: OAuthError.self) {
            _ = try await issuance.issue(.accessToken(try Self.claims(issuance)), marks: [Self.mark], unlessDisabled: Self.alice, audit: .issued,
                                         now: Self.now, refusals: .init(replayed: Self.replayed, disabled: Self.disabled), draft: &second)
        }
        #expect(error?.reason == .assertionReplayed)
        #expect(second.tokenID == nil)
    }

    @Test("a disabled subject is the grant's disabled refusal")
    func disabledSubject() async throws {
        let store = MemoryStore()
        await store.setDisabled(Self.alice, true, at: Self.now)
        let issuance = try await Self.issuance(store: store)
        var draft = AuditDraft()
        let error = await #expect(throws: OAuthError.self) {
            _ = try await issuance.issue(.accessToken(try Self.claims(issuance)), unlessDisabled: Self.alice, audit: .issued, now: Self.now,
                                         refusals: .init(disabled: Self.disabled), draft: &draft)
        }
        #expect(error?.reason == .subjectDisabled)
        #expect(draft.tokenID == nil)
    }

    @Test("no active signing key is a server failure (signing_unavailable), not a refusal")
    func noKey() async throws {
        let store = MemoryStore()
        let issuance = try await Self.issuance(store: store, withKey: false)
        var draft = AuditDraft()
        let error = await #expect(throws: OAuthError.self) {
            _ = try await issuance.issue(.accessToken(try Self.claims(issuance)), unlessDisabled: Self.alice, audit: .issued, now: Self.now,
                                         refusals: .init(disabled: Self.disabled), draft: &draft)
        }
        #expect(error.flatMap { ServerFailure($0) } == .signingUnavailable)
    }

    @Test("an ID-JAG without a bridge key is a server failure (signing_unavailable)")
    func noBridge() async throws {
        let store = MemoryStore()
        let issuance = try await Self.issuance(store: store)
        let claims = IDJAGClaims(issuer: "https://broker.example/bridge", subject: Self.alice, audience: "https://as.example.com", clientID: "app-at-as",
                                 resource: "https://mcp.example.com/github", scope: try Scope(parsing: "tool:search_issues"), jti: "b1",
                                 issuedAt: Self.now, expiresAt: Self.now.addingTimeInterval(300), authTime: nil, amr: [], acr: nil, email: nil)
        var draft = AuditDraft()
        let error = await #expect(throws: OAuthError.self) {
            _ = try await issuance.issue(.idJAG(claims, clientID: "app"), unlessDisabled: Self.alice, audit: .idJAGIssued, now: Self.now,
                                         refusals: .init(disabled: Self.disabled), draft: &draft)
        }
        #expect(error.flatMap { ServerFailure($0) } == .signingUnavailable)
    }
}
