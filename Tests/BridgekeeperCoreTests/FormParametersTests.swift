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

    @Test("the body is exact JSON and error_description keeps to RFC 6749's character set")
    func body() {
        let error = OAuthError(.invalidGrant, "bad \"assertion\"\\\n é", reason: ReasonCode("test"))
        #expect(error.message == "bad ?assertion??? ??")
        #expect(error.body == #"{"error":"invalid_grant","error_description":"bad ?assertion??? ??"}"#)
    }
}
