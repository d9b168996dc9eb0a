public import BridgekeeperJOSE
public import Foundation
import BridgekeeperClientAuth

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

    /// One exact `iss` the IdP signs with, and where its keys are. A multi-tenant IdP with an
    /// issuer template (Entra's `https://login.microsoftonline.com/{tenantid}/v2.0`) has one per
    /// allowed tenant, each naming its tenant: a token's tenant claim must then be that tenant.
    public struct Issuer: Sendable {
        public let issuer: String
        /// The tenant this issuer belongs to, when the issuer was expanded from a template.
        public let tenant: String?
        public let keys: any KeySource

        public init(issuer: String, tenant: String? = nil, keys: any KeySource) {
            self.issuer = issuer
            self.tenant = tenant
            self.keys = keys
        }
    }

    /// What to do when a token says its groups did not fit (OIDC Core §5.6.2 distributed claims:
    /// `_claim_names` names the groups claim; Entra's overage, or `hasgroups: true`).
    public enum GroupsOverage: String, Sendable {
        /// Refuse: a decision on a partial group list could miss a deny rule (`groups_overage`).
        case refuse
    }

    /// The configuration's name for the IdP (`okta`).
    public let name: String
    /// The configured issuer: the exact `iss`, or a template with `{tenantid}`.
    public let issuer: String
    /// The exact issuers accepted (one, or one per allowed tenant of a template).
    public let issuers: [Issuer]
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
    public let groupsOverage: GroupsOverage

    /// An IdP with one exact issuer and its keys.
    public init(name: String, issuer: String, keys: any KeySource, algorithms: Set<JWSAlgorithm> = [.rs256, .es256],
                maxAssertionLifetime: TimeInterval = 300, leeway: TimeInterval = 60, tenant: TenantRule? = nil,
                groupsClaim: String? = "groups", rolesClaim: String? = "roles", subjectClaim: String = "sub",
                maxIDTokenLifetime: TimeInterval = 86_400, maxIDTokenAge: TimeInterval? = nil) {
        self.init(name: name, issuer: issuer, issuers: [Issuer(issuer: issuer, keys: keys)], algorithms: algorithms,
                  maxAssertionLifetime: maxAssertionLifetime, leeway: leeway, tenant: tenant, groupsClaim: groupsClaim, rolesClaim: rolesClaim,
                  subjectClaim: subjectClaim, maxIDTokenLifetime: maxIDTokenLifetime, maxIDTokenAge: maxIDTokenAge)
    }

    public init(name: String, issuer: String, issuers: [Issuer], algorithms: Set<JWSAlgorithm> = [.rs256, .es256],
                maxAssertionLifetime: TimeInterval = 300, leeway: TimeInterval = 60, tenant: TenantRule? = nil,
                groupsClaim: String? = "groups", rolesClaim: String? = "roles", subjectClaim: String = "sub",
                maxIDTokenLifetime: TimeInterval = 86_400, maxIDTokenAge: TimeInterval? = nil, groupsOverage: GroupsOverage = .refuse) {
        self.name = name
        self.issuer = issuer
        self.issuers = issuers
        self.groupsOverage = groupsOverage
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
