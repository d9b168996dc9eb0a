public import BridgekeeperCore

/// What the IdP says about a subject that policy can match on: groups and roles, compared exactly
/// (Entra sends GUIDs, Okta names; both are case-sensitive identifiers here).
public struct SubjectAttributes: Sendable, Hashable {
    public let groups: [String]
    public let roles: [String]

    public init(groups: [String] = [], roles: [String] = []) {
        self.groups = groups
        self.roles = roles
    }
}

/// One policy rule: who (any of its groups or roles, or everyone), where (servers by catalog name,
/// or all), and what (tool categories and single tools). An `allow` grants what it names; a `deny`
/// takes it away, and a deny that names no categories and no tools takes away the whole server.
public struct PolicyRule: Sendable, Hashable {
    public enum Effect: String, Sendable, Hashable { case allow, deny }
    public enum Subjects: Sendable, Hashable {
        case everyone
        /// Matches a subject that has any of these groups or any of these roles.
        case anyOf(groups: [String], roles: [String])
    }
    public enum Servers: Sendable, Hashable {
        case all
        case named([String])
    }

    public let id: String
    public let effect: Effect
    public let subjects: Subjects
    public let servers: Servers
    public let categories: Set<ToolCategory>
    public let tools: [String]

    public init(id: String, effect: Effect, subjects: Subjects, servers: Servers,
                categories: Set<ToolCategory> = [], tools: [String] = []) {
        self.id = id
        self.effect = effect
        self.subjects = subjects
        self.servers = servers
        self.categories = categories
        self.tools = tools
    }

    func matches(_ subject: SubjectAttributes) -> Bool {
        switch subjects {
        case .everyone: return true
        case .anyOf(let groups, let roles):
            return groups.contains { group in subject.groups.contains { $0.utf8.elementsEqual(group.utf8) } }
                || roles.contains { role in subject.roles.contains { $0.utf8.elementsEqual(role.utf8) } }
        }
    }

    func applies(to server: MCPServer) -> Bool { servers.include(server) }

    /// Whether the rule names this tool, by its category or by its name.
    func covers(_ tool: Tool) -> Bool {
        categories.contains(tool.category) || tools.contains { $0.utf8.elementsEqual(tool.name.utf8) }
    }

    var coversWholeServer: Bool { categories.isEmpty && tools.isEmpty }
}

/// A decision, never a boolean: what is allowed and by which rules, or why not. Nothing matched
/// means deny (STYLE rule 7).
public enum Decision: Sendable, Equatable {
    /// The tools allowed (enabled, granted by an allow rule, not taken away by a deny), and the ids
    /// of the allow rules that granted them.
    case allow(tools: [Tool], rules: [String])
    /// Why not, and for `denied_by_rule` the ids of the deny rules that took everything away.
    case deny(reason: ReasonCode, rules: [String] = [])
}

extension ReasonCode {
    /// The organisation has not enabled the server.
    public static let serverDisabled = ReasonCode("server_disabled")
    /// No allow rule grants the subject anything on this server.
    public static let noMatchingRule = ReasonCode("no_matching_rule")
    /// Allow rules matched, but deny rules took everything away.
    public static let deniedByRule = ReasonCode("denied_by_rule")
    /// Something was allowed, but none of it is an enabled tool.
    public static let noEnabledTool = ReasonCode("no_enabled_tool")
}

/// The organisation's access policy over its catalog.
public struct Policy: Sendable {
    public let rules: [PolicyRule]

    public init(rules: [PolicyRule]) { self.rules = rules }

    /// What `subject` may use on `server`. Pure: a function of the rules, the catalog entry and
    /// the subject's current attributes.
    public func decide(for subject: SubjectAttributes, on server: MCPServer) -> Decision {
        guard server.enabled else { return .deny(reason: .serverDisabled) }
        let relevant = rules.filter { $0.applies(to: server) && $0.matches(subject) }
        let allows = relevant.filter { $0.effect == .allow }
        let denies = relevant.filter { $0.effect == .deny }
        guard !allows.isEmpty else { return .deny(reason: .noMatchingRule) }
        let wholeServer = denies.filter(\.coversWholeServer)
        if !wholeServer.isEmpty { return .deny(reason: .deniedByRule, rules: wholeServer.map(\.id)) }

        // Each reason for a deny is one filter: nothing covered, everything covered is denied, or
        // what is left is not enabled.
        let covered = server.tools.filter { tool in allows.contains { $0.covers(tool) } }
        guard !covered.isEmpty else { return .deny(reason: .noMatchingRule) }
        let notDenied = covered.filter { tool in !denies.contains { $0.covers(tool) } }
        guard !notDenied.isEmpty else {
            return .deny(reason: .deniedByRule, rules: denies.filter { rule in covered.contains { rule.covers($0) } }.map(\.id))
        }
        let granted = notDenied.filter(\.enabled)
        guard !granted.isEmpty else { return .deny(reason: .noEnabledTool) }
        let grantingRules = allows.filter { rule in granted.contains { rule.covers($0) } }.map(\.id)
        return .allow(tools: granted, rules: grantingRules)
    }
}

/// The scope an access token carries (SPECS §1, conflict C3): the client's request (or, when it
/// asked for nothing, the assertion's scope) ∩ the assertion's scope ∩ what policy allows. An absent
/// request or assertion scope does not narrow; policy always does.
public enum ScopeGrant {
    /// - Throws: `invalid_scope` with `no_scope_granted` when nothing is left.
    public static func grant(requested: Scope?, assertion: Scope?, policyTools: [Tool]) throws(OAuthError) -> Scope {
        var granted = try Scope(tokens: policyTools.map(\.scope))
        if let assertion { granted = granted.intersection(assertion) }
        if let requested { granted = granted.intersection(requested) }
        guard !granted.isEmpty else {
            throw OAuthError(.invalidScope, "none of the requested scope is granted", reason: .noScopeGranted)
        }
        return granted
    }
}

extension ReasonCode {
    /// The intersection of request, assertion and policy is empty.
    public static let noScopeGranted = ReasonCode("no_scope_granted")
}

extension PolicyRule.Servers {
    /// Whether `server` is among these (exact name), for a policy rule and an agent's grant alike.
    /// `*` never includes the built-in management API: it is reached only by name.
    public func include(_ server: MCPServer) -> Bool {
        switch self {
        case .all: return !server.builtIn
        case .named(let names): return names.contains { $0.utf8.elementsEqual(server.name.utf8) }
        }
    }
}
