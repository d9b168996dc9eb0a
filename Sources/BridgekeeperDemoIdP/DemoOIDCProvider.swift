public import BridgekeeperCore
public import BridgekeeperJOSE
public import Foundation
import Hummingbird
public import Logging
import HTTPTypes
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// A small OpenID Connect provider: the demo's sign-in page and the login tests' peer. Demo-grade
/// and test-grade only, never to be deployed: a person signs in by typing a user name (no
/// password), and its signing key is the public demo key from `idp-fixtures/demo-idp`.
///
/// What it implements, and checks strictly, because `bridgekeeper login` is tested against it:
/// - discovery (OIDC Discovery §3) at `/.well-known/openid-configuration`, its keys at `/jwks.json`;
/// - the authorization code flow (OIDC Core §3.1) for public native clients: `GET /authorize`
///   validates `client_id`, then `redirect_uri` (a loopback URI, RFC 8252 §7.3: `http://127.0.0.1`
///   or `http://[::1]`, any port, exactly a registered path), then `response_type=code`, `openid`
///   in `scope`, and a PKCE `code_challenge` with method `S256` (RFC 7636 §4.3), and answers a
///   sign-in form; `POST /authorize` (the form) redirects with a single-use `code` (60 s), `state`
///   and `iss` (RFC 9207), or with `error=access_denied` when the person cancels. An unknown
///   client or redirect URI gets an error page, never a redirect (RFC 6749 §4.1.2.1);
/// - `POST /token` (RFC 6749 §4.1.3, §6): `authorization_code` with `client_id`, the same
///   `redirect_uri` and a `code_verifier` whose S256 matches the challenge; `refresh_token` with
///   rotation (each refresh token works once). Refresh tokens are issued only for the
///   `offline_access` scope. Errors per RFC 6749 §5.2, every answer `Cache-Control: no-store`;
/// - ID tokens (OIDC Core §2) signed RS256, header `typ: JWT`, claims `iss`, `sub`, `aud` (the
///   client), `iat`, `exp`, `auth_time`, `nonce` (when the request had one; never after a refresh,
///   OIDC Core §12.2), `email`, `groups`, `jti`.
public final class DemoOIDCProvider: Sendable {
    public struct User: Sendable {
        public var name: String
        public var subject: String
        public var email: String?
        public var groups: [String]

        public init(name: String, subject: String, email: String? = nil, groups: [String] = []) {
            self.name = name
            self.subject = subject
            self.email = email
            self.groups = groups
        }
    }

    /// A public client (no secret) and the paths of its loopback redirect URIs.
    public struct Client: Sendable {
        public var id: String
        public var redirectPaths: [String]

        public init(id: String, redirectPaths: [String]) {
            self.id = id
            self.redirectPaths = redirectPaths
        }
    }

    public struct Settings: Sendable {
        public var users: [User]
        public var clients: [Client]
        /// The key ID tokens are signed with (RS256).
        public var signingKey: SigningKey
        /// What `/jwks.json` publishes. Default: the signing key's public half. Tests publish
        /// another key to make the provider hand out forged ID tokens.
        public var publishedKeys: [JSONObject]?
        /// The issuer. Default `http://<host>:<port>` once listening.
        public var issuer: String?
        /// ID-token lifetime in seconds. Default 3600.
        public var idTokenLifetime: TimeInterval = 3600
        /// Refresh-token lifetime in seconds. Default 8 hours.
        public var refreshTokenLifetime: TimeInterval = 8 * 3600
        /// Authorization-code lifetime in seconds. Default 60.
        public var codeLifetime: TimeInterval = 60

        public init(users: [User], clients: [Client], signingKey: SigningKey) {
            self.users = users
            self.clients = clients
            self.signingKey = signingKey
        }

        /// The kid of the demo RS256 key in `idp-fixtures/demo-idp/jwks.json` (as `Demo.IdP` signs).
        public static let demoKeyID = "demo-rs256"
        /// The demo's native client (`bridgekeeper-cli` maps it in `idp_client_ids`).
        public static let demoClientID = "bridgekeeper-cli-native"

        /// The demo: users from `users.json`, the RS256 key from `signing-rs256.pem`, one client
        /// `bridgekeeper-cli-native` redirecting to `/callback`.
        public static func demo(fixtures: String) throws(DemoIdPError) -> Settings {
            let usersFile = (fixtures as NSString).appendingPathComponent("users.json")
            guard let data = FileManager.default.contents(atPath: usersFile),
                  let object = (try? JSONValue.parse(Array(data)))?.objectValue else {
                throw DemoIdPError("cannot read \(usersFile): run from the project folder or pass --fixtures")
            }
            var users: [User] = []
            for member in object.members {
                guard let entry = member.value.objectValue, let sub = entry["sub"]?.stringValue else {
                    throw DemoIdPError("\(usersFile): user \(member.name) needs a sub")
                }
                users.append(User(name: member.name, subject: sub, email: entry["email"]?.stringValue,
                                  groups: entry["groups"]?.arrayValue?.compactMap(\.stringValue) ?? []))
            }
            let pemFile = (fixtures as NSString).appendingPathComponent("signing-rs256.pem")
            guard let pem = try? String(contentsOfFile: pemFile, encoding: .utf8) else { throw DemoIdPError("cannot read \(pemFile)") }
            let key: SigningKey
            do { key = try SigningKey(pem: pem, algorithm: .rs256, keyID: demoKeyID) } catch {
                throw DemoIdPError("\(pemFile): \(error)")
            }
            return Settings(users: users, clients: [Client(id: demoClientID, redirectPaths: ["/callback"])], signingKey: key)
        }
    }

    /// Counts, for tests.
    public struct Statistics: Sendable, Equatable {
        public var codesIssued = 0
        public var codesRedeemed = 0
        public var refreshes = 0

        public init(codesIssued: Int = 0, codesRedeemed: Int = 0, refreshes: Int = 0) {
            self.codesIssued = codesIssued
            self.codesRedeemed = codesRedeemed
            self.refreshes = refreshes
        }
    }

    let settings: Settings
    let clock: any WallClock
    let logger: Logger
    let state = Mutex(State())

    struct State {
        var issuer: String?
        var codes: [ExactString: PendingCode] = [:]
        var refreshTokens: [ExactString: Session] = [:]
        var statistics = Statistics()
    }

    /// What a code stands for until it is redeemed.
    struct PendingCode {
        let session: Session
        let redirectURI: String
        let codeChallenge: String
        let nonce: String?
        let expiry: Date
    }

    /// One sign-in: who, for which client, when, with which scopes.
    struct Session {
        let user: User
        let clientID: String
        let scopes: [String]
        let authTime: Date
        var expiry: Date = .distantFuture
    }

    /// - Parameter logger: default: one that logs nothing (tests); the CLI passes its own.
    public init(settings: Settings, clock: any WallClock = SystemClock(), logger: Logger? = nil) {
        self.settings = settings
        self.clock = clock
        self.logger = logger ?? {
            var quiet = Logger(label: "demo-idp")
            quiet.logLevel = .critical
            return quiet
        }()
        state.withLock { $0.issuer = settings.issuer }
    }

    /// The issuer, once known (set at once when configured, else when listening).
    public var issuer: String? { state.withLock { $0.issuer } }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Serves on `host:port` until SIGTERM or SIGINT; `onRunning` gets the issuer once listening.
    public func run(host: String = "127.0.0.1", port: Int, onRunning: @escaping @Sendable (String) async -> Void = { _ in }) async throws {
        let app = application(host: host, port: port) { issuer in await onRunning(issuer) }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Starts in this process (port 0 = any free port) and returns once listening.
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> Running {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let app = application(host: host, port: port) { issuer in continuation.yield(issuer) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = stream.makeAsyncIterator()
        guard let issuer = await iterator.next() else {
            try await task.value
            throw DemoIdPError("the demo IdP stopped before it listened")
        }
        return Running(issuer: issuer, group: group, task: task)
    }

    /// A provider started in process.
    public struct Running: Sendable {
        public let issuer: String
        let group: ServiceGroup
        let task: Task<Void, any Error>

        /// Stops listening and waits for the server to finish.
        public func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    func application(host: String, port: Int, onRunning: @escaping @Sendable (String) async -> Void) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.get("/.well-known/openid-configuration") { _, _ in self.discovery() }
        router.get("/jwks.json") { _, _ in self.jwks() }
        router.get("/authorize") { request, _ in self.authorizeGet(query: request.uri.query ?? "") }
        router.post("/authorize") { request, _ in
            guard let body = await Self.formBody(request) else { return Self.page(status: .badRequest, Self.errorPage("The form is malformed or too large.")) }
            return self.authorizePost(body: body)
        }
        router.post("/token") { request, _ in
            guard let body = await Self.formBody(request) else {
                return Self.tokenError(.badRequest, "invalid_request", "the body must be application/x-www-form-urlencoded, at most 16 KiB")
            }
            return self.token(body: body)
        }
        let displayHost = host.contains(":") ? "[\(host)]" : host
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "bridgekeeper-demo-idp"),
                           onServerRunning: { channel in
                               let bound = channel.localAddress?.port ?? port
                               let issuer = self.state.withLock { state -> String in
                                   if state.issuer == nil { state.issuer = "http://\(displayHost):\(bound)" }
                                   return state.issuer!
                               }
                               await onRunning(issuer)
                           },
                           logger: logger)
    }

    var currentIssuer: String { state.withLock { $0.issuer } ?? "http://127.0.0.1" }

    // MARK: - Discovery and keys

    func discovery() -> Response {
        let issuer = currentIssuer
        let strings: ([String]) -> JSONValue = { .array($0.map(JSONValue.string)) }
        let document = JSONObject([
            "issuer": .string(issuer),
            "authorization_endpoint": .string(issuer + "/authorize"),
            "token_endpoint": .string(issuer + "/token"),
            "jwks_uri": .string(issuer + "/jwks.json"),
            "response_types_supported": strings(["code"]),
            "response_modes_supported": strings(["query"]),
            "grant_types_supported": strings(["authorization_code", "refresh_token"]),
            "code_challenge_methods_supported": strings(["S256"]),
            "id_token_signing_alg_values_supported": strings(["RS256"]),
            "subject_types_supported": strings(["public"]),
            "scopes_supported": strings(["openid", "profile", "email", "offline_access"]),
            "token_endpoint_auth_methods_supported": strings(["none"]),
            "claims_supported": strings(["iss", "sub", "aud", "iat", "exp", "auth_time", "nonce", "email", "groups", "jti"]),
            "authorization_response_iss_parameter_supported": .bool(true),
        ])
        return Self.json(.ok, JSONValue.object(document).serialized(), cacheControl: "no-cache")
    }

    func jwks() -> Response {
        let keys = settings.publishedKeys ?? [(try? settings.signingKey.publicJWK()) ?? JSONObject()]
        return Self.json(.ok, JSONValue.object(JSONObject(["keys": .array(keys.map(JSONValue.object))])).serialized(),
                         cacheControl: "no-cache", contentType: "application/jwk-set+json")
    }

    // MARK: - The authorization endpoint

    /// A validated authorization request.
    struct AuthorizationRequest {
        let client: Client
        let redirectURI: String
        let state: String?
        let nonce: String?
        let scopes: [String]
        let codeChallenge: String
        let form: FormParameters
    }

    enum AuthorizationProblem: Error {
        /// No client or redirect URI to trust: an error page, never a redirect.
        case page(String)
        /// Told to the client at its redirect URI (RFC 6749 §4.1.2.1).
        case redirect(to: String, error: String, description: String, state: String?)
    }

    static let authorizationParameters = ["client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
                                          "code_challenge_method"]

    func authorizationRequest(_ form: FormParameters) throws(AuthorizationProblem) -> AuthorizationRequest {
        do { try form.rejectRepeats() } catch { throw .page("A parameter appears more than once.") }
        guard let clientID = form.value("client_id"), let client = settings.clients.first(where: { $0.id.isExactly(clientID) }) else {
            throw .page("Unknown client.")
        }
        guard let redirectURI = form.value("redirect_uri"), Self.isLoopbackRedirect(redirectURI, paths: client.redirectPaths) else {
            throw .page("The redirect_uri is not registered for this client (a loopback http://127.0.0.1 or http://[::1] URI, any port, registered path).")
        }
        let state = form.value("state")
        func refuse(_ error: String, _ description: String) -> AuthorizationProblem {
            .redirect(to: redirectURI, error: error, description: description, state: state)
        }
        guard form.value("response_type")?.isExactly("code") == true else {
            throw refuse("unsupported_response_type", "only response_type=code is supported")
        }
        let scopes = (form.value("scope") ?? "").split(separator: " ").map(String.init)
        guard scopes.containsExactly("openid") else { throw refuse("invalid_scope", "scope must include openid") }
        guard let challenge = form.value("code_challenge"), Self.isPKCEValue(challenge) else {
            throw refuse("invalid_request", "a PKCE code_challenge is required (RFC 7636)")
        }
        guard form.value("code_challenge_method")?.isExactly("S256") == true else {
            throw refuse("invalid_request", "code_challenge_method must be S256")
        }
        return AuthorizationRequest(client: client, redirectURI: redirectURI, state: state, nonce: form.value("nonce"), scopes: scopes,
                                    codeChallenge: challenge, form: form)
    }

    /// RFC 8252 §7.3: `http://127.0.0.1:{port}{path}` or `http://[::1]:{port}{path}`, any port, the
    /// path exactly one registered (so no query or fragment either).
    static func isLoopbackRedirect(_ uri: String, paths: [String]) -> Bool {
        for prefix in ["http://127.0.0.1:", "http://[::1]:"] where uri.utf8.starts(with: prefix.utf8) {
            let rest = uri.utf8.dropFirst(prefix.utf8.count)
            let digits = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard (1...5).contains(digits.count), let port = Int(String(decoding: digits, as: UTF8.self)), (1...65535).contains(port) else {
                return false
            }
            return paths.containsExactly(String(decoding: rest.dropFirst(digits.count), as: UTF8.self))
        }
        return false
    }

    /// 43 to 128 characters of ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 7636 §4.1, §4.2).
    static func isPKCEValue(_ value: String) -> Bool {
        (43...128).contains(value.utf8.count) && value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                return true
            default:
                return false
            }
        }
    }

    func authorizeGet(query: String) -> Response {
        let form: FormParameters
        do { form = try FormParameters(Array(query.utf8)) } catch { return Self.page(status: .badRequest, Self.errorPage("The request is malformed.")) }
        do {
            return Self.page(status: .ok, loginPage(try authorizationRequest(form), error: nil))
        } catch {
            return problemResponse(error)
        }
    }

    func authorizePost(body: [UInt8]) -> Response {
        let form: FormParameters
        do { form = try FormParameters(body) } catch { return Self.page(status: .badRequest, Self.errorPage("The form is malformed.")) }
        let request: AuthorizationRequest
        do { request = try authorizationRequest(form) } catch { return problemResponse(error) }
        if form.value("cancel") != nil {
            return problemResponse(.redirect(to: request.redirectURI, error: "access_denied", description: "the person cancelled the sign-in",
                                             state: request.state))
        }
        guard let name = form.value("username")?.trimmingCharacters(in: .whitespaces), !name.isEmpty else {
            return Self.page(status: .ok, loginPage(request, error: "Enter a user name."))
        }
        guard let user = settings.users.first(where: { $0.name.isExactly(name) }) else {
            return Self.page(status: .ok, loginPage(request, error: "Unknown user \(name)."))
        }
        let now = clock.now()
        let code = SecureRandom.identifier(bytes: 32)
        let pending = PendingCode(session: Session(user: user, clientID: request.client.id, scopes: request.scopes, authTime: now),
                                  redirectURI: request.redirectURI, codeChallenge: request.codeChallenge, nonce: request.nonce,
                                  expiry: now.addingTimeInterval(settings.codeLifetime))
        state.withLock { state in
            state.codes = state.codes.filter { $0.value.expiry > now }
            state.codes[ExactString(code)] = pending
            state.statistics.codesIssued += 1
        }
        logger.info("signed in", metadata: ["user": "\(user.name)", "client_id": "\(request.client.id)"])
        var pairs = [("code", code)]
        if let state = request.state { pairs.append(("state", state)) }
        pairs.append(("iss", currentIssuer))
        return Self.redirect(request.redirectURI + "?" + Self.formEncoded(pairs))
    }

    func problemResponse(_ problem: AuthorizationProblem) -> Response {
        switch problem {
        case .page(let message):
            return Self.page(status: .badRequest, Self.errorPage(message))
        case .redirect(let uri, let error, let description, let state):
            var pairs = [("error", error), ("error_description", description)]
            if let state { pairs.append(("state", state)) }
            pairs.append(("iss", currentIssuer))
            return Self.redirect(uri + "?" + Self.formEncoded(pairs))
        }
    }

    func loginPage(_ request: AuthorizationRequest, error: String?) -> String {
        let hidden = Self.authorizationParameters.compactMap { name in
            request.form.value(name).map { #"<input type="hidden" name="\#(name)" value="\#(Self.escape($0))">"# }
        }.joined(separator: "\n    ")
        let rows = settings.users.map { user in
            "<tr><td><code>\(Self.escape(user.name))</code></td><td>\(Self.escape(user.email ?? ""))</td><td>\(Self.escape(user.groups.joined(separator: ", ")))</td></tr>"
        }.joined(separator: "\n      ")
        let problem = error.map { #"<p class="error" role="alert">\#(Self.escape($0))</p>"# } ?? ""
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Sign in: Bridgekeeper demo IdP</title></head>
        <body>
          <h1>Sign in to the Bridgekeeper demo IdP</h1>
          <p>Demo only: there are no passwords. \(Self.escape(request.client.id)) asks you to sign in.</p>
          \(problem)
          <form method="post" action="/authorize">
            \(hidden)
            <label>User name <input name="username" autofocus autocomplete="username"></label>
            <button type="submit">Sign in</button>
            <button type="submit" name="cancel" value="1">Cancel</button>
          </form>
          <table>
            <tr><th>user</th><th>email</th><th>groups</th></tr>
              \(rows)
          </table>
        </body></html>
        """
    }

    // MARK: - The token endpoint

    struct TokenFailure: Error {
        let status: HTTPResponse.Status
        let error: String
        let description: String

        init(_ error: String, _ description: String, status: HTTPResponse.Status = .badRequest) {
            self.status = status
            self.error = error
            self.description = description
        }
    }

    func token(body: [UInt8]) -> Response {
        do throws(TokenFailure) {
            let form: FormParameters
            do {
                form = try FormParameters(body)
                try form.rejectRepeats()
            } catch { throw TokenFailure("invalid_request", error.message) }
            guard let clientID = form.value("client_id") else { throw TokenFailure("invalid_request", "client_id is required (public client)") }
            guard settings.clients.contains(where: { $0.id.isExactly(clientID) }) else {
                throw TokenFailure("invalid_client", "unknown client", status: .unauthorized)
            }
            guard form.value("client_secret") == nil else { throw TokenFailure("invalid_client", "this client is public: no secret", status: .unauthorized) }
            guard let grantType = form.value("grant_type") else { throw TokenFailure("invalid_request", "grant_type is required") }
            if grantType.isExactly("authorization_code") { return try redeemCode(form, clientID: clientID) }
            if grantType.isExactly("refresh_token") { return try refresh(form, clientID: clientID) }
            throw TokenFailure("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
        } catch {
            return Self.tokenError(error.status, error.error, error.description)
        }
    }

    func redeemCode(_ form: FormParameters, clientID: String) throws(TokenFailure) -> Response {
        guard let code = form.value("code"), let redirectURI = form.value("redirect_uri"), let verifier = form.value("code_verifier") else {
            throw TokenFailure("invalid_request", "code, redirect_uri and code_verifier are required")
        }
        let now = clock.now()
        // Taken out on first presentation, whatever follows: a code works once (RFC 6749 §4.1.2).
        let pending = state.withLock { $0.codes.removeValue(forKey: ExactString(code)) }
        guard let pending, now < pending.expiry else { throw TokenFailure("invalid_grant", "the code is unknown, used or expired") }
        guard pending.session.clientID.isExactly(clientID) else { throw TokenFailure("invalid_grant", "the code was issued to another client") }
        guard pending.redirectURI.isExactly(redirectURI) else {
            throw TokenFailure("invalid_grant", "redirect_uri differs from the authorization request's")
        }
        guard Self.isPKCEValue(verifier),
              Digest.constantTimeEquals(Array(Base64URL.encode(Digest.sha256(Array(verifier.utf8))).utf8), Array(pending.codeChallenge.utf8)) else {
            throw TokenFailure("invalid_grant", "code_verifier does not match the code_challenge (RFC 7636 4.6)")
        }
        state.withLock { $0.statistics.codesRedeemed += 1 }
        return try tokens(for: pending.session, nonce: pending.nonce, now: now)
    }

    func refresh(_ form: FormParameters, clientID: String) throws(TokenFailure) -> Response {
        guard let presented = form.value("refresh_token") else { throw TokenFailure("invalid_request", "refresh_token is required") }
        let now = clock.now()
        // Rotation: the token presented is spent whatever follows.
        let session = state.withLock { $0.refreshTokens.removeValue(forKey: ExactString(presented)) }
        guard let session, now < session.expiry else { throw TokenFailure("invalid_grant", "the refresh token is unknown, used or expired") }
        guard session.clientID.isExactly(clientID) else { throw TokenFailure("invalid_grant", "the refresh token was issued to another client") }
        state.withLock { $0.statistics.refreshes += 1 }
        return try tokens(for: session, nonce: nil, now: now)
    }

    /// The token response: an opaque access token (nothing here accepts it), the ID token, and a
    /// fresh refresh token when `offline_access` was granted.
    func tokens(for session: Session, nonce: String?, now: Date) throws(TokenFailure) -> Response {
        let iat = Int64(now.timeIntervalSince1970)
        var claims = JSONObject([
            "iss": .string(currentIssuer), "sub": .string(session.user.subject), "aud": .string(session.clientID),
            "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + Int64(settings.idTokenLifetime))),
            "auth_time": .number(JSONNumber(Int64(session.authTime.timeIntervalSince1970))),
        ])
        if let nonce { claims["nonce"] = .string(nonce) }
        if let email = session.user.email { claims["email"] = .string(email) }
        claims["groups"] = .array(session.user.groups.map(JSONValue.string))
        claims["jti"] = .string(SecureRandom.identifier())
        let idToken: String
        do { idToken = try settings.signingKey.signJWT(type: "JWT", claims: claims) } catch {
            throw TokenFailure("server_error", "signing failed", status: .internalServerError)
        }
        var response = JSONObject([
            "access_token": .string(SecureRandom.identifier(bytes: 32)), "token_type": "Bearer",
            "expires_in": .number(JSONNumber(Int64(settings.idTokenLifetime))), "id_token": .string(idToken),
            "scope": .string(session.scopes.joined(separator: " ")),
        ])
        if session.scopes.containsExactly("offline_access") {
            let refreshToken = SecureRandom.identifier(bytes: 32)
            var renewed = session
            renewed.expiry = now.addingTimeInterval(settings.refreshTokenLifetime)
            state.withLock { state in
                state.refreshTokens = state.refreshTokens.filter { $0.value.expiry > now }
                state.refreshTokens[ExactString(refreshToken)] = renewed
            }
            response["refresh_token"] = .string(refreshToken)
        }
        return Self.json(.ok, JSONValue.object(response).serialized(), cacheControl: "no-store")
    }

    // MARK: - HTTP helpers

    /// A form body (`application/x-www-form-urlencoded`, at most 16 KiB), or nil.
    static func formBody(_ request: Request) async -> [UInt8]? {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-www-form-urlencoded" else { return nil }
        guard let buffer = try? await request.body.collect(upTo: FormParameters.defaultMaxBytes) else { return nil }
        return Array(buffer.readableBytesView)
    }

    static func json(_ status: HTTPResponse.Status, _ body: String, cacheControl: String, contentType: String = "application/json") -> Response {
        var headers: HTTPFields = [.contentType: contentType, .cacheControl: cacheControl]
        if cacheControl == "no-store" { headers[HTTPField.Name("Pragma")!] = "no-cache" }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// RFC 6749 §5.2: `{"error","error_description"}`, no-store.
    static func tokenError(_ status: HTTPResponse.Status, _ error: String, _ description: String) -> Response {
        json(status, JSONValue.object(JSONObject(["error": .string(error), "error_description": .string(description)])).serialized(),
             cacheControl: "no-store")
    }

    static func page(status: HTTPResponse.Status, _ html: String) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                   .contentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'"]
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func errorPage(_ message: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head>
        <body><h1>Sign-in error</h1><p>\(escape(message))</p></body></html>
        """
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func formEncoded(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        allowed.insert(charactersIn: "-._~")
        return pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
    }
}

/// The demo IdP could not start (fixtures missing or unreadable).
public struct DemoIdPError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
