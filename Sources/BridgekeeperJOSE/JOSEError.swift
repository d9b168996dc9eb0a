/// Why a JOSE object, key or JWT was refused.
///
/// A struct with an extensible `Code` (STYLE rule 6): adding a code breaks no caller. `reason` is a
/// short human sentence, safe to show an operator; it never contains key material or a token.
public struct JOSEError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // Shape and encoding
        /// The input is larger than the configured cap.
        public static let tooLarge = Code("too_large")
        /// Not a three-segment compact JWS.
        public static let malformed = Code("malformed")
        /// Five segments: a JWE, which this verifier does not accept.
        public static let jweNotSupported = Code("jwe_not_supported")
        /// A segment is not strict base64url (padding, whitespace, bad characters, non-canonical bits).
        public static let badBase64URL = Code("bad_base64url")
        /// A header or payload is not strict JSON (syntax, depth, length, invalid UTF-8).
        public static let badJSON = Code("bad_json")
        /// A JSON object names the same member twice.
        public static let duplicateMember = Code("duplicate_member")
        /// The header names a `crit` extension that is not understood (RFC 7515 §4.1.11).
        public static let unknownCritical = Code("unknown_crit")
        /// `b64: false` (RFC 7797 unencoded payload): refused.
        public static let unencodedPayload = Code("unencoded_payload")
        /// Empty payload segment (detached content, RFC 7515 Appendix F): refused.
        public static let detachedPayload = Code("detached_payload")
        /// A header parameter RFC 7515 §4.1 defines as a string (`kid`, `typ`, `cty`) is another JSON
        /// type or empty.
        public static let invalidHeader = Code("invalid_header")
        /// The header carries a key or a key location (`jwk`, `jku`, `x5u`, `x5c`): never trusted, refused.
        public static let embeddedKey = Code("embedded_key")

        // Algorithm and key
        /// `alg: none` (unsecured JWS): never accepted.
        public static let algorithmNone = Code("alg_none")
        /// An HMAC algorithm where an asymmetric key is expected (the RS256/HS256 confusion attack).
        public static let symmetricAlgorithm = Code("alg_symmetric")
        /// The algorithm is not on the verifier's allow-list or the key's.
        public static let algorithmNotAllowed = Code("alg_not_allowed")
        /// No key in the set matches the token's `kid` and algorithm.
        public static let unknownKey = Code("unknown_key")
        /// The set has several candidate keys and the token names none by `kid`.
        public static let keyIDRequired = Code("kid_required")
        /// A key is malformed, too weak, not on its curve, or not meant for this use.
        public static let invalidKey = Code("invalid_key")
        /// The signature does not verify.
        public static let badSignature = Code("bad_signature")
        /// The signature has the wrong length or encoding (for ECDSA, JWS needs `r||s` of exact size).
        public static let badSignatureEncoding = Code("bad_signature_encoding")

        // Claims
        /// The header `typ` is not the one this token kind requires.
        public static let wrongType = Code("wrong_typ")
        /// The payload is not a JSON object of claims.
        public static let notAJWT = Code("not_a_jwt")
        /// A required claim is missing.
        public static let missingClaim = Code("missing_claim")
        /// A claim has the wrong JSON type or an out-of-range value.
        public static let invalidClaim = Code("invalid_claim")
        /// A claim that this kind must not carry is present (e.g. `events` in an ID token).
        public static let forbiddenClaim = Code("forbidden_claim")
        public static let expired = Code("expired")
        public static let notYetValid = Code("not_yet_valid")
        public static let issuedInFuture = Code("issued_in_future")
        /// `exp - iat` exceeds the lifetime cap, or `iat` is older than the maximum age.
        public static let lifetimeTooLong = Code("lifetime_too_long")
        public static let wrongIssuer = Code("wrong_issuer")
        public static let wrongAudience = Code("wrong_audience")
        /// `aud` is an array of more than one member: refused (the audience-injection class of attack).
        public static let multipleAudiences = Code("multiple_audiences")

        // Local failures
        /// OpenSSL failed for a reason that is not the input's fault.
        public static let cryptoFailure = Code("crypto_failure")
        public static let unsupported = Code("unsupported")
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// `error: <code>: <reason>`, the form the CLI prints.
    public var description: String { "\(code.rawValue): \(reason)" }
}

