public import BridgekeeperJOSE
public import Foundation

/// An identity provider whose ID-JAGs Bridgekeeper redeems, and whose ID tokens it exchanges for
/// the clients that have an id at it.
public struct TrustedIdP: Sendable {
    /// How a multi-tenant IdP names the tenant, and which tenants are trusted.
    public struct TenantRule: Sendable {
        /// The claim that carries the tenant (`tenant` in the ID-JAG draft, `tid` at Entra).
        public let claim: String
        /// Trusted tenants, compared exactly. Never empty: an open tenant list is refused by the
        /// configuration.
        public let allowed: [String]

        public init(claim: String, allowed: [String]) {
            self.claim = claim
            self.allowed = allowed
        }
    }

    /// The configuration's name for the IdP (`okta`).
    public let name: String
    /// The exact `iss` of its assertions.
    public let issuer: String
    public let keys: any KeySource
    /// Algorithms accepted from this IdP (default RS256, ES256).
    public let algorithms: Set<JWSAlgorithm>
    /// Longest accepted `exp - iat` of an assertion, seconds (default 300).
    public let maxAssertionLifetime: TimeInterval
    /// Clock skew allowed on `exp`, `nbf`, `iat`, seconds (default 60).
    public let leeway: TimeInterval
    public let tenant: TenantRule?
    /// The claim holding group names or ids (default `groups`), when read.
    public let groupsClaim: String?
    /// The claim holding roles (default `roles`), when read.
    public let rolesClaim: String?
    /// The ID-token claim that names the person (default `sub`; `oid` at Entra, whose `sub` is
    /// pairwise per application). ID-JAGs always use `sub`.
    public let subjectClaim: String
    /// Longest accepted `exp - iat` of an ID token, seconds (default 86400).
    public let maxIDTokenLifetime: TimeInterval
    /// When set, an ID token needs `auth_time` at most this many seconds ago.
    public let maxIDTokenAge: TimeInterval?

    public init(name: String, issuer: String, keys: any KeySource, algorithms: Set<JWSAlgorithm> = [.rs256, .es256],
                maxAssertionLifetime: TimeInterval = 300, leeway: TimeInterval = 60, tenant: TenantRule? = nil,
                groupsClaim: String? = "groups", rolesClaim: String? = "roles", subjectClaim: String = "sub",
                maxIDTokenLifetime: TimeInterval = 86_400, maxIDTokenAge: TimeInterval? = nil) {
        self.name = name
        self.issuer = issuer
        self.keys = keys
        self.algorithms = algorithms
        self.maxAssertionLifetime = maxAssertionLifetime
        self.leeway = leeway
        self.tenant = tenant
        self.groupsClaim = groupsClaim
        self.rolesClaim = rolesClaim
        self.subjectClaim = subjectClaim
        self.maxIDTokenLifetime = maxIDTokenLifetime
        self.maxIDTokenAge = maxIDTokenAge
    }
}
