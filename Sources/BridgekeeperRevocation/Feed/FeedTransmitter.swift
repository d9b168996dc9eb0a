import BridgekeeperAudit
public import BridgekeeperCore
public import BridgekeeperGrants
public import BridgekeeperJOSE
public import BridgekeeperStore
import BridgekeeperSSF
public import Foundation
public import BridgekeeperKeys
public import BridgekeeperClientAuth
public import BridgekeeperEndpoint

/// How the revocation feed serves its streams.
public struct FeedSettings: Sendable, Hashable {
    /// Longest a poll without `returnImmediately` is held waiting for an event, in seconds.
    public var wait: TimeInterval = 20
    /// How often a held poll looks at the store for events another process committed (the
    /// server's own commits wake it at once), in seconds.
    public var checkInterval: TimeInterval = 0.1
    /// How far back a new stream starts: the longest lifetime of a token the broker issues (plus
    /// leeway), so a gateway that subscribes now learns every revocation that can still matter.
    public var lookback: TimeInterval = 3_660
    public var maxStreamsPerClient = 16
    /// Most SETs in one poll response (a request's `maxEvents` is capped to it).
    public var maxEventsPerPoll = 1_000

    public init() {}
}

/// The broker as a Shared Signals transmitter for gateways (issue 7): the revocation feed at
/// `/ssf/…`, its configuration at `/.well-known/ssf-configuration`.
///
/// - Streams (SSF 1.0 §8.1.1) are created, read and deleted by clients registered with
///   `revocation_feed: true`, authenticated with HTTP Basic (RFC 6749 §2.3.1) or with a feed token
///   (`FeedAccess`: `client_credentials`, then `Authorization: Bearer`, RFC 6750). Delivery is
///   RFC 8936 poll only.
/// - The feed is the audit log read through `RevocationFeed`: every token revocation and every
///   subject revocation becomes a CAEP `session-revoked` SET, signed with the broker's access-token
///   key (`typ` `secevent+jwt`), its `jti` naming the audit sequence.
/// - A poll acknowledges (`ack`, `setErrs`) and takes the next SETs in order; without
///   `returnImmediately` it is held until one exists (long poll) or `wait` passes.
/// - A stream starts `lookback` seconds back, so a new subscriber learns every revocation of a
///   token that may still be live.
/// - An acknowledgement that moves a stream's cursor is written with an audit record, in one
///   transaction: receipts show which gateway confirmed, and when.
public struct FeedTransmitter: APIEndpoint {
    public static let pollMethod = "urn:ietf:rfc:8936"
    public static let verificationEvent = "https://schemas.openid.net/secevent/ssf/event-type/verification"

    let issuer: String
    let keys: KeyRing
    let clients: ClientAuthenticator
    /// Verifies bearer tokens as our own, active (unexpired, unrevoked) access tokens.
    let tokens: TokenManagement?
    let store: any RevocationFeedStore & AuditLog
    let clock: any WallClock
    let settings: FeedSettings
    /// True once the server is shutting down: held polls are answered at once.
    let stopWaiting: @Sendable () -> Bool

    public init(issuer: String, keys: KeyRing, clients: ClientAuthenticator, tokens: TokenManagement? = nil,
                store: any RevocationFeedStore & AuditLog, clock: any WallClock,
                settings: FeedSettings = FeedSettings(), stopWaiting: @escaping @Sendable () -> Bool = { false }) {
        self.tokens = tokens
        self.issuer = issuer
        self.keys = keys
        self.clients = clients
        self.store = store
        self.clock = clock
        self.settings = settings
        self.stopWaiting = stopWaiting
    }

    // MARK: Discovery

    /// The transmitter configuration (SSF 1.0 §7.1).
    public static func configuration(issuer: String) -> JSONObject {
        JSONObject([
            "spec_version": "1_0", "issuer": .string(issuer), "jwks_uri": .string(issuer + "/jwks.json"),
            "delivery_methods_supported": .array([.string(pollMethod)]),
            "configuration_endpoint": .string(issuer + "/ssf/streams"), "status_endpoint": .string(issuer + "/ssf/status"),
            // HTTP Basic client credentials (RFC 6749 §2.3.1) or a feed token as a bearer token (RFC 6750).
            "authorization_schemes": .array([.object(JSONObject(["spec_urn": "urn:ietf:rfc:6749"])), .object(JSONObject(["spec_urn": "urn:ietf:rfc:6750"]))]),
            "default_subjects": "ALL",
        ])
    }

    // MARK: Requests

    public func handle(_ request: APIRequest) async -> EndpointResponse {
        let now = clock.now()
        var draft = AuditDraft(remoteAddress: request.remoteAddress)
        do throws(FeedRefusal) {
            let client = try await authenticate(request, draft: &draft)
            switch (request.method, request.path.first, request.path.count) {
            case ("POST", "streams", 1): return try await create(request, client: client, draft: draft, now: now)
            case ("GET", "streams", 1):
                if let id = request.query["stream_id"] { return Self.json(200, configuration(of: try await owned(id, client: client))) }
                let streams: [FeedStream]
                do { streams = try await store.feedStreams(clientID: client) } catch { return .serverError }
                return Self.json(200, JSONObject(["streams": .array(streams.map { .object(configuration(of: $0)) })]))
            case ("DELETE", "streams", 1):
                let stream = try await owned(try Self.streamID(request), client: client)
                let removed: Bool
                do {
                    removed = try await store.removeFeedStream(
                        id: stream.id, audit: Self.record(.administration, .feedStreamDeleted, now, client: client, stream: stream.id, draft: draft))
                } catch { return .serverError }
                guard removed else { throw FeedRefusal.noSuchStream }
                return EndpointResponse(status: 204, body: "")
            case ("GET", "status", 1):
                let stream = try await owned(try Self.streamID(request), client: client)
                return Self.json(200, JSONObject(["stream_id": .string(stream.id), "status": "enabled"]))
            case ("POST", "poll", 2):
                return try await poll(request, stream: try await owned(request.path[1], client: client), draft: draft, now: now)
            case (_, "streams", 1), (_, "status", 1), (_, "poll", 2):
                throw FeedRefusal(405, "invalid_request", "method not allowed here", reason: .feedInvalidRequest)
            default:
                throw FeedRefusal(404, "invalid_request", "no such endpoint", reason: .feedInvalidRequest)
            }
        } catch {
            do { return try await refuse(error, draft: draft) } catch { return .serverError }
        }
    }

    /// HTTP Basic client authentication or a feed token, and the client's right to the feed.
    func authenticate(_ request: APIRequest, draft: inout AuditDraft) async throws(FeedRefusal) -> String {
        if let token = BearerToken.from(authorization: request.authorization) {
            return try await authenticate(bearer: token, draft: &draft)
        }
        do throws(OAuthError) {
            try clients.admit(form: FormParameters(pairs: []), authorization: request.authorization, draft: &draft)
            let client = try await clients.authenticate(authorization: request.authorization, form: FormParameters(pairs: []))
            draft.clientID = client.id
            guard clients.registration(client.id)?.mayReadRevocationFeed == true else {
                throw OAuthError(.unauthorizedClient, "this client may not read the revocation feed", reason: .notFeedClient)
            }
            return client.id
        } catch {
            throw FeedRefusal(error)
        }
    }

    /// A feed token (RFC 6750 §2.1): our own access token, active (signature, unexpired, unrevoked,
    /// its subject not disabled), whose audience is the feed and whose scope holds
    /// `revocation_feed`, issued to a client that may still read the feed. Any failure is 401
    /// `invalid_token` with a Bearer challenge (RFC 6750 §3.1), audited.
    func authenticate(bearer token: String, draft: inout AuditDraft) async throws(FeedRefusal) -> String {
        guard let tokens, let state = await tokens.activeState(token) else {
            throw FeedRefusal.bearer("the token is not an active access token of this broker", reason: .feedTokenInvalid)
        }
        draft.clientID = state.token.clientID
        guard state.token.resource.isExactly(FeedAccess.resource(issuer: issuer)), state.token.scope.containsExactly(FeedAccess.scope) else {
            throw FeedRefusal.bearer("the token is not for the revocation feed", reason: .feedTokenWrongAudience)
        }
        guard clients.registration(state.token.clientID)?.mayReadRevocationFeed == true else {
            throw FeedRefusal.bearer("the token's client may not read the revocation feed", reason: .notFeedClient)
        }
        return state.token.clientID
    }

    /// SSF 1.0 §8.1.1.1: poll delivery only, `session-revoked` among the events requested (when the
    /// receiver names any). 201 with the stream's configuration.
    func create(_ request: APIRequest, client: String, draft: AuditDraft, now: Date) async throws(FeedRefusal) -> EndpointResponse {
        let body = try Self.jsonBody(request)
        var method = Self.pollMethod
        if let delivery = body["delivery"] {
            guard case .object(let object) = delivery else { throw Self.invalid("delivery is not an object") }
            if let named = object["method"] {
                guard let text = named.stringValue else { throw Self.invalid("delivery.method is not a string") }
                method = text
            }
        }
        guard method == Self.pollMethod else {
            throw FeedRefusal(400, "invalid_request", "this transmitter delivers by polling only (\(Self.pollMethod))", reason: .feedInvalidRequest)
        }
        var requested = [RevocationFeed.sessionRevoked]
        if let events = body["events_requested"] {
            guard case .array(let values) = events, values.allSatisfy({ $0.stringValue != nil }) else {
                throw Self.invalid("events_requested is not an array of strings")
            }
            requested = values.compactMap(\.stringValue)
            guard requested.contains(RevocationFeed.sessionRevoked) else {
                throw FeedRefusal(400, "invalid_request", "this transmitter sends only \(RevocationFeed.sessionRevoked)", reason: .feedInvalidRequest)
            }
        }
        let description = body["description"]?.stringValue.map { String($0.prefix(200)) }
        do {
            guard try await store.feedStreams(clientID: client).count < settings.maxStreamsPerClient else {
                throw FeedRefusal(409, "invalid_request", "this client has \(settings.maxStreamsPerClient) streams; delete one first", reason: .feedStreamLimit)
            }
            let start = try await store.feedStart(notBefore: now.addingTimeInterval(-settings.lookback))
            let stream = FeedStream(id: "fs_" + SecureRandom.identifier(bytes: 16), clientID: client, description: description,
                                    eventsRequested: requested, createdAt: now, acknowledgedThrough: start)
            try await store.addFeedStream(stream, audit: Self.record(.administration, .feedStreamCreated, now, client: client, stream: stream.id, draft: draft))
            return Self.json(201, configuration(of: stream))
        } catch let refusal as FeedRefusal {
            throw refusal
        } catch {
            throw FeedRefusal.storeFailed
        }
    }

    /// RFC 8936 §2.4: acknowledge, then answer the next SETs (holding the request while there are
    /// none, unless `returnImmediately`).
    func poll(_ request: APIRequest, stream: FeedStream, draft: AuditDraft, now: Date) async throws(FeedRefusal) -> EndpointResponse {
        let body = try Self.jsonBody(request)
        var maxEvents = settings.maxEventsPerPoll
        if let value = body["maxEvents"] {
            guard let number = value.numberValue?.exactInteger, number >= 0 else { throw Self.invalid("maxEvents is not a non-negative integer") }
            maxEvents = min(Int(clamping: number), settings.maxEventsPerPoll)
        }
        var returnImmediately = false
        if let value = body["returnImmediately"] {
            guard case .bool(let flag) = value else { throw Self.invalid("returnImmediately is not a boolean") }
            returnImmediately = flag
        }
        var acknowledged: Set<Int64> = []
        if let value = body["ack"] {
            guard case .array(let values) = value, values.allSatisfy({ $0.stringValue != nil }) else { throw Self.invalid("ack is not an array of strings") }
            for jti in values.compactMap(\.stringValue) {
                if let sequence = RevocationFeed.sequence(ofSET: jti, stream: stream.id) { acknowledged.insert(sequence) }
            }
        }
        var refused: [(jti: String, err: String)] = []
        if let value = body["setErrs"] {
            guard case .object(let errors) = value else { throw Self.invalid("setErrs is not an object") }
            for member in errors.members {
                guard case .object(let detail) = member.value, let err = detail["err"]?.stringValue else {
                    throw Self.invalid("setErrs.\(member.name.prefix(40)) has no err")
                }
                // A refused SET is not delivered again (RFC 8936 §2.4.3), and the refusal is audited.
                if let sequence = RevocationFeed.sequence(ofSET: member.name, stream: stream.id) {
                    acknowledged.insert(sequence)
                    refused.append((member.name, String(err.prefix(64))))
                }
            }
        }
        let current: FeedStream
        do {
            for refusal in refused {
                _ = try await store.append(Self.record(.denial, .feedSETRefused, now, client: stream.clientID, stream: stream.id, draft: draft,
                                                       scopes: ["set:" + refusal.jti, "err:" + refusal.err]))
            }
            guard let updated = try await store.acknowledgeFeed(streamID: stream.id, sequences: acknowledged, at: now, audit: { _, after in
                [Self.record(.administration, .feedAcknowledged, now, client: stream.clientID, stream: stream.id, draft: draft,
                             scopes: ["through:\(after.acknowledgedThrough)"])]
            }) else { throw FeedRefusal.noSuchStream }
            current = updated
        } catch let refusal as FeedRefusal {
            throw refusal
        } catch {
            throw FeedRefusal.storeFailed
        }
        guard maxEvents > 0 else { return Self.json(200, JSONObject(["sets": .object(JSONObject()), "moreAvailable": .bool(false)])) }
        // Held on the monotonic clock (the wall clock may be a test's fixed one).
        let deadline = ContinuousClock.now + .seconds(returnImmediately ? 0 : settings.wait)
        let skipped = Set(current.acknowledgedBeyond)
        var events: [(sequence: Int64, event: FeedEvent)] = []
        let bell = store.feedBell
        while true {
            // Rings seen before reading: a commit after the read rings again and ends the wait.
            let rings = bell.rings
            do {
                let records = try await store.feedRecords(afterSequence: current.acknowledgedThrough, limit: maxEvents + skipped.count + 1)
                events = records.filter { !skipped.contains($0.sequence) }.compactMap { record in RevocationFeed.event(for: record).map { (record.sequence, $0) } }
            } catch {
                throw FeedRefusal.storeFailed
            }
            if !events.isEmpty || ContinuousClock.now >= deadline || stopWaiting() || Task.isCancelled { break }
            // Woken by a commit of this process at once; a revocation by another process (the
            // CLI) is found at the next look.
            await bell.wait(after: rings, timeout: .seconds(settings.checkInterval))
        }
        guard let signer = keys.snapshot.signer else { throw FeedRefusal.storeFailed }
        var sets = JSONObject()
        let signedAt = clock.now()
        for (sequence, event) in events.prefix(maxEvents) {
            let claims = RevocationFeed.claims(for: event, sequence: sequence, stream: stream.id, issuer: issuer, audience: stream.clientID, now: signedAt)
            do { sets[RevocationFeed.setID(stream: stream.id, sequence: sequence)] = .string(try signer.signJWT(type: "secevent+jwt", claims: claims)) } catch {
                throw FeedRefusal.storeFailed
            }
        }
        return Self.json(200, JSONObject(["sets": .object(sets), "moreAvailable": .bool(events.count > maxEvents)]))
    }

    /// A stream's configuration as SSF 1.0 §8.1.1 returns it.
    func configuration(of stream: FeedStream) -> JSONObject {
        var object = JSONObject([
            "stream_id": .string(stream.id), "iss": .string(issuer), "aud": .string(stream.clientID),
            "events_supported": .array([.string(RevocationFeed.sessionRevoked)]),
            "events_requested": .array(stream.eventsRequested.map(JSONValue.string)),
            "events_delivered": .array([.string(RevocationFeed.sessionRevoked)]),
            "delivery": .object(JSONObject(["method": .string(Self.pollMethod), "endpoint_url": .string(issuer + "/ssf/poll/" + stream.id)])),
        ])
        if let description = stream.description { object["description"] = .string(description) }
        return object
    }

    // MARK: Helpers

    /// The stream, when it exists and is this client's (another client's stream is "no such stream").
    func owned(_ id: String, client: String) async throws(FeedRefusal) -> FeedStream {
        let found: FeedStream?
        do { found = try await store.feedStream(id: id) } catch { throw FeedRefusal.storeFailed }
        guard let found, found.clientID.isExactly(client) else { throw FeedRefusal.noSuchStream }
        return found
    }

    static func streamID(_ request: APIRequest) throws(FeedRefusal) -> String {
        guard let id = request.query["stream_id"], !id.isEmpty else {
            throw FeedRefusal(400, "invalid_request", "stream_id is required", reason: .feedInvalidRequest)
        }
        return id
    }

    static func jsonBody(_ request: APIRequest) throws(FeedRefusal) -> JSONObject {
        if request.body.isEmpty { return JSONObject() }
        guard request.contentType == "application/json" else { throw invalid("the body must be application/json") }
        guard case .object(let object)? = try? JSONValue.parse(request.body, limits: JSONLimits(maxBytes: 65_536, maxDepth: 8)) else {
            throw invalid("the body is not a JSON object")
        }
        return object
    }

    /// An audit record of the feed: the client, and the stream as `performed_by` (`feed:ID`).
    static func record(_ kind: AuditEvent.Kind, _ reason: ReasonCode, _ time: Date, client: String, stream: String, draft: AuditDraft,
                       scopes: [String] = []) -> AuditEvent {
        AuditEvent(kind: kind, reason: reason, time: time, clientID: client, scopes: scopes, remoteAddress: draft.remoteAddress,
                   performedBy: "feed:" + stream)
    }

    static func invalid(_ message: String) -> FeedRefusal { FeedRefusal(400, "invalid_request", message, reason: .feedInvalidRequest) }

    static func json(_ status: Int, _ object: JSONObject) -> EndpointResponse {
        EndpointResponse(status: status, body: JSONValue.object(object).serialized())
    }

    /// Audits the refusal as a denial and answers it.
    func refuse(_ refusal: FeedRefusal, draft: AuditDraft) async throws -> EndpointResponse {
        if refusal.status >= 500 { return .serverError }
        _ = try await store.appendRefusal(draft.event(.denial, reason: refusal.reason, time: clock.now()))
        if let oauth = refusal.oauth { return .error(oauth) }
        var headers: [String: String] = [:]
        if refusal.bearerChallenge {
            headers["WWW-Authenticate"] = "Bearer realm=\"bridgekeeper\", error=\"\(refusal.code)\", error_description=\"\(OAuthError.descriptionSafe(refusal.message))\""
        }
        return EndpointResponse(status: refusal.status, body: JSONValue.object(JSONObject([
            "error": .string(refusal.code), "error_description": .string(refusal.message),
        ])).serialized(), headers: headers)
    }
}

/// Why a feed request was refused: an OAuth client-authentication error, or a status with an
/// error code and an audited reason.
struct FeedRefusal: Error {
    let status: Int
    let code: String
    let message: String
    let reason: ReasonCode
    let oauth: OAuthError?
    /// Answered with an RFC 6750 §3 `WWW-Authenticate: Bearer` challenge.
    var bearerChallenge = false

    init(_ status: Int, _ code: String, _ message: String, reason: ReasonCode) {
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason
        oauth = nil
    }

    /// A bearer token refused: 401 `invalid_token` (RFC 6750 §3.1).
    static func bearer(_ message: String, reason: ReasonCode) -> FeedRefusal {
        var refusal = FeedRefusal(401, "invalid_token", message, reason: reason)
        refusal.bearerChallenge = true
        return refusal
    }

    init(_ error: OAuthError) {
        status = error.code.httpStatus
        code = error.code.rawValue
        message = error.message
        reason = error.reason
        oauth = error
    }

    static let noSuchStream = FeedRefusal(404, "invalid_request", "no such stream", reason: .feedNoSuchStream)
    static let storeFailed = FeedRefusal(500, "server_error", "", reason: .feedInvalidRequest)
}

extension ReasonCode {
    /// A client without `revocation_feed: true` asked for the feed.
    public static let notFeedClient = ReasonCode("not_feed_client")
    /// A bearer token at the feed that is not an active access token of this broker (unknown,
    /// malformed, expired, revoked, its subject disabled).
    public static let feedTokenInvalid = ReasonCode("feed_token_invalid")
    /// An active access token of this broker at the feed that is not a feed token (another
    /// audience, or without the revocation_feed scope).
    public static let feedTokenWrongAudience = ReasonCode("feed_token_wrong_audience")
    public static let feedInvalidRequest = ReasonCode("feed_invalid_request")
    /// A stream id that does not exist, or is another client's.
    public static let feedNoSuchStream = ReasonCode("feed_no_such_stream")
    public static let feedStreamLimit = ReasonCode("feed_stream_limit")
    /// A receiver refused a SET of the feed (`setErrs`); the SET and its `err` are in `scopes`.
    public static let feedSETRefused = ReasonCode("feed_set_refused")
}
