public import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperStore
import Foundation
import BridgekeeperClientAuth

/// `client_credentials` (RFC 6749 §4.4) for an agent acting as itself (issue 5): the agent
/// authenticated with its own credential (`private_key_jwt` by default), and gets a short-lived
/// token whose `sub` is the agent, for one server the catalog marks as shared, bounded by its
/// owner's current rights. Never a person's credentials: configured clients cannot use it, except a
/// feed client (`revocation_feed: true`), which gets a feed token (`FeedAccess`) and nothing else.
///
/// Order: the client is an agent → it is still active → registered to act as itself → `resource`
/// (one, a catalog server, shared) → owner not disabled (also decided in the commit) → owner's
/// current rights known → policy for the agent → scope → mint → commit (record and audit together).
///
/// Errors: a configured client is `unauthorized_client`; a disabled agent `invalid_client`; a
/// resource not acceptable `invalid_target`; a disabled owner or unknown owner rights
/// `invalid_grant`; what policy withholds `invalid_scope`.
public struct ClientCredentialsGrant: Grant {
    public static let grantType = ClientAuthenticator.clientCredentialsGrantType
    public static let parameters: Set<String> = ["resource", "scope"]
    public static let repeatable: Set<String> = ["resource"]

    let deps: GrantDependencies

    public init(_ deps: GrantDependencies) { self.deps = deps }

    public func issue(_ request: TokenRequest, for client: AuthenticatedClient, draft: inout AuditDraft) async throws(OAuthError) -> TokenResponse {
        let form = request.form
        if !client.isAgent, deps.clients.registration(client.id)?.mayReadRevocationFeed == true {
            // A gateway: a token for the revocation feed only.
            return try await deps.issueFeedToken(request, for: client, draft: &draft)
        }
        guard client.isAgent, let agents = deps.agents else {
            throw OAuthError(.unauthorizedClient, "client_credentials is for registered agents acting as themselves", reason: .grantTypeNotAllowed)
        }
        let stored: AgentRecord?
        do { stored = try await agents.directory.agent(id: client.id) } catch { throw ServerFailure.storeUnavailable.error }
        guard let agent = stored, agent.status == .active else {
            throw OAuthError(.invalidClient, "the agent is disabled", reason: .agentDisabled)
        }
        draft.issuer = deps.issuer
        draft.subject = agent.id
        draft.principal = .agent
        draft.actor = agent.id
        draft.owner = agent.owner.subject
        guard agent.mode == .itself else {
            throw OAuthError(.unauthorizedClient, "agent \(agent.id) acts for its owner: it gets tokens by token exchange with an actor_token",
                             reason: .agentModeMismatch)
        }

        let requestedScope = try form.value("scope").map { text throws(OAuthError) in try Scope(parsing: text) }
        let resources = form.values("resource")
        guard resources.count == 1 else {
            throw OAuthError(resources.isEmpty ? .invalidRequest : .invalidTarget, "name exactly one MCP server with resource",
                             reason: resources.isEmpty ? .resourceRequired : .malformedResource)
        }
        let server = try deps.access.catalogServer(try ResourceURI(resources[0]), for: client)
        draft.server = server.resource.canonical
        guard server.shared else {
            throw OAuthError(.invalidTarget, "\(server.name) is not a shared server: an agent acting as itself may use shared servers only",
                             reason: .serverNotShared)
        }

        // The owner: active, and their current rights (as of their last sign-in, or the directory).
        let now = deps.clock.now()
        let known: (attributes: SubjectAttributes, updatedAt: Date)?
        if try await deps.issuance.facts(subject: agent.owner).subjectDisabled { throw Self.ownerDisabled }
        await deps.settleOwnerUpdates(of: agent.owner, now: now)
        do { known = try await agents.directory.attributes(of: agent.owner) } catch { throw ServerFailure.storeUnavailable.error }
        guard let owner = known?.attributes else {
            throw OAuthError(.invalidGrant, "nothing is known yet of the rights of agent \(agent.id)'s owner: they must sign in once",
                             reason: .ownerRightsUnknown)
        }

        let scope = try AgentRules.scope(for: agent, owner: owner, server: server, requested: requestedScope, policy: deps.access.policy,
                                         delegation: agents.delegation, denial: .invalidScope)
        draft.scopes = scope.tokens
        let token = try await deps.issueAgentToken(agent: agent, subject: SubjectKey(issuer: deps.issuer, subject: agent.id),
                                                   actsForOwner: false, server: server, scope: scope, client: client,
                                                   lifetime: agents.tokenLifetime, now: now, refusals: .init(disabled: Self.ownerDisabled),
                                                   draft: &draft)
        return TokenResponse(accessToken: token, expiresIn: Int(agents.tokenLifetime), scope: scope.description)
    }

    static let ownerDisabled = OAuthError(.invalidGrant, "the agent's owner is disabled", reason: .ownerDisabled)
}
