import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import BridgekeeperTesting

// HTTP tests of the jwt-bearer grant (RFC 7523 §2.1 with an ID-JAG) at POST /token: one test per
// validation rule, each checking the status, the `error` code, `Cache-Control: no-store` and the
// reason code audited for the denial (STYLE rules 3, 5, 14). `ValidationOrderTests` pins the order.

/// Shared by the jwt-bearer suites (members, not globals, so other files in this target can use
/// the same names).
protocol JWTBearerTesting: Sendable {}

extension JWTBearerTesting {
    /// The instant every test starts at (whole seconds, so claims and clock agree exactly).
    var jwtBearerStart: Date { Date(timeIntervalSince1970: 1_800_000_000) }
    var jwtBearerGrantType: String { "urn:ietf:params:oauth:grant-type:jwt-bearer" }

    /// A NumericDate `offset` seconds from `date`.
    func numericDate(_ date: Date, _ offset: Int64 = 0) -> JSONValue {
        .number(JSONNumber(Int64(date.timeIntervalSince1970) + offset))
    }

    /// Every audit record so far, oldest first.
    func auditTrail(_ server: BridgekeeperServer) async throws -> [AuditRecord] {
        try await server.store.auditRecords(afterSequence: 0, limit: 10_000)
    }

    /// Asserts an RFC 6749 §5.2 error answer, and that the last audit record is a denial with `reason`
    /// and that exactly `issued` tokens were issued so far.
    func expectRefusal(_ response: TestResponse, _ status: HTTPResponse.Status = .badRequest, error: String, reason: String,
                       server: BridgekeeperServer, issued: Int = 0, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        let json = try #require(response.json, "not a JSON object: \(response.text)", sourceLocation: sourceLocation)
        #expect(json.names.sorted() == ["error", "error_description"], "\(response.text)", sourceLocation: sourceLocation)
        #expect(json["error"] == .string(error), "\(response.text)", sourceLocation: sourceLocation)
        let records = try await auditTrail(server)
        let last = try #require(records.last, "the denial was not audited", sourceLocation: sourceLocation)
        #expect(last.event.kind == .denial, sourceLocation: sourceLocation)
        #expect(last.event.reason.rawValue == reason, "audited \(last.event.reason.rawValue), answered \(response.text)",
                sourceLocation: sourceLocation)
        #expect(records.filter { $0.event.kind == .issuance }.count == issued, sourceLocation: sourceLocation)
    }

    /// Asserts a successful token response with exactly `scope`, and returns its body.
    @discardableResult
    func expectIssued(_ response: TestResponse, scope: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONObject {
        #expect(response.status == .ok, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        let json = try #require(response.json, "not a JSON object: \(response.text)", sourceLocation: sourceLocation)
        #expect(json.names.sorted() == ["access_token", "expires_in", "scope", "token_type"], "\(response.text)", sourceLocation: sourceLocation)
        #expect(json["token_type"] == .string("Bearer"), sourceLocation: sourceLocation)
        #expect(json["scope"] == .string(scope), "\(response.text)", sourceLocation: sourceLocation)
        #expect(json["refresh_token"] == nil, sourceLocation: sourceLocation)
        return json
    }

    /// The claims of the access token in a token response (not verified).
    func accessTokenClaims(_ body: JSONObject) throws -> JSONObject {
        let token = try #require(body["access_token"]?.stringValue)
        return try UnverifiedJWS(compact: token).unverifiedClaims()
    }

    /// A compact JWS assembled by hand: any header, the claims, and the given signature bytes.
    func handmadeJWS(header: JSONObject, claims: JSONObject, signature: (String) -> [UInt8] = { _ in [] }) -> String {
        let input = Base64URL.encode(Array(JSONValue.object(header).serialized().utf8)) + "."
            + Base64URL.encode(Array(JSONValue.object(claims).serialized().utf8))
        return input + "." + Base64URL.encode(signature(input))
    }

    /// The test deployment with a second trusted IdP that signs with ES256 (the client's key file is
    /// reused as its JWKS), so ES256 is on some IdP's list but not on test-idp's.
    func twoIdPDeployment() throws -> TestDeployment {
        try TestDeployment(idpExtra: """
              - name: es256-idp
                issuer: https://es256-idp.test.example
                jwks_file: client-jwks.json
                algorithms: [ES256]
            """, policy: """
              - id: es256-idp-engineering-github
                effect: allow
                groups: [engineering]
                idp: es256-idp
                servers: [github]
                categories: [read, write]
            """)
    }
}

@Suite("jwt-bearer grant: validation at POST /token")
struct JWTBearerValidationTests: JWTBearerTesting {
    // MARK: - Success and scope

    @Test("a valid ID-JAG yields an RFC 9068 at+jwt for the one server, verifiable with /jwks.json, and an issuance record")
    func issuesAccessToken() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let claims = TestIdP.claims(now: clock.now())
            let response = try await client.redeem(try deployment.idp.sign(claims))
            let body = try expectIssued(response, scope: "tool:create_issue tool:search_code")
            #expect(body["expires_in"]?.numberValue?.exactInteger == 300)
            #expect(response.headers[HTTPField.Name("Pragma")!] == "no-cache")

            let token = try #require(body["access_token"]?.stringValue)
            let jws = try UnverifiedJWS(compact: token)
            #expect(jws.header["typ"] == .string("at+jwt"))
            #expect(jws.algorithmName == "ES256")
            let kid = try #require(jws.keyID)

            let jwksResponse = try await client.execute(uri: "/jwks.json", method: .get)
            #expect(jwksResponse.status == .ok)
            let jwksJSON = try #require(jwksResponse.json)
            let published = jwksJSON["keys"]?.arrayValue?.compactMap { $0.objectValue?["kid"]?.stringValue } ?? []
            #expect(published.contains(kid), "kid \(kid) not in \(published)")

            let payload = try jws.unverifiedClaims()
            #expect(payload.names.sorted() == ["aud", "client_id", "exp", "iat", "idp_iss", "iss", "jti", "principal_class", "scope", "sub"])
            #expect(payload["iss"] == .string(TestDeployment.issuer))
            #expect(payload["sub"] == .string("00u-alice"))
            #expect(payload["aud"] == .string(TestDeployment.githubResource))  // one string, not an array
            #expect(payload["client_id"] == .string(TestDeployment.clientID))
            #expect(payload["scope"] == .string("tool:create_issue tool:search_code"))
            #expect(payload["principal_class"] == .string("human"))
            #expect(payload["idp_iss"] == .string(TestIdP.issuer))
            #expect(payload["iat"] == numericDate(clock.now()))
            #expect(payload["exp"] == numericDate(clock.now(), 300))
            let jti = try #require(payload["jti"]?.stringValue)
            #expect(!jti.isEmpty && jti != claims["jti"]?.stringValue)
            // Our jti: the issue time in milliseconds (11 hex digits), then 128 random bits in base64url.
            let milliseconds = String(UInt64(clock.now().timeIntervalSince1970 * 1000), radix: 16)
            #expect(jti.count == 33 && jti.hasPrefix(String(repeating: "0", count: 11 - milliseconds.count) + milliseconds), "\(jti)")
            #expect(try Base64URL.decode(String(jti.dropFirst(11))).count == 16)

            let keys = try JWKSet(json: jwksResponse.text)
            let verifier = JWTVerifier(kind: .accessToken, signatures: JWSVerifier(keys: keys, algorithms: [.es256]),
                                       rules: ClaimRules(issuer: TestDeployment.issuer, audience: TestDeployment.githubResource))
            let verified = try verifier.verify(token, now: clock.now())
            #expect(verified.keyID == kid)
            // Not an ID-JAG: the minted token cannot pass as one.
            #expect(throws: JOSEError.self) {
                try JWTVerifier(kind: .idJAG, signatures: JWSVerifier(keys: keys, algorithms: [.es256]), rules: ClaimRules()).verify(token, now: clock.now())
            }

            let records = try await auditTrail(server)
            #expect(records.count == 1)
            let event = try #require(records.last?.event)
            #expect(event.kind == .issuance)
            #expect(event.reason.rawValue == "issued")
            #expect(event.issuer == TestIdP.issuer)
            #expect(event.subject == "00u-alice")
            #expect(event.clientID == TestDeployment.clientID)
            #expect(event.principalClass == "human")
            #expect(event.server == TestDeployment.githubResource)
            #expect(event.scopes == ["tool:create_issue", "tool:search_code"])
            #expect(event.tokenID == jti)
            #expect(event.assertionID == claims["jti"]?.stringValue)
            #expect(event.emailHash != nil && event.emailHash?.contains("alice") == false)
            #expect(event.remoteAddress != nil)
        }
    }

    @Test("the requested scope narrows the grant")
    func requestNarrowsScope() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now())), scope: "tool:create_issue")
            let body = try expectIssued(response, scope: "tool:create_issue")
            #expect(try accessTokenClaims(body)["scope"] == .string("tool:create_issue"))
            #expect(try await auditTrail(server).last?.event.scopes == ["tool:create_issue"])
        }
    }

    @Test("the ID-JAG's scope claim narrows the grant and cannot widen it past policy")
    func assertionScopeNarrows() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            var claims = TestIdP.claims(now: clock.now())
            claims["scope"] = .string("tool:search_code tool:delete_repository")
            let body = try expectIssued(try await client.redeem(try deployment.idp.sign(claims)), scope: "tool:search_code")
            #expect(try accessTokenClaims(body)["scope"] == .string("tool:search_code"))
        }
    }

    @Test("the grant is requested ∩ ID-JAG ∩ policy, all three at once")
    func threeWayIntersection() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            // Policy grants search_code and create_issue. The ID-JAG takes away search_code (which the
            // request asks for); policy takes away delete_repository (which both ask for).
            var claims = TestIdP.claims(now: clock.now())
            claims["scope"] = .string("tool:create_issue tool:delete_repository tool:disabled_tool")
            let response = try await client.redeem(try deployment.idp.sign(claims), scope: "tool:search_code tool:create_issue tool:delete_repository")
            try expectIssued(response, scope: "tool:create_issue")
        }
    }

    @Test("policy removes destructive tools and disabled tools even when requested")
    func policyRemovesDestructiveAndDisabledTools() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let response = try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now())),
                                                   scope: "tool:search_code tool:create_issue tool:delete_repository tool:disabled_tool")
            let body = try expectIssued(response, scope: "tool:create_issue tool:search_code")
            #expect(try accessTokenClaims(body)["scope"] == .string("tool:create_issue tool:search_code"))
        }
    }

    @Test("the contractors deny rule removes write tools")
    func contractorsLoseWrite() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let claims = TestIdP.claims(now: clock.now(), groups: ["engineering", "contractors"])
            try expectIssued(try await client.redeem(try deployment.idp.sign(claims)), scope: "tool:search_code")
        }
    }

    // MARK: - Request shape

    @Test("a request without assertion is invalid_request (missing_parameter)")
    func missingAssertion() async throws {
        let deployment = try TestDeployment()
        try await withServer(deployment, clock: TestClock(jwtBearerStart)) { client, server in
            let response = try await client.post("/token", [("grant_type", jwtBearerGrantType), ("resource", TestDeployment.githubResource)],
                                                 authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            try await expectRefusal(response, error: "invalid_request", reason: "missing_parameter", server: server)
        }
    }

    @Test("a repeated parameter other than resource is invalid_request (repeated_parameter)", arguments: ["assertion", "grant_type", "scope"])
    func repeatedParameter(name: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            var pairs = [("grant_type", jwtBearerGrantType), ("assertion", assertion), ("scope", "tool:search_code"),
                         ("resource", TestDeployment.githubResource)]
            pairs.append(pairs.first { $0.0 == name }!)  // the same value twice: still refused
            let response = try await client.post("/token", pairs, authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            try await expectRefusal(response, error: "invalid_request", reason: "repeated_parameter", server: server)
        }
    }

    @Test("a body with a malformed percent-escape is invalid_request (malformed_form)")
    func malformedForm() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let body = ByteBuffer(string: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=%ZZ")
            let response = try await client.execute(uri: "/token", method: .post,
                                                    headers: [.contentType: "application/x-www-form-urlencoded",
                                                              .authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret)],
                                                    body: body)
            try await expectRefusal(response, error: "invalid_request", reason: "malformed_form", server: server)
        }
    }

    @Test("an unknown grant_type is 400 unsupported_grant_type, never 404 or 500")
    func unknownGrantType() async throws {
        let deployment = try TestDeployment()
        try await withServer(deployment, clock: TestClock(jwtBearerStart)) { client, server in
            for grantType in ["password", "urn:ietf:params:oauth:grant-type:JWT-BEARER", "authorization_code"] {
                let response = try await client.post("/token", [("grant_type", grantType), ("assertion", "x.y.z")],
                                                     authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
                try await expectRefusal(response, error: "unsupported_grant_type", reason: "unsupported_grant_type", server: server)
            }
        }
    }

    @Test("a client not registered for jwt-bearer is unauthorized_client (grant_type_not_allowed)")
    func clientWithoutGrantType() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), client: TestDeployment.gatewayID))
            let response = try await client.post("/token", [("grant_type", jwtBearerGrantType), ("assertion", assertion),
                                                            ("resource", TestDeployment.githubResource)],
                                                 authorization: basic(TestDeployment.gatewayID, TestDeployment.gatewaySecret))
            try await expectRefusal(response, error: "unauthorized_client", reason: "grant_type_not_allowed", server: server)
            #expect(try await auditTrail(server).last?.event.clientID == TestDeployment.gatewayID)
        }
    }

    @Test("a request without grant_type is invalid_request (missing_parameter)")
    func missingGrantType() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/token", [("assertion", try deployment.idp.sign(TestIdP.claims(now: clock.now())))],
                                                 authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            try await expectRefusal(response, error: "invalid_request", reason: "missing_parameter", server: server)
        }
    }

    /// A jwt-bearer form padded (with an undeclared parameter, which is dropped) to exactly `size` bytes.
    func paddedForm(assertion: String, size: Int) throws -> [(String, String)] {
        let pairs = [("grant_type", jwtBearerGrantType), ("assertion", assertion), ("resource", TestDeployment.githubResource)]
        let padding = size - form(pairs).readableBytes - "&padding=".utf8.count
        try #require(padding > 0)
        let padded = pairs + [("padding", String(repeating: "a", count: padding))]
        try #require(form(padded).readableBytes == size)
        return padded
    }

    @Test("a body over 16 KiB is 400 invalid_request (request_too_large)", arguments: [16_385, 70_000, 1_000_000])
    func bodyTooLarge(size: Int) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let pairs = try paddedForm(assertion: try deployment.idp.sign(TestIdP.claims(now: clock.now())), size: size)
            let response = try await client.post("/token", pairs, authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            try await expectRefusal(response, error: "invalid_request", reason: "request_too_large", server: server)
        }
    }

    @Test("a body of exactly 16 KiB is read, and a valid assertion in it redeemed")
    func bodyAtLimit() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let pairs = try paddedForm(assertion: try deployment.idp.sign(TestIdP.claims(now: clock.now())), size: 16_384)
            let response = try await client.post("/token", pairs, authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            try expectIssued(response, scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("a form Content-Type with parameters or in another case is accepted",
          arguments: ["application/x-www-form-urlencoded; charset=UTF-8", "Application/X-WWW-Form-URLEncoded"])
    func contentTypeVariants(contentType: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let body = form([("grant_type", jwtBearerGrantType), ("assertion", try deployment.idp.sign(TestIdP.claims(now: clock.now()))),
                             ("resource", TestDeployment.githubResource)])
            let response = try await client.execute(uri: "/token", method: .post,
                                                    headers: [.contentType: contentType,
                                                              .authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret)],
                                                    body: body)
            try expectIssued(response, scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("a body without Content-Type is 400 invalid_request (malformed_form)")
    func missingContentType() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let body = form([("grant_type", jwtBearerGrantType), ("assertion", try deployment.idp.sign(TestIdP.claims(now: clock.now())))])
            let response = try await client.execute(uri: "/token", method: .post,
                                                    headers: [.authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret)], body: body)
            try await expectRefusal(response, error: "invalid_request", reason: "malformed_form", server: server)
        }
    }

    @Test("a body that is not application/x-www-form-urlencoded is 400 invalid_request (malformed_form)")
    func wrongContentType() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            let body = JSONValue.object(JSONObject(["grant_type": .string(jwtBearerGrantType), "assertion": .string(assertion)])).serialized()
            let response = try await client.execute(uri: "/token", method: .post,
                                                    headers: [.contentType: "application/json",
                                                              .authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret)],
                                                    body: ByteBuffer(string: body))
            try await expectRefusal(response, error: "invalid_request", reason: "malformed_form", server: server)
        }
    }

    @Test("a malformed scope parameter is invalid_scope (malformed_scope)",
          arguments: ["tool:search_code  tool:create_issue", "tool:\"search_code\"", " tool:search_code", "tool:search_code\\"])
    func malformedScopeParameter(scope: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now())), scope: scope)
            try await expectRefusal(response, error: "invalid_scope", reason: "malformed_scope", server: server)
        }
    }

    // MARK: - Assertion shape, typ, alg

    @Test("an assertion that is not a compact JWS is invalid_grant (malformed)", arguments: ["not-a-jwt", "a.b", "a.b.c.d"])
    func malformedAssertion(assertion: String) async throws {
        let deployment = try TestDeployment()
        try await withServer(deployment, clock: TestClock(jwtBearerStart)) { client, server in
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "malformed", server: server)
        }
    }

    @Test("a five-segment (JWE-shaped) assertion is invalid_grant (jwe_not_supported)")
    func jweShapedAssertion() async throws {
        let deployment = try TestDeployment()
        try await withServer(deployment, clock: TestClock(jwtBearerStart)) { client, server in
            let header = Base64URL.encode(Array(#"{"alg":"RSA-OAEP-256","enc":"A256GCM","typ":"oauth-id-jag+jwt"}"#.utf8))
            let jwe = [header, "a2V5", "aXY", "Y2lwaGVydGV4dA", "dGFn"].joined(separator: ".")
            try await expectRefusal(try await client.redeem(jwe), error: "invalid_grant", reason: "jwe_not_supported", server: server)
        }
    }

    @Test("an assertion whose typ is not oauth-id-jag+jwt is invalid_grant (wrong_typ)", arguments: ["JWT", "at+jwt", "secevent+jwt", "id-jag"])
    func wrongTyp(type: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()), type: type)
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "wrong_typ", server: server)
        }
    }

    @Test("an assertion without typ is invalid_grant (wrong_typ)")
    func missingTyp() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.key.sign(payload: Array(JSONValue.object(TestIdP.claims(now: clock.now())).serialized().utf8))
            #expect(try UnverifiedJWS(compact: assertion).header["typ"] == nil)
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "wrong_typ", server: server)
        }
    }

    @Test("typ is compared case-insensitively and an application/ prefix is ignored (RFC 7515 §4.1.9)",
          arguments: ["application/oauth-id-jag+jwt", "OAUTH-ID-JAG+JWT"])
    func typVariantsAccepted(type: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()), type: type)
            try expectIssued(try await client.redeem(assertion), scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("alg none is invalid_grant (alg_none), whatever its case", arguments: ["none", "None", "NONE"])
    func algNone(alg: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = handmadeJWS(header: JSONObject(["alg": .string(alg), "typ": "oauth-id-jag+jwt"]), claims: TestIdP.claims(now: clock.now()))
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "alg_none", server: server)
        }
    }

    @Test("HS256 keyed with the IdP's public key (algorithm confusion) is invalid_grant (alg_not_allowed)")
    func hs256() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let secret = Array(JSONValue.object(try deployment.idp.key.publicJWK()).serialized().utf8)
            let assertion = handmadeJWS(header: JSONObject(["alg": "HS256", "typ": "oauth-id-jag+jwt", "kid": "idp-rs256"]),
                                        claims: TestIdP.claims(now: clock.now())) { Digest.hmacSHA256(key: secret, message: Array($0.utf8)) }
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "alg_not_allowed", server: server)
        }
    }

    @Test("ES256 when no trusted IdP allows it is invalid_grant (alg_not_allowed)")
    func es256NotAllowedByAnyIdP() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let signer = try SigningKey.generate(.es256, keyID: "idp-rs256")
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()), with: signer)
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "alg_not_allowed", server: server)
        }
    }

    @Test("ES256 claiming an IdP that allows only RS256, while another IdP allows ES256, is invalid_grant (alg_not_allowed)")
    func es256NotOnThisIdPsList() async throws {
        let deployment = try twoIdPDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            // Signed with the key the ES256 IdP publishes, under test-idp's issuer and that key's kid.
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()), with: deployment.clientKey)
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "alg_not_allowed", server: server)
            #expect(try await auditTrail(server).last?.event.issuer == TestIdP.issuer)
        }
    }

    @Test("a header that carries a key or key location is invalid_grant (embedded_key), even when the signature is good",
          arguments: ["jwk", "jku", "x5u", "x5c"])
    func embeddedKeyHeader(member: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let value: JSONValue = member == "jwk" ? .object(try deployment.idp.key.publicJWK())
                : member == "x5c" ? .array([.string("MIIB")]) : .string("https://evil.example/keys")
            let header = JSONObject(["typ": "oauth-id-jag+jwt", "kid": "idp-rs256", member: value])
            let assertion = try deployment.idp.key.sign(payload: Array(JSONValue.object(TestIdP.claims(now: clock.now())).serialized().utf8),
                                                        header: header)
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "embedded_key", server: server)
        }
    }

    @Test("a header with crit is invalid_grant (unknown_crit), even when the signature is good")
    func criticalHeader() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let header = JSONObject(["typ": "oauth-id-jag+jwt", "crit": .array(["exp-ext"]), "exp-ext": "1"])
            let assertion = try deployment.idp.key.sign(payload: Array(JSONValue.object(TestIdP.claims(now: clock.now())).serialized().utf8),
                                                        header: header)
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "unknown_crit", server: server)
        }
    }

    @Test("error_description never echoes quotes, backslashes or non-ASCII from the assertion (RFC 6749 §5.2)")
    func errorDescriptionIsSafe() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            for header in [JSONObject(["alg": "RS256", "typ": "x\"}\\\u{7}é😀"]), JSONObject(["alg": "RS\"256\\é", "typ": "oauth-id-jag+jwt"])] {
                let assertion = handmadeJWS(header: header, claims: TestIdP.claims(now: clock.now())) { _ in [1, 2, 3] }
                let response = try await client.redeem(assertion)
                try await expectRefusal(response, error: "invalid_grant", reason: header["alg"] == "RS256" ? "wrong_typ" : "alg_not_allowed",
                                        server: server)
                let description = try #require(response.json?["error_description"]?.stringValue)
                #expect(description.utf8.allSatisfy { (0x20...0x7E).contains($0) && $0 != 0x22 && $0 != 0x5C }, "\(description)")
            }
        }
    }

    // MARK: - Issuer, key, signature

    @Test("an assertion from an untrusted issuer is invalid_grant (untrusted_issuer)",
          arguments: ["https://evil.example", "https://idp.test.example/", "https://IDP.test.example"])
    func untrustedIssuer(issuer: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["iss"] = .string(issuer)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "untrusted_issuer", server: server)
        }
    }

    @Test("an assertion without iss is invalid_grant (untrusted_issuer)")
    func missingIssuer() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["iss"] = nil
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "untrusted_issuer", server: server)
        }
    }

    @Test("an assertion whose kid is not in the IdP's JWKS is invalid_grant (unknown_key)")
    func unknownKid() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let signer = try SigningKey.generate(.rs256, keyID: "idp-rs256-next")
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()), with: signer)
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "unknown_key", server: server)
        }
    }

    @Test("an assertion signed by another key under the published kid is invalid_grant (bad_signature)")
    func badSignature() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()), with: deployment.idp.otherKey)
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "bad_signature", server: server)
        }
    }

    @Test("an assertion whose claims were altered after signing is invalid_grant (bad_signature)")
    func alteredClaims() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let original = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            let parts = original.split(separator: ".").map(String.init)
            let forged = TestIdP.claims(now: clock.now(), groups: ["engineering", "admins"])
            let tampered = [parts[0], Base64URL.encode(Array(JSONValue.object(forged).serialized().utf8)), parts[2]].joined(separator: ".")
            try await expectRefusal(try await client.redeem(tampered), error: "invalid_grant", reason: "bad_signature", server: server)
        }
    }

    @Test("an ID-JAG without a required claim is invalid_grant (missing_claim)", arguments: ["sub", "aud", "client_id", "jti", "exp", "iat"])
    func missingRequiredClaim(claim: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims[claim] = nil
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "missing_claim", server: server)
        }
    }

    // MARK: - Audience and time

    @Test("an assertion for another audience is invalid_grant (wrong_audience)",
          arguments: ["https://other-as.example", "https://broker.test.example/", TestDeployment.githubResource])
    func wrongAudience(audience: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), audience: audience))
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "wrong_audience", server: server)
        }
    }

    @Test("an aud array of two members is invalid_grant (multiple_audiences), even when one is ours")
    func multipleAudiences() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["aud"] = .array([.string(TestDeployment.issuer), .string("https://other-as.example")])
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "multiple_audiences", server: server)
        }
    }

    @Test("an aud array of exactly our issuer is accepted")
    func oneElementAudienceArray() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            var claims = TestIdP.claims(now: clock.now())
            claims["aud"] = .array([.string(TestDeployment.issuer)])
            try expectIssued(try await client.redeem(try deployment.idp.sign(claims)), scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("an assertion expired by more than the 60 s leeway is invalid_grant (expired)")
    func expired() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["iat"] = numericDate(clock.now(), -200)
            claims["exp"] = numericDate(clock.now(), -61)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant", reason: "expired", server: server)
        }
    }

    @Test("an assertion that expired within the leeway is accepted")
    func expiredWithinLeeway() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            var claims = TestIdP.claims(now: clock.now())
            claims["iat"] = numericDate(clock.now(), -200)
            claims["exp"] = numericDate(clock.now(), -30)
            try expectIssued(try await client.redeem(try deployment.idp.sign(claims)), scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("the exp leeway is 60 s: 59 s past exp is accepted, 60 s past is expired")
    func expiryLeewayBoundary() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var inside = TestIdP.claims(now: clock.now())
            inside["iat"] = numericDate(clock.now(), -100)
            inside["exp"] = numericDate(clock.now(), -59)
            try expectIssued(try await client.redeem(try deployment.idp.sign(inside)), scope: "tool:create_issue tool:search_code")
            var outside = TestIdP.claims(now: clock.now())
            outside["iat"] = numericDate(clock.now(), -100)
            outside["exp"] = numericDate(clock.now(), -60)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(outside)), error: "invalid_grant", reason: "expired",
                                    server: server, issued: 1)
        }
    }

    @Test("iat and nbf up to the 60 s leeway in the future are accepted")
    func futureWithinLeeway() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            var claims = TestIdP.claims(now: clock.now())
            claims["iat"] = numericDate(clock.now(), 60)
            claims["nbf"] = numericDate(clock.now(), 60)
            claims["exp"] = numericDate(clock.now(), 180)
            try expectIssued(try await client.redeem(try deployment.idp.sign(claims)), scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("the clock, not the IdP, decides expiry: a valid assertion presented 200 s later is expired")
    func expiredByClock() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))  // exp = now + 120
            clock.advance(200)
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "expired", server: server)
        }
    }

    @Test("an iat beyond the leeway in the future is invalid_grant (issued_in_future)")
    func issuedInFuture() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["iat"] = numericDate(clock.now(), 120)
            claims["exp"] = numericDate(clock.now(), 200)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "issued_in_future", server: server)
        }
    }

    @Test("an nbf beyond the leeway in the future is invalid_grant (not_yet_valid)")
    func notYetValid() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["nbf"] = numericDate(clock.now(), 100)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "not_yet_valid", server: server)
        }
    }

    @Test("a lifetime over max_assertion_lifetime (300 s) is invalid_grant (lifetime_too_long); 300 s is accepted")
    func lifetimeTooLong() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["exp"] = numericDate(clock.now(), 301)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "lifetime_too_long", server: server)
            var capped = TestIdP.claims(now: clock.now())
            capped["exp"] = numericDate(clock.now(), 300)
            try expectIssued(try await client.redeem(try deployment.idp.sign(capped)), scope: "tool:create_issue tool:search_code")
        }
    }

    // MARK: - Replay

    @Test("a second redemption of the same ID-JAG is invalid_grant (assertion_replayed)")
    func replay() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            try expectIssued(try await client.redeem(assertion), scope: "tool:create_issue tool:search_code")
            // Asking for less does not make it a new request.
            try await expectRefusal(try await client.redeem(assertion, scope: "tool:search_code"), error: "invalid_grant",
                                    reason: "assertion_replayed", server: server, issued: 1)
        }
    }

    @Test("a new ID-JAG reusing a redeemed jti is invalid_grant (assertion_replayed)")
    func replayedJTI() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var first = TestIdP.claims(now: clock.now())
            first["jti"] = "fixed-jti-1"
            try expectIssued(try await client.redeem(try deployment.idp.sign(first)), scope: "tool:create_issue tool:search_code")
            clock.advance(10)
            var second = TestIdP.claims(now: clock.now())
            second["jti"] = "fixed-jti-1"
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(second)), error: "invalid_grant",
                                    reason: "assertion_replayed", server: server, issued: 1)
        }
    }

    @Test("jti is single-use per issuer: another trusted IdP may use the same jti")
    func sameJTIOtherIssuer() async throws {
        let deployment = try twoIdPDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var first = TestIdP.claims(now: clock.now())
            first["jti"] = "shared-jti"
            try expectIssued(try await client.redeem(try deployment.idp.sign(first)), scope: "tool:create_issue tool:search_code")
            var second = TestIdP.claims(now: clock.now())
            second["jti"] = "shared-jti"
            second["iss"] = "https://es256-idp.test.example"
            try expectIssued(try await client.redeem(try deployment.idp.sign(second, with: deployment.clientKey)),
                             scope: "tool:create_issue tool:search_code")
            #expect(try await auditTrail(server).map(\.event.issuer) == [TestIdP.issuer, "https://es256-idp.test.example"])
        }
    }

    @Test("a redeemed ID-JAG is refused after the server restarts on the same store (assertion_replayed)")
    func replayAcrossRestart() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
        try await withServer(deployment, clock: clock) { client, _ in
            _ = try expectIssued(try await client.redeem(assertion), scope: "tool:create_issue tool:search_code")
        }
        clock.advance(5)
        try await withServer(deployment, clock: clock) { client, server in
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "assertion_replayed",
                                    server: server, issued: 1)
        }
    }

    @Test("concurrent redemptions of one ID-JAG on separate connections: exactly one succeeds")
    func concurrentRedemptions() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let port = try #require(client.port)
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            let attempts = 8
            let answers = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String).self) { group in
                for _ in 0..<attempts {
                    group.addTask {
                        try await TestClient.withClient(host: "localhost", port: port) { connection in
                            let response = try await connection.post(
                                "/token",
                                headers: [.contentType: "application/x-www-form-urlencoded",
                                          .authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret)],
                                body: form([("grant_type", jwtBearerGrantType), ("assertion", assertion),
                                            ("resource", TestDeployment.githubResource)]))
                            return (response.status, response.body.map { String(buffer: $0) } ?? "")
                        }
                    }
                }
                var all: [(HTTPResponse.Status, String)] = []
                for try await answer in group { all.append(answer) }
                return all
            }
            #expect(answers.count == attempts)
            #expect(answers.filter { $0.0 == .ok }.count == 1, "\(answers)")
            let refused = answers.filter { $0.0 != .ok }
            #expect(refused.count == attempts - 1)
            for (status, body) in refused {
                #expect(status == .badRequest)
                #expect(body.contains(#""error":"invalid_grant""#), "\(body)")
            }
            let records = try await auditTrail(server)
            #expect(records.filter { $0.event.kind == .issuance }.count == 1)
            let denials = records.filter { $0.event.kind == .denial }
            #expect(denials.count == attempts - 1)
            #expect(denials.allSatisfy { $0.event.reason.rawValue == "assertion_replayed" }, "\(denials.map(\.event.reason.rawValue))")
        }
    }

    // MARK: - Client binding

    @Test("an ID-JAG issued to another client is invalid_grant (assertion_client_mismatch)")
    func clientMismatch() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), client: TestDeployment.postClientID))
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "assertion_client_mismatch", server: server)
            #expect(try await auditTrail(server).last?.event.clientID == TestDeployment.clientID)
        }
    }

    @Test("a mismatched ID-JAG does not burn its jti: its own client can still redeem it")
    func mismatchDoesNotConsume() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), client: TestDeployment.clientID, resource: TestDeployment.notionResource))
            let stolen = try await client.post("/token", [
                ("grant_type", jwtBearerGrantType), ("assertion", assertion), ("resource", TestDeployment.notionResource),
                ("client_id", TestDeployment.postClientID), ("client_secret", TestDeployment.clientSecret),
            ])
            try await expectRefusal(stolen, error: "invalid_grant", reason: "assertion_client_mismatch", server: server)
            try expectIssued(try await client.redeem(assertion, resource: TestDeployment.notionResource), scope: "tool:search_pages")
        }
    }

    // MARK: - Resource

    @Test("a resource that is not in the catalog is invalid_target (unknown_resource)")
    func unknownResource() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let unknown = "https://mcp.test.example/jira"
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), resource: unknown))
            try await expectRefusal(try await client.redeem(assertion, resource: unknown), error: "invalid_target",
                                    reason: "unknown_resource", server: server)
        }
    }

    @Test("the resource parameter is canonicalised for lookup and the token carries the registered resource")
    func resourceCanonicalised() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            let body = try expectIssued(try await client.redeem(assertion, resource: "HTTPS://MCP.Test.Example:443/github"),
                                        scope: "tool:create_issue tool:search_code")
            #expect(try accessTokenClaims(body)["aud"] == .string(TestDeployment.githubResource))
        }
    }

    @Test("a resource parameter that is not a valid resource indicator is invalid_target (malformed_resource)",
          arguments: ["https://mcp.test.example/github#frag", "https://mcp.test.example/github?x=1", "mcp.test.example/github", "ftp://mcp.test.example/github"])
    func malformedResourceParameter(resource: String) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            try await expectRefusal(try await client.redeem(assertion, resource: resource), error: "invalid_target",
                                    reason: "malformed_resource", server: server)
        }
    }

    @Test("an ID-JAG resource given as a one-element array is honoured")
    func assertionResourceArray() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["resource"] = .array([.string(TestDeployment.notionResource)])
            let body = try expectIssued(try await client.redeem(try deployment.idp.sign(claims), resource: nil), scope: "tool:search_pages")
            #expect(try accessTokenClaims(body)["aud"] == .string(TestDeployment.notionResource))
            var other = TestIdP.claims(now: clock.now())
            other["resource"] = .array([.string(TestDeployment.notionResource)])
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(other), resource: TestDeployment.githubResource),
                                    error: "invalid_grant", reason: "resource_mismatch", server: server, issued: 1)
        }
    }

    @Test("a client limited to notion asking for github is invalid_target (resource_not_allowed_for_client)")
    func resourceNotAllowedForClient() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), client: TestDeployment.postClientID))
            let pairs = [
                ("grant_type", jwtBearerGrantType), ("assertion", assertion), ("resource", TestDeployment.githubResource),
                ("client_id", TestDeployment.postClientID), ("client_secret", TestDeployment.clientSecret),
            ]
            try await expectRefusal(try await client.post("/token", pairs), error: "invalid_target",
                                    reason: "resource_not_allowed_for_client", server: server)
            #expect(try await auditTrail(server).last?.event.clientID == TestDeployment.postClientID)
            // The same client, shaped as the Python SDK sends it, gets notion.
            let notion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), client: TestDeployment.postClientID, resource: TestDeployment.notionResource))
            let allowed = try await client.post("/token", [
                ("grant_type", jwtBearerGrantType), ("assertion", notion), ("resource", TestDeployment.notionResource),
                ("scope", "tool:search_pages"), ("client_id", TestDeployment.postClientID), ("client_secret", TestDeployment.clientSecret),
            ])
            try expectIssued(allowed, scope: "tool:search_pages")
        }
    }

    @Test("a request resource other than the ID-JAG's is invalid_grant (resource_mismatch)")
    func resourceMismatch() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))  // resource: github
            try await expectRefusal(try await client.redeem(assertion, resource: TestDeployment.notionResource), error: "invalid_grant",
                                    reason: "resource_mismatch", server: server)
        }
    }

    @Test("no resource in the request or the ID-JAG, with several servers, is invalid_request (resource_required)")
    func resourceRequired() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), resource: nil))
            try await expectRefusal(try await client.redeem(assertion, resource: nil), error: "invalid_request",
                                    reason: "resource_required", server: server)
        }
    }

    @Test("an ID-JAG without resource is redeemed for the server the request names")
    func resourceFromRequest() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), resource: nil))
            let body = try expectIssued(try await client.redeem(assertion, resource: TestDeployment.githubResource),
                                        scope: "tool:create_issue tool:search_code")
            #expect(try accessTokenClaims(body)["aud"] == .string(TestDeployment.githubResource))
        }
    }

    @Test("a request without resource is redeemed for the ID-JAG's resource")
    func resourceFromAssertion() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), resource: TestDeployment.notionResource))
            let body = try expectIssued(try await client.redeem(assertion, resource: nil), scope: "tool:search_pages")
            #expect(try accessTokenClaims(body)["aud"] == .string(TestDeployment.notionResource))
        }
    }

    @Test("two resource parameters are invalid_target: a token is for one server")
    func twoResources() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["resource"] = .array([.string(TestDeployment.githubResource), .string(TestDeployment.notionResource)])
            let response = try await client.post("/token", [
                ("grant_type", jwtBearerGrantType), ("assertion", try deployment.idp.sign(claims)),
                ("resource", TestDeployment.githubResource), ("resource", TestDeployment.notionResource),
            ], authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            try await expectRefusal(response, error: "invalid_target", reason: "malformed_resource", server: server)
        }
    }

    // MARK: - Subject, tenant, policy

    @Test("a disabled subject is invalid_grant (subject_disabled)")
    func subjectDisabled() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice"), true, at: clock.now())
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "subject_disabled", server: server)
            #expect(try await auditTrail(server).last?.event.subject == "00u-alice")
            // Another subject of the same IdP is unaffected.
            try expectIssued(try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now(), subject: "00u-bob"))),
                             scope: "tool:create_issue tool:search_code")
            // The refusal did not use the assertion up: re-enabled, the same assertion redeems.
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice"), false, at: clock.now())
            try expectIssued(try await client.redeem(assertion), scope: "tool:create_issue tool:search_code")
        }
    }

    @Test("a subject no allow rule matches on the server is invalid_grant (no_matching_rule)")
    func noMatchingRule() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), groups: ["sales"]))
            try await expectRefusal(try await client.redeem(assertion), error: "invalid_grant", reason: "no_matching_rule", server: server)
            #expect(try await auditTrail(server).last?.event.server == TestDeployment.githubResource)
        }
    }

    @Test("a server the organisation has disabled is invalid_grant (server_disabled)")
    func serverDisabled() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let dark = "https://mcp.test.example/dark"
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now(), resource: dark))
            try await expectRefusal(try await client.redeem(assertion, resource: dark), error: "invalid_grant", reason: "server_disabled", server: server)
        }
    }

    @Test("a requested scope policy grants none of is invalid_scope (no_scope_granted)")
    func noScopeGranted() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            try await expectRefusal(try await client.redeem(assertion, scope: "tool:delete_repository tool:disabled_tool"), error: "invalid_scope",
                                    reason: "no_scope_granted", server: server)
        }
    }

    @Test("an ID-JAG scope claim that leaves nothing is invalid_scope (no_scope_granted)")
    func assertionScopeLeavesNothing() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["scope"] = .string("tool:search_code")
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims), scope: "tool:create_issue"), error: "invalid_scope",
                                    reason: "no_scope_granted", server: server)
        }
    }

    @Test("an ID-JAG scope claim that is not a valid scope string is invalid_grant (malformed_scope)",
          arguments: [JSONValue.string("tool:search_code  tool:create_issue"), .array([.string("tool:search_code")]), .number(JSONNumber(1))])
    func malformedAssertionScope(scope: JSONValue) async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["scope"] = scope
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "malformed_scope", server: server)
        }
    }

    @Test("with a tenant rule, a missing or untrusted tenant is invalid_grant (tenant_not_allowed)", arguments: [nil, "t-2", "T-1", "t-1 "])
    func tenantNotAllowed(tenant: String?) async throws {
        let deployment = try TestDeployment(idpExtra: "    tenant: {claim: tid, allowed: [t-1]}")
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            if let tenant { claims["tid"] = .string(tenant) }
            claims["tenant"] = "t-1"  // the rule reads tid, not the draft's default claim
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant",
                                    reason: "tenant_not_allowed", server: server)
        }
    }

    @Test("with a tenant rule, a trusted tenant is redeemed and the token carries it")
    func tenantAllowed() async throws {
        let deployment = try TestDeployment(idpExtra: "    tenant: {claim: tid, allowed: [t-1]}")
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = TestIdP.claims(now: clock.now())
            claims["tid"] = "t-1"
            let body = try expectIssued(try await client.redeem(try deployment.idp.sign(claims)), scope: "tool:create_issue tool:search_code")
            let token = try accessTokenClaims(body)
            #expect(token["tenant"] == .string("t-1"))
            #expect(token["sub"] == .string("00u-alice"))
            #expect(try await auditTrail(server).last?.event.tenant == "t-1")
        }
    }

    @Test("with a tenant rule, disabling a subject is per tenant: (issuer, tenant, sub)")
    func tenantScopedDisable() async throws {
        let deployment = try TestDeployment(idpExtra: "    tenant: {claim: tid, allowed: [t-1]}")
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            // Disabling the subject without its tenant does not touch the tenant's subject ...
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice"), true, at: clock.now())
            var claims = TestIdP.claims(now: clock.now())
            claims["tid"] = "t-1"
            try expectIssued(try await client.redeem(try deployment.idp.sign(claims)), scope: "tool:create_issue tool:search_code")
            // ... disabling it in its tenant does.
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, tenant: "t-1", subject: "00u-alice"), true, at: clock.now())
            var again = TestIdP.claims(now: clock.now())
            again["tid"] = "t-1"
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(again)), error: "invalid_grant",
                                    reason: "subject_disabled", server: server, issued: 1)
        }
    }
}
