public import BridgekeeperAudit
public import BridgekeeperCore
public import BridgekeeperPolicy
public import Foundation

/// The store in memory: for tests and for reasoning about the contract. Nothing survives the process.
public actor MemoryStore: BridgekeeperStore {
    private var marks: [ReplayMark: Date] = [:]
    private var tokens: [String: TokenState] = [:]
    private var audit: [AuditRecord] = []
    private var disabled: Set<SubjectKey> = []
    private var epochs: [SubjectKey: Date] = [:]
    private var keys: [StoredSigningKey] = []
    private var agentsByID: [String: AgentRecord] = [:]
    private var attributesBySubject: [SubjectKey: (attributes: SubjectAttributes, updatedAt: Date)] = [:]

    public init() {}

    public func commit(marks new: [ReplayMark], token: IssuedToken?, audit event: AuditEvent?, unlessDisabled subject: SubjectKey?) -> CommitOutcome {
        var seen: Set<ReplayMark> = []
        for mark in new where marks[mark] != nil || !seen.insert(mark).inserted {
            return .replayed(mark)
        }
        if let subject, disabled.contains(subject) { return .subjectDisabled }
        for mark in new { marks[mark] = mark.expiresAt }
        if let token { tokens[token.jti] = TokenState(token: token, revokedAt: nil) }
        return .committed(auditSequence: event.map { appendRecord($0).sequence })
    }

    public func contains(_ mark: ReplayMark) -> Bool { marks[mark] != nil }

    public func redemptionFacts(mark: ReplayMark?, subject: SubjectKey) -> RedemptionFacts {
        RedemptionFacts(markPresent: mark.map { marks[$0] != nil } ?? false, subjectDisabled: disabled.contains(subject))
    }

    public func purgeExpiredMarks(now: Date) -> Int {
        let expired = marks.filter { $0.value < now }.map(\.key)
        for mark in expired { marks[mark] = nil }
        return expired.count
    }

    public func append(_ event: AuditEvent) -> AuditRecord { appendRecord(event) }

    private func appendRecord(_ event: AuditEvent) -> AuditRecord {
        let record = AuditChain.append(event, after: audit.last)
        audit.append(record)
        return record
    }

    public func auditRecords(afterSequence: Int64, limit: Int) -> [AuditRecord] {
        Array(audit.lazy.filter { $0.sequence > afterSequence }.prefix(max(limit, 0)))
    }

    public func lastAuditRecord() -> AuditRecord? { audit.last }

    public func tokenState(jti: String) -> TokenState? { tokens[jti] }

    public func revoke(jti: String, at time: Date, audit event: AuditEvent) -> Bool {
        guard let state = tokens[jti], state.revokedAt == nil else { return false }
        tokens[jti] = TokenState(token: state.token, revokedAt: time)
        _ = appendRecord(event)
        return true
    }

    public func isDisabled(_ subject: SubjectKey) -> Bool { disabled.contains(subject) }

    public func standing(of subject: SubjectKey) -> SubjectStanding {
        SubjectStanding(disabled: disabled.contains(subject), revokedBefore: epochs[subject])
    }

    public func liveTokens(ofOwner owner: SubjectKey, now: Date) -> [IssuedToken] {
        liveOwnerTokens(owner, now: now).map(\.token)
    }

    /// The live tokens of `owner` and of every agent they own (active or not), by jti.
    private func liveOwnerTokens(_ owner: SubjectKey, now: Date) -> [TokenState] {
        let ownedIDs = Set(agentsByID.values.filter { $0.owner == owner }.map(\.id))
        return tokens.values.filter { $0.revokedAt == nil && $0.token.expiresAt > now
            && ($0.token.subject == owner || $0.token.agent.map(ownedIDs.contains) == true) }
            .sorted { Array($0.token.jti.utf8).lexicographicallyPrecedes(Array($1.token.jti.utf8)) }
    }

    public func setDisabled(_ subject: SubjectKey, _ isDisabled: Bool, at time: Date) {
        if isDisabled { disabled.insert(subject) } else { disabled.remove(subject) }
    }

    public func signingKeys() -> [StoredSigningKey] { keys }

    public func addSigningKey(_ key: StoredSigningKey, retiring: (keyID: String, retiresAt: Date, unpublishAt: Date)?) {
        if let retiring, let index = keys.firstIndex(where: { $0.keyID.utf8.elementsEqual(retiring.keyID.utf8) }) {
            let old = keys[index]
            keys[index] = StoredSigningKey(keyID: old.keyID, purpose: old.purpose, algorithm: old.algorithm, sealedPrivateKey: old.sealedPrivateKey,
                                           publicJWK: old.publicJWK, createdAt: old.createdAt, activatesAt: old.activatesAt,
                                           retiresAt: retiring.retiresAt, unpublishAt: retiring.unpublishAt)
        }
        keys.append(key)
    }

    public func agent(id: String) -> AgentRecord? { agentsByID[id] }

    public func agents(ownedBy owner: SubjectKey?) -> [AgentRecord] {
        agentsByID.values.filter { owner == nil || $0.owner == owner }.sorted { Array($0.id.utf8).lexicographicallyPrecedes(Array($1.id.utf8)) }
    }

    public func addAgent(_ agent: AgentRecord, audit event: AuditEvent) -> Bool {
        guard agentsByID[agent.id] == nil else { return false }
        agentsByID[agent.id] = agent
        _ = appendRecord(event)
        return true
    }

    public func setAgentStatus(id: String, _ status: AgentRecord.Status, at time: Date, audit event: AuditEvent) -> Bool {
        guard let stored = agentsByID[id] else { return false }
        agentsByID[id] = stored.with(status: status, at: time)
        _ = appendRecord(event)
        return true
    }

    public func setAgentCredential(id: String, _ credential: AgentRecord.Credential, at time: Date, audit event: AuditEvent) -> Bool {
        guard let stored = agentsByID[id] else { return false }
        agentsByID[id] = stored.with(credential: credential, at: time)
        _ = appendRecord(event)
        return true
    }
}

extension MemoryStore {
    public func attributes(of subject: SubjectKey) -> (attributes: SubjectAttributes, updatedAt: Date)? { attributesBySubject[subject] }

    public func recordAttributes(_ attributes: SubjectAttributes, of subject: SubjectKey, at time: Date) -> SubjectAttributes? {
        let previous = attributesBySubject[subject]?.attributes
        attributesBySubject[subject] = (attributes, time)
        return previous
    }

    public func liveAgentTokens(ownedBy owner: SubjectKey, now: Date) -> [IssuedToken] {
        let agents = Set(agentsByID.values.filter { $0.owner == owner }.map(\.id))
        return tokens.values.filter { $0.revokedAt == nil && $0.token.expiresAt > now && $0.token.agent.map(agents.contains) == true }
            .map(\.token).sorted { Array($0.jti.utf8).lexicographicallyPrecedes(Array($1.jti.utf8)) }
    }

    public func revoke(_ revocations: [(jti: String, audit: AuditEvent)], at time: Date) -> [String] {
        revocations.compactMap { revoke(jti: $0.jti, at: time, audit: $0.audit) ? $0.jti : nil }
    }

    public func revokeSubject(_ owner: SubjectKey, at time: Date, disable: Bool,
                              audit: @Sendable (OwnerOffboarding) -> [AuditEvent]) -> OwnerOffboarding {
        let owned = agentsByID.values.filter { $0.owner == owner }
        var agentsDisabled: [String] = []
        if disable {
            disabled.insert(owner)
            for agent in owned.sorted(by: { Array($0.id.utf8).lexicographicallyPrecedes(Array($1.id.utf8)) }) where agent.status == .active {
                agentsByID[agent.id] = agent.with(status: .disabled, at: time)
                agentsDisabled.append(agent.id)
            }
        }
        let epoch = SubjectStanding.epoch(after: time)
        epochs[owner] = max(epochs[owner] ?? epoch, epoch)
        let revoked = liveOwnerTokens(owner, now: time).map(\.token)
        for token in revoked { tokens[token.jti] = TokenState(token: token, revokedAt: time) }
        let outcome = OwnerOffboarding(agentsDisabled: agentsDisabled, tokensRevoked: revoked)
        for event in audit(outcome) { _ = appendRecord(event) }
        return outcome
    }
}
