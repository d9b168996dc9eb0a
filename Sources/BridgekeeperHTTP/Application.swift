public import BridgekeeperCore
public import BridgekeeperGrants
public import BridgekeeperAudit
import Foundation
public import Hummingbird
public import Logging
import BridgekeeperJOSE
public import BridgekeeperPolicy
import NIOCore
import HTTPTypes
public import BridgekeeperKeys
import BridgekeeperClientAuth
public import BridgekeeperEndpoint

/// Everything the routes need, built by the server's composition root (or a test) from one
/// configuration.
public struct HTTPServices: Sendable {
    public let issuer: String
    public let tokenEndpoint: TokenEndpoint
    public let tokenManagement: TokenManagement
    public let keys: KeyRing
    public let catalog: Catalog
    /// The RFC 8414 document.
    public let metadata: String
    /// Per-address limit on the token, introspection and revocation endpoints.
    public let addressLimiter: RateLimiter?
    /// `Cache-Control: max-age` of the JWKS: never longer than the key propagation delay, so a
    /// verifier sees a new key before it signs.
    public let jwksMaxAge: Int
    public let clock: any WallClock
    /// The bridge issuer's keys and metadata document, when third-party authorization servers are
    /// configured.
    public let bridge: (keys: KeyRing, metadata: String)?
    /// The management API (`/admin/v1`), when the composition root provides one.
    public let management: (any APIEndpoint)?
    /// Other JSON APIs by path prefix: SCIM (`/scim/v2`) and the signal receivers (`/signals/…`).
    public let apis: [(prefix: String, endpoint: any APIEndpoint)]
    /// Other public JSON documents by path (the revocation feed's `/.well-known/ssf-configuration`).
    public let documents: [(path: String, body: String)]
    /// Where each refusal is logged, one `notice` line per audited denial (`logRefusals`).
    public let logger: Logger
    /// Aggregates a flood's failed authentications into one audit record per source, route and
    /// reason per interval (`rate_limits.refusal_audit_interval`); nil records every refusal.
    public let refusals: DenialAggregator?
    /// How long a rate-limited answer (429) is held before it is sent
    /// (`rate_limits.limited_response_delay_ms`): a client that keeps hammering on its connections
    /// after a 429 gets at most one request per connection per delay answered, so a flood on a
    /// fixed set of connections costs the server almost nothing. Held without a thread (an async sleep).
    public let limitedResponseDelay: Duration

    public init(issuer: String, tokenEndpoint: TokenEndpoint, tokenManagement: TokenManagement, keys: KeyRing, catalog: Catalog,
                metadata: String, addressLimiter: RateLimiter?, jwksMaxAge: Int, clock: any WallClock,
                bridge: (keys: KeyRing, metadata: String)? = nil, management: (any APIEndpoint)? = nil,
                apis: [(prefix: String, endpoint: any APIEndpoint)] = [], documents: [(path: String, body: String)] = [],
                logger: Logger = Logger(label: "bridgekeeper"), refusals: DenialAggregator? = nil, limitedResponseDelay: Duration = .zero) {
        self.limitedResponseDelay = limitedResponseDelay
        self.refusals = refusals
        self.logger = logger
        self.apis = apis
        self.documents = documents
        self.issuer = issuer
        self.tokenEndpoint = tokenEndpoint
        self.tokenManagement = tokenManagement
        self.keys = keys
        self.catalog = catalog
        self.metadata = metadata
        self.addressLimiter = addressLimiter
        self.jwksMaxAge = jwksMaxAge
        self.clock = clock
        self.bridge = bridge
        self.management = management
    }
}

/// The request context: Hummingbird's core plus the peer address for rate limits and the audit.
public struct BridgekeeperRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// Bodies are read by the handlers with their own caps.
    public var maxUploadSize: Int { 65_536 }
}

/// The routes (docs/architecture.md lists them).
public func buildRouter(_ services: HTTPServices) -> Router<BridgekeeperRequestContext> {
    let router = Router(context: BridgekeeperRequestContext.self)
    router.post("/token") { request, context in
        await logRefusals(request, context, services, route: "/token", basicNamesClient: true) { await oauthPost(request, context, services) { body, authorization, remote in
            await services.tokenEndpoint.handle(body: body, authorization: authorization, remoteAddress: remote)
        } }
    }
    router.post("/introspect") { request, context in
        await logRefusals(request, context, services, route: "/introspect", basicNamesClient: true) { await oauthPost(request, context, services) { body, authorization, remote in
            await services.tokenManagement.introspect(body: body, authorization: authorization, remoteAddress: remote)
        } }
    }
    router.post("/revoke") { request, context in
        await logRefusals(request, context, services, route: "/revoke", basicNamesClient: true) { await oauthPost(request, context, services) { body, authorization, remote in
            await services.tokenManagement.revoke(body: body, authorization: authorization, remoteAddress: remote)
        } }
    }
    // No grant here uses the authorization endpoint (response_types_supported is empty): every
    // request is refused without a redirect (RFC 6749 §4.1.2.1: no registered redirect URI to trust).
    let authorize: @Sendable (Request, BridgekeeperRequestContext) async -> Response = { _, _ in
        response(EndpointResponse(status: 400, body: #"{"error":"unsupported_response_type","error_description":"tokens are issued only at the token endpoint"}"#))
    }
    router.get("/authorize", use: authorize)
    router.post("/authorize", use: authorize)
    router.get("/jwks.json") { _, _ in
        json(services.keys.snapshot.document, cacheControl: "public, max-age=\(services.jwksMaxAge)", contentType: "application/jwk-set+json")
    }
    router.get(RouterPath(Metadata.wellKnownPath(issuer: services.issuer))) { _, _ in
        json(services.metadata, cacheControl: "public, max-age=300")
    }
    if let bridge = services.bridge {
        // The bridge issuer ({issuer}/bridge): its keys and its metadata at both discovery paths.
        router.get("/bridge/jwks.json") { _, _ in
            json(bridge.keys.snapshot.document, cacheControl: "public, max-age=\(services.jwksMaxAge)", contentType: "application/jwk-set+json")
        }
        router.get("/bridge/.well-known/openid-configuration") { _, _ in json(bridge.metadata, cacheControl: "public, max-age=300") }
        router.get("/.well-known/oauth-authorization-server/bridge") { _, _ in json(bridge.metadata, cacheControl: "public, max-age=300") }
    }
    router.get("/servers/:name/oauth-protected-resource") { _, context in
        guard let name = context.parameters.get("name"), let server = services.catalog.server(named: name) else {
            return Response(status: .notFound, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"error":"not_found"}"#)))
        }
        let document = JSONValue.object(Metadata.protectedResource(server, issuer: services.issuer)).serialized()
        return json(document, cacheControl: "public, max-age=300")
    }
    if let management = services.management {
        let handler: @Sendable (Request, BridgekeeperRequestContext) async -> Response = { request, context in
            await logRefusals(request, context, services, route: "/admin/v1") { await apiCall(request, context, services, management, prefixDepth: 2) }
        }
        // Every path under /admin/v1 reaches the API, so an unknown one gets its JSON 404, audited.
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            router.on("/admin/v1/**", method: method, use: handler)
        }
    }
    for api in services.apis {
        let depth = api.prefix.split(separator: "/").count
        let handler: @Sendable (Request, BridgekeeperRequestContext) async -> Response = { request, context in
            await logRefusals(request, context, services, route: api.prefix) { await apiCall(request, context, services, api.endpoint, prefixDepth: depth) }
        }
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            router.on(RouterPath(api.prefix), method: method, use: handler)
            router.on(RouterPath(api.prefix + "/**"), method: method, use: handler)
        }
    }
    for document in services.documents {
        router.get(RouterPath(document.path)) { _, _ in json(document.body, cacheControl: "public, max-age=300") }
    }
    router.get("/healthz") { _, _ in
        json(#"{"status":"ok"}"#, cacheControl: "no-store")
    }
    return router
}

/// Runs a request's handler with a `DenialTap`, then logs one `notice` line per denial it audited:
/// the reason code, the client, the route (method and path, never the query), the status and the
/// peer address. Never a token, assertion, secret or body: only what the audit record holds by
/// name, made printable (`OAuthError.descriptionSafe`). At the default level (`info`) every
/// refusal written is logged (a rate limit's 429 too, `rate_limited`); denials audited inside a
/// request that succeeded are not (a gateway's rejected SET in a 200 feed poll).
///
/// A 429 is held for `services.limitedResponseDelay` before it is answered.
///
/// The request's refusals go through `services.refusals` under `route` (`DenialAggregator.current`),
/// so a refusal counted into an aggregate is neither written nor logged on its own.
///
/// `basicNamesClient`: on the OAuth endpoints a Basic user name is a client id, logged when the
/// audit record names no client; elsewhere (management API, SCIM) it may be anything, even a token,
/// and is never read.
func logRefusals(_ request: Request, _ context: BridgekeeperRequestContext, _ services: HTTPServices, route: String, basicNamesClient: Bool = false,
                 _ handle: () async -> Response) async -> Response {
    let tap = DenialTap()
    let scope = services.refusals.map { DenialAggregator.Scope(aggregator: $0, route: route) }
    let answer = await DenialAggregator.$current.withValue(scope) { await DenialTap.$current.withValue(tap) { await handle() } }
    if answer.status.code == 429, services.limitedResponseDelay > .zero { try? await Task.sleep(for: services.limitedResponseDelay) }
    let denials = tap.denials
    guard !denials.isEmpty, answer.status.code >= 400 else { return answer }
    let claimed = basicNamesClient ? ClientAuthenticator.claimedClientID(authorization: request.headers[.authorization]) : nil
    for denial in denials {
        var metadata: Logger.Metadata = [
            "reason": "\(denial.reason.rawValue)",
            "client_id": "\((denial.clientID ?? claimed).map(OAuthError.descriptionSafe) ?? "-")",
            "route": "\(request.method.rawValue) \(OAuthError.descriptionSafe(String(request.uri.path.prefix(200))))",
            "status": "\(answer.status.code)",
        ]
        if let remote = context.remoteAddress { metadata["remote"] = "\(remote)" }
        if let issuer = denial.issuer { metadata["iss"] = "\(OAuthError.descriptionSafe(issuer))" }
        services.logger.notice("request refused", metadata: metadata)
    }
    return answer
}

func json(_ body: String, cacheControl: String, contentType: String = "application/json") -> Response {
    Response(status: .ok, headers: [.contentType: contentType, .cacheControl: cacheControl],
             body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
}

/// A form POST to an OAuth endpoint: address limit (429, audited `rate_limited`), content type,
/// body cap, then the endpoint.
func oauthPost(_ request: Request, _ context: BridgekeeperRequestContext, _ services: HTTPServices,
               _ endpoint: @Sendable ([UInt8], String?, String?) async -> EndpointResponse) async -> Response {
    let remote = context.remoteAddress
    if let limiter = services.addressLimiter, let remote, case .refuse(let retryAfter) = limiter.admit(remote, now: services.clock.now()) {
        return response(await services.tokenEndpoint.refuse(.rateLimited(retryAfter: retryAfter), remoteAddress: remote))
    }
    let contentType = request.headers[.contentType].map { $0.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? "" }
    guard contentType == "application/x-www-form-urlencoded" else {
        return response(await services.tokenEndpoint.refuse(
            OAuthError(.invalidRequest, "the body must be application/x-www-form-urlencoded", reason: .malformedForm), remoteAddress: remote))
    }
    let buffer: ByteBuffer
    do {
        buffer = try await request.body.collect(upTo: TokenEndpoint.maxBodyBytes)
    } catch {
        return response(await services.tokenEndpoint.refuse(
            OAuthError(.invalidRequest, "request body is too large", reason: .requestTooLarge), remoteAddress: remote))
    }
    let body = Array(buffer.readableBytesView)
    return response(await endpoint(body, request.headers[.authorization], remote))
}

/// A JSON API call: the address limit (429, audited `rate_limited`), a capped body, then the
/// endpoint with the path after its prefix (`prefixDepth` segments).
func apiCall(_ request: Request, _ context: BridgekeeperRequestContext, _ services: HTTPServices,
             _ endpoint: any APIEndpoint, prefixDepth: Int) async -> Response {
    let remote = context.remoteAddress
    if let limiter = services.addressLimiter, let remote, case .refuse(let retryAfter) = limiter.admit(remote, now: services.clock.now()) {
        return response(await services.tokenEndpoint.refuse(.rateLimited(retryAfter: retryAfter), remoteAddress: remote))
    }
    let body: [UInt8]
    do {
        body = Array(try await request.body.collect(upTo: 65_536).readableBytesView)
    } catch {
        return response(EndpointResponse(status: 413, body: #"{"error":"invalid_request","error_description":"request body is too large"}"#))
    }
    let path = request.uri.path.split(separator: "/").dropFirst(prefixDepth).map { String($0).removingPercentEncoding ?? String($0) }
    var query: [String: String] = [:]
    for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
    let contentType = request.headers[.contentType].map { $0.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? "" }
    var headers: [String: String] = [:]
    for field in request.headers { headers[field.name.canonicalName] = field.value }
    return response(await endpoint.handle(APIRequest(method: request.method.rawValue, path: path, query: query,
                                                      authorization: request.headers[.authorization], contentType: contentType,
                                                      body: body, remoteAddress: remote, headers: headers)))
}

func response(_ answer: EndpointResponse) -> Response {
    var headers = HTTPFields()
    for (name, value) in answer.headers.sorted(by: { $0.key < $1.key }) {
        if let field = HTTPField.Name(name) { headers[field] = value }
    }
    return Response(status: HTTPResponse.Status(code: answer.status), headers: headers,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body)))
}
