public import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
public import BridgekeeperRevocation
import Foundation

extension Configuration {
    /// The `signals:` section (issue 6): where revocation signals come from. Each source names the
    /// IdP whose people it speaks about.
    public struct Signals: Sendable {
        /// SCIM 2.0 provisioning connections, served at `/scim/v2`.
        public var scim: [SCIMConnection] = []

        public init() {}
    }

    /// The subjects' issuer and tenant for a source about `idpName`'s people.
    static func subjectIssuer(idpName: String, tenant: String?, idps: [IdP], node: ConfigNode) throws(ConfigurationError) -> (issuer: String, tenant: String?) {
        guard let idp = idps.first(where: { $0.name == idpName }) else { throw node.error("no IdP named \(idpName) in idps") }
        guard let rule = idp.tenant else {
            guard tenant == nil else { throw node.error("\(idpName) is not multi-tenant: no tenant here") }
            return (idp.issuers[0].issuer, nil)
        }
        guard let tenant, rule.allowed.containsExactly(tenant) else { throw node.error("\(idpName) is multi-tenant: tenant must be one of its allowed tenants") }
        let issuer = idp.issuers.first { $0.tenant.map { $0.isExactly(tenant) } ?? false }?.issuer ?? idp.issuers[0].issuer
        return (issuer, tenant)
    }

    static func parseSignals(_ node: ConfigNode?, idps: [IdP], environment: [String: String],
                             resolve: (String) -> String) throws(ConfigurationError) -> Signals {
        var signals = Signals()
        guard let node else { return signals }
        let top = try node.mapping(allowed: ["scim"])
        var names: Set<String> = []
        for item in try top["scim"]?.sequence() ?? [] {
            let m = try item.mapping(allowed: ["name", "idp", "tenant", "token_hash", "subject_attribute", "group_attribute"])
            guard let nameNode = m["name"] else { throw item.error("name is required") }
            let name = try nameNode.string()
            guard !name.isEmpty, names.insert("scim:" + name).inserted else { throw nameNode.error("must be a unique, non-empty name") }
            guard let idpNode = m["idp"] else { throw item.error("idp is required (whose people this connection provisions)") }
            let (issuer, tenant) = try subjectIssuer(idpName: try idpNode.string(), tenant: try m["tenant"]?.string(), idps: idps, node: idpNode)
            guard let hashNode = m["token_hash"] else {
                throw item.error("token_hash is required (make one with `bridgekeeper clients hash-secret` from the token you give the IdP)")
            }
            let hash: SecretHash
            do { hash = try SecretHash(encoded: try hashNode.secret(environment: environment, resolve: resolve)) } catch let error as ConfigurationError {
                throw error
            } catch let problem as ConfigurationProblem { throw hashNode.error(problem.message) } catch { throw hashNode.error("\(error)") }
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
        return signals
    }
}
