public import BridgekeeperCore
public import Foundation

/// A single-use identifier held until it can no longer be presented: an ID-JAG's `jti` for its
/// issuer, or a client assertion's `jti` for its client (SPECS §2 step 7, RFC 7523 §3 item 7).
public struct ReplayMark: Sendable, Hashable {
    public enum Namespace: String, Sendable, Hashable {
        /// An authorization grant (ID-JAG) by its issuer.
        case assertion
        /// A `private_key_jwt` client assertion by its client.
        case clientAssertion = "client_assertion"
    }

    public let namespace: Namespace
    /// The IdP issuer (assertions) or the client id (client assertions).
    public let issuer: String
    public let jti: String
    /// When the mark may be purged: the assertion's `exp` plus the leeway.
    public let expiresAt: Date

    public init(namespace: Namespace, issuer: String, jti: String, expiresAt: Date) {
        self.namespace = namespace
        self.issuer = issuer
        self.jti = jti
        self.expiresAt = expiresAt
    }

    public static func == (lhs: ReplayMark, rhs: ReplayMark) -> Bool {
        lhs.namespace == rhs.namespace && lhs.issuer.utf8.elementsEqual(rhs.issuer.utf8) && lhs.jti.utf8.elementsEqual(rhs.jti.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(namespace)
        hasher.combine(Array(issuer.utf8))
        hasher.combine(Array(jti.utf8))
    }
}

/// A token Bridgekeeper issued, as recorded (never the token itself: its claims).
public struct IssuedToken: Sendable, Hashable {
    /// What was issued.
    public enum Kind: String, Sendable, Hashable {
        /// An RFC 9068 access token for one of our MCP servers (revocable here).
        case accessToken = "access_token"
        /// An ID-JAG for a third-party authorization server, signed with the bridge key: recorded
        /// as evidence; the server that redeems it decides its fate.
        case idJAG = "id_jag"
    }

    public let jti: String
    public let kind: Kind
    public let subject: SubjectKey
    public let principal: PrincipalClass
    public let clientID: String
    /// The MCP server's resource indicator: the token's only audience.
    public let resource: String
    public let scope: [String]
    public let issuedAt: Date
    public let expiresAt: Date
    /// The `jti` of the assertion it was issued for.
    public let assertionID: String?
    /// The agent it was issued to (acting as itself, `subject` is the agent; for its owner,
    /// `subject` is the owner), nil for a person's own token.
    public let agent: String?

    public init(jti: String, kind: Kind = .accessToken, subject: SubjectKey, principal: PrincipalClass, clientID: String, resource: String,
                scope: [String], issuedAt: Date, expiresAt: Date, assertionID: String?, agent: String? = nil) {
        self.jti = jti
        self.kind = kind
        self.subject = subject
        self.principal = principal
        self.clientID = clientID
        self.resource = resource
        self.scope = scope
        self.issuedAt = Date(timeIntervalSince1970: issuedAt.timeIntervalSince1970.rounded(.down))
        self.expiresAt = Date(timeIntervalSince1970: expiresAt.timeIntervalSince1970.rounded(.down))
        self.assertionID = assertionID
        self.agent = agent
    }
}

/// An issued token and whether it was revoked.
public struct TokenState: Sendable, Hashable {
    public let token: IssuedToken
    public let revokedAt: Date?

    public init(token: IssuedToken, revokedAt: Date?) {
        self.token = token
        self.revokedAt = revokedAt
    }
}

/// A signing key of Bridgekeeper's own, as stored: the private key sealed (see `KeySealing`), the
/// public JWK in the clear, and its schedule.
///
/// Lifecycle: published from `createdAt`; signs from `activatesAt` (the newest active key signs);
/// stops signing at `retiresAt`, when a newer key took over; unpublished at `unpublishAt`, which is
/// at least the longest token lifetime after it stopped signing.
public struct StoredSigningKey: Sendable, Hashable {
    /// What a key signs: each purpose has its own keys, schedule and published set.
    public enum Purpose: String, Sendable, Hashable, CaseIterable {
        /// Access tokens (and introspection's own checks); published at `/jwks.json`.
        case access
        /// ID-JAGs for third-party authorization servers, as the bridge issuer; published at
        /// `/bridge/jwks.json`.
        case bridge
    }

    public let keyID: String
    public let purpose: Purpose
    public let algorithm: String
    public let sealedPrivateKey: [UInt8]
    public let publicJWK: String
    public let createdAt: Date
    public let activatesAt: Date
    public let retiresAt: Date?
    public let unpublishAt: Date?

    public init(keyID: String, purpose: Purpose = .access, algorithm: String, sealedPrivateKey: [UInt8], publicJWK: String, createdAt: Date,
                activatesAt: Date, retiresAt: Date? = nil, unpublishAt: Date? = nil) {
        self.keyID = keyID
        self.purpose = purpose
        self.algorithm = algorithm
        self.sealedPrivateKey = sealedPrivateKey
        self.publicJWK = publicJWK
        self.createdAt = createdAt
        self.activatesAt = activatesAt
        self.retiresAt = retiresAt
        self.unpublishAt = unpublishAt
    }
}

/// What a store commit did.
public enum CommitOutcome: Sendable, Equatable {
    /// Everything written; the audit record's sequence, when one was written.
    case committed(auditSequence: Int64?)
    /// A replay mark was already present: nothing was written.
    case replayed(ReplayMark)
    /// No mark was present but the subject is disabled: nothing was written.
    case subjectDisabled
}

/// The store's state relevant to one redemption, read at once.
public struct RedemptionFacts: Sendable, Equatable {
    /// The assertion's replay mark is present: it was redeemed before.
    public let markPresent: Bool
    /// The subject is disabled.
    public let subjectDisabled: Bool

    public init(markPresent: Bool, subjectDisabled: Bool) {
        self.markPresent = markPresent
        self.subjectDisabled = subjectDisabled
    }
}
