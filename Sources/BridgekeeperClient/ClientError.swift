/// Why a terminal sign-in, refresh or token request failed: a code (one of ours, a JOSE code, or
/// the OAuth `error` a server answered) and a reason for the person at the terminal. The CLI
/// prints it as `error: <code>: <reason>`. A struct with an extensible code (STYLE rule 6).
///
/// Reasons never carry tokens, codes, verifiers or secrets.
public struct ClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The client configuration file is missing, unreadable or invalid (the reason names the key path).
        public static let invalidConfiguration = Code("invalid_client_configuration")
        /// The IdP's discovery document is unusable (wrong issuer, missing endpoint, insecure URL).
        public static let discoveryFailed = Code("discovery_failed")
        /// A request could not be sent or answered (connection, timeout, size cap, redirect).
        public static let network = Code("network")
        /// An answer was not the JSON document expected.
        public static let invalidResponse = Code("invalid_response")
        /// The redirect's `state` is not the one this sign-in sent (RFC 6749 §10.12).
        public static let stateMismatch = Code("state_mismatch")
        /// The redirect's `iss` is not the IdP's issuer (RFC 9207 §2.4).
        public static let issuerMismatch = Code("issuer_mismatch")
        /// The ID token's `nonce` is not the one this sign-in sent (OIDC Core §3.1.3.7).
        public static let nonceMismatch = Code("nonce_mismatch")
        /// The ID token after a refresh names another subject (OIDC Core §12.2).
        public static let subjectMismatch = Code("subject_mismatch")
        /// Nobody completed the sign-in in time.
        public static let timeout = Code("timeout")
        /// The loopback redirect listener could not start.
        public static let listenerFailed = Code("listener_failed")
        /// No session, or one that can no longer be used: sign in again.
        public static let loginRequired = Code("login_required")
        /// The session file cannot be written, read, or is not protected.
        public static let sessionStore = Code("session_store")
        /// The broker has no such server.
        public static let unknownServer = Code("unknown_server")
        /// The command line asks for something the configuration cannot give.
        public static let usage = Code("usage")
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// An error a remote server reported (`error`, `error_description`): both kept to printable
    /// ASCII so that nothing a server sends can drive the terminal.
    public static func remote(_ error: String, _ description: String) -> ClientError {
        ClientError(Code(printable(error, limit: 64)), printable(description, limit: 400))
    }

    public var description: String { "\(code.rawValue): \(reason)" }

    public static func printable(_ text: String, limit: Int) -> String {
        String(decoding: text.utf8.prefix(limit).map { ($0 >= 0x20 && $0 < 0x7F) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}
