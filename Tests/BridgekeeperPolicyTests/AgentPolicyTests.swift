import BridgekeeperCore
import BridgekeeperPolicy
import Testing

/// The agent bound (issue 5): the owner's current rights ∩ the agent's grant − what is never
/// delegated, as a pure decision.
@Suite("Policy decisions for agents")
struct AgentPolicyTests {
    static let github = PolicyTests.github
    static let sharedGitHub = MCPServer(name: "github", resource: github.resource, displayName: "GitHub", tools: github.tools, shared: true)
    static let policy = PolicyTests.policy
    static let everything = AgentGrant([AgentGrant.Entry(servers: .all, categories: Set(ToolCategory.allCases))])

    func tools(_ decision: Decision) -> [String] { PolicyTests().tools(decision) }

    @Test("an agent with a grant of everything gets its owner's rights minus destructive and admin")
    func boundedByOwnerAndDelegation() {
        let decision = Self.policy.decide(forAgent: Self.everything, mode: .onBehalfOfOwner, owner: PolicyTests.admin,
                                          delegation: .default, on: Self.github)
        // The owner (an admin) has read, write, admin and delete_repo; the agent gets read and write only.
        #expect(tools(Self.policy.decide(for: PolicyTests.admin, on: Self.github)).contains("delete_repo"))
        #expect(tools(decision) == ["search_issues", "get_file", "create_issue"])
    }

    @Test("a destructive tool its owner has is refused to the agent (non_delegable) unless that one tool is marked delegable")
    func destructiveToolItsOwnerHas() {
        let onlyDelete = AgentGrant([AgentGrant.Entry(servers: .named(["github"]), tools: ["delete_repo"])])
        #expect(Self.policy.decide(forAgent: onlyDelete, mode: .onBehalfOfOwner, owner: PolicyTests.admin, delegation: .default, on: Self.github)
                == .deny(reason: .nonDelegable))
        let marked = DelegationRules(nonDelegableCategories: [.destructive, .admin],
                                     delegableTools: [.init(server: "github", tool: "delete_repo")])
        #expect(tools(Self.policy.decide(forAgent: onlyDelete, mode: .onBehalfOfOwner, owner: PolicyTests.admin, delegation: marked,
                                         on: Self.github)) == ["delete_repo"])
        // Marking it delegable does not give it to an agent whose owner lacks it.
        #expect(Self.policy.decide(forAgent: onlyDelete, mode: .onBehalfOfOwner, owner: PolicyTests.engineer, delegation: marked, on: Self.github)
                == .deny(reason: .notInAgentGrant))
    }

    @Test("never more than the owner now: an owner who lost a group narrows the agent, an owner with nothing gives nothing")
    func ownerNow() {
        #expect(tools(Self.policy.decide(forAgent: Self.everything, mode: .onBehalfOfOwner, owner: PolicyTests.contractor, delegation: .default,
                                         on: Self.github)) == ["search_issues", "get_file"])
        #expect(Self.policy.decide(forAgent: Self.everything, mode: .onBehalfOfOwner, owner: PolicyTests.stranger, delegation: .default, on: Self.github)
                == .deny(reason: .noMatchingRule))
    }

    @Test("the agent's grant narrows: a read-only agent of a writer gets reads; a grant for another server gives nothing here")
    func grantNarrows() {
        let readOnly = AgentGrant([AgentGrant.Entry(servers: .named(["github"]), categories: [.read])])
        #expect(tools(Self.policy.decide(forAgent: readOnly, mode: .onBehalfOfOwner, owner: PolicyTests.engineer, delegation: .default,
                                         on: Self.github)) == ["search_issues", "get_file"])
        let elsewhere = AgentGrant([AgentGrant.Entry(servers: .named(["notion"]), categories: [.read, .write])])
        #expect(Self.policy.decide(forAgent: elsewhere, mode: .onBehalfOfOwner, owner: PolicyTests.engineer, delegation: .default, on: Self.github)
                == .deny(reason: .notInAgentGrant))
    }

    @Test("an agent acting as itself may use only shared servers, still bounded by its owner")
    func itselfOnlyOnShared() {
        #expect(Self.policy.decide(forAgent: Self.everything, mode: .itself, owner: PolicyTests.engineer, delegation: .default, on: Self.github)
                == .deny(reason: .serverNotShared))
        #expect(tools(Self.policy.decide(forAgent: Self.everything, mode: .itself, owner: PolicyTests.engineer, delegation: .default,
                                         on: Self.sharedGitHub)) == ["search_issues", "get_file", "create_issue"])
    }
}
