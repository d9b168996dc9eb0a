// The SCIM filter and PATCH path grammar (RFC 7644 §3.4.2.2 Figure 1, §3.5.2 Figure 7), parsed by
// hand into a small AST. This file uses the standard library only, so Fuzz/run.sh can build it alone
// into the filter fuzz target (Fuzz/FuzzSCIMFilter.swift).

/// An attribute path (RFC 7644 §3.4.2.2 `attrPath = [URI ":"] ATTRNAME *1subAttr`): `userName`,
/// `name.familyName`, `urn:ietf:params:scim:schemas:core:2.0:User:userName`. Names keep the case
/// they were written in; they compare without case (RFC 7643 §2.1).
public struct SCIMAttributePath: Sendable, Hashable, CustomStringConvertible {
    /// The schema URN prefix, without the final `:`, as written; nil when absent.
    public let schema: String?
    public let name: String
    public let subAttribute: String?

    public init(schema: String?, name: String, subAttribute: String?) {
        self.schema = schema
        self.name = name
        self.subAttribute = subAttribute
    }

    public var description: String {
        (schema.map { $0 + ":" } ?? "") + name + (subAttribute.map { "." + $0 } ?? "")
    }
}

/// `compareOp` (RFC 7644 §3.4.2.2), written in any case on the wire.
public enum SCIMComparison: String, Sendable, Hashable, CaseIterable {
    case eq, ne, co, sw, ew, gt, ge, lt, le
}

/// `compValue = false / null / true / number / string` (RFC 7644 §3.4.2.2, JSON's rules of RFC 7159).
public enum SCIMFilterValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    /// A JSON number, as its literal text.
    case number(String)
    case bool(Bool)
    case null

    public var description: String {
        switch self {
        case .string(let text): return SCIMFilterParser.quoted(text)
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        }
    }
}

/// A parsed filter (RFC 7644 §3.4.2.2). Grouping parentheses leave no node of their own; `and` and
/// `or` hold two or more operands in the order written.
public indirect enum SCIMFilter: Sendable, Hashable, CustomStringConvertible {
    /// `attrPath pr`.
    case present(SCIMAttributePath)
    /// `attrPath compareOp compValue`.
    case compare(SCIMAttributePath, SCIMComparison, SCIMFilterValue)
    /// `attrPath "[" valFilter "]"`: some value of the multi-valued attribute matches the inner
    /// filter, whose paths name its sub-attributes.
    case valuePath(SCIMAttributePath, SCIMFilter)
    /// `not "(" FILTER ")"`.
    case not(SCIMFilter)
    case and([SCIMFilter])
    case or([SCIMFilter])

    /// The filter written back in the grammar, with parentheses around every nested `and` and
    /// `or`: parsing it gives this value again (the fuzz target checks it).
    public var description: String {
        func operand(_ filter: SCIMFilter) -> String {
            switch filter {
            case .and, .or: return "(" + filter.description + ")"
            default: return filter.description
            }
        }
        switch self {
        case .present(let path): return "\(path) pr"
        case .compare(let path, let op, let value): return "\(path) \(op.rawValue) \(value)"
        case .valuePath(let path, let inner): return "\(path)[\(inner)]"
        case .not(let inner): return "not (\(inner))"
        case .and(let operands): return operands.map(operand).joined(separator: " and ")
        case .or(let operands): return operands.map(operand).joined(separator: " or ")
        }
    }
}

/// A PATCH `path` (RFC 7644 §3.5.2 Figure 7: `PATH = attrPath / valuePath [subAttr]`).
public struct SCIMPatchPath: Sendable, Hashable {
    public let attribute: SCIMAttributePath
    /// The value filter of `attr[filter]`.
    public let filter: SCIMFilter?
    /// The sub-attribute after `]` (`emails[type eq "work"].value`).
    public let subAttribute: String?
}

/// Why a filter or path was refused; `offset` is the UTF-8 offset where reading stopped.
public struct SCIMFilterError: Error, Sendable, Hashable {
    public let detail: String
    public let offset: Int
}

/// The recursive-descent parser for filters and PATCH paths.
///
/// Precedence is `not` > `and` > `or` (RFC 7644 §3.4.2.2); operators, `and`, `or`, `not` and
/// attribute names are read without case; `true`, `false` and `null` are JSON's lower-case literals;
/// strings are JSON strings with JSON's escapes only (an unknown escape, a raw control character or
/// a lone surrogate is refused). Bounds: at most `maxBytes` bytes, `maxDepth` nested groups
/// (parentheses, `not (…)` and `[…]` each count one) and `maxTerms` attribute expressions. Work is
/// linear in the input: one pass to tokens, one over them, recursion only per nested group.
public enum SCIMFilterParser {
    /// Longest filter or path, in UTF-8 bytes.
    public static let maxBytes = 4_096
    /// Deepest nesting of parentheses, `not (…)` and value filters.
    public static let maxDepth = 16
    /// Most attribute expressions (`pr` and comparisons) in one filter.
    public static let maxTerms = 64

    /// Parses a `filter` query parameter.
    public static func parseFilter(_ text: String) throws(SCIMFilterError) -> SCIMFilter {
        var parser = try Parser(text)
        let filter = try parser.filter(depth: 0, inValuePath: false)
        if let extra = parser.peek { throw parser.failure("unexpected \(extra.kind.name) after the filter", at: extra) }
        return filter
    }

    /// Parses a PATCH operation's `path`.
    public static func parsePath(_ text: String) throws(SCIMFilterError) -> SCIMPatchPath {
        var parser = try Parser(text)
        guard let first = parser.next() else { throw SCIMFilterError(detail: "the path is empty", offset: 0) }
        guard case .word(let word) = first.kind else { throw parser.failure("a path starts with an attribute name", at: first) }
        let attribute = try parser.attributePath(word, at: first)
        var filter: SCIMFilter? = nil
        var sub: String? = nil
        if let open = parser.peek, case .open(.bracket) = open.kind {
            _ = parser.next()
            filter = try parser.filter(depth: 1, inValuePath: true)
            try parser.expect(.close(.bracket))
            if let dot = parser.peek, case .subAttribute(let name) = dot.kind {
                _ = parser.next()
                sub = name
            }
        }
        if let extra = parser.peek { throw parser.failure("unexpected \(extra.kind.name) in the path", at: extra) }
        return SCIMPatchPath(attribute: attribute, filter: filter, subAttribute: sub)
    }

    /// `text` as a JSON string literal (the form `SCIMFilter.description` writes).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = Array("0123456789abcdef")
                    out += "\\u00" + String(hex[Int(scalar.value >> 4)]) + String(hex[Int(scalar.value & 15)])
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

// MARK: - Tokens

struct Token {
    enum Bracket { case paren, bracket }
    enum Kind {
        case open(Bracket), close(Bracket)
        /// ATTRNAME characters, `:` and `.`: an attribute path, an operator, a keyword or a literal.
        case word(String)
        case string(String)
        case number(String)
        /// `.name` straight after `]` (PATCH paths only).
        case subAttribute(String)

        var name: String {
            switch self {
            case .open(.paren): return "("
            case .open(.bracket): return "["
            case .close(.paren): return ")"
            case .close(.bracket): return "]"
            case .word(let word): return "'\(word.prefix(40))'"
            case .string: return "a string"
            case .number: return "a number"
            case .subAttribute(let name): return "'.\(name.prefix(40))'"
            }
        }

        /// Words, strings and numbers must be separated by a space (the grammar's SP).
        var isAtom: Bool {
            switch self {
            case .word, .string, .number: return true
            default: return false
            }
        }
    }

    let kind: Kind
    let offset: Int
}

private func isAlpha(_ byte: UInt8) -> Bool { (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) }
private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
private func isNameChar(_ byte: UInt8) -> Bool { isAlpha(byte) || isDigit(byte) || byte == 0x2D || byte == 0x5F }

private struct Parser {
    let tokens: [Token]
    var position = 0
    var terms = 0

    init(_ text: String) throws(SCIMFilterError) {
        let bytes = Array(text.utf8)
        guard bytes.count <= SCIMFilterParser.maxBytes else {
            throw SCIMFilterError(detail: "longer than \(SCIMFilterParser.maxBytes) bytes", offset: SCIMFilterParser.maxBytes)
        }
        tokens = try Self.tokenize(bytes)
    }

    var peek: Token? { position < tokens.count ? tokens[position] : nil }

    mutating func next() -> Token? {
        defer { if position < tokens.count { position += 1 } }
        return peek
    }

    func failure(_ detail: String, at token: Token?) -> SCIMFilterError {
        SCIMFilterError(detail: detail, offset: token?.offset ?? tokens.last.map { $0.offset } ?? 0)
    }

    mutating func expect(_ kind: Token.Kind) throws(SCIMFilterError) {
        guard let token = next() else { throw failure("missing \(kind.name)", at: nil) }
        switch (kind, token.kind) {
        case (.close(.paren), .close(.paren)), (.close(.bracket), .close(.bracket)): return
        default: throw failure("expected \(kind.name), found \(token.kind.name)", at: token)
        }
    }

    // MARK: Grammar

    /// `FILTER` as alternatives of `and`-terms.
    mutating func filter(depth: Int, inValuePath: Bool) throws(SCIMFilterError) -> SCIMFilter {
        var operands = [try conjunction(depth: depth, inValuePath: inValuePath)]
        while let token = peek, case .word(let word) = token.kind, word.lowercased() == "or" {
            _ = next()
            operands.append(try conjunction(depth: depth, inValuePath: inValuePath))
        }
        return operands.count == 1 ? operands[0] : .or(operands)
    }

    mutating func conjunction(depth: Int, inValuePath: Bool) throws(SCIMFilterError) -> SCIMFilter {
        var operands = [try factor(depth: depth, inValuePath: inValuePath)]
        while let token = peek, case .word(let word) = token.kind, word.lowercased() == "and" {
            _ = next()
            operands.append(try factor(depth: depth, inValuePath: inValuePath))
        }
        return operands.count == 1 ? operands[0] : .and(operands)
    }

    /// `( FILTER )`, `not ( FILTER )`, `attrPath [ valFilter ]`, `attrPath pr`,
    /// `attrPath compareOp compValue`.
    mutating func factor(depth: Int, inValuePath: Bool) throws(SCIMFilterError) -> SCIMFilter {
        guard let token = next() else { throw failure("the filter ends where an expression should start", at: nil) }
        switch token.kind {
        case .open(.paren):
            return try group(depth: depth, inValuePath: inValuePath, at: token)
        case .word(let word):
            if word.lowercased() == "not", let open = peek, case .open(.paren) = open.kind {
                _ = next()
                return .not(try group(depth: depth, inValuePath: inValuePath, at: open))
            }
            let path = try attributePath(word, at: token)
            guard let op = next() else { throw failure("\(path) needs an operator", at: nil) }
            if case .open(.bracket) = op.kind {
                guard !inValuePath else { throw failure("value filters do not nest", at: op) }
                guard depth + 1 <= SCIMFilterParser.maxDepth else { throw failure("nested deeper than \(SCIMFilterParser.maxDepth)", at: op) }
                let inner = try filter(depth: depth + 1, inValuePath: true)
                try expect(.close(.bracket))
                return .valuePath(path, inner)
            }
            guard case .word(let name) = op.kind else { throw failure("expected an operator after \(path), found \(op.kind.name)", at: op) }
            terms += 1
            guard terms <= SCIMFilterParser.maxTerms else { throw failure("more than \(SCIMFilterParser.maxTerms) expressions", at: op) }
            let lower = name.lowercased()
            if lower == "pr" { return .present(path) }
            guard let comparison = SCIMComparison(rawValue: lower) else { throw failure("unknown operator \(op.kind.name)", at: op) }
            guard let value = next() else { throw failure("\(comparison.rawValue) needs a value", at: nil) }
            switch value.kind {
            case .string(let text): return .compare(path, comparison, .string(text))
            case .number(let text): return .compare(path, comparison, .number(text))
            case .word("true"): return .compare(path, comparison, .bool(true))
            case .word("false"): return .compare(path, comparison, .bool(false))
            case .word("null"): return .compare(path, comparison, .null)
            default: throw failure("a value is a JSON string, number, true, false or null; found \(value.kind.name)", at: value)
            }
        default:
            throw failure("expected an attribute, ( or not, found \(token.kind.name)", at: token)
        }
    }

    mutating func group(depth: Int, inValuePath: Bool, at open: Token) throws(SCIMFilterError) -> SCIMFilter {
        guard depth + 1 <= SCIMFilterParser.maxDepth else { throw failure("nested deeper than \(SCIMFilterParser.maxDepth)", at: open) }
        let inner = try filter(depth: depth + 1, inValuePath: inValuePath)
        try expect(.close(.paren))
        return inner
    }

    /// `[URI ":"] ATTRNAME *1("." ATTRNAME)`; the URI is everything before the last `:`.
    func attributePath(_ word: String, at token: Token) throws(SCIMFilterError) -> SCIMAttributePath {
        var schema: String? = nil
        var rest = Substring(word)
        if let colon = word.lastIndex(of: ":") {
            let uri = word[..<colon]
            guard uri.lowercased().hasPrefix("urn:"), uri.count > 4 else { throw failure("a schema prefix is a URN", at: token) }
            schema = String(uri)
            rest = word[word.index(after: colon)...]
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw failure("\(word.prefix(60)) has more than one sub-attribute", at: token) }
        for part in parts {
            guard let first = part.utf8.first, isAlpha(first), part.utf8.allSatisfy(isNameChar) else {
                throw failure("\(word.prefix(60)) is not an attribute name", at: token)
            }
        }
        return SCIMAttributePath(schema: schema, name: String(parts[0]), subAttribute: parts.count == 2 ? String(parts[1]) : nil)
    }

    // MARK: Lexing

    static func tokenize(_ bytes: [UInt8]) throws(SCIMFilterError) -> [Token] {
        var tokens: [Token] = []
        var index = 0
        var spaced = true
        while index < bytes.count {
            let byte = bytes[index]
            let start = index
            let kind: Token.Kind
            switch byte {
            case 0x20:
                index += 1
                spaced = true
                continue
            case 0x28: kind = .open(.paren); index += 1
            case 0x29: kind = .close(.paren); index += 1
            case 0x5B: kind = .open(.bracket); index += 1
            case 0x5D:
                kind = .close(.bracket)
                index += 1
                // `].value` (PATCH paths): read the sub-attribute as one token.
                if index < bytes.count, bytes[index] == 0x2E {
                    tokens.append(Token(kind: kind, offset: start))
                    var end = index + 1
                    while end < bytes.count, isNameChar(bytes[end]) { end += 1 }
                    let name = bytes[(index + 1)..<end]
                    guard let first = name.first, isAlpha(first) else { throw SCIMFilterError(detail: "expected a sub-attribute after ].", offset: index) }
                    tokens.append(Token(kind: .subAttribute(String(decoding: name, as: UTF8.self)), offset: index))
                    index = end
                    spaced = false
                    continue
                }
            case 0x22:
                let text = try string(bytes, &index)
                kind = .string(text)
            case 0x2D, 0x30...0x39:
                kind = .number(try number(bytes, &index))
            default:
                guard isAlpha(byte) else {
                    throw SCIMFilterError(detail: "unexpected character at byte \(index)", offset: index)
                }
                var end = index
                while end < bytes.count, isNameChar(bytes[end]) || bytes[end] == 0x3A || bytes[end] == 0x2E { end += 1 }
                kind = .word(String(decoding: bytes[index..<end], as: UTF8.self))
                index = end
            }
            if kind.isAtom, let last = tokens.last, last.kind.isAtom, !spaced {
                throw SCIMFilterError(detail: "expected a space before byte \(start)", offset: start)
            }
            tokens.append(Token(kind: kind, offset: start))
            spaced = false
        }
        return tokens
    }

    /// A JSON string (RFC 8259 §7) starting at `index` (the opening quote).
    static func string(_ bytes: [UInt8], _ index: inout Int) throws(SCIMFilterError) -> String {
        let start = index
        index += 1
        var out: [UInt8] = []
        func fail(_ detail: String) -> SCIMFilterError { SCIMFilterError(detail: detail, offset: index) }
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for byte in bytes[at..<(at + 4)] {
                let digit: UInt32
                switch byte {
                case 0x30...0x39: digit = UInt32(byte - 0x30)
                case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
                default: return nil
                }
                value = value << 4 | digit
            }
            return value
        }
        while true {
            guard index < bytes.count else { throw SCIMFilterError(detail: "unterminated string", offset: start) }
            let byte = bytes[index]
            switch byte {
            case 0x22:
                index += 1
                return String(decoding: out, as: UTF8.self)
            case 0x5C:
                guard index + 1 < bytes.count else { throw fail("unterminated escape") }
                let escape = bytes[index + 1]
                index += 2
                switch escape {
                case 0x22: out.append(0x22)
                case 0x5C: out.append(0x5C)
                case 0x2F: out.append(0x2F)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    guard let unit = hex4(index) else { throw fail("\\u needs four hex digits") }
                    index += 4
                    var scalar = unit
                    if unit >= 0xD800, unit <= 0xDBFF {
                        guard index + 1 < bytes.count, bytes[index] == 0x5C, bytes[index + 1] == 0x75, let low = hex4(index + 2),
                              low >= 0xDC00, low <= 0xDFFF else { throw fail("a high surrogate needs a low surrogate") }
                        index += 6
                        scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    } else if unit >= 0xDC00, unit <= 0xDFFF {
                        throw fail("lone low surrogate")
                    }
                    guard let value = Unicode.Scalar(scalar) else { throw fail("not a Unicode scalar") }
                    out.append(contentsOf: Array(String(Character(value)).utf8))
                default:
                    throw fail("invalid escape \\\(escape >= 0x20 && escape < 0x7F ? String(UnicodeScalar(escape)) : "?") (JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
                }
            default:
                guard byte >= 0x20 else { throw fail("control character in a string") }
                out.append(byte)
                index += 1
            }
        }
    }

    /// A JSON number (RFC 8259 §6): `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func number(_ bytes: [UInt8], _ index: inout Int) throws(SCIMFilterError) -> String {
        let start = index
        func fail() -> SCIMFilterError { SCIMFilterError(detail: "not a JSON number", offset: start) }
        func digits() -> Int {
            let from = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            return index - from
        }
        if bytes[index] == 0x2D { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail() }
        if bytes[index] == 0x30 { index += 1 } else { _ = digits() }
        if index < bytes.count, bytes[index] == 0x2E {
            index += 1
            guard digits() > 0 else { throw fail() }
        }
        if index < bytes.count, bytes[index] == 0x65 || bytes[index] == 0x45 {
            index += 1
            if index < bytes.count, bytes[index] == 0x2B || bytes[index] == 0x2D { index += 1 }
            guard digits() > 0 else { throw fail() }
        }
        // `1eq` or `01`: a number runs into the next word.
        if index < bytes.count, isNameChar(bytes[index]) || bytes[index] == 0x2E { throw fail() }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
}
