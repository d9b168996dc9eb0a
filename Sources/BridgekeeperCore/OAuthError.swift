/// The one wire error type of the token, revocation and introspection endpoints (RFC 6749 §5.2,
/// RFC 7009 §2.2.1, RFC 8707 §2).
///
/// `message` becomes `error_description` and is safe for the client; `reason` is the precise,
/// audited cause and never leaves the server except in the audit trail. Every response built from
/// an `OAuthError` carries `Cache-Control: no-store`.
public struct OAuthError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case invalidScope = "invalid_scope"
        case invalidTarget = "invalid_target"
        case unsupportedTokenType = "unsupported_token_type"

        /// RFC 6749 §5.2: 401 for a failed client authentication, 400 for everything else.
        public var httpStatus: Int { self == .invalidClient ? 401 : 400 }
    }

    public var code: Code
    /// `error_description`: printable ASCII only (RFC 6749 §5.2), safe for the client.
    public var message: String
    /// The audited cause, finer than the wire code.
    public var reason: ReasonCode
    /// Set for a rate limit: the request is answered 429 with `Retry-After` (RFC 6585 §4) in these
    /// whole seconds instead of an OAuth error body, and audited as `rate_limited`.
    public var retryAfter: Int?

    public init(_ code: Code, _ message: String, reason: ReasonCode) {
        self.code = code
        self.message = Self.descriptionSafe(message)
        self.reason = reason
    }

    /// A per-credential rate limit (`rate_limits`): 429 with `Retry-After`, audited `rate_limited`.
    public static func rateLimited(retryAfter: Int) -> OAuthError {
        var error = OAuthError(.invalidRequest, "rate limit exceeded", reason: .rateLimited)
        error.retryAfter = max(1, retryAfter)
        return error
    }

    public var description: String { "\(code.rawValue) (\(reason.rawValue)): \(message)" }

    /// The JSON body: `{"error":…,"error_description":…}`. `message` holds no quote, backslash or
    /// control character (see `descriptionSafe`), so it needs no escaping.
    public var body: String {
        "{\"error\":\"\(code.rawValue)\",\"error_description\":\"\(message)\"}"
    }

    /// At most this many bytes of `error_description`.
    public static let maxDescriptionBytes = 300

    /// RFC 6749 §5.2 limits `error_description` to %x20-21 / %x23-5B / %x5D-7E: no quote, no
    /// backslash, nothing outside printable ASCII. The text stays readable and nothing is lost:
    /// a double quote is shown as a single quote (`no key with kid 'rig-idp-1'`); a backslash, a
    /// percent sign and every byte outside %x20-7E (control characters, each byte of a non-ASCII
    /// character's UTF-8) are percent-encoded as `%XX`, so percent-decoding gives the text back.
    /// Cut at `maxDescriptionBytes` before a whole character, never inside an escape.
    public static func descriptionSafe(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(min(text.utf8.count, maxDescriptionBytes))
        for scalar in text.unicodeScalars {
            var unit: [UInt8] = []
            switch scalar.value {
            case 0x22: unit = [UInt8(ascii: "'")]
            case 0x20...0x7E where scalar.value != 0x25 && scalar.value != 0x5C: unit = [UInt8(scalar.value)]
            default:
                for byte in String(scalar).utf8 { unit += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]] }
            }
            guard out.count + unit.count <= maxDescriptionBytes else { break }
            out.append(contentsOf: unit)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Why a request was refused (or what was done), for the audit trail: stable, machine-readable,
/// finer than the OAuth error code. A struct with static members so that adding one breaks no caller.
public struct ReasonCode: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // Request shape
    public static let requestTooLarge = ReasonCode("request_too_large")
    public static let malformedForm = ReasonCode("malformed_form")
    public static let repeatedParameter = ReasonCode("repeated_parameter")
    public static let missingParameter = ReasonCode("missing_parameter")
    public static let unsupportedGrantType = ReasonCode("unsupported_grant_type")
    public static let malformedScope = ReasonCode("malformed_scope")
    public static let malformedResource = ReasonCode("malformed_resource")
}

extension ReasonCode {
    // Client authentication
    public static let clientAuthenticationMissing = ReasonCode("client_authentication_missing")
    /// A per-credential or per-address rate limit refused the request before any credential was checked (429).
    public static let rateLimited = ReasonCode("rate_limited")
    public static let clientAuthenticationAmbiguous = ReasonCode("client_authentication_ambiguous")
    public static let unknownClient = ReasonCode("unknown_client")
    public static let badClientSecret = ReasonCode("bad_client_secret")
    public static let wrongClientAuthenticationMethod = ReasonCode("wrong_client_authentication_method")
    public static let badClientAssertion = ReasonCode("bad_client_assertion")
    public static let clientAssertionReplayed = ReasonCode("client_assertion_replayed")
    public static let clientIDMismatch = ReasonCode("client_id_mismatch")
    public static let grantTypeNotAllowed = ReasonCode("grant_type_not_allowed")
    /// The store failed; the request is answered 500 without detail (every module that reads or
    /// writes the store on a request path says it the same way).
    public static let storeUnavailable = ReasonCode("store_unavailable")

    // The assertion (ID-JAG) and its subject
    public static let untrustedIssuer = ReasonCode("untrusted_issuer")
    public static let assertionReplayed = ReasonCode("assertion_replayed")
    public static let assertionClientMismatch = ReasonCode("assertion_client_mismatch")
    public static let tenantNotAllowed = ReasonCode("tenant_not_allowed")
    public static let subjectDisabled = ReasonCode("subject_disabled")
    public static let keysUnavailable = ReasonCode("idp_keys_unavailable")

    // Resources
    public static let resourceRequired = ReasonCode("resource_required")
    public static let unknownResource = ReasonCode("unknown_resource")
    public static let resourceNotAllowedForClient = ReasonCode("resource_not_allowed_for_client")
    public static let resourceMismatch = ReasonCode("resource_mismatch")

    // Revocation
    public static let revokedByClient = ReasonCode("revoked_by_client")
    public static let revokedByOperator = ReasonCode("revoked_by_operator")
    public static let notIntrospectionClient = ReasonCode("not_introspection_client")
}
