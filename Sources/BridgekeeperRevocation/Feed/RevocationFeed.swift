public import BridgekeeperAudit
import BridgekeeperCore
public import BridgekeeperSSF
import BridgekeeperStore
import Foundation

/// The broker's side of the revocation feed's pure core: which audit records are feed events.
///
/// The feed reads the audit log, not a second log: every revocation already has its record there,
/// ordered (the sequence is the feed's cursor) and durable in the revoking transaction, so nothing
/// revoked can be missing from the feed and nothing in the feed was not revoked.
extension RevocationFeed {
    /// The feed event `record` stands for (`AuditRecord.isFeedEvent`), if any.
    public static func event(for record: AuditRecord) -> FeedEvent? {
        guard record.isFeedEvent else { return nil }
        let event = record.event
        switch event.kind {
        case .revocation:
            guard let jti = event.tokenID else { return nil }
            return .tokenRevoked(jti: jti, at: event.time)
        case .administration:
            guard let issuer = event.issuer, let subject = event.subject else { return nil }
            return .subjectRevoked(SubjectKey(issuer: issuer, tenant: event.tenant, subject: subject),
                                   before: SubjectStanding.epoch(after: event.time))
        default:
            return nil
        }
    }
}
