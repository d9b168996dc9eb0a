/// The access token of an `Authorization: Bearer` header (RFC 6750 §2.1): the scheme compared
/// without ASCII case, one or more spaces, then the token (surrounding spaces and tabs dropped).
/// Nil for another scheme, a missing header or an empty token. One reading for every resource
/// Bridgekeeper serves (the management API, the revocation feed) and for gateways.
public enum BearerToken {
    public static func from(authorization header: String?) -> String? {
        guard let header else { return nil }
        let bytes = Array(header.utf8)
        guard bytes.count > 7, bytes.prefix(7).map({ $0 | 0x20 }) == Array("bearer ".utf8) else { return nil }
        let token = bytes.dropFirst(7).drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
        return token.isEmpty ? nil : String(decoding: Array(token), as: UTF8.self)
    }
}
