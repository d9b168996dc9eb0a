import Testing
@testable import BridgekeeperJOSE

@Suite("Base64URL: strict, unpadded, canonical")
struct Base64URLTests {
    @Test("round-trips every length from 0 to 64 bytes")
    func roundTrip() throws {
        for length in 0...64 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
            #expect(try Base64URL.decode(encoded) == bytes)
        }
    }

    @Test("matches RFC 4648 §10 test vectors (URL alphabet, no padding)")
    func rfc4648() throws {
        let cases = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in cases {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(try Base64URL.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
    }

    @Test("refuses padding, whitespace, the standard alphabet, impossible lengths and non-canonical bits",
          arguments: ["Zg==", "Zm9v ", " Zm9v", "Zm\n9v", "+/8", "Zm9vY", "Zh", "Zm9", "Zm-", "AB=C"])
    func refusesNonCanonical(_ input: String) {
        let error = Support.error { _ = try Base64URL.decode(input) }
        #expect(error?.code == .badBase64URL, "\(input.debugDescription) must be refused")
    }

    @Test("the canonical form of a one-byte value is the only accepted one")
    func uniqueEncoding() throws {
        // "Zg" is 0x66; "Zh".."Zv" carry the same byte with non-zero unused bits.
        #expect(try Base64URL.decode("Zg") == [0x66])
        for last in "hijklmnopqrstuv" {
            #expect(throws: JOSEError.self) { try Base64URL.decode("Z\(last)") }
        }
    }
}
