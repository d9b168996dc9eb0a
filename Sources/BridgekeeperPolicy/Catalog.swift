public import BridgekeeperCore

/// What a tool can do to the world, from harmless to dangerous.
public enum ToolCategory: String, Sendable, Hashable, CaseIterable {
    case read, write, destructive, admin
}

/// One tool of an MCP server.
public struct Tool: Sendable, Hashable {
    public let name: String
    public let category: ToolCategory
    /// Whether the organisation has enabled this tool.
    public let enabled: Bool
    /// The scope token that grants this tool in an access token.
    public let scope: String
    /// Granted only by an allow rule that names it, never through its category (a deny by category
    /// still takes it away): for powers no one should get by being given "admin" in general.
    public let byNameOnly: Bool

    /// - Parameter scope: defaults to `tool:<name>`.
    public init(name: String, category: ToolCategory, enabled: Bool = true, scope: String? = nil, byNameOnly: Bool = false) {
        self.name = name
        self.category = category
        self.enabled = enabled
        self.scope = scope ?? "tool:\(name)"
        self.byNameOnly = byNameOnly
    }
}

/// An MCP server in the catalog: one resource indicator, one access-token audience.
public struct MCPServer: Sendable {
    /// The catalog key, used by policy rules and the CLI (`github`).
    public let name: String
    public let resource: ResourceURI
    public let displayName: String
    /// Whether the organisation has enabled this server.
    public let enabled: Bool
    public let tools: [Tool]
    /// The name of the third-party authorization server that issues this server's access tokens,
    /// when it is not Bridgekeeper: policy still decides, and Bridgekeeper issues an ID-JAG for
    /// that authorization server instead of an access token.
    public let authorizationServer: AuthorizationServerReference?
    /// Whether agents acting as themselves (not for an owner) may use it (issue 5). Default false.
    public let shared: Bool
    /// Bridgekeeper's own management API (`MCPServer.management`): a policy rule or an agent grant
    /// reaches it only by naming it, never through `*`.
    public let builtIn: Bool

    public init(name: String, resource: ResourceURI, displayName: String, enabled: Bool = true, tools: [Tool],
                authorizationServer: AuthorizationServerReference? = nil, shared: Bool = false, builtIn: Bool = false) {
        self.name = name
        self.resource = resource
        self.displayName = displayName
        self.enabled = enabled
        self.tools = tools
        self.authorizationServer = authorizationServer
        self.shared = shared
        self.builtIn = builtIn
    }

    /// The catalog name of Bridgekeeper's management API, reserved.
    public static let managementName = "bridgekeeper"

    /// Bridgekeeper's own management API as a catalog server: resource `{issuer}/admin`, one tool
    /// per power. Policy decides who holds which, like any server's tools; a person gets a token
    /// for it by the same token exchange as for an MCP server.
    /// - `agents.read` (read): list and show one's own agents (every agent with `agents.admin`);
    /// - `agents.manage` (write): register, disable and re-key one's own agents, within the limits
    ///   of `agents.self_service`;
    /// - `agents.admin` (admin): all of it for any owner's agents, and enabling a disabled agent;
    /// - `users.admin` (admin): offboard people, revoke their sessions, read receipts;
    /// - `admin.all_tenants` (admin, granted only by name): the two admin tools reach people and
    ///   agents of every IdP and tenant; without it an administrator reaches only their own IdP and
    ///   tenant.
    public static func management(issuer: String) throws -> MCPServer {
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        return MCPServer(name: managementName, resource: try ResourceURI(base + "/admin"), displayName: "Bridgekeeper management API",
                         tools: [Tool(name: ManagementTool.read, category: .read), Tool(name: ManagementTool.manage, category: .write),
                                 Tool(name: ManagementTool.admin, category: .admin), Tool(name: ManagementTool.users, category: .admin),
                                 Tool(name: ManagementTool.allTenants, category: .admin, byNameOnly: true)],
                         builtIn: true)
    }
}

/// The tools of the management API (`MCPServer.management`).
public enum ManagementTool {
    public static let read = "agents.read"
    public static let manage = "agents.manage"
    public static let admin = "agents.admin"
    /// Offboard people, revoke their sessions, read revocation receipts (issue 6).
    public static let users = "users.admin"
    /// Administration beyond the administrator's own IdP and tenant (issue 18): granted only by a
    /// rule that names it.
    public static let allTenants = "admin.all_tenants"
}

/// A third-party authorization server, as a catalog server names it.
public struct AuthorizationServerReference: Sendable, Hashable {
    /// Its name in `authorization_servers`.
    public let name: String
    /// Its issuer identifier (what the server's protected resource metadata lists).
    public let issuer: String

    public init(name: String, issuer: String) {
        self.name = name
        self.issuer = issuer
    }
}

/// The MCP servers the organisation offers.
public struct Catalog: Sendable {
    public let servers: [MCPServer]

    public init(servers: [MCPServer]) { self.servers = servers }

    /// The server whose canonical resource indicator is `resource`.
    public func server(for resource: ResourceURI) -> MCPServer? {
        servers.first { $0.resource == resource }
    }

    public func server(named name: String) -> MCPServer? {
        servers.first { $0.name.utf8.elementsEqual(name.utf8) }
    }
}
