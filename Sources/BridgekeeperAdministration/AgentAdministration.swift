public import BridgekeeperAudit
public import BridgekeeperConfig
public import BridgekeeperCore
import BridgekeeperGrants
public import BridgekeeperPolicy
public import BridgekeeperStore
import BridgekeeperRevocation
public import Foundation
public import BridgekeeperJOSE
import BridgekeeperKeys
import BridgekeeperClientAuth

/// Registering and managing agents (issue 5), for the CLI and, later, the admin and owner APIs.
/// The parsing and validation are pure; the store calls write each change with its audit record.
public enum AgentAdministration {
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let code: String
        public let reason: String
        public init(_ code: String, _ reason: String) {
            self.code = code
            self.reason = reason
        }
        public var description: String { "\(code): \(reason)" }
    }

    /// How the agent will authenticate, as given by an administrator.
    public enum CredentialInput: Sendable {
        case jwksFile(contents: [UInt8])
        case jwksURI(String)
        /// Generate a secret (only where `agents.allow_client_secret` is set).
        case newSecret
    }

    /// An agent id: 1 to 128 of `A-Z a-z 0-9 . _ -`, and not a configured client's id.
    public static func checkID(_ id: String, configuration: Configuration) throws(Failure) {
        guard (1...128).contains(id.utf8.count),
              id.utf8.allSatisfy({ $0 == 0x2D || $0 == 0x2E || $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0)
                  || (0x61...0x7A).contains($0) }) else {
            throw Failure("invalid_agent_id", "an agent id is 1 to 128 letters, digits, '.', '_' or '-'")
        }
        guard !configuration.clients.contains(where: { $0.id.isExactly(id) }) else {
            throw Failure("invalid_agent_id", "\(id) is a configured client's id")
        }
    }

    /// A grant from `SERVER:ITEM[,ITEM…]` specs: SERVER a catalog name or `*`, each ITEM a tool
    /// category or (for a named server) one of its tools.
    public static func grant(parsing specs: [String], catalog: Catalog) throws(Failure) -> AgentGrant {
        guard !specs.isEmpty else { throw Failure("invalid_grant_spec", "an agent needs at least one --grant SERVER:ITEMS") }
        var entries: [AgentGrant.Entry] = []
        for spec in specs {
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else { throw Failure("invalid_grant_spec", "\(spec): expected SERVER:ITEM[,ITEM...]") }
            let server = parts[0] == "*" ? nil : catalog.server(named: parts[0])
            if parts[0] != "*", server == nil { throw Failure("invalid_grant_spec", "\(spec): no server named \(parts[0]) in the catalog") }
            if let server, server.builtIn { throw Failure("invalid_grant_spec", "\(spec): agents never administer agents (\(server.name) is the management API)") }
            var categories: Set<ToolCategory> = []
            var tools: [String] = []
            for item in parts[1].split(separator: ",").map(String.init) {
                if let category = ToolCategory(rawValue: item) {
                    categories.insert(category)
                } else if let server, server.tools.contains(where: { $0.name.isExactly(item) }) {
                    tools.append(item)
                } else {
                    throw Failure("invalid_grant_spec", "\(spec): \(item) is neither a category nor a tool of \(parts[0])")
                }
            }
            entries.append(AgentGrant.Entry(servers: server.map { .named([$0.name]) } ?? .all, categories: categories, tools: tools))
        }
        return AgentGrant(entries)
    }

    /// The owner's subject key: their id at the IdP named (the only one when nil), with the tenant
    /// for a multi-tenant IdP (and its per-tenant issuer for a template).
    public static func owner(subject: String, idp name: String?, tenant: String?, configuration: Configuration) throws(Failure) -> SubjectKey {
        guard !subject.isEmpty, subject.utf8.count <= 255, !subject.utf8.contains(where: { $0 < 0x20 }) else {
            throw Failure("invalid_owner", "the owner is their subject at the IdP: 1 to 255 bytes without control characters")
        }
        let idp: Configuration.IdP
        if let name {
            guard let found = configuration.idps.first(where: { $0.name == name }) else { throw Failure("invalid_owner", "no IdP named \(name)") }
            idp = found
        } else {
            guard configuration.idps.count == 1 else { throw Failure("invalid_owner", "several IdPs are configured: name the owner's with --owner-idp") }
            idp = configuration.idps[0]
        }
        guard let rule = idp.tenant else {
            guard tenant == nil else { throw Failure("invalid_owner", "\(idp.name) is not multi-tenant: no --owner-tenant") }
            return SubjectKey(issuer: idp.issuers[0].issuer, tenant: nil, subject: subject)
        }
        guard let tenant, rule.allowed.containsExactly(tenant) else {
            throw Failure("invalid_owner", "\(idp.name) is multi-tenant: --owner-tenant must be one of its allowed tenants")
        }
        return SubjectKey(issuer: idp.issuer(forTenant: tenant), tenant: tenant, subject: subject)
    }

    /// The stored credential, and the secret to hand over when one was generated.
    ///
    /// A `jwks_uri` is https (http to loopback only in development), and its host is not internal
    /// (`InternalHost.reason`: a loopback, link-local, private, carrier-grade NAT, multicast or
    /// reserved IP literal, `localhost`, a number that is not a dotted quad) unless the host is in
    /// `agents.jwks_uri_allowed_internal_hosts`. A name is judged again when it is resolved, at
    /// every fetch (`DestinationPolicy.publicOnly`).
    public static func credential(_ input: CredentialInput, configuration: Configuration) throws(Failure) -> (AgentRecord.Credential, secret: String?) {
        switch input {
        case .jwksFile(let contents):
            do {
                let set = try JWKSet(bytes: contents)
                guard !set.keys.isEmpty else { throw Failure("invalid_credential", "the JWK Set holds no usable public key") }
            } catch let failure as Failure { throw failure } catch {
                throw Failure("invalid_credential", "not a JWK Set of public keys: \(error)")
            }
            return (.jwks(String(decoding: contents, as: UTF8.self)), nil)
        case .jwksURI(let url):
            guard let parsed = URL(string: url), let host = parsed.host, !host.isEmpty else {
                throw Failure("invalid_credential", "--jwks-uri must be an absolute URL")
            }
            guard Configuration.usesAllowedScheme(parsed, loopbackHTTP: configuration.allowLoopbackHTTP) else {
                throw Failure("invalid_credential", "--jwks-uri must use https")
            }
            if let reason = InternalHost.reason(host), !configuration.agents.jwksURIAllowedInternalHosts.contains(host: host) {
                throw Failure("invalid_credential", "--jwks-uri host \(host) \(reason): an agent's keys are fetched from public addresses only, "
                              + "unless the host is named in agents.jwks_uri_allowed_internal_hosts")
            }
            return (.jwksURI(url), nil)
        case .newSecret:
            guard configuration.agents.allowClientSecret else {
                throw Failure("secret_not_allowed", "agents authenticate with their own keys (private_key_jwt); agents.allow_client_secret is off")
            }
            // Generated, 256 bits: stored as its SHA-256 (`SecretHash`), so a wrong one costs a hash.
            let (secret, encoded) = SecretHash.generate()
            return (.secretHash(encoded), secret)
        }
    }

    /// The audit record of an administrative change to `agent`, made `by` someone
    /// (`performer(_:)`, or `local:{user}` for the CLI).
    public static func event(_ reason: String, agent: AgentRecord, time: Date, by performer: String?) -> AuditEvent {
        AuditEvent(kind: .administration, reason: ReasonCode(reason), time: time, issuer: agent.owner.issuer, tenant: agent.owner.tenant,
                   subject: agent.owner.subject, clientID: agent.id, principalClass: PrincipalClass.agent.rawValue,
                   actor: agent.id, owner: agent.owner.subject, performedBy: performer)
    }

    /// The revocation record of `token`, ended because `agent` was disabled: a feed event, so
    /// gateways subscribed to the revocation feed drop it at once.
    public static func disabledAgentTokenEvent(_ token: IssuedToken, agent: AgentRecord, time: Date, by performer: String?) -> AuditEvent {
        AuditEvent(kind: .revocation, reason: .agentDisabled, time: time, issuer: token.subject.issuer, tenant: token.subject.tenant,
                   subject: token.subject.subject, clientID: token.clientID, principalClass: token.principal.rawValue, server: token.resource,
                   scopes: token.scope, tokenID: token.jti, actor: agent.id, owner: agent.owner.subject, performedBy: performer)
    }

    /// Sets `agent`'s status in `store`, audited as `reason` by `performer`; disabling revokes the
    /// agent's live tokens in the same transaction. Nil when the agent is gone.
    public static func setStatus(_ agent: AgentRecord, _ status: AgentRecord.Status, at time: Date, reason: String, by performer: String?,
                                 store: any AgentRegistry) async throws -> (agent: AgentRecord, revoked: [IssuedToken])? {
        let changed = agent.with(status: status, at: time)
        guard let revoked = try await store.setAgentStatus(id: agent.id, status, at: time, audit: event(reason, agent: changed, time: time, by: performer),
                                                           revocation: { disabledAgentTokenEvent($0, agent: changed, time: time, by: performer) }) else {
            return nil
        }
        return (changed, revoked)
    }

    /// How the audit names a person who made a change: `person:{issuer} [{tenant}] {sub}`.
    public static func performer(_ person: SubjectKey) -> String { "person:" + person.description }

    /// How the audit names the CLI's operator: `local:{user}` (the login name, or the uid).
    public static func localPerformer(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        "local:" + (environment["USER"] ?? environment["LOGNAME"] ?? "uid-\(getuid())")
    }

    /// An agent's grant as `SERVER:ITEM[,ITEM...]` specs, the form `grant(parsing:)` reads.
    public static func specs(_ grant: AgentGrant) -> [String] {
        grant.entries.map { entry in
            let server: String
            switch entry.servers {
            case .all: server = "*"
            case .named(let names): server = names.joined(separator: "+")
            }
            return server + ":" + (entry.categories.map(\.rawValue).sorted() + entry.tools).joined(separator: ",")
        }
    }

    /// An agent as the CLI shows it and the management API returns it; never a secret or a key.
    public static func json(_ agent: AgentRecord) -> JSONObject {
        var owner = JSONObject(["issuer": .string(agent.owner.issuer), "subject": .string(agent.owner.subject)])
        if let tenant = agent.owner.tenant { owner["tenant"] = .string(tenant) }
        let credential: JSONObject
        switch agent.credential {
        case .jwks: credential = JSONObject(["kind": .string("jwks")])
        case .jwksURI(let url): credential = JSONObject(["kind": .string("jwks_uri"), "jwks_uri": .string(url)])
        case .secretHash: credential = JSONObject(["kind": .string("client_secret")])
        }
        let f = ISO8601DateFormatter()
        return JSONObject([
            "id": .string(agent.id), "display_name": .string(agent.displayName), "owner": .object(owner),
            "credential": .object(credential), "grant": .array(specs(agent.grant).map(JSONValue.string)),
            "mode": .string(agent.mode.rawValue), "status": .string(agent.status.rawValue),
            "created_at": .string(f.string(from: agent.createdAt)), "updated_at": .string(f.string(from: agent.updatedAt)),
        ])
    }

    /// The records of a subject's revocation (`Offboarding.revocationEvents`).
    public static func revocationEvents(owner: SubjectKey, outcome: OwnerOffboarding, time: Date, reason: ReasonCode = .subjectOffboarded,
                                        by performer: String?) -> [AuditEvent] {
        Offboarding.revocationEvents(owner: owner, outcome: outcome, time: time, reason: reason, by: performer)
    }
}
