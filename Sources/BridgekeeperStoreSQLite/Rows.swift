import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperStore
import Foundation
internal import SQLiteNIO

/// A row that does not decode: the database was changed outside Bridgekeeper or is damaged.
struct CorruptRow: Error, CustomStringConvertible {
    let table: String
    let column: String
    var description: String { "\(table): column \(column) is missing or has the wrong type" }
}

extension SQLiteStore {
    private static func text(_ row: SQLiteRow, _ column: String, _ table: String) throws -> String {
        guard let value = row.column(column)?.string else { throw CorruptRow(table: table, column: column) }
        return value
    }

    private static func integer(_ row: SQLiteRow, _ column: String, _ table: String) throws -> Int {
        guard let value = row.column(column)?.integer else { throw CorruptRow(table: table, column: column) }
        return value
    }

    private static func optionalText(_ row: SQLiteRow, _ column: String) -> String? {
        guard let data = row.column(column), !data.isNull else { return nil }
        return data.string
    }

    private static func optionalDate(_ row: SQLiteRow, _ column: String) -> Date? {
        guard let data = row.column(column), !data.isNull, let seconds = data.integer else { return nil }
        return Date(timeIntervalSince1970: Double(seconds))
    }

    static func auditRecord(_ row: SQLiteRow) throws -> AuditRecord {
        let table = "audit_log"
        guard let kind = AuditEvent.Kind(rawValue: try text(row, "kind", table)) else { throw CorruptRow(table: table, column: "kind") }
        let scopes = try text(row, "scopes", table)
        var event = AuditEvent(kind: kind, reason: ReasonCode(try text(row, "reason", table)), time: Date(timeIntervalSince1970: 0),
                               issuer: optionalText(row, "issuer"), tenant: optionalText(row, "tenant"), subject: optionalText(row, "subject"),
                               clientID: optionalText(row, "client_id"), principalClass: optionalText(row, "principal"),
                               server: optionalText(row, "server"),
                               scopes: scopes.isEmpty ? [] : scopes.split(separator: " ").map(String.init),
                               tokenID: optionalText(row, "jti"), assertionID: optionalText(row, "assertion_jti"),
                               remoteAddress: optionalText(row, "remote"), emailHash: optionalText(row, "email_hash"),
                               actor: optionalText(row, "actor"), owner: optionalText(row, "owner"),
                               performedBy: optionalText(row, "performed_by"))
        event.timeMilliseconds = Int64(try integer(row, "time_ms", table))
        if let count = row.column("count"), !count.isNull, let value = count.integer { event.count = Int64(value) }
        event.route = optionalText(row, "route")
        return AuditRecord(sequence: Int64(try integer(row, "seq", table)), event: event,
                           previousHash: try text(row, "prev_hash", table), hash: try text(row, "hash", table))
    }

    static func tokenState(_ row: SQLiteRow) throws -> TokenState {
        let table = "issued_tokens"
        guard let principal = PrincipalClass(rawValue: try text(row, "principal", table)) else {
            throw CorruptRow(table: table, column: "principal")
        }
        let scope = try text(row, "scope", table)
        guard let kind = IssuedToken.Kind(rawValue: try text(row, "kind", table)) else { throw CorruptRow(table: table, column: "kind") }
        let token = IssuedToken(
            jti: try text(row, "jti", table), kind: kind,
            subject: SubjectKey(issuer: try text(row, "issuer", table), tenant: optionalText(row, "tenant"), subject: try text(row, "subject", table)),
            principal: principal, clientID: try text(row, "client_id", table), resource: try text(row, "resource", table),
            scope: scope.isEmpty ? [] : scope.split(separator: " ").map(String.init),
            issuedAt: Date(timeIntervalSince1970: Double(try integer(row, "issued_at", table))),
            expiresAt: Date(timeIntervalSince1970: Double(try integer(row, "expires_at", table))),
            assertionID: optionalText(row, "assertion_jti"), agent: optionalText(row, "agent_id"))
        return TokenState(token: token, revokedAt: optionalDate(row, "revoked_at"))
    }

    static func signingKey(_ row: SQLiteRow) throws -> StoredSigningKey {
        let table = "signing_keys"
        guard let data = row.column("sealed_private_key"), case .blob(let buffer) = data else {
            throw CorruptRow(table: table, column: "sealed_private_key")
        }
        guard let purpose = StoredSigningKey.Purpose(rawValue: try text(row, "purpose", table)) else {
            throw CorruptRow(table: table, column: "purpose")
        }
        return StoredSigningKey(
            keyID: try text(row, "kid", table), purpose: purpose, algorithm: try text(row, "alg", table),
            sealedPrivateKey: Array(buffer.readableBytesView), publicJWK: try text(row, "public_jwk", table),
            createdAt: Date(timeIntervalSince1970: Double(try integer(row, "created_at", table))),
            activatesAt: Date(timeIntervalSince1970: Double(try integer(row, "activates_at", table))),
            retiresAt: optionalDate(row, "retires_at"), unpublishAt: optionalDate(row, "unpublish_at"))
    }
}
