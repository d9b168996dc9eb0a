public import BridgekeeperCore
public import Foundation
import BridgekeeperJOSE

/// One audited event: an issuance, a denial or a revocation, with who, what and why, and never a
/// credential. Tokens and assertions appear only by their `jti`; e-mail addresses only as a keyed hash.
public struct AuditEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case issuance, denial, revocation
        /// A change to who may get tokens: an agent registered, disabled, enabled or re-keyed.
        case administration
    }

    public var kind: Kind
    /// Why: `issued`, or the precise denial or revocation cause.
    public var reason: ReasonCode
    /// When, in whole milliseconds since 1970 (the precision that is hashed and stored).
    public var timeMilliseconds: Int64
    public var issuer: String?
    public var tenant: String?
    public var subject: String?
    public var clientID: String?
    /// `human` or `agent`.
    public var principalClass: String?
    /// The MCP server (canonical resource indicator).
    public var server: String?
    public var scopes: [String]
    /// `jti` of the token issued or revoked.
    public var tokenID: String?
    /// `jti` of the assertion presented (ID-JAG, ID token).
    public var assertionID: String?
    public var remoteAddress: String?
    /// `AuditEvent.emailHash(_:key:)` of the subject's e-mail, when one was presented.
    public var emailHash: String?
    /// The agent that acted (its id), when an agent did.
    public var actor: String?
    /// The human who owns that agent (their IdP `sub`): with `subject` and `actor`, the owner chain.
    public var owner: String?
    /// Who made an administrative change: `sub:{issuer}|{sub}` for a person through the management
    /// API, `local:{user}` for the CLI.
    public var performedBy: String?
    /// For an aggregate of refusals (`DenialAggregator`): how many like refusals, after the one
    /// recorded on its own, were counted in the interval this record closes. Absent otherwise.
    public var count: Int64?
    /// The route (`/token`, `/scim/v2`, …) of a refusal that went through the `DenialAggregator`.
    public var route: String?

    public init(kind: Kind, reason: ReasonCode, time: Date, issuer: String? = nil, tenant: String? = nil, subject: String? = nil,
                clientID: String? = nil, principalClass: String? = nil, server: String? = nil, scopes: [String] = [],
                tokenID: String? = nil, assertionID: String? = nil, remoteAddress: String? = nil, emailHash: String? = nil,
                actor: String? = nil, owner: String? = nil, performedBy: String? = nil) {
        self.kind = kind
        self.reason = reason
        self.timeMilliseconds = Int64((time.timeIntervalSince1970 * 1000).rounded(.down))
        self.issuer = issuer
        self.tenant = tenant
        self.subject = subject
        self.clientID = clientID
        self.principalClass = principalClass
        self.server = server
        self.scopes = scopes
        self.tokenID = tokenID
        self.assertionID = assertionID
        self.remoteAddress = remoteAddress
        self.emailHash = emailHash
        self.actor = actor
        self.owner = owner
        self.performedBy = performedBy
    }

    public var time: Date { Date(timeIntervalSince1970: Double(timeMilliseconds) / 1000) }

    /// A keyed hash of an e-mail address (HMAC-SHA-256 under the deployment's audit key, over the
    /// address lower-cased): the same person correlates across records, but the address cannot be
    /// recovered by hashing a list of candidates without the key.
    public static func emailHash(_ email: String, key: [UInt8]) -> String {
        "hmac-sha256:" + Digest.hex(Digest.hmacSHA256(key: key, message: Array(email.lowercased().utf8)))
    }
}

extension ReasonCode {
    /// A token was issued.
    public static let issued = ReasonCode("issued")
}

/// Which audit records concern an agent or a person (`bridgekeeper audit tail --agent / --owner`).
public struct AuditFilter: Sendable {
    public let agent: String?
    public let owner: String?

    public init(agent: String?, owner: String?) {
        self.agent = agent
        self.owner = owner
    }

    public var isEmpty: Bool { agent == nil && owner == nil }

    /// An agent's records: those it acted in, and its administration (registered, disabled).
    /// A person's: those where they are the subject or the owner of the agent that acted.
    public func matches(_ record: AuditRecord) -> Bool {
        let e = record.event
        if let agent, !(Self.equal(e.actor, agent) || (e.principalClass == "agent" && Self.equal(e.clientID, agent))) { return false }
        if let owner, !(Self.equal(e.owner, owner) || Self.equal(e.subject, owner)) { return false }
        return true
    }

    static func equal(_ value: String?, _ expected: String) -> Bool { value.map { $0.utf8.elementsEqual(expected.utf8) } ?? false }
}
