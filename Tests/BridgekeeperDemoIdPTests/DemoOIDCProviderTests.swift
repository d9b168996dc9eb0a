import BridgekeeperCore
import BridgekeeperDemoIdP
import BridgekeeperFetch
import BridgekeeperJOSE
import Foundation
import Synchronization
import Testing
import BridgekeeperTesting

/// The demo OIDC provider over HTTP on loopback: what `bridgekeeper login` relies on it to check.
@Suite("Demo OIDC provider")
struct DemoOIDCProviderTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("idp-fixtures/demo-idp").path
    static let client = DemoOIDCProvider.Settings.demoClientID
    static let fetcher: CurlFetcher = {
        var settings = CurlFetcher.Settings()
        settings.allowLoopbackHTTP = true
        return CurlFetcher(settings: settings)
    }()

    /// Runs `body` against a provider started on a free port.
    static func withProvider(clock: TestClock = TestClock(), _ adjust: (inout DemoOIDCProvider.Settings) -> Void = { _ in },
                             _ body: (String, DemoOIDCProvider) async throws -> Void) async throws {
        var settings = try DemoOIDCProvider.Settings.demo(fixtures: fixtures)
        adjust(&settings)
        let provider = DemoOIDCProvider(settings: settings, clock: clock)
        let running = try await provider.start()
        do { try await body(running.issuer, provider) } catch {
            await running.stop()
            throw error
        }
        await running.stop()
    }

    static func get(_ url: String) async throws -> FetchedDocument {
        var request = HTTPRequest(url: url)
        request.returnRedirects = true
        return try await fetcher.send(request)
    }

    static func post(_ url: String, _ pairs: [(String, String)]) async throws -> FetchedDocument {
        var request = HTTPRequest.form(url, pairs)
        request.returnRedirects = true
        return try await fetcher.send(request)
    }

    static func json(_ document: FetchedDocument) throws -> JSONObject { try #require(try JSONValue.parse(document.body).objectValue) }

    /// The query parameters of a redirect.
    static func query(_ location: String) throws -> FormParameters {
        let query = try #require(location.split(separator: "?", maxSplits: 1).last)
        return try FormParameters(Array(query.utf8))
    }

    /// A valid authorization request's parameters.
    static func request(redirect: String = "http://127.0.0.1:5000/callback", challenge: String, scope: String = "openid email offline_access",
                        extra: [(String, String)] = []) -> [(String, String)] {
        [("client_id", client), ("redirect_uri", redirect), ("response_type", "code"), ("scope", scope), ("state", "s-1"), ("nonce", "n-1"),
         ("code_challenge", challenge), ("code_challenge_method", "S256")] + extra
    }

    /// Signs alice in and returns the code.
    static func code(_ issuer: String, verifier: String, scope: String = "openid email offline_access") async throws -> String {
        let answer = try await post(issuer + "/authorize", request(challenge: challenge(verifier), scope: scope) + [("username", "alice")])
        #expect(answer.status == 302)
        let parameters = try query(try #require(answer.location))
        #expect(parameters.value("state") == "s-1")
        #expect(parameters.value("iss") == issuer)
        return try #require(parameters.value("code"))
    }

    static func challenge(_ verifier: String) -> String { Base64URL.encode(Digest.sha256(Array(verifier.utf8))) }

    static func redeem(_ issuer: String, code: String, verifier: String, redirect: String = "http://127.0.0.1:5000/callback",
                       client: String = client) async throws -> FetchedDocument {
        try await post(issuer + "/token", [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect),
                                           ("client_id", client), ("code_verifier", verifier)])
    }

    static let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    @Test("discovery lists the endpoints, code + S256 and RS256; the JWKS is the demo RS256 key")
    func discovery() async throws {
        try await Self.withProvider { issuer, _ in
            let document = try Self.json(try await Self.get(issuer + "/.well-known/openid-configuration"))
            #expect(document["issuer"] == .string(issuer))
            #expect(document["authorization_endpoint"] == .string(issuer + "/authorize"))
            #expect(document["token_endpoint"] == .string(issuer + "/token"))
            #expect(document["jwks_uri"] == .string(issuer + "/jwks.json"))
            #expect(document["response_types_supported"] == .array(["code"]))
            #expect(document["code_challenge_methods_supported"] == .array(["S256"]))
            #expect(document["grant_types_supported"] == .array(["authorization_code", "refresh_token"]))
            #expect(document["id_token_signing_alg_values_supported"] == .array(["RS256"]))
            #expect(document["subject_types_supported"] == .array(["public"]))
            #expect(document["scopes_supported"]?.arrayValue?.contains("openid") == true)
            let served = try JWKSet(bytes: try await Self.get(issuer + "/jwks.json").body)
            let fixture = try JWKSet(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/jwks.json"))))
            let key = try #require(served.keys.first)
            #expect(served.keys.count == 1)
            #expect(key.keyID == "demo-rs256")
            #expect(try key.thumbprint() == (try fixture.keys.first { $0.keyID == "demo-rs256" }!.thumbprint()))
        }
    }

    @Test("an unknown client or a redirect_uri that is not a registered loopback URI gets an error page, never a redirect",
          arguments: ["https://127.0.0.1:5000/callback", "http://localhost:5000/callback", "http://127.0.0.1:5000/other",
                      "http://127.0.0.1/callback", "http://127.0.0.1:5000/callback?x=1", "http://127.0.0.1:99999/callback",
                      "http://127.0.0.1:5000/callback#f", "http://127.0.0.2:5000/callback", "http://127.0.0.1:5000/callback/"])
    func badRedirect(_ redirect: String) async throws {
        try await Self.withProvider { issuer, _ in
            let answer = try await Self.get(issuer + "/authorize?" + HTTPRequest.formEncoded(Self.request(redirect: redirect, challenge: Self.challenge(Self.verifier))))
            #expect(answer.status == 400)
            #expect(answer.location == nil)
            #expect(String(decoding: answer.body, as: UTF8.self).contains("redirect_uri is not registered"))
        }
    }

    @Test("loopback redirect URIs on any port, IPv4 or IPv6, are accepted (RFC 8252 §7.3); an unknown client is refused")
    func loopbackRedirects() async throws {
        try await Self.withProvider { issuer, _ in
            for redirect in ["http://127.0.0.1:5000/callback", "http://127.0.0.1:1/callback", "http://[::1]:65535/callback"] {
                let answer = try await Self.get(issuer + "/authorize?" + HTTPRequest.formEncoded(Self.request(redirect: redirect, challenge: Self.challenge(Self.verifier))))
                #expect(answer.status == 200, "\(redirect)")
                #expect(String(decoding: answer.body, as: UTF8.self).contains(#"<input type="hidden" name="redirect_uri" value="\#(redirect)">"#))
            }
            var unknown = Self.request(challenge: Self.challenge(Self.verifier))
            unknown[0] = ("client_id", "someone-else")
            let answer = try await Self.get(issuer + "/authorize?" + HTTPRequest.formEncoded(unknown))
            #expect(answer.status == 400)
            #expect(answer.location == nil)
        }
    }

    @Test("with a trusted redirect URI, a bad request is told at the redirect URI with state and iss", arguments: [
        ("response_type", "token", "unsupported_response_type"),
        ("code_challenge_method", "plain", "invalid_request"),
        ("code_challenge", "too-short", "invalid_request"),
        ("code_challenge", nil, "invalid_request"),
        ("scope", "email", "invalid_scope"),
    ] as [(String, String?, String)])
    func redirectedErrors(_ name: String, _ value: String?, _ error: String) async throws {
        try await Self.withProvider { issuer, _ in
            let pairs = Self.request(challenge: Self.challenge(Self.verifier)).compactMap { pair -> (String, String)? in
                pair.0 == name ? value.map { (name, $0) } : pair
            }
            let answer = try await Self.get(issuer + "/authorize?" + HTTPRequest.formEncoded(pairs))
            #expect(answer.status == 302)
            let location = try #require(answer.location)
            #expect(location.hasPrefix("http://127.0.0.1:5000/callback?"))
            let parameters = try Self.query(location)
            #expect(parameters.value("error") == error)
            #expect(parameters.value("state") == "s-1")
            #expect(parameters.value("iss") == issuer)
            #expect(parameters.value("code") == nil)
        }
    }

    @Test("the code flow: an RS256 ID token (typ JWT, kid demo-rs256) with the OIDC claims, verifiable with the fixture JWKS; no-store")
    func codeFlow() async throws {
        let clock = TestClock()
        try await Self.withProvider(clock: clock) { issuer, provider in
            let code = try await Self.code(issuer, verifier: Self.verifier)
            clock.advance(5)
            let answer = try await Self.redeem(issuer, code: code, verifier: Self.verifier)
            #expect(answer.status == 200)
            #expect(answer.cacheControl == "no-store")
            let body = try Self.json(answer)
            #expect(body["token_type"] == "Bearer")
            #expect(body["scope"] == "openid email offline_access")
            #expect(body["refresh_token"]?.stringValue != nil)
            let idToken = try #require(body["id_token"]?.stringValue)
            let keys = try JWKSet(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/jwks.json"))))
            let verified = try JWTVerifier(kind: .idToken, signatures: JWSVerifier(keys: keys, algorithms: [.rs256]),
                                           rules: ClaimRules(issuer: issuer, audience: Self.client)).verify(idToken, now: clock.now())
            #expect(verified.header["typ"] == "JWT")
            #expect(verified.keyID == "demo-rs256")
            let claims = verified.claims.object
            let now = Int64(clock.now().timeIntervalSince1970)
            #expect(claims["sub"] == "00u-alice")
            #expect(claims["nonce"] == "n-1")
            #expect(claims["email"] == "alice@example.com")
            #expect(claims["groups"] == .array(["engineering", "mcp-users"]))
            #expect(claims["iat"]?.numberValue?.exactInteger == now)
            #expect(claims["exp"]?.numberValue?.exactInteger == now + 3600)
            #expect(claims["auth_time"]?.numberValue?.exactInteger == now - 5)
            #expect(claims["jti"]?.stringValue != nil)
            #expect(provider.statistics == DemoOIDCProvider.Statistics(codesIssued: 1, codesRedeemed: 1, refreshes: 0))
        }
    }

    @Test("a code works once, only with its verifier, redirect_uri and client, and for 60 s")
    func codeRules() async throws {
        let clock = TestClock()
        try await Self.withProvider(clock: clock) { issuer, _ in
            func refused(_ answer: FetchedDocument, _ description: String) throws {
                #expect(answer.status == 400)
                #expect(answer.cacheControl == "no-store")
                let body = try Self.json(answer)
                #expect(body["error"] == "invalid_grant")
                #expect(body["error_description"] == .string(description))
            }
            // Used twice.
            var code = try await Self.code(issuer, verifier: Self.verifier)
            #expect(try await Self.redeem(issuer, code: code, verifier: Self.verifier).status == 200)
            try refused(try await Self.redeem(issuer, code: code, verifier: Self.verifier), "the code is unknown, used or expired")
            // Wrong verifier: refused, and the code is spent.
            code = try await Self.code(issuer, verifier: Self.verifier)
            try refused(try await Self.redeem(issuer, code: code, verifier: SecureRandom.identifier(bytes: 32)),
                        "code_verifier does not match the code_challenge (RFC 7636 4.6)")
            try refused(try await Self.redeem(issuer, code: code, verifier: Self.verifier), "the code is unknown, used or expired")
            // Another redirect_uri.
            code = try await Self.code(issuer, verifier: Self.verifier)
            try refused(try await Self.redeem(issuer, code: code, verifier: Self.verifier, redirect: "http://127.0.0.1:5001/callback"),
                        "redirect_uri differs from the authorization request's")
            // Expired.
            code = try await Self.code(issuer, verifier: Self.verifier)
            clock.advance(61)
            try refused(try await Self.redeem(issuer, code: code, verifier: Self.verifier), "the code is unknown, used or expired")
        }
    }

    @Test("token endpoint errors follow RFC 6749 §5.2 with no-store")
    func tokenErrors() async throws {
        try await Self.withProvider { issuer, _ in
            let cases: [([(String, String)], Int, String)] = [
                ([("grant_type", "authorization_code"), ("code", "x"), ("redirect_uri", "http://127.0.0.1:1/callback"), ("code_verifier", Self.verifier)],
                 400, "invalid_request"),
                ([("grant_type", "authorization_code"), ("client_id", "nobody")], 401, "invalid_client"),
                ([("grant_type", "password"), ("client_id", Self.client)], 400, "unsupported_grant_type"),
                ([("grant_type", "authorization_code"), ("client_id", Self.client)], 400, "invalid_request"),
                ([("grant_type", "refresh_token"), ("client_id", Self.client), ("refresh_token", "unknown")], 400, "invalid_grant"),
                ([("grant_type", "refresh_token"), ("client_id", Self.client), ("client_id", Self.client)], 400, "invalid_request"),
            ]
            for (pairs, status, error) in cases {
                let answer = try await Self.post(issuer + "/token", pairs)
                #expect(answer.status == status, "\(pairs)")
                #expect(answer.cacheControl == "no-store")
                #expect(try Self.json(answer)["error"] == .string(error), "\(pairs)")
            }
        }
    }

    @Test("refresh tokens rotate: each works once; the refreshed ID token keeps sub and auth_time, and has no nonce")
    func refreshRotation() async throws {
        let clock = TestClock()
        try await Self.withProvider(clock: clock) { issuer, provider in
            let first = try Self.json(try await Self.redeem(issuer, code: try await Self.code(issuer, verifier: Self.verifier), verifier: Self.verifier))
            let refreshToken = try #require(first["refresh_token"]?.stringValue)
            clock.advance(100)
            let refresh = [("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("client_id", Self.client)]
            let second = try Self.json(try await Self.post(issuer + "/token", refresh))
            let rotated = try #require(second["refresh_token"]?.stringValue)
            #expect(rotated != refreshToken)
            let claims = try ParsedJWT(try UnverifiedJWS(compact: try #require(second["id_token"]?.stringValue))).claims.object
            #expect(claims["sub"] == "00u-alice")
            #expect(claims["nonce"] == nil)
            #expect(claims["iat"]?.numberValue?.exactInteger == Int64(clock.now().timeIntervalSince1970))
            #expect(claims["auth_time"]?.numberValue?.exactInteger == Int64(clock.now().timeIntervalSince1970) - 100)
            let replay = try await Self.post(issuer + "/token", refresh)
            #expect(replay.status == 400)
            #expect(try Self.json(replay)["error"] == "invalid_grant")
            #expect(try await Self.post(issuer + "/token", [("grant_type", "refresh_token"), ("refresh_token", rotated),
                                                            ("client_id", Self.client)]).status == 200)
            #expect(provider.statistics.refreshes == 2)
        }
    }

    @Test("without offline_access there is no refresh token")
    func noOfflineAccess() async throws {
        try await Self.withProvider { issuer, _ in
            let code = try await Self.code(issuer, verifier: Self.verifier, scope: "openid email")
            let body = try Self.json(try await Self.redeem(issuer, code: code, verifier: Self.verifier))
            #expect(body["id_token"]?.stringValue != nil)
            #expect(body["refresh_token"] == nil)
        }
    }

    @Test("the sign-in form lists the users; an unknown user gets the form again; cancel redirects with access_denied")
    func signInForm() async throws {
        try await Self.withProvider { issuer, provider in
            let request = Self.request(challenge: Self.challenge(Self.verifier))
            let page = String(decoding: try await Self.get(issuer + "/authorize?" + HTTPRequest.formEncoded(request)).body, as: UTF8.self)
            for user in ["alice", "bob", "carol", "dana"] { #expect(page.contains("<code>\(user)</code>")) }
            let unknown = try await Self.post(issuer + "/authorize", request + [("username", "mallory")])
            #expect(unknown.status == 200)
            #expect(unknown.location == nil)
            #expect(String(decoding: unknown.body, as: UTF8.self).contains("Unknown user mallory."))
            let cancelled = try await Self.post(issuer + "/authorize", request + [("cancel", "1")])
            let parameters = try Self.query(try #require(cancelled.location))
            #expect(parameters.value("error") == "access_denied")
            #expect(parameters.value("state") == "s-1")
            #expect(provider.statistics.codesIssued == 0)
            // Request values are escaped in the form.
            let hostile = Self.request(challenge: Self.challenge(Self.verifier)).map { $0.0 == "state" ? ("state", #""><script>x</script>"#) : $0 }
            let escaped = String(decoding: try await Self.get(issuer + "/authorize?" + HTTPRequest.formEncoded(hostile)).body, as: UTF8.self)
            #expect(!escaped.contains("<script>"))
            #expect(escaped.contains("&quot;&gt;&lt;script&gt;"))
        }
    }
}
