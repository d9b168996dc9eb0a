/// A JSON value parsed strictly (RFC 8259, with the I-JSON restrictions of RFC 7493 that JOSE relies on).
///
/// JOSE headers and JWT claims are parsed with this instead of Foundation's decoder, because a
/// verifier must refuse what Foundation tolerates: duplicate member names (RFC 7515 §5.2, RFC 7519
/// §4), lone surrogates, invalid UTF-8, unbounded nesting.
///
/// Equality and hashing are exact: strings and member names compare by their UTF-8 bytes, numbers by
/// their literal text (so `1` and `1.0` differ), objects member by member in order.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var numberValue: JSONNumber? {
        if case .number(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a.isExactly(b)
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(1); hasher.combine(value)
        case .number(let value): hasher.combine(2); hasher.combine(value)
        case .string(let value): hasher.combine(3); hasher.combine(ExactString(value))
        case .array(let value): hasher.combine(4); hasher.combine(value)
        case .object(let value): hasher.combine(5); hasher.combine(value)
        }
    }
}

/// A JSON number: its exact literal text (kept for faithful re-serialisation) and its value.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// Integers of up to 15 digits (the common case: NumericDates) are kept as integers, whose
    /// decimal form is exactly their JSON literal; anything else keeps its literal text.
    private enum Storage: Sendable, Hashable {
        case integer(Int64)
        case literal(String, Double)
    }

    private let storage: Storage

    /// The literal as it appeared (or as we wrote it).
    public var text: String {
        switch storage {
        case .integer(let value): return String(value)
        case .literal(let text, _): return text
        }
    }

    public var double: Double {
        switch storage {
        case .integer(let value): return Double(value)
        case .literal(_, let double): return double
        }
    }

    public init(_ value: Int64) {
        storage = abs(value) < 1_000_000_000_000_000 ? .integer(value) : .literal(String(value), Double(value))
    }

    init(text: String, double: Double) {
        storage = .literal(text, double)
    }

    /// Same literal text.
    public static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        if case .integer(let a) = lhs.storage, case .integer(let b) = rhs.storage { return a == b }
        return lhs.text.isExactly(rhs.text)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(ExactString(text)) }

    /// The value as an integer when it is one exactly and within ±2^53 (JSON's safe integer range).
    public var exactInteger: Int64? {
        guard double.rounded(.towardZero) == double, abs(double) <= 9_007_199_254_740_992 else { return nil }
        return Int64(double)
    }

    public var description: String { text }
}

/// A JSON object with its members in document order and unique names.
public struct JSONObject: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public let name: String
        public let value: JSONValue
        /// The name's length and first bytes, made once (not part of equality or hashing: they
        /// follow from `name`).
        let nameKey: NameKey

        init(name: String, value: JSONValue) {
            self.init(name: name, value: value, nameKey: NameKey(name))
        }

        init(name: String, value: JSONValue, nameKey: NameKey) {
            self.name = name
            self.value = value
            self.nameKey = nameKey
        }

        public static func == (lhs: Member, rhs: Member) -> Bool { lhs.name.isExactly(rhs.name) && lhs.value == rhs.value }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(ExactString(name))
            hasher.combine(value)
        }
    }

    public private(set) var members: [Member]

    public init() { members = [] }

    /// Builds an object; a repeated name is a programming error here, so the last one wins.
    public init(_ pairs: KeyValuePairs<String, JSONValue>) {
        members = []
        for (name, value) in pairs { self[name] = value }
    }

    init(uniqueMembers: [Member]) { members = uniqueMembers }

    public var count: Int { members.count }
    public var names: [String] { members.map(\.name) }

    public subscript(name: String) -> JSONValue? {
        get {
            // Two integers rule out every other member; for names of up to eight bytes (nearly all
            // JOSE names) they are the whole, exact comparison.
            let key = NameKey(name)
            for member in members where member.nameKey == key {
                if key.isComplete || member.name.isExactly(name) { return member.value }
            }
            return nil
        }
        set {
            if let index = members.firstIndex(where: { $0.name.isExactly(name) }) {
                if let newValue { members[index] = Member(name: name, value: newValue) } else { members.remove(at: index) }
            } else if let newValue {
                members.append(Member(name: name, value: newValue))
            }
        }
    }
}

/// A member name's UTF-8 length and its first eight bytes, zero-padded: equal keys of names of at
/// most eight bytes mean equal bytes, and unequal keys always mean different names.
struct NameKey: Equatable, Sendable {
    let count: Int
    let prefix: UInt64

    /// Whether the key holds every byte of the name.
    var isComplete: Bool { count <= 8 }

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        var prefix: UInt64 = 0
        let take = min(8, bytes.count)
        if take > 0 {
            withUnsafeMutableBytes(of: &prefix) { $0.copyMemory(from: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[0..<take]))) }
        }
        self.count = bytes.count
        self.prefix = prefix
    }

    init(_ name: String) {
        var copy = name
        self = copy.withUTF8 { NameKey($0) }
    }
}

// MARK: - Parsing

public struct JSONLimits: Sendable {
    /// Largest input accepted, in bytes.
    public var maxBytes: Int
    /// Deepest nesting of arrays and objects accepted.
    public var maxDepth: Int

    public init(maxBytes: Int = 65_536, maxDepth: Int = 20) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }
}

extension JSONValue {
    /// Parses one JSON text strictly; trailing content, duplicate names and excess depth are errors.
    public static func parse<Bytes: Collection>(_ bytes: Bytes, limits: JSONLimits = JSONLimits()) throws(JOSEError) -> JSONValue
    where Bytes.Element == UInt8 {
        if bytes.count > limits.maxBytes {
            throw JOSEError(.tooLarge, "JSON text exceeds \(limits.maxBytes) bytes")
        }
        let result: Result<JSONValue, JOSEError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Result { () throws(JOSEError) -> JSONValue in
                var parser = JSONParser(buffer, maxDepth: limits.maxDepth)
                return try parser.parseDocument()
            }
        }
        if let result { return try result.get() }
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws(JOSEError) in
            var parser = JSONParser(buffer, maxDepth: limits.maxDepth)
            return try parser.parseDocument()
        }
    }

    public static func parse(_ string: String, limits: JSONLimits = JSONLimits()) throws(JOSEError) -> JSONValue {
        try parse(Array(string.utf8), limits: limits)
    }
}

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var index = 0
    var depth = 0
    /// The byte range of the last string parsed when it had no escapes (its bytes are its UTF-8),
    /// so member names can be compared in the input without going through `String`.
    var lastRawString: Range<Int>? = nil

    init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func fail(_ reason: String) -> JOSEError { JOSEError(.badJSON, "\(reason) at byte \(index)") }

    mutating func parseDocument() throws(JOSEError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if index != bytes.count { throw fail("trailing content after the JSON value") }
        return value
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(JOSEError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return .object(try parseObject())
        case UInt8(ascii: "["): return .array(try parseArray())
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character")
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JOSEError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("unexpected end of input") }
        let start = literal.utf8Start
        for offset in 0..<count where bytes[index + offset] != start[offset] {
            throw fail("invalid literal")
        }
        index += count
    }

    mutating func enter() throws(JOSEError) {
        depth += 1
        if depth > maxDepth { throw JOSEError(.badJSON, "JSON nesting deeper than \(maxDepth)") }
    }

    mutating func parseObject() throws(JOSEError) -> JSONObject {
        try enter()
        index += 1  // {
        var members: [JSONObject.Member] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return JSONObject(uniqueMembers: members)
        }
        members.reserveCapacity(16)
        return try parseMembers(into: &members)
    }

    mutating func parseMembers(into members: inout [JSONObject.Member]) throws(JOSEError) -> JSONObject {
        var seen: Set<ExactString>? = nil
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let name = try parseString()
            // A name without escapes is keyed from the input where it stands.
            let key = lastRawString.map { NameKey(UnsafeBufferPointer(rebasing: bytes[$0])) } ?? NameKey(name)
            // Duplicate names: linear scan over the keys for the small objects JOSE uses (the bytes
            // are compared only when two keys of long names agree), a set beyond that.
            if members.count < 16 {
                for member in members where member.nameKey == key {
                    if key.isComplete || member.name.isExactly(name) {
                        throw JOSEError(.duplicateMember, "member \"\(Self.printable(name))\" appears twice")
                    }
                }
            } else {
                if seen == nil { seen = Set(members.map { ExactString($0.name) }) }
                if seen!.insert(ExactString(name)).inserted == false {
                    throw JOSEError(.duplicateMember, "member \"\(Self.printable(name))\" appears twice")
                }
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue()
            members.append(JSONObject.Member(name: name, value: value, nameKey: key))
            if seen != nil { seen!.insert(ExactString(name)) }
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                depth -= 1
                return JSONObject(uniqueMembers: members)
            }
            throw fail("expected ',' or '}'")
        }
    }

    /// Names in error messages: printable ASCII only, bounded.
    static func printable(_ name: String) -> String {
        let cleaned = name.unicodeScalars.prefix(40).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" }
        return String(cleaned)
    }

    mutating func parseArray() throws(JOSEError) -> [JSONValue] {
        try enter()
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return elements
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                depth -= 1
                return elements
            }
            throw fail("expected ',' or ']'")
        }
    }

    mutating func parseString() throws(JOSEError) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes. ASCII needs no UTF-8 validation, and String(decoding:) on a buffer is
        // a plain copy, whereas the generic String(validating:as:) looks up type metadata per call.
        var high: UInt8 = 0
        if let base = bytes.baseAddress {
            index = plainStringBytes(base, from: index, count: bytes.count, nonASCIIIsSpecial: true)
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                lastRawString = start..<(index - 1)
                if high & 0x80 == 0 { return String(decoding: raw, as: UTF8.self) }
                guard let string = String(validating: raw, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                return string
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail("control character in string") }
            high |= byte
            index += 1
        }
        // Slow path with escapes.
        lastRawString = nil
        var out = [UInt8](bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                guard let string = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
                return string
            }
            if byte < 0x20 { throw fail("control character in string") }
            if byte != UInt8(ascii: "\\") {
                out.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw fail("unexpected end of input") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw fail("lone high surrogate")
                    }
                    index += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("high surrogate without low surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("lone low surrogate")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid escape") }
                out.append(contentsOf: Array(String(Character(unicode)).utf8))
            default:
                throw fail("invalid escape")
            }
        }
        throw fail("unterminated string")
    }

    mutating func parseHex4() throws(JOSEError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    mutating func parseNumber() throws(JOSEError) -> JSONNumber {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw fail("truncated number") }
        let digitsStart = index
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(bytes[index]) {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        } else {
            throw fail("invalid number")
        }
        let integerDigits = index - digitsStart
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            let digits = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            if index == digits { throw fail("invalid number fraction") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            if index == digits { throw fail("invalid number exponent") }
        }
        if index - start > 64 { throw fail("number literal too long") }
        let negative = bytes[start] == UInt8(ascii: "-")
        if isInteger, integerDigits <= 15, !(negative && integerDigits == 1 && bytes[start + 1] == UInt8(ascii: "0")) {
            // Exact in a Double (< 2^53), and its decimal form is the literal (JSON has no leading
            // zeros; "-0" is kept as text): no String and no strtod.
            var value: Int64 = 0
            for position in (index - integerDigits)..<index { value = value &* 10 &+ Int64(bytes[position] &- UInt8(ascii: "0")) }
            return JSONNumber(negative ? -value : value)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else { throw fail("number out of range") }
        return JSONNumber(text: text, double: double)
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

// MARK: - Serialisation

extension JSONValue {
    /// Compact JSON. With `sortedKeys`, object members are ordered by their UTF-16 code units, as
    /// RFC 7638 thumbprints require; otherwise in document order.
    public func serialized(sortedKeys: Bool = false, pretty: Bool = false) -> String {
        var out = [UInt8]()
        write(into: &out, sortedKeys: sortedKeys, pretty: pretty, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    func write(into out: inout [UInt8], sortedKeys: Bool, pretty: Bool, indent: Int) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let number): out.append(contentsOf: number.text.utf8)
        case .string(let string): Self.writeString(string, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { Self.newline(&out, indent + 1) }
                element.write(into: &out, sortedKeys: sortedKeys, pretty: pretty, indent: indent + 1)
            }
            if pretty, !elements.isEmpty { Self.newline(&out, indent) }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            let members = sortedKeys ? object.members.sorted { $0.name.utf16.lexicographicallyPrecedes($1.name.utf16) } : object.members
            for (position, member) in members.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { Self.newline(&out, indent + 1) }
                Self.writeString(member.name, into: &out)
                out.append(UInt8(ascii: ":"))
                if pretty { out.append(UInt8(ascii: " ")) }
                member.value.write(into: &out, sortedKeys: sortedKeys, pretty: pretty, indent: indent + 1)
            }
            if pretty, !members.isEmpty { Self.newline(&out, indent) }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func newline(_ out: inout [UInt8], _ indent: Int) {
        out.append(0x0A)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * 2))
    }

    /// Appends `string` as a JSON string literal (quoted, escaped) to `out`.
    public static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        if string.utf8.withContiguousStorageIfAvailable({ writeEscaped($0, into: &out) }) == nil {
            var copy = string
            copy.withUTF8 { writeEscaped($0, into: &out) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends runs of bytes that need no escaping in one go.
    private static func writeEscaped(_ utf8: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var runStart = 0
        var index = 0
        if let base = utf8.baseAddress {
            index = plainStringBytes(base, from: index, count: utf8.count, nonASCIIIsSpecial: false)
        }
        while index < utf8.count {
            defer { index += 1 }
            let byte = utf8[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
            if runStart < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
            runStart = index + 1
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            default:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            }
        }
        if runStart < utf8.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
    }
}

extension JSONObject {
    public func serialized(sortedKeys: Bool = false, pretty: Bool = false) -> String {
        JSONValue.object(self).serialized(sortedKeys: sortedKeys, pretty: pretty)
    }

    /// Compact JSON as UTF-8 bytes, without a round trip through String.
    func serializedBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(512)
        JSONValue.object(self).write(into: &out, sortedKeys: false, pretty: false, indent: 0)
        return out
    }
}


/// Skips, eight bytes at a time, words in which no byte is a quote, a backslash or a control
/// character (nor, when `nonASCIIIsSpecial`, a byte of 0x80 or more); returns the index where
/// byte-by-byte work must resume. The SWAR tests are exact: a word is skipped only if every byte is
/// plain, and the first word with a special byte is left entirely to the caller.
@inline(__always)
func plainStringBytes(_ base: UnsafePointer<UInt8>, from start: Int, count: Int, nonASCIIIsSpecial: Bool) -> Int {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    let nonASCII: UInt64 = nonASCIIIsSpecial ? ~0 : 0
    var index = start
    while index + 8 <= count {
        let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        // Per byte: zero after XOR (quote, backslash), below 0x20 (control), or the top bit itself.
        let special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
            | ((word &- ones &* 0x20) & ~word) | (word & nonASCII)
        if special & highs != 0 { break }
        index += 8
    }
    return index
}
