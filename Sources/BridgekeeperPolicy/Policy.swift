public import BridgekeeperCore

/// The directory a subject's groups and roles come from: the exact issuer that vouched for them and
/// the tenant it named (nil for an IdP without tenants). A group or role name means something only
/// within its directory: an administrator of any trusted tenant can create a group called
/// `security`, so names are matched as (IdP, tenant, name), never by name alone.
public struct SubjectOrigin: Sendable, Hashable {
    public let issuer: String
    public let tenant: String?

    public init(issuer: String, tenant: String?) {
        self.issuer = issuer
        self.tenant = tenant
    }

    public init(_ subject: SubjectKey) { self.init(issuer: subject.issuer, tenant: subject.tenant) }

    /// Byte-exact, as every protocol identifier here (Swift's `==` on strings is canonical equivalence).
    public static func == (lhs: SubjectOrigin, rhs: SubjectOrigin) -> Bool {
        guard lhs.issuer.utf8.elementsEqual(rhs.issuer.utf8) else { return false }
        switch (lhs.tenant, rhs.tenant) {
        case (nil, nil): return true
        case (let a?, let b?): return a.utf8.elementsEqual(b.utf8)
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(Array(issuer.utf8))
        hasher.combine(tenant.map { Array($0.utf8) })
    }
}

/// What the IdP says about a subject that policy can match on: groups and roles, compared exactly
/// (Entra sends GUIDs, Okta names; both are case-sensitive identifiers here), and the directory they
/// come from. Attributes without an origin match no group or role rule (fail closed).
public struct SubjectAttributes: Sendable, Hashable {
    public let origin: SubjectOrigin?
    public let groups: [String]
    public let roles: [String]

    public init(origin: SubjectOrigin?, groups: [String] = [], roles: [String] = []) {
        self.origin = origin
        self.groups = groups
        self.roles = roles
    }

    /// The same groups and roles, as coming from `origin`.
    public func from(_ origin: SubjectOrigin) -> SubjectAttributes { SubjectAttributes(origin: origin, groups: groups, roles: roles) }
}

/// The IdP, and optionally the tenants, whose groups and roles a rule names (or whose people an
/// `everyone` rule is limited to). Resolved by the configuration from the IdP's name to its exact
/// issuers (one per tenant for an issuer template).
public struct AttributeSource: Sendable, Hashable {
    /// The IdP's name in the configuration, for messages.
    public let idp: String
    /// The IdP's exact issuers.
    public let issuers: [String]
    /// The tenants, compared exactly; nil means every tenant the IdP trusts.
    public let tenants: [String]?

    public init(idp: String, issuers: [String], tenants: [String]? = nil) {
        self.idp = idp
        self.issuers = issuers
        self.tenants = tenants
    }

    /// Whether attributes from `origin` belong to this source.
    public func includes(_ origin: SubjectOrigin) -> Bool {
        guard issuers.contains(where: { $0.utf8.elementsEqual(origin.issuer.utf8) }) else { return false }
        guard let tenants else { return true }
        guard let tenant = origin.tenant else { return false }
        return tenants.contains { $0.utf8.elementsEqual(tenant.utf8) }
    }
}

/// One policy rule: who (any of its groups or roles, or everyone; from which IdP and tenants),
/// where (servers by catalog name, or all), and what (tool categories and single tools). An `allow`
/// grants what it names; a `deny` takes it away, and a deny that names no categories and no tools
/// takes away the whole server.
///
/// Groups and roles match only subjects whose attributes come from the rule's `source`; a group or
/// role rule without a source matches no one (the configuration always gives one). An `everyone`
/// rule with a source is limited to that IdP's (and tenants') people; without one it matches every
/// person of every trusted IdP.
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
    /// The IdP (and tenants) the rule's groups and roles belong to.
    public let source: AttributeSource?
    public let servers: Servers
    public let categories: Set<ToolCategory>
    public let tools: [String]

    public init(id: String, effect: Effect, subjects: Subjects, source: AttributeSource?, servers: Servers,
                categories: Set<ToolCategory> = [], tools: [String] = []) {
        self.id = id
        self.effect = effect
        self.subjects = subjects
        self.source = source
        self.servers = servers
        self.categories = categories
        self.tools = tools
    }

    func matches(_ subject: SubjectAttributes) -> Bool {
        if let source {
            guard let origin = subject.origin, source.includes(origin) else { return false }
        }
        switch subjects {
        case .everyone: return true
        case .anyOf(let groups, let roles):
            guard source != nil else { return false }
            return groups.contains { group in subject.groups.contains { $0.utf8.elementsEqual(group.utf8) } }
                || roles.contains { role in subject.roles.contains { $0.utf8.elementsEqual(role.utf8) } }
        }
    }

    func applies(to server: MCPServer) -> Bool { servers.include(server) }

    /// Whether the rule names this tool, by its category or by its name. An allow rule grants a tool
    /// marked `byNameOnly` only by naming it; a deny takes it away by its category too.
    func covers(_ tool: Tool) -> Bool {
        (categories.contains(tool.category) && (effect == .deny || !tool.byNameOnly)) || tools.contains { $0.utf8.elementsEqual(tool.name.utf8) }
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
