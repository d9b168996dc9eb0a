import BridgekeeperGrants
import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperKeys
import BridgekeeperClientAuth
import BridgekeeperTesting

/// Checks and builders shared by the HTTP suites in this folder (client authentication, discovery,
/// token management, key rotation, rate limits).
enum OAuthWire {
    static let jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// An RFC 6749 §5.2 error answer: exact status and `error`, `Cache-Control: no-store`, and for
    /// 401 `invalid_client` a `WWW-Authenticate` challenge naming Basic.
    static func expectError(_ response: TestResponse, _ status: HTTPResponse.Status, _ error: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.json?["error"] == .string(error), "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        if status == .unauthorized {
            #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Basic") == true,
                    "WWW-Authenticate: \(response.headers[.wwwAuthenticate] ?? "absent")", sourceLocation: sourceLocation)
        }
    }

    /// The newest audit record's event.
    static func lastAudit(_ server: BridgekeeperServer) async throws -> AuditEvent? {
        try await server.store.lastAuditRecord()?.event
    }

    /// Asserts the newest audit record is a denial for `reason`.
    static func expectDenial(_ server: BridgekeeperServer, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let event = try await lastAudit(server)
        #expect(event?.kind == .denial, sourceLocation: sourceLocation)
        #expect(event?.reason.rawValue == reason, "audited \(event?.reason.rawValue ?? "nothing")", sourceLocation: sourceLocation)
    }

    /// The `access_token` of a successful token response.
    static func accessToken(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        #expect(response.status == .ok, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        let json = try #require(response.json, sourceLocation: sourceLocation)
        return try #require(json["access_token"]?.stringValue, "no access_token in \(response.text)", sourceLocation: sourceLocation)
    }

    /// A fresh ID-JAG for `mcp-client` and github, redeemed with `client_secret_basic`.
    static func issue(_ client: any TestClientProtocol, _ deployment: TestDeployment, _ clock: TestClock) async throws -> String {
        try accessToken(try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now()))))
    }

    static func header(of token: String) throws -> JSONObject { try UnverifiedJWS(compact: token).header }
    static func claims(of token: String) throws -> JSONObject { try UnverifiedJWS(compact: token).unverifiedClaims() }

    /// An object's members by name, for comparing whole documents regardless of member order.
    static func members(_ object: JSONObject?) -> [String: JSONValue]? {
        object.map { Dictionary($0.members.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first }) }
    }

    /// POST /introspect as the gateway.
    static func introspect(_ client: any TestClientProtocol, _ token: String) async throws -> TestResponse {
        try await client.post("/introspect", [("token", token)],
                              authorization: basic(TestDeployment.gatewayID, TestDeployment.gatewaySecret))
    }

    static let inactive = #"{"active":false}"#

    /// Asserts introspection answers exactly `{"active":false}`.
    static func expectInactive(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == .ok, sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        #expect(response.text == inactive, sourceLocation: sourceLocation)
    }

    /// Asserts introspection answers `active: true`.
    static func expectActive(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == .ok, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        #expect(response.json?["active"] == .bool(true), "\(response.text)", sourceLocation: sourceLocation)
    }
}

/// Client authentication at POST /token (RFC 6749 §2.3, RFC 7523 §2.2 and §3), in the request
/// shapes the MCP SDKs and the conformance mocks send.
@Suite("client authentication over HTTP")
struct ClientAuthenticationTests {
    typealias W = OAuthWire
    let deployment: TestDeployment
    let clock = TestClock(OAuthWire.start)

    init() throws { deployment = try TestDeployment() }

    func assertion(client: String = TestDeployment.clientID, resource: String? = TestDeployment.githubResource) throws -> String {
        try deployment.idp.sign(TestIdP.claims(now: clock.now(), client: client, resource: resource))
    }

    // MARK: - Success shapes

    @Test("client_secret_basic: the TypeScript and Swift SDK shape (Basic; grant_type, assertion, resource, scope)")
    func basicSDKShape() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer), ("assertion", try assertion()),
                ("resource", TestDeployment.githubResource), ("scope", "tool:search_code"),
            ], authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            let token = try W.accessToken(response)
            #expect(response.json?["scope"] == .string("tool:search_code"))
            #expect(try W.claims(of: token)["client_id"] == .string(TestDeployment.clientID))
            let event = try await W.lastAudit(server)
            #expect(event?.kind == .issuance)
            #expect(event?.clientID == TestDeployment.clientID)
        }
    }

    @Test("client_secret_post: the Python SDK shape (client_id and client_secret in the body, resource, scope)")
    func postSDKShape() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer),
                ("assertion", try assertion(client: TestDeployment.postClientID, resource: TestDeployment.notionResource)),
                ("client_id", TestDeployment.postClientID), ("client_secret", TestDeployment.clientSecret),
                ("resource", TestDeployment.notionResource), ("scope", "tool:search_pages"),
            ])
            let token = try W.accessToken(response)
            #expect(response.json?["scope"] == .string("tool:search_pages"))
            let claims = try W.claims(of: token)
            #expect(claims["client_id"] == .string(TestDeployment.postClientID))
            #expect(claims["aud"] == .string(TestDeployment.notionResource))
            #expect(try await W.lastAudit(server)?.clientID == TestDeployment.postClientID)
        }
    }

    @Test("private_key_jwt: client_assertion_type jwt-bearer and a client assertion signed with the client's key")
    func privateKeyJWT() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer), ("assertion", try assertion(client: TestDeployment.jwtClientID)),
                ("resource", TestDeployment.githubResource), ("scope", "tool:search_code"),
                ("client_assertion_type", W.assertionType), ("client_assertion", try deployment.clientAssertion(now: clock.now())),
            ])
            let token = try W.accessToken(response)
            #expect(try W.claims(of: token)["client_id"] == .string(TestDeployment.jwtClientID))
            #expect(try await W.lastAudit(server)?.clientID == TestDeployment.jwtClientID)
        }
    }

    @Test("the conformance mock's shape: Basic and only grant_type and assertion, the resource inside the ID-JAG")
    func conformanceMockShape() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            let response = try await client.post("/token", [("grant_type", W.jwtBearer), ("assertion", try assertion())],
                                                 authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            let token = try W.accessToken(response)
            #expect(response.json?["scope"] == .string("tool:create_issue tool:search_code"))
            #expect(try W.claims(of: token)["aud"] == .string(TestDeployment.githubResource))
        }
    }

    @Test("a Basic header with a percent-encoded id and secret is decoded before comparison (RFC 6749 §2.3.1)")
    func basicIsPercentDecoded() async throws {
        func encodeEvery(_ text: String) -> String { text.utf8.map { String(format: "%%%02X", $0) }.joined() }
        let header = "Basic " + Data("\(encodeEvery(TestDeployment.clientID)):\(encodeEvery(TestDeployment.clientSecret))".utf8).base64EncodedString()
        try await withServer(deployment, clock: clock) { client, _ in
            let response = try await client.post("/token", [("grant_type", W.jwtBearer), ("assertion", try assertion())],
                                                 authorization: header)
            let token = try W.accessToken(response)
            #expect(try W.claims(of: token)["client_id"] == .string(TestDeployment.clientID))
        }
    }

    // MARK: - 401 invalid_client

    @Test("no client authentication at all is 401 invalid_client (client_authentication_missing)")
    func missingAuthentication() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer), ("assertion", try assertion()), ("resource", TestDeployment.githubResource),
            ])
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "client_authentication_missing")
        }
    }

    @Test("an unknown client is 401 invalid_client (unknown_client)")
    func unknownClient() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [("grant_type", W.jwtBearer), ("assertion", try assertion())],
                                                 authorization: basic("no-such-client", TestDeployment.clientSecret))
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "unknown_client")
        }
    }

    @Test("a wrong secret is 401 invalid_client (bad_client_secret)")
    func wrongSecret() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [("grant_type", W.jwtBearer), ("assertion", try assertion())],
                                                 authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret + "x"))
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "bad_client_secret")
        }
    }

    @Test("client_secret_basic for a client registered only for client_secret_post is 401 (wrong_client_authentication_method)")
    func basicForPostOnlyClient() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer),
                ("assertion", try assertion(client: TestDeployment.postClientID, resource: TestDeployment.notionResource)),
            ], authorization: basic(TestDeployment.postClientID, TestDeployment.clientSecret))
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "wrong_client_authentication_method")
        }
    }

    @Test("client_secret_post for a client registered only for client_secret_basic is 401 (wrong_client_authentication_method)")
    func postForBasicOnlyClient() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer), ("assertion", try assertion()),
                ("client_id", TestDeployment.clientID), ("client_secret", TestDeployment.clientSecret),
            ])
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "wrong_client_authentication_method")
        }
    }

    @Test("a Basic header that is not standard padded base64 is 401 invalid_client (bad_client_secret)", arguments: [
        "!!not*base64!!",
        basicCredentials("c1", "s1").replacingOccurrences(of: "=", with: ""),  // padding dropped
        basicCredentials("c1", "s1") + "====",  // padding beyond two
        "bXlj=bGllbnQ6c2VjcmV0",  // padding inside
        "-_-_",  // the URL alphabet (RFC 4648 §5) is not Basic's
        "/w==",  // decodes to 0xFF: not UTF-8
    ])
    func malformedBasic(credentials: String) async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [("grant_type", W.jwtBearer), ("assertion", try assertion())],
                                                 authorization: "Basic \(credentials)")
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "bad_client_secret")
        }
    }

    @Test("Basic credentials with one, two or no padding characters, and with + and / in the secret, authenticate")
    func basicPaddingShapes() async throws {
        // "pad-N:" plus each secret is a different length modulo 3 (two, one, no padding
        // characters); "pad-3:a??" encodes to "cGFkLTM6YT8/" (a '/') and "pad-4:b>>>" to
        // "cGFkLTQ6Yj4+Pg==" (a '+').
        let secrets = ["s", "se", "sec", "a??", "b>>>"]
        var extra = ""
        for (index, secret) in secrets.enumerated() {
            extra += """
              - id: pad-\(index)
                secret_hash: "\(SecretHash.make(secret: secret, iterations: 10_000))"
                auth_methods: [client_secret_basic]
                servers: [github]

            """
        }
        let padded = try TestDeployment(clients: extra)
        try await withServer(padded, clock: clock) { client, _ in
            for (index, secret) in secrets.enumerated() {
                let id = "pad-\(index)"
                let response = try await client.post("/token", [("grant_type", W.jwtBearer), ("assertion", try padded.idp.sign(TestIdP.claims(now: clock.now(), client: id)))],
                                                     authorization: basic(id, secret))
                #expect(response.status == .ok, "\(id): \(response.text)")
            }
        }
    }

    /// A private_key_jwt token request for jwt-client with `clientAssertion` (an ID-JAG each time).
    func jwtClientRequest(_ client: any TestClientProtocol, clientAssertion: String,
                          type: String = OAuthWire.assertionType) async throws -> TestResponse {
        try await client.post("/token", [
            ("grant_type", W.jwtBearer), ("assertion", try assertion(client: TestDeployment.jwtClientID)),
            ("client_assertion_type", type), ("client_assertion", clientAssertion),
        ])
    }

    @Test("a client assertion presented twice (same jti) is 401 invalid_client (client_assertion_replayed)")
    func clientAssertionReplayed() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let once = try deployment.clientAssertion(now: clock.now(), jti: "client-jti-1")
            _ = try W.accessToken(try await jwtClientRequest(client, clientAssertion: once))
            let again = try deployment.clientAssertion(now: clock.now(), jti: "client-jti-1")
            W.expectError(try await jwtClientRequest(client, clientAssertion: again), .unauthorized, "invalid_client")
            try await W.expectDenial(server, "client_assertion_replayed")
        }
    }

    @Test("a client assertion whose aud is the token endpoint URL, not the issuer, is 401 invalid_client (bad_client_assertion)")
    func clientAssertionAudienceIsTokenEndpoint() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let clientAssertion = try deployment.clientAssertion(now: clock.now(), audience: TestDeployment.issuer + "/token")
            W.expectError(try await jwtClientRequest(client, clientAssertion: clientAssertion), .unauthorized, "invalid_client")
            try await W.expectDenial(server, "bad_client_assertion")
        }
    }

    @Test("an expired client assertion is 401 invalid_client (bad_client_assertion)")
    func clientAssertionExpired() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            // exp = iat + 60; ten minutes ago is well past the 60 s leeway.
            let clientAssertion = try deployment.clientAssertion(now: clock.now().addingTimeInterval(-600))
            W.expectError(try await jwtClientRequest(client, clientAssertion: clientAssertion), .unauthorized, "invalid_client")
            try await W.expectDenial(server, "bad_client_assertion")
        }
    }

    @Test("a client assertion may live up to tokens.max_client_assertion_lifetime: one hour by default (Authlib's default), 3601 s refused; 300 s when configured so")
    func clientAssertionLifetimeCap() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let hour = try deployment.clientAssertion(now: clock.now(), lifetime: 3600)
            #expect(try await jwtClientRequest(client, clientAssertion: hour).status == .ok)
            let longer = try deployment.clientAssertion(now: clock.now(), lifetime: 3601)
            W.expectError(try await jwtClientRequest(client, clientAssertion: longer), .unauthorized, "invalid_client")
            try await W.expectDenial(server, "bad_client_assertion")
        }
        let strict = try TestDeployment(extra: "tokens:\n  max_client_assertion_lifetime: 300")
        try await withServer(strict, clock: clock) { client, server in
            func request(lifetime: Int64) async throws -> TestResponse {
                try await client.post("/token", [
                    ("grant_type", W.jwtBearer),
                    ("assertion", try strict.idp.sign(TestIdP.claims(now: clock.now(), client: TestDeployment.jwtClientID))),
                    ("client_assertion_type", OAuthWire.assertionType),
                    ("client_assertion", try strict.clientAssertion(now: clock.now(), lifetime: lifetime)),
                ])
            }
            #expect(try await request(lifetime: 300).status == .ok)
            W.expectError(try await request(lifetime: 301), .unauthorized, "invalid_client")
            try await W.expectDenial(server, "bad_client_assertion")
        }
    }

    @Test("a client assertion signed by a key the client did not register is 401 invalid_client (bad_client_assertion)")
    func clientAssertionOtherKey() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let impostor = try SigningKey.generate(.es256, keyID: deployment.clientKey.keyID)
            let clientAssertion = try deployment.clientAssertion(now: clock.now(), signer: impostor)
            W.expectError(try await jwtClientRequest(client, clientAssertion: clientAssertion), .unauthorized, "invalid_client")
            try await W.expectDenial(server, "bad_client_assertion")
        }
    }

    @Test("a client_assertion_type other than jwt-bearer is 401 invalid_client (bad_client_assertion)")
    func wrongClientAssertionType() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await jwtClientRequest(client, clientAssertion: try deployment.clientAssertion(now: clock.now()),
                                                      type: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "bad_client_assertion")
        }
    }

    @Test("a secret client presenting a client assertion is 401 invalid_client (wrong_client_authentication_method)")
    func secretClientWithAssertion() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let clientAssertion = try deployment.clientAssertion(now: clock.now(), subject: TestDeployment.clientID)
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer), ("assertion", try assertion()),
                ("client_assertion_type", W.assertionType), ("client_assertion", clientAssertion),
            ])
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "wrong_client_authentication_method")
        }
    }

    // MARK: - 400

    @Test("two authentication methods at once (Basic and client_secret) is 400 invalid_request (client_authentication_ambiguous)")
    func twoMethods() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer), ("assertion", try assertion()),
                ("client_id", TestDeployment.clientID), ("client_secret", TestDeployment.clientSecret),
            ], authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            W.expectError(response, .badRequest, "invalid_request")
            try await W.expectDenial(server, "client_authentication_ambiguous")
        }
    }

    @Test("Basic plus a different client_id in the body is 400 invalid_request (client_id_mismatch)")
    func basicWithOtherClientID() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer), ("assertion", try assertion()), ("client_id", TestDeployment.postClientID),
            ], authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            W.expectError(response, .badRequest, "invalid_request")
            try await W.expectDenial(server, "client_id_mismatch")
        }
    }

    @Test("a client not registered for jwt-bearer (the gateway) is 400 unauthorized_client (grant_type_not_allowed)")
    func grantTypeNotAllowed() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [
                ("grant_type", W.jwtBearer), ("assertion", try assertion(client: TestDeployment.gatewayID)),
            ], authorization: basic(TestDeployment.gatewayID, TestDeployment.gatewaySecret))
            W.expectError(response, .badRequest, "unauthorized_client")
            try await W.expectDenial(server, "grant_type_not_allowed")
        }
    }
}

/// `id:secret` in standard base64, as RFC 7617 sends it: `basic(_:_:)` without its scheme.
func basicCredentials(_ id: String, _ secret: String) -> String { String(basic(id, secret).dropFirst("Basic ".count)) }
