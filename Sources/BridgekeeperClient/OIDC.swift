public import BridgekeeperJOSE
import BridgekeeperFetch
public import Foundation

/// PKCE (RFC 7636) for one authorization request: a fresh verifier and its S256 challenge.
public struct PKCE: Sendable {
    /// 32 random bytes in base64url: 43 characters of the unreserved set (RFC 7636 §4.1, §7.1).
    public let verifier: String

    public init(verifier: String) { self.verifier = verifier }

    public static func generate() -> PKCE { PKCE(verifier: SecureRandom.identifier(bytes: 32)) }

    /// `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
    public var challenge: String { Self.challenge(for: verifier) }

    public static func challenge(for verifier: String) -> String { Base64URL.encode(Digest.sha256(Array(verifier.utf8))) }
}

/// What the terminal client needs from an IdP's discovery document (OIDC Discovery §3), checked:
/// `issuer` exactly the configured one (§4.3), https endpoints (http only to loopback when allowed),
/// `code` among the response types, `S256` among the PKCE methods when the IdP lists them (Entra
/// does not).
public struct ProviderMetadata: Sendable {
    public let issuer: String
    public let authorizationEndpoint: String
    public let tokenEndpoint: String
    public let jwksURI: String
    /// The ID-token algorithms the IdP lists (asymmetric only); RS256 when it lists none (OIDC Discovery §3).
    public let signingAlgorithms: Set<JWSAlgorithm>
    /// The IdP says it sends `iss` in authorization responses (RFC 9207 §3): one without it is refused.
    public let sendsIssuerInResponses: Bool

    /// `{issuer}/.well-known/openid-configuration` (a trailing `/` of the issuer dropped first).
    public static func discoveryURL(issuer: String) -> String {
        (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/.well-known/openid-configuration"
    }

    public static func discover(issuer: String, http: ClientHTTP) async throws(ClientError) -> ProviderMetadata {
        let document = try await http.getJSON(discoveryURL(issuer: issuer), what: "the discovery document of \(issuer)")
        return try ProviderMetadata(document: document, expectedIssuer: issuer, loopbackHTTP: http.allowLoopbackHTTP)
    }

    public init(document: JSONObject, expectedIssuer: String, loopbackHTTP: Bool) throws(ClientError) {
        func fail(_ reason: String) -> ClientError { ClientError(.discoveryFailed, "\(expectedIssuer): \(reason)") }
        guard let issuer = document["issuer"]?.stringValue else { throw fail("the discovery document has no issuer") }
        guard issuer.isExactly(expectedIssuer) else {
            throw fail("the discovery document names issuer \(ClientError.printable(issuer, limit: 200)), not the configured one (OIDC Discovery 4.3)")
        }
        func endpoint(_ name: String) throws(ClientError) -> String {
            guard let value = document[name]?.stringValue else { throw fail("the discovery document has no \(name)") }
            guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), let host = url.host,
                  scheme == "https" || (scheme == "http" && loopbackHTTP && ClientConfiguration.isLoopback(host)) else {
                throw fail("\(name) must be an https URL")
            }
            return value
        }
        authorizationEndpoint = try endpoint("authorization_endpoint")
        tokenEndpoint = try endpoint("token_endpoint")
        jwksURI = try endpoint("jwks_uri")
        if let types = document["response_types_supported"]?.arrayValue, !types.contains(.string("code")) {
            throw fail("the IdP does not support the authorization code flow (response_types_supported)")
        }
        if let methods = document["code_challenge_methods_supported"]?.arrayValue, !methods.contains(.string("S256")) {
            throw fail("the IdP does not support PKCE with S256 (code_challenge_methods_supported)")
        }
        let listed = (document["id_token_signing_alg_values_supported"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(JWSAlgorithm.init(exactName:)) }
        let usable = Set(listed).intersection(JWSAlgorithm.asymmetric)
        signingAlgorithms = usable.isEmpty ? [.rs256] : usable
        sendsIssuerInResponses = document["authorization_response_iss_parameter_supported"] == .bool(true)
        self.issuer = issuer
    }
}

/// An ID token that verified for this client (OIDC Core §3.1.3.7). Only `IDTokenCheck` makes one.
public struct VerifiedIDToken: Sendable {
    public let subject: String
    public let expiry: Date
    public let email: String?
    public let nonce: String?
}

/// Verifies an ID token from the token endpoint: `typ` (JWT or none) → `alg` among the IdP's →
/// key by `kid` from the IdP's JWKS (never from the header) → signature → `iss` exactly the issuer,
/// `aud` exactly this client, `exp`/`iat` with leeway → `azp`, when present, this client → `nonce`
/// exactly the one sent (at sign-in) or absent or the original one (after a refresh) → `sub` the
/// session's (after a refresh).
public struct IDTokenCheck: Sendable {
    public enum NonceRule: Sendable {
        /// At sign-in: exactly the nonce of the authorization request.
        case exactly(String)
        /// After a refresh: none, or the original sign-in's (OIDC Core §12.2).
        case absentOr(String?)
    }

    public let issuer: String
    public let clientID: String
    public let algorithms: Set<JWSAlgorithm>
    public let nonce: NonceRule
    public let subject: String?
    public let leeway: TimeInterval

    public init(issuer: String, clientID: String, algorithms: Set<JWSAlgorithm>, nonce: NonceRule, subject: String? = nil, leeway: TimeInterval = 60) {
        self.issuer = issuer
        self.clientID = clientID
        self.algorithms = algorithms
        self.nonce = nonce
        self.subject = subject
        self.leeway = leeway
    }

    public func verify(_ idToken: String, keys: JWKSet, now: Date) throws(ClientError) -> VerifiedIDToken {
        let verifier = JWTVerifier(kind: .idToken, signatures: JWSVerifier(keys: keys, algorithms: algorithms),
                                   rules: ClaimRules(issuer: issuer, audience: clientID, leeway: leeway))
        let verified: VerifiedJWT
        do { verified = try verifier.verify(idToken, now: now) } catch {
            throw ClientError(ClientError.Code(error.code.rawValue), "the ID token from \(issuer) was refused: \(ClientError.printable(error.reason, limit: 300))")
        }
        let claims = verified.claims
        let subject: String, expiry: Date, email: String?, nonce: String?
        do throws(JOSEError) {
            if let azp = try claims.string("azp"), !azp.isExactly(clientID) {
                throw JOSEError(.invalidClaim, "azp names another client")
            }
            guard let sub = try claims.subject(), let exp = try claims.expiration() else {
                throw JOSEError(.missingClaim, "sub and exp are required")
            }
            (subject, expiry) = (sub, exp)
            email = try claims.string("email")
            nonce = try claims.string("nonce")
        } catch {
            throw ClientError(ClientError.Code(error.code.rawValue), "the ID token from \(issuer) was refused: \(ClientError.printable(error.reason, limit: 300))")
        }
        switch self.nonce {
        case .exactly(let expected):
            guard let nonce, nonce.isExactly(expected) else {
                throw ClientError(.nonceMismatch, "the ID token's nonce is not the one this sign-in sent (a replayed or injected response)")
            }
        case .absentOr(let original):
            if let nonce, !(original.map { nonce.isExactly($0) } ?? false) {
                throw ClientError(.nonceMismatch, "the refreshed ID token carries a nonce other than the sign-in's")
            }
        }
        if let expected = self.subject, !subject.isExactly(expected) {
            throw ClientError(.subjectMismatch, "the refreshed ID token names another subject than the session's")
        }
        return VerifiedIDToken(subject: subject, expiry: expiry, email: email, nonce: nonce)
    }
}

/// HTTP for the terminal client over `CurlFetcher`: https only (loopback http when the
/// configuration allows it), no redirects, timeouts, a 1 MiB cap.
public struct ClientHTTP: Sendable {
    let fetcher: CurlFetcher
    public let allowLoopbackHTTP: Bool

    public init(allowLoopbackHTTP: Bool) {
        var settings = CurlFetcher.Settings()
        settings.allowLoopbackHTTP = allowLoopbackHTTP
        settings.connectTimeout = 5
        settings.totalTimeout = 20
        fetcher = CurlFetcher(settings: settings)
        self.allowLoopbackHTTP = allowLoopbackHTTP
    }

    func send(_ request: HTTPRequest, what: String) async throws(ClientError) -> FetchedDocument {
        do { return try await fetcher.send(request) } catch {
            throw ClientError(error.code == .insecureURL ? .invalidConfiguration : .network, "\(what): \(error.reason)")
        }
    }

    /// A JSON object from a 200 answer.
    func getJSON(_ url: String, what: String) async throws(ClientError) -> JSONObject {
        let answer = try await send(HTTPRequest(url: url, headers: [.init("Accept", "application/json")]), what: what)
        guard answer.status == 200 else { throw ClientError(.network, "\(what): HTTP \(answer.status)") }
        guard let object = (try? JSONValue.parse(answer.body, limits: JSONLimits(maxBytes: 1 << 20)))?.objectValue else {
            throw ClientError(.invalidResponse, "\(what) is not a JSON object")
        }
        return object
    }

    /// The IdP's keys.
    func keys(_ url: String) async throws(ClientError) -> JWKSet {
        let answer = try await send(HTTPRequest(url: url, headers: [.init("Accept", "application/json")]), what: "the IdP's keys (\(url))")
        guard answer.status == 200 else { throw ClientError(.network, "the IdP's keys (\(url)): HTTP \(answer.status)") }
        do { return try JWKSet(bytes: answer.body) } catch {
            throw ClientError(.invalidResponse, "the IdP's keys (\(url)) are not a usable JWK Set: \(error.reason)")
        }
    }

    /// A form POST to an OAuth endpoint: the JSON object of a 200, or the OAuth error of a
    /// refusal (RFC 6749 §5.2) as `ClientError.remote`.
    func postForm(_ url: String, _ pairs: [(String, String)], headers: [HTTPRequest.Header] = [], what: String) async throws(ClientError) -> JSONObject {
        let answer = try await send(.form(url, pairs, headers: [.init("Accept", "application/json")] + headers), what: what)
        let object = (try? JSONValue.parse(answer.body, limits: JSONLimits(maxBytes: 1 << 20)))?.objectValue
        guard answer.status == 200 else {
            if let object, let error = object["error"]?.stringValue {
                throw ClientError.remote(error, object["error_description"]?.stringValue ?? "\(what) was refused (HTTP \(answer.status))")
            }
            throw ClientError(.network, "\(what): HTTP \(answer.status)")
        }
        guard let object else { throw ClientError(.invalidResponse, "\(what): the answer is not a JSON object") }
        return object
    }
}
