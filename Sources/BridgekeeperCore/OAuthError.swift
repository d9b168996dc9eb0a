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

    public init(_ code: Code, _ message: String, reason: ReasonCode) {
        self.code = code
        self.message = Self.descriptionSafe(message)
        self.reason = reason
    }

    public var description: String { "\(code.rawValue) (\(reason.rawValue)): \(message)" }

    /// The JSON body: `{"error":…,"error_description":…}`. `message` holds no quote, backslash or
    /// control character (see `descriptionSafe`), so it needs no escaping.
    public var body: String {
        "{\"error\":\"\(code.rawValue)\",\"error_description\":\"\(message)\"}"
    }

    /// RFC 6749 §5.2 limits `error_description` to %x20-21 / %x23-5B / %x5D-7E: no quote, no backslash,
    /// nothing outside printable ASCII. Anything else becomes "?".
    static func descriptionSafe(_ text: String) -> String {
        String(decoding: text.utf8.prefix(300).map { byte in
            (byte >= 0x20 && byte <= 0x7E && byte != 0x22 && byte != 0x5C) ? byte : UInt8(ascii: "?")
        }, as: UTF8.self)
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
