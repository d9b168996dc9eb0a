import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperRevocation
import BridgekeeperSSF
import BridgekeeperStore
import Foundation
import Testing

/// The revocation feed's pure core (issue 7): which audit records become feed events, and the SETs
/// they become and are read back from.
@Suite("Revocation feed: audit records to SETs")
struct RevocationFeedTests {
    static let time = Date(timeIntervalSince1970: 1_800_000_000.4)
    static let alice = SubjectKey(issuer: "https://idp.example", subject: "00u-alice")

    func record(_ event: AuditEvent, _ sequence: Int64 = 7) -> AuditRecord {
        AuditRecord(sequence: sequence, event: event, previousHash: "", hash: "")
    }

    @Test("token revocations and subject revocations are feed events (the epoch is the whole second after); issuances, denials, enables and other administration are not")
    func events() {
        let revoked = AuditEvent(kind: .revocation, reason: ReasonCode("revoked_by_client"), time: Self.time, issuer: Self.alice.issuer,
                                 subject: Self.alice.subject, tokenID: "at-1")
        #expect(RevocationFeed.event(for: record(revoked)) == .tokenRevoked(jti: "at-1", at: Self.time))
        for reason in [ReasonCode.subjectOffboarded, .sessionsRevoked] {
            let offboarded = AuditEvent(kind: .administration, reason: reason, time: Self.time, issuer: Self.alice.issuer, subject: Self.alice.subject)
            #expect(RevocationFeed.event(for: record(offboarded)) == .subjectRevoked(Self.alice, before: Date(timeIntervalSince1970: 1_800_000_001)))
        }
        let others = [
            AuditEvent(kind: .issuance, reason: ReasonCode("issued"), time: Self.time, subject: "x", tokenID: "at-2"),
            AuditEvent(kind: .denial, reason: ReasonCode("assertion_replayed"), time: Self.time),
            AuditEvent(kind: .administration, reason: .subjectEnabled, time: Self.time, issuer: Self.alice.issuer, subject: Self.alice.subject),
            AuditEvent(kind: .administration, reason: .agentDisabledWithOwner, time: Self.time, issuer: Self.alice.issuer, subject: Self.alice.subject),
            AuditEvent(kind: .revocation, reason: ReasonCode("revoked_by_client"), time: Self.time),
        ]
        for event in others { #expect(RevocationFeed.event(for: record(event)) == nil, "\(event.reason)") }
    }

    @Test("each event becomes a signed CAEP session-revoked SET (jwt_id or iss_sub, no sub, no exp) that reads back as the same event; the SET id names the audit sequence")
    func sets() throws {
        let key = try SigningKey.generate(.es256, keyID: "feed")
        let keys = try JWKSet(json: JSONValue.object(JSONObject(["keys": .array([.object(try key.publicJWK())])])).serialized())
        let events: [FeedEvent] = [.tokenRevoked(jti: "at-1", at: Date(timeIntervalSince1970: 1_800_000_000)),
                                   .subjectRevoked(Self.alice, before: Date(timeIntervalSince1970: 1_800_000_001))]
        for (index, event) in events.enumerated() {
            let claims = RevocationFeed.claims(for: event, sequence: Int64(40 + index), stream: "fs_1", issuer: "https://broker.example",
                                               audience: "gateway-1", now: Self.time)
            let set = try key.signJWT(type: "secevent+jwt", claims: claims)
            let verified = try JWTVerifier(kind: .securityEvent, signatures: JWSVerifier(keys: keys),
                                           rules: ClaimRules(issuer: "https://broker.example", audience: "gateway-1")).verify(set, now: Self.time)
            #expect(verified.claims.object["sub"] == nil && verified.claims.object["exp"] == nil)
            #expect(verified.claims.object["jti"] == .string("fs_1-\(40 + index)"))
            #expect(RevocationFeed.event(fromSET: verified.claims.object, brokerIssuer: "https://broker.example") == event)
            // A token-revocation SET naming another issuer's jti is no event of ours.
            #expect(index == 1 || RevocationFeed.event(fromSET: claims, brokerIssuer: "https://other.example") == nil)
            // And a SET is never an access token.
            #expect(throws: JOSEError.self) {
                _ = try JWTVerifier(kind: .accessToken, signatures: JWSVerifier(keys: keys), rules: ClaimRules()).verify(set, now: Self.time)
            }
        }
        #expect(RevocationFeed.sequence(ofSET: "fs_1-41", stream: "fs_1") == 41)
        for bad in ["fs_2-41", "fs_1-", "fs_1-x", "fs_1-0", "fs_1--3", "41"] { #expect(RevocationFeed.sequence(ofSET: bad, stream: "fs_1") == nil, "\(bad)") }
    }
}
