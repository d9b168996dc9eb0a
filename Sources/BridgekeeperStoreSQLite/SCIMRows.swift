public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation
internal import SQLiteNIO

/// SCIM resources on SQLite (issue 6): each write with the signals it raises, in one transaction.
extension SQLiteStore {
    public func scimResource(_ kind: SCIMResource.Kind, connection: String, id: String) async throws -> SCIMResource? {
        try await read("SELECT * FROM scim_resources WHERE kind = ? AND connection = ? AND id = ?", [.text(kind.rawValue), .text(connection), .text(id)])
            .first.map { try Self.scimResource($0) }
    }

    public func scimResources(_ kind: SCIMResource.Kind, connection: String, where selector: SCIMSelector, startIndex: Int,
                              count: Int) async throws -> (total: Int, resources: [SCIMResource]) {
        var condition = "kind = ? AND connection = ?"
        var binds: [SQLiteData] = [.text(kind.rawValue), .text(connection)]
        switch selector {
        case .all: break
        case .name(let name): condition += " AND name_lower = ?"; binds.append(.text(name.lowercased()))
        case .externalID(let id): condition += " AND external_id = ?"; binds.append(.text(id))
        case .id(let id): condition += " AND id = ?"; binds.append(.text(id))
        }
        let total = try await read("SELECT count(*) AS n FROM scim_resources WHERE \(condition)", binds).first?.column("n")?.integer ?? 0
        let rows = try await read("SELECT * FROM scim_resources WHERE \(condition) ORDER BY created, id LIMIT ? OFFSET ?",
                                  binds + [.integer(max(count, 0)), .integer(max(startIndex - 1, 0))])
        return (total, try rows.map { try Self.scimResource($0) })
    }

    public func scimGroups(containing userID: String, connection: String) async throws -> [SCIMResource] {
        try await read("""
            SELECT r.* FROM scim_members m JOIN scim_resources r ON r.kind = 'Group' AND r.connection = m.connection AND r.id = m.group_id
            WHERE m.connection = ? AND m.user_id = ? ORDER BY r.created, r.id
            """, [.text(connection), .text(userID)]).map { try Self.scimResource($0) }
    }

    public func writeSCIM(_ resource: SCIMResource, create: Bool, signals: [InboundSignal]) async throws -> SCIMWriteOutcome {
        try await auditedMany { db in
            let taken = try await db.query("SELECT id FROM scim_resources WHERE kind = ? AND connection = ? AND name_lower = ? AND id != ?",
                                           [.text(resource.kind.rawValue), .text(resource.connection), .text(resource.name.lowercased()), .text(resource.id)])
            if !taken.isEmpty { return (SCIMWriteOutcome.nameTaken, []) }
            let binds: [SQLiteData] = [
                .text(resource.kind.rawValue), .text(resource.connection), .text(resource.id), .text(resource.name), .text(resource.name.lowercased()),
                resource.externalID.map(SQLiteData.text) ?? .null, .integer(resource.active ? 1 : 0), resource.email.map(SQLiteData.text) ?? .null,
                resource.subject.map { .text($0.issuer) } ?? .null, resource.subject?.tenant.map(SQLiteData.text) ?? .null,
                resource.subject.map { .text($0.subject) } ?? .null,
                .text(JSONValue.array(resource.members.map(JSONValue.string)).serialized()), .text(resource.attributes),
                .integer(Int(resource.created.timeIntervalSince1970)), .integer(Int(resource.lastModified.timeIntervalSince1970)),
                .integer(resource.version),
            ]
            if create {
                _ = try await db.query("""
                    INSERT INTO scim_resources (kind, connection, id, name, name_lower, external_id, active, email, issuer, tenant, subject,
                                                members_json, attributes, created, last_modified, version)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, binds)
            } else {
                let updated = try await db.query("""
                    UPDATE scim_resources SET name = ?, name_lower = ?, external_id = ?, active = ?, email = ?, issuer = ?, tenant = ?,
                                              subject = ?, members_json = ?, attributes = ?, last_modified = ?, version = ?
                    WHERE kind = ? AND connection = ? AND id = ? RETURNING id
                    """, Array(binds[3...12]) + [binds[14], binds[15], binds[0], binds[1], binds[2]])
                if updated.isEmpty { return (SCIMWriteOutcome.notFound, []) }
            }
            if resource.kind == .group {
                _ = try await db.query("DELETE FROM scim_members WHERE connection = ? AND group_id = ?", [.text(resource.connection), .text(resource.id)])
                for member in Set(resource.members) {
                    _ = try await db.query("INSERT INTO scim_members (connection, group_id, user_id) VALUES (?, ?, ?)",
                                           [.text(resource.connection), .text(resource.id), .text(member)])
                }
            }
            for signal in signals { try await Self.insert(signal, db) }
            return (SCIMWriteOutcome.written, signals.map(\.receivedEvent))
        }
    }

    public func deleteSCIM(_ kind: SCIMResource.Kind, connection: String, id: String, signals: [InboundSignal]) async throws -> SCIMWriteOutcome {
        try await auditedMany { db in
            let deleted = try await db.query("DELETE FROM scim_resources WHERE kind = ? AND connection = ? AND id = ? RETURNING id",
                                             [.text(kind.rawValue), .text(connection), .text(id)])
            if deleted.isEmpty { return (SCIMWriteOutcome.notFound, []) }
            let column = kind == .group ? "group_id" : "user_id"
            _ = try await db.query("DELETE FROM scim_members WHERE connection = ? AND \(column) = ?", [.text(connection), .text(id)])
            if kind == .user {
                // The deleted user leaves every group's member list too.
                let groups = try await db.query("SELECT id, members_json FROM scim_resources WHERE kind = 'Group' AND connection = ?", [.text(connection)])
                for group in groups {
                    guard let gid = group.column("id")?.string, let text = group.column("members_json")?.string,
                          case .array(let values) = try JSONValue.parse(text) else { continue }
                    let members = values.compactMap(\.stringValue)
                    guard members.contains(id) else { continue }
                    _ = try await db.query("UPDATE scim_resources SET members_json = ? WHERE kind = 'Group' AND connection = ? AND id = ?",
                                           [.text(JSONValue.array(members.filter { $0 != id }.map(JSONValue.string)).serialized()), .text(connection), .text(gid)])
                }
            }
            for signal in signals { try await Self.insert(signal, db) }
            return (SCIMWriteOutcome.written, signals.map(\.receivedEvent))
        }
    }

    public func subjects(withEmail email: String) async throws -> [SubjectKey] {
        try await read("SELECT DISTINCT issuer, tenant, subject FROM scim_resources WHERE email = ? AND kind = 'User' AND subject IS NOT NULL",
                       [.text(email.lowercased())]).compactMap { row in
            guard let issuer = row.column("issuer")?.string, let subject = row.column("subject")?.string else { return nil }
            let tenant = row.column("tenant").flatMap { $0.isNull ? nil : $0.string }
            return SubjectKey(issuer: issuer, tenant: tenant, subject: subject)
        }
    }

    static func scimResource(_ row: SQLiteRow) throws -> SCIMResource {
        func text(_ column: String) throws -> String {
            guard let value = row.column(column)?.string else { throw CorruptRow(table: "scim_resources", column: column) }
            return value
        }
        func optional(_ column: String) -> String? { row.column(column).flatMap { $0.isNull ? nil : $0.string } }
        func integer(_ column: String) throws -> Int {
            guard let value = row.column(column)?.integer else { throw CorruptRow(table: "scim_resources", column: column) }
            return value
        }
        guard let kind = SCIMResource.Kind(rawValue: try text("kind")), case .array(let members) = try JSONValue.parse(try text("members_json")) else {
            throw CorruptRow(table: "scim_resources", column: "kind")
        }
        let subject = optional("subject").flatMap { sub in optional("issuer").map { SubjectKey(issuer: $0, tenant: optional("tenant"), subject: sub) } }
        return SCIMResource(kind: kind, connection: try text("connection"), id: try text("id"), name: try text("name"), externalID: optional("external_id"),
                            active: try integer("active") == 1, email: optional("email"), subject: subject,
                            members: members.compactMap(\.stringValue), attributes: try text("attributes"),
                            created: Date(timeIntervalSince1970: Double(try integer("created"))),
                            lastModified: Date(timeIntervalSince1970: Double(try integer("last_modified"))), version: try integer("version"))
    }
}
