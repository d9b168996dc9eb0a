public import BridgekeeperCore
public import BridgekeeperGrants
public import BridgekeeperJOSE
public import BridgekeeperPolicy
public import Foundation
public import BridgekeeperKeys
import BridgekeeperClientAuth

/// The whole configuration: one validated value (STYLE rule 13). docs/configuration.md documents
/// every key with its default and bounds; `load` names the key path of anything wrong.
public struct Configuration: Sendable {
    /// Where an IdP's or a client's public keys come from.
    public enum Keys: Sendable {
        /// A `jwks_uri`, fetched over HTTPS with libcurl and cached.
        case remote(url: String)
        /// A JWKS file or inline set.
        case fixed(JWKSet)
        /// The `jwks_uri` of the issuer's OIDC discovery document (neither key given).
        case discover(issuer: String)
    }

    /// A set of defaults for an IdP's keys (`profile:`): every one can be overridden by its key.
    public enum IdPProfile: String, Sendable, CaseIterable {
        case oidc, okta, entra, keycloak

        /// Entra's multi-tenant v2.0 issuer, with Microsoft's own placeholder.
        public static let entraIssuerTemplate = "https://login.microsoftonline.com/{tenantid}/v2.0"
        /// Entra's per-tenant key set (Microsoft advises per-tenant keys over the common endpoint).
        public static let entraJWKSTemplate = "https://login.microsoftonline.com/{tenantid}/discovery/v2.0/keys"

        var issuer: String? { self == .entra ? Self.entraIssuerTemplate : nil }
        var jwksURI: String? { self == .entra ? Self.entraJWKSTemplate : nil }
        var algorithms: Set<JWSAlgorithm> {
            switch self {
            case .oidc: [.rs256, .es256]
            case .okta, .entra: [.rs256]
            case .keycloak: [.rs256, .es256, .ps256]
            }
        }
        var rolesClaim: String { self == .keycloak ? "realm_access.roles" : "roles" }
        var subjectClaim: String { self == .entra ? "oid" : "sub" }
        var tenantClaim: String { self == .entra ? "tid" : "tenant" }
    }

    /// The placeholder a multi-tenant issuer template carries.
    public static let tenantPlaceholder = "{tenantid}"

    public struct IdP: Sendable {
        /// One exact issuer of the IdP: the configured one, or one per allowed tenant of a template.
        public struct Issuer: Sendable {
            public var issuer: String
            /// The tenant an issuer expanded from a template belongs to.
            public var tenant: String?
            public var keys: Keys
        }

        public var name: String
        /// The configured issuer (exact, or a template with `{tenantid}`).
        public var issuer: String
        public var keys: Keys
        public var algorithms: Set<JWSAlgorithm>
        public var maxAssertionLifetime: TimeInterval
        public var leeway: TimeInterval
        public var tenant: TrustedIdP.TenantRule?
        public var groupsClaim: String?
        public var rolesClaim: String?
        /// The ID-token claim naming the person (default `sub`).
        public var subjectClaim: String = "sub"
        /// Longest accepted ID-token lifetime, seconds (default 86400).
        public var maxIDTokenLifetime: TimeInterval = 86_400
        /// When set, ID tokens need an `auth_time` at most this old.
        public var maxIDTokenAge: TimeInterval?
        public var profile: IdPProfile = .oidc
        /// The exact issuers accepted, with their keys (expanded from a template per tenant); when
        /// empty (an IdP built in code), the configured issuer with `keys`.
        public var issuers: [Issuer] {
            get { expandedIssuers.isEmpty ? [Issuer(issuer: issuer, tenant: nil, keys: keys)] : expandedIssuers }
            set { expandedIssuers = newValue }
        }
        var expandedIssuers: [Issuer] = []
        public var groupsOverage: TrustedIdP.GroupsOverage = .refuse
        /// How the IdP's fetched keys are cached (`key_cache`).
        public var keyCache = KeyCache()

        /// `idps[].key_cache`: the bounds of the cache of keys fetched from a `jwks_uri` or found by
        /// discovery, per IdP.
        public struct KeyCache: Sendable, Equatable {
            /// Least time between two refetches prompted by an unknown `kid`, seconds. Default 30, 5 to 3600.
            public var unknownKIDRefetchInterval: TimeInterval = 30
            /// Longest a fetched key set is used before it is fetched again, whatever its
            /// Cache-Control says, seconds. Default 86400, 60 to 604800.
            public var maxAge: TimeInterval = 86_400
            /// How long past its freshness the last good set is used while the IdP cannot be
            /// reached, seconds. Default 86400, 0 to 604800 (0: never).
            public var maxStaleness: TimeInterval = 86_400

            public init() {}
        }

        /// The issuer that names `tenant`'s people (a per-tenant issuer from a template), or the
        /// IdP's only issuer.
        public func issuer(forTenant tenant: String?) -> String {
            guard let tenant else { return issuers[0].issuer }
            return issuers.first { $0.tenant.map { $0.isExactly(tenant) } ?? false }?.issuer ?? issuers[0].issuer
        }
    }

    public struct Client: Sendable {
        public enum Credential: Sendable {
            case secret(SecretHash)
            case keys(Keys, algorithms: Set<JWSAlgorithm>)
        }
        public var id: String
        public var credential: Credential
        public var methods: Set<AuthenticatedClient.Method>?
        public var grantTypes: [String]
        /// Catalog server names (`["*"]` expanded to every server but the management API); nil =
        /// not given, which reaches no server (deny by default; `warnings` tells the operator).
        public var servers: [String]?
        public var introspection: Bool
        /// The client's id at each IdP, by IdP name (for ID-token exchange).
        public var idpClientIDs: [String: String] = [:]
        /// The client's id at each third-party authorization server, by its name (the `client_id`
        /// of the ID-JAGs the bridge issues for it).
        public var authorizationServerClientIDs: [String: String] = [:]
        /// May subscribe to the revocation feed (`/ssf/…`), authenticating with HTTP Basic.
        public var revocationFeed = false
    }

    public struct RateLimit: Sendable, Equatable {
        /// Sustained requests per second.
        public var rate: Double
        /// Requests allowed in a burst.
        public var burst: Int

        public init(rate: Double, burst: Int) {
            self.rate = rate
            self.burst = burst
        }
    }

    /// Issuer identifier: https (or http on loopback for the demo), no query or fragment.
    public var issuer: String
    /// Listen address. Default 127.0.0.1.
    public var host: String = "127.0.0.1"
    /// Listen port. Default 8080, 0 = any free port.
    public var port: Int = 8080
    /// SQLite database file. Default `bridgekeeper.sqlite` beside the configuration file.
    public var databasePath: String
    /// Access-token lifetime in seconds. Default 300, 60 to 3600.
    public var accessTokenLifetime: TimeInterval = 300
    /// Longest accepted `exp - iat` of a client assertion or an agent's actor token, seconds.
    /// Default 3600 (60 to 3600).
    public var maxClientAssertionLifetime: TimeInterval = ClientAuthenticator.defaultMaxAssertionLifetime
    /// Signing algorithm for new keys. Default ES256.
    public var signingAlgorithm: JWSAlgorithm = .es256
    /// The 32-byte key that seals private signing keys at rest. No default.
    public var keyEncryptionKey: [UInt8]
    /// Seconds between publishing a rotated key and signing with it. Default 300, 0 to 86400.
    public var keyPropagationDelay: TimeInterval = 300
    /// Seconds between key reloads from the store. Default 10, 1 to 300.
    public var keyReloadInterval: TimeInterval = 10
    /// Rate limits on the token, introspection and revocation endpoints. Defaults: per client
    /// 500/s burst 1000; per remote address 1000/s burst 2000.
    public var perClientLimit = RateLimit(rate: 500, burst: 1000)
    public var perAddressLimit = RateLimit(rate: 1000, burst: 2000)
    /// Checks of a stretched (PBKDF2) secret not yet known good, per claimed credential
    /// (`rate_limits.per_client_secret_checks`). Default 1 per second, burst 5: one PBKDF2 run
    /// costs about 40 ms of a core, so a flood of wrong secrets for one client costs at most ~4 %
    /// of a core.
    public var perClientSecretChecks = RateLimit(rate: 1, burst: 5)
    /// Seconds over which a flood's failed authentications are aggregated into one audit record per
    /// source, route and reason (`rate_limits.refusal_audit_interval`). Default 60, 0 to 3600; 0
    /// records every refusal.
    public var refusalAuditInterval: TimeInterval = 60
    /// Milliseconds a rate-limited answer (429) is held before it is sent
    /// (`rate_limits.limited_response_delay_ms`). Default 500, 0 to 10000.
    public var limitedResponseDelayMilliseconds = 500
    /// Seconds between purges of expired replay marks. Default 60.
    public var purgeInterval: TimeInterval = 60
    /// Permit `http://` JWKS URLs on loopback (tests and the demo only). Default false.
    public var allowLoopbackHTTP = false
    public var idps: [IdP]

    /// The IdP whose exact issuers include `issuer` (an issuer template's per-tenant issuers too).
    public func idp(issuing issuer: String) -> IdP? {
        idps.first { $0.issuers.contains { $0.issuer.isExactly(issuer) } }
    }
    public var clients: [Client]
    public var catalog: Catalog
    public var policy: Policy
    /// Third-party authorization servers that redeem the bridge's ID-JAGs.
    public var authorizationServers: [ThirdPartyAuthorizationServer] = []
    /// Agent identities (issue 5).
    public var agents = Agents()
    /// Revocation signal sources (issue 6).
    public var signals = Signals()

    /// The `agents:` section: what agents may hold and how they authenticate.
    public struct Agents: Sendable {
        /// Whether an agent may authenticate with a client secret instead of its own keys. Default false.
        public var allowClientSecret = false
        /// Lifetime of robot tokens, seconds. Default 120, 30 to 900.
        public var tokenLifetime: TimeInterval = 120
        /// What is never delegated; always includes destructive and admin.
        public var delegation: DelegationRules = .default
        /// What a person may register for themselves through the management API.
        public var selfService = SelfService()
        /// `jwks_uri_allowed_internal_hosts`: hosts an agent's `jwks_uri` may name although they
        /// are internal (loopback, link-local, private, carrier-grade NAT, `localhost`), matched
        /// exactly and without regard to case; an IP address by its value. Default empty: an
        /// agent's keys are fetched from public addresses only, checked at registration (IP
        /// literals, `localhost`) and again at every connection (what a name resolves to).
        public var jwksURIAllowedInternalHosts = InternalHostAllowList()

        public init() {}
    }

    /// `agents.self_service`: the limits on agents people register for themselves (holders of the
    /// management API's `agents.manage`). Administrators (`agents.admin`) are not bound by them.
    public struct SelfService: Sendable {
        /// Agents one person may have registered (any status). Default 5; 0 turns self-service off.
        public var maxAgentsPerOwner = 5
        /// The modes a person may choose. Default: on behalf of the owner only.
        public var modes: Set<AgentMode> = [.onBehalfOfOwner]
        /// The tool categories a self-registered grant may name. Default read and write.
        public var categories: Set<ToolCategory> = [.read, .write]
        /// Whether a person may name a `jwks_uri` (fetched by the broker) instead of giving keys. Default false.
        public var allowJWKSURI = false

        public init() {}
    }

    /// The issuer of the ID-JAGs the bridge signs: `{issuer}/bridge`, never a trusted IdP, so
    /// Bridgekeeper never redeems what it issued itself.
    public var bridgeIssuer: String { Self.bridgeIssuer(issuer) }

    static func bridgeIssuer(_ issuer: String) -> String { (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/bridge" }

    /// The longest lifetime of anything this server signs, for key retention.
    public var longestTokenLifetime: TimeInterval { max(accessTokenLifetime, authorizationServers.map(\.idJAGLifetime).max() ?? 0) }

    /// How long a retired key stays published: a server may sign with it until its next key reload,
    /// and what it signed then lives `longestTokenLifetime`, plus 60 s of verifier clock skew.
    public var longestTokenRetention: TimeInterval { longestTokenLifetime + keyReloadInterval + 60 }
}

extension Configuration {
    static let algorithmsAllowedFromIdPs: Set<JWSAlgorithm> = [.rs256, .rs384, .rs512, .ps256, .ps384, .ps512, .es256, .es384, .es512, .eddsa]

    /// Loads and validates a YAML configuration file. Relative paths are resolved against the file's
    /// folder; `env:` and `file:` secrets from `environment` and the file system.
    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> Configuration {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ConfigurationError(path: "", "cannot read \(file)")
        }
        let base = URL(fileURLWithPath: file).deletingLastPathComponent().path
        return try parse(yaml: text, baseDirectory: base, environment: environment)
    }

    public static func parse(yaml: String, baseDirectory: String, environment: [String: String] = [:]) throws(ConfigurationError) -> Configuration {
        let root = try ConfigNode.parse(yaml: yaml)
        let top = try root.mapping(allowed: ["issuer", "listen", "storage", "tokens", "keys", "rate_limits", "idps", "clients", "servers", "policy", "development", "authorization_servers", "agents", "signals"])
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path) }

        guard let issuerNode = top["issuer"] else { throw ConfigurationError(path: "issuer", "is required") }
        var allowLoopbackHTTP = false
        if let development = top["development"] {
            let d = try development.mapping(allowed: ["allow_loopback_http"])
            allowLoopbackHTTP = try d["allow_loopback_http"]?.bool() ?? false
        }
        let issuer = try issuerNode.string()
        try checkIssuer(issuer, loopbackHTTP: allowLoopbackHTTP, node: issuerNode)

        var host = "127.0.0.1", port = 8080
        if let listen = top["listen"] {
            let l = try listen.mapping(allowed: ["host", "port"])
            host = try l["host"]?.string() ?? host
            port = try l["port"]?.integer(in: 0...65535) ?? port
        }
        var databasePath = resolve("bridgekeeper.sqlite")
        if let storage = top["storage"] {
            let s = try storage.mapping(allowed: ["sqlite"])
            if let sqlite = s["sqlite"] { databasePath = resolve(try sqlite.string()) }
        }
        var lifetime: TimeInterval = 300
        var assertionLifetime = ClientAuthenticator.defaultMaxAssertionLifetime
        if let tokens = top["tokens"] {
            let t = try tokens.mapping(allowed: ["access_token_lifetime", "max_client_assertion_lifetime"])
            lifetime = TimeInterval(try t["access_token_lifetime"]?.integer(in: 60...3600) ?? 300)
            assertionLifetime = TimeInterval(try t["max_client_assertion_lifetime"]?.integer(in: 60...3600) ?? Int(assertionLifetime))
        }

        guard let keysNode = top["keys"] else { throw ConfigurationError(path: "keys", "is required (keys.encryption_key has no default)") }
        let k = try keysNode.mapping(allowed: ["algorithm", "encryption_key", "propagation_delay", "reload_interval"])
        var algorithm = JWSAlgorithm.es256
        if let node = k["algorithm"] {
            guard let value = JWSAlgorithm(rawValue: try node.string()), !value.isSymmetric else {
                throw node.error("must be one of ES256, ES384, ES512, EdDSA, RS256, PS256")
            }
            algorithm = value
        }
        guard let kekNode = k["encryption_key"] else { throw ConfigurationError(path: keysNode.child("encryption_key"), "is required") }
        let kekText = try kekNode.secret(environment: environment, resolve: resolve)
        guard let kek = try? Base64URL.decode(kekText), kek.count == 32 else {
            throw kekNode.error("must be 32 bytes in base64url (make one with `bridgekeeper keys encryption-key`)")
        }
        let propagation = TimeInterval(try k["propagation_delay"]?.integer(in: 0...86_400) ?? 300)
        let reload = TimeInterval(try k["reload_interval"]?.integer(in: 1...300) ?? 10)

        var perClient = RateLimit(rate: 500, burst: 1000), perAddress = RateLimit(rate: 1000, burst: 2000)
        var secretChecks = RateLimit(rate: 1, burst: 5)
        var refusalInterval: TimeInterval = 60
        var limitedDelay = 500
        if let limits = top["rate_limits"] {
            let r = try limits.mapping(allowed: ["per_client", "per_address", "per_client_secret_checks", "refusal_audit_interval",
                                                            "limited_response_delay_ms"])
            if let node = r["per_client"] { perClient = try rateLimit(node, default: perClient) }
            if let node = r["per_address"] { perAddress = try rateLimit(node, default: perAddress) }
            if let node = r["per_client_secret_checks"] { secretChecks = try rateLimit(node, default: secretChecks) }
            if let node = r["refusal_audit_interval"] { refusalInterval = TimeInterval(try node.integer(in: 0...3600)) }
            if let node = r["limited_response_delay_ms"] { limitedDelay = try node.integer(in: 0...10_000) }
        }

        let idps = try parseIdPs(top["idps"], resolve: resolve, loopbackHTTP: allowLoopbackHTTP)
        for (index, idp) in idps.enumerated()
        where idp.issuers.contains(where: { $0.issuer.isExactly(issuer) || $0.issuer.isExactly(bridgeIssuer(issuer)) }) {
            throw ConfigurationError(path: "idps[\(index)].issuer", "is Bridgekeeper's own issuer: it never redeems what it issued itself")
        }
        let authorizationServers = try parseAuthorizationServers(top["authorization_servers"], issuer: issuer, idps: idps,
                                                                 loopbackHTTP: allowLoopbackHTTP)
        let catalog = try parseCatalog(top["servers"], authorizationServers: authorizationServers, issuer: issuer)
        let clients = try parseClients(top["clients"], catalog: catalog, idps: idps, authorizationServers: authorizationServers, resolve: resolve,
                                       environment: environment, loopbackHTTP: allowLoopbackHTTP)
        let policy = try parsePolicy(top["policy"], catalog: catalog, idps: idps)

        var configuration = Configuration(issuer: issuer, databasePath: databasePath, keyEncryptionKey: kek, idps: idps,
                                          clients: clients, catalog: catalog, policy: policy)
        configuration.host = host
        configuration.port = port
        configuration.accessTokenLifetime = lifetime
        configuration.maxClientAssertionLifetime = assertionLifetime
        configuration.signingAlgorithm = algorithm
        configuration.keyPropagationDelay = propagation
        configuration.keyReloadInterval = reload
        configuration.perClientLimit = perClient
        configuration.perAddressLimit = perAddress
        configuration.perClientSecretChecks = secretChecks
        configuration.refusalAuditInterval = refusalInterval
        configuration.limitedResponseDelayMilliseconds = limitedDelay
        configuration.allowLoopbackHTTP = allowLoopbackHTTP
        configuration.authorizationServers = authorizationServers
        configuration.agents = try parseAgents(top["agents"], catalog: catalog)
        configuration.signals = try parseSignals(top["signals"], idps: idps, environment: environment, resolve: resolve,
                                                 loopbackHTTP: allowLoopbackHTTP)
        return configuration
    }

    /// Whether `url` may be fetched or named: https, or http to a loopback host when `loopbackHTTP`
    /// (tests and the demo). The one scheme rule for issuers, key URLs and authorization servers.
    public static func usesAllowedScheme(_ url: URL, loopbackHTTP: Bool) -> Bool {
        let loopback = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(url.host ?? "")
        return url.scheme == "https" || (url.scheme == "http" && loopback && loopbackHTTP)
    }

    static func checkIssuer(_ issuer: String, loopbackHTTP: Bool, node: ConfigNode) throws(ConfigurationError) {
        guard let url = URL(string: issuer), url.scheme != nil, let host = url.host, !host.isEmpty else {
            throw node.error("must be an absolute URL")
        }
        guard url.query == nil, url.fragment == nil, !issuer.contains("#"), !issuer.contains("?") else {
            throw node.error("must have no query or fragment (RFC 8414 §2)")
        }
        guard url.path.isEmpty || url.path == "/" else {
            throw node.error("must have no path: the endpoints are served at the root (/token, /jwks.json, ...)")
        }
        guard usesAllowedScheme(url, loopbackHTTP: loopbackHTTP) else {
            throw node.error("must use https (http only on loopback with development.allow_loopback_http)")
        }
    }

    static func rateLimit(_ node: ConfigNode, default value: RateLimit) throws(ConfigurationError) -> RateLimit {
        let m = try node.mapping(allowed: ["requests_per_second", "burst"])
        let rate = try m["requests_per_second"]?.integer(in: 1...1_000_000) ?? Int(value.rate)
        let burst = try m["burst"]?.integer(in: 1...1_000_000) ?? (m["requests_per_second"] == nil ? value.burst : rate * 2)
        return RateLimit(rate: Double(rate), burst: burst)
    }

    static func parseKeys(_ m: [String: ConfigNode], at node: ConfigNode, resolve: (String) -> String, loopbackHTTP: Bool) throws(ConfigurationError) -> Keys {
        let given = ["jwks_uri", "jwks_file"].filter { m[$0] != nil }
        guard given.count == 1 else { throw node.error("needs exactly one of jwks_uri, jwks_file") }
        if let uri = m["jwks_uri"] {
            let text = try uri.string()
            guard let url = URL(string: text), url.host != nil else { throw uri.error("must be an absolute URL") }
            guard usesAllowedScheme(url, loopbackHTTP: loopbackHTTP) else { throw uri.error("must use https") }
            return .remote(url: text)
        }
        let fileNode = m["jwks_file"]!
        let path = resolve(try fileNode.string())
        guard let data = FileManager.default.contents(atPath: path) else { throw fileNode.error("cannot read \(path)") }
        do {
            let set = try JWKSet(bytes: Array(data))
            guard !set.keys.isEmpty else { throw fileNode.error("\(path) holds no usable key") }
            return .fixed(set)
        } catch let error as ConfigurationError { throw error } catch {
            throw fileNode.error("\(path) is not a usable JWK Set: \(error)")
        }
    }

    static func algorithms(_ node: ConfigNode?, default value: Set<JWSAlgorithm>) throws(ConfigurationError) -> Set<JWSAlgorithm> {
        guard let node else { return value }
        var out: Set<JWSAlgorithm> = []
        for item in try node.sequence() {
            guard let algorithm = JWSAlgorithm(rawValue: try item.string()), algorithmsAllowedFromIdPs.contains(algorithm) else {
                throw item.error("must be an asymmetric JWS algorithm (RS256, PS256, ES256, EdDSA, ...); none and HMAC are never allowed")
            }
            out.insert(algorithm)
        }
        guard !out.isEmpty else { throw node.error("must name at least one algorithm") }
        return out
    }

    static func parseIdPs(_ node: ConfigNode?, resolve: (String) -> String, loopbackHTTP: Bool) throws(ConfigurationError) -> [IdP] {
        guard let node else { return [] }
        var idps: [IdP] = []
        for item in try node.sequence() {
            let m = try item.mapping(allowed: ["name", "profile", "issuer", "jwks_uri", "jwks_file", "algorithms", "max_assertion_lifetime", "leeway",
                                               "tenant", "claims", "max_id_token_lifetime", "max_id_token_age", "on_groups_overage", "key_cache"])
            guard let name = try m["name"]?.string() else { throw ConfigurationError(path: item.child("name"), "is required") }
            var profile = IdPProfile.oidc
            if let profileNode = m["profile"] {
                guard let value = IdPProfile(rawValue: try profileNode.string()) else {
                    throw profileNode.error("must be one of \(IdPProfile.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                profile = value
            }
            guard let issuer = try m["issuer"]?.string() ?? profile.issuer else {
                throw ConfigurationError(path: item.child("issuer"), "is required")
            }
            if idps.contains(where: { $0.name == name }) { throw item.error("name and issuer must be unique among idps") }
            let keys: Keys
            if m["jwks_uri"] == nil, m["jwks_file"] == nil {
                if let template = profile.jwksURI, issuer.contains(tenantPlaceholder) || !template.contains(tenantPlaceholder) {
                    keys = .remote(url: template)
                } else {
                    // OIDC discovery from the issuer: it must be a URL the fetcher may use.
                    guard !issuer.contains(tenantPlaceholder) else {
                        throw item.error("an issuer template has no single discovery document: give jwks_uri (it may use \(tenantPlaceholder))")
                    }
                    guard let url = URL(string: issuer), let host = url.host, !host.isEmpty else {
                        throw ConfigurationError(path: item.child("issuer"), "must be an absolute URL for OIDC discovery (or give jwks_uri or jwks_file)")
                    }
                    guard usesAllowedScheme(url, loopbackHTTP: loopbackHTTP) else {
                        throw ConfigurationError(path: item.child("issuer"), "must use https for OIDC discovery (or give jwks_uri or jwks_file)")
                    }
                    keys = .discover(issuer: issuer)
                }
            } else {
                keys = try parseKeys(m, at: item, resolve: resolve, loopbackHTTP: loopbackHTTP)
            }
            var tenant: TrustedIdP.TenantRule? = nil
            if let t = m["tenant"] {
                let tm = try t.mapping(allowed: ["claim", "allowed"])
                let claim = try tm["claim"]?.string() ?? profile.tenantClaim
                guard let allowed = try tm["allowed"]?.strings(), !allowed.isEmpty else {
                    throw ConfigurationError(path: t.child("allowed"), "must list the trusted tenants")
                }
                tenant = TrustedIdP.TenantRule(claim: claim, allowed: allowed)
            }

            // The exact issuers: one, or one per allowed tenant of a template.
            var issuers: [IdP.Issuer] = []
            if issuer.contains(tenantPlaceholder) {
                guard let tenant else {
                    throw ConfigurationError(path: item.child("tenant"), "is required: the issuer is a template, and tenant.allowed names the tenants it expands to")
                }
                for (index, value) in tenant.allowed.enumerated() {
                    guard !value.isEmpty, value.utf8.allSatisfy({ $0 == 0x2D || $0 == 0x2E || $0 == 0x5F || (0x30...0x39).contains($0)
                        || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                        throw ConfigurationError(path: "\(item.child("tenant")).allowed[\(index)]", "a tenant in an issuer template must be letters, digits, - . _")
                    }
                    var tenantKeys = keys
                    if case .remote(let url) = keys { tenantKeys = .remote(url: url.replacingOccurrences(of: tenantPlaceholder, with: value)) }
                    issuers.append(IdP.Issuer(issuer: issuer.replacingOccurrences(of: tenantPlaceholder, with: value), tenant: value, keys: tenantKeys))
                }
            } else {
                if case .remote(let url) = keys, url.contains(tenantPlaceholder) {
                    throw ConfigurationError(path: item.child("jwks_uri"), "uses \(tenantPlaceholder) but the issuer is not a template")
                }
                issuers = [IdP.Issuer(issuer: issuer, tenant: nil, keys: keys)]
            }
            for entry in issuers where idps.contains(where: { $0.issuers.contains { $0.issuer.isExactly(entry.issuer) } }) {
                throw item.error("name and issuer must be unique among idps (\(entry.issuer) is another IdP's)")
            }

            var groups: String? = "groups", roles: String? = profile.rolesClaim, subject = profile.subjectClaim
            if let c = m["claims"] {
                let cm = try c.mapping(allowed: ["groups", "roles", "subject"])
                groups = try cm["groups"]?.string() ?? groups
                roles = try cm["roles"]?.string() ?? roles
                subject = try cm["subject"]?.string() ?? subject
            }
            var idp = IdP(name: name, issuer: issuer, keys: keys, algorithms: try algorithms(m["algorithms"], default: profile.algorithms),
                          maxAssertionLifetime: TimeInterval(try m["max_assertion_lifetime"]?.integer(in: 30...3600) ?? 300),
                          leeway: TimeInterval(try m["leeway"]?.integer(in: 0...300) ?? 60),
                          tenant: tenant, groupsClaim: groups, rolesClaim: roles)
            idp.subjectClaim = subject
            idp.maxIDTokenLifetime = TimeInterval(try m["max_id_token_lifetime"]?.integer(in: 60...86_400) ?? 86_400)
            idp.maxIDTokenAge = try m["max_id_token_age"].map { node throws(ConfigurationError) in TimeInterval(try node.integer(in: 60...2_592_000)) }
            idp.profile = profile
            idp.issuers = issuers
            if let cacheNode = m["key_cache"] {
                if case .fixed = keys { throw cacheNode.error("applies only to keys fetched from jwks_uri or by discovery, not jwks_file") }
                let c = try cacheNode.mapping(allowed: ["unknown_kid_refetch_interval", "max_age", "max_staleness"])
                // Only what is given replaces the defaults, which `KeyCache` states once.
                if let value = try c["unknown_kid_refetch_interval"]?.integer(in: 5...3600) { idp.keyCache.unknownKIDRefetchInterval = TimeInterval(value) }
                if let value = try c["max_age"]?.integer(in: 60...604_800) { idp.keyCache.maxAge = TimeInterval(value) }
                if let value = try c["max_staleness"]?.integer(in: 0...604_800) { idp.keyCache.maxStaleness = TimeInterval(value) }
            }
            if let overage = m["on_groups_overage"] {
                guard let rule = TrustedIdP.GroupsOverage(rawValue: try overage.string()) else {
                    throw overage.error("must be refuse (the only rule: access is never decided on a partial group list)")
                }
                idp.groupsOverage = rule
            }
            idps.append(idp)
        }
        return idps
    }

    static func parseAuthorizationServers(_ node: ConfigNode?, issuer: String, idps: [IdP],
                                          loopbackHTTP: Bool) throws(ConfigurationError) -> [ThirdPartyAuthorizationServer] {
        guard let node else { return [] }
        var servers: [ThirdPartyAuthorizationServer] = []
        for item in try node.sequence() {
            let m = try item.mapping(allowed: ["name", "issuer", "idp", "id_jag_lifetime"])
            guard let name = try m["name"]?.string(), !name.isEmpty else { throw ConfigurationError(path: item.child("name"), "is required") }
            guard let issuerNode = m["issuer"] else { throw ConfigurationError(path: item.child("issuer"), "is required") }
            let asIssuer = try issuerNode.string()
            guard let url = URL(string: asIssuer), let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil else {
                throw issuerNode.error("must be an absolute URL without query or fragment (the authorization server's issuer)")
            }
            guard usesAllowedScheme(url, loopbackHTTP: loopbackHTTP) else { throw issuerNode.error("must use https") }
            guard !asIssuer.isExactly(issuer), !asIssuer.isExactly(bridgeIssuer(issuer)) else {
                throw issuerNode.error("is Bridgekeeper itself: its own servers get access tokens, never an ID-JAG addressed to itself")
            }
            guard !servers.contains(where: { $0.name == name || $0.issuer.isExactly(asIssuer) }) else {
                throw item.error("name and issuer must be unique among authorization_servers")
            }
            let idpName: String
            if let idpNode = m["idp"] {
                idpName = try idpNode.string()
                guard idps.contains(where: { $0.name == idpName }) else { throw idpNode.error("no IdP named \(idpName) in idps") }
            } else {
                guard idps.count == 1 else {
                    throw ConfigurationError(path: item.child("idp"), "is required when several IdPs are configured: an ID-JAG's sub is unique only per IdP")
                }
                idpName = idps[0].name
            }
            let lifetime = TimeInterval(try m["id_jag_lifetime"]?.integer(in: 30...300) ?? 300)
            servers.append(ThirdPartyAuthorizationServer(name: name, issuer: asIssuer, idp: idpName, idJAGLifetime: lifetime))
        }
        return servers
    }

    static func parseClients(_ node: ConfigNode?, catalog: Catalog, idps: [IdP], authorizationServers: [ThirdPartyAuthorizationServer],
                             resolve: (String) -> String, environment: [String: String], loopbackHTTP: Bool) throws(ConfigurationError) -> [Client] {
        guard let node else { return [] }
        var clients: [Client] = []
        for item in try node.sequence() {
            let m = try item.mapping(allowed: ["id", "secret_hash", "jwks_uri", "jwks_file", "algorithms", "auth_methods", "grant_types", "servers", "introspection", "revocation_feed",
                                               "idp_client_ids", "authorization_server_client_ids"])
            guard let id = try m["id"]?.string() else { throw ConfigurationError(path: item.child("id"), "is required") }
            guard !clients.contains(where: { $0.id.isExactly(id) }) else { throw ConfigurationError(path: item.child("id"), "is used twice") }
            let credential: Client.Credential
            var methods: Set<AuthenticatedClient.Method>? = nil
            if let hashNode = m["secret_hash"] {
                guard m["jwks_uri"] == nil, m["jwks_file"] == nil else { throw item.error("has both a secret_hash and keys; choose one") }
                do { credential = .secret(try SecretHash(encoded: try hashNode.secret(environment: environment, resolve: resolve))) } catch let problem as ConfigurationProblem {
                    throw hashNode.error(problem.message)
                } catch let error as ConfigurationError { throw error } catch { throw hashNode.error("\(error)") }
                if let methodsNode = m["auth_methods"] {
                    var set: Set<AuthenticatedClient.Method> = []
                    for entry in try methodsNode.sequence() {
                        guard let method = AuthenticatedClient.Method(rawValue: try entry.string()), method != .privateKeyJWT else {
                            throw entry.error("must be client_secret_basic or client_secret_post for a secret")
                        }
                        set.insert(method)
                    }
                    methods = set
                }
            } else if m["jwks_uri"] != nil || m["jwks_file"] != nil {
                if let methodsNode = m["auth_methods"] {
                    guard try methodsNode.strings() == ["private_key_jwt"] else {
                        throw methodsNode.error("a client with keys authenticates with private_key_jwt only")
                    }
                }
                credential = .keys(try parseKeys(m, at: item, resolve: resolve, loopbackHTTP: loopbackHTTP),
                                   algorithms: try algorithms(m["algorithms"], default: [.es256, .rs256, .ps256, .eddsa]))
            } else {
                throw item.error("needs a secret_hash or jwks_uri/jwks_file: only confidential clients are accepted")
            }
            var idpClientIDs: [String: String] = [:]
            if let mapNode = m["idp_client_ids"] {
                for (idpName, value) in try mapNode.mapping(allowed: idps.map(\.name)) {
                    let upstream = try value.string()
                    guard !upstream.isEmpty else { throw value.error("must not be empty") }
                    idpClientIDs[idpName] = upstream
                }
            }
            var asClientIDs: [String: String] = [:]
            if let mapNode = m["authorization_server_client_ids"] {
                for (asName, value) in try mapNode.mapping(allowed: authorizationServers.map(\.name)) {
                    let downstream = try value.string()
                    guard !downstream.isEmpty, downstream.utf8.count <= 255 else { throw value.error("must be 1 to 255 bytes") }
                    asClientIDs[asName] = downstream
                }
            }
            let supported = [JWTBearerGrant.grantType, TokenExchangeGrant.grantType]
            // A gateway (introspection or the feed) gets no grant unless it names one: its
            // credential must not also redeem ID-JAGs.
            let introspects = try m["introspection"]?.bool() ?? false, readsFeed = try m["revocation_feed"]?.bool() ?? false
            let gateway = introspects || readsFeed
            let grantTypes = try m["grant_types"]?.strings()
                ?? (gateway ? [] : idpClientIDs.isEmpty ? [JWTBearerGrant.grantType] : supported)
            for (index, grant) in grantTypes.enumerated() where !supported.containsExactly(grant) {
                throw ConfigurationError(path: "\(item.child("grant_types"))[\(index)]", "unsupported grant type \(grant)")
            }
            if grantTypes.containsExactly(TokenExchangeGrant.grantType), idpClientIDs.isEmpty, let grantsNode = m["grant_types"] {
                throw grantsNode.error("token exchange needs idp_client_ids: the client's id at each IdP whose ID tokens it exchanges")
            }
            var servers: [String]? = nil
            if let serversNode = m["servers"] {
                var names: [String] = []
                for (index, name) in try serversNode.strings().enumerated() {
                    // "*" is every catalog server but the management API, which is reached only by name.
                    let named = name == "*" ? catalog.servers.filter { !$0.builtIn }.map(\.name) : [name]
                    if name != "*", catalog.server(named: name) == nil {
                        throw ConfigurationError(path: "\(serversNode.path)[\(index)]", "no server named \(name) in servers")
                    }
                    names += named.filter { !names.contains($0) }
                }
                servers = names
            }
            var client = Client(id: id, credential: credential, methods: methods, grantTypes: grantTypes, servers: servers,
                                introspection: introspects)
            client.idpClientIDs = idpClientIDs
            client.authorizationServerClientIDs = asClientIDs
            // A feed client authenticates at /ssf with HTTP Basic (a secret client with
            // client_secret_basic) or with a feed token it gets by client_credentials (any client).
            client.revocationFeed = readsFeed
            clients.append(client)
        }
        return clients
    }

    static func parseAgents(_ node: ConfigNode?, catalog: Catalog) throws(ConfigurationError) -> Agents {
        var agents = Agents()
        guard let node else { return agents }
        let m = try node.mapping(allowed: ["allow_client_secret", "token_lifetime", "non_delegable_categories", "delegable_tools", "self_service",
                                           "jwks_uri_allowed_internal_hosts"])
        agents.allowClientSecret = try m["allow_client_secret"]?.bool() ?? false
        agents.tokenLifetime = TimeInterval(try m["token_lifetime"]?.integer(in: 30...900) ?? 120)
        var categories = DelegationRules.default.nonDelegableCategories
        if let list = m["non_delegable_categories"] {
            var named: Set<ToolCategory> = []
            for entry in try list.sequence() {
                guard let category = ToolCategory(rawValue: try entry.string()) else { throw entry.error("must be read, write, destructive or admin") }
                named.insert(category)
            }
            guard named.isSuperset(of: DelegationRules.default.nonDelegableCategories) else {
                throw list.error("must include destructive and admin: they are never delegated as a whole (mark single tools in delegable_tools)")
            }
            categories = named
        }
        var delegable: [DelegationRules.DelegableTool] = []
        if let list = m["delegable_tools"] {
            for (index, entry) in try list.sequence().enumerated() {
                let text = try entry.string()
                let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, let server = catalog.server(named: parts[0]), !server.builtIn,
                      server.tools.contains(where: { $0.name == parts[1] }) else {
                    throw ConfigurationError(path: "\(list.path)[\(index)]", "must be SERVER:TOOL naming a tool of a catalog server (not the management API)")
                }
                delegable.append(DelegationRules.DelegableTool(server: server.name, tool: parts[1]))
            }
        }
        agents.delegation = DelegationRules(nonDelegableCategories: categories, delegableTools: delegable)
        if let selfNode = m["self_service"] {
            let s = try selfNode.mapping(allowed: ["max_agents_per_owner", "modes", "categories", "allow_jwks_uri"])
            agents.selfService.maxAgentsPerOwner = try s["max_agents_per_owner"]?.integer(in: 0...1000) ?? 5
            if let list = s["modes"] {
                var modes: Set<AgentMode> = []
                for entry in try list.sequence() {
                    guard let mode = AgentMode(rawValue: try entry.string()) else { throw entry.error("must be itself or on_behalf_of_owner") }
                    modes.insert(mode)
                }
                agents.selfService.modes = modes
            }
            if let list = s["categories"] {
                var named: Set<ToolCategory> = []
                for entry in try list.sequence() {
                    guard let category = ToolCategory(rawValue: try entry.string()) else { throw entry.error("must be read, write, destructive or admin") }
                    named.insert(category)
                }
                agents.selfService.categories = named
            }
            agents.selfService.allowJWKSURI = try s["allow_jwks_uri"]?.bool() ?? false
        }
        if let list = m["jwks_uri_allowed_internal_hosts"] {
            var hosts: [String] = []
            for entry in try list.sequence() {
                let host = try entry.string()
                guard isAllowListHost(host) else {
                    throw entry.error("must be a host name or an IP address: no scheme, port, path or wildcard")
                }
                hosts.append(host)
            }
            agents.jwksURIAllowedInternalHosts = InternalHostAllowList(hosts)
        }
        return agents
    }

    /// A host name (letters, digits, `-`, `_`, `.`; at most 253 bytes) or an IP address (IPv6 with
    /// or without brackets).
    static func isAllowListHost(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if IPAddress(bare) != nil { return true }
        guard bare == host, (1...253).contains(host.utf8.count), !host.hasPrefix("."), !host.contains("..") else { return false }
        return host.utf8.allSatisfy { $0 == 0x2D || $0 == 0x2E || $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }

    /// The configured servers, then Bridgekeeper's own management API (`MCPServer.management`)
    /// when the issuer is given; its name and resource are reserved.
    static func parseCatalog(_ node: ConfigNode?, authorizationServers: [ThirdPartyAuthorizationServer] = [],
                             issuer: String? = nil) throws(ConfigurationError) -> Catalog {
        let management: MCPServer?
        do { management = try issuer.map { try MCPServer.management(issuer: $0) } } catch {
            throw ConfigurationError(path: "issuer", "the management API's resource ({issuer}/admin) is not a valid resource indicator")
        }
        var servers: [MCPServer] = []
        for item in try node?.sequence() ?? [] {
            let m = try item.mapping(allowed: ["name", "resource", "display_name", "enabled", "tools", "authorization_server", "shared"])
            guard let name = try m["name"]?.string() else { throw ConfigurationError(path: item.child("name"), "is required") }
            guard let resourceNode = m["resource"] else { throw ConfigurationError(path: item.child("resource"), "is required") }
            let resource: ResourceURI
            do { resource = try ResourceURI(try resourceNode.string()) } catch let error as ConfigurationError { throw error } catch {
                throw resourceNode.error("not a valid resource indicator (RFC 8707: absolute URI, no fragment)")
            }
            guard !servers.contains(where: { $0.name == name || $0.resource == resource }) else {
                throw item.error("name and resource must be unique among servers")
            }
            if let management, management.name == name || management.resource == resource {
                throw item.error("the name \(management.name) and the resource \(management.resource) are Bridgekeeper's management API")
            }
            if let issuer, resource.canonical.isExactly(FeedAccess.resource(issuer: issuer)) {
                throw resourceNode.error("is the revocation feed's resource (the audience of feed tokens), not a server's")
            }
            var tools: [Tool] = []
            for toolNode in try m["tools"]?.sequence() ?? [] {
                let t = try toolNode.mapping(allowed: ["name", "category", "enabled", "scope", "by_name_only"])
                guard let toolName = try t["name"]?.string() else { throw ConfigurationError(path: toolNode.child("name"), "is required") }
                guard let categoryNode = t["category"] else { throw ConfigurationError(path: toolNode.child("category"), "is required") }
                guard let category = ToolCategory(rawValue: try categoryNode.string()) else {
                    throw categoryNode.error("must be read, write, destructive or admin")
                }
                let scope = try t["scope"]?.string()
                if let scope, (try? Scope(parsing: scope))?.tokens.count != 1 { throw ConfigurationError(path: toolNode.child("scope"), "must be one scope token") }
                guard !tools.contains(where: { $0.name == toolName }) else { throw toolNode.error("tool \(toolName) appears twice") }
                tools.append(Tool(name: toolName, category: category, enabled: try t["enabled"]?.bool() ?? true, scope: scope,
                                  byNameOnly: try t["by_name_only"]?.bool() ?? false))
            }
            var authorizationServer: AuthorizationServerReference? = nil
            if let asNode = m["authorization_server"] {
                let asName = try asNode.string()
                guard let known = authorizationServers.first(where: { $0.name == asName }) else {
                    throw asNode.error("no authorization server named \(asName) in authorization_servers")
                }
                authorizationServer = AuthorizationServerReference(name: known.name, issuer: known.issuer)
            }
            servers.append(MCPServer(name: name, resource: resource, displayName: try m["display_name"]?.string() ?? name,
                                     enabled: try m["enabled"]?.bool() ?? true, tools: tools, authorizationServer: authorizationServer,
                                     shared: try m["shared"]?.bool() ?? false))
        }
        if let management { servers.append(management) }
        return Catalog(servers: servers)
    }

    /// The tenants a configured IdP trusts: its tenant rule's list, or the tenants its issuers were
    /// expanded for; empty for an IdP without tenants.
    static func tenants(of idp: IdP) -> [String] {
        if let rule = idp.tenant { return rule.allowed }
        return idp.issuers.compactMap(\.tenant)
    }

    /// The IdP (and tenants) a rule's groups and roles belong to (`idp`: a name, or a list of names
    /// for one directory behind several issuers; `tenants`). With one IdP of at most one tenant a
    /// rule may leave them out; otherwise a group or role rule that does not say is ambiguous and
    /// refused, since a same-named group in another IdP or tenant would match. `tenants: ["*"]` says
    /// explicitly "every tenant these IdPs trust". An `everyone` rule without `idp` matches people
    /// of every trusted IdP.
    static func attributeSource(_ m: [String: ConfigNode], item: ConfigNode, idps: [IdP], namesAttributes: Bool) throws(ConfigurationError) -> AttributeSource? {
        var chosen: [IdP] = []
        if let idpNode = m["idp"] {
            let names: [String]
            if idpNode.isScalar { names = [try idpNode.string()] } else { names = try idpNode.strings() }
            guard !names.isEmpty else { throw idpNode.error("must name an IdP, or a list of IdPs") }
            for name in names {
                guard let found = idps.first(where: { $0.name == name }) else { throw idpNode.error("no IdP named \(name) in idps") }
                if !chosen.contains(where: { $0.name == name }) { chosen.append(found) }
            }
        } else {
            guard m["tenants"] == nil else { throw ConfigurationError(path: item.child("tenants"), "needs idp: the IdP whose tenants these are") }
            guard namesAttributes else { return nil }
            guard idps.count == 1 else {
                throw item.error("names groups or roles but not the IdP they belong to: with \(idps.count) IdPs configured, give idp (a same-named group at another IdP would match)")
            }
            chosen = idps
        }
        let label = chosen.map(\.name).joined(separator: ", ")
        let trusted = chosen.flatMap { tenants(of: $0) }
        let issuers = chosen.flatMap { $0.issuers.map(\.issuer) }
        guard let tenantsNode = m["tenants"] else {
            guard !namesAttributes || chosen.allSatisfy({ tenants(of: $0).count <= 1 }) else {
                throw item.error("names groups or roles of \(label), which trusts \(Set(trusted).count) tenants: give tenants (a same-named group in another tenant would match), or tenants: [\"*\"] for all of them")
            }
            return AttributeSource(idp: label, issuers: issuers)
        }
        let named = try tenantsNode.strings()
        if named == ["*"] {
            guard !trusted.isEmpty else { throw tenantsNode.error("\(label) has no tenants") }
            return AttributeSource(idp: label, issuers: issuers)
        }
        guard !named.isEmpty else { throw tenantsNode.error("must list tenants of \(label), or [\"*\"]") }
        for (index, tenant) in named.enumerated() where !trusted.contains(tenant) {
            throw ConfigurationError(path: "\(tenantsNode.path)[\(index)]", "\(label) does not trust tenant \(tenant)")
        }
        return AttributeSource(idp: label, issuers: issuers, tenants: named)
    }

    static func parsePolicy(_ node: ConfigNode?, catalog: Catalog, idps: [IdP] = []) throws(ConfigurationError) -> Policy {
        guard let node else { return Policy(rules: []) }
        var rules: [PolicyRule] = []
        for item in try node.sequence() {
            let m = try item.mapping(allowed: ["id", "effect", "everyone", "groups", "roles", "idp", "tenants", "servers", "categories", "tools"])
            guard let id = try m["id"]?.string() else { throw ConfigurationError(path: item.child("id"), "is required") }
            guard !rules.contains(where: { $0.id == id }) else { throw ConfigurationError(path: item.child("id"), "is used by an earlier rule") }
            guard let effectNode = m["effect"], let effect = PolicyRule.Effect(rawValue: try effectNode.string()) else {
                throw ConfigurationError(path: item.child("effect"), "must be allow or deny")
            }
            let everyone = try m["everyone"]?.bool() ?? false
            let groups = try m["groups"]?.strings() ?? []
            let roles = try m["roles"]?.strings() ?? []
            guard everyone != !(groups.isEmpty && roles.isEmpty) else {
                throw item.error("needs groups and/or roles, or everyone: true (not both)")
            }
            let source = try attributeSource(m, item: item, idps: idps, namesAttributes: !everyone)
            guard let serversNode = m["servers"] else { throw ConfigurationError(path: item.child("servers"), "is required (a list of names, or [\"*\"])") }
            let names = try serversNode.strings()
            let servers: PolicyRule.Servers
            if names == ["*"] { servers = .all } else {
                for (index, name) in names.enumerated() where catalog.server(named: name) == nil {
                    throw ConfigurationError(path: "\(serversNode.path)[\(index)]", "no server named \(name) in servers")
                }
                servers = .named(names)
            }
            var categories: Set<ToolCategory> = []
            for entry in try m["categories"]?.sequence() ?? [] {
                guard let category = ToolCategory(rawValue: try entry.string()) else { throw entry.error("must be read, write, destructive or admin") }
                categories.insert(category)
            }
            let tools = try m["tools"]?.strings() ?? []
            if let toolsNode = m["tools"] {
                let candidates: [MCPServer]
                switch servers {
                case .all: candidates = catalog.servers.filter { !$0.builtIn }  // `*` never reaches the management API
                case .named(let names): candidates = names.compactMap { catalog.server(named: $0) }
                }
                for (index, tool) in tools.enumerated() where !candidates.contains(where: { server in server.tools.contains { $0.name == tool } }) {
                    throw ConfigurationError(path: "\(toolsNode.path)[\(index)]", "no tool named \(tool) on the rule's servers")
                }
            }
            if effect == .allow, categories.isEmpty, tools.isEmpty {
                throw item.error("an allow rule must name categories or tools")
            }
            rules.append(PolicyRule(id: id, effect: effect, subjects: everyone ? .everyone : .anyOf(groups: groups, roles: roles),
                                    source: source, servers: servers, categories: categories, tools: tools))
        }
        return Policy(rules: rules)
    }
}
