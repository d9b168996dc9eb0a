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
        if let encoded = bytes.withContiguousStorageIfAvailable({ encode(UnsafeRawBufferPointer($0)) }) { return encoded }
        return Array(bytes).withUnsafeBytes { encode($0) }
    }

    /// Encodes into a new array sized exactly; the alphabet is read through one pointer for the whole loop.
    static func encode(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        let count = input.count
        let outCount = count / 3 * 4 + [0, 2, 3][count % 3]
        return alphabet.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: outCount) { out, initialized in
                var index = 0
                var position = 0
                while index + 3 <= count {
                    let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                    out[position] = table[Int(value >> 18 & 63)]
                    out[position + 1] = table[Int(value >> 12 & 63)]
                    out[position + 2] = table[Int(value >> 6 & 63)]
                    out[position + 3] = table[Int(value & 63)]
                    index += 3
                    position += 4
                }
                let rest = count - index
                if rest > 0 {
                    let value = UInt32(input[index]) << 16 | (rest == 2 ? UInt32(input[index + 1]) << 8 : 0)
                    out[position] = table[Int(value >> 18 & 63)]
                    out[position + 1] = table[Int(value >> 12 & 63)]
                    if rest == 2 { out[position + 2] = table[Int(value >> 6 & 63)] }
                }
                initialized = outCount
            }
        }
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
        let source = UnsafeBufferPointer(rebasing: input)
        let outCount = count / 4 * 3 + [0, 0, 1, 2][count % 4]
        // Table values are 0...63 for the alphabet and 0xFF otherwise: OR-ing them all and testing the
        // top bits finds any bad character without a branch per character.
        var seen: UInt8 = 0
        var leftover: UInt32 = 0
        let out = decodeTable.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: outCount) { out, initialized in
                var index = 0
                var position = 0
                while index + 4 <= count {
                    let a = table[Int(source[index])], b = table[Int(source[index + 1])]
                    let c = table[Int(source[index + 2])], d = table[Int(source[index + 3])]
                    seen |= a | b | c | d
                    let value = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    out[position] = UInt8(truncatingIfNeeded: value >> 16)
                    out[position + 1] = UInt8(truncatingIfNeeded: value >> 8)
                    out[position + 2] = UInt8(truncatingIfNeeded: value)
                    index += 4
                    position += 3
                }
                switch count - index {
                case 2:
                    let a = table[Int(source[index])], b = table[Int(source[index + 1])]
                    seen |= a | b
                    out[position] = UInt8(truncatingIfNeeded: (UInt32(a) << 2) | (UInt32(b) >> 4))
                    leftover = UInt32(b) & 0x0F
                case 3:
                    let a = table[Int(source[index])], b = table[Int(source[index + 1])], c = table[Int(source[index + 2])]
                    seen |= a | b | c
                    let value = UInt32(a) << 12 | UInt32(b) << 6 | UInt32(c)
                    out[position] = UInt8(truncatingIfNeeded: value >> 10)
                    out[position + 1] = UInt8(truncatingIfNeeded: value >> 2)
                    leftover = UInt32(c) & 0x03
                default:
                    break
                }
                initialized = outCount
            }
        }
        if seen & 0xC0 != 0 {
            let bad = source.first { decodeTable[Int($0)] == 0xFF }
            throw JOSEError(.badBase64URL, bad == UInt8(ascii: "=")
                ? "base64url must not be padded" : "character outside the base64url alphabet")
        }
        if leftover != 0 {
            throw JOSEError(.badBase64URL, "base64url final bits are not canonical (must be zero)")
        }
        return out
    }
}
