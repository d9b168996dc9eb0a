public import BridgekeeperCore
public import BridgekeeperFetch
public import BridgekeeperJOSE
public import BridgekeeperSSF
public import Foundation

/// Where a gateway's bearer token for the broker's revocation feed comes from (RFC 6750): the
/// feed accepts `Authorization: Bearer` with a feed token as well as HTTP Basic.
public protocol FeedTokenSource: Sendable {
    /// A token for the feed, valid for a while yet (fetched, or cached).
    func token() async throws(SSFPollError) -> String
    /// Forgets a cached token the broker refused, so the next `token()` fetches a new one.
    func invalidate() async
}

extension SSFPollError.Code {
    /// The feed token could not be had from the broker's token endpoint.
    public static let tokenUnavailable = SSFPollError.Code("token_unavailable")
}

/// Feed tokens by `client_credentials` (RFC 6749 §4.4) at the broker's token endpoint, over the
/// libcurl fetcher, cached until `refreshMargin` seconds before they expire.
///
/// The request asks for `scope=revocation_feed`; the client authenticates with its secret
/// (`client_secret_basic`) or with a `private_key_jwt` assertion (RFC 7523 §2.2: `iss` = `sub` =
/// the client, `aud` the broker's issuer, a fresh `jti`, 60 s). Never logged: the token and the
/// secret stay in this actor.
public actor ClientCredentialsTokenSource: FeedTokenSource {
    public enum Authentication: Sendable {
        /// `client_secret_basic`.
        case clientSecret(String)
        /// `private_key_jwt`, the assertion addressed to `issuer` (the broker's issuer).
        case privateKeyJWT(SigningKey, issuer: String)
    }

    let tokenEndpoint: String
    let clientID: String
    let authentication: Authentication
    let fetcher: CurlFetcher
    let clock: any WallClock
    /// Seconds before its expiry a cached token is replaced. Default 30.
    let refreshMargin: TimeInterval
    var cached: (token: String, expires: Date)?
    /// How many tokens were fetched (for tests and metrics).
    public private(set) var fetched = 0

    /// - Parameter tokenEndpoint: the broker's `token_endpoint` (its RFC 8414 metadata; `{issuer}/token`).
    public init(tokenEndpoint: String, clientID: String, authentication: Authentication, fetcher: CurlFetcher = CurlFetcher(),
                clock: any WallClock = SystemClock(), refreshMargin: TimeInterval = 30) {
        self.tokenEndpoint = tokenEndpoint
        self.clientID = clientID
        self.authentication = authentication
        self.fetcher = fetcher
        self.clock = clock
        self.refreshMargin = refreshMargin
    }

    public func token() async throws(SSFPollError) -> String {
        let now = clock.now()
        if let cached, now < cached.expires.addingTimeInterval(-refreshMargin) { return cached.token }
        var pairs = [("grant_type", "client_credentials"), ("scope", "revocation_feed")]
        var headers: [HTTPRequest.Header] = [HTTPRequest.Header("Accept", "application/json")]
        switch authentication {
        case .clientSecret(let secret):
            headers.append(HTTPRequest.Header("Authorization", HTTPRequest.basicAuthorization(clientID: clientID, secret: secret)))
        case .privateKeyJWT(let key, let issuer):
            let iat = Int64(now.timeIntervalSince1970)
            let assertion: String
            do {
                assertion = try key.signJWT(type: "client-authentication+jwt", claims: JSONObject([
                    "iss": .string(clientID), "sub": .string(clientID), "aud": .string(issuer), "jti": .string(SecureRandom.identifier()),
                    "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + 60)),
                ]))
            } catch {
                throw SSFPollError(.tokenUnavailable, "cannot sign the client assertion: \(error.reason)")
            }
            pairs += [("client_id", clientID), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                      ("client_assertion", assertion)]
        }
        let answer: FetchedDocument
        do throws(FetchError) { answer = try await fetcher.send(HTTPRequest.form(tokenEndpoint, pairs, headers: headers)) } catch {
            throw SSFPollError(.tokenUnavailable, "the token endpoint cannot be reached: \(error.description)")
        }
        guard case .object(let body)? = try? JSONValue.parse(answer.body) else {
            throw SSFPollError(.tokenUnavailable, "HTTP \(answer.status) from the token endpoint, not a JSON object")
        }
        guard answer.status == 200, let token = body["access_token"]?.stringValue, !token.isEmpty,
              body["token_type"]?.stringValue?.lowercased() == "bearer",
              let expiresIn = body["expires_in"]?.numberValue?.exactInteger, expiresIn > 0 else {
            // The broker's error code only: its description may quote what was sent.
            throw SSFPollError(.tokenUnavailable, "HTTP \(answer.status) from the token endpoint: \(body["error"]?.stringValue ?? "no token")")
        }
        cached = (token, now.addingTimeInterval(TimeInterval(expiresIn)))
        fetched += 1
        return token
    }

    public func invalidate() { cached = nil }
}
