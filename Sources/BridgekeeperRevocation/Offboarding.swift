public import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
public import BridgekeeperPolicy
public import BridgekeeperStore
public import Foundation
import Synchronization
public import BridgekeeperKeys
import BridgekeeperClientAuth

/// What the signal processor needs from the store.
public typealias SignalStore = SignalInbox & OwnerDirectory & AgentRegistry & AuditLog & SubjectDirectory

/// The one path every revocation signal takes, whatever its source (issue 6): SCIM, Shared Signals,
/// an Okta Event Hook, an operator. `submit` writes the signal to the inbox (durable before the
/// source is answered) and then processes it: the revocation, its audit records, its signed receipt
/// and the signal's completion are one transaction. Work that fails after the signal is durable is
/// left pending and resumed (`resumePending`), at start-up and by the maintenance loop, so a crash at
/// any instant loses nothing.
public struct SignalProcessor: Sendable {
    public let issuer: String
    public let store: any SignalStore
    let receipts: ReceiptSigner
    let policy: Policy
    let catalog: Catalog
    let delegation: DelegationRules
    let clock: any WallClock

    public init(issuer: String, store: any SignalStore, keys: KeyRing, policy: Policy, catalog: Catalog, delegation: DelegationRules,
                clock: any WallClock) {
        self.issuer = issuer
        self.store = store
        self.receipts = ReceiptSigner(issuer: issuer, keys: keys)
        self.policy = policy
        self.catalog = catalog
        self.delegation = delegation
        self.clock = clock
    }

    /// What became of a submitted signal.
    public enum Submission: Sendable {
        /// Received and processed.
        case processed(InboundSignal, Outcome)
        /// The same connection sent this id before; nothing done twice.
        case duplicate(signalID: String)
        /// Durable, but its processing failed; it stays pending and is retried.
        case pending(InboundSignal)

        public var signalID: String {
            switch self {
            case .processed(let signal, _), .pending(let signal): signal.id
            case .duplicate(let id): id
            }
        }
    }

    /// What processing a signal did.
    public enum Outcome: Sendable {
        /// Tokens revoked (and, for an offboarding, the person and their agents disabled), with its receipt.
        case revoked(OwnerOffboarding, receipt: StoredReceipt?)
        /// The person may get tokens again (`wasDisabled` false: they were not disabled).
        case enabled(wasDisabled: Bool)
        /// Their groups or roles were recorded; the tokens that exceeded them were revoked.
        case narrowed(revoked: [String])
        /// Nothing changed: what the signal says is older than what the store already holds (an
        /// enable older than the disable that stands, attributes older than the stored ones), as of
        /// `current`. Audited `signal_superseded`.
        case superseded(current: Date)
    }

    /// A new signal: `sig_` and 128 random bits, received now; its event occurred at `occurredAt`
    /// as its source says, or now. An event time after now counts as now: no source can date its
    /// news into the future to outrank what comes after it.
    public func signal(source: InboundSignal.Source, connection: String, externalID: String?, event: String, subject: SubjectKey,
                       action: InboundSignal.Action, occurredAt: Date? = nil) -> InboundSignal {
        let now = clock.now()
        return InboundSignal(id: "sig_" + SecureRandom.identifier(bytes: 16), source: source, connection: connection, externalID: externalID,
                             event: event, subject: subject, action: action, receivedAt: now, occurredAt: min(occurredAt ?? now, now))
    }

    /// Writes `signal` to the inbox with its audit record, then processes it. Throws only when the
    /// signal could not be made durable (the source should retry).
    public func submit(_ signal: InboundSignal) async throws -> Submission {
        switch try await store.receive(signal, audit: signal.receivedEvent) {
        case .duplicate(let id):
            return .duplicate(signalID: id)
        case .accepted:
            do {
                return .processed(signal, try await process(signal))
            } catch {
                return .pending(signal)
            }
        }
    }

    /// Processes pending signals, oldest first; the number processed. A signal that fails stays
    /// pending for the next pass.
    /// `olderThan` leaves alone the signals a request is processing right now (start-up passes 0).
    @discardableResult
    public func resumePending(limit: Int = 500, olderThan grace: TimeInterval = 0) async throws -> Int {
        var done = 0
        let cutoff = clock.now().addingTimeInterval(-grace)
        for signal in try await store.pendingSignals(limit: limit) where grace == 0 || signal.receivedAt < cutoff {
            do {
                _ = try await process(signal)
                done += 1
            } catch {
                continue
            }
        }
        return done
    }

    /// Applies one signal's action as of when its event occurred, and completes it. Idempotent: a
    /// signal processed twice (a crash after the work, before its completion was seen) finds nothing
    /// more to do. Ordered (`StatusOrder`): an enable older than the disable that stands, or
    /// attributes older than the stored ones, change nothing and are audited `signal_superseded`; a
    /// late offboarding still revokes every token but leaves a person enabled since as they are.
    public func process(_ signal: InboundSignal) async throws -> Outcome {
        let now = clock.now()
        let subject = signal.subject
        let superseded = { @Sendable (current: Date) in
            AuditEvent(kind: .administration, reason: .signalSuperseded, time: now, issuer: subject.issuer, tenant: subject.tenant,
                       subject: subject.subject, principalClass: PrincipalClass.human.rawValue, performedBy: signal.performer)
        }
        switch signal.action {
        case .offboard, .revokeSessions:
            let disable = signal.action == .offboard
            let receipts = self.receipts
            let issued = ReceiptBox()
            let outcome = try await store.revokeSubject(subject, at: now, disable: disable, asOf: signal.occurredAt) { outcome in
                let disabled = disable && !outcome.disableSuperseded
                let receipt = try receipts.sign(signal: signal, outcome: outcome, disabled: disabled, at: now)
                issued.set(receipt)
                var audit = Offboarding.revocationEvents(owner: subject, outcome: outcome, time: now,
                                                         reason: disabled ? .subjectOffboarded : .sessionsRevoked, by: signal.performer)
                if outcome.disableSuperseded { audit.append(superseded(now)) }
                return RevocationRecords(audit: audit, receipt: receipt, completes: signal.id)
            }
            return .revoked(outcome, receipt: issued.value)
        case .enable:
            let outcome = try await store.completeEnabling(signal.id, subject: subject, at: now, asOf: signal.occurredAt) { outcome in
                switch outcome {
                case .enabled:
                    [AuditEvent(kind: .administration, reason: .subjectEnabled, time: now, issuer: subject.issuer, tenant: subject.tenant,
                                subject: subject.subject, principalClass: PrincipalClass.human.rawValue, performedBy: signal.performer)]
                case .notDisabled: []
                case .superseded(let current): [superseded(current)]
                }
            }
            switch outcome {
            case .enabled: return .enabled(wasDisabled: true)
            case .notDisabled: return .enabled(wasDisabled: false)
            case .superseded(let current): return .superseded(current: current)
            }
        case .attributes, .leaveGroup:
            let stored = try await store.attributes(of: subject)
            let previous = stored?.attributes
            let attributes: SubjectAttributes
            switch signal.action {
            case .attributes(let groups, let roles):
                attributes = SubjectAttributes(origin: SubjectOrigin(subject), groups: groups ?? previous?.groups ?? [], roles: roles ?? previous?.roles ?? [])
            case .leaveGroup(let group):
                attributes = SubjectAttributes(origin: SubjectOrigin(subject), groups: (previous?.groups ?? []).filter { !$0.isExactly(group) },
                                               roles: previous?.roles ?? [])
            default:
                return .narrowed(revoked: [])
            }
            if case .stale(_, let current) = try await store.recordAttributes(attributes, of: subject, asOf: signal.occurredAt, winsTie: true) {
                try await store.completeSignal(signal.id, at: now, audit: [superseded(current)])
                return .superseded(current: current)
            }
            let revoked = try await narrow(subject, to: attributes, now: now, by: signal.performer)
            let changed = AuditEvent(kind: .administration, reason: .attributesChanged, time: now, issuer: subject.issuer, tenant: subject.tenant,
                                     subject: subject.subject, principalClass: PrincipalClass.human.rawValue, performedBy: signal.performer)
            try await store.completeSignal(signal.id, at: now, audit: [changed])
            return .narrowed(revoked: revoked)
        }
    }

    /// Revokes each live token of `subject` and of their agents that carries more than policy now
    /// allows with `attributes`; the jtis revoked.
    func narrow(_ subject: SubjectKey, to attributes: SubjectAttributes, now: Date, by performer: String) async throws -> [String] {
        let live = try await store.liveTokens(ofOwner: subject, now: now)
        guard !live.isEmpty else { return [] }
        var agents: [String: AgentRecord] = [:]
        for agent in try await store.agents(ownedBy: subject) { agents[agent.id] = agent }
        let exceeding = Offboarding.exceeding(live, of: subject, attributes: attributes, agents: agents, policy: policy, catalog: catalog,
                                              delegation: delegation)
        let revocations = exceeding.map { token in
            let reason: ReasonCode = token.agent == nil ? .subjectRightsNarrowed : .ownerRightsNarrowed
            return (jti: token.jti, audit: AuditEvent(kind: .revocation, reason: reason, time: now, issuer: token.subject.issuer,
                                                     tenant: token.subject.tenant, subject: token.subject.subject, clientID: token.clientID,
                                                     principalClass: token.principal.rawValue, server: token.resource, scopes: token.scope,
                                                     tokenID: token.jti, actor: token.agent, owner: token.agent == nil ? nil : subject.subject,
                                                     performedBy: performer))
        }
        return try await store.revoke(revocations, at: now)
    }
}

/// Carries the receipt signed inside the store's transaction out of it.
final class ReceiptBox: Sendable {
    private let stored = Mutex<StoredReceipt?>(nil)
    func set(_ receipt: StoredReceipt) { stored.withLock { $0 = receipt } }
    var value: StoredReceipt? { stored.withLock { $0 } }
}

/// The pure rules of offboarding.
public enum Offboarding {
    /// The records of a subject's revocation (`reason`: `subject_offboarded` when they were
    /// disabled, `sessions_revoked` when only their tokens were): one for the person, one per agent
    /// disabled with them, one per token revoked (each naming its agent and owner when it was an
    /// agent's). `by` names who or what acted.
    public static func revocationEvents(owner: SubjectKey, outcome: OwnerOffboarding, time: Date, reason: ReasonCode = .subjectOffboarded,
                                        by performer: String?) -> [AuditEvent] {
        var events = [AuditEvent(kind: .administration, reason: reason, time: time, issuer: owner.issuer, tenant: owner.tenant,
                                 subject: owner.subject, principalClass: PrincipalClass.human.rawValue, performedBy: performer)]
        for agent in outcome.agentsDisabled {
            events.append(AuditEvent(kind: .administration, reason: .agentDisabledWithOwner, time: time, issuer: owner.issuer, tenant: owner.tenant,
                                     subject: owner.subject, clientID: agent, principalClass: PrincipalClass.agent.rawValue,
                                     actor: agent, owner: owner.subject, performedBy: performer))
        }
        for token in outcome.tokensRevoked {
            events.append(AuditEvent(kind: .revocation, reason: reason, time: time, issuer: token.subject.issuer,
                                     tenant: token.subject.tenant, subject: token.subject.subject, clientID: token.clientID,
                                     principalClass: token.principal.rawValue, server: token.resource, scopes: token.scope, tokenID: token.jti,
                                     actor: token.agent, owner: token.agent == nil ? nil : owner.subject, performedBy: performer))
        }
        return events
    }

    /// The live tokens of `subject` and their agents that carry more than policy allows with
    /// `attributes`: a person's own token beyond their tools on its server, an agent's beyond what
    /// it may have with its owner's (`AgentRules.exceeding`), and any whose server is gone.
    public static func exceeding(_ tokens: [IssuedToken], of subject: SubjectKey, attributes: SubjectAttributes, agents: [String: AgentRecord],
                                 policy: Policy, catalog: Catalog, delegation: DelegationRules) -> [IssuedToken] {
        let agentTokens = tokens.filter { $0.agent != nil }
        let own = tokens.filter { $0.agent == nil }.filter { token in
            guard let resource = try? ResourceURI(token.resource), let server = catalog.server(for: resource),
                  case .allow(let tools, _) = policy.decide(for: attributes, on: server) else { return true }
            let allowed = Set(tools.map(\.scope))
            return !token.scope.allSatisfy(allowed.contains)
        }
        return own + AgentRules.exceeding(agentTokens, agents: agents, owner: attributes, policy: policy, catalog: catalog, delegation: delegation)
    }
}

extension ReasonCode {
    /// An agent was disabled because its owner was offboarded.
    public static let agentDisabledWithOwner = ReasonCode("agent_disabled_with_owner")
    /// A disabled person may get tokens again; nothing revoked comes back.
    public static let subjectEnabled = ReasonCode("subject_enabled")
    /// The directory changed a person's groups or roles.
    public static let attributesChanged = ReasonCode("attributes_changed")
    /// A person's own token was revoked because their rights shrank below it.
    public static let subjectRightsNarrowed = ReasonCode("subject_rights_narrowed")
    /// A signal changed nothing because newer news stands: an enable older than the disable in
    /// force, a disable older than the enable in force (its tokens are still revoked), attributes
    /// older than the stored ones.
    public static let signalSuperseded = ReasonCode("signal_superseded")
}
