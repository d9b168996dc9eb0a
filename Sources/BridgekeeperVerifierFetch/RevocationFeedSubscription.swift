public import BridgekeeperCore
public import BridgekeeperFetch
import BridgekeeperJOSE
public import BridgekeeperSSF
public import Foundation
public import BridgekeeperVerifier

/// How a gateway subscribes to the broker's revocation feed.
public struct FeedSubscriptionSettings: Sendable {
    /// The gateway's client at the broker (registered with `revocation_feed: true`).
    public var clientID: String
    /// Its secret, for HTTP Basic; empty when `tokenSource` is used.
    public var clientSecret: String
    /// Where feed tokens come from, when the gateway authenticates with `Authorization: Bearer`
    /// (RFC 6750) rather than HTTP Basic: e.g. a `ClientCredentialsTokenSource`.
    public var tokenSource: (any FeedTokenSource)?
    /// The stream's `description` at the broker (shown with its acknowledgements on receipts).
    public var description: String?
    /// SETs per poll. Default 1,000.
    public var maxEvents = 1_000
    /// Seconds a poll may be held by the broker before it answers; the request's timeout is this
    /// plus a margin. Default 25 (the broker holds at most 20).
    public var longPoll: TimeInterval = 25
    /// How long a revoked `jti` is remembered after its revocation: the broker's longest
    /// access-token lifetime (3,600 s) plus leeway. After that the token has expired anyway.
    public var revocationRetention: TimeInterval = 3_720

    /// HTTP Basic with the client's secret on every request.
    public init(clientID: String, clientSecret: String) {
        self.clientID = clientID
        self.clientSecret = clientSecret
    }

    /// A bearer feed token from `tokenSource` on every request; the secret or key stays with it.
    public init(clientID: String, tokenSource: any FeedTokenSource) {
        self.clientID = clientID
        self.clientSecret = ""
        self.tokenSource = tokenSource
    }
}

extension SSFPollError.Code {
    /// The broker no longer has the stream (deleted, or its state restored): a new one is created on
    /// the next round, replaying every revocation that can still matter.
    public static let streamGone = SSFPollError.Code("stream_gone")
    /// A SET could not be checked (the broker's keys unavailable): nothing of the round applied.
    public static let keysUnavailable = SSFPollError.Code("keys_unavailable")
}

/// A gateway's subscription to the broker's revocation feed (issue 7): an SSF stream with RFC 8936
/// long polling whose CAEP `session-revoked` SETs go into an `AccessTokenVerifier`.
///
/// - Each SET is verified like any token of the broker (`typ` `secevent+jwt`, the broker's key by
///   `kid`, exact `iss`, `aud` = this client) before it is applied; one that fails is refused in
///   `setErrs` and never applied.
/// - A SET is acknowledged in the next request, after it was applied, and that request is sent at
///   once: the broker records the acknowledgement, and receipts show it.
/// - The verifier hears from the feed (`noteFeedHeard`) only when a round leaves nothing pending at
///   the broker: with `maxStaleness` set, it fails closed when the feed falls silent.
/// - After a failed round (the broker unreachable), the verifier's cache is cleared before answers
///   resume; when the stream is gone, a new one is created, which replays every revocation of a
///   token that may still be live.
public actor RevocationFeedSubscription {
    public struct Round: Sendable, Hashable {
        public var received = 0
        public var applied = 0
        public var refused = 0
        public var moreAvailable = false
    }

    public let verifier: AccessTokenVerifier
    let settings: FeedSubscriptionSettings
    let fetcher: CurlFetcher
    let clock: any WallClock
    /// The stream at the broker, once created.
    public private(set) var streamID: String?
    var pollEndpoint: String?
    var metadata: SSFTransmitterMetadata?
    var acknowledgements: [String] = []
    var errors: [String: SETError] = [:]
    /// A round failed since the last success: the cache is cleared before answers resume.
    var missed = false
    /// The Basic client, made once (nil with a token source, whose token changes).
    let basicClient: SSFStreamClient?

    public init(verifier: AccessTokenVerifier, settings: FeedSubscriptionSettings, fetcher: CurlFetcher = CurlFetcher(),
                clock: any WallClock = SystemClock()) {
        self.verifier = verifier
        self.settings = settings
        self.fetcher = fetcher
        self.clock = clock
        basicClient = settings.tokenSource == nil
            ? SSFStreamClient(fetcher: fetcher, authorization: HTTPRequest.basicAuthorization(clientID: settings.clientID, secret: settings.clientSecret))
            : nil
    }

    /// The stream calls' client, with the current `Authorization`: Basic, or a bearer feed token.
    func streamClient() async throws(SSFPollError) -> SSFStreamClient {
        if let basicClient { return basicClient }
        guard let source = settings.tokenSource else { throw SSFPollError(.transport, "no client credentials") }
        return SSFStreamClient(fetcher: fetcher, token: try await source.token())
    }

    /// Finds the broker's transmitter configuration (its `issuer` must be the verifier's) and
    /// creates a poll stream; the stream id.
    @discardableResult
    public func subscribe() async throws(SSFPollError) -> String {
        let client = try await streamClient()
        do {
            let found = try await client.discover(issuer: verifier.settings.issuer)
            guard found.deliveryMethods.contains(SSFTransmitterMetadata.poll) else {
                throw SSFPollError(.invalidResponse, "the broker's feed does not offer poll delivery")
            }
            let stream = try await client.create(at: found, delivery: JSONObject(["method": .string(SSFTransmitterMetadata.poll)]),
                                                 events: [RevocationFeed.sessionRevoked],
                                                 description: settings.description ?? "gateway for \(verifier.settings.resource)")
            guard let id = stream["stream_id"]?.stringValue, case .object(let delivery)? = stream["delivery"],
                  let endpoint = delivery["endpoint_url"]?.stringValue else {
                throw SSFPollError(.invalidResponse, "the stream has no poll endpoint_url")
            }
            metadata = found
            streamID = id
            pollEndpoint = endpoint
            acknowledgements.removeAll()
            errors.removeAll()
            return id
        } catch let error as SSFPollError {
            throw error
        } catch {
            // The broker refused the call (an expired or revoked feed token): a new token next
            // time. A transport failure keeps the token, so retries do not mint one each.
            if let fetch = error as? FetchError, fetch.code == .httpStatus { await settings.tokenSource?.invalidate() }
            throw SSFPollError(.transport, "\(error)")
        }
    }

    /// One poll: acknowledges the previous round, takes the next SETs, verifies and applies them.
    /// `wait` false asks the broker to answer at once.
    public func round(wait: Bool = true) async throws(SSFPollError) -> Round {
        if pollEndpoint == nil {
            try await subscribe()
            // A new stream: nothing known about the old one's state is trusted.
            verifier.clearCache()
        }
        guard let endpoint = pollEndpoint else { throw SSFPollError(.streamGone, "no stream") }
        let request = SSFPollRequest(maxEvents: settings.maxEvents, returnImmediately: !wait, acknowledgements: acknowledgements, errors: errors)
        let client: SSFStreamClient
        do throws(SSFPollError) { client = try await streamClient() } catch { throw failed(error) }
        var outbound = HTTPRequest(method: .post, url: endpoint,
                                   headers: [HTTPRequest.Header("Authorization", client.authorization), HTTPRequest.Header("Content-Type", "application/json"),
                                             HTTPRequest.Header("Accept", "application/json")],
                                   body: request.body)
        outbound.timeout = wait ? settings.longPoll + 10 : 15
        let answer: FetchedDocument
        do throws(FetchError) { answer = try await fetcher.send(outbound) } catch { throw failed(SSFPollError(.transport, error.description)) }
        if answer.status == 404 {
            // The broker no longer has the stream: subscribe again next round (a full replay).
            pollEndpoint = nil
            streamID = nil
            throw failed(SSFPollError(.streamGone, "the broker no longer has the stream"))
        }
        if answer.status == 401 { await settings.tokenSource?.invalidate() }  // expired or revoked: a new one next round
        guard answer.status == 200 else { throw failed(SSFPollError(.transport, "HTTP \(answer.status) from the feed")) }
        let response: SSFPollResponse
        do throws(SSFPollError) { response = try SSFPollResponse.parse(answer.body) } catch { throw failed(SSFPollError(.invalidResponse, error.reason)) }
        // The broker has the acknowledgements and refusals sent.
        acknowledgements.removeAll()
        errors.removeAll()
        var round = Round(received: response.sets.count, moreAvailable: response.moreAvailable)
        var keys = JWKSet(keys: [])
        if !response.sets.isEmpty {
            do { keys = try await verifier.keys.keys() } catch {
                throw failed(SSFPollError(.keysUnavailable, "the broker's keys cannot be had: \(error.reason)"))
            }
        }
        for delivered in response.sets {
            switch await check(delivered, keys: keys) {
            case .success(let event):
                if let event { apply(event) }
                acknowledgements.append(delivered.jti)
                round.applied += 1
            case .failure(let refusal):
                errors[delivered.jti] = refusal
                round.refused += 1
            }
        }
        if missed {
            // After a gap, cached verifications are not trusted: every token is checked again.
            verifier.clearCache()
            missed = false
        }
        if !response.moreAvailable && round.received == 0 { verifier.noteFeedHeard(at: clock.now()) }
        return round
    }

    /// Polls until the task is cancelled. Until it is caught up (at the start, and after a
    /// failure) and right after a round that brought SETs (to acknowledge them without delay), it
    /// asks for an immediate answer; otherwise it long-polls, so a revocation arrives as soon as the
    /// broker commits it. After a failure it backs off 0.5, 1, 2 … 30 seconds. `report` sees every
    /// failure.
    public func run(report: @Sendable (SSFPollError) -> Void = { _ in }) async {
        var failures = 0
        var caughtUp = false
        while !Task.isCancelled {
            do {
                let round = try await round(wait: caughtUp)
                failures = 0
                caughtUp = round.received == 0 && !round.moreAvailable
            } catch {
                caughtUp = false
                if Task.isCancelled { break }
                failures += 1
                report(error)
                try? await Task.sleep(for: .seconds(min(30, 0.5 * Double(1 << min(failures - 1, 6)))))
            }
        }
    }

    /// Deletes the stream at the broker (a gateway shutting down for good).
    public func unsubscribe() async throws(SSFPollError) {
        guard let metadata, let streamID else { return }
        let client = try await streamClient()
        do throws(FetchError) { try await client.delete(at: metadata, streamID: streamID) } catch { throw SSFPollError(.transport, error.description) }
        self.streamID = nil
        pollEndpoint = nil
    }

    /// What the next request will acknowledge and refuse (for tests and metrics).
    public var pending: (acknowledgements: [String], errors: [String: SETError]) { (acknowledgements, errors) }

    // MARK: Internals

    func failed(_ error: SSFPollError) -> SSFPollError {
        missed = true
        return error
    }

    /// A delivered SET verified as the broker's, for this client, delivered under its own `jti`:
    /// its feed event (nil for one the verifier need not act on), or the `setErrs` entry.
    func check(_ delivered: SSFPollResponse.Delivered, keys: JWKSet) async -> Result<FeedEvent?, SETError> {
        let verifier: (JWKSet) -> JWTVerifier = { [settings, clientSettings = self.verifier.settings] keys in
            JWTVerifier(kind: .securityEvent, signatures: JWSVerifier(keys: keys, algorithms: clientSettings.algorithms),
                        rules: ClaimRules(issuer: clientSettings.issuer, audience: settings.clientID, leeway: clientSettings.leeway))
        }
        let verified: VerifiedJWT
        do throws(JOSEError) {
            do { verified = try verifier(keys).verify(delivered.set, now: clock.now()) } catch where error.code == .unknownKey {
                // Signed with a key published since the keys were fetched (a rotation): one refetch,
                // rate-limited by the key source.
                guard let fresh = try? await self.verifier.keys.keysAfterUnknownKeyID() else { throw error }
                verified = try verifier(fresh).verify(delivered.set, now: clock.now())
            }
        } catch {
            switch error.code {
            case .wrongIssuer: return .failure(SETError(err: "invalid_issuer", description: "iss is not the broker"))
            case .wrongAudience, .multipleAudiences: return .failure(SETError(err: "invalid_audience", description: "aud is not this client"))
            case .unknownKey, .badSignature, .badSignatureEncoding, .algorithmNotAllowed, .algorithmNone, .symmetricAlgorithm, .keyIDRequired:
                return .failure(SETError(err: "invalid_key", description: "the SET does not verify under the broker's keys"))
            default: return .failure(SETError(err: "invalid_request", description: "not a valid SET (\(error.code.rawValue))"))
            }
        }
        guard verified.claims.object["jti"]?.stringValue == delivered.jti else {
            return .failure(SETError(err: "invalid_request", description: "delivered under another jti"))
        }
        return .success(RevocationFeed.event(fromSET: verified.claims.object, brokerIssuer: self.verifier.settings.issuer))
    }

    func apply(_ event: FeedEvent) {
        switch event {
        case .tokenRevoked(let jti, let at):
            verifier.revokeToken(id: jti, expiresAt: at.addingTimeInterval(settings.revocationRetention))
        case .subjectRevoked(let subject, let before):
            verifier.revokeSubject(issuer: subject.issuer, subject: subject.subject, before: before)
        }
    }
}
