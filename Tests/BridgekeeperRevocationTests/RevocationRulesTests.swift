import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperRevocation
import BridgekeeperStore
import Foundation
import Testing
import BridgekeeperKeys
import BridgekeeperClientAuth
import BridgekeeperTesting

/// The pure rules of issue 6: SCIM PATCH in each IdP's dialect, what each SSF event asks for, and
/// the processor's path on the in-memory store (receipts, idempotency, narrowing).
@Suite("Revocation rules: SCIM PATCH dialects, SSF events, the signal processor")
struct RevocationRulesTests {
    static let patchSchema = JSONValue.array([.string(SCIMPatch.schema)])

    func patch(_ operations: String, to resource: JSONObject) throws -> JSONObject {
        let body = try #require(try JSONValue.parse(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":\#(operations)}"#).objectValue)
        return try SCIMPatch.apply(body, to: resource)
    }

    @Test("Okta's replace without a path, Entra's PascalCase op with \"False\", value filters, extension paths and member removal by value array all apply")
    func dialects() throws {
        let user = try #require(try JSONValue.parse(#"{"userName":"a","active":true,"emails":[{"type":"work","value":"a@x"}]}"#).objectValue)
        #expect(try patch(#"[{"op":"replace","value":{"active":false}}]"#, to: user)["active"] == .bool(false))
        #expect(try patch(#"[{"op":"Replace","path":"active","value":"False"}]"#, to: user)["active"] == .bool(false))
        #expect(try patch(#"[{"op":"Replace","path":"ACTIVE","value":"True"}]"#, to: user)["active"] == .bool(true))
        let email = try patch(#"[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"b@x"}]"#, to: user)
        #expect(email["emails"]?.arrayValue?.first?.objectValue?["value"] == "b@x")
        let enterprise = try patch(#"[{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"R&D"}]"#, to: user)
        #expect(enterprise["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]?.objectValue?["department"] == "R&D")
        let group = try #require(try JSONValue.parse(#"{"displayName":"g","members":[{"value":"u1"},{"value":"u2"}]}"#).objectValue)
        #expect(try patch(#"[{"op":"Remove","path":"members","value":[{"value":"u1"}]}]"#, to: group)["members"] == .array([.object(JSONObject(["value": "u2"]))]))
        #expect(try patch(#"[{"op":"remove","path":"members[value eq \"u2\"]"}]"#, to: group)["members"] == .array([.object(JSONObject(["value": "u1"]))]))
        #expect(try patch(#"[{"op":"add","path":"members","value":[{"value":"u3"}]}]"#, to: group)["members"]?.arrayValue?.count == 3)
    }

    @Test("malformed PATCH bodies are refused with their scimType")
    func refusals() throws {
        let user = JSONObject(["userName": "a"])
        func scimType(_ body: String) -> String? {
            do {
                _ = try SCIMPatch.apply(try #require(try JSONValue.parse(body).objectValue), to: user)
                return nil
            } catch let failure as SCIMPatch.Failure { return failure.scimType } catch { return "other" }
        }
        #expect(scimType(#"{"Operations":[{"op":"replace","value":{}}]}"#) == "invalidSyntax")
        #expect(scimType(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":[]}"#) == "invalidSyntax")
        #expect(scimType(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":[{"op":"move","path":"a","value":1}]}"#) == "invalidSyntax")
        #expect(scimType(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":[{"op":"remove"}]}"#) == "noTarget")
        #expect(scimType(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":[{"op":"replace","path":"meta","value":{}}]}"#) == "mutability")
        // Value filters take the whole grammar (`co` is fine); a user without emails has no target.
        #expect(scimType(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":[{"op":"replace","path":"emails[type co \"w\"].value","value":"x"}]}"#) == "noTarget")
        #expect(scimType(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":[{"op":"replace","path":"emails[type eq \"w\"","value":"x"}]}"#) == "invalidPath")
        #expect(scimType(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":[{"op":"replace","path":"urn:example:other:title","value":"x"}]}"#) == "invalidPath")
        // The issue's bug: the filter's `or 1 eq 1` was read as part of the value.
        #expect(scimType(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":[{"op":"remove","path":"members[value eq \"x\" or 1 eq 1]"}]}"#) == "invalidPath")
        #expect(scimType(#"{"schemas":["\#(SCIMPatch.schema)"],"Operations":[{"op":"remove","path":"members[value eq \"x\\q\"]"}]}"#) == "invalidPath")
    }

    @Test("each CAEP and RISC event maps to its action; events that ask nothing map to none")
    func events() {
        let caep = SSFReceiver.caep, risc = SSFReceiver.risc
        #expect(SSFEvents.action(for: caep + "session-revoked", payload: JSONObject()) == .revokeSessions)
        #expect(SSFEvents.action(for: caep + "credential-change", payload: JSONObject(["change_type": "revoke", "credential_type": "x509"])) == .revokeSessions)
        #expect(SSFEvents.action(for: caep + "credential-change", payload: JSONObject(["change_type": "update", "credential_type": "password"])) == .revokeSessions)
        #expect(SSFEvents.action(for: caep + "credential-change", payload: JSONObject(["change_type": "create", "credential_type": "fido2-platform"])) == nil)
        #expect(SSFEvents.action(for: caep + "assurance-level-change", payload: JSONObject(["change_direction": "decrease"])) == .revokeSessions)
        #expect(SSFEvents.action(for: caep + "assurance-level-change", payload: JSONObject(["change_direction": "increase"])) == nil)
        #expect(SSFEvents.action(for: caep + "token-claims-change", payload: JSONObject(["claims": .object(JSONObject(["groups": .array(["a"])]))]))
                == .attributes(groups: ["a"], roles: nil))
        #expect(SSFEvents.action(for: caep + "token-claims-change", payload: JSONObject(["claims": .object(JSONObject(["email": "x"]))])) == nil)
        #expect(SSFEvents.action(for: risc + "account-disabled", payload: JSONObject()) == .offboard)
        #expect(SSFEvents.action(for: risc + "account-purged", payload: JSONObject()) == .offboard)
        #expect(SSFEvents.action(for: risc + "account-enabled", payload: JSONObject()) == .enable)
        #expect(SSFEvents.action(for: risc + "account-credential-change-required", payload: JSONObject()) == .revokeSessions)
        #expect(SSFEvents.action(for: risc + "identifier-changed", payload: JSONObject()) == .revokeSessions)
        #expect(SSFEvents.action(for: "https://schemas.openid.net/secevent/ssf/event-type/verification", payload: JSONObject()) == nil)
    }

    @Test("the processor on the in-memory store: an offboarding revokes, disables and signs a receipt that verifies against the published keys and names the tokens; processing the signal again adds nothing; the receipt is refused as any token kind")
    func processor() async throws {
        let store = MemoryStore()
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let sealing = try KeySealing(keyEncryptionKey: SecureRandom.bytes(32))
        _ = try await KeyManagement.ensureKey(in: store, sealing: sealing, algorithm: .es256, now: now.addingTimeInterval(-1000))
        let keys = KeyRing(sealing: sealing)
        try await keys.reload(from: store, now: now)
        let processor = SignalProcessor(issuer: "https://broker.example", store: store, keys: keys, policy: Policy(rules: []), catalog: Catalog(servers: []),
                                        delegation: .default, clock: TestClock(now))
        let alice = SubjectKey(issuer: "https://idp.example", subject: "alice")
        let token = IssuedToken(jti: "t1", subject: alice, principal: .human, clientID: "c", resource: "https://mcp.example/a", scope: ["tool:x"],
                                issuedAt: now.addingTimeInterval(-10), expiresAt: now.addingTimeInterval(290), assertionID: nil)
        _ = try await store.commit(marks: [], token: token, audit: nil)

        let signal = processor.signal(source: .ssf, connection: "idp", externalID: "jti-1", event: "risc:account-disabled", subject: alice, action: .offboard)
        guard case .processed(_, .revoked(let outcome, let receipt?)) = try await processor.submit(signal) else {
            Issue.record("the offboarding was not processed")
            return
        }
        #expect(outcome.tokensRevoked.map(\.jti) == ["t1"])
        #expect(try await store.isDisabled(alice))
        let claims = try ReceiptVerifier.verify(receipt.jws, issuer: "https://broker.example", keys: keys.snapshot.published, now: now)
        #expect(claims.object["tokens_revoked"]?.arrayValue?.first?.objectValue?["jti"] == "t1")
        #expect(claims.object["trigger"]?.objectValue?["external_id"] == "jti-1")
        #expect(try await store.signal(id: signal.id)?.completedAt != nil)

        // The same SET again: deduplicated.
        let again = processor.signal(source: .ssf, connection: "idp", externalID: "jti-1", event: "risc:account-disabled", subject: alice, action: .offboard)
        guard case .duplicate(let earlier) = try await processor.submit(again) else { Issue.record("not deduplicated"); return }
        #expect(earlier == signal.id)
        #expect(try await store.receipts(of: alice).count == 1)

        // A receipt is never a token, and a token verifier never takes it.
        for kind in [TokenKind.accessToken, .idJAG, .idToken, .securityEvent, .clientAssertion] {
            let verifier = JWTVerifier(kind: kind, signatures: JWSVerifier(keys: keys.snapshot.published), rules: ClaimRules())
            #expect(throws: JOSEError.self) { _ = try verifier.verify(receipt.jws, now: now) }
        }
    }
}
