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

    /// - Parameter scope: defaults to `tool:<name>`.
    public init(name: String, category: ToolCategory, enabled: Bool = true, scope: String? = nil) {
        self.name = name
        self.category = category
        self.enabled = enabled
        self.scope = scope ?? "tool:\(name)"
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

    public init(name: String, resource: ResourceURI, displayName: String, enabled: Bool = true, tools: [Tool],
                authorizationServer: AuthorizationServerReference? = nil, shared: Bool = false) {
        self.name = name
        self.resource = resource
        self.displayName = displayName
        self.enabled = enabled
        self.tools = tools
        self.authorizationServer = authorizationServer
        self.shared = shared
    }
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
