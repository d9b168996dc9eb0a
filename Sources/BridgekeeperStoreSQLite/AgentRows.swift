public import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
public import BridgekeeperStore
public import Foundation
internal import SQLiteNIO

/// The agent registry on SQLite: reads on the reader, each change with its audit record in one
/// writer transaction (`audited`).
extension SQLiteStore {
    public func agent(id: String) async throws -> AgentRecord? {
        try await read("SELECT * FROM agents WHERE id = ?", [.text(id)]).first.map(Self.agentRecord)
    }

    public func agents(ownedBy owner: SubjectKey?) async throws -> [AgentRecord] {
        let rows: [SQLiteRow]
        if let owner {
            rows = try await read("SELECT * FROM agents WHERE owner_issuer = ? AND owner_subject = ? AND coalesce(owner_tenant, '') = ? ORDER BY id",
                                  [.text(owner.issuer), .text(owner.subject), .text(owner.tenant ?? "")])
        } else {
            rows = try await read("SELECT * FROM agents ORDER BY id")
        }
        return try rows.map(Self.agentRecord)
    }

    public func addAgent(_ agent: AgentRecord, audit: AuditEvent) async throws -> Bool {
        let binds = Self.agentBinds(agent)
        return try await audited { db in
            let rows = try await db.query("""
                INSERT INTO agents (id, display_name, owner_issuer, owner_tenant, owner_subject, credential_kind, credential, grant_json, mode,
                                    status, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id
                """, binds)
            return rows.isEmpty ? (false, nil) : (true, audit)
        }
    }

    public func setAgentStatus(id: String, _ status: AgentRecord.Status, at time: Date, audit: AuditEvent,
                               revocation: @escaping @Sendable (IssuedToken) -> AuditEvent) async throws -> [IssuedToken]? {
        let seconds = Int(time.timeIntervalSince1970)
        let binds: [SQLiteData] = [.text(status.rawValue), .integer(seconds), .text(id)]
        return try await auditedMany { db in
            let rows = try await db.query("UPDATE agents SET status = ?, updated_at = ? WHERE id = ? RETURNING id", binds)
            guard !rows.isEmpty else { return (nil, []) }
            guard status == .disabled else { return ([], [audit]) }
            let revoked = try await db.query("""
                UPDATE issued_tokens SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL AND expires_at > ? RETURNING *
                """, [.integer(seconds), .text(id), .integer(seconds)])
            let tokens = try revoked.map { try Self.tokenState($0).token }.sorted { Array($0.jti.utf8).lexicographicallyPrecedes(Array($1.jti.utf8)) }
            return (tokens, [audit] + tokens.map(revocation))
        }
    }

    public func setAgentCredential(id: String, _ credential: AgentRecord.Credential, at time: Date, audit: AuditEvent) async throws -> Bool {
        let (kind, value) = Self.credentialColumns(credential)
        let binds: [SQLiteData] = [.text(kind), .text(value), .integer(Int(time.timeIntervalSince1970)), .text(id)]
        return try await audited { db in
            let rows = try await db.query("UPDATE agents SET credential_kind = ?, credential = ?, updated_at = ? WHERE id = ? RETURNING id", binds)
            return rows.isEmpty ? (false, nil) : (true, audit)
        }
    }

    static func agentBinds(_ agent: AgentRecord) -> [SQLiteData] {
        let (kind, credential) = credentialColumns(agent.credential)
        return [.text(agent.id), .text(agent.displayName), .text(agent.owner.issuer), agent.owner.tenant.map(SQLiteData.text) ?? .null,
                .text(agent.owner.subject), .text(kind), .text(credential), .text(grantJSON(agent.grant)), .text(agent.mode.rawValue),
                .text(agent.status.rawValue), .integer(Int(agent.createdAt.timeIntervalSince1970)),
                .integer(Int(agent.updatedAt.timeIntervalSince1970))]
    }

    static func credentialColumns(_ credential: AgentRecord.Credential) -> (String, String) {
        switch credential {
        case .jwks(let document): ("jwks", document)
        case .jwksURI(let url): ("jwks_uri", url)
        case .secretHash(let hash): ("secret_hash", hash)
        }
    }

    /// The grant as JSON: `[{"servers": "*" | [names], "categories": [...], "tools": [...]}]`.
    static func grantJSON(_ grant: AgentGrant) -> String {
        JSONValue.array(grant.entries.map { entry in
            let servers: JSONValue
            switch entry.servers {
            case .all: servers = .string("*")
            case .named(let names): servers = .array(names.map(JSONValue.string))
            }
            return .object(JSONObject([
                "servers": servers,
                "categories": .array(entry.categories.map(\.rawValue).sorted().map(JSONValue.string)),
                "tools": .array(entry.tools.map(JSONValue.string)),
            ]))
        }).serialized()
    }

    static func grant(fromJSON text: String) throws -> AgentGrant {
        let corrupt = CorruptRow(table: "agents", column: "grant_json")
        guard let value = try? JSONValue.parse(Array(text.utf8)), let items = value.arrayValue else { throw corrupt }
        var entries: [AgentGrant.Entry] = []
        for item in items {
            guard let object = item.objectValue else { throw corrupt }
            let servers: PolicyRule.Servers
            if object["servers"]?.stringValue == "*" {
                servers = .all
            } else if let names = object["servers"]?.arrayValue?.compactMap(\.stringValue) {
                servers = .named(names)
            } else { throw corrupt }
            var categories: Set<ToolCategory> = []
            for name in object["categories"]?.arrayValue ?? [] {
                guard let category = name.stringValue.flatMap(ToolCategory.init(rawValue:)) else { throw corrupt }
                categories.insert(category)
            }
            let tools = object["tools"]?.arrayValue?.compactMap(\.stringValue) ?? []
            entries.append(AgentGrant.Entry(servers: servers, categories: categories, tools: tools))
        }
        return AgentGrant(entries)
    }

    static func agentRecord(_ row: SQLiteRow) throws -> AgentRecord {
        let table = "agents"
        func text(_ column: String) throws -> String {
            guard let value = row.column(column)?.string else { throw CorruptRow(table: table, column: column) }
            return value
        }
        func integer(_ column: String) throws -> Int {
            guard let value = row.column(column)?.integer else { throw CorruptRow(table: table, column: column) }
            return value
        }
        let tenant: String? = row.column("owner_tenant").flatMap { $0.isNull ? nil : $0.string }
        let credential: AgentRecord.Credential
        switch try text("credential_kind") {
        case "jwks": credential = .jwks(try text("credential"))
        case "jwks_uri": credential = .jwksURI(try text("credential"))
        case "secret_hash": credential = .secretHash(try text("credential"))
        default: throw CorruptRow(table: table, column: "credential_kind")
        }
        guard let mode = AgentMode(rawValue: try text("mode")) else { throw CorruptRow(table: table, column: "mode") }
        guard let status = AgentRecord.Status(rawValue: try text("status")) else { throw CorruptRow(table: table, column: "status") }
        return AgentRecord(id: try text("id"), displayName: try text("display_name"),
                           owner: SubjectKey(issuer: try text("owner_issuer"), tenant: tenant, subject: try text("owner_subject")),
                           credential: credential, grant: try grant(fromJSON: try text("grant_json")), mode: mode, status: status,
                           createdAt: Date(timeIntervalSince1970: Double(try integer("created_at"))),
                           updatedAt: Date(timeIntervalSince1970: Double(try integer("updated_at"))))
    }
}
