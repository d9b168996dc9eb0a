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
    /// Owner updates whose write failed after the person's token was committed, kept for retry.
    let pending = PendingOwnerUpdates()

    public init(directory: any AgentRegistry & OwnerDirectory, delegation: DelegationRules, tokenLifetime: TimeInterval) {
        self.directory = directory
        self.delegation = delegation
        self.tokenLifetime = tokenLifetime
    }

    /// Owner updates not yet written (a store failure after the person's token was committed).
    public var pendingOwnerUpdates: Int { pending.count }

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

        func forget(_ subject: SubjectKey) { entries.withLock { $0[subject] = nil } }
    }

    /// What is still to be written for a person after their token was committed, when the write
    /// failed: their attributes as of a time, and whether their agents' tokens must be narrowed to
    /// what is stored. Never dropped: retried before that owner's rights are next read and at every
    /// later person's issuance, until the store takes it.
    final class PendingOwnerUpdates: Sendable {
        struct Update: Sendable, Equatable {
            /// Attributes to record (nil once recorded, when only the narrowing is left).
            var attributes: SubjectAttributes?
            var asOf: Date
            var narrow: Bool
            /// The store's error on the last attempt (an operator's clue; no credentials).
            var failure: String
        }

        private let entries = Mutex<[SubjectKey: Update]>([:])

        var count: Int { entries.withLock { $0.count } }

        /// Keeps `update` for `subject`; of two attribute records, the newer news stays, and a
        /// narrowing still owed stays owed.
        func keep(_ update: Update, of subject: SubjectKey) {
            entries.withLock { entries in
                guard let old = entries[subject] else {
                    entries[subject] = update
                    return
                }
                var merged = old
                if let attributes = update.attributes, old.attributes == nil || update.asOf >= old.asOf {
                    merged.attributes = attributes
                    merged.asOf = update.asOf
                }
                merged.narrow = update.narrow || old.narrow
                merged.failure = update.failure
                entries[subject] = merged
            }
        }

        /// Removes and returns what is owed for `subject`.
        func take(_ subject: SubjectKey) -> Update? { entries.withLock { $0.removeValue(forKey: subject) } }

        /// Removes and returns up to `limit` owed updates.
        func take(upTo limit: Int) -> [(SubjectKey, Update)] {
            entries.withLock { entries in
                let some = Array(entries.prefix(limit))
                for (subject, _) in some { entries[subject] = nil }
                return some.map { ($0.key, $0.value) }
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
    /// After a person's own issuance: records their groups and roles as their current ones (what
    /// bounds their agents), and when those shrank, revokes their agents' live tokens that now
    /// exceed them. The person's token is already committed, so a store failure here does not
    /// fail the request: the update is kept (`AgentSupport.PendingOwnerUpdates`) and retried at the
    /// next issuance and before an agent next reads this owner's rights, never dropped.
    ///
    /// The token's claims are news as of its `iat` (`issuedAt`; now when it has none): when the
    /// stored attributes changed after that (SCIM, Shared Signals or a hook removed a group since),
    /// they stay, and the old token's claims are not written back.
    func noteOwnerAttributes(_ attributes: SubjectAttributes, of subject: SubjectKey, issuedAt: Date?, now: Date) async {
        guard let agents else { return }
        if agents.pending.count > 0 { await retryOwnerUpdates(now: now) }
        guard !agents.known.isKnown(attributes, of: subject) else { return }
        let update = AgentSupport.PendingOwnerUpdates.Update(attributes: attributes, asOf: issuedAt.map { min($0, now) } ?? now, narrow: false,
                                                              failure: "")
        await apply(update, of: subject, agents: agents, now: now)
    }

    /// Writes what is owed for `owner` before their rights are read (an agent's request).
    func settleOwnerUpdates(of owner: SubjectKey, now: Date) async {
        guard let agents, agents.pending.count > 0, let update = agents.pending.take(owner) else { return }
        await apply(update, of: owner, agents: agents, now: now)
    }

    /// Retries a few owed updates (each failure is kept again).
    func retryOwnerUpdates(now: Date) async {
        guard let agents else { return }
        for (subject, update) in agents.pending.take(upTo: 8) { await apply(update, of: subject, agents: agents, now: now) }
    }

    /// Records `update`'s attributes, then narrows when they shrank (or a narrowing is owed); on a
    /// failure keeps what is left of it, with the error, for a retry.
    private func apply(_ update: AgentSupport.PendingOwnerUpdates.Update, of subject: SubjectKey, agents: AgentSupport, now: Date) async {
        var left = update
        do {
            var narrowTo: SubjectAttributes? = nil
            if let attributes = update.attributes {
                switch try await agents.directory.recordAttributes(attributes, of: subject, asOf: update.asOf, winsTie: false) {
                case .recorded(let previous):
                    agents.known.remember(attributes, of: subject)
                    left.attributes = nil
                    if let previous, previous != attributes {
                        left.narrow = true
                        narrowTo = attributes
                    }
                case .stale:
                    left.attributes = nil
                }
            }
            if left.narrow {
                // A narrowing owed from before is to what is stored now: newer news may have come.
                if narrowTo == nil { narrowTo = try await agents.directory.attributes(of: subject)?.attributes }
                if let narrowTo { try await narrowAgentTokens(of: subject, to: narrowTo, now: now) }
                left.narrow = false
            }
        } catch {
            left.failure = String(describing: error)
            if left.attributes != nil { agents.known.forget(subject) }
            agents.pending.keep(left, of: subject)
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
        let exceeding = AgentRules.exceeding(live, agents: records, owner: attributes, policy: access.policy, catalog: access.catalog,
                                             delegation: agents.delegation)
        let revocations = exceeding.map { token in
            (jti: token.jti, audit: AuditEvent(kind: .revocation, reason: .ownerRightsNarrowed, time: now, issuer: token.subject.issuer,
                                               tenant: token.subject.tenant, subject: token.subject.subject, clientID: token.clientID,
                                               principalClass: PrincipalClass.agent.rawValue, server: token.resource, scopes: token.scope,
                                               tokenID: token.jti, actor: token.agent, owner: owner.subject))
        }
        _ = try await agents.directory.revoke(revocations, at: now)
    }

    /// Mints a robot token and commits it through `Issuance`, unless the owner is disabled (decided
    /// inside the commit): `sub` is the agent acting as itself (`owner` claim), or its owner with
    /// `act` = the agent.
    func issueAgentToken(agent: AgentRecord, subject: SubjectKey, actsForOwner: Bool, server: MCPServer, scope: Scope,
                         client: AuthenticatedClient, lifetime: TimeInterval, now: Date, refusals: Issuance.Refusals,
                         draft: inout AuditDraft) async throws(OAuthError) -> String {
        var claims = issuance.minter.claims(subject: subject, principal: .agent, audience: server.resource.canonical, clientID: client.id,
                                            scope: scope, now: now, lifetime: lifetime)
        if actsForOwner { claims.actor = agent.id } else { claims.owner = agent.owner }
        draft.principal = .agent
        draft.actor = agent.id
        draft.owner = agent.owner.subject
        return try await issuance.issue(.accessToken(claims, agent: agent.id), unlessDisabled: agent.owner, audit: .issued, now: now,
                                        refusals: refusals, draft: &draft)
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
