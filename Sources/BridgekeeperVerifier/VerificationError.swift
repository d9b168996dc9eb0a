/// Why a gateway must not honour a request. A struct with an extensible code (STYLE rule 6):
/// adding a code breaks no gateway. `status` and `wwwAuthenticate` turn it into the RFC 6750 /
/// RFC 9728 answer.
public struct VerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// No bearer token came with the request.
        public static let missingToken = Code("missing_token")
        /// Not a compact JWS with a JSON payload (or over the size cap).
        public static let malformed = Code("malformed")
        /// `typ` is not `at+jwt`: another kind of token (an ID token, an ID-JAG, a receipt…).
        public static let wrongType = Code("wrong_type")
        /// `alg` is `none`, symmetric, or not in this verifier's allow-list.
        public static let algorithmNotAllowed = Code("algorithm_not_allowed")
        /// No key of the broker has this `kid`, even after a refetch of its JWKS.
        public static let unknownKey = Code("unknown_key")
        public static let badSignature = Code("bad_signature")
        public static let wrongIssuer = Code("wrong_issuer")
        /// `aud` is not this server's resource: a token for another server.
        public static let wrongAudience = Code("wrong_audience")
        public static let expired = Code("expired")
        public static let notYetValid = Code("not_yet_valid")
        /// A claim the gateway needs (`sub`, `jti`, `exp`, `client_id`) is missing or malformed.
        public static let invalidClaims = Code("invalid_claims")
        /// Revoked: the token itself, or its subject's tokens issued before a revocation epoch.
        public static let revoked = Code("revoked")
        /// The token lacks the scope for the tool; `scope` names it.
        public static let insufficientScope = Code("insufficient_scope")
        /// The broker's keys cannot be had (and none are cached).
        public static let keysUnavailable = Code("keys_unavailable")
        /// The revocation feed has not been heard from within the staleness bound: fail closed.
        public static let stale = Code("stale")
    }

    public let code: Code
    /// Safe to log and to show the client: never the token.
    public let reason: String
    /// For `insufficientScope`: the scope the request needs.
    public let scope: String?

    public init(_ code: Code, _ reason: String, scope: String? = nil) {
        self.code = code
        self.reason = reason
        self.scope = scope
    }

    public var description: String { "\(code.rawValue): \(reason)" }

    /// The HTTP status a gateway answers with: 401 for a missing or unusable token (the client
    /// should get another), 403 for a valid token without the scope, 503 when the gateway cannot
    /// currently tell (keys unavailable, revocation feed stale): a new token would not help.
    public var status: Int {
        switch code {
        case .insufficientScope: return 403
        case .keysUnavailable, .stale: return 503
        default: return 401
        }
    }

    /// The RFC 6750 §3 error code: none for a missing token, `insufficient_scope`, else
    /// `invalid_token`; nil for 503s, which are not the token's fault.
    public var bearerError: String? {
        switch code {
        case .missingToken, .keysUnavailable, .stale: return nil
        case .insufficientScope: return "insufficient_scope"
        default: return "invalid_token"
        }
    }

    /// The `WWW-Authenticate` header value (RFC 6750 §3, RFC 9728 §5.1): `Bearer` with
    /// `resource_metadata` when given, `error` and `error_description`, and `scope` for
    /// `insufficient_scope`. Quoted strings escape `\` and `"`.
    public func wwwAuthenticate(resourceMetadata: String?) -> String {
        var parameters: [(String, String)] = []
        if let resourceMetadata { parameters.append(("resource_metadata", resourceMetadata)) }
        if let bearerError {
            parameters.append(("error", bearerError))
            parameters.append(("error_description", reason))
        }
        if code == .insufficientScope, let scope { parameters.append(("scope", scope)) }
        guard !parameters.isEmpty else { return "Bearer" }
        return "Bearer " + parameters.map { "\($0.0)=\"\(Self.quoted($0.1))\"" }.joined(separator: ", ")
    }

    /// RFC 7230 quoted-string content: `\` and `"` escaped, control characters dropped.
    static func quoted(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\", "\"": out.append("\\"); out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: continue
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
