import BridgekeeperCore
import BridgekeeperPolicy
import Testing

@Suite("Policy decisions")
struct PolicyTests {
    static let github = MCPServer(
        name: "github", resource: try! ResourceURI("https://mcp.example.com/github"), displayName: "GitHub",
        tools: [
            Tool(name: "search_issues", category: .read),
            Tool(name: "get_file", category: .read),
            Tool(name: "create_issue", category: .write),
            Tool(name: "merge_pr", category: .write, enabled: false),
            Tool(name: "delete_repo", category: .destructive),
            Tool(name: "manage_members", category: .admin),
        ])
    static let snowflake = MCPServer(
        name: "snowflake", resource: try! ResourceURI("https://mcp.example.com/snowflake"), displayName: "Snowflake",
        enabled: false, tools: [Tool(name: "query", category: .read)])

    static let corp = SubjectOrigin(issuer: "https://idp.example.com", tenant: nil)
    static let source = AttributeSource(idp: "corp", issuers: ["https://idp.example.com"])
    static let engineer = SubjectAttributes(origin: corp, groups: ["engineering"])
    static let contractor = SubjectAttributes(origin: corp, groups: ["engineering", "contractors"])
    static let admin = SubjectAttributes(origin: corp, groups: ["engineering"], roles: ["github-admin"])
    static let stranger = SubjectAttributes(origin: corp, groups: ["marketing"])

    static let policy = Policy(rules: [
        PolicyRule(id: "eng-read-write", effect: .allow, subjects: .anyOf(groups: ["engineering"], roles: []), source: Self.source,
                   servers: .named(["github"]), categories: [.read, .write]),
        PolicyRule(id: "admins", effect: .allow, subjects: .anyOf(groups: [], roles: ["github-admin"]), source: Self.source,
                   servers: .named(["github"]), categories: [.admin], tools: ["delete_repo"]),
        PolicyRule(id: "no-writes-for-contractors", effect: .deny, subjects: .anyOf(groups: ["contractors"], roles: []), source: Self.source,
                   servers: .all, categories: [.write]),
        PolicyRule(id: "everyone-snowflake", effect: .allow, subjects: .everyone, source: nil, servers: .named(["snowflake"]), categories: [.read]),
    ])

    func tools(_ decision: Decision) -> [String] {
        if case .allow(let tools, _) = decision { return tools.map(\.name) }
        return []
    }

    @Test("an allow rule grants its categories' enabled tools, and names the rule")
    func allow() {
        let decision = Self.policy.decide(for: Self.engineer, on: Self.github)
        #expect(tools(decision) == ["search_issues", "get_file", "create_issue"])
        guard case .allow(_, let rules) = decision else { Issue.record("denied"); return }
        #expect(rules == ["eng-read-write"])
    }

    @Test("single tools and categories combine across rules")
    func combine() {
        let decision = Self.policy.decide(for: Self.admin, on: Self.github)
        #expect(tools(decision) == ["search_issues", "get_file", "create_issue", "delete_repo", "manage_members"])
        guard case .allow(_, let rules) = decision else { Issue.record("denied"); return }
        #expect(rules == ["eng-read-write", "admins"])
    }

    @Test("a deny wins over an allow for what it covers")
    func denyWins() {
        #expect(tools(Self.policy.decide(for: Self.contractor, on: Self.github)) == ["search_issues", "get_file"])
    }

    @Test("a deny naming no categories or tools takes away the whole server")
    func denyServer() {
        let policy = Policy(rules: Self.policy.rules + [
            PolicyRule(id: "block-contractors", effect: .deny, subjects: .anyOf(groups: ["contractors"], roles: []), source: Self.source,
                       servers: .named(["github"])),
        ])
        #expect(policy.decide(for: Self.contractor, on: Self.github) == .deny(reason: .deniedByRule, rules: ["block-contractors"]))
        #expect(tools(policy.decide(for: Self.engineer, on: Self.github)) == ["search_issues", "get_file", "create_issue"])
    }

    @Test("nothing matched means deny")
    func denyByDefault() {
        #expect(Self.policy.decide(for: Self.stranger, on: Self.github) == .deny(reason: .noMatchingRule))
        #expect(Policy(rules: []).decide(for: Self.admin, on: Self.github) == .deny(reason: .noMatchingRule))
    }

    @Test("a disabled server or tool is never granted")
    func disabled() {
        #expect(Self.policy.decide(for: Self.engineer, on: Self.snowflake) == .deny(reason: .serverDisabled))
        #expect(!tools(Self.policy.decide(for: Self.engineer, on: Self.github)).contains("merge_pr"))
        let onlyMerge = Policy(rules: [PolicyRule(id: "m", effect: .allow, subjects: .everyone, source: nil, servers: .all, tools: ["merge_pr"])])
        #expect(onlyMerge.decide(for: Self.engineer, on: Self.github) == .deny(reason: .noEnabledTool))
    }

    @Test("everything an allow covers, denied, is reported as denied by rule, naming the rule")
    func allDenied() {
        let policy = Policy(rules: [
            PolicyRule(id: "w", effect: .allow, subjects: .everyone, source: nil, servers: .all, categories: [.write]),
            PolicyRule(id: "no-w", effect: .deny, subjects: .everyone, source: nil, servers: .all, categories: [.write]),
        ])
        #expect(policy.decide(for: Self.engineer, on: Self.github) == .deny(reason: .deniedByRule, rules: ["no-w"]))
    }

    @Test("groups and roles are matched exactly")
    func exactMatching() {
        for look in ["Engineering", "engineering ", "\u{212A}"] {
            #expect(Self.policy.decide(for: SubjectAttributes(origin: Self.corp, groups: [look]), on: Self.github) == .deny(reason: .noMatchingRule), "\(look)")
        }
        #expect(Self.policy.decide(for: SubjectAttributes(origin: Self.corp, groups: ["engineering"], roles: ["GitHub-Admin"]), on: Self.github)
            == Self.policy.decide(for: Self.engineer, on: Self.github))
    }

    @Test("groups and roles match only from the rule's IdP and tenants: a same-named group elsewhere grants nothing (issue 18)")
    func originScoped() {
        let entra = AttributeSource(idp: "entra", issuers: ["https://login.example/t1/v2.0", "https://login.example/t2/v2.0"], tenants: ["t1"])
        let policy = Policy(rules: [
            PolicyRule(id: "t1-admins", effect: .allow, subjects: .anyOf(groups: [], roles: ["github-admin"]), source: entra,
                       servers: .named(["github"]), categories: [.admin]),
            PolicyRule(id: "corp-eng", effect: .allow, subjects: .anyOf(groups: ["engineering"], roles: []), source: Self.source,
                       servers: .named(["github"]), categories: [.read]),
        ])
        let t1 = SubjectOrigin(issuer: "https://login.example/t1/v2.0", tenant: "t1")
        let t2 = SubjectOrigin(issuer: "https://login.example/t2/v2.0", tenant: "t2")
        #expect(tools(policy.decide(for: SubjectAttributes(origin: t1, roles: ["github-admin"]), on: Self.github)) == ["manage_members"])
        // The same role name made by tenant t2's administrator: nothing.
        #expect(policy.decide(for: SubjectAttributes(origin: t2, roles: ["github-admin"]), on: Self.github) == .deny(reason: .noMatchingRule))
        // A group of the same name at another IdP.
        #expect(policy.decide(for: SubjectAttributes(origin: t1, groups: ["engineering"]), on: Self.github) == .deny(reason: .noMatchingRule))
        // Attributes without an origin match no group or role rule.
        #expect(policy.decide(for: SubjectAttributes(origin: nil, groups: ["engineering"]), on: Self.github) == .deny(reason: .noMatchingRule))
        // A group rule without a source matches no one; an everyone rule with a source only that IdP's people.
        let unscoped = Policy(rules: [
            PolicyRule(id: "g", effect: .allow, subjects: .anyOf(groups: ["engineering"], roles: []), source: nil, servers: .all, categories: [.read]),
            PolicyRule(id: "e", effect: .allow, subjects: .everyone, source: entra, servers: .all, categories: [.write]),
        ])
        #expect(unscoped.decide(for: Self.engineer, on: Self.github) == .deny(reason: .noMatchingRule))
        #expect(tools(unscoped.decide(for: SubjectAttributes(origin: t1), on: Self.github)) == ["create_issue"])
    }

    @Test("a tool granted only by name is not granted through its category, but a deny by category takes it away")
    func byNameOnly() {
        let server = MCPServer(name: "s", resource: try! ResourceURI("https://mcp.example.com/s"), displayName: "S",
                               tools: [Tool(name: "admin", category: .admin), Tool(name: "all_tenants", category: .admin, byNameOnly: true)])
        let byCategory = Policy(rules: [PolicyRule(id: "a", effect: .allow, subjects: .everyone, source: nil, servers: .all, categories: [.admin])])
        #expect(tools(byCategory.decide(for: Self.engineer, on: server)) == ["admin"])
        let byName = Policy(rules: byCategory.rules + [PolicyRule(id: "n", effect: .allow, subjects: .everyone, source: nil, servers: .all, tools: ["all_tenants"])])
        #expect(tools(byName.decide(for: Self.engineer, on: server)) == ["admin", "all_tenants"])
        let denied = Policy(rules: byName.rules + [PolicyRule(id: "d", effect: .deny, subjects: .everyone, source: nil, servers: .all, categories: [.admin])])
        #expect(denied.decide(for: Self.engineer, on: server) == .deny(reason: .deniedByRule, rules: ["d"]))
    }

    @Test("rules apply only to the servers they name")
    func serverScope() {
        let other = MCPServer(name: "notion", resource: try! ResourceURI("https://mcp.example.com/notion"), displayName: "Notion",
                              tools: [Tool(name: "read_page", category: .read)])
        #expect(Self.policy.decide(for: Self.engineer, on: other) == .deny(reason: .noMatchingRule))
    }

    @Test("the catalog finds servers by canonical resource and by exact name")
    func catalog() throws {
        let catalog = Catalog(servers: [Self.github, Self.snowflake])
        #expect(catalog.server(for: try ResourceURI("HTTPS://MCP.example.com:443/github"))?.name == "github")
        #expect(catalog.server(for: try ResourceURI("https://mcp.example.com/github/")) == nil)
        #expect(catalog.server(named: "github")?.displayName == "GitHub")
        #expect(catalog.server(named: "GitHub") == nil)
        #expect(Self.github.tools[0].scope == "tool:search_issues")
    }
}

@Suite("Granted scope = request ∩ assertion ∩ policy")
struct ScopeGrantTests {
    let policyTools = [Tool(name: "a", category: .read), Tool(name: "b", category: .read), Tool(name: "c", category: .write)]

    @Test("all three narrow; absent request or assertion does not")
    func intersections() throws {
        #expect(try ScopeGrant.grant(requested: nil, assertion: nil, policyTools: policyTools).description == "tool:a tool:b tool:c")
        #expect(try ScopeGrant.grant(requested: Scope(parsing: "tool:a tool:c tool:z"), assertion: nil, policyTools: policyTools).description == "tool:a tool:c")
        #expect(try ScopeGrant.grant(requested: nil, assertion: Scope(parsing: "tool:b tool:c"), policyTools: policyTools).description == "tool:b tool:c")
        #expect(try ScopeGrant.grant(requested: Scope(parsing: "tool:a tool:b"), assertion: Scope(parsing: "tool:b tool:c"),
                                     policyTools: policyTools).description == "tool:b")
    }

    @Test("an empty result is invalid_scope with its reason")
    func empty() throws {
        let error = #expect(throws: OAuthError.self) {
            try ScopeGrant.grant(requested: Scope(parsing: "tool:z"), assertion: nil, policyTools: policyTools)
        }
        #expect(error?.code == .invalidScope)
        #expect(error?.reason == .noScopeGranted)
        #expect(throws: OAuthError.self) { try ScopeGrant.grant(requested: nil, assertion: nil, policyTools: []) }
    }
}
