import Foundation
import BridgekeeperCore
import Testing

@Suite("Form parameters (application/x-www-form-urlencoded)")
struct FormParametersTests {
    func parse(_ text: String, maxBytes: Int = 16_384) throws(OAuthError) -> FormParameters {
        try FormParameters(Array(text.utf8), maxBytes: maxBytes)
    }

    @Test("parses the Python MCP SDK's jwt-bearer request shape, in order, decoding + and %XX")
    func pythonSDKShape() throws {
        let form = try parse("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ.eyJ.sig"
            + "&client_id=mcp-client&client_secret=s%2Fe+cret&resource=https%3A%2F%2Fmcp.example.com%2Fmcp&scope=repo%3Aread+issues%3Awrite")
        #expect(form.pairs.map(\.name) == ["grant_type", "assertion", "client_id", "client_secret", "resource", "scope"])
        #expect(form.value("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer")
        #expect(form.value("client_secret") == "s/e cret")
        #expect(form.value("scope") == "repo:read issues:write")
        #expect(form.value("resource") == "https://mcp.example.com/mcp")
    }

    @Test("a parameter without a value is treated as omitted (RFC 6749 section 3.1); empty segments are skipped")
    func emptyValues() throws {
        let form = try parse("a=1&&b=&c&d=2&")
        #expect(form.pairs.map(\.name) == ["a", "d"])
        #expect(form.value("b") == nil)
    }

    @Test("malformed percent-escapes, invalid UTF-8, control characters and empty names are invalid_request",
          arguments: ["a=%", "a=%4", "a=%GG", "a=%C3%28", "a=%00", "a=x%0Ay", "=v", "%zz=1", "a=%7F"])
    func malformed(_ text: String) {
        let error = #expect(throws: OAuthError.self) { try parse(text) }
        #expect(error?.code == .invalidRequest)
        #expect(error?.reason == .malformedForm)
    }

    @Test("the size cap is enforced before parsing")
    func sizeCap() {
        let error = #expect(throws: OAuthError.self) { try parse(String(repeating: "a", count: 101), maxBytes: 100) }
        #expect(error?.reason == .requestTooLarge)
        #expect(error?.code.httpStatus == 400)
    }

    @Test("repeats are refused except for declared repeatable parameters (resource, RFC 8707)")
    func repeats() throws {
        let form = try parse("resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb&scope=x")
        #expect(form.values("resource") == ["https://a", "https://b"])
        #expect(throws: Never.self) { try form.rejectRepeats(except: ["resource"]) }
        let error = #expect(throws: OAuthError.self) { try form.rejectRepeats() }
        #expect(error?.reason == .repeatedParameter)
        let twice = try parse("grant_type=a&grant_type=b")
        #expect(throws: OAuthError.self) { try twice.rejectRepeats(except: ["resource"]) }
    }

    @Test("undeclared parameters are dropped; required ones are reported by name")
    func declared() throws {
        let form = try parse("grant_type=x&assertion=y&a%5B%5D=1&unknown=z").keeping(["grant_type", "assertion"])
        #expect(form.pairs.map(\.name) == ["grant_type", "assertion"])
        let error = #expect(throws: OAuthError.self) { try form.required("scope") }
        #expect(error?.reason == .missingParameter)
        #expect(error?.message == "missing required parameter scope")
        #expect(try form.required("assertion") == "y")
    }

    @Test("names are compared exactly: a look-alike name is a different parameter")
    func exactNames() throws {
        let form = try parse("client_id=a&client_%E2%84%AAid=b")
        #expect(form.values("client_id") == ["a"])
        #expect(throws: Never.self) { try form.rejectRepeats() }
    }
}

@Suite("OAuth errors")
struct OAuthErrorTests {
    @Test("invalid_client is 401, every other code 400")
    func statuses() {
        for code in OAuthError.Code.allCases {
            #expect(code.httpStatus == (code == .invalidClient ? 401 : 400))
        }
    }

    @Test("the body is exact JSON and error_description keeps to RFC 6749's character set, readably")
    func body() {
        // Quotes read as single quotes; a backslash, a percent sign and every byte outside
        // printable ASCII are percent-encoded, so nothing is lost and nothing is ambiguous.
        let error = OAuthError(.invalidGrant, "bad \"assertion\"\\\n é 100%", reason: ReasonCode("test"))
        #expect(error.message == "bad 'assertion'%5C%0A %C3%A9 100%25")
        #expect(error.body == #"{"error":"invalid_grant","error_description":"bad 'assertion'%5C%0A %C3%A9 100%25"}"#)
        #expect(OAuthError.descriptionSafe("no key with kid \"rig-idp-1\" for RS256") == "no key with kid 'rig-idp-1' for RS256")
        // The percent-encoded form decodes back to the text, quotes aside.
        #expect(OAuthError.descriptionSafe("a\\b%c\u{7}d😀").removingPercentEncoding == "a\\b%c\u{7}d😀")
    }

    @Test("a long error_description is cut at 300 bytes, never inside an escape")
    func longDescription() {
        for prefix in 0..<3 {
            let text = String(repeating: "a", count: 297 + prefix) + "ééé"
            let safe = OAuthError.descriptionSafe(text)
            #expect(safe.utf8.count <= 300, "\(safe.utf8.count)")
            #expect(safe.utf8.allSatisfy { (0x20...0x7E).contains($0) && $0 != 0x22 && $0 != 0x5C })
            #expect(safe.removingPercentEncoding != nil, "\(safe.suffix(8))")
            #expect(!safe.hasSuffix("%") && !safe.dropLast().hasSuffix("%"), "\(safe.suffix(8))")
        }
    }
}
