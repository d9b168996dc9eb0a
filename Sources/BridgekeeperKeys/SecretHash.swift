import BridgekeeperJOSE

/// A stored secret's hash, in one of two formats:
///
/// - `pbkdf2-sha256$<iterations>$<salt>$<hash>`, salt and hash in base64url: PBKDF2-HMAC-SHA-256
///   (RFC 8018), at least 10,000 iterations; `make` uses 100,000. For a secret a person chose, whose
///   entropy we cannot know: the stretching is what makes guessing it from a leaked hash slow.
/// - `sha256$<hash>`, the hash in base64url: one SHA-256 (FIPS 180-4) of the secret. Only for a
///   secret we generated, 256 bits from the CSPRNG (`generate`, `makeFast`). Stretching and salt
///   defend a low-entropy input against guessing and precomputed tables; a uniformly random 256-bit
///   input has neither weakness: finding it from its SHA-256 is a 2^256 preimage search, and no two
///   deployments share a secret for a table to pay off. So verifying costs one hash, not 100,000
///   HMACs, and a flood of wrong secrets costs the broker about what it costs the sender.
///
/// Both verify in constant time over the digest; existing PBKDF2 hashes keep working.
public struct SecretHash: Sendable, CustomStringConvertible {
    public enum Scheme: Sendable, Equatable {
        case pbkdf2SHA256
        case sha256
    }

    public static let minimumIterations = 10_000
    public static let defaultIterations = 100_000
    /// The fewest base64url characters `makeFast` takes: 43, what 32 random bytes encode to.
    public static let minimumGeneratedLength = 43
    public let scheme: Scheme
    /// PBKDF2 iterations; 0 for `sha256`.
    public let iterations: Int
    /// PBKDF2 salt; empty for `sha256`.
    package let salt: [UInt8]
    package let hash: [UInt8]

    public init(encoded: String) throws(ConfigurationProblem) {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2, parts[0].isExactly("sha256") {
            guard let hash = try? Base64URL.decode(parts[1]), hash.count == 32 else {
                throw ConfigurationProblem("the sha256 hash must be 32 bytes in base64url")
            }
            self.scheme = .sha256
            self.iterations = 0
            self.salt = []
            self.hash = hash
            return
        }
        guard parts.count == 4, parts[0].isExactly("pbkdf2-sha256") else {
            throw ConfigurationProblem("must be pbkdf2-sha256$<iterations>$<salt>$<hash> or sha256$<hash> (make one with `bridgekeeper clients hash-secret`)")
        }
        guard let iterations = Int(parts[1]), iterations >= Self.minimumIterations, iterations <= 10_000_000 else {
            throw ConfigurationProblem("iterations must be \(Self.minimumIterations) to 10000000")
        }
        guard let salt = try? Base64URL.decode(parts[2]), salt.count >= 16,
              let hash = try? Base64URL.decode(parts[3]), hash.count == 32 else {
            throw ConfigurationProblem("salt (16+ bytes) and hash (32 bytes) must be base64url")
        }
        self.scheme = .pbkdf2SHA256
        self.iterations = iterations
        self.salt = salt
        self.hash = hash
    }

    /// The PBKDF2 hash of `secret` under a fresh salt: for a secret a person chose.
    public static func make(secret: String, iterations: Int = defaultIterations) -> String {
        let salt = SecureRandom.bytes(16)
        let hash = Digest.pbkdf2SHA256(password: Array(secret.utf8), salt: salt, iterations: iterations)
        return "pbkdf2-sha256$\(iterations)$\(Base64URL.encode(salt))$\(Base64URL.encode(hash))"
    }

    /// A new 256-bit secret (43 base64url characters) and its `sha256$` hash.
    public static func generate() -> (secret: String, encoded: String) {
        let secret = SecureRandom.identifier(bytes: 32)
        return (secret, fastHash(secret))
    }

    /// The `sha256$` hash of a secret that has the shape of one we generate: after an optional
    /// scheme word and a space (`Bearer …`, an Authorization header value), at least 43 base64url
    /// characters. A shorter or otherwise shaped secret is refused: it may have been chosen by a
    /// person and needs PBKDF2 (`make`). The shape cannot prove randomness; callers pass only what
    /// they generated, or what an operator says came from `generate`.
    public static func makeFast(secret: String) throws(ConfigurationProblem) -> String {
        guard looksGenerated(secret) else {
            throw ConfigurationProblem("a fast (sha256) hash is only for a generated 256-bit secret: 43+ base64url characters")
        }
        return fastHash(secret)
    }

    /// Whether `secret` has the shape `makeFast` takes.
    public static func looksGenerated(_ secret: String) -> Bool {
        let token = secret.split(separator: " ", maxSplits: 1).count == 2 ? String(secret.split(separator: " ", maxSplits: 1)[1]) : secret
        return token.utf8.count >= minimumGeneratedLength
            && token.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F
            }
    }

    static func fastHash(_ secret: String) -> String { "sha256$" + Base64URL.encode(Digest.sha256(Array(secret.utf8))) }

    /// Whether `secret` is the one hashed: a constant-time comparison of digests.
    public func matches(_ secret: String) -> Bool {
        switch scheme {
        case .sha256: Digest.constantTimeEquals(Digest.sha256(Array(secret.utf8)), hash)
        case .pbkdf2SHA256: Digest.constantTimeEquals(Digest.pbkdf2SHA256(password: Array(secret.utf8), salt: salt, iterations: iterations), hash)
        }
    }

    /// Whether checking a wrong secret is expensive (PBKDF2): such checks are rate limited first.
    public var isStretched: Bool { scheme == .pbkdf2SHA256 }

    public var description: String {
        switch scheme {
        case .sha256: "sha256$…"
        case .pbkdf2SHA256: "pbkdf2-sha256$\(iterations)$…"
        }
    }
}

/// A configuration value that is not acceptable, with the reason; the loader adds the key path.
public struct ConfigurationProblem: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
