/// Strict base64url without padding (RFC 7515 §2, RFC 4648 §5).
///
/// Decoding refuses padding, whitespace, any character outside the URL-safe alphabet, a length of
/// 1 mod 4, and non-canonical final bits (unused bits must be zero), so each byte string has exactly
/// one accepted encoding.
public enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        String(decoding: encodeBytes(bytes), as: UTF8.self)
    }

    /// The encoding as ASCII bytes.
    public static func encodeBytes<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var out = [UInt8]()
        out.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= input.count {
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            out.append(alphabet[Int(value >> 6 & 63)])
            out.append(alphabet[Int(value & 63)])
            index += 3
        }
        let rest = input.count - index
        if rest == 1 {
            let value = UInt32(input[index]) << 16
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
        } else if rest == 2 {
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            out.append(alphabet[Int(value >> 6 & 63)])
        }
        return out
    }

    public static func decode(_ string: String) throws(JOSEError) -> [UInt8] {
        var copy = string
        let result = copy.withUTF8 { buffer in Result { () throws(JOSEError) in try decode(buffer[...]) } }
        return try result.get()
    }

    /// Decodes ASCII bytes strictly.
    public static func decode(_ input: Slice<UnsafeBufferPointer<UInt8>>) throws(JOSEError) -> [UInt8] {
        let count = input.count
        if count % 4 == 1 {
            throw JOSEError(.badBase64URL, "base64url length is impossible (1 mod 4)")
        }
        var out = [UInt8]()
        out.reserveCapacity(count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for char in input {
            let value = decodeTable[Int(char)]
            if value == 0xFF {
                throw JOSEError(.badBase64URL, char == UInt8(ascii: "=")
                    ? "base64url must not be padded" : "character outside the base64url alphabet")
            }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        if accumulator != 0 {
            throw JOSEError(.badBase64URL, "base64url final bits are not canonical (must be zero)")
        }
        return out
    }
}
