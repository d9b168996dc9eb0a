import BridgekeeperCore
public import BridgekeeperJOSE
public import BridgekeeperSignalSettings
public import Foundation
public import BridgekeeperKeys
import BridgekeeperGrants
import BridgekeeperClientAuth

extension Configuration {
    /// The `signals:` section (issue 6): where revocation signals come from. Each source names the
    /// IdP whose people it speaks about.
    public struct Signals: Sendable {
        /// SCIM 2.0 provisioning connections, served at `/scim/v2`.
        public var scim: [SCIMConnection] = []
        /// Shared Signals transmitters that push SETs to `/signals/ssf/{name}`.
        public var ssf: [SSFStream] = []
        /// Okta Event Hooks calling `/signals/okta/{name}`.
        public var oktaEventHooks: [OktaEventHook] = []

        public init() {}
    }

    /// `signals.ssf[]`: a transmitter, its keys, and the push authorization we gave it.
    public struct SSFStream: Sendable {
        public var name: String
        public var issuer: String
        /// The `aud` of its SETs; nil means our issuer.
        public var audience: String?
        public var keys: Keys
        public var algorithms: Set<JWSAlgorithm>
        public var subjectIssuer: String
        public var tenant: String?
        public var delivery: Delivery
        /// `max_set_age`: the oldest SET accepted, seconds between its `iat` and now (default 7 days).
        public var maxSETAge: TimeInterval = SSFTransmitter.defaultMaxSETAge

        /// How the stream's SETs arrive (SSF 1.0 §6.1.1).
        public enum Delivery: Sendable {
            /// RFC 8935: the transmitter POSTs to `/signals/ssf/{name}` with the `authorization_header`
            /// we gave it (kept as a hash).
            case push(authorization: SecretHash)
            /// RFC 8936: we poll the transmitter's endpoint.
            case poll(SSFPollSettings)
        }

        /// The push authorization's hash; nil for a polled stream (which takes no pushes).
        public var pushAuthorization: SecretHash? {
            if case .push(let hash) = delivery { return hash }
            return nil
        }

        public var poll: SSFPollSettings? {
            if case .poll(let settings) = delivery { return settings }
            return nil
        }
    }

    /// The subjects' issuer and tenant for a source about `idpName`'s people.
    static func subjectIssuer(idpName: String, tenant: String?, idps: [IdP], node: ConfigNode) throws(ConfigurationError) -> (issuer: String, tenant: String?) {
        guard let idp = idps.first(where: { $0.name == idpName }) else { throw node.error("no IdP named \(idpName) in idps") }
        guard let rule = idp.tenant else {
            guard tenant == nil else { throw node.error("\(idpName) is not multi-tenant: no tenant here") }
            return (idp.issuers[0].issuer, nil)
        }
        guard let tenant, rule.allowed.containsExactly(tenant) else { throw node.error("\(idpName) is multi-tenant: tenant must be one of its allowed tenants") }
        return (idp.issuer(forTenant: tenant), tenant)
    }

    static func parseSignals(_ node: ConfigNode?, idps: [IdP], environment: [String: String], resolve: (String) -> String,
                             loopbackHTTP: Bool) throws(ConfigurationError) -> Signals {
        var signals = Signals()
        guard let node else { return signals }
        let top = try node.mapping(allowed: ["scim", "ssf", "okta_event_hooks"])
        var names: Set<String> = []
        for item in try top["scim"]?.sequence() ?? [] {
            let m = try item.mapping(allowed: ["name", "idp", "tenant", "token_hash", "subject_attribute", "group_attribute"])
            let name = try unique(m, item, &names, kind: "scim")
            guard let idpNode = m["idp"] else { throw item.error("idp is required (whose people this connection provisions)") }
            let (issuer, tenant) = try subjectIssuer(idpName: try idpNode.string(), tenant: try m["tenant"]?.string(), idps: idps, node: idpNode)
            let hash = try secretHash(m, item, "token_hash", environment: environment, resolve: resolve,
                                      hint: "the hash of the bearer token you give the IdP")
            var subjectAttribute = SCIMConnection.SubjectAttribute.externalId
            if let attribute = m["subject_attribute"] {
                guard let value = SCIMConnection.SubjectAttribute(rawValue: try attribute.string()) else { throw attribute.error("must be externalId or userName") }
                subjectAttribute = value
            }
            var groupAttribute = SCIMConnection.GroupAttribute.displayName
            if let attribute = m["group_attribute"] {
                guard let value = SCIMConnection.GroupAttribute(rawValue: try attribute.string()) else { throw attribute.error("must be displayName or externalId") }
                groupAttribute = value
            }
            signals.scim.append(SCIMConnection(name: name, issuer: issuer, tenant: tenant, tokenHash: hash, subjectAttribute: subjectAttribute,
                                               groupAttribute: groupAttribute))
        }
        for item in try top["ssf"]?.sequence() ?? [] {
            let m = try item.mapping(allowed: ["name", "idp", "tenant", "issuer", "audience", "jwks_uri", "jwks_file", "algorithms",
                                               "delivery", "push_authorization_hash", "poll", "max_set_age"])
            let name = try unique(m, item, &names, kind: "ssf")
            guard let idpNode = m["idp"] else { throw item.error("idp is required (whose people this stream speaks about)") }
            let (subjectIssuer, tenant) = try subjectIssuer(idpName: try idpNode.string(), tenant: try m["tenant"]?.string(), idps: idps, node: idpNode)
            guard let issuerNode = m["issuer"] else { throw item.error("issuer is required (the transmitter's iss)") }
            let keys = try parseKeys(m, at: item, resolve: resolve, loopbackHTTP: loopbackHTTP)
            var algorithms: Set<JWSAlgorithm> = [.rs256]
            if let list = m["algorithms"] {
                algorithms = []
                for entry in try list.sequence() {
                    guard let algorithm = JWSAlgorithm(rawValue: try entry.string()), algorithmsAllowedFromIdPs.contains(algorithm) else {
                        throw entry.error("must be an asymmetric JWS algorithm")
                    }
                    algorithms.insert(algorithm)
                }
            }
            let delivery: SSFStream.Delivery
            switch try m["delivery"]?.string() ?? "push" {
            case "push":
                if let poll = m["poll"] { throw poll.error("only a stream with delivery: poll takes poll settings") }
                delivery = .push(authorization: try secretHash(m, item, "push_authorization_hash", environment: environment, resolve: resolve,
                                                               hint: "the hash of the exact Authorization header value given to the transmitter"))
            case "poll":
                if let push = m["push_authorization_hash"] { throw push.error("a polled stream takes no pushes: remove push_authorization_hash") }
                guard let pollNode = m["poll"] else { throw item.error("poll is required with delivery: poll (endpoint and token)") }
                delivery = .poll(try parsePoll(pollNode, environment: environment, resolve: resolve, loopbackHTTP: loopbackHTTP))
            default:
                throw m["delivery"]!.error("must be push (RFC 8935) or poll (RFC 8936)")
            }
            var stream = SSFStream(name: name, issuer: try issuerNode.string(), audience: try m["audience"]?.string(), keys: keys,
                                   algorithms: algorithms, subjectIssuer: subjectIssuer, tenant: tenant, delivery: delivery)
            if let age = m["max_set_age"] { stream.maxSETAge = TimeInterval(try age.integer(in: 300...2_592_000)) }
            signals.ssf.append(stream)
        }
        for item in try top["okta_event_hooks"]?.sequence() ?? [] {
            let m = try item.mapping(allowed: ["name", "idp", "tenant", "header", "secret_hash"])
            let name = try unique(m, item, &names, kind: "okta")
            guard let idpNode = m["idp"] else { throw item.error("idp is required (the Okta org whose users the hook reports)") }
            let (subjectIssuer, tenant) = try subjectIssuer(idpName: try idpNode.string(), tenant: try m["tenant"]?.string(), idps: idps, node: idpNode)
            signals.oktaEventHooks.append(OktaEventHook(
                name: name, subjectIssuer: subjectIssuer, tenant: tenant, header: try m["header"]?.string() ?? "Authorization",
                secret: try secretHash(m, item, "secret_hash", environment: environment, resolve: resolve,
                                       hint: "the hash of the header value configured in the Okta hook")))
        }
        return signals
    }

    /// `signals.ssf[].poll`: the transmitter's poll endpoint, our bearer token for it, and pacing.
    static func parsePoll(_ node: ConfigNode, environment: [String: String], resolve: (String) -> String,
                          loopbackHTTP: Bool) throws(ConfigurationError) -> SSFPollSettings {
        let m = try node.mapping(allowed: ["endpoint", "token", "max_events", "wait", "interval"])
        guard let endpointNode = m["endpoint"] else { throw node.error("endpoint is required (the stream's delivery endpoint_url at the transmitter)") }
        let endpoint = try endpointNode.string()
        guard let url = URL(string: endpoint), url.host != nil, usesAllowedScheme(url, loopbackHTTP: loopbackHTTP) else {
            throw endpointNode.error("must be an https URL")
        }
        guard let tokenNode = m["token"] else { throw node.error("token is required (the bearer token the transmitter gave for polling; env:NAME or file:PATH)") }
        var settings = SSFPollSettings(endpoint: endpoint, token: try tokenNode.secret(environment: environment, resolve: resolve))
        if let value = m["max_events"] { settings.maxEvents = try value.integer(in: 1...1000) }
        if let value = m["wait"] { settings.wait = Double(try value.integer(in: 0...300)) }
        if let value = m["interval"] { settings.interval = Double(try value.integer(in: 1...3600)) }
        return settings
    }

    /// A signal source's name is a URL path segment: lower-case letters, digits, `-` and `_`.
    public static func isSignalSourceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { $0 == 0x2D || $0 == 0x5F || (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) }
    }

    static func unique(_ m: [String: ConfigNode], _ item: ConfigNode, _ names: inout Set<String>, kind: String) throws(ConfigurationError) -> String {
        guard let node = m["name"] else { throw item.error("name is required") }
        let name = try node.string()
        guard isSignalSourceName(name), names.insert("\(kind):\(name)").inserted else {
            throw node.error("must be a unique name of lower-case letters, digits, '-' or '_' (it is a URL path segment)")
        }
        return name
    }

    static func secretHash(_ m: [String: ConfigNode], _ item: ConfigNode, _ key: String, environment: [String: String], resolve: (String) -> String,
                           hint: String) throws(ConfigurationError) -> SecretHash {
        guard let node = m[key] else { throw item.error("\(key) is required (\(hint); make it with `bridgekeeper clients hash-secret`)") }
        do { return try SecretHash(encoded: try node.secret(environment: environment, resolve: resolve)) } catch let error as ConfigurationError {
            throw error
        } catch let problem as ConfigurationProblem { throw node.error(problem.message) } catch { throw node.error("\(error)") }
    }
}
