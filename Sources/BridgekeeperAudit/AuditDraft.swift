public import BridgekeeperCore
public import Foundation

/// What is known about a request so far, for its audit record: filled in as validation proceeds,
/// so that a denial records everything learned before it.
public struct AuditDraft: Sendable {
    public var issuer: String?
    public var tenant: String?
    public var subject: String?
    public var clientID: String?
    public var principal: PrincipalClass?
    public var server: String?
    public var scopes: [String] = []
    public var tokenID: String?
    public var assertionID: String?
    public var emailHash: String?
    public var remoteAddress: String?
    /// The agent acting, and its owner's `sub` (issue 5).
    public var actor: String?
    public var owner: String?

    public init(remoteAddress: String? = nil) { self.remoteAddress = remoteAddress }

    public func event(_ kind: AuditEvent.Kind, reason: ReasonCode, time: Date) -> AuditEvent {
        AuditEvent(kind: kind, reason: reason, time: time, issuer: issuer, tenant: tenant, subject: subject, clientID: clientID,
                   principalClass: principal?.rawValue, server: server, scopes: scopes, tokenID: tokenID,
                   assertionID: assertionID, remoteAddress: remoteAddress, emailHash: emailHash,
                   actor: actor, owner: owner)
    }
}
