public import BridgekeeperJOSE
public import BridgekeeperKeys
public import Foundation

// The settings of the revocation signal sources (issue 6), as the configuration gives them and the
// sources use them: plain values, below both BridgekeeperConfig and BridgekeeperRevocation, so the
// configuration does not depend on the signal processing it configures (issue 19).

/// One IdP's SCIM provisioning into Bridgekeeper: its bearer token, whose subjects its Users are,
/// and which attributes name people and groups the way the IdP's tokens do.
public struct SCIMConnection: Sendable {
    /// The User attribute that carries the person's `sub` at the IdP.
    public enum SubjectAttribute: String, Sendable, CaseIterable {
        /// Okta sends its user id (the ID token's `sub`); Entra, once mapped to `objectId` (the `oid`).
        case externalId
        case userName
    }

    /// The Group attribute that names the group as the IdP's tokens carry it (what policy matches).
    public enum GroupAttribute: String, Sendable, CaseIterable {
        /// Okta's group names.
        case displayName
        /// Entra's group object ids (its tokens' `groups` claim), mapped to externalId.
        case externalId
    }

    public let name: String
    /// The IdP's issuer (the subjects' `iss`) and tenant.
    public let issuer: String
    public let tenant: String?
    public let tokenHash: SecretHash
    public let subjectAttribute: SubjectAttribute
    public let groupAttribute: GroupAttribute

    public init(name: String, issuer: String, tenant: String?, tokenHash: SecretHash, subjectAttribute: SubjectAttribute = .externalId,
                groupAttribute: GroupAttribute = .displayName) {
        self.name = name
        self.issuer = issuer
        self.tenant = tenant
        self.tokenHash = tokenHash
        self.subjectAttribute = subjectAttribute
        self.groupAttribute = groupAttribute
    }
}

/// One Okta Event Hook pointed at Bridgekeeper.
public struct OktaEventHook: Sendable {
    public let name: String
    /// The subjects' issuer and tenant (the Okta org or authorization server whose tokens name them).
    public let subjectIssuer: String
    public let tenant: String?
    /// The header Okta sends on every call (configured in Okta's hook) and its value, hashed.
    public let header: String
    public let secret: SecretHash

    public init(name: String, subjectIssuer: String, tenant: String?, header: String, secret: SecretHash) {
        self.name = name
        self.subjectIssuer = subjectIssuer
        self.tenant = tenant
        self.header = header.lowercased()
        self.secret = secret
    }
}

/// One Shared Signals transmitter Bridgekeeper receives from (an IdP's SSF stream).
public struct SSFTransmitter: Sendable {
    public let name: String
    /// The transmitter's `iss` (exact).
    public let issuer: String
    /// The `aud` its SETs carry for us (exact): the stream's audience; our issuer by default.
    public let audience: String
    public let keys: any KeySource
    public let algorithms: Set<JWSAlgorithm>
    /// The subjects' issuer and tenant (the IdP whose people the stream speaks about).
    public let subjectIssuer: String
    public let tenant: String?
    /// The `authorization_header` value we gave the transmitter for push (RFC 8935 §2), hashed;
    /// nil for a stream we poll, which refuses pushes.
    public let pushAuthorization: SecretHash?
    /// The oldest SET accepted, as seconds between its `iat` and now (`signals.ssf[].max_set_age`).
    public let maxSETAge: TimeInterval
    /// Seven days: a transmitter that retries (push) or holds SETs for a receiver that was down
    /// (poll) gets a week; an older SET is refused, audited, for the operator to reconcile.
    public static let defaultMaxSETAge: TimeInterval = 7 * 86_400

    public init(name: String, issuer: String, audience: String, keys: any KeySource, algorithms: Set<JWSAlgorithm>, subjectIssuer: String,
                tenant: String?, pushAuthorization: SecretHash?, maxSETAge: TimeInterval = SSFTransmitter.defaultMaxSETAge) {
        self.maxSETAge = maxSETAge
        self.name = name
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.algorithms = algorithms
        self.subjectIssuer = subjectIssuer
        self.tenant = tenant
        self.pushAuthorization = pushAuthorization
    }
}

/// How one polled stream is polled (`signals.ssf[].poll`).
public struct SSFPollSettings: Sendable, Hashable {
    /// Largest poll response accepted, in bytes.
    public static let maxResponseBytes = 4 << 20

    /// The transmitter's poll `endpoint_url` for this stream.
    public var endpoint: String
    /// The bearer token the transmitter gave us for it.
    public var token: String
    /// `maxEvents` per request. Default 100.
    public var maxEvents: Int = 100
    /// Seconds the transmitter may hold a request (long polling); 0 polls with `returnImmediately`
    /// every `interval`. Default 30.
    public var wait: Double = 30
    /// Seconds between short polls (`wait: 0`). Default 10.
    public var interval: Double = 10

    public init(endpoint: String, token: String) {
        self.endpoint = endpoint
        self.token = token
    }
}
