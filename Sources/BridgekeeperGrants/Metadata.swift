import BridgekeeperCore
public import BridgekeeperJOSE
public import BridgekeeperPolicy
import Foundation
import BridgekeeperClientAuth

/// The discovery documents: RFC 8414 authorization server metadata and, per catalog server, the
/// RFC 9728 protected resource metadata the MCP server should publish.
public enum Metadata {
    public static let idJAGProfile = "urn:ietf:params:oauth:grant-profile:id-jag"

    /// Endpoint URLs under the issuer.
    public static func endpoint(_ issuer: String, _ path: String) -> String {
        (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + path
    }

    /// `/.well-known/oauth-authorization-server`. Lists jwt-bearer with the ID-JAG grant profile
    /// (draft §7.2 requires both together); never the trusted issuers (draft §8).
    public static func authorizationServer(issuer: String, grantTypes: [String], signingAlgorithms: [String], catalog: Catalog,
                                           bridging: Bool = false) -> JSONObject {
        let authMethods: [String] = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
        var scopes: [String] = []
        for server in catalog.servers where server.enabled && server.authorizationServer == nil {
            for tool in server.tools where tool.enabled && !scopes.containsExactly(tool.scope) { scopes.append(tool.scope) }
        }
        return JSONObject([
            "issuer": .string(issuer),
            // RFC 8414 §2 lets a server without authorization-endpoint grants omit this, but the MCP
            // Python SDK (2.3.0) requires the member; /authorize exists and refuses every request
            // with unsupported_response_type, matching the empty response_types_supported.
            "authorization_endpoint": .string(endpoint(issuer, "/authorize")),
            "token_endpoint": .string(endpoint(issuer, "/token")),
            "jwks_uri": .string(endpoint(issuer, "/jwks.json")),
            "introspection_endpoint": .string(endpoint(issuer, "/introspect")),
            "revocation_endpoint": .string(endpoint(issuer, "/revoke")),
            // RFC 8414 §2 requires it; this server has no authorization endpoint, so it offers none.
            "response_types_supported": .array([]),
            "grant_types_supported": .array(grantTypes.map(JSONValue.string)),
            "authorization_grant_profiles_supported": .array([.string(idJAGProfile)]),
            "token_endpoint_auth_methods_supported": .array(authMethods.map(JSONValue.string)),
            "token_endpoint_auth_signing_alg_values_supported": .array(signingAlgorithms.map(JSONValue.string)),
            "introspection_endpoint_auth_methods_supported": .array(authMethods.map(JSONValue.string)),
            "revocation_endpoint_auth_methods_supported": .array(authMethods.map(JSONValue.string)),
            "scopes_supported": .array(scopes.map(JSONValue.string)),
            // What token exchange issues (draft-ietf-oauth-identity-chaining).
            "identity_chaining_requested_token_types_supported": .array(TokenExchangeGrant.issuedTokenTypes(bridging: bridging).map(JSONValue.string)),
        ])
    }

    /// The bridge issuer's metadata, for third-party authorization servers that trust it as an
    /// identity provider: served at `{bridge}/.well-known/openid-configuration` and at the RFC 8414
    /// path. Its `jwks_uri` publishes only bridge keys; it issues ID-JAGs by token exchange at the
    /// main token endpoint.
    ///
    /// OpenID Connect Discovery 1.0 §3 requires `subject_types_supported` and
    /// `id_token_signing_alg_values_supported`, and strict relying parties refuse a document without
    /// them: the subject type is `public` (an ID-JAG's `sub` is the IdP's, the same for every
    /// relying party), and the algorithms are those the bridge signs with. The bridge issues no ID
    /// tokens, so RS256 is listed only when it is the signing algorithm (§3 asks every OpenID
    /// Provider to include it; naming an algorithm the bridge never uses would invite a relying
    /// party to accept it).
    public static func bridge(issuer: String, bridgeIssuer: String, signingAlgorithms: [String]) -> JSONObject {
        let authMethods: [String] = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
        return JSONObject([
            "issuer": .string(bridgeIssuer),
            "jwks_uri": .string(endpoint(bridgeIssuer, "/jwks.json")),
            "token_endpoint": .string(endpoint(issuer, "/token")),
            "response_types_supported": .array([]),
            "subject_types_supported": .array([.string("public")]),
            "id_token_signing_alg_values_supported": .array(signingAlgorithms.map(JSONValue.string)),
            "grant_types_supported": .array([.string(TokenExchangeGrant.grantType)]),
            "token_endpoint_auth_methods_supported": .array(authMethods.map(JSONValue.string)),
            "identity_chaining_requested_token_types_supported": .array([.string(TokenExchangeGrant.idJAGType)]),
        ])
    }

    /// RFC 9728 §2 protected resource metadata for one catalog server (whose authorization server is
    /// Bridgekeeper, or the third party named in the catalog). No `jwks_uri`: in RFC 9728 it
    /// names the resource's own keys, and clients find ours through the RFC 8414 document.
    public static func protectedResource(_ server: MCPServer, issuer: String) -> JSONObject {
        JSONObject([
            "resource": .string(server.resource.canonical),
            "authorization_servers": .array([.string(server.authorizationServer?.issuer ?? issuer)]),
            "scopes_supported": .array(server.tools.filter(\.enabled).map { .string($0.scope) }),
            "bearer_methods_supported": .array([.string("header")]),
            "resource_name": .string(server.displayName),
        ])
    }

    /// The well-known path of `document` for `issuer` (RFC 8414 §3.1: inserted before any path;
    /// SSF 1.0 §7.2 places `ssf-configuration` the same way).
    public static func wellKnownPath(issuer: String, document: String = "oauth-authorization-server") -> String {
        let base = "/.well-known/" + document
        guard let schemeEnd = issuer.range(of: "://") else { return base }
        let rest = issuer[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return base }
        let path = String(rest[slash...])
        return path == "/" ? base : base + path
    }
}
