import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation
import Synchronization
import BridgekeeperKeys
public import BridgekeeperSignalSettings
public import BridgekeeperEndpoint

/// The SCIM 2.0 service provider at `/scim/v2` (RFC 7643, RFC 7644; issue 6).
///
/// Each IdP connection authenticates with its own bearer token and sees only its own resources.
/// Deactivating a User (`active: false` by PUT or PATCH, in any dialect) or deleting it offboards
/// the person: disabled, their agents disabled, every token of theirs and their agents' revoked,
/// with a signed receipt. Re-activating lets them get tokens again (nothing comes back). Group
/// membership changes record the members' groups (what bounds their agents and feeds policy) and
/// revoke the tokens that now exceed it. Each write and the signals it raises are one transaction;
/// the revocation work follows within the same request, and a failure there never fails the write
/// (the IdP would retry forever): the signal stays pending and is retried.
public struct SCIMService: APIEndpoint {
    public static let userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
    public static let groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
    public static let enterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    static let listSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    static let errorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
    /// Largest page (`ServiceProviderConfig.filter.maxResults`).
    static let maxResults = 200
    /// The bounds of what one request may make the service do (docs/offboarding.md).
    public struct Limits: Sendable {
        /// Most resources a filter is evaluated over when the store cannot answer it by one
        /// look-up (anything but `userName`, `displayName`, `externalId` or `id` `eq` a string,
        /// alone or as one operand of a top-level `and`): past it the filter is refused with
        /// `tooMany` (RFC 7644 §3.12). Default 10,000.
        public var maxFilterScan = 10_000
        /// Most members a Group may have. Default 50,000.
        public var maxGroupMembers = 50_000
        /// Most members one request (POST, PUT or PATCH) may add to a Group: each added member
        /// with a subject raises a signal, written in the write's transaction and processed before
        /// the IdP is answered. Default 10,000.
        public var maxMembersAddedPerRequest = 10_000

        public init() {}
    }
    /// Largest request body parsed, in bytes. The HTTP layer reads at most 64 KiB of a JSON API
    /// body today, so over the wire this is never the binding limit.
    static let maxBodyBytes = 1 << 20

    let baseURL: String
    let connections: [SCIMConnection]
    let store: any SCIMStore & AuditLog
    let signals: SignalProcessor
    let clock: any WallClock
    let limits: Limits
    /// Tokens already checked: a token's PBKDF2 check is paid once per process. Its limits are keyed
    /// by the peer address (a bearer token claims no connection).
    let known: SecretMemo

    public init(issuer: String, connections: [SCIMConnection], store: any SCIMStore & AuditLog, signals: SignalProcessor, clock: any WallClock,
                limits: Limits = Limits(), credentialLimits: CredentialLimits = .none) {
        self.known = SecretMemo(limits: credentialLimits)
        self.limits = limits
        self.baseURL = (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/scim/v2"
        self.connections = connections
        self.store = store
        self.signals = signals
        self.clock = clock
    }

    /// A SCIM error (RFC 7644 §3.12), audited with `reason`.
    struct Refusal: Error {
        let status: Int
        let scimType: String?
        let detail: String
        let reason: ReasonCode
        /// For a 429: the `Retry-After` seconds.
        var retryAfter: Int? = nil

        /// 429 with `Retry-After` and a SCIM error body (RFC 7644 §3.12 allows any HTTP status; RFC 6585 §4).
        static func rateLimited(_ retryAfter: Int) -> Refusal {
            Refusal(status: 429, scimType: nil, detail: "too many requests", reason: .rateLimited, retryAfter: retryAfter)
        }
    }

    public func handle(_ request: APIRequest) async -> EndpointResponse {
        var connection: SCIMConnection? = nil
        do {
            let caller = try authenticate(request.authorization, remote: request.remoteAddress)
            connection = caller
            return try await route(request, caller)
        } catch let refusal as Refusal {
            let event = AuditEvent(kind: .denial, reason: refusal.reason, time: clock.now(), remoteAddress: request.remoteAddress,
                                   performedBy: connection.map { "scim:\($0.name)" })
            do { _ = try await store.appendRefusal(event) } catch { return Self.error(500, nil, "temporarily unavailable") }
            let response = Self.error(refusal.status, refusal.scimType, refusal.detail)
            if let retryAfter = refusal.retryAfter { return response.adding(["Retry-After": String(retryAfter)]) }
            return refusal.status == 401 ? response.adding(["WWW-Authenticate": "Bearer realm=\"bridgekeeper-scim\""]) : response
        } catch {
            return Self.error(500, nil, "temporarily unavailable")
        }
    }

    /// The connection whose token is presented. The per-address limit comes first; a PBKDF2 check
    /// of a token not known good only within the address's `secretChecks` budget.
    func authenticate(_ authorization: String?, remote: String?) throws -> SCIMConnection {
        let key = SecretMemo.limitKey("scim", remote: remote)
        let now = clock.now()
        if let retryAfter = known.limits.refuseRequest(key, now: now) { throw Refusal.rateLimited(retryAfter) }
        let parts = authorization?.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true) ?? []
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Refusal(status: 401, scimType: nil, detail: "send the connection's token as Authorization: Bearer", reason: .scimUnauthorized)
        }
        let token = String(parts[1]).trimmingCharacters(in: .whitespaces)
        if let name = known.source(of: token), let connection = connections.first(where: { $0.name == name }) { return connection }
        for connection in connections {
            switch known.check(token, connection.tokenHash, source: connection.name, key: key, now: now) {
            case .match: return connection
            case .mismatch: continue
            case .refused(let retryAfter): throw Refusal.rateLimited(retryAfter)
            }
        }
        throw Refusal(status: 401, scimType: nil, detail: "the bearer token is not a SCIM connection's", reason: .scimUnauthorized)
    }

    func route(_ request: APIRequest, _ connection: SCIMConnection) async throws -> EndpointResponse {
        let path = request.path
        let method = request.method
        if ["ServiceProviderConfig", "ResourceTypes", "Schemas"].contains(path.first ?? ""), method != "GET" {
            throw Refusal(status: 405, scimType: nil, detail: "discovery documents are read-only", reason: .scimInvalidRequest)
        }
        if method != "GET", method != "DELETE" {
            guard request.contentType == "application/scim+json" || request.contentType == "application/json" else {
                throw Refusal(status: 415, scimType: nil, detail: "send application/scim+json", reason: .scimInvalidRequest)
            }
        }
        switch (method, path.first, path.count) {
        case ("GET", "ServiceProviderConfig", 1): return Self.ok(SCIMDiscovery.serviceProviderConfig(baseURL: baseURL, maxResults: Self.maxResults))
        case ("GET", "ResourceTypes", 1): return Self.ok(SCIMDiscovery.list(SCIMDiscovery.resourceTypes(baseURL: baseURL)))
        case ("GET", "ResourceTypes", 2):
            guard let found = SCIMDiscovery.resourceTypes(baseURL: baseURL).first(where: { $0["id"]?.stringValue == path[1] }) else { throw notFound() }
            return Self.ok(found)
        case ("GET", "Schemas", 1): return Self.ok(SCIMDiscovery.list(SCIMDiscovery.schemas(baseURL: baseURL)))
        case ("GET", "Schemas", 2):
            guard let found = SCIMDiscovery.schemas(baseURL: baseURL).first(where: { $0["id"]?.stringValue == path[1] }) else { throw notFound() }
            return Self.ok(found)
        case ("POST", ".search", 1):
            throw Refusal(status: 501, scimType: nil, detail: "search one resource type at a time (/Users/.search, /Groups/.search)",
                          reason: .scimInvalidRequest)
        case (_, "Users", _), (_, "Groups", _):
            let kind: SCIMResource.Kind = path[0] == "Users" ? .user : .group
            switch (method, path.count) {
            case ("GET", 1): return try await list(kind, connection, query: request.query)
            case ("POST", 2) where path[1] == ".search":
                // RFC 7644 §3.4.3: the same query as a POST body.
                let body = try json(request)
                var query: [String: String] = [:]
                for name in ["filter", "startIndex", "count"] {
                    if let value = body[member: name] { query[name] = value.stringValue ?? value.numberValue?.text }
                }
                for name in ["attributes", "excludedAttributes"] {
                    if case .array(let names)? = body[member: name] { query[name] = names.compactMap(\.stringValue).joined(separator: ",") }
                }
                return try await list(kind, connection, query: query)
            case ("POST", 1): return try await create(kind, connection, body: try json(request))
            case ("GET", 2):
                let found = try await existing(kind, connection, id: path[1])
                return Self.ok(Self.project(try await render([found], memberNames: Self.returns("members", query: request.query))[0], query: request.query))
            case ("PUT", 2): return try await replace(kind, connection, id: path[1], body: try json(request))
            case ("PATCH", 2): return try await patch(kind, connection, id: path[1], body: try json(request))
            case ("DELETE", 2): return try await delete(kind, connection, id: path[1])
            default: throw Refusal(status: 405, scimType: nil, detail: "method not allowed here", reason: .scimInvalidRequest)
            }
        default:
            throw notFound()
        }
    }

    // MARK: - Resources

    func list(_ kind: SCIMResource.Kind, _ connection: SCIMConnection, query: [String: String]) async throws -> EndpointResponse {
        let startIndex = max(Int(query["startIndex"] ?? "") ?? 1, 1)
        let count = min(max(Int(query["count"] ?? "") ?? Self.maxResults, 0), Self.maxResults)
        let total: Int
        let found: [SCIMResource]
        if let text = query["filter"] {
            let (filter, compiled) = try Self.filter(text, kind: kind)
            if let selector = Self.selector(filter, kind: kind) {
                // The shapes IdPs send: one indexed look-up, paged by the store.
                (total, found) = try await store.scimResources(kind, connection: connection.name, where: selector, startIndex: startIndex, count: count)
            } else {
                // Anything else is evaluated here, over the resources one conjunct's look-up
                // leaves or over all of the connection's, at most maxFilterScan of them.
                // The candidates are counted before any is read (count 0 reads no rows or members).
                let narrowed = Self.narrowing(filter, kind: kind) ?? .all
                let candidates = try await store.scimResources(kind, connection: connection.name, where: narrowed, startIndex: 1, count: 0).total
                guard candidates <= limits.maxFilterScan else {
                    throw Refusal(status: 400, scimType: "tooMany",
                                  detail: "the filter would be evaluated over more than \(limits.maxFilterScan) resources; add userName, displayName, externalId or id eq",
                                  reason: .scimFilterTooBroad)
                }
                let scanned = try await store.scimResources(kind, connection: connection.name, where: narrowed, startIndex: 1,
                                                            count: limits.maxFilterScan).resources
                var matching: [SCIMResource] = []
                for resource in scanned {
                    if compiled.matches(try Self.filterView(resource)) { matching.append(resource) }
                }
                total = matching.count
                found = Array(matching.dropFirst(startIndex - 1).prefix(count))
            }
        } else {
            (total, found) = try await store.scimResources(kind, connection: connection.name, where: .all, startIndex: startIndex, count: count)
        }
        let rendered = try await render(found, memberNames: Self.returns("members", query: query)).map { JSONValue.object(Self.project($0, query: query)) }
        return Self.ok(JSONObject([
            "schemas": .array([.string(Self.listSchema)]), "totalResults": .number(JSONNumber(Int64(total))),
            "startIndex": .number(JSONNumber(Int64(startIndex))), "itemsPerPage": .number(JSONNumber(Int64(rendered.count))),
            "Resources": .array(rendered),
        ]))
    }

    /// A `filter` parsed (RFC 7644 §3.4.2.2, `SCIMFilterParser`) and checked against the resource
    /// type's attributes (`SCIMFilterSchema`): anything else is `invalidFilter`.
    static func filter(_ text: String, kind: SCIMResource.Kind) throws -> (SCIMFilter, SCIMCompiledFilter) {
        do {
            let filter = try SCIMFilterParser.parseFilter(text)
            return (filter, try SCIMCompiledFilter(filter, schema: .of(kind)))
        } catch {
            throw Refusal(status: 400, scimType: "invalidFilter", detail: "invalid filter: \(error.detail)", reason: .scimInvalidFilter)
        }
    }

    /// The store's look-up for a filter that is exactly `userName`/`displayName` (of its kind),
    /// `externalId` or `id` `eq` a string: the filters IdPs send before acting.
    static func selector(_ filter: SCIMFilter, kind: SCIMResource.Kind) -> SCIMSelector? {
        guard case .compare(let path, .eq, .string(let value)) = filter, path.subAttribute == nil else { return nil }
        if let schema = path.schema, schema.lowercased() != SCIMFilterSchema.of(kind).coreSchema.lowercased() { return nil }
        switch path.name.lowercased() {
        case "username" where kind == .user, "displayname" where kind == .group: return .name(value)
        case "externalid": return .externalID(value)
        case "id": return .id(value)
        default: return nil
        }
    }

    /// A look-up that every match of `filter` satisfies: one conjunct of a top-level `and` that is
    /// a selector (Entra's `id eq "…" and members[value eq "…"]`).
    static func narrowing(_ filter: SCIMFilter, kind: SCIMResource.Kind) -> SCIMSelector? {
        guard case .and(let operands) = filter else { return nil }
        return operands.lazy.compactMap { selector($0, kind: kind) }.first
    }

    /// A resource as filters read it: its stored attributes with what the store keeps apart (`id`,
    /// `externalId`, the name, `active`, a Group's members) put back.
    static func filterView(_ resource: SCIMResource) throws -> JSONObject {
        var object = try storedAttributes(resource)
        func put(_ name: String, _ value: JSONValue?) { object[object.key(matching: name) ?? name] = value }
        put("id", .string(resource.id))
        put("externalId", resource.externalID.map(JSONValue.string))
        if resource.kind == .user {
            put("userName", .string(resource.name))
            put("active", .bool(resource.active))
        } else {
            put("displayName", .string(resource.name))
            put("members", .array(resource.members.map { .object(JSONObject(["value": .string($0), "type": "User"])) }))
        }
        return object
    }

    /// The attribute names of an `attributes` or `excludedAttributes` list, core schema prefixes
    /// dropped.
    static func names(_ list: String?) -> [String] {
        (list ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { name in
                for schema in [userSchema, groupSchema] where name.lowercased().hasPrefix(schema.lowercased() + ":") {
                    return String(name.dropFirst(schema.count + 1))
                }
                return name
            }
    }

    /// Whether `project` keeps the multi-valued `attribute` (`members`, `groups`): named, or with a
    /// sub-attribute, in `attributes` when that is given, and in no form in `excludedAttributes`
    /// (a sub-attribute of a multi-valued attribute removes it whole there).
    static func returns(_ attribute: String, query: [String: String]) -> Bool {
        func top(_ name: String) -> String { String(name.split(separator: ".", maxSplits: 1).first ?? "").lowercased() }
        let wanted = names(query["attributes"]), excluded = names(query["excludedAttributes"])
        if excluded.contains(where: { top($0) == attribute.lowercased() }) { return false }
        return wanted.isEmpty || wanted.contains { top($0) == attribute.lowercased() }
    }

    /// `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5): `id` and `schemas` are always
    /// returned; names compare without case; `name.givenName` keeps only that sub-attribute.
    static func project(_ resource: JSONObject, query: [String: String]) -> JSONObject {
        let wanted = names(query["attributes"]), excluded = names(query["excludedAttributes"])
        var result = resource
        if !wanted.isEmpty {
            result = JSONObject()
            for always in ["schemas", "id"] { result[always] = resource[always] }
            for name in wanted {
                let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
                guard let key = resource.key(matching: parts[0]), let value = resource[key] else { continue }
                if parts.count == 2, case .object(let object) = value, let sub = object.key(matching: parts[1]) {
                    var kept = result[key]?.objectValue ?? JSONObject()
                    kept[sub] = object[sub]
                    result[key] = .object(kept)
                } else {
                    result[key] = value
                }
            }
        }
        for name in excluded {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            guard let key = result.key(matching: parts[0]), !["id", "schemas"].contains(key) else { continue }
            if parts.count == 2, case .object(var object)? = result[key], let sub = object.key(matching: parts[1]) {
                object[sub] = nil
                result[key] = .object(object)
            } else {
                result[key] = nil
            }
        }
        return result
    }

    func existing(_ kind: SCIMResource.Kind, _ connection: SCIMConnection, id: String) async throws -> SCIMResource {
        guard let found = try await store.scimResource(kind, connection: connection.name, id: id) else { throw notFound() }
        return found
    }

    func create(_ kind: SCIMResource.Kind, _ connection: SCIMConnection, body: JSONObject) async throws -> EndpointResponse {
        let now = clock.now()
        let resource = try build(kind, connection, from: body, id: UUID().uuidString.lowercased(), created: now, version: 1, previous: nil)
        try checkMembers(resource, previous: nil)
        let raised = try await signalsFor(new: resource, previous: nil, connection: connection)
        switch try await store.writeSCIM(resource, replacing: nil, signals: raised) {
        case .written: break
        case .nameTaken: throw Refusal(status: 409, scimType: "uniqueness", detail: "\(kind == .user ? "userName" : "displayName") is taken", reason: .scimConflict)
        case .notFound, .changedSince: throw notFound()  // neither happens to a creation: its id is new
        }
        await process(raised)
        return Self.ok(try await render(resource), status: 201).adding(["Location": location(resource)])
    }

    func replace(_ kind: SCIMResource.Kind, _ connection: SCIMConnection, id: String, body: JSONObject) async throws -> EndpointResponse {
        try await update(kind, connection, id: id) { previous in
            try build(kind, connection, from: body, id: id, created: previous.created, version: previous.version + 1, previous: previous)
        }
    }

    func patch(_ kind: SCIMResource.Kind, _ connection: SCIMConnection, id: String, body: JSONObject) async throws -> EndpointResponse {
        try await update(kind, connection, id: id) { previous in
            let patched: JSONObject
            do {
                patched = try SCIMPatch.apply(body, to: try Self.patchable(previous))
            } catch let error as SCIMPatch.Failure {
                throw Refusal(status: 400, scimType: error.scimType, detail: error.detail, reason: .scimInvalidPatch)
            }
            return try build(kind, connection, from: patched, id: id, created: previous.created, version: previous.version + 1, previous: previous)
        }
    }

    /// How many times an update is read and applied again when another request wrote the resource
    /// in between (the store replaces only the version that was read).
    static let updateAttempts = 3

    /// Reads the resource, makes its next version with `next`, and writes it unless the stored one
    /// changed meanwhile; then reads and applies again, up to `updateAttempts` times, and past that
    /// answers 412 (RFC 7644 §3.12: "Failed to update. Resource has changed on the server"),
    /// audited, nothing written.
    func update(_ kind: SCIMResource.Kind, _ connection: SCIMConnection, id: String,
                _ next: (SCIMResource) throws -> SCIMResource) async throws -> EndpointResponse {
        for _ in 0..<Self.updateAttempts {
            let previous = try await existing(kind, connection, id: id)
            if let written = try await write(try next(previous), previous: previous, connection: connection) { return written }
        }
        throw Refusal(status: 412, scimType: nil, detail: "the resource changed on the server while it was being updated; send the request again",
                      reason: .scimConcurrentChange)
    }

    /// Writes `resource` over `previous`; nil when the stored resource is no longer `previous`.
    func write(_ resource: SCIMResource, previous: SCIMResource, connection: SCIMConnection) async throws -> EndpointResponse? {
        try checkMembers(resource, previous: previous)
        let raised = try await signalsFor(new: resource, previous: previous, connection: connection)
        switch try await store.writeSCIM(resource, replacing: previous, signals: raised) {
        case .written: break
        case .nameTaken: throw Refusal(status: 409, scimType: "uniqueness", detail: "that name is taken", reason: .scimConflict)
        case .notFound: throw notFound()
        case .changedSince: return nil
        }
        await process(raised)
        return Self.ok(try await render(resource))
    }

    /// A Group may hold at most `limits.maxGroupMembers` members and a request add at most
    /// `limits.maxMembersAddedPerRequest`; past either, 400 `invalidValue` (RFC 7644 §3.12: the value is
    /// not compatible with the resource as this service provider keeps it; `tooMany` is for
    /// filters and 413 for payloads over a size limit), audited, and nothing written.
    func checkMembers(_ resource: SCIMResource, previous: SCIMResource?) throws {
        guard resource.kind == .group else { return }
        if resource.members.count > limits.maxGroupMembers {
            throw Refusal(status: 400, scimType: "invalidValue", detail: "a group holds at most \(limits.maxGroupMembers) members",
                          reason: .scimTooManyMembers)
        }
        let added = SCIMResource.memberChanges(from: previous?.members ?? [], to: resource.members).added.count
        if added > limits.maxMembersAddedPerRequest {
            throw Refusal(status: 400, scimType: "invalidValue",
                          detail: "one request adds at most \(limits.maxMembersAddedPerRequest) members; send the rest in further requests",
                          reason: .scimTooManyMembers)
        }
    }

    func delete(_ kind: SCIMResource.Kind, _ connection: SCIMConnection, id: String) async throws -> EndpointResponse {
        let previous = try await existing(kind, connection, id: id)
        var raised: [InboundSignal] = []
        if kind == .user, let subject = previous.subject {
            raised = [signal(connection, event: "scim:user-deleted", subject: subject, action: .offboard)]
        } else if kind == .group {
            raised = try await groupSignals(group: previous.id, oldMembers: previous.members, newMembers: [], renamed: false, newName: nil,
                                            connection: connection)
        }
        guard case .written = try await store.deleteSCIM(kind, connection: connection.name, id: id, signals: raised) else { throw notFound() }
        await process(raised)
        return EndpointResponse(status: 204, body: "", headers: ["Cache-Control": "no-store"])
    }

    /// Processes signals already durable in the inbox; a failure leaves them pending for the
    /// maintenance loop, never fails the IdP's write.
    func process(_ raised: [InboundSignal]) async {
        for signal in raised { _ = try? await signals.process(signal) }
    }

    // MARK: - Signals

    func signal(_ connection: SCIMConnection, event: String, subject: SubjectKey, action: InboundSignal.Action) -> InboundSignal {
        signals.signal(source: .scim, connection: connection.name, externalID: nil, event: event, subject: subject, action: action)
    }

    /// What a write asks of the revocation path: a User deactivated → offboard; re-activated (or
    /// created active: a rehire) → enable; a Group's membership or name changed → each affected
    /// member's groups.
    func signalsFor(new resource: SCIMResource, previous: SCIMResource?, connection: SCIMConnection) async throws -> [InboundSignal] {
        switch resource.kind {
        case .user:
            guard let subject = resource.subject else { return [] }
            if !resource.active, previous?.active ?? true {
                return [signal(connection, event: "scim:user-deactivated", subject: subject, action: .offboard)]
            }
            if resource.active, !(previous?.active ?? false) {
                return [signal(connection, event: previous == nil ? "scim:user-created" : "scim:user-reactivated", subject: subject, action: .enable)]
            }
            return []
        case .group:
            let renamed = previous.map { $0.name != resource.name || $0.externalID != resource.externalID } ?? false
            return try await groupSignals(group: resource.id, oldMembers: previous?.members ?? [], newMembers: resource.members, renamed: renamed,
                                          newName: groupName(SCIMSummary(resource), connection), connection: connection)
        }
    }

    /// One `attributes` signal per member whose groups change: their groups after the write. Three
    /// reads whatever the number of members (the users, their memberships, those groups' names).
    func groupSignals(group: String, oldMembers: [String], newMembers: [String], renamed: Bool, newName: String?,
                      connection: SCIMConnection) async throws -> [InboundSignal] {
        let changes = SCIMResource.memberChanges(from: oldMembers, to: newMembers)
        // Renamed, every member before or after (the removed plus the new); else the changed ones.
        let affected = changes.removed + (renamed ? newMembers : changes.added)
        guard !affected.isEmpty else { return [] }
        // Affected and not removed is a member after the write.
        let removed = Set(changes.removed.map { Array($0.utf8) })
        let users = try await store.scimSummaries(.user, connection: connection.name, ids: affected)
            .compactMap { user in user.subject.map { (id: user.id, subject: $0) } }
        guard !users.isEmpty else { return [] }
        let memberships = try await store.scimMemberships(of: users.map(\.id), connection: connection.name)
        let otherGroups = Set(memberships.values.joined()).subtracting([group])
        var names: [String: String] = [:]
        for summary in try await store.scimSummaries(.group, connection: connection.name, ids: otherGroups.sorted()) {
            names[summary.id] = groupName(summary, connection)
        }
        var raised: [InboundSignal] = []
        for (id, subject) in users.sorted(by: { $0.id < $1.id }) {
            var groups = (memberships[id] ?? []).filter { $0 != group }.compactMap { names[$0] }
            if !removed.contains(Array(id.utf8)), let newName { groups.append(newName) }
            raised.append(signal(connection, event: "scim:group-membership", subject: subject,
                                 action: .attributes(groups: Array(Set(groups)).sorted(), roles: nil)))
        }
        return raised
    }

    func groupName(_ group: SCIMSummary, _ connection: SCIMConnection) -> String? {
        connection.groupAttribute == .displayName ? group.name : group.externalID
    }

    // MARK: - Building and rendering

    /// A resource from a client's JSON: validated, with `id`, `meta`, `groups` and `password` (never
    /// stored) dropped and booleans given as strings read as booleans.
    func build(_ kind: SCIMResource.Kind, _ connection: SCIMConnection, from body: JSONObject, id: String, created: Date, version: Int,
               previous: SCIMResource?) throws -> SCIMResource {
        var attributes = JSONObject()
        for member in body.members {
            switch member.name.lowercased() {
            case "id", "meta", "groups", "password", "schemas": continue
            // A Group's members are kept apart (SCIMResource.members), never in the document.
            case "members" where kind == .group: continue
            default: attributes[member.name] = SCIMPatch.normalise(member.value, for: member.name)
            }
        }
        let nameKey = kind == .user ? "userName" : "displayName"
        guard case .string(let name)? = body[member: nameKey], !name.trimmingCharacters(in: .whitespaces).isEmpty, name.utf8.count <= 512 else {
            throw Refusal(status: 400, scimType: "invalidValue", detail: "\(nameKey) is required", reason: .scimInvalidValue)
        }
        var externalID: String? = nil
        if let value = body[member: "externalId"] {
            guard case .string(let text) = value else { throw Refusal(status: 400, scimType: "invalidValue", detail: "externalId must be a string", reason: .scimInvalidValue) }
            externalID = text
        }
        // Absent `active` leaves the state as it was (a removal never re-activates anyone).
        var active = previous?.active ?? true
        if kind == .user, let value = body[member: "active"] {
            switch SCIMPatch.normalise(value, for: "active") {
            case .bool(let flag): active = flag
            case .null: break
            default: throw Refusal(status: 400, scimType: "invalidValue", detail: "active must be a boolean", reason: .scimInvalidValue)
            }
        }
        if kind == .group { attributes[attributes.key(matching: "active") ?? "active"] = nil }
        var members: [String] = []
        if kind == .group, let value = body[member: "members"] {
            guard case .array(let items) = value else { throw Refusal(status: 400, scimType: "invalidValue", detail: "members must be an array", reason: .scimInvalidValue) }
            for item in items {
                guard let member = item.objectValue?[member: "value"]?.stringValue else {
                    throw Refusal(status: 400, scimType: "invalidValue", detail: "each member needs a value (a User id)", reason: .scimInvalidValue)
                }
                members.append(member)
            }
        }
        var email: String? = nil
        if kind == .user, case .array(let emails)? = body[member: "emails"] {
            let objects = emails.compactMap(\.objectValue)
            let primary = objects.first { $0[member: "primary"].map { SCIMPatch.normalise($0, for: "primary") } == .bool(true) } ?? objects.first
            email = primary?[member: "value"]?.stringValue?.lowercased()
        }
        var subject: SubjectKey? = nil
        if kind == .user {
            let value = connection.subjectAttribute == .externalId ? externalID : name
            if let value, !value.isEmpty, !value.utf8.contains(where: { $0 < 0x20 }) {
                subject = SubjectKey(issuer: connection.issuer, tenant: connection.tenant, subject: value)
            }
        }
        return SCIMResource(kind: kind, connection: connection.name, id: id, name: name, externalID: externalID, active: active, email: email,
                            subject: subject, members: members, attributes: JSONValue.object(attributes).serialized(), created: created,
                            lastModified: clock.now(), version: version)
    }

    /// The attributes a PATCH works on: the stored ones plus a Group's `members` (which the stored
    /// ones never hold).
    static func patchable(_ resource: SCIMResource) throws -> JSONObject {
        var object = try storedAttributes(resource)
        if resource.kind == .group {
            object["members"] = .array(resource.members.map { .object(JSONObject(["value": .string($0)])) })
        }
        return object
    }

    /// The attributes as stored. A Group's never hold its members: `build` keeps them apart and
    /// SQLite migration 9 removed the copies schema 8 had written.
    static func storedAttributes(_ resource: SCIMResource) throws -> JSONObject {
        guard case .object(let object) = try JSONValue.parse(resource.attributes, limits: JSONLimits(maxBytes: maxBodyBytes, maxDepth: 20)) else {
            return JSONObject()
        }
        return object
    }

    func render(_ resource: SCIMResource) async throws -> JSONObject {
        try await render([resource])[0]
    }

    /// Renders resources with the reads batched: one for the groups of every User among them,
    /// one for the names of every Group member (none when `memberNames` is false: the response
    /// leaves `members` out), whatever their number.
    func render(_ resources: [SCIMResource], memberNames: Bool = true) async throws -> [JSONObject] {
        guard let connection = resources.first?.connection else { return [] }
        var groupsOfUser: [String: [SCIMSummary]] = [:]
        let users = resources.filter { $0.kind == .user }.map(\.id)
        if !users.isEmpty {
            let memberships = try await store.scimMemberships(of: users, connection: connection)
            let groups = try await store.scimSummaries(.group, connection: connection, ids: Set(memberships.values.joined()).sorted())
            // Each user's groups in the store's order (by creation), by position rather than a
            // scan of every group per user.
            let position = Dictionary(groups.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
            for (user, ids) in memberships {
                groupsOfUser[user] = ids.compactMap { position[$0] }.sorted().map { groups[$0] }
            }
        }
        var userNames: [String: String] = [:]
        let members = memberNames ? Set(resources.filter { $0.kind == .group }.flatMap(\.members)) : []
        if !members.isEmpty {
            for user in try await store.scimSummaries(.user, connection: connection, ids: members.sorted()) { userNames[user.id] = user.name }
        }
        return try resources.map { try render($0, groups: groupsOfUser[$0.id] ?? [], userNames: userNames) }
    }

    func render(_ resource: SCIMResource, groups: [SCIMSummary], userNames: [String: String]) throws -> JSONObject {
        var object = JSONObject()
        object["schemas"] = .array(resource.kind == .user ? userSchemas(resource) : [.string(Self.groupSchema)])
        object["id"] = .string(resource.id)
        for member in try Self.storedAttributes(resource).members { object[member.name] = member.value }
        if resource.kind == .user {
            // A deactivated user always reads back with active:false, whatever was patched away.
            if !resource.active { object[object.key(matching: "active") ?? "active"] = .bool(false) }
            if !groups.isEmpty {
                object["groups"] = .array(groups.map { .object(JSONObject(["value": .string($0.id), "display": .string($0.name),
                                                                          "$ref": .string("\(baseURL)/Groups/\($0.id)")])) })
            }
        } else {
            object["members"] = .array(resource.members.map { id in
                var member = JSONObject(["value": .string(id), "$ref": .string("\(baseURL)/Users/\(id)"), "type": "User"])
                if let name = userNames[id] { member["display"] = .string(name) }
                return .object(member)
            })
        }
        let f = ISO8601DateFormatter()
        object["meta"] = .object(JSONObject([
            "resourceType": .string(resource.kind.rawValue), "created": .string(f.string(from: resource.created)),
            "lastModified": .string(f.string(from: resource.lastModified)), "location": .string(location(resource)),
            "version": .string("W/\"\(resource.version)\""),
        ]))
        return object
    }

    func userSchemas(_ resource: SCIMResource) -> [JSONValue] {
        let hasEnterprise = resource.attributes.contains(Self.enterpriseSchema)
        return [.string(Self.userSchema)] + (hasEnterprise ? [.string(Self.enterpriseSchema)] : [])
    }

    func location(_ resource: SCIMResource) -> String { "\(baseURL)/\(resource.kind == .user ? "Users" : "Groups")/\(resource.id)" }

    // MARK: - Wire

    func json(_ request: APIRequest) throws -> JSONObject {
        do {
            guard case .object(let object) = try JSONValue.parse(request.body, limits: JSONLimits(maxBytes: Self.maxBodyBytes, maxDepth: 20)) else {
                throw Refusal(status: 400, scimType: "invalidSyntax", detail: "the body must be a JSON object", reason: .scimInvalidRequest)
            }
            return object
        } catch let refusal as Refusal { throw refusal } catch {
            throw Refusal(status: 400, scimType: "invalidSyntax", detail: "the body is not valid JSON", reason: .scimInvalidRequest)
        }
    }

    func notFound() -> Refusal { Refusal(status: 404, scimType: nil, detail: "no such resource", reason: .scimNotFound) }

    static func ok(_ object: JSONObject, status: Int = 200) -> EndpointResponse {
        EndpointResponse(status: status, body: JSONValue.object(object).serialized(),
                         headers: ["Content-Type": "application/scim+json", "Cache-Control": "no-store"])
    }

    static func error(_ status: Int, _ scimType: String?, _ detail: String) -> EndpointResponse {
        var object = JSONObject(["schemas": .array([.string(errorSchema)]), "status": .string(String(status)), "detail": .string(detail)])
        if let scimType { object["scimType"] = .string(scimType) }
        return EndpointResponse(status: status, body: JSONValue.object(object).serialized(),
                                headers: ["Content-Type": "application/scim+json", "Cache-Control": "no-store"])
    }
}

extension ReasonCode {
    /// A SCIM request without a connection's bearer token.
    public static let scimUnauthorized = ReasonCode("scim_unauthorized")
    /// A SCIM request that is not valid JSON of the right media type, or a method not allowed.
    public static let scimInvalidRequest = ReasonCode("scim_invalid_request")
    public static let scimInvalidFilter = ReasonCode("scim_invalid_filter")
    /// A filter the store cannot look up that would be evaluated over more than
    /// `SCIMService.Limits.maxFilterScan` resources (`tooMany`).
    public static let scimFilterTooBroad = ReasonCode("scim_filter_too_broad")
    /// A Group write past `SCIMService.Limits.maxGroupMembers` members or adding more than
    /// `SCIMService.Limits.maxMembersAddedPerRequest` in one request.
    public static let scimTooManyMembers = ReasonCode("scim_too_many_members")
    public static let scimInvalidPatch = ReasonCode("scim_invalid_patch")
    public static let scimInvalidValue = ReasonCode("scim_invalid_value")
    /// A SCIM create or rename to a name another resource of the connection has.
    public static let scimConflict = ReasonCode("scim_conflict")
    /// Another request kept changing the resource while this one was updating it (412).
    public static let scimConcurrentChange = ReasonCode("scim_concurrent_change")
    public static let scimNotFound = ReasonCode("scim_not_found")
}
