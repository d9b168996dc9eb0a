/// SHA-256 and HMAC-SHA-256 over OpenSSL, for the modules that need a digest but must not see
/// OpenSSL themselves (the audit chain, fingerprints, keyed hashes of personal data).
public enum Digest {
    /// SHA-256 of `bytes`.
    public static func sha256<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        FetchedDigest.sha256(bytes)
    }

    /// HMAC-SHA-256 of `message` under `key` (RFC 2104).
    public static func hmacSHA256<Bytes: Collection>(key: [UInt8], message: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        let input = Array(message)
        let result = input.withUnsafeBytes { buffer in Result { () throws(JOSEError) in try HMACSignature.compute(.hs256, key: key, message: buffer) } }
        guard case .success(let mac) = result else { preconditionFailure("HMAC-SHA-256 failed in OpenSSL") }
        return mac
    }

    /// Lower-case hex.
    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
