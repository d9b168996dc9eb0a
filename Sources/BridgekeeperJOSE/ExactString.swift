#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Exact string comparison for protocol values.
///
/// Swift's `String ==` and `String` hashing use Unicode canonical equivalence: U+212A KELVIN SIGN
/// equals "K", and "é" equals "e" + U+0301. JOSE and OAuth identifiers (`iss`, `aud`, `kid`, `typ`,
/// `alg`, member names, client ids) must match exactly, "with no transformations or
/// canonicalizations applied" (RFC 7519 §2 StringOrURI, RFC 7515 §4.1.4). Everything in Bridgekeeper
/// that compares such values goes through these helpers, which compare code units.
extension String {
    /// True when both strings have the same UTF-8 bytes.
    ///
    /// Byte-equal strings are always canonically equivalent, so when `==` says no the bytes differ;
    /// `==` is a plain binary comparison for ASCII and small strings, which is nearly every protocol
    /// value, so it serves as the fast filter. Only on a match are the bytes confirmed.
    public func isExactly(_ other: String) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count, self == other else { return false }
        let fast: Bool?? = a.withContiguousStorageIfAvailable { x in
            b.withContiguousStorageIfAvailable { y in x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 }
        }
        if let fast, let fast { return fast }
        return a.elementsEqual(b)
    }

    /// ASCII letters lowercased, every other scalar unchanged (unlike `lowercased()`, which maps
    /// U+212A KELVIN SIGN to "k"). For media types and other ASCII case-insensitive tokens.
    public var asciiLowercased: String {
        String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}

extension Optional where Wrapped == String {
    /// Exact equality where either side may be absent: two absent values are equal.
    public func isExactly(_ other: String?) -> Bool {
        switch (self, other) {
        case (nil, nil): return true
        case (let a?, let b?): return a.isExactly(b)
        default: return false
        }
    }
}

extension Sequence where Element == String {
    /// `contains` by exact comparison.
    public func containsExactly(_ value: String) -> Bool {
        contains { $0.isExactly(value) }
    }
}

/// A string used as a `Set` or `Dictionary` key with exact (byte) equality and hashing.
public struct ExactString: Hashable, Sendable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public static func == (lhs: ExactString, rhs: ExactString) -> Bool { lhs.value.isExactly(rhs.value) }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(value.utf8.count)
        for byte in value.utf8 { hasher.combine(byte) }
    }
    public var description: String { value }
}
