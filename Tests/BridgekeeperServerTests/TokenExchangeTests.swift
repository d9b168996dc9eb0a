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

// HTTP tests of the identity bridge: RFC 8693 token exchange of an upstream IdP's ID token for an
// access token at POST /token. Each refusal checks the status, the `error` code (RFC 8693 §2.2.2),
// `Cache-Control: no-store` and the audited reason code.

@Suite("token exchange: an IdP's ID token for access tokens (the identity bridge)")
struct TokenExchangeTests: JWTBearerTesting {
    let issuedTokenType = "urn:ietf:params:oauth:token-type:access_token"

    /// Asserts an exchange answer with exactly `scope`; returns the access token's claims.
    @discardableResult
    func expectExchanged(_ response: TestResponse, scope: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONObject {
        #expect(response.status == .ok, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        let json = try #require(response.json, "not a JSON object: \(response.text)", sourceLocation: sourceLocation)
        #expect(json.names.sorted() == ["access_token", "expires_in", "issued_token_type", "scope", "token_type"], "\(response.text)",
                sourceLocation: sourceLocation)
        #expect(json["issued_token_type"] == .string(issuedTokenType), sourceLocation: sourceLocation)
        #expect(json["token_type"] == .string("Bearer"), sourceLocation: sourceLocation)
        #expect(json["scope"] == .string(scope), "\(response.text)", sourceLocation: sourceLocation)
        return try accessTokenClaims(json)
    }

    @Test("an ID token becomes an access token for one server: at+jwt, sub, aud the server, principal human, idp_iss; audited")
    func exchanges() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let claims = try expectExchanged(try await client.exchange(try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))),
                                             scope: "tool:create_issue tool:search_code")
            #expect(claims["sub"] == .string("00u-alice"))
            #expect(claims["aud"] == .string(TestDeployment.githubResource))
            #expect(claims["client_id"] == .string(TestDeployment.clientID))
            #expect(claims["principal_class"] == .string("human"))
            #expect(claims["idp_iss"] == .string(TestIdP.issuer))
            let record = try #require(try await auditTrail(server).last)
            #expect(record.event.kind == .issuance)
            #expect(record.event.subject == "00u-alice" && record.event.server == TestDeployment.githubResource)
            #expect(record.event.emailHash != nil && record.event.emailHash != "alice@example.com")
        }
    }

    @Test("one sign-in reaches several servers: the same ID token is exchanged for github, then notion, then github again")
    func oneSignInSeveralServers() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try expectExchanged(try await client.exchange(idToken), scope: "tool:create_issue tool:search_code")
            let notion = try expectExchanged(try await client.exchange(idToken, resource: TestDeployment.notionResource), scope: "tool:search_pages")
            #expect(notion["aud"] == .string(TestDeployment.notionResource))
            try expectExchanged(try await client.exchange(idToken, scope: "tool:search_code"), scope: "tool:search_code")
            #expect(try await auditTrail(server).filter { $0.event.kind == .issuance }.count == 3)
        }
    }

    @Test("the metadata lists the token-exchange grant and the token types it issues")
    func metadata() async throws {
        let deployment = try TestDeployment()
        try await withServer(deployment, clock: TestClock(jwtBearerStart)) { client, _ in
            let response = try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get)
            let json = try #require(response.json)
            let grants = json["grant_types_supported"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(grants.contains("urn:ietf:params:oauth:grant-type:token-exchange"))
            #expect(json["identity_chaining_requested_token_types_supported"] == .array([.string(issuedTokenType)]))
        }
    }

    // MARK: - The subject token

    @Test("an ID token issued to another client (aud) is invalid_request (wrong_audience)")
    func wrongAudience() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), audience: "0oa-some-other-app"))
            try await expectRefusal(try await client.exchange(idToken), error: "invalid_request", reason: "wrong_audience", server: server)
        }
    }

    @Test("an ID token whose aud is our own client id (not the client's id at the IdP) is refused (wrong_audience)")
    func audienceIsBrokerClientID() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), audience: TestDeployment.clientID))
            try await expectRefusal(try await client.exchange(idToken), error: "invalid_request", reason: "wrong_audience", server: server)
        }
    }

    @Test("an ID-JAG offered as the ID token is refused by its typ (wrong_typ)")
    func idJAGAsIDToken() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.idTokenClaims(now: clock.now())
            claims["client_id"] = .string(TestDeployment.clientID)
            claims["jti"] = "jag-1"
            try await expectRefusal(try await client.exchange(try deployment.idp.sign(claims, type: "oauth-id-jag+jwt")),
                                    error: "invalid_request", reason: "wrong_typ", server: server)
        }
    }

    @Test("an access token we minted, offered as the ID token, is refused by its typ (wrong_typ)")
    func accessTokenAsIDToken() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.exchange(try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now())))
            try expectExchanged(response, scope: "tool:create_issue tool:search_code")
            let accessToken = try #require(response.json?["access_token"]?.stringValue)
            try await expectRefusal(try await client.exchange(accessToken), error: "invalid_request", reason: "wrong_typ", server: server,
                                    issued: 1)
        }
    }

    @Test("an expired ID token is invalid_request (expired)")
    func expired() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            clock.advance(3600 + 61)
            try await expectRefusal(try await client.exchange(idToken), error: "invalid_request", reason: "expired", server: server)
        }
    }

    @Test("an ID token from an issuer that is not trusted is invalid_request (untrusted_issuer)")
    func unknownIssuer() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.idTokenClaims(now: clock.now())
            claims["iss"] = "https://evil.example"
            try await expectRefusal(try await client.exchange(try deployment.idp.idToken(claims)), error: "invalid_request",
                                    reason: "untrusted_issuer", server: server)
        }
    }

    @Test("an ID token from a tenant that is not trusted is invalid_request (tenant_not_allowed)")
    func wrongTenant() async throws {
        let deployment = try TestDeployment(idpExtra: "    tenant: {claim: tid, allowed: [t-1]}")
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.idTokenClaims(now: clock.now())
            claims["tid"] = "t-2"
            try await expectRefusal(try await client.exchange(try deployment.idp.idToken(claims)), error: "invalid_request",
                                    reason: "tenant_not_allowed", server: server)
            claims["tid"] = "t-1"
            let token = try expectExchanged(try await client.exchange(try deployment.idp.idToken(claims)), scope: "tool:create_issue tool:search_code")
            #expect(token["tenant"] == .string("t-1"))
        }
    }

    @Test("a bad signature is invalid_request (bad_signature)")
    func badSignature() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let forged = try deployment.idp.otherKey.signJWT(type: "JWT", claims: TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await client.exchange(forged), error: "invalid_request", reason: "bad_signature", server: server)
        }
    }

    @Test("an unsigned ID token (alg none) is invalid_request (alg_none), never verified")
    func algorithmNone() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let unsigned = handmadeJWS(header: JSONObject(["alg": "none", "typ": "JWT"]), claims: TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await client.exchange(unsigned), error: "invalid_request", reason: "alg_none", server: server)
        }
    }

    @Test("with max_id_token_age, an old sign-in (auth_time) is refused (expired) and a missing auth_time too (missing_claim)")
    func maximumAge() async throws {
        let deployment = try TestDeployment(idpExtra: "    max_id_token_age: 600")
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.idTokenClaims(now: clock.now())
            claims["auth_time"] = .number(JSONNumber(Int64(clock.now().timeIntervalSince1970) - 600 - 61))
            try await expectRefusal(try await client.exchange(try deployment.idp.idToken(claims)), error: "invalid_request",
                                    reason: "expired", server: server)
            claims["auth_time"] = nil
            try await expectRefusal(try await client.exchange(try deployment.idp.idToken(claims)), error: "invalid_request",
                                    reason: "missing_claim", server: server)
            try expectExchanged(try await client.exchange(try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))),
                                scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("with claims.subject oid (Entra), the person is keyed by oid, not the pairwise sub")
    func subjectClaim() async throws {
        let deployment = try TestDeployment(idpExtra: "    claims: {subject: oid}")
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.idTokenClaims(now: clock.now(), subject: "pairwise-sub-for-this-app")
            claims["oid"] = "7f3c1a52-oid-alice"
            let token = try expectExchanged(try await client.exchange(try deployment.idp.idToken(claims)), scope: "tool:create_issue tool:search_code")
            #expect(token["sub"] == .string("7f3c1a52-oid-alice"))
            // Disabling that person by oid refuses the next exchange.
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, subject: "7f3c1a52-oid-alice"), true, at: clock.now())
            try await expectRefusal(try await client.exchange(try deployment.idp.idToken(claims)), error: "invalid_request",
                                    reason: "subject_disabled", server: server, issued: 1)
            claims["oid"] = nil
            try await expectRefusal(try await client.exchange(try deployment.idp.idToken(claims)), error: "invalid_request",
                                    reason: "invalid_claim", server: server, issued: 1)
        }
    }

    // MARK: - The request

    @Test("subject_token_type other than id_token is invalid_request (unsupported_token_type)")
    func subjectTokenType() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            let response = try await client.post("/token", [
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("subject_token", idToken),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"), ("resource", TestDeployment.githubResource),
            ], authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            try await expectRefusal(response, error: "invalid_request", reason: "unsupported_token_type", server: server)
        }
    }

    @Test("a policy refusal tells the person why: the server, the reason code and the deny rule's id")
    func policyReasonInDescription() async throws {
        let deployment = try TestDeployment(policy: """
              - id: frozen-accounts
                effect: deny
                groups: [frozen]
                servers: [github]
            """)
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let frozen = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), groups: ["engineering", "frozen"]))
            let response = try await client.exchange(frozen)
            try await expectRefusal(response, error: "invalid_request", reason: "denied_by_rule", server: server)
            #expect(response.json?["error_description"]
                    == .string("policy does not grant this subject access to github (denied_by_rule by frozen-accounts)"))
            let stranger = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), groups: ["sales"]))
            let other = try await client.exchange(stranger)
            #expect(other.json?["error_description"] == .string("policy does not grant this subject access to github (no_matching_rule)"))
        }
    }

    @Test("requested_token_type id-jag without a configured authorization server: invalid_request (unsupported_token_type)")
    func requestedIDJAG() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            let response = try await client.post("/token", [
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("subject_token", idToken),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
                ("requested_token_type", "urn:ietf:params:oauth:token-type:id-jag"), ("audience", "https://as.partner.example"),
            ], authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            try await expectRefusal(response, error: "invalid_request", reason: "unsupported_token_type", server: server)
        }
    }

    @Test("no resource is invalid_request (resource_required); two are invalid_target; an unknown one is invalid_target (unknown_resource)")
    func resources() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await client.exchange(idToken, resource: nil), error: "invalid_request", reason: "resource_required", server: server)
            try await expectRefusal(try await client.exchange(idToken, extra: [("resource", TestDeployment.notionResource)]),
                                    error: "invalid_target", reason: "malformed_resource", server: server)
            try await expectRefusal(try await client.exchange(idToken, resource: "https://mcp.test.example/unknown"),
                                    error: "invalid_target", reason: "unknown_resource", server: server)
        }
    }

    @Test("an actor_token must come with actor_token_type jwt (an agent's signed assertion), else unsupported_token_type")
    func actorToken() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await client.exchange(idToken, extra: [("actor_token", idToken),
                                                                                ("actor_token_type", "urn:ietf:params:oauth:token-type:id_token")]),
                                    error: "invalid_request", reason: "unsupported_token_type", server: server)
            try await expectRefusal(try await client.exchange(idToken, extra: [("actor_token", idToken)]),
                                    error: "invalid_request", reason: "unsupported_token_type", server: server)
        }
    }

    @Test("a client without an id at the IdP may not use token exchange: unauthorized_client (grant_type_not_allowed)")
    func clientWithoutUpstreamID() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            let response = try await client.post("/token", [
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("subject_token", idToken),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), ("resource", TestDeployment.notionResource),
                ("client_id", TestDeployment.postClientID), ("client_secret", TestDeployment.clientSecret),
            ])
            try await expectRefusal(response, error: "unauthorized_client", reason: "grant_type_not_allowed", server: server)
        }
    }

    // MARK: - Subject and policy

    @Test("a disabled subject is invalid_request (subject_disabled); re-enabled, the same ID token is exchanged")
    func disabledSubject() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let alice = SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice")
            try await server.store.setDisabled(alice, true, at: clock.now())
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await client.exchange(idToken), error: "invalid_request", reason: "subject_disabled", server: server)
            // Reported before a policy refusal, too.
            let sales = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), groups: ["sales"]))
            try await expectRefusal(try await client.exchange(sales), error: "invalid_request", reason: "subject_disabled", server: server)
            try await server.store.setDisabled(alice, false, at: clock.now())
            try expectExchanged(try await client.exchange(idToken), scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("a policy deny is invalid_request (no_matching_rule); an unknown scope is invalid_scope")
    func policy() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let sales = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), groups: ["sales"]))
            try await expectRefusal(try await client.exchange(sales), error: "invalid_request", reason: "no_matching_rule", server: server)
            let engineer = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            let response = try await client.exchange(engineer, scope: "tool:delete_repository")
            #expect(response.status == .badRequest && response.json?["error"] == .string("invalid_scope"), "\(response.text)")
        }
    }
}
