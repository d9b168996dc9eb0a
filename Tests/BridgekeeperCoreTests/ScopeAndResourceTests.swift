import BridgekeeperCore
import Testing

@Suite("Scope (RFC 6749 section 3.3)")
struct ScopeTests {
    @Test("parses, sorts and de-duplicates; serialises space-separated")
    func parses() throws {
        let scope = try Scope(parsing: "tools:write repo:read tools:write")
        #expect(scope.tokens == ["repo:read", "tools:write"])
        #expect(scope.description == "repo:read tools:write")
        #expect(try Scope(parsing: "a b") == Scope(parsing: "b a"))
    }

    @Test("refuses empty tokens, stray spaces, quotes, backslashes and non-ASCII",
          arguments: ["", " a", "a ", "a  b", "a\"b", "a\\b", "caf\u{E9}", "a\tb"])
    func malformed(_ text: String) {
        let error = #expect(throws: OAuthError.self) { try Scope(parsing: text) }
        #expect(error?.code == .invalidScope)
        #expect(error?.reason == .malformedScope)
    }

    @Test("intersection is exact")
    func intersection() throws {
        let requested = try Scope(parsing: "a b c")
        let granted = try Scope(parsing: "b c d")
        #expect(requested.intersection(granted).tokens == ["b", "c"])
        #expect(requested.intersection(.empty).isEmpty)
        // A look-alike token (KELVIN SIGN for K) is not ASCII, so it is never a scope token at all.
        #expect(throws: OAuthError.self) { try Scope(tokens: ["\u{212A}"]) }
    }
}

@Suite("Resource indicators (RFC 8707)")
struct ResourceURITests {
    @Test("canonical form: lowercase scheme and host, default port dropped, root path without slash, escapes upper-cased",
          arguments: [
            ("https://mcp.example.com/mcp", "https://mcp.example.com/mcp"),
            ("HTTPS://MCP.Example.COM/mcp", "https://mcp.example.com/mcp"),
            ("https://mcp.example.com:443/mcp", "https://mcp.example.com/mcp"),
            ("https://mcp.example.com:8443/mcp", "https://mcp.example.com:8443/mcp"),
            ("http://localhost:80/mcp", "http://localhost/mcp"),
            ("https://mcp.example.com/", "https://mcp.example.com"),
            ("https://mcp.example.com", "https://mcp.example.com"),
            ("https://mcp.example.com/mcp/", "https://mcp.example.com/mcp/"),
            ("https://mcp.example.com/a%2fb", "https://mcp.example.com/a%2Fb"),
            ("https://[::1]:8443/mcp", "https://[::1]:8443/mcp"),
            ("https://mcp.example.com/Tools", "https://mcp.example.com/Tools"),
          ])
    func canonical(_ input: String, _ expected: String) throws {
        #expect(try ResourceURI(input).canonical == expected)
    }

    @Test("refuses what is not a plain absolute http(s) URI", arguments: [
        "", "mcp.example.com/mcp", "urn:example:mcp", "ftp://mcp.example.com", "https:/mcp.example.com",
        "https://mcp.example.com/mcp#frag", "https://mcp.example.com/mcp?x=1", "https://user@mcp.example.com/mcp",
        "https:///mcp", "https://mcp.example.com:99999/mcp", "https://mcp.example.com:8a/mcp",
        "https://mcp.example.com/a/../b", "https://mcp.example.com/./b", "https://mcp.example.com/a b",
        "https://mcp.example.com/%zz", "https://mcp.example.com/caf\u{E9}", "https://[::1/mcp",
    ])
    func refused(_ input: String) {
        let error = #expect(throws: OAuthError.self) { try ResourceURI(input) }
        #expect(error?.code == .invalidTarget)
        #expect(error?.reason == .malformedResource)
    }

    @Test("equality is on the canonical form")
    func equality() throws {
        #expect(try ResourceURI("https://MCP.example.com:443/mcp") == ResourceURI("https://mcp.example.com/mcp"))
        #expect(try ResourceURI("https://mcp.example.com/mcp") != ResourceURI("https://mcp.example.com/mcp/"))
    }
}
