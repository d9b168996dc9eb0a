import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperPolicy
public import BridgekeeperStore
public import Foundation
import Synchronization
import BridgekeeperClientAuth

/// What robot tokens need beyond a person's (issue 5): the registry, the owners' current rights,
/// the delegation rules and the robot token lifetime.
public struct AgentSupport: Sendable {
    public let directory: any AgentRegistry & OwnerDirectory
    public let delegation: DelegationRules
    /// Seconds; short by default (`agents.token_lifetime`, 120).
    public let tokenLifetime: TimeInterval
    let known = KnownAttributes()

    public init(directory: any AgentRegistry & OwnerDirectory, delegation: DelegationRules, tokenLifetime: TimeInterval) {
        self.directory = directory
        self.delegation = delegation
        self.tokenLifetime = tokenLifetime
    }

    /// The attributes this process last wrote per person, so an unchanged sign-in costs no write.
    final class KnownAttributes: Sendable {
        private let entries = Mutex<[SubjectKey: SubjectAttributes]>([:])

        func isKnown(_ attributes: SubjectAttributes, of subject: SubjectKey) -> Bool {
            entries.withLock { $0[subject] == attributes }
        }

        func remember(_ attributes: SubjectAttributes, of subject: SubjectKey) {
            entries.withLock { entries in
                if entries.count > 100_000 { entries.removeAll() }
                entries[subject] = attributes
            }
        }
    }
}

/// The pure half of the agent rules: what an agent may get, and which live tokens exceed it.
public enum AgentRules {
    /// The scope an agent gets on `server`: the organisation's enabled tools that policy grants the
    /// owner as of now ∩ the agent's grant − what is never delegated, ∩ the request.
    /// - Throws: `denial` (the grant's code for a refusal) with the policy's reason; `invalid_scope`
    ///   when nothing of the request is left.
    public static func scope(for agent: AgentRecord, owner: SubjectAttributes, server: MCPServer, requested: Scope?, policy: Policy,
                             delegation: DelegationRules, denial: OAuthError.Code) throws(OAuthError) -> Scope {
        switch policy.decide(forAgent: agent.grant, mode: agent.mode, owner: owner, delegation: delegation, on: server) {
        case .deny(let reason, let rules):
            let which = rules.isEmpty ? "" : " by \(rules.joined(separator: ", "))"
            throw OAuthError(denial, "agent \(agent.id) may not use \(server.name) (\(reason.rawValue)\(which))", reason: reason)
        case .allow(let tools, _):
            do throws(OAuthError) {
                return try ScopeGrant.grant(requested: requested, assertion: nil, policyTools: tools)
            } catch {
                // Nothing of the request is left: say which rule withheld it, when one did.
                guard let requested, let withheld = withheld(requested, agent: agent, owner: owner, server: server, policy: policy,
                                                             delegation: delegation) else { throw error }
                throw withheld
            }
        }
    }

    /// Why the requested tools that the owner holds were withheld from the agent: never delegated
    /// (destructive, admin), or not in the agent's grant. Nil when the owner does not hold them.
    static func withheld(_ requested: Scope, agent: AgentRecord, owner: SubjectAttributes, server: MCPServer, policy: Policy,
                         delegation: DelegationRules) -> OAuthError? {
        guard case .allow(let ownerTools, _) = policy.decide(for: owner, on: server) else { return nil }
        let asked = ownerTools.filter { requested.contains($0.scope) }
        if let tool = asked.first(where: { !delegation.delegable($0, on: server) }) {
            return OAuthError(.invalidScope, "\(tool.name) is \(tool.category.rawValue): never delegated to an agent, whatever its owner may do",
                              reason: .nonDelegable)
        }
        if let tool = asked.first {
            return OAuthError(.invalidScope, "\(tool.name) is not in agent \(agent.id)'s grant", reason: .notInAgentGrant)
        }
        return nil
    }

    /// The live agent tokens that carry more than their agent may now have with its owner's
    /// `attributes` (or whose agent or server is gone).
    public static func exceeding(_ tokens: [IssuedToken], agents: [String: AgentRecord], owner: SubjectAttributes, policy: Policy,
                                 catalog: Catalog, delegation: DelegationRules) -> [IssuedToken] {
        tokens.filter { token in
            guard let id = token.agent, let agent = agents[id], let resource = try? ResourceURI(token.resource),
                  let server = catalog.server(for: resource) else { return true }
            guard case .allow(let tools, _) = policy.decide(forAgent: agent.grant, mode: agent.mode, owner: owner, delegation: delegation,
                                                             on: server) else { return true }
            let allowed = Set(tools.map(\.scope))
            return !token.scope.allSatisfy(allowed.contains)
        }
    }
}

extension GrantDependencies {
    /// The groups and roles a person's validated IdP token carries, from the directory that issued it.
    func attributes(_ claims: JWTClaims, _ idp: TrustedIdP, of subject: SubjectKey) -> SubjectAttributes {
        SubjectAttributes(origin: SubjectOrigin(subject), groups: Self.strings(claims, idp.groupsClaim), roles: Self.strings(claims, idp.rolesClaim))
    }

    /// After a person's own issuance: records their groups and roles as their current ones (what
    /// bounds their agents), and when those shrank, revokes their agents' live tokens that now
    /// exceed them. Best effort: the person's token is already issued; a failure here leaves the
    /// previous attributes, which the next issuance retries.
    ///
    /// The token's claims are news as of its `iat` (`issuedAt`; now when it has none): when the
    /// stored attributes changed after that (SCIM, Shared Signals or a hook removed a group since),
    /// they stay, and the old token's claims are not written back.
    func noteOwnerAttributes(_ attributes: SubjectAttributes, of subject: SubjectKey, issuedAt: Date?, now: Date) async {
        guard let agents, !agents.known.isKnown(attributes, of: subject) else { return }
        let asOf = issuedAt.map { min($0, now) } ?? now
        do {
            switch try await agents.directory.recordAttributes(attributes, of: subject, asOf: asOf, winsTie: false) {
            case .recorded(let previous):
                agents.known.remember(attributes, of: subject)
                if let previous, previous != attributes { try await narrowAgentTokens(of: subject, to: attributes, now: now) }
            case .stale:
                return
            }
        } catch {
            return
        }
    }

    /// Revokes each live token of `owner`'s agents that exceeds what `attributes` allow, each with
    /// its audit record (reason `owner_rights_narrowed`).
    func narrowAgentTokens(of owner: SubjectKey, to attributes: SubjectAttributes, now: Date) async throws {
        guard let agents else { return }
        let live = try await agents.directory.liveAgentTokens(ownedBy: owner, now: now)
        guard !live.isEmpty else { return }
        var records: [String: AgentRecord] = [:]
        for agent in try await agents.directory.agents(ownedBy: owner) { records[agent.id] = agent }
        let exceeding = AgentRules.exceeding(live, agents: records, owner: attributes, policy: policy, catalog: catalog,
                                             delegation: agents.delegation)
        let revocations = exceeding.map { token in
            (jti: token.jti, audit: AuditEvent(kind: .revocation, reason: .ownerRightsNarrowed, time: now, issuer: token.subject.issuer,
                                               tenant: token.subject.tenant, subject: token.subject.subject, clientID: token.clientID,
                                               principalClass: PrincipalClass.agent.rawValue, server: token.resource, scopes: token.scope,
                                               tokenID: token.jti, actor: token.agent, owner: owner.subject))
        }
        _ = try await agents.directory.revoke(revocations, at: now)
    }

    /// Mints a robot token and commits it with `marks` and its audit record, unless a mark is
    /// present or the owner is disabled (decided inside the commit).
    func mintAgentToken(agent: AgentRecord, subject: SubjectKey, actsForOwner: Bool, server: MCPServer, scope: Scope,
                        client: AuthenticatedClient, marks: [ReplayMark], assertionID: String?, lifetime: TimeInterval, now: Date,
                        draft: inout AuditDraft) async throws(OAuthError) -> (token: String, outcome: CommitOutcome) {
        var minted = minter.claims(subject: subject, principal: .agent, audience: server.resource.canonical, clientID: client.id,
                                   scope: scope, now: now, lifetime: lifetime)
        if actsForOwner { minted.actor = agent.id } else { minted.owner = agent.owner }
        draft.tokenID = minted.jti
        draft.principal = .agent
        draft.actor = agent.id
        draft.owner = agent.owner.subject
        let token: String
        do { token = try minter.sign(minted) } catch {
            throw OAuthError(.invalidRequest, "temporarily unavailable", reason: .signingUnavailable)
        }
        let record = IssuedToken(jti: minted.jti, subject: subject, principal: .agent, clientID: client.id, resource: server.resource.canonical,
                                 scope: scope.tokens, issuedAt: minted.issuedAt, expiresAt: minted.expiresAt, assertionID: assertionID,
                                 agent: agent.id)
        let outcome: CommitOutcome
        do {
            outcome = try await store.commit(marks: marks, token: record, audit: draft.event(.issuance, reason: .issued, time: now),
                                             unlessDisabled: agent.owner)
        } catch { throw Self.storeFailure }
        if case .committed = outcome {} else { draft.tokenID = nil }
        return (token, outcome)
    }
}

extension ReasonCode {
    /// An agent token was revoked because its owner's rights shrank below it.
    public static let ownerRightsNarrowed = ReasonCode("owner_rights_narrowed")
    /// The agent's owner is disabled (offboarded): the agent gets nothing.
    public static let ownerDisabled = ReasonCode("owner_disabled")
    /// Nothing is known of the owner's rights yet (they never signed in, and no directory said).
    public static let ownerRightsUnknown = ReasonCode("owner_rights_unknown")
    /// The agent is registered for the other mode (as itself vs on its owner's behalf).
    public static let agentModeMismatch = ReasonCode("agent_mode_mismatch")
    /// The subject token's person is not the agent's owner: a delegation they never registered.
    public static let notOwnersAgent = ReasonCode("not_owners_agent")
}
