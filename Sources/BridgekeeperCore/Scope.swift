/// An OAuth scope (RFC 6749 §3.3): a set of scope-tokens, kept sorted and unique so that the same
/// grant always serialises the same way.
///
/// Grammar: `scope = scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
/// Parsing is strict: a stray space, a quote, a backslash or anything outside printable ASCII is
/// `invalid_scope`.
public struct Scope: Sendable, Hashable, CustomStringConvertible {
    public let tokens: [String]

    public static let empty = Scope(validated: [])

    private init(validated tokens: [String]) {
        self.tokens = Array(Set(tokens)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Parses a `scope` parameter or claim.
    /// - Throws: `invalid_scope` with `malformed_scope`.
    public init(parsing text: String) throws(OAuthError) {
        var tokens: [String] = []
        for token in text.utf8.split(separator: 0x20, omittingEmptySubsequences: false) {
            guard !token.isEmpty, token.allSatisfy(Self.isTokenByte) else {
                throw OAuthError(.invalidScope, "scope is malformed (RFC 6749 section 3.3)", reason: .malformedScope)
            }
            tokens.append(String(decoding: token, as: UTF8.self))
        }
        self.init(validated: tokens)
    }

    /// A scope from tokens that must each be valid.
    /// - Throws: `invalid_scope` with `malformed_scope` for an invalid token.
    public init<Tokens: Sequence>(tokens: Tokens) throws(OAuthError) where Tokens.Element == String {
        var valid: [String] = []
        for token in tokens {
            guard !token.isEmpty, token.utf8.allSatisfy(Self.isTokenByte) else {
                throw OAuthError(.invalidScope, "scope token is malformed (RFC 6749 section 3.3)", reason: .malformedScope)
            }
            valid.append(token)
        }
        self.init(validated: valid)
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        byte == 0x21 || (0x23...0x5B).contains(byte) || (0x5D...0x7E).contains(byte)
    }

    public var isEmpty: Bool { tokens.isEmpty }

    public func contains(_ token: String) -> Bool {
        tokens.contains { $0.utf8.elementsEqual(token.utf8) }
    }

    /// The tokens in both scopes (compared byte for byte).
    public func intersection(_ other: Scope) -> Scope {
        Scope(validated: tokens.filter { other.contains($0) })
    }

    /// Space-separated, sorted: the wire form.
    public var description: String { tokens.joined(separator: " ") }

    public static func == (lhs: Scope, rhs: Scope) -> Bool {
        lhs.tokens.count == rhs.tokens.count && zip(lhs.tokens, rhs.tokens).allSatisfy { $0.utf8.elementsEqual($1.utf8) }
    }

    public func hash(into hasher: inout Hasher) {
        for token in tokens { hasher.combine(Array(token.utf8)) }
    }
}
