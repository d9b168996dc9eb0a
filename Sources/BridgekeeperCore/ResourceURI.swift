/// A resource indicator (RFC 8707 §2) in canonical form: the identifier of one MCP server.
///
/// Accepted: an absolute `https` (or `http`) URI with a host, no user information, no query and no
/// fragment (RFC 8707 §2: MUST NOT have a fragment, SHOULD NOT have a query; Bridgekeeper refuses
/// both so that matching is exact), no dot segments, only URI characters. Canonical form
/// (RFC 3986 §6.2.2–6.2.3): scheme and host lowercased, the default port dropped, percent-escapes in
/// upper-case hex, and an empty or root path written without a slash, as MCP prefers
/// (`https://mcp.example.com`). Any other trailing slash is kept: `/mcp` and `/mcp/` are different
/// resources. Two resource indicators are the same server exactly when their canonical forms are
/// byte-equal.
public struct ResourceURI: Sendable, Hashable, CustomStringConvertible {
    public let canonical: String

    public var description: String { canonical }

    /// - Throws: `invalid_target` with `malformed_resource`, naming what is wrong.
    public init(_ text: String) throws(OAuthError) {
        func fail(_ why: String) -> OAuthError {
            OAuthError(.invalidTarget, "resource \(why) (RFC 8707)", reason: .malformedResource)
        }
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 2048 else { throw fail("must be an absolute URI of at most 2048 bytes") }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { throw fail("must be an absolute URI") }
        let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
        guard scheme == "https" || scheme == "http" else { throw fail("must use https (or http)") }
        let rest = bytes[(colon + 1)...]
        guard rest.starts(with: Array("//".utf8)) else { throw fail("must have an authority (scheme://host)") }
        guard !rest.contains(UInt8(ascii: "#")) else { throw fail("must not have a fragment") }
        guard !rest.contains(UInt8(ascii: "?")) else { throw fail("must not have a query") }
        guard rest.allSatisfy(Self.isURIByte) else { throw fail("contains a character not allowed in a URI") }
        let afterSlashes = rest.dropFirst(2)
        let pathStart = afterSlashes.firstIndex(of: UInt8(ascii: "/")) ?? afterSlashes.endIndex
        let authority = afterSlashes[afterSlashes.startIndex..<pathStart]
        let path = afterSlashes[pathStart...]
        guard !authority.contains(UInt8(ascii: "@")) else { throw fail("must not contain user information") }

        // Host and port. An IPv6 literal keeps its brackets.
        var host: ArraySlice<UInt8>
        var port: ArraySlice<UInt8> = []
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { throw fail("has an unterminated IPv6 literal") }
            host = authority[authority.startIndex...close]
            let after = authority[(close + 1)...]
            if let first = after.first {
                guard first == UInt8(ascii: ":") else { throw fail("has a malformed authority") }
                port = after.dropFirst()
            }
        } else if let portColon = authority.lastIndex(of: UInt8(ascii: ":")) {
            host = authority[authority.startIndex..<portColon]
            port = authority[(portColon + 1)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw fail("must have a host") }
        guard port.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), port.count <= 5 else {
            throw fail("has a malformed port")
        }
        var portText = String(decoding: port, as: UTF8.self)
        if !portText.isEmpty {
            guard let number = Int(portText), number > 0, number <= 65_535 else { throw fail("has a port out of range") }
            portText = String(number)
            if (scheme == "https" && number == 443) || (scheme == "http" && number == 80) { portText = "" }
        }
        let hostText = String(decoding: host, as: UTF8.self).lowercased()

        // Path: no dot segments; percent-escapes upper-cased and checked.
        let segments = path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard !segments.dropFirst().contains(where: { $0.elementsEqual(".".utf8) || $0.elementsEqual("..".utf8) }) else {
            throw fail("must not contain dot segments")
        }
        var canonicalPath: [UInt8] = []
        var index = path.startIndex
        while index < path.endIndex {
            let byte = path[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < path.endIndex, Self.isHex(path[index + 1]), Self.isHex(path[index + 2]) else {
                    throw fail("has a malformed percent-escape")
                }
                canonicalPath.append(contentsOf: [byte, Self.upper(path[index + 1]), Self.upper(path[index + 2])])
                index += 3
            } else {
                canonicalPath.append(byte)
                index += 1
            }
        }
        if canonicalPath == [UInt8(ascii: "/")] { canonicalPath = [] }
        canonical = scheme + "://" + hostText + (portText.isEmpty ? "" : ":" + portText) + String(decoding: canonicalPath, as: UTF8.self)
    }

    /// RFC 3986 unreserved and reserved characters, and `%`.
    static func isURIByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"), UInt8(ascii: "/"),
             UInt8(ascii: "?"), UInt8(ascii: "#"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "@"), UInt8(ascii: "!"),
             UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"),
             UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: "%"):
            return true
        default:
            return false
        }
    }

    static func isHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    static func upper(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) ? byte - 0x20 : byte
    }

    public static func == (lhs: ResourceURI, rhs: ResourceURI) -> Bool { lhs.canonical.utf8.elementsEqual(rhs.canonical.utf8) }
    public func hash(into hasher: inout Hasher) { hasher.combine(Array(canonical.utf8)) }
}
