import BridgekeeperAudit
public import BridgekeeperConfig
public import BridgekeeperCore
public import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperPolicy
public import BridgekeeperStore
public import BridgekeeperRevocation
import Foundation
import BridgekeeperClientAuth
public import BridgekeeperEndpoint

/// The management API (`/admin/v1`, issue 5): administrators manage every agent, and a person
/// registers, disables and re-keys their own within `agents.self_service`.
///
/// It is a protected resource of Bridgekeeper itself (`MCPServer.management`, resource
/// `{issuer}/admin`). A caller presents an access token Bridgekeeper minted for that resource
/// (RFC 6750 bearer), obtained like any other: policy decides who holds `agents.read`,
/// `agents.manage` or `agents.admin`. Tokens of agents are refused: an agent never administers
/// agents. Every change is written with its audit record naming who made it; every refusal is
/// audited with its reason.
public struct ManagementAPI: APIEndpoint {
    let configuration: Configuration
    let store: any AgentRegistry & AuditLog & SignalInbox & RevocationFeedStore
    let tokens: TokenManagement
    /// Offboardings made through the API take the signal path (inbox, receipt).
    let signals: SignalProcessor?
    let clock: any WallClock
    let server: MCPServer

    public init(configuration: Configuration, store: any AgentRegistry & AuditLog & SignalInbox & RevocationFeedStore, tokens: TokenManagement, clock: any WallClock,
                signals: SignalProcessor? = nil) throws {
        self.configuration = configuration
        self.signals = signals
        self.store = store
        self.tokens = tokens
        self.clock = clock
        self.server = try configuration.catalog.server(named: MCPServer.managementName) ?? MCPServer.management(issuer: configuration.issuer)
    }

    /// A refusal: HTTP status, wire code, description, audited reason, and the scope that was missing.
    struct Refusal: Error {
        let status: Int
        let code: String
        let message: String
        let reason: ReasonCode
        var scope: String? = nil
    }

    /// Who called, from their bearer token, and which of the API's tools they hold.
    struct Caller {
        let subject: SubjectKey
        let tools: Set<String>
        var performer: String { AgentAdministration.performer(subject) }
        var isAdministrator: Bool { tools.contains(ManagementTool.admin) }
        func holds(_ tool: String) -> Bool { tools.contains(tool) }

        /// Whether the caller's administration reaches `person`: their own IdP and tenant, or
        /// every one with `admin.all_tenants` (granted only by a rule that names it).
        func reaches(_ person: SubjectKey, configuration: Configuration) -> Bool {
            if holds(ManagementTool.allTenants) { return true }
            guard let own = configuration.idp(issuing: subject.issuer), let theirs = configuration.idp(issuing: person.issuer) else { return false }
            return own.name.isExactly(theirs.name) && person.tenant.isExactly(subject.tenant)
        }
    }

    /// Refuses an administrator acting on a person outside their IdP and tenant.
    func requireReach(_ caller: Caller, _ person: SubjectKey) throws {
        guard caller.reaches(person, configuration: configuration) else {
            throw Refusal(status: 403, code: "insufficient_scope",
                          message: "that person belongs to another IdP or tenant than yours; administering them needs admin.all_tenants",
                          reason: .outsideAdministrationReach, scope: scope(of: ManagementTool.allTenants))
        }
    }

    public func handle(_ request: APIRequest) async -> EndpointResponse {
        var caller: Caller? = nil
        var agentID: String? = nil
        do {
            let authenticated = try await authenticate(request.authorization)
            caller = authenticated
            switch (request.method, request.path.count) {
            case ("GET", 1) where request.path[0] == "agents":
                return try await list(authenticated, query: request.query)
            case ("POST", 1) where request.path[0] == "agents":
                return try await create(authenticated, body: try body(request))
            case ("GET", 2) where request.path[0] == "agents":
                agentID = request.path[1]
                return try await show(authenticated, id: request.path[1])
            case ("POST", 3) where request.path[0] == "agents":
                agentID = request.path[1]
                switch request.path[2] {
                case "disable": return try await setStatus(authenticated, id: request.path[1], .disabled)
                case "enable": return try await setStatus(authenticated, id: request.path[1], .active)
                case "rotate-key": return try await rotateKey(authenticated, id: request.path[1], body: try body(request))
                default: throw Refusal(status: 404, code: "not_found", message: "no such operation", reason: .managementNotFound)
                }
            case ("GET", 1) where request.path[0] == "receipts":
                return try await receipts(authenticated, query: request.query)
            case ("GET", 2) where request.path[0] == "receipts":
                return try await receipt(authenticated, id: request.path[1])
            case ("POST", 2) where request.path[0] == "users":
                switch request.path[1] {
                case "offboard": return try await actOnUser(authenticated, body: try body(request), action: .offboard)
                case "revoke-sessions": return try await actOnUser(authenticated, body: try body(request), action: .revokeSessions)
                case "enable": return try await actOnUser(authenticated, body: try body(request), action: .enable)
                default: throw Refusal(status: 404, code: "not_found", message: "no such operation", reason: .managementNotFound)
                }
            default:
                throw Refusal(status: 404, code: "not_found", message: "no such resource", reason: .managementNotFound)
            }
        } catch let refusal as Refusal {
            let event = AuditEvent(kind: .denial, reason: refusal.reason, time: clock.now(), issuer: caller?.subject.issuer,
                                   tenant: caller?.subject.tenant, subject: caller?.subject.subject, clientID: agentID,
                                   principalClass: caller == nil ? nil : PrincipalClass.human.rawValue, server: server.resource.canonical,
                                   remoteAddress: request.remoteAddress, performedBy: caller?.performer)
            do { _ = try await store.append(event) } catch { return .serverError }
            return response(refusal)
        } catch {
            return .serverError
        }
    }

    // MARK: - Authentication (RFC 6750)

    func authenticate(_ authorization: String?) async throws -> Caller {
        guard let authorization else {
            throw Refusal(status: 401, code: "", message: "", reason: .managementTokenMissing)
        }
        guard let bearer = BearerToken.from(authorization: authorization) else {
            throw Refusal(status: 400, code: "invalid_request", message: "send the access token as Authorization: Bearer", reason: .managementTokenMissing)
        }
        guard let state = await tokens.activeState(bearer) else {
            throw Refusal(status: 401, code: "invalid_token", message: "the access token is not active", reason: .managementTokenInvalid)
        }
        let token = state.token
        guard (try? ResourceURI(token.resource)) == server.resource else {
            throw Refusal(status: 401, code: "invalid_token", message: "the access token is for another resource", reason: .managementTokenWrongAudience)
        }
        guard token.principal == .human, token.agent == nil else {
            throw Refusal(status: 403, code: "insufficient_scope", message: "agents never administer agents", reason: .agentNotAllowed)
        }
        let scopes = Set(token.scope)
        let tools = Set(server.tools.filter { scopes.contains($0.scope) }.map(\.name))
        return Caller(subject: token.subject, tools: tools)
    }

    func require(_ caller: Caller, anyOf needed: [String]) throws {
        guard needed.contains(where: caller.holds) else {
            let scope = server.tools.filter { needed.contains($0.name) }.map(\.scope).joined(separator: " ")
            throw Refusal(status: 403, code: "insufficient_scope", message: "this needs \(needed.joined(separator: " or "))",
                          reason: .insufficientScope, scope: scope)
        }
    }

    // MARK: - People and receipts (users.admin)

    /// `{"subject", "idp"?, "tenant"?}` → the person's key.
    func person(_ object: JSONObject) throws -> SubjectKey {
        try allowMembers(object, ["subject", "idp", "tenant"])
        guard let subject = try optionalString(object, "subject") else { throw badRequest("subject is required") }
        let idp = try optionalString(object, "idp")
        let tenant = try optionalString(object, "tenant")
        return try failing { () throws(AgentAdministration.Failure) in
            try AgentAdministration.owner(subject: subject, idp: idp, tenant: tenant, configuration: configuration)
        }
    }

    /// An operator's offboarding, session revocation or re-enabling, through the signal path: the
    /// same inbox, audit and signed receipt as an IdP's signal. 200 with what was done.
    func actOnUser(_ caller: Caller, body: JSONObject, action: InboundSignal.Action) async throws -> EndpointResponse {
        try require(caller, anyOf: [ManagementTool.users])
        let subject = try person(body)
        try requireReach(caller, subject)
        guard let signals else { return .serverError }
        let signal = signals.signal(source: .operator, connection: caller.performer, externalID: nil, event: "admin:users-\(action.name)",
                                    subject: subject, action: action)
        var object = JSONObject(["signal_id": .string(signal.id), "subject": .string(subject.subject)])
        switch try await signals.submit(signal) {
        case .processed(_, .revoked(let outcome, let receipt)):
            object["agents_disabled"] = .array(outcome.agentsDisabled.map(JSONValue.string))
            object["tokens_revoked"] = .number(JSONNumber(Int64(outcome.tokensRevoked.count)))
            if let receipt { object["receipt_id"] = .string(receipt.id) }
            if outcome.disableSuperseded { object["disable_superseded"] = .bool(true) }
        case .processed(_, .enabled(let wasDisabled)):
            object["was_disabled"] = .bool(wasDisabled)
        case .processed(_, .narrowed(let revoked)):
            object["tokens_revoked"] = .number(JSONNumber(Int64(revoked.count)))
        case .processed(_, .superseded(let current)):
            object["superseded_by_change_at"] = .string(ISO8601DateFormatter().string(from: current))
        case .pending, .duplicate:
            // Durable, and the maintenance loop finishes it.
            return EndpointResponse(status: 202, body: JSONValue.object(object).serialized())
        }
        return EndpointResponse(status: 200, body: JSONValue.object(object).serialized())
    }

    func receipt(_ caller: Caller, id: String) async throws -> EndpointResponse {
        try require(caller, anyOf: [ManagementTool.users])
        guard let receipt = try await store.receipt(id: id), caller.reaches(receipt.subject, configuration: configuration) else {
            throw Refusal(status: 404, code: "not_found", message: "no such receipt", reason: .managementNotFound)
        }
        return EndpointResponse(status: 200, body: JSONValue.object(try await json(receipt)).serialized())
    }

    func receipts(_ caller: Caller, query: [String: String]) async throws -> EndpointResponse {
        try require(caller, anyOf: [ManagementTool.users])
        var object = JSONObject()
        for name in ["subject", "idp", "tenant"] { if let value = query[name] { object[name] = .string(value) } }
        let subject = try person(object)
        try requireReach(caller, subject)
        var found: [JSONValue] = []
        for receipt in try await store.receipts(of: subject) { found.append(.object(try await json(receipt))) }
        return EndpointResponse(status: 200, body: JSONValue.object(JSONObject(["receipts": .array(found)])).serialized())
    }

    /// A receipt as the API returns it: the JWS (verify it with our JWKS), its claims, and the
    /// gateways that confirmed it through the revocation feed.
    func json(_ receipt: StoredReceipt) async throws -> JSONObject {
        var object = JSONObject(["id": .string(receipt.id), "signal_id": .string(receipt.signalID), "jws": .string(receipt.jws),
                                 "issued_at": .string(ISO8601DateFormatter().string(from: receipt.issuedAt))])
        if let claims = try? UnverifiedJWS(compact: receipt.jws).unverifiedClaims() { object["claims"] = .object(claims) }
        for member in try await ReceiptAcknowledgements.json(receipt, store: store).members { object[member.name] = member.value }
        return object
    }

    // MARK: - Operations

    func list(_ caller: Caller, query: [String: String]) async throws -> EndpointResponse {
        try require(caller, anyOf: [ManagementTool.read, ManagementTool.manage, ManagementTool.admin])
        var owner: SubjectKey? = caller.subject
        if caller.isAdministrator {
            if let subject = query["owner"] {
                owner = try failing { () throws(AgentAdministration.Failure) in
                    try AgentAdministration.owner(subject: subject, idp: query["owner_idp"], tenant: query["owner_tenant"], configuration: configuration)
                }
            } else {
                owner = nil
            }
        } else if query["owner"] != nil {
            try require(caller, anyOf: [ManagementTool.admin])
        }
        if let owner { try requireReach(caller, owner) }
        // An administrator without admin.all_tenants lists only the agents of their own IdP and tenant.
        let agents = try await store.agents(ownedBy: owner).filter { caller.reaches($0.owner, configuration: configuration) }
        return EndpointResponse(status: 200, body: JSONValue.object(JSONObject(["agents": .array(agents.map { .object(AgentAdministration.json($0)) })])).serialized())
    }

    func show(_ caller: Caller, id: String) async throws -> EndpointResponse {
        try require(caller, anyOf: [ManagementTool.read, ManagementTool.manage, ManagementTool.admin])
        let agent = try await visibleAgent(caller, id: id)
        return EndpointResponse(status: 200, body: JSONValue.object(AgentAdministration.json(agent)).serialized())
    }

    /// The agent, when the caller may see it: their own, or any for an administrator. Another
    /// person's agent is answered like a missing one, so ids cannot be probed.
    func visibleAgent(_ caller: Caller, id: String) async throws -> AgentRecord {
        guard let agent = try await store.agent(id: id),
              agent.owner == caller.subject || (caller.isAdministrator && caller.reaches(agent.owner, configuration: configuration)) else {
            throw Refusal(status: 404, code: "not_found", message: "no agent \(id)", reason: .unknownAgent)
        }
        return agent
    }

    func create(_ caller: Caller, body: JSONObject) async throws -> EndpointResponse {
        try require(caller, anyOf: [ManagementTool.manage, ManagementTool.admin])
        try allowMembers(body, ["id", "display_name", "owner", "grant", "mode", "credential"])
        guard let id = body["id"]?.stringValue else { throw badRequest("id is required (a string)") }
        let modeText = try optionalString(body, "mode") ?? AgentMode.onBehalfOfOwner.rawValue
        guard let mode = AgentMode(rawValue: modeText) else { throw badRequest("mode must be itself or on_behalf_of_owner") }
        guard let grantValues = body["grant"]?.arrayValue, case let specs = grantValues.compactMap(\.stringValue), specs.count == grantValues.count else {
            throw badRequest("grant is required: a list of SERVER:ITEM[,ITEM...] strings")
        }
        let displayName = try optionalString(body, "display_name") ?? id
        guard !displayName.isEmpty, displayName.utf8.count <= 200 else { throw badRequest("display_name is 1 to 200 bytes") }
        let input = try credentialInput(body["credential"])
        let now = clock.now()

        let owner: SubjectKey
        if let ownerNode = body["owner"] {
            guard caller.isAdministrator else {
                throw Refusal(status: 403, code: "insufficient_scope", message: "only an administrator registers an agent for someone else",
                              reason: .insufficientScope, scope: scope(of: ManagementTool.admin))
            }
            guard let object = ownerNode.objectValue, let subject = object["subject"]?.stringValue else {
                throw badRequest("owner is an object with subject (and idp, tenant)")
            }
            try allowMembers(object, ["subject", "idp", "tenant"])
            owner = try failing { () throws(AgentAdministration.Failure) in
                try AgentAdministration.owner(subject: subject, idp: try? optionalString(object, "idp"), tenant: try? optionalString(object, "tenant"),
                                              configuration: configuration)
            }
        } else {
            owner = caller.subject
        }
        try requireReach(caller, owner)
        let grant = try failing { () throws(AgentAdministration.Failure) in
            try AgentAdministration.checkID(id, configuration: configuration)
            return try AgentAdministration.grant(parsing: specs, catalog: configuration.catalog)
        }
        if !caller.isAdministrator {
            try withinSelfServiceLimits(grant: grant, mode: mode, credential: input)
            let count = try await store.agents(ownedBy: owner).count
            guard count < configuration.agents.selfService.maxAgentsPerOwner else {
                throw Self.beyondSelfService("you have \(count) agents; the limit is \(configuration.agents.selfService.maxAgentsPerOwner)")
            }
        }
        let made = try failing { () throws(AgentAdministration.Failure) in try AgentAdministration.credential(input, configuration: configuration) }
        let agent = AgentRecord(id: id, displayName: displayName, owner: owner, credential: made.0, grant: grant, mode: mode, createdAt: now)
        guard try await store.addAgent(agent, audit: AgentAdministration.event("agent_created", agent: agent, time: now, by: caller.performer)) else {
            throw Refusal(status: 409, code: "agent_exists", message: "an agent with id \(id) is already registered", reason: .agentExists)
        }
        var object = AgentAdministration.json(agent)
        if let secret = made.secret { object["client_secret"] = .string(secret) }
        return EndpointResponse(status: 201, body: JSONValue.object(object).serialized(), headers: ["Location": "/admin/v1/agents/\(id)"])
    }

    /// What a person may register for themselves (`agents.self_service`).
    func withinSelfServiceLimits(grant: AgentGrant, mode: AgentMode, credential: AgentAdministration.CredentialInput) throws {
        let limits = configuration.agents.selfService
        guard limits.maxAgentsPerOwner > 0 else { throw Self.beyondSelfService("self-service registration is off") }
        guard limits.modes.contains(mode) else { throw Self.beyondSelfService("mode \(mode.rawValue) is for administrators to grant") }
        try withinSelfServiceLimits(credential: credential)
        for entry in grant.entries {
            if let category = entry.categories.first(where: { !limits.categories.contains($0) }) {
                throw Self.beyondSelfService("category \(category.rawValue) is for administrators to grant")
            }
            for name in entry.tools {
                let servers = configuration.catalog.servers.filter { entry.servers.include($0) }
                let tool = servers.lazy.compactMap { $0.tools.first { $0.name == name } }.first
                if let tool, !limits.categories.contains(tool.category) {
                    throw Self.beyondSelfService("tool \(name) (\(tool.category.rawValue)) is for administrators to grant")
                }
            }
        }
    }

    /// A credential a person may give their own agent: keys, not a URL the broker fetches, unless
    /// `agents.self_service.allow_jwks_uri`.
    func withinSelfServiceLimits(credential: AgentAdministration.CredentialInput) throws {
        if case .jwksURI = credential, !configuration.agents.selfService.allowJWKSURI {
            throw Self.beyondSelfService("give the agent's public keys (jwks); a jwks_uri is for administrators")
        }
    }

    static func beyondSelfService(_ message: String) -> Refusal {
        Refusal(status: 403, code: "self_service_limit", message: message, reason: .selfServiceLimit)
    }

    func setStatus(_ caller: Caller, id: String, _ status: AgentRecord.Status) async throws -> EndpointResponse {
        // Enabling is an administrator's: a person cannot undo a disable made by the security team.
        try require(caller, anyOf: status == .active ? [ManagementTool.admin] : [ManagementTool.manage, ManagementTool.admin])
        let agent = try await visibleAgent(caller, id: id)
        guard agent.status != status else {
            return EndpointResponse(status: 200, body: JSONValue.object(AgentAdministration.json(agent)).serialized())
        }
        let reason = status == .active ? "agent_enabled" : "agent_disabled"
        guard let (changed, revoked) = try await AgentAdministration.setStatus(agent, status, at: clock.now(), reason: reason, by: caller.performer,
                                                                           store: store) else {
            throw Refusal(status: 404, code: "not_found", message: "no agent \(id)", reason: .unknownAgent)
        }
        var object = AgentAdministration.json(changed)
        if status == .disabled { object["tokens_revoked"] = .number(JSONNumber(Int64(revoked.count))) }
        return EndpointResponse(status: 200, body: JSONValue.object(object).serialized())
    }

    func rotateKey(_ caller: Caller, id: String, body: JSONObject) async throws -> EndpointResponse {
        try require(caller, anyOf: [ManagementTool.manage, ManagementTool.admin])
        try allowMembers(body, ["credential"])
        let input = try credentialInput(body["credential"])
        let agent = try await visibleAgent(caller, id: id)
        if !caller.isAdministrator { try withinSelfServiceLimits(credential: input) }
        let made = try failing { () throws(AgentAdministration.Failure) in try AgentAdministration.credential(input, configuration: configuration) }
        let changed = agent.with(credential: made.0, at: clock.now())
        guard try await store.setAgentCredential(id: id, made.0, at: changed.updatedAt,
                                                 audit: AgentAdministration.event("agent_key_rotated", agent: changed, time: changed.updatedAt,
                                                                                  by: caller.performer)) else {
            throw Refusal(status: 404, code: "not_found", message: "no agent \(id)", reason: .unknownAgent)
        }
        var object = AgentAdministration.json(changed)
        if let secret = made.secret { object["client_secret"] = .string(secret) }
        return EndpointResponse(status: 200, body: JSONValue.object(object).serialized())
    }

    // MARK: - Request bodies

    func body(_ request: APIRequest) throws -> JSONObject {
        guard request.contentType == "application/json" else {
            throw badRequest("the body must be application/json")
        }
        guard let value = try? JSONValue.parse(request.body, limits: JSONLimits(maxBytes: 65_536, maxDepth: 8)), let object = value.objectValue else {
            throw badRequest("the body must be one JSON object")
        }
        return object
    }

    /// `{"jwks": {...}}`, `{"jwks_uri": "https://..."}` or `{"client_secret": true}`.
    func credentialInput(_ node: JSONValue?) throws -> AgentAdministration.CredentialInput {
        guard let object = node?.objectValue, object.count == 1 else {
            throw badRequest("credential is an object with exactly one of jwks, jwks_uri, client_secret")
        }
        if let jwks = object["jwks"] {
            guard jwks.objectValue != nil else { throw badRequest("credential.jwks is a JWK Set object") }
            return .jwksFile(contents: Array(jwks.serialized().utf8))
        }
        if let uri = object["jwks_uri"] {
            guard let text = uri.stringValue else { throw badRequest("credential.jwks_uri is a string") }
            return .jwksURI(text)
        }
        if object["client_secret"] == .bool(true) { return .newSecret }
        throw badRequest("credential is an object with exactly one of jwks, jwks_uri, client_secret: true")
    }

    func allowMembers(_ object: JSONObject, _ allowed: Set<String>) throws {
        if let unknown = object.names.first(where: { !allowed.contains($0) }) { throw badRequest("unknown member \(unknown)") }
    }

    func optionalString(_ object: JSONObject, _ name: String) throws -> String? {
        guard let value = object[name] else { return nil }
        guard let text = value.stringValue else { throw badRequest("\(name) must be a string") }
        return text
    }

    func badRequest(_ message: String) -> Refusal {
        Refusal(status: 400, code: "invalid_request", message: message, reason: .malformedAPIRequest)
    }

    func scope(of tool: String) -> String? { server.tools.first { $0.name == tool }?.scope }

    /// Runs an `AgentAdministration` check; its failure is a 400 naming what is wrong.
    func failing<T>(_ body: () throws(AgentAdministration.Failure) -> T) throws -> T {
        do { return try body() } catch {
            throw Refusal(status: error.code == "secret_not_allowed" ? 403 : 400, code: error.code == "secret_not_allowed" ? "self_service_limit" : "invalid_request",
                          message: error.reason, reason: ReasonCode(error.code))
        }
    }

    // MARK: - Responses

    /// JSON error bodies; 401 and 403 carry RFC 6750 §3 `WWW-Authenticate` with the RFC 9728
    /// `resource_metadata` of the API, and the scope that was missing.
    func response(_ refusal: Refusal) -> EndpointResponse {
        var headers: [String: String] = [:]
        let metadata = Metadata.endpoint(configuration.issuer, "/servers/\(server.name)/oauth-protected-resource")
        if refusal.status == 401 || refusal.status == 403 {
            var challenge = "Bearer realm=\"bridgekeeper\", resource_metadata=\"\(metadata)\""
            if !refusal.code.isEmpty { challenge += ", error=\"\(refusal.code)\"" }
            if let scope = refusal.scope { challenge += ", scope=\"\(scope)\"" }
            headers["WWW-Authenticate"] = challenge
        }
        var body = JSONObject()
        if !refusal.code.isEmpty {
            body["error"] = .string(refusal.code)
            body["error_description"] = .string(OAuthError.descriptionSafe(refusal.message))
        } else {
            body["error"] = .string("invalid_token")
            body["error_description"] = .string("send an access token for the management API as Authorization: Bearer")
        }
        return EndpointResponse(status: refusal.status, body: JSONValue.object(body).serialized(), headers: headers)
    }
}

extension ReasonCode {
    /// No bearer token (or another scheme) on a management API request.
    public static let managementTokenMissing = ReasonCode("management_token_missing")
    /// The bearer token is not one of ours, or is expired, revoked, or its subject disabled.
    public static let managementTokenInvalid = ReasonCode("management_token_invalid")
    /// The bearer token was minted for another resource than the management API.
    public static let managementTokenWrongAudience = ReasonCode("management_token_wrong_audience")
    /// An agent's token was presented to the management API.
    public static let agentNotAllowed = ReasonCode("agent_not_allowed")
    /// The token lacks the management tool the operation needs.
    public static let insufficientScope = ReasonCode("insufficient_scope")
    /// An administrator acted on a person of another IdP or tenant without `admin.all_tenants`.
    public static let outsideAdministrationReach = ReasonCode("outside_administration_reach")
    /// A self-registration beyond `agents.self_service`.
    public static let selfServiceLimit = ReasonCode("self_service_limit")
    /// An agent id already registered.
    public static let agentExists = ReasonCode("agent_exists")
    /// A management request that is not valid JSON of the expected shape.
    public static let malformedAPIRequest = ReasonCode("malformed_management_request")
    /// No such route, or an agent the caller may not see.
    public static let managementNotFound = ReasonCode("management_not_found")
}
