@testable import BridgekeeperClient
import BridgekeeperJOSE
import Foundation
import Testing

@Suite("Client configuration")
struct ClientConfigurationTests {
    static let good = """
        broker: https://bridgekeeper.example.com
        client_id: bridgekeeper-cli
        client_secret: env:BRIDGEKEEPER_CLI_SECRET
        idps:
          - name: okta
            issuer: https://acme.okta.com/oauth2/default
            client_id: 0oa-cli-native
        """

    static func parse(_ yaml: String) throws(ClientError) -> ClientConfiguration {
        try ClientConfiguration.parse(yaml: yaml, baseDirectory: "/etc/bk")
    }

    @Test("a minimal file gets the documented defaults")
    func defaults() throws {
        let c = try Self.parse(Self.good)
        #expect(c.broker == "https://bridgekeeper.example.com")
        #expect(c.clientSecret == .environment("BRIDGEKEEPER_CLI_SECRET"))
        #expect(c.allowLoopbackHTTP == false)
        let idp = try c.idp(named: nil)
        #expect(idp.name == "okta")
        #expect(idp.scopes == ["openid", "profile", "email", "offline_access"])
        #expect(idp.redirectPort == 0)
        #expect(idp.redirectPath == "/callback")
        #expect(try Self.parse(Self.good.replacingOccurrences(of: "env:BRIDGEKEEPER_CLI_SECRET", with: "file:secret.txt")).clientSecret
                == .file("/etc/bk/secret.txt"))
    }

    @Test("every mistake names its key path", arguments: [
        ("idps:", "idpz:", "idpz: unknown key (allowed here: broker, client_id, client_secret, idps, development)"),
        ("    client_id: 0oa-cli-native", "    client_id: 0oa-cli-native\n    redirect_url: /cb", "idps[0].redirect_url: unknown key"),
        ("broker: https://bridgekeeper.example.com\n", "", "broker: is required"),
        ("https://bridgekeeper.example.com", "http://bridgekeeper.example.com", "broker: must use https"),
        ("https://bridgekeeper.example.com", "http://127.0.0.1:8080", "broker: must use https (http only on loopback with development.allow_loopback_http)"),
        ("https://bridgekeeper.example.com", "https://bridgekeeper.example.com/auth", "broker: must have no path"),
        ("https://acme.okta.com/oauth2/default", "https://acme.okta.com?x=1", "idps[0].issuer: must have no query or fragment"),
        ("env:BRIDGEKEEPER_CLI_SECRET", "s3cret-inline", "client_secret: must be env:NAME or file:PATH; a secret is never written in this file"),
        ("    client_id: 0oa-cli-native", "    client_id: 0oa-cli-native\n    scopes: [profile, email]", "idps[0].scopes: must include openid"),
        ("    client_id: 0oa-cli-native", "    client_id: 0oa-cli-native\n    scopes: [openid, \"a b\"]", "idps[0].scopes[1]: is not a scope token"),
        ("    client_id: 0oa-cli-native", "    client_id: 0oa-cli-native\n    redirect_port: 70000", "idps[0].redirect_port: must be 0 to 65535"),
        ("    client_id: 0oa-cli-native", "    client_id: 0oa-cli-native\n    redirect_path: callback", "idps[0].redirect_path: must be a path"),
        ("- name: okta", "- name: ../okta", "idps[0].name: must be 1 to 64 letters"),
        ("    client_id: 0oa-cli-native", "    client_id: 0oa-cli-native\n  - name: okta\n    issuer: https://b.example\n    client_id: x",
         "idps[1].name: is used twice"),
        ("client_id: bridgekeeper-cli\n", "client_id: bridgekeeper-cli\nclient_id: again\n", "duplicate key client_id"),
    ])
    func mistakes(_ original: String, _ replacement: String, _ message: String) throws {
        let yaml = Self.good.replacingOccurrences(of: original, with: replacement)
        #expect(yaml != Self.good)
        let error = #expect(throws: ClientError.self) { try Self.parse(yaml) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.reason.hasPrefix(message) == true, "\(error?.reason ?? "")")
    }

    @Test("loopback http only with development.allow_loopback_http; --idp is required when several IdPs are configured")
    func loopbackAndChoice() throws {
        let yaml = Self.good.replacingOccurrences(of: "https://bridgekeeper.example.com", with: "http://127.0.0.1:8080")
            + "\n  - name: demo\n    issuer: http://[::1]:9400\n    client_id: native\ndevelopment: { allow_loopback_http: true }"
        let c = try Self.parse(yaml)
        #expect(c.allowLoopbackHTTP)
        #expect(try c.idp(named: "demo").issuer == "http://[::1]:9400")
        #expect((#expect(throws: ClientError.self) { try c.idp(named: nil) })?.code == .usage)
        #expect((#expect(throws: ClientError.self) { try c.idp(named: "entra") })?.code == .usage)
        let remote = yaml.replacingOccurrences(of: "http://[::1]:9400", with: "http://idp.example.com")
        #expect((#expect(throws: ClientError.self) { try Self.parse(remote) })?.reason.hasPrefix("idps[1].issuer: must use https") == true)
    }

    @Test("the default file: $BRIDGEKEEPER_CLIENT_CONFIG, else $XDG_CONFIG_HOME, else ~/.config")
    func defaultPath() {
        #expect(ClientConfiguration.defaultPath(environment: ["BRIDGEKEEPER_CLIENT_CONFIG": "/x/c.yaml", "HOME": "/home/a"]) == "/x/c.yaml")
        #expect(ClientConfiguration.defaultPath(environment: ["XDG_CONFIG_HOME": "/cfg", "HOME": "/home/a"]) == "/cfg/bridgekeeper/client.yaml")
        #expect(ClientConfiguration.defaultPath(environment: ["XDG_CONFIG_HOME": "rel", "HOME": "/home/a"]) == "/home/a/.config/bridgekeeper/client.yaml")
        #expect(SessionStore.defaultDirectory(environment: ["XDG_STATE_HOME": "/st", "HOME": "/home/a"]) == "/st/bridgekeeper/sessions")
        #expect(SessionStore.defaultDirectory(environment: ["HOME": "/home/a"]) == "/home/a/.local/state/bridgekeeper/sessions")
    }

    @Test("the secret is read from the environment or the file only when asked for")
    func secret() throws {
        let c = try Self.parse(Self.good)
        #expect(try c.resolveClientSecret(environment: ["BRIDGEKEEPER_CLI_SECRET": "abc"]) == "abc")
        let missing = #expect(throws: ClientError.self) { try c.resolveClientSecret(environment: [:]) }
        #expect(missing?.reason == "client_secret: environment variable BRIDGEKEEPER_CLI_SECRET is not set")
    }
}

@Suite("PKCE and the authorization response")
struct PKCEAndRedirectTests {
    @Test("S256 of the RFC 7636 Appendix B verifier; fresh verifiers are 43 unreserved characters")
    func pkce() {
        #expect(PKCE.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        let a = PKCE.generate(), b = PKCE.generate()
        #expect(a.verifier != b.verifier)
        #expect(a.verifier.utf8.count == 43)
        #expect(a.verifier.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._~".contains($0)) })
    }

    @Test("the redirect is judged: iss, then state (constant time), then error, then code", arguments: [
        ("code=c1&state=s", LoopbackRedirect.Outcome?.some(.code("c1"))),
        ("code=c1&state=s&iss=https%3A%2F%2Fidp.example", .code("c1")),
        ("code=c1&state=other", .stateMismatch),
        ("code=c1", .stateMismatch),
        ("code=c1&state=s&iss=https%3A%2F%2Fevil.example", .issuerMismatch),
        ("error=access_denied&error_description=no&state=s", .refused(error: "access_denied", description: "no")),
        ("error=access_denied&state=other", .stateMismatch),
        ("code=a&code=b&state=s", .malformed("the redirect's parameters are malformed or repeated")),
        ("state=s", .malformed("the redirect carries neither code nor error")),
        ("", nil),
        ("foo=bar", nil),
    ])
    func judge(_ query: String, _ outcome: LoopbackRedirect.Outcome?) {
        #expect(LoopbackRedirect.judge(query: query, state: "s", issuer: "https://idp.example") == outcome)
    }

    @Test("an IdP that advertises RFC 9207 iss must send it: a response without iss is refused, with it accepted")
    func issuerRequiredWhenAdvertised() {
        #expect(LoopbackRedirect.judge(query: "code=c1&state=s", state: "s", issuer: "https://idp.example", requireIssuer: true) == .issuerMismatch)
        #expect(LoopbackRedirect.judge(query: "code=c1&state=s&iss=https%3A%2F%2Fidp.example", state: "s", issuer: "https://idp.example",
                                       requireIssuer: true) == .code("c1"))
    }
}

@Suite("Session store")
struct SessionStoreTests {
    static func session(_ idp: String = "okta", refresh: String? = "r1") -> Session {
        Session(idp: idp, issuer: "https://idp.example", clientID: "native", tokenEndpoint: "https://idp.example/token",
                jwksURI: "https://idp.example/keys", idToken: "a.b.c", idTokenExpiry: Date(timeIntervalSince1970: 1_795_262_400),
                refreshToken: refresh, subject: "00u-alice", nonce: "n")
    }

    static func store() -> (SessionStore, String) {
        let base = NSTemporaryDirectory() + "bk-sessions-" + UUID().uuidString
        return (SessionStore(directory: base + "/state/bridgekeeper/sessions"), base)
    }

    static func mode(_ path: String) throws -> Int {
        try #require((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue)
    }

    @Test("saves 0600 in a 0700 folder, replaces whole, loads back, deletes")
    func roundTrip() throws {
        let (store, base) = Self.store()
        defer { try? FileManager.default.removeItem(atPath: base) }
        #expect(try store.load(idp: "okta") == nil)
        try store.save(Self.session())
        #expect(try Self.mode(store.directory) == 0o700)
        #expect(try Self.mode(store.path(for: "okta")) == 0o600)
        #expect(try store.load(idp: "okta") == Self.session())
        try store.save(Self.session(refresh: nil))
        #expect(try store.load(idp: "okta") == Self.session(refresh: nil))
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory) == ["okta.json"], "no temporary file left")
        #expect(try store.delete(idp: "okta"))
        #expect(try store.delete(idp: "okta") == false)
        #expect(try store.load(idp: "okta") == nil)
    }

    @Test("a folder others can enter is made private again")
    func tightensFolder() throws {
        let (store, base) = Self.store()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try store.save(Self.session())
        #expect(try Self.mode(store.directory) == 0o700)
    }

    @Test("a session file others can read, a link, or garbage is refused")
    func refusals() throws {
        let (store, base) = Self.store()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try store.save(Self.session())
        let file = store.path(for: "okta")
        chmod(file, 0o644)
        let readable = #expect(throws: ClientError.self) { try store.load(idp: "okta") }
        #expect(readable?.code == .sessionStore)
        #expect(readable?.reason.contains("can be read by others (mode 644)") == true)
        chmod(file, 0o600)
        try FileManager.default.createSymbolicLink(atPath: store.path(for: "linked"), withDestinationPath: file)
        #expect((#expect(throws: ClientError.self) { try store.load(idp: "linked") })?.code == .sessionStore)
        try Data("{\"version\":1}".utf8).write(to: URL(fileURLWithPath: store.path(for: "broken")))
        chmod(store.path(for: "broken"), 0o600)
        #expect((#expect(throws: ClientError.self) { try store.load(idp: "broken") })?.reason.contains("log in again") == true)
    }
}

@Suite("ID token check")
struct IDTokenCheckTests {
    static let key = try! SigningKey.generate(.rs256, keyID: "k1")
    static let keys = JWKSet(keys: [key.verificationKey()])
    static let now = Date(timeIntervalSince1970: 1_795_262_400)
    static let issuer = "https://idp.example"

    static func token(_ change: (inout JSONObject) -> Void = { _ in }, type: String = "JWT", signer: SigningKey = key) throws -> String {
        let iat = Int64(now.timeIntervalSince1970)
        var claims = JSONObject(["iss": .string(issuer), "sub": "00u-alice", "aud": "native", "iat": .number(JSONNumber(iat)),
                                 "exp": .number(JSONNumber(iat + 300)), "nonce": "n-1", "email": "alice@example.com"])
        change(&claims)
        return try signer.signJWT(type: type, claims: claims)
    }

    static func check(_ nonce: IDTokenCheck.NonceRule = .exactly("n-1"), subject: String? = nil) -> IDTokenCheck {
        IDTokenCheck(issuer: issuer, clientID: "native", algorithms: [.rs256], nonce: nonce, subject: subject)
    }

    @Test("a valid ID token gives its subject, expiry and email")
    func valid() throws {
        let verified = try Self.check().verify(try Self.token(), keys: Self.keys, now: Self.now)
        #expect(verified.subject == "00u-alice")
        #expect(verified.expiry == Self.now.addingTimeInterval(300))
        #expect(verified.email == "alice@example.com")
    }

    @Test("each refusal carries its code", arguments: [
        ("aud", "wrong_audience"), ("iss", "wrong_issuer"), ("exp", "expired"), ("nonce", "nonce_mismatch"), ("no-nonce", "nonce_mismatch"),
        ("azp", "invalid_claim"), ("typ", "wrong_typ"), ("signature", "bad_signature"), ("alg", "alg_not_allowed"),
    ])
    func refusals(_ what: String, _ code: String) throws {
        let token: String
        switch what {
        case "aud": token = try Self.token { $0["aud"] = "other-client" }
        case "iss": token = try Self.token { $0["iss"] = "https://evil.example" }
        case "exp": token = try Self.token { $0["exp"] = .number(JSONNumber(Int64(Self.now.timeIntervalSince1970) - 61)) }
        case "nonce": token = try Self.token { $0["nonce"] = "n-2" }
        case "no-nonce": token = try Self.token { $0["nonce"] = nil }
        case "azp": token = try Self.token { $0["azp"] = "someone-else" }
        case "typ": token = try Self.token(type: "at+jwt")
        case "signature": token = try Self.token(signer: try SigningKey.generate(.rs256, keyID: "k1"))
        default: token = try Self.token(signer: try SigningKey.generate(.es256, keyID: "k1"))
        }
        let error = #expect(throws: ClientError.self) { try Self.check().verify(token, keys: Self.keys, now: Self.now) }
        #expect(error?.code.rawValue == code, "\(error?.reason ?? "")")
    }

    @Test("after a refresh: no nonce or the original, and the same subject")
    func refreshRules() throws {
        let refreshed = Self.check(.absentOr("n-1"), subject: "00u-alice")
        #expect(throws: Never.self) { try refreshed.verify(try Self.token { $0["nonce"] = nil }, keys: Self.keys, now: Self.now) }
        #expect(throws: Never.self) { try refreshed.verify(try Self.token(), keys: Self.keys, now: Self.now) }
        let other = #expect(throws: ClientError.self) { try refreshed.verify(try Self.token { $0["nonce"] = "n-9" }, keys: Self.keys, now: Self.now) }
        #expect(other?.code == .nonceMismatch)
        let subject = #expect(throws: ClientError.self) { try refreshed.verify(try Self.token { $0["sub"] = "00u-bob" }, keys: Self.keys, now: Self.now) }
        #expect(subject?.code == .subjectMismatch)
    }
}

@Suite("Discovery document")
struct ProviderMetadataTests {
    static let issuer = "https://login.example.com/tenant/v2.0"

    static func document(_ change: (inout JSONObject) -> Void = { _ in }) -> JSONObject {
        var object = JSONObject([
            "issuer": .string(issuer), "authorization_endpoint": "https://login.example.com/authorize",
            "token_endpoint": "https://login.example.com/token", "jwks_uri": "https://login.example.com/keys",
            "response_types_supported": .array(["code", "id_token"]), "id_token_signing_alg_values_supported": .array(["RS256", "HS256"]),
        ])
        change(&object)
        return object
    }

    @Test("accepted without code_challenge_methods_supported (as Entra publishes it); HMAC algorithms dropped")
    func accepted() throws {
        let metadata = try ProviderMetadata(document: Self.document(), expectedIssuer: Self.issuer, loopbackHTTP: false)
        #expect(metadata.tokenEndpoint == "https://login.example.com/token")
        #expect(metadata.signingAlgorithms == [.rs256])
        #expect(ProviderMetadata.discoveryURL(issuer: "https://a.example/") == "https://a.example/.well-known/openid-configuration")
    }

    @Test("refused: another issuer, an http endpoint, no S256, no code flow, a missing endpoint")
    func refused() {
        let cases: [(JSONObject, String)] = [
            (Self.document { $0["issuer"] = "https://login.example.com/other/v2.0" }, "not the configured one"),
            (Self.document { $0["token_endpoint"] = "http://login.example.com/token" }, "token_endpoint must be an https URL"),
            (Self.document { $0["code_challenge_methods_supported"] = .array(["plain"]) }, "does not support PKCE with S256"),
            (Self.document { $0["response_types_supported"] = .array(["id_token"]) }, "authorization code flow"),
            (Self.document { $0["jwks_uri"] = nil }, "has no jwks_uri"),
        ]
        for (document, message) in cases {
            let error = #expect(throws: ClientError.self) { try ProviderMetadata(document: document, expectedIssuer: Self.issuer, loopbackHTTP: true) }
            #expect(error?.code == .discoveryFailed)
            #expect(error?.reason.contains(message) == true, "\(error?.reason ?? "")")
        }
    }

    @Test("server-sent error text cannot drive the terminal")
    func printable() {
        let error = ClientError.remote("invalid_request\u{1B}[2J", "line\nbreak\u{7}")
        #expect(error.code.rawValue == "invalid_request?[2J")
        #expect(error.reason == "line?break?")
    }

    @Test("the MCP client entry is Claude Code's mcpServers shape")
    func mcpEntry() throws {
        let object = try #require(try JSONValue.parse(MCPClientEntry.json(server: "github", url: "https://mcp.example/github", token: "t0k")).objectValue)
        #expect(object == JSONObject(["mcpServers": .object(JSONObject(["github": .object(JSONObject([
            "type": "http", "url": "https://mcp.example/github", "headers": .object(JSONObject(["Authorization": "Bearer t0k"])),
        ]))]))]))
    }
}
