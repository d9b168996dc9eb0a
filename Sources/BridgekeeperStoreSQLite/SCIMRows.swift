public import BridgekeeperCore
public import BridgekeeperStore
import Foundation
internal import SQLiteNIO

/// SCIM resources on SQLite (issue 6): each write with the signals it raises, in one transaction.
///
/// A group's members are rows of `scim_members` (schema 9), never one document: a write inserts and
/// deletes only the members that changed from the resource it replaces (`memberChanges`), 500 rows
/// a statement, without reading the group's rows; reads ask for the members of every
/// group on a page in one query, and look-ups by many ids go 5,000 ids a query.
extension SQLiteStore {
    /// Most ids bound in one `IN (…)` look-up.
    static let idsPerQuery = 5_000
    /// Most member rows inserted or deleted by one statement.
    static let membersPerStatement = 500

    public func scimResource(_ kind: SCIMResource.Kind, connection: String, id: String) async throws -> SCIMResource? {
        guard let row = try await read("SELECT * FROM scim_resources WHERE kind = ? AND connection = ? AND id = ?",
                                       [.text(kind.rawValue), .text(connection), .text(id)]).first else { return nil }
        let members = kind == .group ? try await groupMembers(connection: connection, groups: [id])[id] ?? [] : []
        return try Self.scimResource(row, members: members)
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
        var members: [String: [String]] = [:]
        if kind == .group { members = try await groupMembers(connection: connection, groups: rows.compactMap { $0.column("id")?.string }) }
        return (total, try rows.map { row in try Self.scimResource(row, members: row.column("id")?.string.flatMap { members[$0] } ?? []) })
    }

    public func scimGroups(containing userID: String, connection: String) async throws -> [SCIMSummary] {
        try await read("""
            SELECT r.kind, r.id, r.name, r.external_id, r.issuer, r.tenant, r.subject FROM scim_members m
            JOIN scim_resources r ON r.kind = 'Group' AND r.connection = m.connection AND r.id = m.group_id
            WHERE m.connection = ? AND m.user_id = ? ORDER BY r.created, r.id
            """, [.text(connection), .text(userID)]).map { try Self.scimSummary($0) }
    }

    public func scimSummaries(_ kind: SCIMResource.Kind, connection: String, ids: [String]) async throws -> [SCIMSummary] {
        var found: [(created: Int, summary: SCIMSummary)] = []
        for chunk in Self.chunks(ids, Self.idsPerQuery) {
            let rows = try await read("""
                SELECT kind, id, name, external_id, issuer, tenant, subject, created FROM scim_resources
                WHERE kind = ? AND connection = ? AND id IN (\(Self.placeholders(chunk.count)))
                """, [.text(kind.rawValue), .text(connection)] + chunk.map(SQLiteData.text))
            for row in rows { found.append((row.column("created")?.integer ?? 0, try Self.scimSummary(row))) }
        }
        return found.sorted { ($0.created, $0.summary.id) < ($1.created, $1.summary.id) }.map(\.summary)
    }

    public func scimMemberships(of userIDs: [String], connection: String) async throws -> [String: [String]] {
        try await memberPairs(connection: connection, by: .user, ids: userIDs)
    }

    /// The members of each of `groups`, one query per 5,000 groups.
    func groupMembers(connection: String, groups: [String]) async throws -> [String: [String]] {
        try await memberPairs(connection: connection, by: .group, ids: groups)
    }

    /// The `scim_members` rows whose `side` column is one of `ids`, as each id's partners (the
    /// other column) in ascending byte order: one query per 5,000 ids. A row missing either id is
    /// a `CorruptRow`, never skipped.
    func memberPairs(connection: String, by side: SCIMResource.Kind, ids: [String]) async throws -> [String: [String]] {
        let (key, partner) = side == .group ? ("group_id", "user_id") : ("user_id", "group_id")
        var result: [String: [String]] = [:]
        for chunk in Self.chunks(ids, Self.idsPerQuery) {
            let rows = try await read("""
                SELECT \(key), \(partner) FROM scim_members WHERE connection = ? AND \(key) IN (\(Self.placeholders(chunk.count)))
                ORDER BY \(key), \(partner)
                """, [.text(connection)] + chunk.map(SQLiteData.text))
            for row in rows {
                guard let id = row.column(key)?.string else { throw CorruptRow(table: "scim_members", column: key) }
                guard let other = row.column(partner)?.string else { throw CorruptRow(table: "scim_members", column: partner) }
                result[id, default: []].append(other)
            }
        }
        return result
    }

    public func writeSCIM(_ resource: SCIMResource, replacing previous: SCIMResource?, signals: [InboundSignal]) async throws -> SCIMWriteOutcome {
        let create = previous == nil
        return try await auditedMany { db in
            let taken = try await db.query("SELECT id FROM scim_resources WHERE kind = ? AND connection = ? AND name_lower = ? AND id != ?",
                                           [.text(resource.kind.rawValue), .text(resource.connection), .text(resource.name.lowercased()), .text(resource.id)])
            if !taken.isEmpty { return (SCIMWriteOutcome.nameTaken, []) }
            let binds: [SQLiteData] = [
                .text(resource.kind.rawValue), .text(resource.connection), .text(resource.id), .text(resource.name), .text(resource.name.lowercased()),
                resource.externalID.map(SQLiteData.text) ?? .null, .integer(resource.active ? 1 : 0), resource.email.map(SQLiteData.text) ?? .null,
                resource.subject.map { .text($0.issuer) } ?? .null, resource.subject?.tenant.map(SQLiteData.text) ?? .null,
                resource.subject.map { .text($0.subject) } ?? .null, .text(resource.attributes),
                .integer(Int(resource.created.timeIntervalSince1970)), .integer(Int(resource.lastModified.timeIntervalSince1970)),
                .integer(resource.version),
            ]
            if create {
                _ = try await db.query("""
                    INSERT INTO scim_resources (kind, connection, id, name, name_lower, external_id, active, email, issuer, tenant, subject,
                                                attributes, created, last_modified, version)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, binds)
            } else {
                // Only the version that was read is replaced: the member rows are moved by the
                // difference from `previous`, which must therefore still be what is stored.
                let updated = try await db.query("""
                    UPDATE scim_resources SET name = ?, name_lower = ?, external_id = ?, active = ?, email = ?, issuer = ?, tenant = ?,
                                              subject = ?, attributes = ?, last_modified = ?, version = ?
                    WHERE kind = ? AND connection = ? AND id = ? AND version = ? RETURNING id
                    """, Array(binds[3...11]) + [binds[13], binds[14], binds[0], binds[1], binds[2], .integer(previous?.version ?? 0)])
                if updated.isEmpty {
                    let exists = try await db.query("SELECT 1 FROM scim_resources WHERE kind = ? AND connection = ? AND id = ?",
                                                    [binds[0], binds[1], binds[2]])
                    return (exists.isEmpty ? SCIMWriteOutcome.notFound : .changedSince, [])
                }
            }
            if resource.kind == .group { try await Self.writeMembers(of: resource, previous: previous?.members ?? [], db) }
            for signal in signals { try await Self.insert(signal, db) }
            return (SCIMWriteOutcome.written, signals.map(\.receivedEvent))
        }
    }

    /// Moves the group's member rows from `previous` to `resource.members`: deletes exactly the
    /// removed, inserts the added (OR IGNORE: a row already there is the member wanted).
    static func writeMembers(of resource: SCIMResource, previous: [String], _ db: SQLiteConnection) async throws {
        let key: [SQLiteData] = [.text(resource.connection), .text(resource.id)]
        let (added, removed) = SCIMResource.memberChanges(from: previous, to: resource.members)
        for chunk in chunks(removed, membersPerStatement) {
            _ = try await db.query("DELETE FROM scim_members WHERE connection = ? AND group_id = ? AND user_id IN (\(placeholders(chunk.count)))",
                                   key + chunk.map(SQLiteData.text))
        }
        for chunk in chunks(added, membersPerStatement) {
            let rows = Array(repeating: "(?, ?, ?)", count: chunk.count).joined(separator: ", ")
            _ = try await db.query("INSERT OR IGNORE INTO scim_members (connection, group_id, user_id) VALUES \(rows)",
                                   chunk.flatMap { key + [.text($0)] })
        }
    }

    public func deleteSCIM(_ kind: SCIMResource.Kind, connection: String, id: String, signals: [InboundSignal]) async throws -> SCIMWriteOutcome {
        return try await auditedMany { db in
            let deleted = try await db.query("DELETE FROM scim_resources WHERE kind = ? AND connection = ? AND id = ? RETURNING id",
                                             [.text(kind.rawValue), .text(connection), .text(id)])
            if deleted.isEmpty { return (SCIMWriteOutcome.notFound, []) }
            // A deleted group's member rows go with it; a deleted user leaves every group.
            let column = kind == .group ? "group_id" : "user_id"
            _ = try await db.query("DELETE FROM scim_members WHERE connection = ? AND \(column) = ?", [.text(connection), .text(id)])
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

    static func chunks(_ items: [String], _ size: Int) -> [ArraySlice<String>] {
        stride(from: 0, to: items.count, by: size).map { items[$0..<min($0 + size, items.count)] }
    }

    static func placeholders(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ", ") }

    static func scimSummary(_ row: SQLiteRow) throws -> SCIMSummary {
        func text(_ column: String) throws -> String {
            guard let value = row.column(column)?.string else { throw CorruptRow(table: "scim_resources", column: column) }
            return value
        }
        func optional(_ column: String) -> String? { row.column(column).flatMap { $0.isNull ? nil : $0.string } }
        guard let kind = SCIMResource.Kind(rawValue: try text("kind")) else { throw CorruptRow(table: "scim_resources", column: "kind") }
        let subject = optional("subject").flatMap { sub in optional("issuer").map { SubjectKey(issuer: $0, tenant: optional("tenant"), subject: sub) } }
        return SCIMSummary(kind: kind, id: try text("id"), name: try text("name"), externalID: optional("external_id"), subject: subject)
    }

    /// A whole row: its summary (`scimSummary`) and the rest of the columns.
    static func scimResource(_ row: SQLiteRow, members: [String]) throws -> SCIMResource {
        let summary = try scimSummary(row)
        func text(_ column: String) throws -> String {
            guard let value = row.column(column)?.string else { throw CorruptRow(table: "scim_resources", column: column) }
            return value
        }
        func integer(_ column: String) throws -> Int {
            guard let value = row.column(column)?.integer else { throw CorruptRow(table: "scim_resources", column: column) }
            return value
        }
        return SCIMResource(kind: summary.kind, connection: try text("connection"), id: summary.id, name: summary.name, externalID: summary.externalID,
                            active: try integer("active") == 1, email: row.column("email").flatMap { $0.isNull ? nil : $0.string },
                            subject: summary.subject, members: members, attributes: try text("attributes"),
                            created: Date(timeIntervalSince1970: Double(try integer("created"))),
                            lastModified: Date(timeIntervalSince1970: Double(try integer("last_modified"))), version: try integer("version"))
    }
}
