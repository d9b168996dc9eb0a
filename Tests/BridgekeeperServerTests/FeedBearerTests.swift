import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import BridgekeeperKeys
import BridgekeeperClientAuth
import BridgekeeperTesting

// The revocation feed's bearer scheme: a client with revocation_feed: true gets a feed-only access
// token with client_credentials (its secret or private_key_jwt), and /ssf accepts it as
// `Authorization: Bearer` (RFC 6750) as well as HTTP Basic. A feed token reaches nothing else.

@Suite("the revocation feed with bearer tokens")
struct FeedBearerTests: JWTBearerTesting {
    typealias W = OAuthWire
    static let secret = "feed-secret-0123456789abcdef0123"
    static let feedResource = TestDeployment.issuer + "/ssf"

    static func deployment() throws -> TestDeployment {
        let hash = SecretHash.make(secret: secret, iterations: 10_000)
        return try TestDeployment(clients: """
              - id: feed-gateway
                secret_hash: "\(hash)"
                auth_methods: [client_secret_basic]
                revocation_feed: true
              - id: feed-keys
                jwks_file: client-jwks.json
                algorithms: [ES256]
                revocation_feed: true

            """)
    }

    func feedToken(_ client: any TestClientProtocol, extra: [(String, String)] = [("scope", "revocation_feed")]) async throws -> TestResponse {
        try await client.post("/token", [("grant_type", "client_credentials")] + extra, authorization: basic("feed-gateway", Self.secret))
    }

    func streams(_ client: any TestClientProtocol, bearer token: String) async throws -> TestResponse {
        try await client.execute(uri: "/ssf/streams", method: .get, headers: [.authorization: "Bearer " + token])
    }

    /// Creates a poll stream (RFC 8936 delivery) with `token`: what a refused token must not do.
    func createStream(_ client: any TestClientProtocol, bearer token: String) async throws -> TestResponse {
        try await client.execute(uri: "/ssf/streams", method: .post, headers: [.authorization: "Bearer " + token, .contentType: "application/json"],
                                 body: ByteBuffer(string: #"{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"t"}"#))
    }

    /// A 401 with an RFC 6750 §3 challenge naming invalid_token, audited with `reason`, and no stream.
    func expectBearerRefusal(_ response: TestResponse, reason: String, server: BridgekeeperServer,
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(response.status == .unauthorized, "\(response.text)", sourceLocation: sourceLocation)
        let challenge = response.headers[.wwwAuthenticate] ?? ""
        #expect(challenge.hasPrefix("Bearer realm=\"bridgekeeper\""), "\(challenge)", sourceLocation: sourceLocation)
        #expect(challenge.contains("error=\"invalid_token\""), "\(challenge)", sourceLocation: sourceLocation)
        #expect(response.json?["error"] == .string("invalid_token"), "\(response.text)", sourceLocation: sourceLocation)
        let last = try await auditTrail(server).last?.event
        #expect(last?.kind == .denial, sourceLocation: sourceLocation)
        #expect(last?.reason.rawValue == reason, "audited \(last?.reason.rawValue ?? "nothing")", sourceLocation: sourceLocation)
    }

    /// The same refusal for listing and for creating a stream with `token`, and no stream created.
    func expectBearerRefused(_ client: any TestClientProtocol, _ token: String, reason: String, server: BridgekeeperServer,
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await expectBearerRefusal(try await streams(client, bearer: token), reason: reason, server: server, sourceLocation: sourceLocation)
        try await expectBearerRefusal(try await createStream(client, bearer: token), reason: reason, server: server, sourceLocation: sourceLocation)
        #expect(try await server.store.feedStreams(clientID: "feed-gateway").isEmpty, sourceLocation: sourceLocation)
    }

    @Test("client_credentials with the feed client's secret gives a feed-only token (aud {issuer}/ssf, scope revocation_feed, 300 s), audited, that /ssf accepts as Bearer")
    func feedTokenWithSecret() async throws {
        let deployment = try Self.deployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await feedToken(client)
            let body = try expectIssued(response, scope: "revocation_feed")
            #expect(body["expires_in"]?.numberValue?.exactInteger == 300)
            let claims = try accessTokenClaims(body)
            #expect(claims["aud"] == .string(Self.feedResource))
            #expect(claims["sub"] == .string("feed-gateway"))
            #expect(claims["client_id"] == .string("feed-gateway"))
            #expect(claims["principal_class"] == .string("client"))
            let issued = try #require(try await auditTrail(server).last?.event)
            #expect(issued.kind == .issuance && issued.reason.rawValue == "feed_token_issued" && issued.clientID == "feed-gateway")
            let token = try #require(body["access_token"]?.stringValue)
            let listed = try await streams(client, bearer: token)
            #expect(listed.status == .ok, "\(listed.text)")
            #expect(listed.json?["streams"] == .array([]))
            // Without a scope the feed scope is given; another resource or scope is refused.
            try expectIssued(try await feedToken(client, extra: []), scope: "revocation_feed")
            try await expectRefusal(try await feedToken(client, extra: [("resource", TestDeployment.githubResource)]), error: "invalid_target",
                                    reason: "resource_not_allowed_for_client", server: server, issued: 2)
            try await expectRefusal(try await feedToken(client, extra: [("scope", "revocation_feed tool:search_code")]), error: "invalid_scope",
                                    reason: "no_scope_granted", server: server, issued: 2)
        }
    }

    @Test("client_credentials with private_key_jwt gives a feed token too")
    func feedTokenWithPrivateKeyJWT() async throws {
        let deployment = try Self.deployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let assertion = try deployment.clientAssertion(now: clock.now(), subject: "feed-keys")
            let response = try await client.post("/token", [("grant_type", "client_credentials"), ("scope", "revocation_feed"),
                                                            ("client_id", "feed-keys"), ("client_assertion_type", W.assertionType),
                                                            ("client_assertion", assertion)])
            let body = try expectIssued(response, scope: "revocation_feed")
            let token = try #require(body["access_token"]?.stringValue)
            #expect(try await streams(client, bearer: token).status == .ok)
        }
    }

    @Test("an expired feed token at /ssf is 401 invalid_token (feed_token_invalid), audited")
    func expiredToken() async throws {
        let deployment = try Self.deployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let token = try #require(try expectIssued(try await feedToken(client), scope: "revocation_feed")["access_token"]?.stringValue)
            clock.advance(301)
            try await expectBearerRefused(client, token, reason: "feed_token_invalid", server: server)
        }
    }

    @Test("a revoked feed token at /ssf is 401 invalid_token (feed_token_invalid), audited")
    func revokedToken() async throws {
        let deployment = try Self.deployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let token = try #require(try expectIssued(try await feedToken(client), scope: "revocation_feed")["access_token"]?.stringValue)
            let revoked = try await client.post("/revoke", [("token", token)], authorization: basic("feed-gateway", Self.secret))
            #expect(revoked.status == .ok)
            try await expectBearerRefused(client, token, reason: "feed_token_invalid", server: server)
            try await expectBearerRefused(client, "not-a-token", reason: "feed_token_invalid", server: server)
        }
    }

    @Test("an MCP server's token at /ssf is 401 invalid_token (feed_token_wrong_audience), audited")
    func serverTokenAtFeed() async throws {
        let deployment = try Self.deployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let token = try await W.issue(client, deployment, clock)
            try await expectBearerRefused(client, token, reason: "feed_token_wrong_audience", server: server)
        }
    }

    @Test("a feed token reaches no MCP server: refused by the management API, inactive at introspection, refused on audience by a gateway verifying offline")
    func feedTokenReachesNothingElse() async throws {
        let deployment = try Self.deployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let token = try #require(try expectIssued(try await feedToken(client), scope: "revocation_feed")["access_token"]?.stringValue)
            let admin = try await client.execute(uri: "/admin/v1/agents", method: .get, headers: [.authorization: "Bearer " + token])
            #expect(admin.status == .unauthorized, "\(admin.text)")
            #expect(try await auditTrail(server).last?.event.reason.rawValue == "management_token_wrong_audience")
            let introspected = try await W.introspect(client, token)
            #expect(introspected.json?["active"] == .bool(false), "\(introspected.text)")
            // A gateway verifying offline (the broker's keys, the server's resource as audience),
            // as BridgekeeperVerifier does, refuses it on audience although its signature verifies.
            let keys = try JWKSet(json: try await client.execute(uri: "/jwks.json", method: .get).text)
            let signatures = JWSVerifier(keys: keys, algorithms: JWSAlgorithm.asymmetric)
            let github = JWTVerifier(kind: .accessToken, signatures: signatures,
                                     rules: ClaimRules(issuer: TestDeployment.issuer, audience: TestDeployment.githubResource))
            #expect(throws: JOSEError(.wrongAudience, "aud does not match the expected audience exactly")) {
                _ = try github.verify(token, now: clock.now())
            }
            let feed = JWTVerifier(kind: .accessToken, signatures: signatures,
                                   rules: ClaimRules(issuer: TestDeployment.issuer, audience: Self.feedResource))
            #expect(throws: Never.self) { _ = try feed.verify(token, now: clock.now()) }
        }
    }
}
