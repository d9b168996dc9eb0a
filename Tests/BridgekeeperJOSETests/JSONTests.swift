import Testing
@testable import BridgekeeperJOSE

@Suite("Strict JSON")
struct JSONTests {
    @Test("parses every JSON type and keeps member order and number text")
    func parsesTypes() throws {
        let value = try JSONValue.parse(#"{"b":[1,-2.5e3,true,false,null],"a":"x\u00e9\ud83d\ude00\n","n":1300819380}"#)
        let object = try #require(value.objectValue)
        #expect(object.names == ["b", "a", "n"])
        #expect(object["a"]?.stringValue == "xé😀\n")
        #expect(object["b"]?.arrayValue?.count == 5)
        #expect(object["b"]?.arrayValue?[1].numberValue?.double == -2500)
        #expect(object["n"]?.numberValue?.exactInteger == 1_300_819_380)
        #expect(value.serialized() == #"{"b":[1,-2.5e3,true,false,null],"a":"xé😀\n","n":1300819380}"#)
    }

    @Test("rejects duplicate member names, at any depth, after unescaping")
    func duplicates() {
        for text in [#"{"sub":"a","sub":"b"}"#, #"{"x":{"k":1,"k":2}}"#, #"{"alg":"ES256","\u0061lg":"none"}"#] {
            let error = Support.error { _ = try JSONValue.parse(text) }
            #expect(error?.code == .duplicateMember, "\(text)")
        }
        // Names longer than the eight bytes a lookup key holds: equal keys, different names, and
        // the same long name twice (raw, and escaped against raw).
        for text in [#"{"principal_class":1,"principal_class":2}"#, #"{"client_id":"a","client_\u0069d":"b"}"#] {
            #expect(Support.error { _ = try JSONValue.parse(text) }?.code == .duplicateMember, "\(text)")
        }
        let long = try? JSONValue.parse(#"{"principal_a":1,"principal_b":2,"principal":3,"principa":4,"p":5,"":6}"#).objectValue
        #expect(long?["principal_b"]?.numberValue?.exactInteger == 2 && long?["principal_a"]?.numberValue?.exactInteger == 1)
        #expect(long?["principal"]?.numberValue?.exactInteger == 3 && long?["principa"]?.numberValue?.exactInteger == 4)
        #expect(long?["p"]?.numberValue?.exactInteger == 5 && long?[""]?.numberValue?.exactInteger == 6)
        #expect(long?["principal_c"] == nil && long?["principal_"] == nil && long?["princip"] == nil && long?["q"] == nil)
        // Many members: the set-based path.
        let many = "{" + (0..<40).map { "\"m\($0)\":\($0)" }.joined(separator: ",") + ",\"m7\":0}"
        #expect(Support.error { _ = try JSONValue.parse(many) }?.code == .duplicateMember)
    }

    @Test("rejects malformed JSON", arguments: [
        "", "{", "{\"a\":}", "{\"a\":1,}", "[1,]", "{'a':1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}",
        "{\"a\":NaN}", "{\"a\":1e999}", "{\"a\":\"\\x\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
        "{\"a\":\"tab\there\"}", "{\"a\":tru}", "{} {}", "{\"a\":1}x", "\u{FEFF}{}",
    ])
    func malformed(_ text: String) {
        #expect(Support.error { _ = try JSONValue.parse(text) }?.code == .badJSON, "\(text.debugDescription)")
    }

    @Test("rejects invalid UTF-8 inside strings")
    func invalidUTF8() {
        let bytes: [UInt8] = Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(Support.error { _ = try JSONValue.parse(bytes) }?.code == .badJSON)
        let overlong: [UInt8] = Array(#"{"a":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8)
        #expect(Support.error { _ = try JSONValue.parse(overlong) }?.code == .badJSON)
    }

    @Test("strings: a quote, escape, control or non-ASCII byte is handled at every offset (the 8-byte scan)")
    func stringScanOffsets() throws {
        for offset in 0..<24 {
            let prefix = String(repeating: "a", count: offset)
            let suffix = String(repeating: "b", count: 9)
            // An escaped quote and an escaped backslash decode exactly.
            #expect(try JSONValue.parse("\"\(prefix)\\\"\\\\\(suffix)\"").stringValue == prefix + "\"\\" + suffix)
            // Non-ASCII is kept (and validated).
            #expect(try JSONValue.parse("\"\(prefix)é\(suffix)\"").stringValue == prefix + "é" + suffix)
            let invalid = Array("\"\(prefix)".utf8) + [0xFF] + Array("\(suffix)\"".utf8)
            #expect(Support.error { _ = try JSONValue.parse(invalid) }?.code == .badJSON, "invalid UTF-8 at \(offset)")
            // A raw control character is refused wherever it stands.
            for control: UInt8 in [0x00, 0x0A, 0x1F] {
                let bytes = Array("\"\(prefix)".utf8) + [control] + Array("\(suffix)\"".utf8)
                #expect(Support.error { _ = try JSONValue.parse(bytes) }?.code == .badJSON, "control \(control) at \(offset)")
            }
            // The closing quote ends the string at every offset; 0x7F (DEL) is allowed.
            #expect(try JSONValue.parse("[\"\(prefix)\u{7F}\",\"\(suffix)\"]").arrayValue?.count == 2)
        }
    }

    @Test("numbers keep their literal text exactly, integers or not")
    func numberLiterals() throws {
        for literal in ["0", "-0", "7", "-7", "1795262400", "999999999999999", "9999999999999999", "12345678901234567890",
                        "1.0", "1.5e3", "-2E-2", "0.1"] {
            let value = try #require(try JSONValue.parse("[\(literal)]").arrayValue?.first?.numberValue)
            #expect(value.text == literal)
            #expect(value.double == Double(literal))
            #expect(JSONValue.number(value).serialized() == literal)
        }
        #expect(try JSONValue.parse("5") == .number(JSONNumber(5)))
        #expect(try JSONValue.parse("1.0") != JSONValue.parse("1"))
        #expect(try JSONValue.parse("-0").numberValue?.text == "-0")
        #expect(try JSONValue.parse("1795262400").numberValue?.exactInteger == 1_795_262_400)
        #expect(JSONNumber(Int64.max).text == String(Int64.max))
    }

    @Test("serialisation escapes a quote, backslash or control character at every offset and round-trips")
    func serialisationOffsets() throws {
        for offset in 0..<20 {
            for special in ["\"", "\\", "\n", "\u{01}", "\u{1F}", "é", "\u{7F}"] {
                let text = String(repeating: "x", count: offset) + special + String(repeating: "y", count: 11)
                let encoded = JSONValue.string(text).serialized()
                #expect(try JSONValue.parse(encoded) == .string(text), "\(special.debugDescription) at \(offset)")
                #expect(!encoded.utf8.dropFirst().dropLast().contains { $0 < 0x20 }, "no raw control characters")
            }
        }
        #expect(JSONValue.string("a\"b\\c\u{01}").serialized() == #""a\"b\\c\u0001""#)
    }

    @Test("caps depth and size")
    func caps() {
        let deep = String(repeating: "[", count: 21) + String(repeating: "]", count: 21)
        #expect(Support.error { _ = try JSONValue.parse(deep) }?.code == .badJSON)
        let ok = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        #expect(Support.error { _ = try JSONValue.parse(ok) } == nil)
        let big = "\"" + String(repeating: "a", count: 100) + "\""
        #expect(Support.error { _ = try JSONValue.parse(big, limits: JSONLimits(maxBytes: 50)) }?.code == .tooLarge)
    }

    @Test("serialises with sorted keys and escapes control characters")
    func serialises() throws {
        let object = JSONObject(["z": "\u{01}\"\\", "a": .bool(true)])
        #expect(object.serialized(sortedKeys: true) == #"{"a":true,"z":"\u0001\"\\"}"#)
        #expect(try JSONValue.parse(object.serialized()) == .object(object))
    }
}
