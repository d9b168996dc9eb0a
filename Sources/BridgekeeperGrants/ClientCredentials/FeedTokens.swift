import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperStore
public import Foundation
import BridgekeeperClientAuth

/// The revocation feed's access tokens: what a client registered with `revocation_feed: true` gets
/// with `client_credentials` (RFC 6749 §4.4) and presents at `/ssf` as `Authorization: Bearer`
/// (RFC 6750), instead of sending its secret with every poll.
///
/// A feed token is an `at+jwt` (RFC 9068) whose `aud` is the feed's resource, `{issuer}/ssf` (which
/// no catalog server may use), whose only scope is `revocation_feed`, whose `sub` and `client_id`
/// are the client, and which lives at most 300 s. It is recorded and audited like every token, so
/// it can be revoked (RFC 7009) and introspected; no MCP server, the management API included,
/// accepts its audience.
public enum FeedAccess {
    /// The one scope a feed token carries.
    public static let scope = "revocation_feed"
    /// Longest lifetime of a feed token, seconds (shorter when `access_token_lifetime` is).
    public static let maxLifetime: TimeInterval = 300

    /// The feed's resource indicator: the `aud` of feed tokens.
    public static func resource(issuer: String) -> String { Metadata.endpoint(issuer, "/ssf") }
}

extension GrantDependencies {
    /// `client_credentials` for a configured feed client: a feed token.
    ///
    /// Order: `resource`, if given, one and the feed's → `scope`, if given, exactly
    /// `revocation_feed` → mint → commit (record and audit together).
    ///
    /// - Throws: `invalid_target` (`resource_not_allowed_for_client`) for any other resource;
    ///   `invalid_scope` (`no_scope_granted`) for any other scope, `malformed_scope` for bad syntax.
    func issueFeedToken(_ request: TokenRequest, for client: AuthenticatedClient,
                        draft: inout AuditDraft) async throws(OAuthError) -> TokenResponse {
        let form = request.form
        let feed = FeedAccess.resource(issuer: issuer)
        let subject = SubjectKey(issuer: issuer, subject: client.id)
        draft.issuer = issuer
        draft.subject = client.id
        draft.principal = .client
        let resources = form.values("resource")
        guard resources.count <= 1, resources.allSatisfy({ $0.isExactly(feed) }) else {
            throw OAuthError(.invalidTarget, "a feed client's token is for the revocation feed (\(feed)) only", reason: .resourceNotAllowedForClient)
        }
        draft.server = feed
        let scope = try Scope(tokens: [FeedAccess.scope])
        if let text = form.value("scope") {
            let requested = try Scope(parsing: text)
            guard requested.tokens == scope.tokens else {
                throw OAuthError(.invalidScope, "a feed client's token carries the scope revocation_feed only", reason: ReasonCode("no_scope_granted"))
            }
        }
        draft.scopes = scope.tokens
        let now = clock.now()
        let lifetime = min(FeedAccess.maxLifetime, issuance.minter.lifetime)
        let claims = issuance.minter.claims(subject: subject, principal: .client, audience: feed, clientID: client.id, scope: scope, now: now,
                                            lifetime: lifetime)
        let token = try await issuance.issue(.accessToken(claims), unlessDisabled: subject, audit: .feedTokenIssued, now: now,
                                             refusals: .init(disabled: OAuthError(.invalidClient, "the client is disabled", reason: .subjectDisabled)),
                                             draft: &draft)
        return TokenResponse(accessToken: token, expiresIn: Int(lifetime), scope: scope.description)
    }
}

extension ReasonCode {
    /// A feed token was issued to a feed client.
    public static let feedTokenIssued = ReasonCode("feed_token_issued")
}
