public import BridgekeeperCore
public import BridgekeeperJOSE
public import BridgekeeperKeys
import Foundation

/// A confidential client registered with Bridgekeeper (public clients are refused: SPECS §1).
public struct ClientRegistration: Sendable {
    public enum Credential: Sendable {
        /// A client secret, stored only as a salted hash.
        case secret(SecretHash)
        /// `private_key_jwt` (RFC 7523 §2.2) with the client's public keys.
        case privateKeyJWT(keys: any KeySource, algorithms: Set<JWSAlgorithm>)
    }

    public let id: String
    public let credential: Credential
    /// The authentication methods the client may use; for a secret, `client_secret_basic` and/or
    /// `client_secret_post`; for keys, `private_key_jwt`.
    public let methods: Set<AuthenticatedClient.Method>
    /// Grant types the client may use (exact URNs).
    public let grantTypes: [String]
    /// MCP servers (canonical resource indicators) the client may obtain tokens for, and whose
    /// tokens it sees as active at introspection; none unless named (deny by default).
    public let resources: [ResourceURI]
    /// Whether the client may call introspection (a gateway).
    public let mayIntrospect: Bool
    /// The client's own client id at each IdP (by the IdP's configured name): an ID token of that
    /// IdP is exchanged only when its `aud` is this id.
    public let idpClientIDs: [String: String]
    /// The client's id at each third-party authorization server, by its name: the `client_id` of
    /// the ID-JAGs issued for it.
    public let authorizationServerClientIDs: [String: String]
    /// May subscribe to the broker's revocation feed (a gateway; issue 7).
    public let mayReadRevocationFeed: Bool

    public init(id: String, credential: Credential, methods: Set<AuthenticatedClient.Method>? = nil, grantTypes: [String],
                resources: [ResourceURI] = [], mayIntrospect: Bool = false, idpClientIDs: [String: String] = [:],
                authorizationServerClientIDs: [String: String] = [:], mayReadRevocationFeed: Bool = false) {
        self.mayReadRevocationFeed = mayReadRevocationFeed
        self.id = id
        self.credential = credential
        switch credential {
        case .secret: self.methods = methods ?? [.clientSecretBasic, .clientSecretPost]
        case .privateKeyJWT: self.methods = [.privateKeyJWT]
        }
        self.grantTypes = grantTypes
        self.resources = resources
        self.mayIntrospect = mayIntrospect
        self.idpClientIDs = idpClientIDs
        self.authorizationServerClientIDs = authorizationServerClientIDs
    }

    public func allows(grantType: String) -> Bool { grantTypes.containsExactly(grantType) }

    public func allows(resource: ResourceURI) -> Bool { resources.contains(resource) }
}
