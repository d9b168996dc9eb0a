import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

// HTTP tests of the bridge's second outcome: RFC 8693 token exchange of an ID token for an ID-JAG
// that Bridgekeeper's bridge issuer signs, for a third-party authorization server that trusts it
// (SPECS §2 "bridge issuer", §5 bridge step 4).

/// A deployment with one third-party authorization server (`partner`), a catalog server behind
/// it (`partner-crm`), a policy rule for it, and mcp-client's id there.
func bridgeDeployment(clientMapping: Bool = true, lifetime: Int? = nil) throws -> TestDeployment {
    try TestDeployment(
        extra: """
        authorization_servers:
          - name: partner
            issuer: \(BridgeIDJAGTests.partnerIssuer)
        \(lifetime.map { "    id_jag_lifetime: \($0)" } ?? "")
        """,
        mcpClientExtra: clientMapping ? "authorization_server_client_ids: {partner: \(BridgeIDJAGTests.partnerClientID)}" : "",
        servers: """
          - name: partner-crm
            resource: \(BridgeIDJAGTests.partnerResource)
            authorization_server: partner
            tools:
              - { name: read_accounts, category: read }
              - { name: update_account, category: write }
              - { name: drop_accounts, category: destructive }
        """,
        policy: """
          - id: engineering-partner
            effect: allow
            groups: [engineering]
            servers: [partner-crm]
            categories: [read, write]
        """)
}

@Suite("token exchange: an ID token for an ID-JAG to a third-party authorization server (the bridge issuer)")
struct BridgeIDJAGTests: JWTBearerTesting {
    static let partnerIssuer = "https://as.partner.example"
    static let partnerClientID = "partner-client-7"
    static let partnerResource = "https://mcp.partner.example/crm"
    static let bridgeIssuer = TestDeployment.issuer + "/bridge"
    static let idJAGType = "urn:ietf:params:oauth:token-type:id-jag"

    /// Token exchange as mcp-client asking for an ID-JAG.
    func requestIDJAG(_ client: any TestClientProtocol, _ idToken: String, audience: [String] = [partnerIssuer],
                      resource: [String] = [partnerResource], scope: String? = nil,
                      as clientID: String = TestDeployment.clientID) async throws -> TestResponse {
        var pairs = [("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("subject_token", idToken),
                     ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), ("requested_token_type", Self.idJAGType)]
        pairs += audience.map { ("audience", $0) } + resource.map { ("resource", $0) }
        if let scope { pairs.append(("scope", scope)) }
        return try await client.post("/token", pairs, authorization: basic(clientID, TestDeployment.clientSecret))
    }

    /// Verifies an ID-JAG with the bridge's published JWKS, as the third-party server would.
    func verifyAsPartner(_ token: String, client: any TestClientProtocol, now: Date) async throws -> VerifiedJWT {
        let jwks = try await client.execute(uri: "/bridge/jwks.json", method: .get)
        #expect(jwks.status == .ok)
        #expect(jwks.headers[.contentType] == "application/jwk-set+json")
        let verifier = JWTVerifier(kind: .idJAG, signatures: JWSVerifier(keys: try JWKSet(json: jwks.text)),
                                   rules: ClaimRules(issuer: Self.bridgeIssuer, audience: Self.partnerIssuer, leeway: 0, maxLifetime: 300))
        return try verifier.verify(token, now: now)
    }

    @Test("an ID token becomes an ID-JAG: typ oauth-id-jag+jwt, bridge issuer and key, every required claim, N_A, audited and recorded")
    func issuesIDJAG() async throws {
        let deployment = try bridgeDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var idClaims = TestIdP.idTokenClaims(now: clock.now())
            idClaims["amr"] = .array(["pwd", "mfa"])
            idClaims["email_verified"] = .bool(true)
            let response = try await requestIDJAG(client, try deployment.idp.idToken(idClaims))
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.headers[.cacheControl] == "no-store")
            let json = try #require(response.json)
            #expect(json.names.sorted() == ["access_token", "expires_in", "issued_token_type", "scope", "token_type"])
            #expect(json["issued_token_type"] == .string(Self.idJAGType))
            #expect(json["token_type"] == .string("N_A"))
            #expect(json["expires_in"]?.numberValue?.exactInteger == 300)
            #expect(json["scope"] == .string("tool:read_accounts tool:update_account"))
            let token = try #require(json["access_token"]?.stringValue)

            let verified = try await verifyAsPartner(token, client: client, now: clock.now())
            #expect(verified.header["typ"] == .string("oauth-id-jag+jwt"))
            let claims = verified.claims.object
            #expect(claims["iss"] == .string(Self.bridgeIssuer))
            #expect(claims["aud"] == .string(Self.partnerIssuer))
            #expect(claims["sub"] == .string("00u-alice"))
            #expect(claims["client_id"] == .string(Self.partnerClientID))
            #expect(claims["resource"] == .string(Self.partnerResource))
            #expect(claims["scope"] == .string("tool:read_accounts tool:update_account"))
            #expect(claims["email"] == .string("alice@example.com"))
            #expect(claims["amr"] == .array(["pwd", "mfa"]))
            #expect(claims["auth_time"] == idClaims["auth_time"])
            let iat = try #require(claims["iat"]?.numberValue?.exactInteger)
            let exp = try #require(claims["exp"]?.numberValue?.exactInteger)
            #expect(exp - iat == 300)
            let jti = try #require(claims["jti"]?.stringValue)

            // The bridge key is not an access-token key: /jwks.json does not publish it.
            let mainJWKS = try #require(try await client.execute(uri: "/jwks.json", method: .get).json)
            let mainKids = mainJWKS["keys"]?.arrayValue?.compactMap { $0.objectValue?["kid"]?.stringValue } ?? []
            #expect(!mainKids.contains(try #require(verified.keyID)))

            let record = try #require(try await auditTrail(server).last)
            #expect(record.event.kind == .issuance && record.event.reason.rawValue == "id_jag_issued")
            #expect(record.event.tokenID == jti && record.event.server == Self.partnerResource)
            let stored = try #require(try await server.store.tokenState(jti: jti))
            #expect(stored.token.kind == .idJAG)
            #expect(stored.token.clientID == TestDeployment.clientID)
        }
    }

    @Test("an email the IdP does not say is verified is not passed on (a third party may link accounts by it)")
    func unverifiedEmailStaysHome() async throws {
        let deployment = try bridgeDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            for verified in [nil, JSONValue.bool(false), .string("true")] {
                var idClaims = TestIdP.idTokenClaims(now: clock.now())
                idClaims["email_verified"] = verified
                let json = try #require(try await requestIDJAG(client, try deployment.idp.idToken(idClaims)).json)
                let claims = try accessTokenClaims(json)
                #expect(claims["email"] == nil, "email_verified \(String(describing: verified))")
                #expect(claims["sub"] == .string("00u-alice"))
            }
        }
    }

    @Test("two ID-JAGs from one sign-in have distinct jti; the lifetime follows id_jag_lifetime")
    func uniqueAndShort() async throws {
        let deployment = try bridgeDeployment(lifetime: 60)
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, _ in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            var ids: Set<String> = []
            for _ in 0..<2 {
                let json = try #require(try await requestIDJAG(client, idToken).json)
                #expect(json["expires_in"]?.numberValue?.exactInteger == 60)
                let claims = try accessTokenClaims(json)
                #expect((claims["exp"]?.numberValue?.exactInteger ?? 0) - (claims["iat"]?.numberValue?.exactInteger ?? 0) == 60)
                ids.insert(try #require(claims["jti"]?.stringValue))
            }
            #expect(ids.count == 2)
        }
    }

    @Test("Bridgekeeper never redeems its own ID-JAG: jwt-bearer refuses the bridge issuer (self_issued), and an access token too")
    func neverRedeemsItsOwn() async throws {
        let deployment = try bridgeDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            let idJAG = try #require(try await requestIDJAG(client, idToken).json?["access_token"]?.stringValue)
            try await expectRefusal(try await client.redeem(idJAG, resource: Self.partnerResource), error: "invalid_grant",
                                    reason: "self_issued", server: server, issued: 1)
            try await expectRefusal(try await client.redeem(idJAG), error: "invalid_grant", reason: "self_issued", server: server, issued: 1)
            // Nor is the ID-JAG accepted as a subject token (its typ is not an ID token's).
            try await expectRefusal(try await client.exchange(idJAG), error: "invalid_request", reason: "wrong_typ", server: server, issued: 1)
        }
    }

    @Test("a catalog server behind a third-party authorization server gets no access token from Bridgekeeper (third_party_resource)")
    func noAccessTokenForThirdPartyServer() async throws {
        let deployment = try bridgeDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await client.exchange(idToken, resource: Self.partnerResource), error: "invalid_target",
                                    reason: "third_party_resource", server: server)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now(), resource: Self.partnerResource)),
                                                            resource: Self.partnerResource),
                                    error: "invalid_target", reason: "third_party_resource", server: server)
        }
    }

    @Test("audience rules: missing, repeated, unknown, Bridgekeeper itself, a resource not behind it")
    func audienceRules() async throws {
        let deployment = try bridgeDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await requestIDJAG(client, idToken, audience: []), error: "invalid_request", reason: "audience_required", server: server)
            try await expectRefusal(try await requestIDJAG(client, idToken, audience: [Self.partnerIssuer, Self.partnerIssuer]),
                                    error: "invalid_target", reason: "unknown_audience", server: server)
            try await expectRefusal(try await requestIDJAG(client, idToken, audience: ["https://as.unknown.example"]),
                                    error: "invalid_target", reason: "unknown_audience", server: server)
            // Exact match: a trailing slash is another issuer.
            try await expectRefusal(try await requestIDJAG(client, idToken, audience: [Self.partnerIssuer + "/"]),
                                    error: "invalid_target", reason: "unknown_audience", server: server)
            for own in [TestDeployment.issuer, Self.bridgeIssuer] {
                try await expectRefusal(try await requestIDJAG(client, idToken, audience: [own]), error: "invalid_target", reason: "self_audience",
                                        server: server)
            }
            try await expectRefusal(try await requestIDJAG(client, idToken, resource: []), error: "invalid_request", reason: "resource_required",
                                    server: server)
            try await expectRefusal(try await requestIDJAG(client, idToken, resource: [TestDeployment.githubResource]),
                                    error: "invalid_target", reason: "resource_not_at_audience", server: server)
        }
    }

    @Test("a client with no id at the authorization server gets no ID-JAG (no_client_at_audience)")
    func clientWithoutMapping() async throws {
        let deployment = try bridgeDeployment(clientMapping: false)
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await requestIDJAG(client, idToken), error: "invalid_target", reason: "no_client_at_audience", server: server)
        }
    }

    @Test("policy decides ID-JAGs too: a denied person gets none (invalid_request), a disabled one neither, a scope outside policy is invalid_scope")
    func policyAndSubjectState() async throws {
        let deployment = try bridgeDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let sales = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), subject: "00u-bob", groups: ["sales"]))
            try await expectRefusal(try await requestIDJAG(client, sales), error: "invalid_request", reason: "no_matching_rule", server: server)
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            try await expectRefusal(try await requestIDJAG(client, idToken, scope: "tool:drop_accounts"), error: "invalid_scope",
                                    reason: "no_scope_granted", server: server)
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, tenant: nil, subject: "00u-alice"), true, at: clock.now())
            try await expectRefusal(try await requestIDJAG(client, idToken), error: "invalid_request", reason: "subject_disabled", server: server)
        }
    }

    @Test("the bridge publishes its metadata (both discovery paths) and the main metadata lists id-jag")
    func metadata() async throws {
        let deployment = try bridgeDeployment()
        try await withServer(deployment, clock: TestClock(jwtBearerStart)) { client, _ in
            for path in ["/bridge/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/bridge"] {
                let json = try #require(try await client.execute(uri: path, method: .get).json, "\(path)")
                #expect(json["issuer"] == .string(Self.bridgeIssuer))
                #expect(json["jwks_uri"] == .string(Self.bridgeIssuer + "/jwks.json"))
                #expect(json["token_endpoint"] == .string(TestDeployment.issuer + "/token"))
                #expect(json["identity_chaining_requested_token_types_supported"] == .array([.string(Self.idJAGType)]))
                // OpenID Connect Discovery 1.0 §3: both REQUIRED, which strict relying parties check.
                // The bridge's sub is the IdP's, the same for every relying party: public.
                #expect(json["subject_types_supported"] == .array([.string("public")]), "\(path)")
                // What the bridge signs with (keys.algorithm, ES256 here): the algorithm of its JWTs.
                #expect(json["id_token_signing_alg_values_supported"] == .array([.string("ES256")]), "\(path)")
            }
            let main = try #require(try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get).json)
            #expect(main["identity_chaining_requested_token_types_supported"]
                    == .array([.string("urn:ietf:params:oauth:token-type:access_token"), .string(Self.idJAGType)]))
            let scopes = main["scopes_supported"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(!scopes.contains("tool:read_accounts"), "a third party's scopes are not ours to advertise")
            let prm = try #require(try await client.execute(uri: "/servers/partner-crm/oauth-protected-resource", method: .get).json)
            #expect(prm["authorization_servers"] == .array([.string(Self.partnerIssuer)]))
        }
    }

    @Test("without authorization_servers there is no bridge: no bridge key, no /bridge routes")
    func noBridgeWithoutConfiguration() async throws {
        let deployment = try TestDeployment()
        try await withServer(deployment, clock: TestClock(jwtBearerStart)) { client, server in
            let status = try await client.execute(uri: "/bridge/jwks.json", method: .get).status
            #expect(status == .notFound)
            let purposes = try await server.store.signingKeys().map(\.purpose)
            #expect(purposes == [.access])
            // Even without a bridge, a token claiming the bridge issuer is ours, never an IdP's.
            var claims = TestIdP.claims(now: TestClock(jwtBearerStart).now())
            claims["iss"] = .string(Self.bridgeIssuer)
            try await expectRefusal(try await client.redeem(try deployment.idp.sign(claims)), error: "invalid_grant", reason: "self_issued",
                                    server: server)
        }
    }
}
