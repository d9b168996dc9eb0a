/// A JWS signature algorithm (RFC 7518 §3, RFC 8037 §3.1, RFC 9864).
///
/// `none` is deliberately not a case: it cannot be named, configured or chosen. HMAC algorithms
/// exist only for explicitly configured symmetric keys and are refused wherever an asymmetric key
/// is in play.
public enum JWSAlgorithm: String, Sendable, Hashable, CaseIterable, Comparable {
    case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
    case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
    case es256 = "ES256", es384 = "ES384", es512 = "ES512"
    /// Pure EdDSA; with an OKP key only Ed25519 is supported.
    case eddsa = "EdDSA"
    /// The fully specified name for EdDSA over Ed25519 (RFC 9864), accepted beside `EdDSA`.
    case ed25519 = "Ed25519"
    case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"

    /// The asymmetric algorithms: the default allow-list of every verifier.
    public static let asymmetric: Set<JWSAlgorithm> = Set(allCases.filter { !$0.isSymmetric })

    /// Position in `allCases`, without hashing.
    var ordinal: Int {
        switch self {
        case .rs256: return 0
        case .rs384: return 1
        case .rs512: return 2
        case .ps256: return 3
        case .ps384: return 4
        case .ps512: return 5
        case .es256: return 6
        case .es384: return 7
        case .es512: return 8
        case .eddsa: return 9
        case .ed25519: return 10
        case .hs256: return 11
        case .hs384: return 12
        case .hs512: return 13
        }
    }

    public var isSymmetric: Bool {
        switch self {
        case .hs256, .hs384, .hs512: return true
        default: return false
        }
    }

    enum Family: Equatable {
        case rsaPKCS1, rsaPSS, ecdsa(ECCurve), eddsa, hmac
    }

    var family: Family {
        switch self {
        case .rs256, .rs384, .rs512: return .rsaPKCS1
        case .ps256, .ps384, .ps512: return .rsaPSS
        case .es256: return .ecdsa(.p256)
        case .es384: return .ecdsa(.p384)
        case .es512: return .ecdsa(.p521)
        case .eddsa, .ed25519: return .eddsa
        case .hs256, .hs384, .hs512: return .hmac
        }
    }

    /// The digest, for every family but EdDSA.
    var digest: DigestAlgorithm? {
        switch self {
        case .rs256, .ps256, .es256, .hs256: return .sha256
        case .rs384, .ps384, .es384, .hs384: return .sha384
        case .rs512, .ps512, .es512, .hs512: return .sha512
        case .eddsa, .ed25519: return nil
        }
    }

    /// The algorithm whose name is exactly `name` (case-sensitive, RFC 7515 §4.1.1).
    public init?(exactName name: String) {
        // `switch` narrows by `==` (canonical equivalence) without building `allCases`; the one
        // candidate is then confirmed byte for byte.
        guard let match = JWSAlgorithm(rawValue: name), match.rawValue.isExactly(name) else { return nil }
        self = match
    }

    public static func < (lhs: JWSAlgorithm, rhs: JWSAlgorithm) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Reads a header's `alg`, naming the two refusals that matter: `none` and unknown names.
    static func fromHeader(_ value: JSONValue?) throws(JOSEError) -> JWSAlgorithm {
        guard let name = value?.stringValue else {
            throw JOSEError(.malformed, "header has no \"alg\" string")
        }
        if name.utf8.count == 4, name.asciiLowercased.isExactly("none") {
            throw JOSEError(.algorithmNone, "alg \"none\" (unsecured JWS) is never accepted")
        }
        guard let algorithm = JWSAlgorithm(exactName: name) else {
            throw JOSEError(.algorithmNotAllowed, "alg \"\(name.prefix(20))\" is not supported")
        }
        return algorithm
    }
}

enum DigestAlgorithm: Sendable, Hashable {
    case sha256, sha384, sha512

    var name: String {
        switch self {
        case .sha256: return "SHA256"
        case .sha384: return "SHA384"
        case .sha512: return "SHA512"
        }
    }

    var size: Int {
        switch self {
        case .sha256: return 32
        case .sha384: return 48
        case .sha512: return 64
        }
    }
}

/// The NIST curves JWS uses with ECDSA (RFC 7518 §6.2.1.1).
public enum ECCurve: String, Sendable, Hashable, CaseIterable {
    case p256 = "P-256", p384 = "P-384", p521 = "P-521"

    /// Bytes in one coordinate and in each of `r` and `s`.
    var fieldBytes: Int {
        switch self {
        case .p256: return 32
        case .p384: return 48
        case .p521: return 66
        }
    }

    var algorithm: JWSAlgorithm {
        switch self {
        case .p256: return .es256
        case .p384: return .es384
        case .p521: return .es512
        }
    }

    /// OpenSSL's name for the group.
    var openSSLName: String {
        switch self {
        case .p256: return "prime256v1"
        case .p384: return "secp384r1"
        case .p521: return "secp521r1"
        }
    }

    /// The curve whose JWK `crv` is exactly `name`.
    init?(exactName name: String) {
        guard let curve = ECCurve.allCases.first(where: { $0.rawValue.isExactly(name) }) else { return nil }
        self = curve
    }

    init?(openSSLName: String) {
        guard let curve = ECCurve.allCases.first(where: { $0.openSSLName.isExactly(openSSLName) || $0.rawValue.isExactly(openSSLName) }) else {
            return nil
        }
        self = curve
    }
}
