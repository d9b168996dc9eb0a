public import BridgekeeperCore
import BridgekeeperFetch
import BridgekeeperJOSE
public import Foundation

/// Signs a person in at an IdP from a terminal (OIDC Core §3.1, authorization code flow, as a
/// native app per RFC 8252 with PKCE per RFC 7636) and saves the session.
///
/// Order: discovery (issuer exactly the configured one) → loopback listener on 127.0.0.1 → fresh
/// `state`, `nonce` and PKCE verifier → the authorization URL shown to the person (`present`) →
/// the redirect (`iss` when sent, `state`, `error`, `code`; `timeout` seconds at most) → the code
/// redeemed at the token endpoint (`client_id`, `redirect_uri`, `code_verifier`; a public
/// client) → the ID token verified (`IDTokenCheck`: signature with the IdP's JWKS, `iss`, `aud`,
/// `exp`, `nonce`) → the session saved (`SessionStore`).
public struct SignIn: Sendable {
    public let configuration: ClientConfiguration
    public let idp: ClientConfiguration.IdP
    public let store: SessionStore
    public let clock: any WallClock
    /// Seconds to wait for the redirect. Default 300.
    public var timeout: Double = 300

    public init(configuration: ClientConfiguration, idp: ClientConfiguration.IdP, store: SessionStore, clock: any WallClock = SystemClock()) {
        self.configuration = configuration
        self.idp = idp
        self.store = store
        self.clock = clock
    }

    /// Runs the sign-in; `present` receives the authorization URL once the listener is up.
    public func run(present: @Sendable (String) async -> Void) async throws(ClientError) -> (Session, VerifiedIDToken) {
        let http = ClientHTTP(allowLoopbackHTTP: configuration.allowLoopbackHTTP)
        let metadata = try await ProviderMetadata.discover(issuer: idp.issuer, http: http)
        let state = SecureRandom.identifier(bytes: 32)
        let nonce = SecureRandom.identifier(bytes: 32)
        let pkce = PKCE.generate()
        let listener = try await LoopbackRedirect.start(port: idp.redirectPort, path: idp.redirectPath, state: state, issuer: metadata.issuer,
                                                        requireIssuer: metadata.sendsIssuerInResponses, idpName: idp.name)
        let outcome: LoopbackRedirect.Outcome
        do throws(ClientError) {
            let query = HTTPRequest.formEncoded([
                ("response_type", "code"), ("client_id", idp.clientID), ("redirect_uri", listener.redirectURI),
                ("scope", idp.scopes.joined(separator: " ")), ("state", state), ("nonce", nonce),
                ("code_challenge", pkce.challenge), ("code_challenge_method", "S256"),
            ])
            await present(metadata.authorizationEndpoint + (metadata.authorizationEndpoint.contains("?") ? "&" : "?") + query)
            outcome = try await listener.next(timeout: timeout)
        } catch {
            await listener.stop()
            throw error
        }
        await listener.stop()

        let code: String
        switch outcome {
        case .code(let value):
            code = value
        case .refused(let error, let description):
            throw ClientError.remote(error, "\(idp.name) refused the sign-in" + (description.map { ": \($0)" } ?? ""))
        case .stateMismatch:
            throw ClientError(.stateMismatch, "the redirect's state is not the one this sign-in sent (a forged or stale response); nothing was saved")
        case .issuerMismatch:
            throw ClientError(.issuerMismatch, "the redirect names another issuer than \(idp.issuer) (RFC 9207); nothing was saved")
        case .malformed(let reason):
            throw ClientError(.invalidResponse, reason)
        }

        let answer = try await http.postForm(metadata.tokenEndpoint, [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", listener.redirectURI),
            ("client_id", idp.clientID), ("code_verifier", pkce.verifier),
        ], what: "redeeming the code at \(idp.name)")
        guard let idToken = answer["id_token"]?.stringValue else {
            throw ClientError(.invalidResponse, "\(idp.name)'s token endpoint returned no id_token (is openid among the scopes?)")
        }
        let keys = try await http.keys(metadata.jwksURI)
        let verified = try IDTokenCheck(issuer: metadata.issuer, clientID: idp.clientID, algorithms: metadata.signingAlgorithms,
                                        nonce: .exactly(nonce)).verify(idToken, keys: keys, now: clock.now())
        let session = Session(idp: idp.name, issuer: metadata.issuer, clientID: idp.clientID, tokenEndpoint: metadata.tokenEndpoint,
                              jwksURI: metadata.jwksURI, idToken: idToken, idTokenExpiry: verified.expiry,
                              refreshToken: answer["refresh_token"]?.stringValue, subject: verified.subject, nonce: nonce)
        try store.save(session)
        return (session, verified)
    }
}

/// What `bridgekeeper token` does with a saved session: keep its ID token fresh (refresh within
/// `refreshMargin` of expiry, with rotation), name a catalog server's resource through the
/// broker's RFC 9728 document, and exchange the ID token for an access token (RFC 8693) with
/// `client_secret_basic`.
public struct TokenService: Sendable {
    /// An ID token expiring within this many seconds is refreshed first. 60.
    public static let refreshMargin: TimeInterval = 60

    public let configuration: ClientConfiguration
    public let idp: ClientConfiguration.IdP
    public let store: SessionStore
    public let clock: any WallClock
    let http: ClientHTTP

    public init(configuration: ClientConfiguration, idp: ClientConfiguration.IdP, store: SessionStore, clock: any WallClock = SystemClock()) {
        self.configuration = configuration
        self.idp = idp
        self.store = store
        self.clock = clock
        http = ClientHTTP(allowLoopbackHTTP: configuration.allowLoopbackHTTP)
    }

    func loginRequired(_ why: String) -> ClientError {
        ClientError(.loginRequired, "\(why): run `bridgekeeper login --idp \(idp.name)`")
    }

    /// The session, refreshed when its ID token expires within `refreshMargin`. A refresh that
    /// fails while the ID token is still valid is reported through `warn` and the ID token used;
    /// an expired ID token that cannot be refreshed means signing in again.
    public func currentSession(warn: @Sendable (String) -> Void = { _ in }) async throws(ClientError) -> Session {
        guard let session = try store.load(idp: idp.name) else { throw loginRequired("no session for \(idp.name)") }
        guard session.issuer.isExactly(idp.issuer), session.clientID.isExactly(idp.clientID) else {
            throw loginRequired("the session for \(idp.name) was made for another issuer or client")
        }
        let now = clock.now()
        if session.idTokenExpiry.timeIntervalSince(now) > Self.refreshMargin { return session }
        guard let refreshToken = session.refreshToken else {
            guard now < session.idTokenExpiry else { throw loginRequired("the session for \(idp.name) expired and has no refresh token") }
            return session
        }
        do throws(ClientError) {
            return try await refresh(session, refreshToken: refreshToken)
        } catch {
            guard now < session.idTokenExpiry else {
                throw loginRequired("the session for \(idp.name) expired and could not be refreshed (\(error.code): \(error.reason))")
            }
            warn("warning: could not refresh the session for \(idp.name) (\(error.code)); using its ID token until it expires")
            return session
        }
    }

    /// RFC 6749 §6 with a public client; the new ID token is verified like the first (same `iss`,
    /// `aud`, `sub`; no `nonce` or the original), and the rotated refresh token saved.
    func refresh(_ session: Session, refreshToken: String) async throws(ClientError) -> Session {
        let answer = try await http.postForm(session.tokenEndpoint, [
            ("grant_type", "refresh_token"), ("refresh_token", refreshToken), ("client_id", session.clientID),
        ], what: "refreshing the session at \(idp.name)")
        guard let idToken = answer["id_token"]?.stringValue else {
            throw ClientError(.invalidResponse, "\(idp.name) returned no new ID token on refresh")
        }
        let keys = try await http.keys(session.jwksURI)
        let verified = try IDTokenCheck(issuer: session.issuer, clientID: session.clientID, algorithms: JWSAlgorithm.asymmetric,
                                        nonce: .absentOr(session.nonce), subject: session.subject).verify(idToken, keys: keys, now: clock.now())
        var renewed = session
        renewed.idToken = idToken
        renewed.idTokenExpiry = verified.expiry
        renewed.refreshToken = answer["refresh_token"]?.stringValue ?? refreshToken
        try store.save(renewed)
        return renewed
    }

    /// The resource indicator of catalog server `name`, from `{broker}/servers/{name}/oauth-protected-resource`.
    public func resource(server name: String) async throws(ClientError) -> String {
        guard ClientConfiguration.isSessionName(name) else { throw ClientError(.usage, "a server name is letters, digits, '.', '_' or '-'") }
        let url = configuration.brokerBase + "/servers/" + name + "/oauth-protected-resource"
        let answer = try await http.send(HTTPRequest(url: url, headers: [.init("Accept", "application/json")]), what: "the broker's server list")
        if answer.status == 404 { throw ClientError(.unknownServer, "the broker at \(configuration.broker) has no server named \(name)") }
        guard answer.status == 200, let document = (try? JSONValue.parse(answer.body))?.objectValue,
              let resource = document["resource"]?.stringValue, !resource.isEmpty else {
            throw ClientError(.invalidResponse, "the broker's metadata for \(name) is unusable (HTTP \(answer.status))")
        }
        return resource
    }

    /// An access token from the broker (RFC 8693). With `actor`, the token is for that agent acting
    /// on the signed-in person's behalf (`act` = the agent): its assertion goes as `actor_token`.
    /// A refusal is the broker's `error` and `error_description`.
    public func exchange(idToken: String, resource: String, scope: String?, actor: AgentActor? = nil) async throws(ClientError) -> IssuedAccessToken {
        let secret = try configuration.resolveClientSecret()
        var pairs = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("subject_token", idToken),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
            ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"), ("resource", resource),
        ]
        if let scope { pairs.append(("scope", scope)) }
        if let actor {
            pairs.append(("actor_token", try actor.assertion(audience: configuration.broker, now: clock.now())))
            pairs.append(("actor_token_type", "urn:ietf:params:oauth:token-type:jwt"))
        }
        let answer = try await http.postForm(configuration.brokerBase + "/token", pairs,
                                             headers: [.init("Authorization", HTTPRequest.basicAuthorization(clientID: configuration.clientID, secret: secret))],
                                             what: "the token exchange at \(configuration.broker)")
        guard let token = answer["access_token"]?.stringValue, !token.isEmpty,
              answer["token_type"]?.stringValue?.lowercased() == "bearer" else {
            throw ClientError(.invalidResponse, "the broker's answer holds no Bearer access token")
        }
        return IssuedAccessToken(token: token, expiresIn: answer["expires_in"]?.numberValue?.exactInteger.map(Int.init),
                                 scope: answer["scope"]?.stringValue)
    }
}

/// An agent registered with the broker (issue 5), with its private key: it proves itself with an
/// RFC 7523 assertion (`iss` = `sub` = its id, `aud` = the broker), single-use and short-lived.
public struct AgentActor: Sendable {
    public let id: String
    let key: SigningKey

    /// - Parameter keyFile: a PKCS#8 PEM (with `algorithm`; its kid is the RFC 7638 thumbprint, as
    ///   `bridgekeeper keys generate` publishes it) or a private JWK (its own `alg` and `kid`).
    public init(id: String, keyFile contents: String, algorithm: String?) throws(ClientError) {
        self.id = id
        do {
            if contents.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{") {
                key = try SigningKey(jwk: contents, algorithm: algorithm.flatMap(JWSAlgorithm.init(exactName:)))
            } else {
                guard let algorithm = JWSAlgorithm(exactName: algorithm ?? "ES256"), !algorithm.isSymmetric else {
                    throw ClientError(.usage, "--agent-alg must be an asymmetric JWS algorithm")
                }
                key = try SigningKey(pem: contents, algorithm: algorithm)
            }
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError(.usage, "the agent key is neither a private JWK nor a PKCS#8 PEM: \(error)")
        }
    }

    func assertion(audience: String, now: Date) throws(ClientError) -> String {
        let iat = Int64(now.timeIntervalSince1970)
        do {
            return try key.signJWT(type: "JWT", claims: JSONObject([
                "iss": .string(id), "sub": .string(id), "aud": .string(audience), "jti": .string(SecureRandom.identifier()),
                "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + 60)),
            ]))
        } catch {
            throw ClientError(.usage, "the agent key cannot sign: \(error)")
        }
    }
}

/// An access token the broker issued for one MCP server.
public struct IssuedAccessToken: Sendable {
    public let token: String
    public let expiresIn: Int?
    public let scope: String?
}

/// The MCP client configuration entry for one server (the `mcpServers` shape of Claude Code's
/// `.mcp.json`, which Cursor and others read too): streamable HTTP at the resource URL with the
/// access token as a Bearer header.
public enum MCPClientEntry {
    public static func json(server: String, url: String, token: String) -> String {
        var servers = JSONObject()
        servers[server] = .object(JSONObject([
            "type": "http", "url": .string(url), "headers": .object(JSONObject(["Authorization": .string("Bearer " + token)])),
        ]))
        return JSONValue.object(JSONObject(["mcpServers": .object(servers)])).serialized(pretty: true)
    }
}
