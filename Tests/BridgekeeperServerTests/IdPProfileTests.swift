import BridgekeeperAudit
import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing
import BridgekeeperTesting

// The IdP profiles (`profile: okta | entra | keycloak | oidc`) end to end: an ID token shaped like
// each vendor's (the claim sets in idp-fixtures/, signed here with a test key) is exchanged at
// POST /token for access tokens to several catalog servers with one sign-in, and each profile's
// rules refuse what they must. Keys come from a jwks_file, or through OIDC discovery from a
// loopback IdP.

/// A claim set from `idp-fixtures/<path>` (unsigned JSON), with its times moved to `now`.
func fixtureClaims(_ path: String, now: Date) throws -> JSONObject {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let data = try Data(contentsOf: root.appendingPathComponent("idp-fixtures").appendingPathComponent(path))
    guard case .object(var claims) = try JSONValue.parse(Array(data)) else { throw JOSEError(.malformed, "\(path) is not an object") }
    let iat = Int64(now.timeIntervalSince1970)
    claims["iat"] = .number(JSONNumber(iat))
    claims["exp"] = .number(JSONNumber(iat + 3600))
    if claims["nbf"] != nil { claims["nbf"] = .number(JSONNumber(iat)) }
    if claims["auth_time"] != nil { claims["auth_time"] = .number(JSONNumber(iat - 5)) }
    return claims
}

/// The test deployment plus the profile's IdP `vendor` (`idp`, YAML of one list item; the test
/// IdP's key in idp-jwks.json unless it says otherwise), mcp-client's id there, and `policy` items.
func profileDeployment(idp: String, upstreamClientID: String, policy: String, extra: String = "") throws -> TestDeployment {
    try TestDeployment(extra: extra, idpExtra: idp, upstreamClientIDs: ["vendor": upstreamClientID], policy: policy)
}

@Suite("IdP profiles: Okta, Entra ID, Keycloak and OIDC discovery through the identity bridge")
struct IdPProfileTests: JWTBearerTesting {
    static let tenantA = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
    static let tenantB = "bbbbcccc-1111-dddd-2222-eeee3333ffff"
    static let entraApp = "11112222-bbbb-3333-cccc-4444dddd5555"
    static let engineeringGroup = "0a1b2c3d-1111-4a5b-8c6d-7e8f90a1b2c3"

    func exchange(_ client: any TestClientProtocol, _ idToken: String, resource: String = TestDeployment.githubResource) async throws -> TestResponse {
        try await client.exchange(idToken, resource: resource)
    }

    func scope(_ response: TestResponse) -> String? { response.json?["scope"]?.stringValue }

    // MARK: - Entra ID

    var entraIdP: String {
        """
          - name: vendor
            profile: entra
            jwks_file: idp-jwks.json
            tenant:
              allowed: [\(Self.tenantA), \(Self.tenantB)]
        """
    }

    /// Engineers of the profile's IdP (`vendor`) read and write on github.
    static let vendorEngineeringPolicy = """
              - id: vendor-engineering-github
                effect: allow
                groups: [engineering]
                idp: vendor
                servers: [github]
                categories: [read, write]
            """

    var entraPolicy: String {
        """
          - id: entra-engineering-group
            effect: allow
            groups: [\(Self.engineeringGroup)]
            idp: vendor
            tenants: ["*"]
            servers: [github]
            categories: [read]
          - id: entra-writers-role
            effect: allow
            roles: [MCP.Tools.Write]
            idp: vendor
            tenants: ["*"]
            servers: [github]
            categories: [write]
        """
    }

    func withEntra(_ body: @Sendable (any TestClientProtocol, BridgekeeperServer, TestDeployment, TestClock) async throws -> Void) async throws {
        let deployment = try profileDeployment(idp: entraIdP, upstreamClientID: Self.entraApp, policy: entraPolicy)
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            try await body(client, server, deployment, clock)
        }
    }

    func entraToken(_ deployment: TestDeployment, now: Date, tenantInIssuer: String = tenantA, tid: String = tenantA,
                    change: (inout JSONObject) -> Void = { _ in }) throws -> String {
        var claims = try fixtureClaims("entra/id-token.json", now: now)
        claims["iss"] = .string("https://login.microsoftonline.com/\(tenantInIssuer)/v2.0")
        claims["tid"] = .string(tid)
        change(&claims)
        return try deployment.idp.idToken(claims)
    }

    @Test("Entra: the v2 issuer of each allowed tenant is accepted; the subject is tid + oid; GUID groups and app roles drive policy; two servers, one sign-in")
    func entraExchanges() async throws {
        try await withEntra { client, server, deployment, clock in
            for tenant in [Self.tenantA, Self.tenantB] {
                let idToken = try entraToken(deployment, now: clock.now(), tenantInIssuer: tenant, tid: tenant)
                let response = try await exchange(client, idToken)
                #expect(response.status == .ok, "\(response.text)")
                #expect(scope(response) == "tool:create_issue tool:search_code")
                let claims = try accessTokenClaims(try #require(response.json))
                #expect(claims["sub"] == .string("00aa00aa-bb11-cc22-dd33-44ee44ee44ee"), "oid, not the pairwise sub")
                #expect(claims["tenant"] == .string(tenant))
                #expect(claims["idp_iss"] == .string("https://login.microsoftonline.com/\(tenant)/v2.0"))
                let notion = try await exchange(client, idToken, resource: TestDeployment.notionResource)
                #expect(scope(notion) == "tool:search_pages", "\(notion.text)")
            }
            let record = try #require(try await auditTrail(server).last)
            #expect(record.event.tenant == Self.tenantB && record.event.subject == "00aa00aa-bb11-cc22-dd33-44ee44ee44ee")
        }
    }

    @Test("Entra: a tid that is not the tenant in iss is refused (tenant_not_allowed); a tenant not on the list is an untrusted issuer")
    func entraTenantRules() async throws {
        try await withEntra { client, server, deployment, clock in
            try await expectRefusal(try await exchange(client, try entraToken(deployment, now: clock.now(), tenantInIssuer: Self.tenantA, tid: Self.tenantB)),
                                    error: "invalid_request", reason: "tenant_not_allowed", server: server)
            try await expectRefusal(try await exchange(client, try entraToken(deployment, now: clock.now()) { $0["tid"] = nil }),
                                    error: "invalid_request", reason: "tenant_not_allowed", server: server)
            let other = "ccccdddd-2222-eeee-3333-ffff4444aaaa"
            try await expectRefusal(try await exchange(client, try entraToken(deployment, now: clock.now(), tenantInIssuer: other, tid: other)),
                                    error: "invalid_request", reason: "untrusted_issuer", server: server)
            // The multi-tenant template itself is never an issuer.
            try await expectRefusal(try await exchange(client, try entraToken(deployment, now: clock.now(), tenantInIssuer: "{tenantid}")),
                                    error: "invalid_request", reason: "untrusted_issuer", server: server)
        }
    }

    @Test("Entra: groups overage (_claim_names, or hasgroups) fails closed with groups_overage, even when a role would allow")
    func entraGroupsOverage() async throws {
        try await withEntra { client, server, deployment, clock in
            var overage = try fixtureClaims("entra/id-token-groups-overage.json", now: clock.now())
            overage["roles"] = .array(["MCP.Tools.Write"])
            try await expectRefusal(try await exchange(client, try deployment.idp.idToken(overage)), error: "invalid_request",
                                    reason: "groups_overage", server: server)
            let hasGroups = try entraToken(deployment, now: clock.now()) { claims in
                claims["groups"] = nil
                claims["hasgroups"] = .bool(true)
            }
            try await expectRefusal(try await exchange(client, hasGroups), error: "invalid_request", reason: "groups_overage", server: server)
        }
    }

    @Test("Entra: an ID token for another app (aud) is refused (wrong_audience); the pairwise sub is never the subject")
    func entraAudience() async throws {
        try await withEntra { client, server, deployment, clock in
            let otherApp = try entraToken(deployment, now: clock.now()) { $0["aud"] = .string("99998888-aaaa-7777-bbbb-666655554444") }
            try await expectRefusal(try await exchange(client, otherApp), error: "invalid_request", reason: "wrong_audience", server: server)
            let noOID = try entraToken(deployment, now: clock.now()) { $0["oid"] = nil }
            try await expectRefusal(try await exchange(client, noOID), error: "invalid_request", reason: "invalid_claim", server: server)
        }
    }

    // MARK: - Okta

    @Test("Okta (custom authorization server): the groups claim drives policy; expired and wrong-audience tokens are refused")
    func okta() async throws {
        let oktaIssuer = "https://example.okta.com/oauth2/default"
        let deployment = try profileDeployment(idp: """
              - name: vendor
                profile: okta
                issuer: \(oktaIssuer)
                jwks_file: idp-jwks.json
            """, upstreamClientID: "0oa9x7mcpc1ientXd7h8", policy: Self.vendorEngineeringPolicy)
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            var claims = try fixtureClaims("okta/id-token.json", now: clock.now())
            claims["iss"] = .string(oktaIssuer)
            let idToken = try deployment.idp.idToken(claims)
            let github = try await exchange(client, idToken)
            #expect(scope(github) == "tool:create_issue tool:search_code", "\(github.text)")
            #expect(try accessTokenClaims(try #require(github.json))["sub"] == .string("00u8f3kq1wLmZxY2a5d7"))
            #expect(scope(try await exchange(client, idToken, resource: TestDeployment.notionResource)) == "tool:search_pages")

            // The org authorization server is another issuer: not this IdP.
            claims["iss"] = .string("https://example.okta.com")
            try await expectRefusal(try await exchange(client, try deployment.idp.idToken(claims)), error: "invalid_request",
                                    reason: "untrusted_issuer", server: server, issued: 2)
            claims["iss"] = .string(oktaIssuer)
            clock.advance(3600 + 61)
            try await expectRefusal(try await exchange(client, idToken), error: "invalid_request", reason: "expired", server: server, issued: 2)
        }
    }

    @Test("Okta: the profile accepts RS256 only")
    func oktaAlgorithms() throws {
        let deployment = try profileDeployment(idp: """
              - name: vendor
                profile: okta
                issuer: https://example.okta.com
                jwks_file: idp-jwks.json
            """, upstreamClientID: "0oa-app", policy: "")
        let configuration = try deployment.configuration()
        #expect(configuration.idps.last?.algorithms == [.rs256])
        #expect(configuration.idps.last?.subjectClaim == "sub")
    }

    // MARK: - Keycloak

    @Test("Keycloak: realm roles from the nested realm_access.roles claim and group paths drive policy")
    func keycloak() async throws {
        let realm = "https://sso.example.com/realms/acme"
        let deployment = try profileDeployment(idp: """
              - name: vendor
                profile: keycloak
                issuer: \(realm)
                jwks_file: idp-jwks.json
            """, upstreamClientID: "mcp-client", policy: """
              - id: keycloak-writers
                effect: allow
                roles: [mcp-write]
                idp: vendor
                servers: [github]
                categories: [write]
              - id: keycloak-pilot-readers
                effect: allow
                groups: [/engineering/mcp-pilot]
                idp: vendor
                servers: [github]
                categories: [read]
            """)
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let claims = try fixtureClaims("keycloak/id-token.json", now: clock.now())
            let idToken = try deployment.idp.idToken(claims)
            let response = try await exchange(client, idToken)
            #expect(scope(response) == "tool:create_issue tool:search_code", "\(response.text)")
            #expect(scope(try await exchange(client, idToken, resource: TestDeployment.notionResource)) == "tool:search_pages")
            // Without the nested role, only the group rule applies.
            var noRole = claims
            noRole["realm_access"] = .object(JSONObject(["roles": .array(["offline_access"])]))
            #expect(scope(try await exchange(client, try deployment.idp.idToken(noRole))) == "tool:search_code")
            // Neither: no rule on github matches.
            var neither = noRole
            neither["groups"] = .array(["/sales"])
            try await expectRefusal(try await exchange(client, try deployment.idp.idToken(neither)), error: "invalid_request",
                                    reason: "no_matching_rule", server: server, issued: 3)
        }
    }

    // MARK: - Any OIDC provider, through discovery

    @Test("OIDC discovery: keys found through {issuer}/.well-known/openid-configuration; a document naming another issuer is refused")
    func discovery() async throws {
        let keys = try TestIdP()
        try await withLoopbackOIDC(jwks: try IdPKeysTests.jwks([keys.key])) { base, stateIssuer in
            let deployment = try profileDeployment(idp: """
                  - name: vendor
                    issuer: \(base)
                """, upstreamClientID: "oidc-app", policy: Self.vendorEngineeringPolicy, extra: "development:\n  allow_loopback_http: true")
            let clock = TestClock(jwtBearerStart)
            try await withServer(deployment, clock: clock) { client, server in
                var claims = TestIdP.idTokenClaims(now: clock.now(), audience: "oidc-app")
                claims["iss"] = .string(base)
                let idToken = try keys.idToken(claims)
                let response = try await exchange(client, idToken)
                #expect(response.status == .ok, "\(response.text)")
                #expect(scope(response) == "tool:create_issue tool:search_code")
                #expect(scope(try await exchange(client, idToken, resource: TestDeployment.notionResource)) == "tool:search_pages")
            }
            // A fresh server against a discovery document that names another issuer: no keys.
            stateIssuer("https://impostor.example")
            let laterClock = TestClock(jwtBearerStart)
            try await withServer(deployment, clock: laterClock) { client, server in
                var claims = TestIdP.idTokenClaims(now: laterClock.now(), audience: "oidc-app")
                claims["iss"] = .string(base)
                let response = try await exchange(client, try keys.idToken(claims))
                #expect(response.status == .badRequest, "\(response.text)")
                #expect(response.json?["error"] == .string("invalid_request"))
                let last = try #require(try await auditTrail(server).last)
                #expect(last.event.reason.rawValue == "idp_keys_unavailable")
            }
        }
    }
}

/// A loopback OIDC provider for discovery: `/.well-known/openid-configuration` (whose `issuer`
/// is the base URL unless the test changes it) and `/keys`. `body` gets the base URL and the
/// stated issuer's box.
func withLoopbackOIDC(jwks: String, _ body: (String, @Sendable (String?) -> Void) async throws -> Void) async throws {
    final class State: Sendable {
        let base = Mutex("")
        let stated = Mutex<String?>(nil)
    }
    let state = State()
    let router = Router()
    router.get("/.well-known/openid-configuration") { _, _ in
        let base = state.base.withLock { $0 }
        let issuer = state.stated.withLock { $0 } ?? base
        let document = JSONValue.object(JSONObject(["issuer": .string(issuer), "jwks_uri": .string(base + "/keys"),
                                                    "response_types_supported": .array(["code"])])).serialized()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: document)))
    }
    router.get("/keys") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: jwks)))
    }
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        let base = "http://127.0.0.1:\(port)"
        state.base.withLock { $0 = base }
        do {
            try await body(base) { issuer in state.stated.withLock { $0 = issuer } }
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
    }
}
