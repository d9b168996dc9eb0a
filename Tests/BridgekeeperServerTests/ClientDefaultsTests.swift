import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperServer
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperKeys
import BridgekeeperClientAuth
import BridgekeeperTesting

// What a client gets when its configuration does not say (issue: gateway credentials were
// over-privileged by default). Deny by default: a gateway client (introspection or the revocation
// feed) gets no grant unless `grant_types` names one, and a client without `servers` reaches no
// server, the management API included.

@Suite("client defaults: deny by default")
struct ClientDefaultsTests: JWTBearerTesting {
    static let secret = "defaults-secret-0123456789abcdef"

    /// The test deployment plus three clients that leave `grant_types` or `servers` out.
    static func deployment() throws -> TestDeployment {
        let hash = SecretHash.make(secret: secret, iterations: 10_000)
        return try TestDeployment(clients: """
              - id: introspector
                secret_hash: "\(hash)"
                auth_methods: [client_secret_basic]
                introspection: true
                servers: [github]
              - id: feed-reader
                secret_hash: "\(hash)"
                auth_methods: [client_secret_basic]
                revocation_feed: true
                servers: [github]
              - id: unlisted
                secret_hash: "\(hash)"
                auth_methods: [client_secret_basic]

            """)
    }

    func redeem(_ client: any TestClientProtocol, _ deployment: TestDeployment, as id: String, resource: String,
                now: Date) async throws -> TestResponse {
        let assertion = try deployment.idp.sign(TestIdP.claims(now: now, client: id, resource: resource))
        return try await client.post("/token", [("grant_type", jwtBearerGrantType), ("assertion", assertion), ("resource", resource)],
                                     authorization: basic(id, Self.secret))
    }

    @Test("a client with introspection: true and no grant_types may not redeem an ID-JAG: unauthorized_client (grant_type_not_allowed)",
          arguments: ["introspector", "feed-reader"])
    func gatewayGetsNoGrant(_ id: String) async throws {
        let deployment = try Self.deployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await redeem(client, deployment, as: id, resource: TestDeployment.githubResource, now: clock.now())
            try await expectRefusal(response, error: "unauthorized_client", reason: "grant_type_not_allowed", server: server)
            #expect(try await auditTrail(server).last?.event.clientID == id)
        }
    }

    @Test("a client without servers reaches no server, the management API included: invalid_target (resource_not_allowed_for_client)",
          arguments: [TestDeployment.githubResource, TestDeployment.notionResource, TestDeployment.issuer + "/admin"])
    func noServersReachesNone(_ resource: String) async throws {
        let deployment = try Self.deployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await redeem(client, deployment, as: "unlisted", resource: resource, now: clock.now())
            try await expectRefusal(response, error: "invalid_target", reason: "resource_not_allowed_for_client", server: server)
            #expect(try await auditTrail(server).last?.event.clientID == "unlisted")
        }
    }
}
