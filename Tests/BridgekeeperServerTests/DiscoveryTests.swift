import BridgekeeperJOSE
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

/// The discovery documents over HTTP: RFC 8414 metadata, the JWKS, RFC 9728 protected resource
/// metadata per catalog server, and 404 for what does not exist.
@Suite("discovery over HTTP")
struct DiscoveryTests {
    typealias W = OAuthWire
    let deployment: TestDeployment
    let clock = TestClock(OAuthWire.start)

    init() throws { deployment = try TestDeployment() }

    static func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }

    @Test("RFC 8414 metadata is exactly the expected document and never names a trusted IdP")
    func authorizationServerMetadata() async throws {
        let issuer = TestDeployment.issuer
        let methods = Self.strings(["client_secret_basic", "client_secret_post", "private_key_jwt"])
        let expected: [String: JSONValue] = [
            "issuer": .string(issuer),
            "authorization_endpoint": .string(issuer + "/authorize"),
            "token_endpoint": .string(issuer + "/token"),
            "jwks_uri": .string(issuer + "/jwks.json"),
            "introspection_endpoint": .string(issuer + "/introspect"),
            "revocation_endpoint": .string(issuer + "/revoke"),
            "response_types_supported": .array([]),
            "grant_types_supported": Self.strings(["client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                   "urn:ietf:params:oauth:grant-type:token-exchange"]),
            "identity_chaining_requested_token_types_supported": Self.strings(["urn:ietf:params:oauth:token-type:access_token"]),
            "authorization_grant_profiles_supported": Self.strings(["urn:ietf:params:oauth:grant-profile:id-jag"]),
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": Self.strings(["ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256"]),
            "introspection_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            // Enabled tools of enabled servers, in catalog order: not disabled_tool, nothing of "dark".
            "scopes_supported": Self.strings(["tool:search_code", "tool:create_issue", "tool:delete_repository", "tool:search_pages",
                                                  "tool:agents.read", "tool:agents.manage", "tool:agents.admin", "tool:users.admin",
                                                  "tool:admin.all_tenants"]),
        ]
        try await withServer(deployment, clock: clock) { client, _ in
            let response = try await client.execute(uri: "/.well-known/oauth-authorization-server", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            #expect(W.members(response.json) == expected, "\(response.text)")
            #expect(!response.text.contains("idp.test.example"), "the metadata names a trusted IdP: \(response.text)")
        }
    }

    @Test("the JWKS is application/jwk-set+json with a max-age and only public key members")
    func jwks() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            let token = try await W.issue(client, deployment, clock)
            let response = try await client.execute(uri: "/jwks.json", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/jwk-set+json")
            let cacheControl = response.headers[.cacheControl] ?? ""
            #expect(cacheControl.range(of: #"(^|[ ,])max-age=[0-9]+"#, options: .regularExpression) != nil, "Cache-Control: \(cacheControl)")
            let json = try #require(response.json)
            #expect(json.names == ["keys"])
            let keys = try #require(json["keys"]?.arrayValue)
            #expect(keys.count == 1)
            let key = try #require(keys.first?.objectValue)
            #expect(Set(key.names) == ["kty", "crv", "x", "y", "kid", "use", "alg"], "\(key.names)")
            #expect(key["kty"] == .string("EC"))
            #expect(key["crv"] == .string("P-256"))
            #expect(key["alg"] == .string("ES256"))
            #expect(key["use"] == .string("sig"))
            #expect(key["kid"] == (try W.header(of: token))["kid"])
            #expect(key["d"] == nil)
        }
    }

    @Test("RFC 9728 protected resource metadata for a catalog server is exactly the expected document")
    func protectedResourceMetadata() async throws {
        // RFC 9728 §2: jwks_uri there is the *resource's* own keys (e.g. for signed responses), so the
        // authorization server's JWKS does not belong in it; clients find that through the AS metadata.
        let expected: [String: JSONValue] = [
            "resource": .string(TestDeployment.githubResource),
            "authorization_servers": Self.strings([TestDeployment.issuer]),
            "scopes_supported": Self.strings(["tool:search_code", "tool:create_issue", "tool:delete_repository"]),
            "bearer_methods_supported": Self.strings(["header"]),
            "resource_name": .string("github"),
        ]
        try await withServer(deployment, clock: clock) { client, _ in
            let response = try await client.execute(uri: "/servers/github/oauth-protected-resource", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            #expect(W.members(response.json) == expected, "\(response.text)")
        }
    }

    @Test("protected resource metadata for a server not in the catalog is 404")
    func protectedResourceMetadataUnknownServer() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            let response = try await client.execute(uri: "/servers/gitlab/oauth-protected-resource", method: .get)
            #expect(response.status == .notFound)
        }
    }

    @Test("an unknown path is 404, not 500")
    func unknownPath() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            let get = try await client.execute(uri: "/no/such/path", method: .get)
            #expect(get.status == .notFound)
            let post = try await client.post("/no/such/endpoint", [("response_type", "code")])
            #expect(post.status == .notFound)
        }
    }

    @Test("the authorization endpoint exists for metadata consumers and refuses every request without a redirect")
    func authorizationEndpointRefuses() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            for response in [try await client.execute(uri: "/authorize?response_type=code&client_id=mcp-client&redirect_uri=https%3A%2F%2Fevil.example", method: .get),
                             try await client.post("/authorize", [("response_type", "code")])] {
                #expect(response.status == .badRequest)
                #expect(response.headers[.location] == nil)
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(response.json?["error"] == .string("unsupported_response_type"))
            }
        }
    }
}
