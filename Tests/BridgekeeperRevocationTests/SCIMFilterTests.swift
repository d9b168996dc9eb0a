import BridgekeeperJOSE
@testable import BridgekeeperRevocation
import BridgekeeperStore
import Foundation
import Testing

/// The SCIM filter grammar (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): each feature parses to the
/// tree it means and evaluates as the RFC says; everything else is refused, never guessed at.
@Suite("SCIM filters: the RFC 7644 grammar, evaluation, refusals")
struct SCIMFilterTests {
    typealias P = SCIMFilterParser

    static func path(_ name: String, _ sub: String? = nil, schema: String? = nil) -> SCIMAttributePath {
        SCIMAttributePath(schema: schema, name: name, subAttribute: sub)
    }

    static func eq(_ name: String, _ value: String) -> SCIMFilter { .compare(path(name), .eq, .string(value)) }

    func refusal(_ text: String) -> String? {
        do {
            _ = try P.parseFilter(text)
            return nil
        } catch {
            return error.detail
        }
    }

    @Test("comparison, every operator in any case, and the three literals and numbers")
    func comparisons() throws {
        #expect(try P.parseFilter(#"userName eq "bjensen""#) == Self.eq("userName", "bjensen"))
        for op in SCIMComparison.allCases {
            #expect(try P.parseFilter(#"title \#(op.rawValue.uppercased()) "x""#) == .compare(Self.path("title"), op, .string("x")))
        }
        #expect(try P.parseFilter("title pr") == .present(Self.path("title")))
        #expect(try P.parseFilter("title PR") == .present(Self.path("title")))
        #expect(try P.parseFilter("active eq true") == .compare(Self.path("active"), .eq, .bool(true)))
        #expect(try P.parseFilter("active ne false") == .compare(Self.path("active"), .ne, .bool(false)))
        #expect(try P.parseFilter("x eq null") == .compare(Self.path("x"), .eq, .null))
        #expect(try P.parseFilter("x gt -1.5e+10") == .compare(Self.path("x"), .gt, .number("-1.5e+10")))
        #expect(try P.parseFilter("x le 0") == .compare(Self.path("x"), .le, .number("0")))
    }

    @Test("precedence: not > and > or; parentheses group; and/or read without case")
    func precedence() throws {
        let a = Self.eq("a", "1"), b = Self.eq("b", "2"), c = Self.eq("c", "3")
        #expect(try P.parseFilter(#"a eq "1" or b eq "2" and c eq "3""#) == .or([a, .and([b, c])]))
        #expect(try P.parseFilter(#"a eq "1" and b eq "2" or c eq "3""#) == .or([.and([a, b]), c]))
        #expect(try P.parseFilter(#"(a eq "1" or b eq "2") and c eq "3""#) == .and([.or([a, b]), c]))
        #expect(try P.parseFilter(#"a eq "1" AND not (b eq "2" Or c eq "3")"#) == .and([a, .not(.or([b, c]))]))
        #expect(try P.parseFilter(#"a eq "1" or b eq "2" or c eq "3""#) == .or([a, b, c]))
        #expect(try P.parseFilter(#"not(a eq "1")"#) == .not(a))
        #expect(try P.parseFilter(#"  ( a eq "1" )  "#) == a)
    }

    @Test("value paths, sub-attributes and schema-URN-prefixed names")
    func paths() throws {
        #expect(try P.parseFilter(#"emails[type eq "work" and value co "@x.com"]"#)
                == .valuePath(Self.path("emails"), .and([Self.eq("type", "work"), .compare(Self.path("value"), .co, .string("@x.com"))])))
        #expect(try P.parseFilter(#"members[value eq "id"]"#) == .valuePath(Self.path("members"), Self.eq("value", "id")))
        #expect(try P.parseFilter(#"name.familyName sw "O""#) == .compare(Self.path("name", "familyName"), .sw, .string("O")))
        #expect(try P.parseFilter(#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#)
                == .compare(Self.path("userName", schema: "urn:ietf:params:scim:schemas:core:2.0:User"), .eq, .string("a")))
        #expect(try P.parseFilter(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr"#)
                == .present(Self.path("manager", "value", schema: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")))
        let patch = try P.parsePath(#"emails[type eq "work"].value"#)
        #expect(patch.attribute == Self.path("emails"))
        #expect(patch.filter == Self.eq("type", "work"))
        #expect(patch.subAttribute == "value")
        #expect(try P.parsePath("name.givenName").attribute == Self.path("name", "givenName"))
    }

    @Test("strings are JSON strings: every JSON escape and surrogate pairs decode; anything else is refused")
    func strings() throws {
        #expect(try P.parseFilter(#"a eq "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#) == Self.eq("a", "\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}"))
        #expect(refusal(#"a eq "\q""#)?.contains("invalid escape") == true)
        #expect(refusal(#"a eq "\x41""#) != nil)
        #expect(refusal(#"a eq "\u12""#) != nil)
        #expect(refusal(#"a eq "\ud83d""#)?.contains("surrogate") == true)
        #expect(refusal(#"a eq "\ude00""#)?.contains("surrogate") == true)
        #expect(refusal("a eq \"tab\there\"") != nil, "a raw control character")
        #expect(refusal(#"a eq "open"#) != nil)
        #expect(refusal(#"a eq 'single'"#) != nil)
    }

    @Test("malformed filters are refused: missing parts, stray tokens, non-attributes, nesting, missing spaces, bad numbers and literals")
    func malformed() {
        for text in [
            "", "   ", "userName", "userName eq", #"userName eq "x" or"#, #"userName xx "x""#, #"userName eq "x")"#, #"(userName eq "x""#,
            #"1 eq 1"#, #"members[value eq "x" or 1 eq 1]"#, #"userName eq"x""#, #"userName eq "x"and b pr"#, #"emails[type eq "w"].value eq "x""#,
            #"emails[members[value pr]]"#, #"emails[type eq "w"]"# + "[value pr]", "a eq 01", "a eq 1.", "a eq .5", "a eq 1e", "a eq True", "a eq NULL",
            "a eq nothing", "a.b.c pr", "http://x:a pr", "$ref pr", "not a pr", "a pr and", "a pr or or", #"a eq "x" b eq "y""#, "a\tpr",
            "a pr ()", "a eq -",
        ] {
            #expect(refusal(text) != nil, "\(text) was accepted")
        }
    }

    @Test("bounds: length, nesting depth and number of expressions are capped, and a long input is refused quickly")
    func bounds() throws {
        let deep = String(repeating: "(", count: P.maxDepth) + "a pr" + String(repeating: ")", count: P.maxDepth)
        #expect(try P.parseFilter(deep) == .present(Self.path("a")))
        let deeper = "(" + deep + ")"
        #expect(refusal(deeper)?.contains("nested deeper") == true)
        let nots = String(repeating: "not (", count: P.maxDepth + 1) + "a pr" + String(repeating: ")", count: P.maxDepth + 1)
        #expect(refusal(nots)?.contains("nested deeper") == true)
        let many = (0...P.maxTerms).map { "a\($0) pr" }.joined(separator: " or ")
        #expect(refusal(many)?.contains("expressions") == true)
        let enough = (1...P.maxTerms).map { "a\($0) pr" }.joined(separator: " or ")
        #expect(refusal(enough) == nil)
        #expect(refusal("a eq \"" + String(repeating: "x", count: P.maxBytes) + "\"")?.contains("longer than") == true)
        // Unbalanced parentheses up to the length cap: refused, no stack exhaustion. (Time is the
        // fuzz target's to watch, docs/fuzzing.md, not a timed unit test's.)
        #expect(refusal(String(repeating: "(", count: P.maxBytes)) != nil)
        #expect(refusal(String(repeating: "not (", count: P.maxBytes / 5)) != nil)
        #expect(refusal(String(repeating: "a pr and ", count: P.maxBytes / 9)) != nil)
    }

    @Test("a filter written back parses to the same tree")
    func roundTrip() throws {
        for text in [
            #"userName eq "a\"b" or (x pr and not (y lt 3))"#, #"emails[type eq "work" or value ew ".org"] and active eq true"#,
            #"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co "\u0001""#,
        ] {
            let filter = try P.parseFilter(text)
            #expect(try P.parseFilter(filter.description) == filter, "\(filter)")
        }
    }

    // MARK: - Evaluation

    static let alice = try! JSONValue.parse("""
        {"id":"A1","externalId":"Ext-1","userName":"Alice@Example.com","displayName":"Alice Doe","active":true,
         "name":{"givenName":"Alice","familyName":"Doe"},
         "emails":[{"type":"work","value":"alice@corp.example","primary":true},{"type":"home","value":"alice@home.example"}],
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D"}}
        """).objectValue!

    func matches(_ text: String, _ resource: JSONObject = alice, kind: SCIMResource.Kind = .user) throws -> Bool {
        try SCIMCompiledFilter(try P.parseFilter(text), schema: .of(kind)).matches(resource)
    }

    func unsupported(_ text: String, kind: SCIMResource.Kind = .user) -> Bool {
        do {
            _ = try SCIMCompiledFilter(try P.parseFilter(text), schema: .of(kind))
            return false
        } catch {
            return true
        }
    }

    @Test("evaluation: userName, displayName and emails compare without case; id and externalId exactly; booleans; pr; not/and/or")
    func evaluation() throws {
        #expect(try matches(#"userName eq "alice@example.COM""#))
        #expect(try matches(#"displayName sw "ALICE""#))
        #expect(try matches(#"displayName ew "doe""#))
        #expect(try matches(#"displayName co "CE D""#))
        #expect(try !matches(#"displayName co "bob""#))
        #expect(try matches(#"id eq "A1""#))
        #expect(try !matches(#"id eq "a1""#), "id is case-exact")
        #expect(try !matches(#"externalId eq "ext-1""#), "externalId is case-exact")
        #expect(try matches(#"externalId eq "Ext-1""#))
        #expect(try matches("active eq true"))
        #expect(try !matches("active eq false"))
        #expect(try matches("active ne false"))
        #expect(try matches("name.familyName pr"))
        #expect(try !matches("name.formatted pr"))
        #expect(try matches("name.formatted eq null"))
        #expect(try matches(#"userName gt "alice@a" and userName lt "alice@z""#))
        #expect(try matches(#"userName ge "ALICE@EXAMPLE.COM" and userName le "alice@example.com""#))
        #expect(try matches(#"emails co "@home.""#), "emails co is emails.value co")
        #expect(try matches(#"emails.type eq "home""#))
        #expect(try matches(#"emails[type eq "work" and value co "@corp."]"#))
        #expect(try !matches(#"emails[type eq "home" and value co "@corp."]"#), "both conditions on the same value")
        #expect(try matches(#"emails[primary eq true and type eq "WORK"]"#))
        #expect(try matches(#"not (userName eq "bob") and (userName eq "x" or displayName eq "alice doe")"#))
        #expect(try !matches(#"not (userName pr)"#))
        #expect(try matches(#"userName ne "bob""#))
        #expect(try matches(#"urn:ietf:params:scim:schemas:core:2.0:User:USERNAME eq "alice@example.com""#), "names and schema read without case")
        #expect(try matches(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#))
        let group = try #require(JSONValue.parse(#"{"id":"G","displayName":"Eng","members":[{"value":"u-1"},{"value":"u-2"}]}"#).objectValue)
        #expect(try matches(#"id eq "G" and members[value eq "u-2"]"#, group, kind: .group))
        #expect(try !matches(#"members[value eq "u-3"]"#, group, kind: .group))
        #expect(try matches(#"members.value eq "u-1""#, group, kind: .group))
    }

    @Test("attributes and comparisons the schema does not have are refused (invalidFilter), never answered wrongly")
    func unsupportedAttributes() {
        #expect(unsupported(#"nickName eq "x""#))
        #expect(unsupported(#"password eq "x""#))
        #expect(unsupported(#"meta.created gt "2020-01-01T00:00:00Z""#))
        #expect(unsupported(#"groups[value eq "g"]"#))
        #expect(unsupported(#"emails.nope eq "x""#))
        #expect(unsupported(#"name eq "x""#), "a single complex attribute only takes pr")
        #expect(unsupported("active gt true"), "booleans take eq and ne only")
        #expect(unsupported("active co true"))
        #expect(unsupported(#"active eq "true""#))
        #expect(unsupported("userName eq 1"))
        #expect(unsupported("userName gt null"))
        #expect(unsupported(#"userName[value eq "x"]"#), "not multi-valued")
        #expect(unsupported(#"emails[value.x eq "y"]"#))
        #expect(unsupported(#"urn:example:other:userName eq "x""#))
        #expect(unsupported(#"urn:ietf:params:scim:schemas:core:2.0:Group:userName eq "x""#))
        #expect(unsupported(#"members[value eq "x"]"#), "Users have no members")
        #expect(unsupported(#"userName eq "x""#, kind: .group))
        #expect(unsupported(#"emails co "x""#, kind: .group))
        #expect(!unsupported(#"displayName eq "x""#, kind: .group))
    }
}
