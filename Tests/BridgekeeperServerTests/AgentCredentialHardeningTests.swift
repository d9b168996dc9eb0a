import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperRevocation
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import BridgekeeperKeys
import BridgekeeperClientAuth
import BridgekeeperTesting

// Issue 18 §2: a rotated agent secret ends at once, and disabling an agent ends its live tokens at
// introspection and on the revocation feed, through the management API as an operator uses it.
extension AgentTokenTests {
    /// The robot-token deployment plus agent secrets and a security team that administers agents.
    func administeredDeployment() throws -> TestDeployment {
        try deployment(agents: "agents:\n  allow_client_secret: true\n", policy: """
              - id: security-administers-agents
                effect: allow
                groups: [security]
                servers: [bridgekeeper]
                categories: [read, write, admin]
            """)
    }

    func adminToken(_ client: any TestClientProtocol, _ deployment: TestDeployment, now: Date) async throws -> String {
        let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: now, subject: "00u-carol", groups: ["security"]))
        let response = try await client.exchange(idToken, resource: TestDeployment.issuer + "/admin")
        return try #require(response.json?["access_token"]?.stringValue, "\(response.text)")
    }

    func admin(_ client: any TestClientProtocol, _ path: String, token: String, json: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.authorization: "Bearer \(token)"]
        if json != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: "/admin/v1" + path, method: .post, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    func secretCredentials(_ client: any TestClientProtocol, id: String, secret: String) async throws -> TestResponse {
        try await client.post("/token", [("grant_type", "client_credentials"), ("resource", Self.wikiResource)], authorization: basic(id, secret))
    }

    /// Registers an agent acting as itself on the wiki with a generated secret, through the
    /// management API; the secret handed over.
    func createSecretAgent(_ client: any TestClientProtocol, id: String, admin: String) async throws -> String {
        let created = try await self.admin(client, "/agents", token: admin, json: """
            {"id":"\(id)","owner":{"subject":"00u-alice"},"mode":"itself","grant":["wiki:read"],"credential":{"client_secret":true}}
            """)
        #expect(created.status == .created, "\(created.text)")
        return try #require(created.json?["client_secret"]?.stringValue)
    }

    @Test("a rotated agent secret is refused at once, though it was used (and remembered) just before the rotation")
    func rotatedSecretEndsAtOnce() async throws {
        let deployment = try administeredDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            #expect(try await signIn(client, deployment, now: clock.now()).status == .ok)
            let admin = try await adminToken(client, deployment, now: clock.now())
            let old = try await createSecretAgent(client, id: "robot-s", admin: admin)
            #expect(try await secretCredentials(client, id: "robot-s", secret: old).status == .ok)
            #expect(try await secretCredentials(client, id: "robot-s", secret: old).status == .ok)  // now from the verified-secret cache

            let rotated = try await self.admin(client, "/agents/robot-s/rotate-key", token: admin, json: #"{"credential":{"client_secret":true}}"#)
            #expect(rotated.status == .ok, "\(rotated.text)")
            let new = try #require(rotated.json?["client_secret"]?.stringValue)
            #expect(new != old)
            let refused = try await secretCredentials(client, id: "robot-s", secret: old)
            #expect(refused.status == .unauthorized, "\(refused.text)")
            #expect(refused.json?["error"] == .string("invalid_client"))
            #expect(try await auditTrail(server).last?.event.reason.rawValue == "bad_client_secret")
            #expect(try await secretCredentials(client, id: "robot-s", secret: new).status == .ok)
            // And once the new one is remembered, the old one still fails.
            #expect(try await secretCredentials(client, id: "robot-s", secret: old).status == .unauthorized)
        }
    }

    @Test("an agent's generated secret is stored as its SHA-256 (sha256$), not PBKDF2, and still authenticates (issue 18 §3)")
    func generatedAgentSecretIsFastHashed() async throws {
        let deployment = try administeredDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            #expect(try await signIn(client, deployment, now: clock.now()).status == .ok)
            let admin = try await adminToken(client, deployment, now: clock.now())
            let secret = try await createSecretAgent(client, id: "robot-f", admin: admin)
            #expect(secret.utf8.count == 43)
            let record = try #require(try await server.store.agent(id: "robot-f"))
            guard case .secretHash(let encoded) = record.credential else { Issue.record("not a secret hash"); return }
            #expect(encoded.hasPrefix("sha256$"), "\(encoded.prefix(14))")
            #expect(try SecretHash(encoded: encoded).matches(secret))
            #expect(try await secretCredentials(client, id: "robot-f", secret: secret).status == .ok)
            #expect(try await secretCredentials(client, id: "robot-f", secret: secret + "x").status == .unauthorized)
        }
    }

    @Test("disabling an agent through the management API revokes its live tokens: inactive at introspection, on the revocation feed, counted in the answer")
    func disablingRevokesLiveTokens() async throws {
        let deployment = try administeredDeployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "robot-d")
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "robot-d", key: key, mode: .itself, grant: [.init(servers: .named(["wiki"]), categories: [.read])],
                               now: clock.now())
            #expect(try await signIn(client, deployment, now: clock.now()).status == .ok)
            let issued = try await clientCredentials(client, assertion: try assertion("robot-d", key: key, now: clock.now()))
            let token = try #require(issued.json?["access_token"]?.stringValue, "\(issued.text)")
            OAuthWire.expectActive(try await OAuthWire.introspect(client, token))

            let admin = try await adminToken(client, deployment, now: clock.now())
            let disabled = try await self.admin(client, "/agents/robot-d/disable", token: admin)
            #expect(disabled.status == .ok, "\(disabled.text)")
            #expect(disabled.json?["status"] == .string("disabled"))
            #expect(disabled.json?["tokens_revoked"]?.numberValue?.exactInteger == 1)
            OAuthWire.expectInactive(try await OAuthWire.introspect(client, token))

            let body = try #require(issued.json)
            let jti = try #require(try accessTokenClaims(body)["jti"]?.stringValue)
            #expect(try await server.store.tokenState(jti: jti)?.revokedAt != nil)
            let feed = try await server.store.feedRecords(afterSequence: 0, limit: 100)
            let revocation = try #require(feed.last(where: { $0.event.tokenID == jti }), "the revocation is not on the feed")
            #expect(revocation.event.kind == .revocation && revocation.event.reason.rawValue == "agent_disabled")
            #expect(revocation.event.performedBy == "person:\(TestIdP.issuer) 00u-carol")
            // Enabling it again brings no token back.
            #expect(try await self.admin(client, "/agents/robot-d/enable", token: admin).status == .ok)
            OAuthWire.expectInactive(try await OAuthWire.introspect(client, token))
        }
    }
}

// Issue 18 §2: administration reaches only the administrator's own IdP and tenant, and a group of
// the same name at another IdP grants nothing.
extension ManagementAPITests {
    static let otherIssuer = "https://es256-idp.test.example"

    func twoIdPAdministration(allTenants: Bool) throws -> TestDeployment {
        try TestDeployment(idpExtra: """
              - name: es256-idp
                issuer: \(Self.otherIssuer)
                jwks_file: client-jwks.json
                algorithms: [ES256]
            """, upstreamClientIDs: ["es256-idp": "es-app"], policy: """
              - id: security-administers
                effect: allow
                groups: [security]
                idp: test-idp
                servers: [bridgekeeper]
                categories: [read, write, admin]
            """ + (allTenants ? """

              - id: security-everywhere
                effect: allow
                groups: [security]
                idp: test-idp
                servers: [bridgekeeper]
                tools: [admin.all_tenants]
            """ : ""))
    }

    /// A management API token for a person of es256-idp (by token exchange of its ID token).
    func otherIdPExchange(_ client: any TestClientProtocol, _ deployment: TestDeployment, now: Date, groups: [String]) async throws -> TestResponse {
        var claims = TestIdP.idTokenClaims(now: now, audience: "es-app", subject: "00u-mallory", groups: groups)
        claims["iss"] = .string(Self.otherIssuer)
        return try await client.exchange(try deployment.clientKey.signJWT(type: "JWT", claims: claims), resource: Self.adminResource)
    }

    @Test("a same-named group from another IdP grants none of a rule's tools: no management token for 'security' at es256-idp")
    func groupFromAnotherIdP() async throws {
        let deployment = try twoIdPAdministration(allTenants: false)
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await otherIdPExchange(client, deployment, now: clock.now(), groups: ["security"])
            try await expectRefusal(response, error: "invalid_request", reason: "no_matching_rule", server: server)
        }
    }

    @Test("an administrator reaches only their own IdP's people and agents, unless a rule names admin.all_tenants")
    func administrationReach() async throws {
        let key = try SigningKey.generate(.es256, keyID: "k")
        for allTenants in [false, true] {
            let deployment = try twoIdPAdministration(allTenants: allTenants)
            let clock = TestClock(jwtBearerStart)
            try await withServer(deployment, clock: clock) { client, server in
                let admin = try await token(client, deployment, now: clock.now(), subject: "00u-carol", groups: ["security"])
                let foreign = #"{"subject":"00u-mallory","idp":"es256-idp"}"#
                let offboard = try await call(client, .post, "/users/offboard", token: admin, json: foreign)
                let body = try createBody(id: "m1", key: key, owner: "00u-mallory")
                    .replacingOccurrences(of: #"{"subject":"00u-mallory"}"#, with: foreign)
                let create = try await call(client, .post, "/agents", token: admin, json: body)
                if allTenants {
                    #expect(offboard.status == .ok, "\(offboard.text)")
                    #expect(create.status == .created, "\(create.text)")
                } else {
                    try await expectRefused(offboard, .forbidden, error: "insufficient_scope", reason: "outside_administration_reach", server: server)
                    #expect(offboard.headers[.wwwAuthenticate]?.contains("scope=\"tool:admin.all_tenants\"") == true)
                    #expect(try await server.store.isDisabled(SubjectKey(issuer: Self.otherIssuer, subject: "00u-mallory")) == false)
                    try await expectRefused(create, .forbidden, error: "insufficient_scope", reason: "outside_administration_reach", server: server)
                    #expect(try await server.store.agent(id: "m1") == nil)
                    // Their own IdP's people stay in reach.
                    let own = try await call(client, .post, "/users/revoke-sessions", token: admin, json: #"{"subject":"00u-bob","idp":"test-idp"}"#)
                    #expect(own.status == .ok, "\(own.text)")
                }
            }
        }
    }
}
