import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

// The fixed validation order of the jwt-bearer grant (STYLE rule 3; JWTBearerGrant's doc comment):
// request shape → size and shape → typ → alg → trusted iss → alg on that IdP's list → key by kid →
// signature → iss/aud → exp/nbf/iat → lifetime → jti unused → client_id → resource → tenant →
// subject not disabled → policy → scope. Each test presents one assertion with two faults and
// expects the earlier step's reason; `JWTBearerValidationTests` shows each fault alone is refused.

@Suite("jwt-bearer grant: validation order at POST /token")
struct JWTBearerValidationOrderTests: JWTBearerTesting {
    @Test("a malformed scope parameter is reported before a bad signature (request shape first)")
    func malformedScopeBeforeSignature() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()), with: deployment.idp.otherKey)
            try await expectRefusal(try await client.redeem(assertion, scope: "tool:search_code  tool:create_issue"), error: "invalid_scope",
                                    reason: "malformed_scope", server: server)
        }
    }

    @Test("an unknown grant_type is reported before failed client authentication")
    func grantTypeBeforeClientAuthentication() async throws {
        let deployment = try TestDeployment()
        try await withServer(deployment, clock: TestClock(jwtBearerStart)) { client, server in
            let response = try await client.post("/token", [("grant_type", "password"), ("username", "alice"), ("password", "x")],
                                                 authorization: basic(TestDeployment.clientID, "wrong-secret"))
            try await expectRefusal(response, error: "unsupported_grant_type", reason: "unsupported_grant_type", server: server)
        }
    }

    @Test("a wrong typ is reported before alg none")
    func typBeforeAlgNone() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = handmadeJWS(header: JSONObject(["alg": "none", "typ": "JWT"]), claims: TestIdP.claims(now: clock.now()))
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "wrong_typ", server: server)
        }
    }

    @Test("a wrong typ is reported before an untrusted issuer")
    func typBeforeIssuer() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["iss"] = "https://evil.example"
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims, type: "JWT")), error: "invalid_grant",
                                    reason: "wrong_typ", server: server)
        }
    }

    @Test("an algorithm no IdP allows is reported before an untrusted issuer")
    func algorithmBeforeIssuer() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["iss"] = "https://evil.example"
            let assertion = handmadeJWS(header: JSONObject(["alg": "HS256", "typ": "oauth-id-jag+jwt", "kid": "idp-rs256"]), claims: claims) {
                Digest.hmacSHA256(key: Array("attacker-chosen-secret".utf8), message: Array($0.utf8))
            }
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "alg_not_allowed", server: server)
        }
    }

    @Test("an untrusted issuer is reported before an unknown kid")
    func issuerBeforeKey() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["iss"] = "https://evil.example"
            let signer = try SigningKey.generate(.rs256, keyID: "attacker-key")
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims, with: signer)), error: "invalid_grant",
                                    reason: "untrusted_issuer", server: server)
        }
    }

    @Test("an untrusted issuer is reported before a bad signature")
    func issuerBeforeSignature() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["iss"] = "https://evil.example"
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims, with: deployment.idp.otherKey)), error: "invalid_grant",
                                    reason: "untrusted_issuer", server: server)
        }
    }

    @Test("the IdP's own algorithm list is checked before the key: ES256 under test-idp with an unknown kid")
    func issuerAlgorithmBeforeKey() async throws {
        let deployment = try twoIdPDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let signer = try SigningKey.generate(.es256, keyID: "not-published")
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now()), with: signer)),
                                    error: "invalid_grant", reason: "alg_not_allowed", server: server)
        }
    }

    @Test("a bad signature is reported before expiry")
    func signatureBeforeExpiry() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["iat"] = numericDate(clock.now(), -200)
            claims["exp"] = numericDate(clock.now(), -100)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims, with: deployment.idp.otherKey)), error: "invalid_grant",
                                    reason: "bad_signature", server: server)
        }
    }

    @Test("a bad signature is reported before a wrong audience and a client mismatch")
    func signatureBeforeClaims() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let claims = TestIdP.claims(now: clock.now(), audience: "https://other-as.example", client: "someone-else")
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims, with: deployment.idp.otherKey)), error: "invalid_grant",
                                    reason: "bad_signature", server: server)
        }
    }

    @Test("a wrong audience is reported before expiry")
    func audienceBeforeExpiry() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now(), audience: "https://other-as.example")
            claims["iat"] = numericDate(clock.now(), -200)
            claims["exp"] = numericDate(clock.now(), -100)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "wrong_audience", server: server)
        }
    }

    @Test("a redeemed ID-JAG is refused as replayed until exp + leeway, then as expired")
    func expiryBeforeReplay() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))  // exp = now + 120
            try expectIssued(try await client.redeem(assertion), scope: "tool:create_issue tool:search_code")
            clock.advance(170)  // 50 s past exp: still within the leeway, so still a replay
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "assertion_replayed",
                                    server: server, issued: 1)
            clock.advance(20)  // 70 s past exp: expired, and still remembered
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "expired", server: server, issued: 1)
        }
    }

    @Test("a replay is reported before a client mismatch")
    func replayBeforeClientBinding() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), resource: TestDeployment.notionResource))
            try expectIssued(try await client.redeem(assertion, resource: TestDeployment.notionResource), scope: "tool:search_pages")
            // The same ID-JAG from python-client: replayed, and not issued to python-client.
            let response = try await client.post("/token", [
                ("grant_type", jwtBearerGrantType), ("assertion", assertion), ("resource", TestDeployment.notionResource),
                ("client_id", TestDeployment.postClientID), ("client_secret", TestDeployment.clientSecret),
            ])
            try await expectRefusal(response, error: "invalid_grant", reason: "assertion_replayed", server: server, issued: 1)
        }
    }

    @Test("a client mismatch is reported before an unknown resource")
    func clientBindingBeforeResource() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let unknown = "https://mcp.test.example/jira"
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), client: TestDeployment.postClientID, resource: unknown))
            try await expectRefusal(try await client.redeem(assertion, resource: unknown), error: "invalid_grant",
                                    reason: "assertion_client_mismatch", server: server)
        }
    }

    @Test("a resource mismatch is reported before a disabled subject")
    func resourceBeforeSubject() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice"), true, at: clock.now())
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            try await expectRefusal(try await client.redeem(assertion, resource: TestDeployment.notionResource), error: "invalid_grant",
                                    reason: "resource_mismatch", server: server)
        }
    }

    @Test("an untrusted tenant is reported before a disabled subject")
    func tenantBeforeSubject() async throws {
        let deployment = try TestDeployment(idpExtra: "    tenant: {claim: tid, allowed: [t-1]}")
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, tenant: "t-2", subject: "00u-alice"), true, at: clock.now())
            var claims = TestIdP.claims(now: clock.now())
            claims["tid"] = "t-2"
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "tenant_not_allowed", server: server)
        }
    }

    @Test("a disabled subject is reported before a policy deny")
    func subjectBeforePolicy() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice"), true, at: clock.now())
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), groups: ["sales"]))
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "subject_disabled", server: server)
        }
    }

    @Test("a policy deny is reported before an empty scope")
    func policyBeforeScope() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), groups: ["sales"]))
            try await expectRefusal(try await client.redeem(assertion, scope: "tool:delete_repository"), error: "invalid_grant",
                                    reason: "no_matching_rule", server: server)
        }
    }
}
