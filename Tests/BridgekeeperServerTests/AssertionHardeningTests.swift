import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

// Tokens an outside attack run got minted that should have been refused (issue 18, part 1): each
// is refused at POST /token with the wire code, the audited reason, and nothing issued.

@Suite("assertions refused for fields of the wrong type, empty, or unsupported (issue 18)")
struct AssertionHardeningTests: JWTBearerTesting {
    @Test("an ID-JAG whose kid is an object, a number, an array or empty is refused, not matched to the IdP's only key",
          arguments: [JSONValue.object(JSONObject(["kid": "idp-rs256"])), .number(JSONNumber(1)), .array(["idp-rs256"]), .string("")])
    func kidNotAString(kid: JSONValue) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            // Signed with the IdP's real key: only the kid is wrong.
            let assertion = try deployment.idp.key.sign(payload: Array(JSONValue.object(TestIdP.claims(now: clock.now())).serialized().utf8),
                                                        header: JSONObject(["typ": "oauth-id-jag+jwt", "kid": kid]))
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "invalid_header", server: server)
        }
    }

    @Test("an ID-JAG whose sub is empty, a number or an object is refused", arguments: [JSONValue.string(""), .number(JSONNumber(42)),
                                                                                    .object(JSONObject(["id": "00u-alice"]))])
    func subjectNotAString(sub: JSONValue) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["sub"] = sub
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant", reason: "invalid_claim",
                                    server: server)
        }
    }

    @Test("a key-bound ID-JAG (cnf, e.g. cnf.jkt for DPoP) is refused, never redeemed as a bearer grant",
          arguments: [JSONValue.object(JSONObject(["jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"])), .object(JSONObject()), .string("x")])
    func keyBound(cnf: JSONValue) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["cnf"] = cnf
            let response = try await client.redeem(try deployment.idp.sign(claims))
            try await expectRefusal(response, error: "invalid_grant", reason: "key_bound_grant_unsupported", server: server)
            #expect(response.json?["error_description"]?.stringValue?.contains("DPoP") == true)
        }
    }

    @Test("an ID-JAG with authorization_details (RFC 9396) is refused rather than redeemed without them")
    func authorizationDetails() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["authorization_details"] = .array([.object(JSONObject(["type": "repository", "actions": .array(["read"])]))])
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "authorization_details_unsupported", server: server)
            // The same ID-JAG without them is redeemed: the refusal is about the claim alone.
            claims["authorization_details"] = nil
            claims["jti"] = .string(SecureRandom.identifier())
            try expectIssued(try await client.redeem(try deployment.idp.sign(claims)), scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("an ID token carrying cnf or authorization_details is not exchanged (token exchange, invalid_request)")
    func exchangeRefusesBindings() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.idTokenClaims(now: clock.now())
            claims["cnf"] = .object(JSONObject(["jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"]))
            try await expectRefusal(try await client.exchange(try deployment.idp.idToken(claims)), error: "invalid_request",
                                    reason: "key_bound_grant_unsupported", server: server)
            claims["cnf"] = nil
            claims["authorization_details"] = .array([])
            try await expectRefusal(try await client.exchange(try deployment.idp.idToken(claims)), error: "invalid_request",
                                    reason: "authorization_details_unsupported", server: server)
        }
    }
}
