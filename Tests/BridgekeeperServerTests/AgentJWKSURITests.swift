import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing
import BridgekeeperTesting

// Issue 18 §2: an agent's `jwks_uri` must not make the broker fetch from internal addresses. Refused
// at registration when the host is an internal literal or `localhost`; refused at connect time when
// a name (or a record that bypassed registration) leads to one; both unless the operator allows the
// host by name in `agents.jwks_uri_allowed_internal_hosts`.

extension ManagementAPITests {
    @Test("registration refuses a jwks_uri on an internal host, with the reason, unless the host is allowed by name", arguments: [
        ("https://169.254.169.254/keys", "169.254.169.254 is a link-local address"),
        ("https://[::1]/jwks", "::1 is a loopback address"),
        ("https://localhost/jwks", "localhost is a loopback name"),
        ("https://10.1.2.3/jwks", "10.1.2.3 is a private address"),
        ("https://0x7f.1/jwks", "0x7f.1 is a number that is not a dotted-quad IPv4 address"),
    ] as [(String, String)])
    func internalJWKSURIRefused(_ uri: String, _ why: String) async throws {
        let deployment = try TestDeployment(extra: "agents:\n  jwks_uri_allowed_internal_hosts: [keys.corp.internal, 10.0.0.5]\n", policy: """
              - id: security-administers-agents
                effect: allow
                groups: [security]
                servers: [bridgekeeper]
                categories: [read, write, admin]
            """)
        let clock = TestClock(jwtBearerStart)
        let key = try SigningKey.generate(.es256, keyID: "k")
        try await withServer(deployment, clock: clock) { client, server in
            let admin = try await token(client, deployment, now: clock.now(), subject: "00u-carol", groups: ["security"])
            func create(_ id: String, _ uri: String) async throws -> TestResponse {
                try await call(client, .post, "/agents", token: admin, json: """
                    {"id":"\(id)","owner":{"subject":"00u-alice"},"grant":["github:read"],"credential":{"jwks_uri":"\(uri)"}}
                    """)
            }
            let refused = try await create("a1", uri)
            try await expectRefused(refused, .badRequest, error: "invalid_request", reason: "invalid_credential", server: server)
            #expect(refused.json?["error_description"] == .string("--jwks-uri host \(why): an agent's keys are fetched from public addresses only, "
                                                                 + "unless the host is named in agents.jwks_uri_allowed_internal_hosts"))
            #expect(try await server.store.agents(ownedBy: nil).isEmpty)

            // A re-key to an internal host is refused the same way, and changes nothing.
            #expect(try await call(client, .post, "/agents", token: admin, json: try createBody(id: "a2", key: key, owner: "00u-alice")).status == .created)
            let rekey = try await call(client, .post, "/agents/a2/rotate-key", token: admin, json: #"{"credential":{"jwks_uri":"\#(uri)"}}"#)
            try await expectRefused(rekey, .badRequest, error: "invalid_request", reason: "invalid_credential", server: server)
            guard case .jwks = try #require(try await server.store.agent(id: "a2")).credential else {
                Issue.record("a refused re-key changed the credential")
                return
            }

            // Hosts the operator names pass, matched without regard to case; a public host needs nothing.
            for (id, allowed) in [("b1", "https://KEYS.corp.internal/jwks"), ("b2", "https://10.0.0.5:8443/jwks"), ("b3", "https://agents.example/jwks.json")] {
                let created = try await create(id, allowed)
                #expect(created.status == .created, "\(allowed): \(created.text)")
            }
        }
    }
}

extension AgentTokenTests {
    /// A loopback HTTP server publishing `jwks` at `/jwks` and counting the requests it is sent.
    func withCountingKeyServer(jwks: String, _ body: (_ port: Int, _ requests: @Sendable () -> Int) async throws -> Void) async throws {
        let count = Mutex(0)
        let router = Router()
        router.get("/jwks") { _, _ in
            count.withLock { $0 += 1 }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: jwks)))
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            do {
                try await body(port) { count.withLock { $0 } }
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }

    @Test("an agent whose stored jwks_uri leads to loopback is refused at connect time (jwks_uri_internal_address, no request sent) unless the host is allowed by name",
          arguments: [false, true])
    func internalJWKSURIAtConnectTime(allowed: Bool) async throws {
        let key = try SigningKey.generate(.es256, keyID: "robot-u")
        let jwks = JSONValue.object(JSONObject(["keys": .array([.object(try key.publicJWK())])])).serialized()
        try await withCountingKeyServer(jwks: jwks) { port, requests in
            // Plain http to loopback is on (development), which must not let an agent's keys come from there.
            var agents = "development:\n  allow_loopback_http: true\n"
            if allowed { agents += "agents:\n  jwks_uri_allowed_internal_hosts: [127.0.0.1]\n" }
            let deployment = try deployment(agents: agents)
            let clock = TestClock(jwtBearerStart)
            try await withServer(deployment, clock: clock) { client, server in
                // Straight into the store, as a record written before registration checked hosts would be.
                let agent = AgentRecord(id: "robot-u", displayName: "robot-u", owner: Self.alice, credential: .jwksURI("http://127.0.0.1:\(port)/jwks"),
                                        grant: AgentGrant([.init(servers: .named(["wiki"]), categories: [.read])]), mode: .itself, createdAt: clock.now())
                #expect(try await server.store.addAgent(agent, audit: AuditEvent(kind: .administration, reason: ReasonCode("agent_created"), time: clock.now())))
                #expect(try await signIn(client, deployment, now: clock.now()).status == .ok)
                let response = try await clientCredentials(client, assertion: try assertion("robot-u", key: key, now: clock.now()))
                if allowed {
                    #expect(response.status == .ok, "\(response.text)")
                    #expect(requests() == 1)
                } else {
                    try await expectRefusal(response, .unauthorized, error: "invalid_client", reason: "jwks_uri_internal_address", server: server,
                                            issued: 1)
                    #expect(requests() == 0, "the key server was never contacted")
                }
            }
        }
    }
}
