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
    /// The event time of each person's last status change (`StatusOrder`).
    private var statusChanges: [SubjectKey: Date] = [:]
    private var keys: [StoredSigningKey] = []
    private var agentsByID: [String: AgentRecord] = [:]
    private var attributesBySubject: [SubjectKey: (attributes: SubjectAttributes, updatedAt: Date)] = [:]
    private var signals: [(signal: InboundSignal, completedAt: Date?)] = []
    private var receiptsByID: [String: StoredReceipt] = [:]
    private var scim: [SCIMResource] = []
    private var feedStreamsByID: [String: FeedStream] = [:]
    private var feedAcks: [FeedAcknowledgement] = []
    public nonisolated let feedBell = FeedBell()

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

    public func append(_ event: AuditEvent) -> AuditRecord {
        let record = appendRecord(event)
        DenialTap.note(event)
        return record
    }

    private func appendRecord(_ event: AuditEvent) -> AuditRecord {
        let record = AuditChain.append(event, after: audit.last)
        audit.append(record)
        if record.isFeedEvent { feedBell.ring() }
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
        noteStatusChange(subject, asOf: time)
    }

    private func noteStatusChange(_ subject: SubjectKey, asOf: Date) {
        let time = StatusOrder.date(milliseconds: StatusOrder.milliseconds(asOf))
        statusChanges[subject] = max(statusChanges[subject] ?? time, time)
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

    public func setAgentStatus(id: String, _ status: AgentRecord.Status, at time: Date, audit event: AuditEvent,
                               revocation: @Sendable (IssuedToken) -> AuditEvent) -> [IssuedToken]? {
        guard let stored = agentsByID[id] else { return nil }
        agentsByID[id] = stored.with(status: status, at: time)
        _ = appendRecord(event)
        guard status == .disabled else { return [] }
        var revoked: [IssuedToken] = []
        for (jti, state) in tokens where state.token.agent == id && state.revokedAt == nil && state.token.expiresAt > time {
            tokens[jti] = TokenState(token: state.token, revokedAt: time)
            revoked.append(state.token)
        }
        revoked.sort { Array($0.jti.utf8).lexicographicallyPrecedes(Array($1.jti.utf8)) }
        for token in revoked { _ = appendRecord(revocation(token)) }
        return revoked
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

    public func recordAttributes(_ attributes: SubjectAttributes, of subject: SubjectKey, asOf: Date, winsTie: Bool) -> AttributeRecording {
        let asOf = Date(timeIntervalSince1970: asOf.timeIntervalSince1970.rounded(.down))  // whole seconds, as SQLite keeps them
        let previous = attributesBySubject[subject]
        if let previous, previous.updatedAt > asOf || (previous.updatedAt == asOf && !winsTie) {
            return .stale(current: previous.attributes, asOf: previous.updatedAt)
        }
        attributesBySubject[subject] = (attributes.from(SubjectOrigin(subject)), asOf)
        return .recorded(previous: previous?.attributes)
    }

    public func liveAgentTokens(ownedBy owner: SubjectKey, now: Date) -> [IssuedToken] {
        let agents = Set(agentsByID.values.filter { $0.owner == owner }.map(\.id))
        return tokens.values.filter { $0.revokedAt == nil && $0.token.expiresAt > now && $0.token.agent.map(agents.contains) == true }
            .map(\.token).sorted { Array($0.jti.utf8).lexicographicallyPrecedes(Array($1.jti.utf8)) }
    }

    public func revoke(_ revocations: [(jti: String, audit: AuditEvent)], at time: Date) -> [String] {
        revocations.compactMap { revoke(jti: $0.jti, at: time, audit: $0.audit) ? $0.jti : nil }
    }

    public func revokeSubject(_ owner: SubjectKey, at time: Date, disable: Bool, asOf: Date,
                              records: @Sendable (OwnerOffboarding) throws -> RevocationRecords) throws -> OwnerOffboarding {
        // Work out what would change, build the records, and only then write (all or nothing).
        let superseded = disable && !StatusOrder.disables(asOf: asOf, lastChange: statusChanges[owner], disabled: disabled.contains(owner))
        let disabling = disable && !superseded
        let owned = agentsByID.values.filter { $0.owner == owner }
        let toDisable = disabling ? owned.filter { $0.status == .active }.map(\.id).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) } : []
        let outcome = OwnerOffboarding(agentsDisabled: toDisable, tokensRevoked: liveOwnerTokens(owner, now: time).map(\.token),
                                       disableSuperseded: superseded)
        let written = try records(outcome)
        if disable { noteStatusChange(owner, asOf: asOf) }
        if disabling { disabled.insert(owner) }
        for id in toDisable { agentsByID[id] = agentsByID[id]?.with(status: .disabled, at: time) }
        let epoch = SubjectStanding.epoch(after: time)
        epochs[owner] = max(epochs[owner] ?? epoch, epoch)
        for token in outcome.tokensRevoked { tokens[token.jti] = TokenState(token: token, revokedAt: time) }
        for event in written.audit { _ = appendRecord(event) }
        if var receipt = written.receipt {
            receipt.auditSequence = audit.last?.sequence
            receiptsByID[receipt.id] = receipt
        }
        if let id = written.completes { markCompleted(id, at: time) }
        return outcome
    }
}

extension MemoryStore {
    public func receive(_ signal: InboundSignal, audit event: AuditEvent?) -> SignalReceipt {
        if let external = signal.externalID,
           let earlier = signals.first(where: { $0.signal.source == signal.source && $0.signal.connection.utf8.elementsEqual(signal.connection.utf8)
               && $0.signal.externalID.map { $0.utf8.elementsEqual(external.utf8) } == true }) {
            return .duplicate(signalID: earlier.signal.id)
        }
        signals.append((signal, nil))
        if let event { _ = appendRecord(event) }
        return .accepted
    }

    public func pendingSignals(limit: Int) -> [InboundSignal] {
        Array(signals.lazy.filter { $0.completedAt == nil }.map(\.signal).prefix(max(limit, 0)))
    }

    public func signal(id: String) -> (signal: InboundSignal, completedAt: Date?)? {
        signals.first { $0.signal.id.utf8.elementsEqual(id.utf8) }
    }

    public func completeSignal(_ signalID: String, at time: Date, audit events: [AuditEvent]) {
        guard isPending(signalID) else { return }
        for event in events { _ = appendRecord(event) }
        markCompleted(signalID, at: time)
    }

    public func completeEnabling(_ signalID: String, subject: SubjectKey, at time: Date, asOf: Date,
                                 audit: @Sendable (EnableOutcome) -> [AuditEvent]) -> EnableOutcome {
        let lastChange = statusChanges[subject]
        let outcome: EnableOutcome = !disabled.contains(subject) ? .notDisabled
            : StatusOrder.enables(asOf: asOf, lastChange: lastChange) ? .enabled : .superseded(lastChange: lastChange ?? asOf)
        guard isPending(signalID) else { return outcome }
        if outcome == .enabled { disabled.remove(subject) }
        noteStatusChange(subject, asOf: asOf)
        for event in audit(outcome) { _ = appendRecord(event) }
        markCompleted(signalID, at: time)
        return outcome
    }

    private func isPending(_ signalID: String) -> Bool {
        signals.contains { $0.signal.id.utf8.elementsEqual(signalID.utf8) && $0.completedAt == nil }
    }

    public func receipt(id: String) -> StoredReceipt? { receiptsByID[id] }

    public func receipts(of subject: SubjectKey) -> [StoredReceipt] {
        receiptsByID.values.filter { $0.subject == subject }.sorted { ($0.issuedAt, $0.id) > ($1.issuedAt, $1.id) }
    }

    private func markCompleted(_ id: String, at time: Date) {
        if let index = signals.firstIndex(where: { $0.signal.id.utf8.elementsEqual(id.utf8) && $0.completedAt == nil }) {
            signals[index].completedAt = time
        }
    }

    private func receiveAll(_ new: [InboundSignal]) {
        for signal in new {
            signals.append((signal, nil))
            _ = appendRecord(signal.receivedEvent)
        }
    }

    public func scimResource(_ kind: SCIMResource.Kind, connection: String, id: String) -> SCIMResource? {
        scim.first { $0.kind == kind && $0.connection == connection && $0.id == id }
    }

    public func scimResources(_ kind: SCIMResource.Kind, connection: String, where selector: SCIMSelector, startIndex: Int,
                              count: Int) -> (total: Int, resources: [SCIMResource]) {
        let matching = scim.filter { resource in
            guard resource.kind == kind, resource.connection == connection else { return false }
            switch selector {
            case .all: return true
            case .name(let name): return resource.name.lowercased() == name.lowercased()
            case .externalID(let id): return resource.externalID == id
            case .id(let id): return resource.id == id
            }
        }
        return (matching.count, Array(matching.dropFirst(max(startIndex - 1, 0)).prefix(max(count, 0))))
    }

    public func scimGroups(containing userID: String, connection: String) -> [SCIMSummary] {
        scim.filter { $0.kind == .group && $0.connection == connection && $0.members.contains { $0.utf8.elementsEqual(userID.utf8) } }
            .map(SCIMSummary.init)
    }

    public func scimSummaries(_ kind: SCIMResource.Kind, connection: String, ids: [String]) -> [SCIMSummary] {
        let wanted = Set(ids.map { Array($0.utf8) })
        return scim.filter { $0.kind == kind && $0.connection == connection && wanted.contains(Array($0.id.utf8)) }.map(SCIMSummary.init)
    }

    public func scimMemberships(of userIDs: [String], connection: String) -> [String: [String]] {
        let wanted = Set(userIDs.map { Array($0.utf8) })
        var result: [String: [String]] = [:]
        for group in scim where group.kind == .group && group.connection == connection {
            for member in group.members where wanted.contains(Array(member.utf8)) { result[member, default: []].append(group.id) }
        }
        return result
    }

    public func writeSCIM(_ resource: SCIMResource, replacing previous: SCIMResource?, signals new: [InboundSignal]) -> SCIMWriteOutcome {
        let create = previous == nil
        if scim.contains(where: { $0.kind == resource.kind && $0.connection == resource.connection && $0.id != resource.id
            && $0.name.lowercased() == resource.name.lowercased() }) { return .nameTaken }
        if let index = scim.firstIndex(where: { $0.kind == resource.kind && $0.connection == resource.connection && $0.id == resource.id }) {
            if create { return .nameTaken }
            if let previous, scim[index].version != previous.version { return .changedSince }
            scim[index] = resource
        } else {
            if !create { return .notFound }
            scim.append(resource)
        }
        receiveAll(new)
        return .written
    }

    public func deleteSCIM(_ kind: SCIMResource.Kind, connection: String, id: String, signals new: [InboundSignal]) -> SCIMWriteOutcome {
        guard let index = scim.firstIndex(where: { $0.kind == kind && $0.connection == connection && $0.id == id }) else { return .notFound }
        scim.remove(at: index)
        if kind == .user {
            scim = scim.map { group in
                guard group.kind == .group, group.connection == connection, group.members.contains(where: { $0.utf8.elementsEqual(id.utf8) }) else {
                    return group
                }
                return SCIMResource(kind: .group, connection: connection, id: group.id, name: group.name, externalID: group.externalID, active: true,
                                    email: nil, subject: nil, members: group.members.filter { !$0.utf8.elementsEqual(id.utf8) }, attributes: group.attributes,
                                    created: group.created, lastModified: group.lastModified, version: group.version)
            }
        }
        receiveAll(new)
        return .written
    }

    public func subjects(withEmail email: String) -> [SubjectKey] {
        Array(Set(scim.filter { $0.kind == .user && $0.email == email.lowercased() }.compactMap(\.subject)))
    }
}

extension MemoryStore {
    public func addFeedStream(_ stream: FeedStream, audit event: AuditEvent) {
        feedStreamsByID[stream.id] = stream
        _ = appendRecord(event)
    }

    public func feedStream(id: String) -> FeedStream? { feedStreamsByID[id] }

    public func feedStreams(clientID: String) -> [FeedStream] {
        feedStreamsByID.values.filter { $0.clientID.utf8.elementsEqual(clientID.utf8) }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    public func removeFeedStream(id: String, audit event: AuditEvent) -> Bool {
        guard feedStreamsByID.removeValue(forKey: id) != nil else { return false }
        _ = appendRecord(event)
        return true
    }

    public func acknowledgeFeed(streamID: String, sequences: Set<Int64>, at time: Date,
                                audit: @Sendable (FeedStream, FeedStream) -> [AuditEvent]) -> FeedStream? {
        guard let before = feedStreamsByID[streamID] else { return nil }
        guard !sequences.isEmpty else { return before }
        let limit = 10_000
        let pending = feedRecords(afterSequence: before.acknowledgedThrough, limit: limit).map(\.sequence)
        let after = before.acknowledging(sequences, pending: pending, complete: pending.count < limit, head: self.audit.last?.sequence ?? 0)
        if after.acknowledgedThrough > before.acknowledgedThrough {
            feedAcks.append(FeedAcknowledgement(streamID: streamID, clientID: before.clientID, through: after.acknowledgedThrough, at: time))
            for event in audit(before, after) { _ = appendRecord(event) }
        }
        feedStreamsByID[streamID] = after
        return after
    }

    public func feedRecords(afterSequence: Int64, limit: Int) -> [AuditRecord] {
        Array(audit.lazy.filter { $0.sequence > afterSequence && $0.isFeedEvent }.prefix(max(limit, 0)))
    }

    public func feedStart(notBefore time: Date) -> Int64 {
        let milliseconds = Int64((time.timeIntervalSince1970 * 1000).rounded(.down))
        if let first = audit.first(where: { $0.isFeedEvent && $0.event.timeMilliseconds >= milliseconds }) { return first.sequence - 1 }
        return audit.last?.sequence ?? 0
    }

    public func feedAcknowledgements(covering sequence: Int64) -> [FeedAcknowledgement] {
        var first: [String: FeedAcknowledgement] = [:]
        for ack in feedAcks where ack.through >= sequence && first[ack.streamID] == nil { first[ack.streamID] = ack }
        return first.values.sorted { ($0.at, $0.streamID) < ($1.at, $1.streamID) }
    }
}
