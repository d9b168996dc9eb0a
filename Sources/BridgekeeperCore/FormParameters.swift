/// An `application/x-www-form-urlencoded` body (the OAuth token request encoding, RFC 6749 §4.1.3,
/// Appendix B), parsed by hand: ordered pairs, a size cap, strict percent-decoding, valid UTF-8.
///
/// Foundation's and Codable's form decoders are not used (STYLE rule 9): they give `a[]` meaning and
/// refuse a repeated `resource`, which RFC 8707 allows. Parameters sent without a value are treated
/// as omitted (RFC 6749 §3.1); names are compared byte for byte.
public struct FormParameters: Sendable {
    public struct Pair: Sendable, Hashable {
        public let name: String
        public let value: String
    }

    /// Default cap on a token request body, in bytes.
    public static let defaultMaxBytes = 16_384

    public let pairs: [Pair]

    public init(pairs: [Pair]) { self.pairs = pairs }

    /// Parses a form body.
    /// - Throws: `invalid_request` with `request_too_large` over `maxBytes`, or `malformed_form` for
    ///   a bad percent escape, invalid UTF-8, a control character or an empty name.
    public init<Body: Collection>(_ body: Body, maxBytes: Int = FormParameters.defaultMaxBytes) throws(OAuthError)
    where Body.Element == UInt8 {
        guard body.count <= maxBytes else {
            throw OAuthError(.invalidRequest, "request body is too large", reason: .requestTooLarge)
        }
        let bytes = Array(body)
        let parsed = bytes.withUnsafeBufferPointer { buffer in Result { () throws(OAuthError) in try Self.parse(buffer) } }
        pairs = try parsed.get()
    }

    /// One pass over the body: split at `&` and the first `=`, decode each side. Concrete over a
    /// buffer (no generic collection iteration across modules: this runs on every token request).
    static func parse(_ body: UnsafeBufferPointer<UInt8>) throws(OAuthError) -> [Pair] {
        var pairs: [Pair] = []
        var start = 0
        let count = body.count
        while start <= count {
            var end = start
            var equals = -1
            while end < count && body[end] != UInt8(ascii: "&") {
                if equals < 0 && body[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            if end > start {
                let nameEnd = equals < 0 ? end : equals
                let name = try decode(UnsafeBufferPointer(rebasing: body[start..<nameEnd]))
                let value = equals < 0 ? "" : try decode(UnsafeBufferPointer(rebasing: body[(equals + 1)..<end]))
                guard !name.isEmpty else {
                    throw OAuthError(.invalidRequest, "form parameter with an empty name", reason: .malformedForm)
                }
                if !value.isEmpty { pairs.append(Pair(name: name, value: value)) }  // RFC 6749 §3.1: empty = omitted
            }
            start = end + 1
        }
        return pairs
    }

    /// Percent-decoding with `+` as space; `%` must be followed by two hex digits; the result must
    /// be valid UTF-8 without control characters.
    public static func decode<Bytes: Collection>(_ raw: Bytes) throws(OAuthError) -> String where Bytes.Element == UInt8 {
        let bytes = Array(raw)
        let result = bytes.withUnsafeBufferPointer { buffer in Result { () throws(OAuthError) in try decode(buffer) } }
        return try result.get()
    }

    static func decode(_ raw: UnsafeBufferPointer<UInt8>) throws(OAuthError) -> String {
        @inline(__always) func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            switch byte {
            case UInt8(ascii: "+"):
                out.append(0x20)
            case UInt8(ascii: "%"):
                guard index + 2 < raw.count, let high = hex(raw[index + 1]), let low = hex(raw[index + 2]) else {
                    throw OAuthError(.invalidRequest, "malformed percent-encoding in the form body", reason: .malformedForm)
                }
                out.append(high << 4 | low)
                index += 2
            default:
                out.append(byte)
            }
            index += 1
        }
        if out.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw OAuthError(.invalidRequest, "control character in a form parameter", reason: .malformedForm)
        }
        guard let string = String(validating: out, as: UTF8.self) else {
            throw OAuthError(.invalidRequest, "form body is not valid UTF-8", reason: .malformedForm)
        }
        return string
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        pairs.filter { $0.name.utf8.elementsEqual(name.utf8) }.map(\.value)
    }

    /// The value of `name`, when present once.
    public func value(_ name: String) -> String? {
        values(name).first
    }

    /// Refuses any parameter that appears more than once, except those in `repeatable` (RFC 6749 §3.1:
    /// "Request and response parameters MUST NOT be included more than once").
    public func rejectRepeats(except repeatable: Set<String> = []) throws(OAuthError) {
        var seen: [String] = []
        for pair in pairs where !repeatable.contains(where: { $0.utf8.elementsEqual(pair.name.utf8) }) {
            if seen.contains(where: { $0.utf8.elementsEqual(pair.name.utf8) }) {
                throw OAuthError(.invalidRequest, "parameter \(pair.name) appears more than once", reason: .repeatedParameter)
            }
            seen.append(pair.name)
        }
    }

    /// Only the parameters named in `declared`; all others are dropped (STYLE rule 8).
    public func keeping(_ declared: Set<String>) -> FormParameters {
        FormParameters(pairs: pairs.filter { pair in declared.contains { $0.utf8.elementsEqual(pair.name.utf8) } })
    }

    /// The value of a required parameter.
    /// - Throws: `invalid_request` with `missing_parameter`.
    public func required(_ name: String) throws(OAuthError) -> String {
        guard let value = value(name) else {
            throw OAuthError(.invalidRequest, "missing required parameter \(name)", reason: .missingParameter)
        }
        return value
    }
}
