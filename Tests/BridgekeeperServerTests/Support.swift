import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperGrants
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import BridgekeeperKeys
import BridgekeeperClientAuth
import BridgekeeperTesting

/// A test IdP: an RS256 key (as Okta and Entra sign) published in a JWKS file.
struct TestIdP: Sendable {
    static let issuer = "https://idp.test.example"
    let key: SigningKey
    let otherKey: SigningKey  // same algorithm, not published: for bad signatures and unknown kids

    init() throws {
        key = try SigningKey.generate(.rs256, keyID: "idp-rs256")
        otherKey = try SigningKey.generate(.rs256, keyID: "idp-rs256")
    }

    /// A valid ID-JAG's claims for `now`; tests change members before signing.
    static func claims(now: Date, audience: String = TestDeployment.issuer, client: String = TestDeployment.clientID,
                       resource: String? = TestDeployment.githubResource, subject: String = "00u-alice",
                       groups: [String] = ["engineering"]) -> JSONObject {
        let iat = Int64(now.timeIntervalSince1970)
        var claims = JSONObject([
            "iss": .string(issuer), "sub": .string(subject), "aud": .string(audience), "client_id": .string(client),
            "jti": .string(SecureRandom.identifier()), "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + 120)),
            "groups": .array(groups.map(JSONValue.string)), "email": .string("alice@example.com"),
        ])
        if let resource { claims["resource"] = .string(resource) }
        return claims
    }

    /// A valid ID token's claims (OIDC Core §2) for mcp-client at the test IdP; tests change members.
    static func idTokenClaims(now: Date, audience: String = TestDeployment.upstreamClientID, subject: String = "00u-alice",
                              groups: [String] = ["engineering"]) -> JSONObject {
        let iat = Int64(now.timeIntervalSince1970)
        return JSONObject([
            "iss": .string(issuer), "sub": .string(subject), "aud": .string(audience), "iat": .number(JSONNumber(iat)),
            "exp": .number(JSONNumber(iat + 3600)), "auth_time": .number(JSONNumber(iat - 30)), "nonce": "n-0S6_WzA2Mj",
            "groups": .array(groups.map(JSONValue.string)), "email": .string("alice@example.com"),
        ])
    }

    /// An ID token: `typ` JWT, as Okta, Entra and Keycloak send it.
    func idToken(_ claims: JSONObject) throws -> String { try key.signJWT(type: "JWT", claims: claims) }

    func sign(_ claims: JSONObject, type: String = "oauth-id-jag+jwt", with signer: SigningKey? = nil) throws -> String {
        try (signer ?? key).signJWT(type: type, claims: claims)
    }
}

/// A deployment in a temporary folder: configuration, IdP JWKS, client keys, SQLite file.
final class TestDeployment: Sendable {
    static let issuer = "https://broker.test.example"
    static let clientID = "mcp-client"
    static let clientSecret = "client-secret-0123456789abcdef"
    /// mcp-client's own client id at the test IdP: the `aud` of the ID tokens it exchanges.
    static let upstreamClientID = "0oa-upstream-mcp-client"
    static let postClientID = "python-client"
    static let jwtClientID = "jwt-client"
    static let gatewayID = "gateway"
    static let gatewaySecret = "gateway-secret-0123456789abcdef"
    static let githubResource = "https://mcp.test.example/github"
    static let notionResource = "https://mcp.test.example/notion"

    let directory: String
    let idp: TestIdP
    /// `jwt-client`'s private key (ES256) for `private_key_jwt`.
    let clientKey: SigningKey
    let kek = Base64URL.encode(SecureRandom.bytes(32))
    let yaml: String

    /// - Parameter extra: YAML appended at the top level (e.g. `rate_limits:`).
    /// - Parameter idpKeys: replaces the IdP's `jwks_file: idp-jwks.json` line (e.g. a `jwks_uri`).
    /// - Parameter clients: YAML list items appended to `clients:`.
    /// - Parameter mcpClientExtra: keys added to `mcp-client` (indented as its other keys).
    /// - Parameter upstreamClientIDs: more entries of `mcp-client`'s `idp_client_ids` (IdP name: id).
    /// - Parameter servers, policy: YAML list items appended to `servers:` and `policy:`.
    init(extra: String = "", idpExtra: String = "", idpKeys: String = "jwks_file: idp-jwks.json", clients: String = "",
         mcpClientExtra: String = "", upstreamClientIDs: [String: String] = [:], servers: String = "", policy: String = "") throws {
        directory = NSTemporaryDirectory() + "bk-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        idp = try TestIdP()
        clientKey = try SigningKey.generate(.es256, keyID: "client-es256")
        try Self.write(directory, "idp-jwks.json", JSONValue.object(JSONObject(["keys": .array([.object(try idp.key.publicJWK())])])).serialized())
        try Self.write(directory, "client-jwks.json", JSONValue.object(JSONObject(["keys": .array([.object(try clientKey.publicJWK())])])).serialized())
        let secretHash = SecretHash.make(secret: Self.clientSecret, iterations: 10_000)
        let gatewayHash = SecretHash.make(secret: Self.gatewaySecret, iterations: 10_000)
        yaml = """
        issuer: \(Self.issuer)
        storage:
          sqlite: bridgekeeper.sqlite
        keys:
          encryption_key: env:TEST_KEK
          propagation_delay: 0
        idps:
          - name: test-idp
            issuer: \(TestIdP.issuer)
            \(idpKeys)
            algorithms: [RS256]
            max_assertion_lifetime: 300
        \(idpExtra)
        clients:
          - id: \(Self.clientID)
            secret_hash: "\(secretHash)"
            auth_methods: [client_secret_basic]
            servers: ["*", bridgekeeper]
            idp_client_ids: {\((["test-idp: \(Self.upstreamClientID)"] + upstreamClientIDs.sorted { $0.key < $1.key }.map { "\($0): \($1)" }).joined(separator: ", "))}
            \(mcpClientExtra)
          - id: \(Self.postClientID)
            secret_hash: "\(secretHash)"
            auth_methods: [client_secret_post]
            servers: [notion]
          - id: \(Self.jwtClientID)
            jwks_file: client-jwks.json
            algorithms: [ES256]
            servers: ["*", bridgekeeper]
          - id: \(Self.gatewayID)
            secret_hash: "\(gatewayHash)"
            grant_types: []
            introspection: true
            servers: ["*", bridgekeeper]
        \(clients)
        servers:
          - name: github
            resource: \(Self.githubResource)
            tools:
              - { name: search_code, category: read }
              - { name: create_issue, category: write }
              - { name: delete_repository, category: destructive }
              - { name: disabled_tool, category: read, enabled: false }
          - name: notion
            resource: \(Self.notionResource)
            tools:
              - { name: search_pages, category: read }
          - name: dark
            resource: https://mcp.test.example/dark
            enabled: false
            tools:
              - { name: anything, category: read }
        \(servers)
        policy:
          - id: engineering-github
            effect: allow
            groups: [engineering]
            idp: test-idp
            servers: [github]
            categories: [read, write]
          - id: everyone-notion
            effect: allow
            everyone: true
            servers: [notion, dark]
            categories: [read]
          - id: contractors-no-write
            effect: deny
            groups: [contractors]
            idp: test-idp
            servers: [github]
            categories: [write]
        \(policy)
        \(extra)
        """
    }

    func write(_ name: String, _ contents: String) throws { try Self.write(directory, name, contents) }

    static func write(_ directory: String, _ name: String, _ contents: String) throws {
        try contents.write(toFile: (directory as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    func configuration() throws -> Configuration {
        try Configuration.parse(yaml: yaml, baseDirectory: directory, environment: ["TEST_KEK": kek])
    }


    /// A `private_key_jwt` client assertion (RFC 7523 §3) for `jwt-client`.
    func clientAssertion(now: Date, audience: String = TestDeployment.issuer, jti: String = SecureRandom.identifier(),
                         subject: String = TestDeployment.jwtClientID, signer: SigningKey? = nil, lifetime: Int64 = 60) throws -> String {
        let iat = Int64(now.timeIntervalSince1970)
        return try (signer ?? clientKey).signJWT(type: "client-authentication+jwt", claims: JSONObject([
            "iss": .string(subject), "sub": .string(subject), "aud": .string(audience), "jti": .string(jti),
            "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + lifetime)),
        ]))
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

/// Starts the real server (SQLite in the deployment's folder) on a loopback port and runs `body`
/// with an HTTP client; the store is closed afterwards.
func withServer<T: Sendable>(_ deployment: TestDeployment, clock: any WallClock, logger given: Logger? = nil,
                             _ body: @Sendable (any TestClientProtocol, BridgekeeperServer) async throws -> T) async throws -> T {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    if let given { logger = given }
    await ServerSlots.shared.acquire()
    do {
        let server = try await BridgekeeperServer.prepare(try deployment.configuration(), clock: clock, logger: logger)
        do {
            let result = try await server.application(port: 0).test(.live) { client in try await body(client, server) }
            await server.store.close()
            await ServerSlots.shared.release()
            return result
        } catch {
            await server.store.close()
            throw error
        }
    } catch {
        await ServerSlots.shared.release()
        throw error
    }
}

/// Bounds how many servers the suite runs at once. Swift Testing starts every test of the target
/// together; each server holds a SQLite store (five threads and a dozen descriptors), so unbounded,
/// the process reached 1,400 threads and 1,400 descriptors, which is not a load any test means to
/// put on the machine (and CI once crashed inside libc under it).
actor ServerSlots {
    static let shared = ServerSlots(limit: 8)
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { free = limit }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}

/// `application/x-www-form-urlencoded` from pairs (values percent-encoded).
func form(_ pairs: [(String, String)]) -> ByteBuffer {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return ByteBuffer(string: pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&"))
}

func basic(_ id: String, _ secret: String) -> String {
    "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
}

extension TestClientProtocol {
    /// POSTs a form with optional `Authorization`.
    func post(_ path: String, _ pairs: [(String, String)], authorization: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let authorization { headers[.authorization] = authorization }
        return try await execute(uri: path, method: .post, headers: headers, body: form(pairs))
    }

    /// The jwt-bearer grant with `client_secret_basic` as `mcp-client`.
    /// RFC 8693 token exchange of an ID token as mcp-client (Basic).
    func exchange(_ idToken: String, resource: String? = TestDeployment.githubResource, scope: String? = nil,
                  extra: [(String, String)] = []) async throws -> TestResponse {
        var pairs = [("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("subject_token", idToken),
                     ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
                     ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token")]
        if let resource { pairs.append(("resource", resource)) }
        if let scope { pairs.append(("scope", scope)) }
        return try await post("/token", pairs + extra, authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
    }

    func redeem(_ assertion: String, resource: String? = TestDeployment.githubResource, scope: String? = nil) async throws -> TestResponse {
        var pairs = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion)]
        if let resource { pairs.append(("resource", resource)) }
        if let scope { pairs.append(("scope", scope)) }
        return try await post("/token", pairs, authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: JSONObject? {
        guard case .object(let object) = try? JSONValue.parse(Array(body.readableBytesView)) else { return nil }
        return object
    }
}
