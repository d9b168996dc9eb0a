public import BridgekeeperCore

/// What an agent's registration grants it (issue 5): per server, categories and single tools. It
/// only ever narrows: an agent gets the intersection of this grant with its owner's current rights.
public struct AgentGrant: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public let servers: PolicyRule.Servers
        public let categories: Set<ToolCategory>
        public let tools: [String]

        public init(servers: PolicyRule.Servers, categories: Set<ToolCategory> = [], tools: [String] = []) {
            self.servers = servers
            self.categories = categories
            self.tools = tools
        }

        func applies(to server: MCPServer) -> Bool { servers.include(server) }

        func covers(_ tool: Tool) -> Bool {
            categories.contains(tool.category) || tools.contains { $0.utf8.elementsEqual(tool.name.utf8) }
        }
    }

    public let entries: [Entry]

    public init(_ entries: [Entry]) { self.entries = entries }

    func covers(_ tool: Tool, on server: MCPServer) -> Bool {
        entries.contains { $0.applies(to: server) && $0.covers(tool) }
    }
}

/// How an agent acts (issue 5): as itself (client credentials, `sub` = the agent, shared servers
/// only) or on behalf of its owner (token exchange, `sub` = the owner, `act` = the agent).
public enum AgentMode: String, Sendable, Hashable {
    case itself
    case onBehalfOfOwner = "on_behalf_of_owner"
}

/// What is never delegated to an agent, whatever its owner may do: whole categories (`destructive`
/// and `admin` by default), except single tools the organisation marks delegable. A category can
/// only be made delegable by listing its tools one by one: nothing dangerous becomes delegable by
/// default when a tool is added to a server.
public struct DelegationRules: Sendable, Hashable {
    public let nonDelegableCategories: Set<ToolCategory>
    /// (server name, tool name) pairs delegable despite their category.
    public let delegableTools: [DelegableTool]

    public struct DelegableTool: Sendable, Hashable {
        public let server: String
        public let tool: String
        public init(server: String, tool: String) {
            self.server = server
            self.tool = tool
        }
    }

    public static let `default` = DelegationRules(nonDelegableCategories: [.destructive, .admin], delegableTools: [])

    public init(nonDelegableCategories: Set<ToolCategory>, delegableTools: [DelegableTool]) {
        self.nonDelegableCategories = nonDelegableCategories
        self.delegableTools = delegableTools
    }

    /// Whether an agent may ever hold `tool` on `server`.
    public func delegable(_ tool: Tool, on server: MCPServer) -> Bool {
        guard nonDelegableCategories.contains(tool.category) else { return true }
        return delegableTools.contains { $0.server.utf8.elementsEqual(server.name.utf8) && $0.tool.utf8.elementsEqual(tool.name.utf8) }
    }
}

extension ReasonCode {
    /// The agent's registration grants it nothing of what its owner may use on this server.
    public static let notInAgentGrant = ReasonCode("not_in_agent_grant")
    /// Everything left is in a category that is never delegated to agents.
    public static let nonDelegable = ReasonCode("non_delegable")
    /// An agent acting as itself asked for a server the catalog does not mark as shared.
    public static let serverNotShared = ReasonCode("server_not_shared")
}

extension Policy {
    /// What an agent may use on `server` (issue 5). Pure: the organisation's enabled tools that
    /// policy grants the **owner as of now** (`decide(for: owner, on:)`, re-derived from the
    /// owner's current groups and roles at every issuance, never copied from an old token) ∩ the
    /// agent's grant − what is never delegated. An agent acting as itself may use only servers the
    /// catalog marks as shared, and is still bounded by its owner.
    public func decide(forAgent grant: AgentGrant, mode: AgentMode, owner: SubjectAttributes, delegation: DelegationRules,
                       on server: MCPServer) -> Decision {
        if mode == .itself, !server.shared { return .deny(reason: .serverNotShared) }
        let ownerDecision = decide(for: owner, on: server)
        guard case .allow(let ownerTools, let rules) = ownerDecision else { return ownerDecision }
        let granted = ownerTools.filter { grant.covers($0, on: server) }
        guard !granted.isEmpty else { return .deny(reason: .notInAgentGrant) }
        let delegable = granted.filter { delegation.delegable($0, on: server) }
        guard !delegable.isEmpty else { return .deny(reason: .nonDelegable) }
        return .allow(tools: delegable, rules: rules)
    }
}
