import BridgekeeperJOSE
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The whole bridge chain between two real Bridgekeepers on loopback, driven and checked by software
/// we did not write:
/// - **A, the bridge**, trusts the test IdP's ID tokens and knows one third-party authorization server,
///   `downstream` = B, in front of the catalog server `crm`. A client exchanges a person's ID token at A
///   (RFC 8693) for an ID-JAG that A's bridge issuer (`{A}/bridge`) signs, for B.
/// - **B, the third party**, is an ordinary Bridgekeeper whose only IdP is A's bridge issuer (keys from
///   `{A}/bridge/jwks.json`); it redeems the ID-JAG (RFC 7523 jwt-bearer) for an access token to `crm`.
@Suite("Interop: the bridge chain (ID token → ID-JAG at A → access token at B)", .serialized)
struct BridgeInteropTests {
    @Test("the MCP Python SDK redeems a bridge ID-JAG at B: its assertion provider exchanges the ID token at A for B's audience")
    func sdkRedeemsBridgeIDJAG() async throws {
        try await withBridgeChain { bridge, thirdParty in
            let run = try await thirdParty.python("mcp_sdk_redeem.py", [
                "--issuer", thirdParty.issuer, "--server-url", BridgeChain.crmResource,
                "--client-id", BridgeChain.clientAtB, "--client-secret", Broker.clientSecret, "--auth-method", "client_secret_basic",
                "--exchange-at", bridge.issuer, "--id-token", try bridge.idToken(),
                "--exchange-client-id", BridgeChain.bridgeClient, "--exchange-client-secret", Broker.clientSecret,
                "--strict-metadata",
            ])
            if run.status == 3 {
                Issue.record("the MCP Python SDK (mcp 2.3.0) is not installed: run scripts/install-deps. \(run.stdout)")
                throw InteropFailure.missingPythonPackage
            }
            #expect(run.status == 0, "mcp_sdk_redeem.py failed\nstdout: \(run.stdout)\nstderr: \(run.stderr)")
            let out = try #require(run.json, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
            #expect(out["sdk"]?.objectValue?["version"]?.stringValue == "2.3.0")
            #expect(out["workarounds"]?.arrayValue?.isEmpty == true)

            // The SDK asked its assertion provider for an ID-JAG whose audience is B's issuer (the one it
            // was configured with) and whose resource is crm; the provider used exactly those at A.
            #expect(out["assertion_requests"] == .array([.object(JSONObject([
                "audience": .string(thirdParty.issuer), "resource": .string(BridgeChain.crmResource)]))]))
            let exchanges = out["bridge_exchanges"]?.arrayValue?.compactMap(\.objectValue) ?? []
            #expect(exchanges.count == 1)
            let exchange = try #require(exchanges.first)
            #expect(exchange["url"]?.stringValue == bridge.issuer + "/token")
            #expect(exchange["audience"]?.stringValue == thirdParty.issuer)
            #expect(exchange["resource"]?.stringValue == BridgeChain.crmResource)
            #expect(exchange["status"]?.numberValue?.exactInteger == 200)
            #expect(exchange["cache_control"]?.stringValue == "no-store")
            // A's RFC 8693 response: an ID-JAG, N_A, with what A's policy grants alice on crm.
            let response = exchange["response"]?.objectValue
            #expect(response?["issued_token_type"]?.stringValue == BridgeChain.idJAGType)
            #expect(response?["token_type"]?.stringValue == "N_A")
            #expect(response?["expires_in"]?.numberValue?.exactInteger == 300)
            #expect(scopes(response?["scope"]) == BridgeChain.bridgeScopes)
            let idJAG = exchange["id_jag"]?.objectValue
            #expect(idJAG?["header"]?.objectValue?["typ"]?.stringValue == "oauth-id-jag+jwt")
            let idJAGClaims = idJAG?["claims"]?.objectValue
            #expect(idJAGClaims?["iss"]?.stringValue == bridge.issuer + "/bridge")
            #expect(idJAGClaims?["aud"]?.stringValue == thirdParty.issuer)
            #expect(idJAGClaims?["client_id"]?.stringValue == BridgeChain.clientAtB)
            #expect(idJAGClaims?["resource"]?.stringValue == BridgeChain.crmResource)
            #expect(idJAGClaims?["sub"]?.stringValue == BridgeChain.subject)

            // The SDK redeemed it at B itself (jwt-bearer, client_secret_basic), once.
            let http = out["http"]?.arrayValue?.compactMap(\.objectValue) ?? []
            let tokenRequests = http.filter { $0["url"]?.stringValue == thirdParty.issuer + "/token" }
            #expect(tokenRequests.count == 1)
            #expect(tokenRequests.first?["status"]?.numberValue?.exactInteger == 200)
            #expect(tokenRequests.first?["form_parameters"] == .array(["grant_type", "assertion", "client_id", "resource"].map(JSONValue.string)))
            #expect(tokenRequests.first?["authorization_scheme"]?.stringValue == "Basic")
            #expect(!http.contains { $0["url"]?.stringValue?.hasPrefix(bridge.issuer) == true },
                    "the SDK talks only to its configured issuer and the MCP server")

            // B's token: B's own policy (everyone: read) on top of the ID-JAG's grant, as the SDK stored it.
            let token = out["token"]?.objectValue
            #expect(token?["token_type"]?.stringValue == "Bearer")
            #expect(scopes(token?["scope"]) == BridgeChain.thirdPartyScopes)
            // The MCP server (the SDK's, with joserfc against B's JWKS) accepted B's token and ran the tool.
            let seen = out["verified_by_mcp_server"]?.objectValue
            #expect(seen?["header"]?.objectValue?["typ"]?.stringValue == "at+jwt")
            let claims = seen?["claims"]?.objectValue
            #expect(claims?["iss"]?.stringValue == thirdParty.issuer)
            #expect(claims?["idp_iss"]?.stringValue == bridge.issuer + "/bridge", "B's token names A's bridge issuer as the IdP")
            #expect(claims?["sub"]?.stringValue == BridgeChain.subject, "the person's subject at the upstream IdP, carried through")
            #expect(claims?["aud"]?.stringValue == BridgeChain.crmResource)
            #expect(claims?["client_id"]?.stringValue == BridgeChain.clientAtB)
            let tool = out["tool_result"]?.objectValue
            #expect(tool?["client_id"]?.stringValue == BridgeChain.clientAtB)
            #expect(tool?["subject"]?.stringValue == BridgeChain.subject)
            #expect(Set(tool?["scopes"]?.arrayValue?.compactMap(\.stringValue) ?? []) == BridgeChain.thirdPartyScopes)
        }
    }

    @Test("joserfc and PyJWT both verify the bridge's ID-JAG (typ oauth-id-jag+jwt, bridge JWKS and issuer, B's audience) and reject it for another audience")
    func joseLibrariesVerifyBridgeIDJAG() async throws {
        try await withBridgeChain { bridge, thirdParty in
            let idToken = try bridge.idToken(amr: ["pwd", "mfa"])
            let issued = try await bridge.requestIDJAG(idToken, audience: thirdParty.issuer)
            #expect(issued.status == 200, "\(issued.text)")
            let idJAG = try #require(issued.json?["access_token"]?.stringValue, "\(issued.text)")

            let run = try await bridge.python("verify_minted.py", ["--kind", "id-jag", "--issuer", bridge.issuer,
                                                                   "--audience", thirdParty.issuer, "--token", idJAG])
            #expect(run.status == 0, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
            #expect(run.json?["jwks_uri"]?.stringValue == bridge.issuer + "/bridge/jwks.json")
            #expect(run.json?["expected_issuer"]?.stringValue == bridge.issuer + "/bridge")
            let idTokenClaims = try UnverifiedJWS(compact: idToken).unverifiedClaims()
            for library in ["joserfc", "pyjwt"] {
                let result = run.json?[library]?.objectValue
                #expect(result?["ok"] == .bool(true), "\(library): \(result?["error"] ?? .null)")
                let header = result?["header"]?.objectValue
                #expect(header?["typ"]?.stringValue == "oauth-id-jag+jwt", "\(library)")
                #expect(header?["alg"]?.stringValue == "ES256", "\(library)")
                let claims = result?["claims"]?.objectValue
                #expect(claims?["iss"]?.stringValue == bridge.issuer + "/bridge", "\(library)")
                #expect(claims?["aud"]?.stringValue == thirdParty.issuer, "\(library)")
                #expect(claims?["sub"]?.stringValue == BridgeChain.subject, "\(library)")
                #expect(claims?["client_id"]?.stringValue == BridgeChain.clientAtB, "\(library)")
                #expect(claims?["resource"]?.stringValue == BridgeChain.crmResource, "\(library)")
                #expect(scopes(claims?["scope"]) == BridgeChain.bridgeScopes, "\(library)")
                #expect(claims?["email"]?.stringValue == "alice@example.com", "\(library)")
                #expect(claims?["amr"] == .array(["pwd", "mfa"].map(JSONValue.string)), "\(library)")
                #expect(claims?["auth_time"] == idTokenClaims["auth_time"], "\(library)")
                #expect(claims?["groups"] == nil, "\(library): the ID-JAG carries no groups")
                let iat = claims?["iat"]?.numberValue?.exactInteger ?? 0
                let exp = claims?["exp"]?.numberValue?.exactInteger ?? Int64.max
                #expect(exp > iat && exp - iat <= 300, "\(library): exp − iat = \(exp - iat)")
            }

            // Told to expect another audience (A's own issuer), both refuse it.
            let other = try await bridge.python("verify_minted.py", ["--kind", "id-jag", "--issuer", bridge.issuer,
                                                                     "--audience", bridge.issuer, "--token", idJAG])
            #expect(other.status == 1, "stdout: \(other.stdout)\nstderr: \(other.stderr)")
            let joserfc = other.json?["joserfc"]?.objectValue
            #expect(joserfc?["ok"] == .bool(false))
            #expect(joserfc?["error"]?.stringValue?.contains("'aud'") == true, "\(joserfc?["error"] ?? .null)")
            let pyjwt = other.json?["pyjwt"]?.objectValue
            #expect(pyjwt?["ok"] == .bool(false))
            #expect(pyjwt?["error"]?.stringValue?.contains("InvalidAudienceError") == true, "\(pyjwt?["error"] ?? .null)")
        }
    }

    @Test("A never redeems its own ID-JAG (invalid_grant, issued by Bridgekeeper itself); B redeems it once and refuses the replay (invalid_grant)")
    func selfIssuedAndReplay() async throws {
        try await withBridgeChain { bridge, thirdParty in
            let idToken = try bridge.idToken()
            let issued = try await bridge.requestIDJAG(idToken, audience: thirdParty.issuer)
            let idJAG = try #require(issued.json?["access_token"]?.stringValue, "\(issued.text)")

            // A, offered its own ID-JAG on its jwt-bearer grant, as the client would present it.
            let atBridge = try await bridge.redeem(idJAG, client: BridgeChain.bridgeClient)
            #expect(atBridge.status == 400, "\(atBridge.text)")
            #expect(atBridge.json?["error"]?.stringValue == "invalid_grant", "\(atBridge.text)")
            #expect(atBridge.json?["error_description"]?.stringValue?.contains("issued by Bridgekeeper itself") == true, "\(atBridge.text)")
            #expect(atBridge.json?["access_token"] == nil)

            // B: the first redemption succeeds (A's refusal above did not consume it at B) ...
            let first = try await thirdParty.redeem(idJAG, client: BridgeChain.clientAtB)
            #expect(first.status == 200, "\(first.text)")
            #expect(first.json?["token_type"]?.stringValue == "Bearer")
            let accessToken = try #require(first.json?["access_token"]?.stringValue, "\(first.text)")
            let claims = try UnverifiedJWS(compact: accessToken).unverifiedClaims()
            #expect(claims["iss"]?.stringValue == thirdParty.issuer)
            #expect(claims["idp_iss"]?.stringValue == bridge.issuer + "/bridge")
            #expect(claims["sub"]?.stringValue == BridgeChain.subject)
            #expect(claims["aud"]?.stringValue == BridgeChain.crmResource)
            #expect(scopes(first.json?["scope"]) == BridgeChain.thirdPartyScopes)

            // ... the same ID-JAG a second time is a replay.
            let replay = try await thirdParty.redeem(idJAG, client: BridgeChain.clientAtB)
            #expect(replay.status == 400, "\(replay.text)")
            #expect(replay.json?["error"]?.stringValue == "invalid_grant", "\(replay.text)")
            #expect(replay.json?["error_description"]?.stringValue?.contains("already used") == true, "\(replay.text)")
            #expect(replay.json?["access_token"] == nil)
            #expect(replay.cacheControl == "no-store")

            // A fresh ID-JAG from the same ID token (its own jti) is redeemed: the refusal was the replay.
            let again = try await bridge.requestIDJAG(idToken, audience: thirdParty.issuer)
            let fresh = try #require(again.json?["access_token"]?.stringValue, "\(again.text)")
            let freshID = try UnverifiedJWS(compact: fresh).unverifiedClaims()["jti"]?.stringValue
            let firstID = try UnverifiedJWS(compact: idJAG).unverifiedClaims()["jti"]?.stringValue
            #expect(freshID != nil && freshID != firstID)
            let second = try await thirdParty.redeem(fresh, client: BridgeChain.clientAtB)
            #expect(second.status == 200, "\(second.text)")
        }
    }

    func scopes(_ value: JSONValue?) -> Set<String> {
        Set((value?.stringValue ?? "").split(separator: " ").map(String.init))
    }
}

// MARK: - The two deployments

/// Names and YAML of the chain. Brokers start in order: A (index 0), then B (index 1).
enum BridgeChain {
    /// The client's id at the test IdP: the `aud` of the ID tokens it exchanges at A.
    static let upstreamClientID = "0oa-upstream-bridge-client"
    /// The client at A (token exchange).
    static let bridgeClient = "bridge-client"
    /// The same client's id at B: what A maps it to (`authorization_server_client_ids`), the ID-JAG's `client_id`.
    static let clientAtB = "crm-client-at-b"
    static let crmResource = "https://mcp.test.example/crm"
    static let subject = "00u-alice"
    static let idJAGType = "urn:ietf:params:oauth:token-type:id-jag"
    /// What A's policy lets alice (engineering) have on crm: read and write, not destructive.
    static let bridgeScopes: Set<String> = ["tool:read_accounts", "tool:update_account"]
    /// What B's own policy allows anyone on crm: read only.
    static let thirdPartyScopes: Set<String> = ["tool:read_accounts"]

    static let crmTools = """
            tools:
              - { name: read_accounts, category: read }
              - { name: update_account, category: write }
              - { name: drop_accounts, category: destructive }
        """

    /// A: the test IdP (RS256 ID tokens from the jwks_file), B as the `downstream` authorization server
    /// in front of crm, and a client with an id at the IdP and one at B.
    static func bridgeYAML(_ setup: BrokerSetup) -> String {
        """
        \(Broker.preamble(port: setup.port))
        idps:
          - name: interop-idp
            issuer: \(Broker.idpIssuer)
            jwks_file: idp-jwks.json
            algorithms: [RS256]
        authorization_servers:
          - name: downstream
            issuer: \(setup.issuer(of: 1))
        clients:
          - id: \(bridgeClient)
            secret_hash: "\(setup.secretHash)"
            auth_methods: [client_secret_basic, client_secret_post]
            idp_client_ids: {interop-idp: \(upstreamClientID)}
            authorization_server_client_ids: {downstream: \(clientAtB)}
            servers: [crm]
        servers:
          - name: crm
            resource: \(crmResource)
            authorization_server: downstream
        \(crmTools)
        policy:
          - id: engineering-crm
            effect: allow
            groups: [engineering]
            servers: [crm]
            categories: [read, write]
        """
    }

    /// B: an ordinary Bridgekeeper (crm's own authorization server) whose one IdP is A's bridge issuer.
    static func thirdPartyYAML(_ setup: BrokerSetup) -> String {
        let bridgeIssuer = setup.issuer(of: 0) + "/bridge"
        return """
        \(Broker.preamble(port: setup.port))
        idps:
          - name: bridge
            issuer: \(bridgeIssuer)
            jwks_uri: \(bridgeIssuer)/jwks.json
            algorithms: [ES256]
        clients:
          - id: \(clientAtB)
            secret_hash: "\(setup.secretHash)"
            auth_methods: [client_secret_basic, client_secret_post]
            servers: [crm]
        servers:
          - name: crm
            resource: \(crmResource)
        \(crmTools)
        policy:
          # B sees groups only when the ID-JAG carries them, and A's ID-JAGs carry none (A's policy
          # already decided on them): so B can only match people with an everyone rule. Read only,
          # narrower than A's read and write, so B's token shows B's own policy applied.
          - id: everyone-crm-read
            effect: allow
            everyone: true
            servers: [crm]
            categories: [read]
        """
    }
}

/// Starts A then B (`BridgeChain`), runs `body(A, B)`, stops both.
func withBridgeChain(_ body: (_ bridge: Broker, _ thirdParty: Broker) async throws -> Void) async throws {
    try await withBrokers([BridgeChain.bridgeYAML, BridgeChain.thirdPartyYAML]) { brokers in
        try await body(brokers[0], brokers[1])
    }
}

/// A `/token` answer: status, body, and `Cache-Control`.
struct TokenResponse: Sendable {
    let status: Int
    let text: String
    let cacheControl: String?
    var json: JSONObject? {
        guard case .object(let object) = try? JSONValue.parse(text) else { return nil }
        return object
    }
}

extension Broker {
    /// An OIDC ID token from the test IdP for alice (group engineering), issued to the bridge client there.
    func idToken(amr: [String]? = nil) throws -> String {
        let iat = Int64(Date().timeIntervalSince1970)
        var claims = JSONObject([
            "iss": .string(Self.idpIssuer), "sub": .string(BridgeChain.subject), "aud": .string(BridgeChain.upstreamClientID),
            "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + 600)), "auth_time": .number(JSONNumber(iat - 30)),
            "nonce": .string("n-0S6_WzA2Mj"), "groups": .array([.string("engineering")]), "email": .string("alice@example.com"), "email_verified": .bool(true),
        ])
        if let amr { claims["amr"] = .array(amr.map(JSONValue.string)) }
        return try idpKey.signJWT(type: "JWT", claims: claims)
    }

    /// RFC 8693 at this broker as the bridge client: the ID token for an ID-JAG for `audience` and crm.
    func requestIDJAG(_ idToken: String, audience: String) async throws -> TokenResponse {
        try await postToken([
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("subject_token", idToken),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), ("requested_token_type", BridgeChain.idJAGType),
            ("audience", audience), ("resource", BridgeChain.crmResource),
        ], client: BridgeChain.bridgeClient)
    }

    /// RFC 7523 jwt-bearer at this broker: `assertion` for crm, as `client`.
    func redeem(_ assertion: String, client: String) async throws -> TokenResponse {
        try await postToken([("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion),
                             ("resource", BridgeChain.crmResource)], client: client)
    }

    /// A form POST to `/token` with `client_secret_basic` (ids and secrets here need no form-encoding).
    func postToken(_ pairs: [(String, String)], client: String, secret: String = Broker.clientSecret) async throws -> TokenResponse {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        var request = URLRequest(url: URL(string: issuer + "/token")!)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.setValue("Basic " + Data("\(client):\(secret)".utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        request.httpBody = Data(pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&").utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return TokenResponse(status: http?.statusCode ?? 0, text: String(decoding: data, as: UTF8.self),
                             cacheControl: http?.value(forHTTPHeaderField: "Cache-Control"))
    }
}
