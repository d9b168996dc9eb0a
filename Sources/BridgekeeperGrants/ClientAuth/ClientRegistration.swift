public import BridgekeeperCore
public import BridgekeeperJOSE
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

/// A client secret's salted hash: `pbkdf2-sha256$<iterations>$<salt>$<hash>`, salt and hash in
/// base64url. PBKDF2-HMAC-SHA-256 (RFC 8018), at least 10,000 iterations; `make` uses 100,000.
public struct SecretHash: Sendable, CustomStringConvertible {
    public static let minimumIterations = 10_000
    public static let defaultIterations = 100_000
    public let iterations: Int
    let salt: [UInt8]
    let hash: [UInt8]

    public init(encoded: String) throws(ConfigurationProblem) {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, parts[0].isExactly("pbkdf2-sha256") else {
            throw ConfigurationProblem("must be pbkdf2-sha256$<iterations>$<salt>$<hash> (make one with `bridgekeeper clients hash-secret`)")
        }
        guard let iterations = Int(parts[1]), iterations >= Self.minimumIterations, iterations <= 10_000_000 else {
            throw ConfigurationProblem("iterations must be \(Self.minimumIterations) to 10000000")
        }
        guard let salt = try? Base64URL.decode(parts[2]), salt.count >= 16,
              let hash = try? Base64URL.decode(parts[3]), hash.count == 32 else {
            throw ConfigurationProblem("salt (16+ bytes) and hash (32 bytes) must be base64url")
        }
        self.iterations = iterations
        self.salt = salt
        self.hash = hash
    }

    /// The hash of `secret` under a fresh salt.
    public static func make(secret: String, iterations: Int = defaultIterations) -> String {
        let salt = SecureRandom.bytes(16)
        let hash = Digest.pbkdf2SHA256(password: Array(secret.utf8), salt: salt, iterations: iterations)
        return "pbkdf2-sha256$\(iterations)$\(Base64URL.encode(salt))$\(Base64URL.encode(hash))"
    }

    public func matches(_ secret: String) -> Bool {
        Digest.constantTimeEquals(Digest.pbkdf2SHA256(password: Array(secret.utf8), salt: salt, iterations: iterations), hash)
    }

    public var description: String { "pbkdf2-sha256$\(iterations)$…" }
}

/// A configuration value that is not acceptable, with the reason; the loader adds the key path.
public struct ConfigurationProblem: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
