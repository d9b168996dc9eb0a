import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

/// Robot tokens over HTTP (issue 5): an agent acting as itself (client_credentials with its own
/// key, shared servers only) and an agent acting for its owner (token exchange with the owner's ID
/// token and the agent's actor token), bounded by the owner's current rights, never holding what is
/// never delegated; the cascade when the owner is offboarded or loses a group.
@Suite("robot tokens: agents as themselves and for their owners")
struct AgentTokenTests: JWTBearerTesting {
    static let wikiResource = "https://mcp.test.example/wiki"
    static let alice = SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice")
    static let bob = SubjectKey(issuer: TestIdP.issuer, subject: "00u-bob")
    static let jwtType = "urn:ietf:params:oauth:token-type:jwt"

    /// The default deployment plus a shared `wiki` server, and destructive rights for `admins`
    /// (and the rules in `policy`).
    func deployment(agents: String = "", policy: String = "") throws -> TestDeployment {
        try TestDeployment(extra: agents, servers: """
              - name: wiki
                resource: \(Self.wikiResource)
                shared: true
                tools:
                  - { name: read_page, category: read }
                  - { name: edit_page, category: write }
                  - { name: purge_page, category: destructive }
            """, policy: """
              - id: engineering-wiki
                effect: allow
                groups: [engineering]
                servers: [wiki]
                categories: [read, write]
              - id: admins-destructive
                effect: allow
                groups: [admins]
                servers: [github, wiki]
                categories: [destructive]
            \(policy)
            """)
    }

    /// Registers an agent with `key`'s public JWK as its credential.
    func register(_ server: BridgekeeperServer, id: String, owner: SubjectKey = Self.alice, key: SigningKey, mode: AgentMode,
                  grant: [AgentGrant.Entry], now: Date) async throws {
        let jwks = JSONValue.object(JSONObject(["keys": .array([.object(try key.publicJWK())])])).serialized()
        let agent = AgentRecord(id: id, displayName: id, owner: owner, credential: .jwks(jwks), grant: AgentGrant(grant), mode: mode, createdAt: now)
        #expect(try await server.store.addAgent(agent, audit: AuditEvent(kind: .administration, reason: ReasonCode("agent_created"), time: now)))
    }

    /// An RFC 7523 assertion by `agent` (as a client assertion or an actor token), signed by `key`.
    func assertion(_ agent: String, key: SigningKey, now: Date, jti: String = SecureRandom.identifier()) throws -> String {
        let iat = Int64(now.timeIntervalSince1970)
        return try key.signJWT(type: "JWT", claims: JSONObject([
            "iss": .string(agent), "sub": .string(agent), "aud": .string(TestDeployment.issuer), "jti": .string(jti),
            "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + 60)),
        ]))
    }

    func clientCredentials(_ client: any TestClientProtocol, assertion: String, resource: String? = Self.wikiResource,
                           scope: String? = nil) async throws -> TestResponse {
        var pairs = [("grant_type", "client_credentials"), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                     ("client_assertion", assertion)]
        if let resource { pairs.append(("resource", resource)) }
        if let scope { pairs.append(("scope", scope)) }
        return try await client.post("/token", pairs, authorization: nil)
    }

    /// Token exchange of `idToken` (as mcp-client) with `actor` as the agent's actor token.
    func delegate(_ client: any TestClientProtocol, _ idToken: String, actor: String) async throws -> TestResponse {
        try await client.exchange(idToken, extra: [("actor_token", actor), ("actor_token_type", Self.jwtType)])
    }

    /// The owner's own exchange: records their current groups (what bounds their agents).
    func signIn(_ client: any TestClientProtocol, _ deployment: TestDeployment, now: Date, groups: [String] = ["engineering"],
                subject: String = "00u-alice") async throws -> TestResponse {
        try await client.exchange(try deployment.idp.idToken(TestIdP.idTokenClaims(now: now, subject: subject, groups: groups)))
    }

    func scopes(_ body: JSONObject) -> Set<String> { Set((body["scope"]?.stringValue ?? "").split(separator: " ").map(String.init)) }

    // MARK: - Acting as itself

    @Test("an agent acting as itself gets a short-lived token for a shared server: sub the agent, principal_class agent, owner named, audited with the owner chain")
    func itself() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "robot-1")
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "robot-1", key: key, mode: .itself,
                               grant: [.init(servers: .named(["wiki"]), categories: [.read, .write, .destructive])], now: clock.now())
            // Nothing is known yet of alice's rights: no token.
            try await expectRefusal(try await clientCredentials(client, assertion: try assertion("robot-1", key: key, now: clock.now())),
                                    error: "invalid_grant", reason: "owner_rights_unknown", server: server)
            #expect(try await signIn(client, deployment, now: clock.now()).status == .ok)
            let response = try await clientCredentials(client, assertion: try assertion("robot-1", key: key, now: clock.now()))
            #expect(response.status == .ok, "\(response.text)")
            let body = try #require(response.json)
            #expect(scopes(body) == ["tool:read_page", "tool:edit_page"])  // purge_page: alice is no admin
            #expect(body["expires_in"] == .number(JSONNumber(120)))
            let claims = try accessTokenClaims(body)
            #expect(claims["sub"] == .string("robot-1"))
            #expect(claims["principal_class"] == .string("agent"))
            #expect(claims["aud"] == .string(Self.wikiResource))
            #expect(claims["client_id"] == .string("robot-1"))
            #expect(claims["owner"]?.objectValue?["sub"] == .string("00u-alice"))
            #expect(claims["owner"]?.objectValue?["iss"] == .string(TestIdP.issuer))
            #expect(claims["act"] == nil)
            #expect(claims["exp"]?.numberValue?.exactInteger.map { $0 - Int64(clock.now().timeIntervalSince1970) } == 120)
            let record = try #require(try await auditTrail(server).last)
            #expect(record.event.kind == .issuance)
            #expect(record.event.principalClass == "agent")
            #expect(record.event.actor == "robot-1")
            #expect(record.event.owner == "00u-alice")
            #expect(record.event.subject == "robot-1")
            let jti = try #require(claims["jti"]?.stringValue)
            #expect(try await server.store.tokenState(jti: jti)?.token.agent == "robot-1")
        }
    }

    @Test("an agent acting as itself may use shared servers only (server_not_shared), and a configured client may not use client_credentials")
    func itselfSharedOnly() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "robot-1")
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "robot-1", key: key, mode: .itself, grant: [.init(servers: .all, categories: [.read])], now: clock.now())
            _ = try await signIn(client, deployment, now: clock.now())
            try await expectRefusal(try await clientCredentials(client, assertion: try assertion("robot-1", key: key, now: clock.now()),
                                                                resource: TestDeployment.githubResource),
                                    error: "invalid_target", reason: "server_not_shared", server: server, issued: 1)
            let basic = try await client.post("/token", [("grant_type", "client_credentials"), ("resource", Self.wikiResource)],
                                              authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            try await expectRefusal(basic, error: "unauthorized_client", reason: "grant_type_not_allowed", server: server, issued: 1)
        }
    }

    @Test("an agent asking for a destructive tool its owner has gets invalid_scope (non_delegable); a tool the policy marks delegable is granted")
    func destructiveNeverDelegated() async throws {
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "robot-1")
        let grant: [AgentGrant.Entry] = [.init(servers: .named(["wiki"]), categories: [.read, .write, .destructive])]
        let strict = try deployment()
        try await withServer(strict, clock: clock) { client, server in
            try await register(server, id: "robot-1", key: key, mode: .itself, grant: grant, now: clock.now())
            // alice is an admin: she may purge pages herself.
            _ = try await signIn(client, strict, now: clock.now(), groups: ["engineering", "admins"])
            try await expectRefusal(try await clientCredentials(client, assertion: try assertion("robot-1", key: key, now: clock.now()),
                                                                scope: "tool:purge_page"),
                                    error: "invalid_scope", reason: "non_delegable", server: server, issued: 1)
            let all = try await clientCredentials(client, assertion: try assertion("robot-1", key: key, now: clock.now()))
            #expect(scopes(try #require(all.json)) == ["tool:read_page", "tool:edit_page"])
        }
        let lenient = try deployment(agents: "agents:\n  delegable_tools: [\"wiki:purge_page\"]")
        try await withServer(lenient, clock: clock) { client, server in
            try await register(server, id: "robot-1", key: key, mode: .itself, grant: grant, now: clock.now())
            _ = try await signIn(client, lenient, now: clock.now(), groups: ["engineering", "admins"])
            let response = try await clientCredentials(client, assertion: try assertion("robot-1", key: key, now: clock.now()),
                                                       scope: "tool:purge_page")
            _ = try expectIssued(response, scope: "tool:purge_page")
        }
    }

    @Test("an agent using another agent's key is refused, as a client (bad_client_assertion) and as an actor (bad_actor_token)")
    func anotherAgentsKey() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let mine = try SigningKey.generate(.es256, keyID: "robot-1")
        let theirs = try SigningKey.generate(.es256, keyID: "robot-1")  // same kid, another agent's key
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "robot-1", key: mine, mode: .itself, grant: [.init(servers: .all, categories: [.read])], now: clock.now())
            try await register(server, id: "helper-1", key: mine, mode: .onBehalfOfOwner, grant: [.init(servers: .all, categories: [.read])],
                               now: clock.now())
            try await register(server, id: "robot-2", key: theirs, mode: .itself, grant: [.init(servers: .all, categories: [.read])], now: clock.now())
            _ = try await signIn(client, deployment, now: clock.now())
            try await expectRefusal(try await clientCredentials(client, assertion: try assertion("robot-1", key: theirs, now: clock.now())),
                                    .unauthorized, error: "invalid_client", reason: "bad_client_assertion", server: server, issued: 1)
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await delegate(client, idToken, actor: try assertion("helper-1", key: theirs, now: clock.now())),
                                    error: "invalid_request", reason: "bad_actor_token", server: server, issued: 1)
        }
    }

    // MARK: - Acting for the owner

    @Test("an agent acting for its owner: sub the owner, act the agent, principal_class agent, robot lifetime; the actor token is single use")
    func onBehalf() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "helper-1")
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "helper-1", key: key, mode: .onBehalfOfOwner,
                               grant: [.init(servers: .named(["github"]), categories: [.read, .write, .destructive])], now: clock.now())
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), groups: ["engineering", "admins"]))
            let actor = try assertion("helper-1", key: key, now: clock.now())
            let response = try await delegate(client, idToken, actor: actor)
            #expect(response.status == .ok, "\(response.text)")
            let body = try #require(response.json)
            #expect(scopes(body) == ["tool:search_code", "tool:create_issue"])  // delete_repository: never delegated
            #expect(body["issued_token_type"] == .string("urn:ietf:params:oauth:token-type:access_token"))
            let claims = try accessTokenClaims(body)
            #expect(claims["sub"] == .string("00u-alice"))
            #expect(claims["act"] == .object(JSONObject(["sub": .string("helper-1")])))
            #expect(claims["principal_class"] == .string("agent"))
            #expect(claims["client_id"] == .string(TestDeployment.clientID))
            #expect(claims["exp"]?.numberValue?.exactInteger.map { $0 - Int64(clock.now().timeIntervalSince1970) } == 120)
            let record = try #require(try await auditTrail(server).last)
            #expect(record.event.principalClass == "agent")
            #expect(record.event.actor == "helper-1")
            #expect(record.event.owner == "00u-alice")
            #expect(record.event.subject == "00u-alice")
            try await expectRefusal(try await delegate(client, idToken, actor: actor),
                                    error: "invalid_request", reason: "actor_token_replayed", server: server, issued: 1)
        }
    }

    @Test("a delegation the owner never registered (another person's agent) is refused (not_owners_agent); so is an agent registered to act as itself (agent_mode_mismatch)")
    func unregisteredDelegation() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "agent")
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "bobs-helper", owner: Self.bob, key: key, mode: .onBehalfOfOwner,
                               grant: [.init(servers: .all, categories: [.read])], now: clock.now())
            try await register(server, id: "robot-1", key: key, mode: .itself, grant: [.init(servers: .all, categories: [.read])], now: clock.now())
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await delegate(client, idToken, actor: try assertion("bobs-helper", key: key, now: clock.now())),
                                    error: "invalid_request", reason: "not_owners_agent", server: server)
            try await expectRefusal(try await delegate(client, idToken, actor: try assertion("robot-1", key: key, now: clock.now())),
                                    error: "invalid_request", reason: "agent_mode_mismatch", server: server)
            try await expectRefusal(try await delegate(client, idToken, actor: try assertion("nobody", key: key, now: clock.now())),
                                    error: "invalid_request", reason: "unknown_agent", server: server)
        }
    }

    @Test("an agent token presented as a subject token is refused by its typ (wrong_typ)")
    func agentTokenAsSubjectToken() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "robot-1")
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "robot-1", key: key, mode: .itself, grant: [.init(servers: .all, categories: [.read])], now: clock.now())
            _ = try await signIn(client, deployment, now: clock.now())
            let issued = try #require(try await clientCredentials(client, assertion: try assertion("robot-1", key: key, now: clock.now())).json)
            let agentToken = try #require(issued["access_token"]?.stringValue)
            try await expectRefusal(try await client.exchange(agentToken), error: "invalid_request", reason: "wrong_typ", server: server, issued: 2)
        }
    }

    // MARK: - Cascade

    @Test("offboarding an owner disables their agents and revokes their own and every agent token, in one step; the agent is then refused (agent_disabled)")
    func offboardingCascades() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let robotKey = try SigningKey.generate(.es256, keyID: "robot-1")
        let helperKey = try SigningKey.generate(.es256, keyID: "helper-1")
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "robot-1", key: robotKey, mode: .itself, grant: [.init(servers: .all, categories: [.read])], now: clock.now())
            try await register(server, id: "helper-1", key: helperKey, mode: .onBehalfOfOwner, grant: [.init(servers: .all, categories: [.read])],
                               now: clock.now())
            let own = try #require(try await signIn(client, deployment, now: clock.now()).json?["access_token"]?.stringValue)
            let robot = try #require(try await clientCredentials(client, assertion: try assertion("robot-1", key: robotKey, now: clock.now()))
                .json?["access_token"]?.stringValue)
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            let helper = try #require(try await delegate(client, idToken, actor: try assertion("helper-1", key: helperKey, now: clock.now())).json?["access_token"]?.stringValue)

            let outcome = try await server.store.disableOwner(Self.alice, at: clock.now()) { _ in [] }
            #expect(outcome.agentsDisabled == ["helper-1", "robot-1"])
            let jtis = try [own, robot, helper].map { try #require(try UnverifiedJWS(compact: $0).unverifiedClaims()["jti"]?.stringValue) }
            #expect(Set(outcome.tokensRevoked.map(\.jti)) == Set(jtis))
            for jti in jtis { #expect(try await server.store.tokenState(jti: jti)?.revokedAt != nil) }
            #expect(try await server.store.agent(id: "robot-1")?.status == .disabled)

            try await expectRefusal(try await clientCredentials(client, assertion: try assertion("robot-1", key: robotKey, now: clock.now())),
                                    .unauthorized, error: "invalid_client", reason: "agent_disabled", server: server, issued: 3)
            try await expectRefusal(try await delegate(client, idToken, actor: try assertion("helper-1", key: helperKey, now: clock.now())), error: "invalid_request", reason: "agent_disabled", server: server, issued: 3)
            // A second offboarding finds nothing more to do.
            let again = try await server.store.disableOwner(Self.alice, at: clock.now()) { _ in [] }
            #expect(again.agentsDisabled.isEmpty && again.tokensRevoked.isEmpty)
        }
    }

    @Test("an agent whose owner is disabled, though the agent is not, gets nothing (owner_disabled)")
    func disabledOwner() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "robot-1")
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "robot-1", key: key, mode: .itself, grant: [.init(servers: .all, categories: [.read])], now: clock.now())
            _ = try await signIn(client, deployment, now: clock.now())
            try await server.store.setDisabled(Self.alice, true, at: clock.now())
            try await expectRefusal(try await clientCredentials(client, assertion: try assertion("robot-1", key: key, now: clock.now())),
                                    error: "invalid_grant", reason: "owner_disabled", server: server, issued: 1)
        }
    }

    @Test("an owner who loses a group: their agents' live tokens that exceed the new rights are revoked, and the next ones are narrowed")
    func narrowing() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "helper-1")
        try await withServer(deployment, clock: clock) { client, server in
            try await register(server, id: "helper-1", key: key, mode: .onBehalfOfOwner,
                               grant: [.init(servers: .named(["github"]), categories: [.read, .write])], now: clock.now())
            func delegated(groups: [String]) async throws -> JSONObject {
                let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), groups: groups))
                let response = try await delegate(client, idToken, actor: try assertion("helper-1", key: key, now: clock.now()))
                return try #require(response.json, "\(response.text)")
            }
            let broad = try await delegated(groups: ["engineering"])
            #expect(scopes(broad) == ["tool:search_code", "tool:create_issue"])
            let broadJTI = try #require(try accessTokenClaims(broad)["jti"]?.stringValue)
            // A second live agent token, also with write: both exceed the new rights.
            #expect(scopes(try await delegated(groups: ["engineering"])) == ["tool:search_code", "tool:create_issue"])
            clock.advance(5)
            // alice becomes a contractor (no write on github): her next sign-in says so.
            let signIn = try await signIn(client, deployment, now: clock.now(), groups: ["engineering", "contractors"])
            #expect(scopes(try #require(signIn.json)) == ["tool:search_code"])
            #expect(try await server.store.tokenState(jti: broadJTI)?.revokedAt != nil)
            let revocations = try await auditTrail(server).filter { $0.event.reason.rawValue == "owner_rights_narrowed" }
            #expect(revocations.count == 2)
            #expect(revocations.allSatisfy { $0.event.kind == .revocation && $0.event.actor == "helper-1" && $0.event.owner == "00u-alice" })
            let narrowed = try await delegated(groups: ["engineering", "contractors"])
            #expect(scopes(narrowed) == ["tool:search_code"])
        }
    }
}
