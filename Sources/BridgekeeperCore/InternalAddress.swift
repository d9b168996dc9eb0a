#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address, read strictly with `inet_pton`: IPv4 only as four decimal octets
/// (`127.1`, `0x7f.0.0.1`, `0177.0.0.1` and `2130706433` are not addresses here, though
/// `inet_aton` and curl accept them), IPv6 in RFC 4291 §2.2 text without brackets or a zone.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 (IPv6), network order.
    public let bytes: [UInt8]

    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    /// An address from its 4 or 16 bytes (as a socket address holds them).
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }

    public var isIPv4: Bool { bytes.count == 4 }

    /// The canonical text (`inet_ntop`): dotted quad, or RFC 5952 IPv6 without brackets.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = isIPv4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard written != nil else { return bytes.map { String($0) }.joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The special-purpose range (RFC 6890) that makes this address internal, or nil for an address
    /// on the public internet. IPv6 addresses that carry an IPv4 address (IPv4-mapped
    /// `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`) are judged by it.
    public var internalRange: InternalRange? {
        isIPv4 ? Self.ipv4Range(bytes[0], bytes[1], bytes[2], bytes[3]) : ipv6Range
    }

    static func ipv4Range(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> InternalRange? {
        switch (a, b) {
        case (0, _): return .unspecified                         // 0.0.0.0/8 "this network"
        case (127, _): return .loopback                          // 127.0.0.0/8
        case (169, 254): return .linkLocal                       // 169.254.0.0/16, cloud metadata
        case (10, _), (192, 168): return .privateUse             // RFC 1918
        case (172, 16...31): return .privateUse                  // 172.16.0.0/12
        case (100, 64...127): return .sharedAddressSpace         // 100.64.0.0/10, RFC 6598
        case (224...239, _): return .multicast                   // 224.0.0.0/4
        case (255, 255) where c == 255 && d == 255: return .broadcast
        case (240...255, _): return .reserved                    // 240.0.0.0/4
        default: return nil
        }
    }

    private var ipv6Range: InternalRange? {
        let b = bytes
        let v4Tail = { Self.ipv4Range(b[12], b[13], b[14], b[15]) }
        if b[0..<12].allSatisfy({ $0 == 0 }) {
            switch (b[12..<15].allSatisfy { $0 == 0 }, b[15]) {
            case (true, 0): return .unspecified                  // ::
            case (true, 1): return .loopback                     // ::1
            default: return .reserved                            // ::a.b.c.d, deprecated IPv4-compatible
            }
        }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return v4Tail() }  // ::ffff:a.b.c.d
        if b[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] { return v4Tail() }        // 64:ff9b::/96 NAT64
        if b[0] == 0x20 && b[1] == 0x02 { return Self.ipv4Range(b[2], b[3], b[4], b[5]) }            // 2002::/16 6to4
        if b[0] == 0xFE && (b[1] & 0xC0) == 0x80 { return .linkLocal }                             // fe80::/10
        if b[0] == 0xFE && (b[1] & 0xC0) == 0xC0 { return .privateUse }                            // fec0::/10, old site-local
        if (b[0] & 0xFE) == 0xFC { return .privateUse }                                            // fc00::/7 unique local
        if b[0] == 0xFF { return .multicast }                                                      // ff00::/8
        return nil
    }
}

/// Why an address is not on the public internet: the ranges an outbound fetch named by someone
/// other than the operator (an agent's `jwks_uri`) must not reach.
public enum InternalRange: String, Sendable, CaseIterable {
    case unspecified
    case loopback
    case linkLocal = "link-local"
    case privateUse = "private"
    case sharedAddressSpace = "carrier-grade NAT"
    case multicast
    case broadcast
    case reserved
}

/// What can be told about a URL's host without DNS: whether it names an internal address.
public enum InternalHost {
    /// Why `host` (as a URL gives it: a name, a dotted quad, an IPv6 literal with or without
    /// brackets) is internal, or nil when it is a public address or a name other than
    /// `localhost` (a name is judged when it is resolved, at connect time).
    ///
    /// Refused as well: hosts that end in a number but are not a dotted quad (`127.1`,
    /// `0x7f.0.0.1`, `2130706433`), which resolvers read as IPv4 addresses (the WHATWG URL
    /// standard's "ends in a number"), and bracketed text that is not an IPv6 address (a zone).
    public static func reason(_ host: String) -> String? {
        let name = InternalHostAllowList.normalized(host)
        if let address = IPAddress(name) {
            return address.internalRange.map { "is a \($0.rawValue) address" }
        }
        if host.hasPrefix("[") || name.contains(":") { return "is not an IP address that can be judged (an IPv6 zone?)" }
        let bare = name.hasSuffix(".") ? String(name.dropLast()) : name
        if bare == "localhost" || bare.hasSuffix(".localhost") { return "is a loopback name" }
        if let last = bare.split(separator: ".", omittingEmptySubsequences: false).last, endsInNumber(last) {
            return "is a number that is not a dotted-quad IPv4 address"
        }
        return nil
    }

    /// A label that a URL parser or resolver reads as (part of) an IPv4 address: decimal digits,
    /// or `0x` and hex digits.
    static func endsInNumber(_ label: Substring) -> Bool {
        if !label.isEmpty, label.utf8.allSatisfy({ (0x30...0x39).contains($0) }) { return true }
        let lower = label.lowercased()
        return lower.hasPrefix("0x") && lower.dropFirst(2).utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// Hosts the operator allows though they are internal (`agents.jwks_uri_allowed_internal_hosts`):
/// matched exactly and without regard to case; IP literals by their canonical form, with or
/// without brackets. No wildcards.
public struct InternalHostAllowList: Sendable, Equatable {
    public let hosts: Set<String>

    public init(_ hosts: [String] = []) {
        self.hosts = Set(hosts.map(Self.normalized))
    }

    public var isEmpty: Bool { hosts.isEmpty }

    public func contains(host: String) -> Bool { hosts.contains(Self.normalized(host)) }

    /// Lowercased, without the brackets of an IPv6 literal, an IP address in its canonical text.
    public static func normalized(_ host: String) -> String {
        var text = host.lowercased()
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        return IPAddress(text)?.description ?? text
    }
}
