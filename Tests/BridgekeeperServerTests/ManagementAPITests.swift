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
import NIOCore
import Testing
import BridgekeeperTesting

/// The management API over HTTP (issue 5): bearer tokens Bridgekeeper minted for `{issuer}/admin`,
/// policy deciding who holds `agents.read`, `agents.manage` and `agents.admin`; a person registers,
/// disables and re-keys their own agents within `agents.self_service`; an administrator manages
/// everyone's. Every change audited with who made it, every refusal with its reason.
@Suite("management API: administrators and owners manage agents")
struct ManagementAPITests: JWTBearerTesting {
    static let adminResource = TestDeployment.issuer + "/admin"
    static let alice = SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice")
    static let bob = SubjectKey(issuer: TestIdP.issuer, subject: "00u-bob")

    /// Engineers manage their own agents; the security team administers all; readers only read.
    func deployment(selfService: String = "") throws -> TestDeployment {
        try TestDeployment(extra: selfService.isEmpty ? "" : "agents:\n  self_service:\n\(selfService)", policy: """
              - id: engineers-own-agents
                effect: allow
                groups: [engineering]
                servers: [bridgekeeper]
                tools: [agents.read, agents.manage]
              - id: security-administers-agents
                effect: allow
                groups: [security]
                servers: [bridgekeeper]
                categories: [read, write, admin]
              - id: auditors-read
                effect: allow
                groups: [auditors]
                servers: [bridgekeeper]
                categories: [read]
            """)
    }

    /// An access token for the management API by token exchange of the person's ID token.
    func token(_ client: any TestClientProtocol, _ deployment: TestDeployment, now: Date, subject: String = "00u-alice",
               groups: [String] = ["engineering"]) async throws -> String {
        let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: now, subject: subject, groups: groups))
        let response = try await client.exchange(idToken, resource: Self.adminResource)
        #expect(response.status == .ok, "\(response.text)")
        return try #require(response.json?["access_token"]?.stringValue)
    }

    func call(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, token: String?, json: String? = nil,
              contentType: String = "application/json") async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = contentType }
        return try await client.execute(uri: "/admin/v1" + path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    func jwks(_ key: SigningKey) throws -> String {
        JSONValue.object(JSONObject(["keys": .array([.object(try key.publicJWK())])])).serialized()
    }

    func createBody(id: String, grant: [String] = ["github:read"], mode: String? = nil, key: SigningKey, owner: String? = nil) throws -> String {
        var object = JSONObject(["id": .string(id), "grant": .array(grant.map(JSONValue.string)),
                                 "credential": .object(JSONObject(["jwks": try JSONValue.parse(try jwks(key))]))])
        if let mode { object["mode"] = .string(mode) }
        if let owner { object["owner"] = .object(JSONObject(["subject": .string(owner)])) }
        return JSONValue.object(object).serialized()
    }

    /// A JSON error answer with `Cache-Control: no-store`, and the last audit record a denial with `reason`.
    func expectRefused(_ response: TestResponse, _ status: HTTPResponse.Status, error: String, reason: String, server: BridgekeeperServer,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        #expect(response.json?["error"] == .string(error), "\(response.text)", sourceLocation: sourceLocation)
        let last = try #require(try await server.store.auditRecords(afterSequence: 0, limit: 10_000).last, sourceLocation: sourceLocation)
        #expect(last.event.kind == .denial, sourceLocation: sourceLocation)
        #expect(last.event.reason.rawValue == reason, "audited \(last.event.reason.rawValue)", sourceLocation: sourceLocation)
        #expect(last.event.server == Self.adminResource, sourceLocation: sourceLocation)
    }

    @Test("without a token, with a token for another server, or with a forged one: 401 with an RFC 6750 challenge naming the API's resource metadata")
    func authentication() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let none = try await call(client, .get, "/agents", token: nil)
            try await expectRefused(none, .unauthorized, error: "invalid_token", reason: "management_token_missing", server: server)
            let challenge = try #require(none.headers[.wwwAuthenticate])
            #expect(challenge.hasPrefix("Bearer realm=\"bridgekeeper\""))
            #expect(challenge.contains("resource_metadata=\"\(TestDeployment.issuer)/servers/bridgekeeper/oauth-protected-resource\""))
            #expect(!challenge.contains("error="), "RFC 6750 §3.1: no error code when no credentials were sent")

            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            let github = try #require(try await client.exchange(idToken).json?["access_token"]?.stringValue)
            let wrong = try await call(client, .get, "/agents", token: github)
            try await expectRefused(wrong, .unauthorized, error: "invalid_token", reason: "management_token_wrong_audience", server: server)
            #expect(wrong.headers[.wwwAuthenticate]?.contains("error=\"invalid_token\"") == true)

            let forged = try SigningKey.generate(.es256, keyID: "forged").signJWT(type: "at+jwt", claims: JSONObject([
                "iss": .string(TestDeployment.issuer), "aud": .string(Self.adminResource), "sub": "00u-alice",
                "scope": "tool:agents.admin", "exp": .number(JSONNumber(Int64(clock.now().timeIntervalSince1970) + 60)),
            ]))
            try await expectRefused(try await call(client, .get, "/agents", token: forged), .unauthorized, error: "invalid_token",
                                    reason: "management_token_invalid", server: server)

            // The API's own RFC 9728 document names Bridgekeeper as its authorization server.
            let metadata = try await client.execute(uri: "/servers/bridgekeeper/oauth-protected-resource", method: .get)
            #expect(metadata.json?["resource"] == .string(Self.adminResource))
        }
    }

    @Test("a person registers an agent for themselves, sees only their own, and the agent then acts for them; the audit names who registered it")
    func selfRegistration() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "alice-bot-key")
        try await withServer(deployment, clock: clock) { client, server in
            let bobKey = try SigningKey.generate(.es256, keyID: "bob-bot-key")
            let bob = try await token(client, deployment, now: clock.now(), subject: "00u-bob")
            #expect(try await call(client, .post, "/agents", token: bob, json: try createBody(id: "bob-bot", key: bobKey)).status == .created)

            let alice = try await token(client, deployment, now: clock.now())
            let created = try await call(client, .post, "/agents", token: alice,
                                         json: try createBody(id: "alice-bot", grant: ["github:read,write"], key: key))
            #expect(created.status == .created, "\(created.text)")
            #expect(created.headers[.location] == "/admin/v1/agents/alice-bot")
            let body = try #require(created.json)
            #expect(body["owner"]?.objectValue?["subject"] == .string("00u-alice"))
            #expect(body["mode"] == .string("on_behalf_of_owner"))
            #expect(body["status"] == .string("active"))
            #expect(body["grant"] == .array([.string("github:read,write")]))
            #expect(body["credential"]?.objectValue?["kind"] == .string("jwks"))

            let record = try #require(try await server.store.auditRecords(afterSequence: 0, limit: 10_000).last)
            #expect(record.event.kind == .administration)
            #expect(record.event.reason.rawValue == "agent_created")
            #expect(record.event.performedBy == "person:\(TestIdP.issuer) 00u-alice")
            #expect(record.event.owner == "00u-alice")
            #expect(record.event.actor == "alice-bot")

            let list = try await call(client, .get, "/agents", token: alice)
            #expect(list.status == .ok)
            #expect(list.json?["agents"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } == ["alice-bot"])
            try await expectRefused(try await call(client, .get, "/agents/bob-bot", token: alice), .notFound, error: "not_found",
                                    reason: "unknown_agent", server: server)
            try await expectRefused(try await call(client, .post, "/agents/bob-bot/disable", token: alice), .notFound, error: "not_found",
                                    reason: "unknown_agent", server: server)
            #expect(try await server.store.agent(id: "bob-bot")?.status == .active)
            #expect(try await call(client, .get, "/agents/alice-bot", token: alice).json?["id"] == .string("alice-bot"))

            // The self-registered agent acts for alice.
            let iat = Int64(clock.now().timeIntervalSince1970)
            let actor = try key.signJWT(type: "JWT", claims: JSONObject([
                "iss": "alice-bot", "sub": "alice-bot", "aud": .string(TestDeployment.issuer), "jti": .string(SecureRandom.identifier()),
                "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + 60)),
            ]))
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            let delegated = try await client.exchange(idToken, extra: [("actor_token", actor), ("actor_token_type", "urn:ietf:params:oauth:token-type:jwt")])
            #expect(delegated.status == .ok, "\(delegated.text)")
            let claims = try UnverifiedJWS(compact: try #require(delegated.json?["access_token"]?.stringValue)).unverifiedClaims()
            #expect(claims["act"]?.objectValue?["sub"] == .string("alice-bot"))
        }
    }

    @Test("self-service stays within agents.self_service: categories, modes, jwks_uri, secrets, the per-owner count, and never for someone else")
    func selfServiceLimits() async throws {
        let deployment = try deployment(selfService: "    max_agents_per_owner: 1\n")
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "k")
        try await withServer(deployment, clock: clock) { client, server in
            let alice = try await token(client, deployment, now: clock.now())
            try await expectRefused(try await call(client, .post, "/agents", token: alice, json: try createBody(id: "a1", grant: ["github:destructive"], key: key)),
                                    .forbidden, error: "self_service_limit", reason: "self_service_limit", server: server)
            try await expectRefused(try await call(client, .post, "/agents", token: alice,
                                                   json: try createBody(id: "a1", grant: ["github:delete_repository"], key: key)),
                                    .forbidden, error: "self_service_limit", reason: "self_service_limit", server: server)
            try await expectRefused(try await call(client, .post, "/agents", token: alice, json: try createBody(id: "a1", mode: "itself", key: key)),
                                    .forbidden, error: "self_service_limit", reason: "self_service_limit", server: server)
            let uri = #"{"id":"a1","grant":["github:read"],"credential":{"jwks_uri":"https://agents.example/jwks.json"}}"#
            try await expectRefused(try await call(client, .post, "/agents", token: alice, json: uri), .forbidden, error: "self_service_limit",
                                    reason: "self_service_limit", server: server)
            let secret = #"{"id":"a1","grant":["github:read"],"credential":{"client_secret":true}}"#
            try await expectRefused(try await call(client, .post, "/agents", token: alice, json: secret), .forbidden, error: "self_service_limit",
                                    reason: "secret_not_allowed", server: server)
            let forBob = try await call(client, .post, "/agents", token: alice, json: try createBody(id: "a1", key: key, owner: "00u-bob"))
            try await expectRefused(forBob, .forbidden, error: "insufficient_scope", reason: "insufficient_scope", server: server)
            #expect(forBob.headers[.wwwAuthenticate]?.contains("scope=\"tool:agents.admin\"") == true)
            try await expectRefused(try await call(client, .post, "/agents", token: alice, json: try createBody(id: "a1", grant: ["bridgekeeper:read"], key: key)),
                                    .badRequest, error: "invalid_request", reason: "invalid_grant_spec", server: server)
            #expect(try await server.store.agents(ownedBy: nil).isEmpty)

            #expect(try await call(client, .post, "/agents", token: alice, json: try createBody(id: "a1", key: key)).status == .created)
            try await expectRefused(try await call(client, .post, "/agents", token: alice, json: try createBody(id: "a2", key: key)),
                                    .forbidden, error: "self_service_limit", reason: "self_service_limit", server: server)
            #expect(try await server.store.agents(ownedBy: nil).map(\.id) == ["a1"])
        }
    }

    @Test("an owner disables and re-keys their own agent but cannot re-enable it; an administrator manages anyone's; a reader only reads")
    func ownerAndAdministrator() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "k1")
        let newKey = try SigningKey.generate(.es256, keyID: "k2")
        try await withServer(deployment, clock: clock) { client, server in
            let alice = try await token(client, deployment, now: clock.now())
            #expect(try await call(client, .post, "/agents", token: alice, json: try createBody(id: "a1", key: key)).status == .created)
            let disabled = try await call(client, .post, "/agents/a1/disable", token: alice)
            #expect(disabled.status == .ok)
            #expect(disabled.json?["status"] == .string("disabled"))
            #expect(try await server.store.agent(id: "a1")?.status == .disabled)
            let enable = try await call(client, .post, "/agents/a1/enable", token: alice)
            try await expectRefused(enable, .forbidden, error: "insufficient_scope", reason: "insufficient_scope", server: server)
            #expect(enable.headers[.wwwAuthenticate]?.contains("scope=\"tool:agents.admin\"") == true)
            let rotated = try await call(client, .post, "/agents/a1/rotate-key", token: alice,
                                         json: #"{"credential":{"jwks":\#(try jwks(newKey))}}"#)
            #expect(rotated.status == .ok, "\(rotated.text)")
            guard case .jwks(let stored) = try #require(try await server.store.agent(id: "a1")).credential else {
                Issue.record("the credential is not a JWK Set")
                return
            }
            #expect(stored.contains("k2") && !stored.contains("\"k1\""))
            let toURI = try await call(client, .post, "/agents/a1/rotate-key", token: alice,
                                       json: #"{"credential":{"jwks_uri":"https://agents.example/jwks.json"}}"#)
            try await expectRefused(toURI, .forbidden, error: "self_service_limit", reason: "self_service_limit", server: server)
            #expect(try await server.store.agent(id: "a1")?.credential == .jwks(stored), "a refused rotation changes nothing")

            let admin = try await token(client, deployment, now: clock.now(), subject: "00u-carol", groups: ["security"])
            let forBob = try await call(client, .post, "/agents", token: admin, json: try createBody(id: "b1", mode: "itself", key: key, owner: "00u-bob"))
            #expect(forBob.status == .created, "\(forBob.text)")
            #expect(try await server.store.agent(id: "b1")?.owner == Self.bob)
            let all = try await call(client, .get, "/agents", token: admin)
            #expect(all.json?["agents"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } == ["a1", "b1"])
            let bobs = try await call(client, .get, "/agents?owner=00u-bob", token: admin)
            #expect(bobs.json?["agents"]?.arrayValue?.compactMap { $0.objectValue?["id"]?.stringValue } == ["b1"])
            let enabled = try await call(client, .post, "/agents/a1/enable", token: admin)
            #expect(enabled.json?["status"] == .string("active"))
            let record = try #require(try await server.store.auditRecords(afterSequence: 0, limit: 10_000).last)
            #expect(record.event.reason.rawValue == "agent_enabled")
            #expect(record.event.performedBy == "person:\(TestIdP.issuer) 00u-carol")
            #expect(record.event.owner == "00u-alice")

            let reader = try await token(client, deployment, now: clock.now(), subject: "00u-dave", groups: ["auditors"])
            #expect(try await call(client, .get, "/agents", token: reader).json?["agents"]?.arrayValue?.isEmpty == true)
            let refused = try await call(client, .post, "/agents", token: reader, json: try createBody(id: "d1", key: key))
            try await expectRefused(refused, .forbidden, error: "insufficient_scope", reason: "insufficient_scope", server: server)
            #expect(refused.headers[.wwwAuthenticate]?.contains("scope=\"tool:agents.manage tool:agents.admin\"") == true)
        }
    }

    @Test("malformed requests get invalid_request; an id taken gets agent_exists; a person with no rule gets no token; an offboarded person's token stops working")
    func malformedAndOffboarded() async throws {
        let deployment = try deployment()
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "k")
        try await withServer(deployment, clock: clock) { client, server in
            let alice = try await token(client, deployment, now: clock.now())
            for (json, contentType) in [("{", "application/json"), ("[]", "application/json"), (try createBody(id: "a1", key: key), "text/plain"),
                                        (#"{"id":"a1","grant":["github:read"],"credential":{"jwks":{"keys":[]}}}"#, "application/json"),
                                        (#"{"id":"a 1","grant":["github:read"],"credential":{"jwks":\#(try jwks(key))}}"#, "application/json"),
                                        (#"{"id":"a1","grant":"github:read","credential":{"jwks":\#(try jwks(key))}}"#, "application/json"),
                                        (#"{"id":"a1","grant":["github:read"],"credential":{"jwks":\#(try jwks(key))},"admin":true}"#, "application/json")] {
                let response = try await call(client, .post, "/agents", token: alice, json: json, contentType: contentType)
                #expect(response.status == .badRequest, "\(json): \(response.text)")
                #expect(response.json?["error"] == .string("invalid_request"), "\(json)")
            }
            #expect(try await server.store.agents(ownedBy: nil).isEmpty)
            #expect(try await call(client, .post, "/agents", token: alice, json: try createBody(id: "a1", key: key)).status == .created)
            try await expectRefused(try await call(client, .post, "/agents", token: alice, json: try createBody(id: "a1", key: key)),
                                    .conflict, error: "agent_exists", reason: "agent_exists", server: server)
            try await expectRefused(try await call(client, .get, "/agents/a1/secrets", token: alice), .notFound, error: "not_found",
                                    reason: "management_not_found", server: server)

            // No policy rule gives bob's groups anything on the API: no token at all.
            let bobID = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), subject: "00u-bob", groups: ["sales"]))
            #expect(try await client.exchange(bobID, resource: Self.adminResource).json?["error"] == .string("invalid_request"))

            _ = try await server.store.disableOwner(Self.alice, at: clock.now()) { _ in [] }
            try await expectRefused(try await call(client, .get, "/agents", token: alice), .unauthorized, error: "invalid_token",
                                    reason: "management_token_invalid", server: server)
        }
    }
}
