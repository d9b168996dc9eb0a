/// Strict base64url without padding (RFC 7515 §2, RFC 4648 §5).
///
/// Decoding refuses padding, whitespace, any character outside the URL-safe alphabet, a length of
/// 1 mod 4, and non-canonical final bits (unused bits must be zero), so each byte string has exactly
/// one accepted encoding.
public enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Whether `byte` is one of the 64 characters of the URL-safe alphabet.
    public static func isAlphabet(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2D || byte == 0x5F
    }

    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        String(decoding: encodeBytes(bytes), as: UTF8.self)
    }

    /// The encoding as ASCII bytes.
    public static func encodeBytes<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        if let encoded = bytes.withContiguousStorageIfAvailable({ encode(UnsafeRawBufferPointer($0)) }) { return encoded }
        return Array(bytes).withUnsafeBytes { encode($0) }
    }

    /// Encodes into a new array sized exactly; the alphabet is read through one pointer for the whole loop.
    /// The two characters for every 12-bit value, as they lie in memory (first character first).
    private static let pairTable: [UInt16] = (0..<4096).map { value in
        (UInt16(alphabet[value >> 6]) | UInt16(alphabet[value & 63]) << 8).littleEndian
    }

    static func encode(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        let outCount = encodedCount(input.count)
        return [UInt8](unsafeUninitializedCapacity: outCount) { out, initialized in
            initialized = encode(input, into: out.baseAddress!)
        }
    }

    /// Characters that `count` bytes encode to.
    static func encodedCount(_ count: Int) -> Int {
        count / 3 * 4 + (count % 3 == 0 ? 0 : count % 3 + 1)
    }

    /// Encodes `input` into `out`, which has room for `encodedCount(input.count)` bytes; returns
    /// how many it wrote.
    static func encode(_ input: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) -> Int {
        let count = input.count
        let pairs = pairTable
        return alphabet.withUnsafeBufferPointer { table in
            var index = 0
            var position = 0
            pairs.withUnsafeBufferPointer { pairs in
                let raw = UnsafeMutableRawPointer(out)
                while index + 3 <= count {
                    let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                    raw.storeBytes(of: pairs[Int(value >> 12)], toByteOffset: position, as: UInt16.self)
                    raw.storeBytes(of: pairs[Int(value & 0xFFF)], toByteOffset: position + 2, as: UInt16.self)
                    index += 3
                    position += 4
                }
            }
            let rest = count - index
            if rest > 0 {
                let value = UInt32(input[index]) << 16 | (rest == 2 ? UInt32(input[index + 1]) << 8 : 0)
                out[position] = table[Int(value >> 18 & 63)]
                out[position + 1] = table[Int(value >> 12 & 63)]
                position += 2
                if rest == 2 {
                    out[position] = table[Int(value >> 6 & 63)]
                    position += 1
                }
            }
            return position
        }
    }

    public static func decode(_ string: String) throws(JOSEError) -> [UInt8] {
        var copy = string
        let result = copy.withUTF8 { buffer in Result { () throws(JOSEError) in try decode(buffer[...]) } }
        return try result.get()
    }

    /// Decodes ASCII bytes strictly.
    /// Four 256-entry tables, one per position in a quad, holding each character's 6 bits already
    /// shifted into place, and 0xFF00_0000 for anything outside the alphabet: a quad decodes with
    /// three ORs, and one test at the end finds any bad character.
    private static let shiftedDecodeTable: [UInt32] = {
        var table = [UInt32](repeating: 0xFF00_0000, count: 1024)
        for (index, char) in alphabet.enumerated() {
            for position in 0..<4 { table[position * 256 + Int(char)] = UInt32(index) << UInt32(18 - 6 * position) }
        }
        return table
    }()

    /// Decodes ASCII bytes strictly.
    public static func decode(_ input: Slice<UnsafeBufferPointer<UInt8>>) throws(JOSEError) -> [UInt8] {
        let source = UnsafeBufferPointer(rebasing: input)
        let count = try decodedCount(source.count)
        var failure: JOSEError? = nil
        let out = [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            do throws(JOSEError) { try decode(source, into: out) } catch { failure = error }
            initialized = count
        }
        if let failure { throw failure }
        return out
    }

    /// How many bytes `count` base64url characters decode to; a length of 1 mod 4 is impossible.
    static func decodedCount(_ count: Int) throws(JOSEError) -> Int {
        let tail = count % 4
        if tail == 1 { throw JOSEError(.badBase64URL, "base64url length is impossible (1 mod 4)") }
        return count / 4 * 3 + (tail == 0 ? 0 : tail - 1)
    }

    /// Decodes `source` strictly into `out`, which has exactly `decodedCount(source.count)` bytes.
    static func decode(_ source: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) throws(JOSEError) {
        let count = source.count
        let tail = count % 4
        var seen: UInt32 = 0
        var leftover: UInt32 = 0
        shiftedDecodeTable.withUnsafeBufferPointer { table in
            var index = 0
            var position = 0
            while index + 4 <= count {
                let word = table[Int(source[index])] | table[256 + Int(source[index + 1])]
                    | table[512 + Int(source[index + 2])] | table[768 + Int(source[index + 3])]
                seen |= word
                out[position] = UInt8(truncatingIfNeeded: word >> 16)
                out[position + 1] = UInt8(truncatingIfNeeded: word >> 8)
                out[position + 2] = UInt8(truncatingIfNeeded: word)
                index += 4
                position += 3
            }
            if tail == 2 {
                let word = table[Int(source[index])] | table[256 + Int(source[index + 1])]
                seen |= word
                out[position] = UInt8(truncatingIfNeeded: word >> 16)
                leftover = word >> 12 & 0x0F  // the last character's 4 unused bits
            } else if tail == 3 {
                let word = table[Int(source[index])] | table[256 + Int(source[index + 1])] | table[512 + Int(source[index + 2])]
                seen |= word
                out[position] = UInt8(truncatingIfNeeded: word >> 16)
                out[position + 1] = UInt8(truncatingIfNeeded: word >> 8)
                leftover = word >> 6 & 0x03  // the last character's 2 unused bits
            }
        }
        if seen & 0xFF00_0000 != 0 {
            let bad = source.first { !alphabet.contains($0) }
            throw JOSEError(.badBase64URL, bad == UInt8(ascii: "=")
                ? "base64url must not be padded" : "character outside the base64url alphabet")
        }
        if leftover != 0 {
            throw JOSEError(.badBase64URL, "base64url final bits are not canonical (must be zero)")
        }
    }
}
