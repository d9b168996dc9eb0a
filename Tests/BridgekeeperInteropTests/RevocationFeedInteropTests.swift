import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperFetch
import BridgekeeperJOSE
import BridgekeeperRevocation
import BridgekeeperServer
import BridgekeeperSSF
import BridgekeeperStore
import BridgekeeperStoreSQLite
import BridgekeeperVerifier
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import Testing
import BridgekeeperVerifierFetch
import BridgekeeperTesting

/// The revocation feed end to end (issue 7): a served broker as the SSF transmitter, the gateway
/// library subscribed to it over loopback.
@Suite("Revocation feed: a subscribed gateway verifier against a served broker")
struct RevocationFeedInteropTests {
    static func fetcher() -> CurlFetcher {
        var settings = CurlFetcher.Settings()
        settings.allowLoopbackHTTP = true
        return CurlFetcher(settings: settings)
    }

    /// A verifier for the github server that fails closed after 30 s without the feed, and its
    /// subscription as the gateway client, both on `clock`.
    static func gateway(_ broker: Broker, cache: JWKSCache.Settings = JWKSCache.Settings(),
                        clock: any WallClock = SystemClock()) -> (AccessTokenVerifier, RevocationFeedSubscription) {
        var settings = VerifierSettings(issuer: broker.issuer, resource: Broker.githubResource)
        settings.maxStaleness = 30
        let verifier = AccessTokenVerifier.discovering(settings, fetcher: fetcher(), clock: clock, cache: cache)
        var feed = FeedSubscriptionSettings(clientID: Broker.gatewayClient, clientSecret: Broker.clientSecret)
        feed.description = "interop gateway"
        return (verifier, RevocationFeedSubscription(verifier: verifier, settings: feed, fetcher: fetcher(), clock: clock))
    }

    /// Waits until `condition` holds; whether it did. The 60 s bound only stops a broken test: it
    /// is no timing target (the benchmark measures propagation), and a loaded CI machine is slow.
    static func eventually(_ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    static func code(_ result: Result<VerifiedAccessToken, VerificationError>) -> VerificationError.Code? {
        if case .failure(let error) = result { return error.code }
        return nil
    }

    /// RFC 7009 revocation by the client the token was issued to.
    static func revoke(_ token: String, at broker: Broker) async throws {
        var request = URLRequest(url: URL(string: broker.issuer + "/revoke")!)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(HTTPRequest.formEncoded([("token", token), ("client_id", Broker.postClient),
                                                         ("client_secret", Broker.clientSecret)]).utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
    }

    static func offboard(_ subject: String, at broker: Broker) async throws -> StoredReceipt? {
        let signals = broker.server.signals
        let signal = signals.signal(source: .operator, connection: "local:interop", externalID: nil, event: "cli:offboard",
                                    subject: SubjectKey(issuer: Broker.idpIssuer, subject: subject), action: .offboard)
        guard case .processed(_, .revoked(_, let receipt)) = try await signals.submit(signal) else { return nil }
        return receipt
    }

    @Test("a revoked token and an offboarded person reach the subscribed verifier, which refuses them; the receipt names the gateway's acknowledgement")
    func revocationReachesVerifier() async throws {
        try await withBroker { broker in
            let (verifier, subscription) = Self.gateway(broker)
            let first = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            let second = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            // Before the feed has been heard from, nothing is trusted.
            #expect(Self.code(await verifier.verify(first)) == .stale)
            let running = Task { await subscription.run() }
            defer { running.cancel() }
            #expect(await Self.eventually { (try? await verifier.verify(first).get()) != nil })
            #expect((try? await verifier.verify(second).get()) != nil)
            let streamID = try #require(await subscription.streamID)

            // One token revoked (RFC 7009): that token only.
            try await Self.revoke(first, at: broker)
            #expect(await Self.eventually { Self.code(await verifier.verify(first)) == .revoked })
            #expect((try? await verifier.verify(second).get()) != nil)

            // The person offboarded: every token of theirs, by the subject epoch.
            let receipt = try #require(try await Self.offboard("00u-alice", at: broker))
            #expect(await Self.eventually { Self.code(await verifier.verify(second)) == .revoked })

            // The receipt shows the gateway's acknowledgement, once its next poll carried it.
            let store = broker.server.store
            #expect(try await Self.eventually {
                guard let stored = try await store.receipt(id: receipt.id) else { return false }
                let json = try await ReceiptAcknowledgements.json(stored, store: store)
                guard case .array(let acks)? = json["acknowledgements"] else { return false }
                return acks.contains { $0.objectValue?["client_id"]?.stringValue == Broker.gatewayClient
                    && $0.objectValue?["stream_id"]?.stringValue == streamID }
            })
            let stored = try #require(try await store.receipt(id: receipt.id))
            #expect(stored.auditSequence != nil)
            let records = try await store.auditRecords(afterSequence: 0, limit: 100_000)
            #expect(records.contains { $0.event.reason == .feedAcknowledged && $0.event.clientID == Broker.gatewayClient
                && $0.event.performedBy == "feed:" + streamID })

            // Unsubscribing deletes the stream: its poll endpoint answers 404 from then on.
            running.cancel()
            _ = await running.result
            try await subscription.unsubscribe()
            #expect(try await store.feedStream(id: streamID) == nil)
            let poll = try await Self.fetcher().send(HTTPRequest(
                method: .post, url: broker.issuer + "/ssf/poll/" + streamID,
                headers: [HTTPRequest.Header("Authorization", HTTPRequest.basicAuthorization(clientID: Broker.gatewayClient, secret: Broker.clientSecret)),
                          HTTPRequest.Header("Content-Type", "application/json")],
                body: Array("{}".utf8)))
            #expect(poll.status == 404)
        }
    }

    /// A verifier for github and its subscription authenticated by feed tokens from `source`.
    static func bearerGateway(_ broker: Broker, source: any FeedTokenSource, clock: any WallClock) -> (AccessTokenVerifier, RevocationFeedSubscription) {
        var settings = VerifierSettings(issuer: broker.issuer, resource: Broker.githubResource)
        settings.maxStaleness = 30
        let verifier = AccessTokenVerifier.discovering(settings, fetcher: fetcher(), clock: clock)
        let feed = FeedSubscriptionSettings(clientID: Broker.gatewayClient, tokenSource: source)
        return (verifier, RevocationFeedSubscription(verifier: verifier, settings: feed, fetcher: fetcher(), clock: clock))
    }

    @Test("a gateway subscribed with feed tokens (client_credentials, cached until shortly before expiry) gets revocations; its polls carry no secret")
    func bearerSubscription() async throws {
        try await withBroker { broker in
            let clock = SteppedClock()
            let source = ClientCredentialsTokenSource(tokenEndpoint: broker.issuer + "/token", clientID: Broker.gatewayClient,
                                                      authentication: .clientSecret(Broker.clientSecret), fetcher: Self.fetcher(), clock: clock)
            let (verifier, subscription) = Self.bearerGateway(broker, source: source, clock: clock)
            let token = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            _ = try await subscription.round(wait: false)
            _ = try await subscription.round(wait: false)
            #expect((try? await verifier.verify(token).get()) != nil)
            #expect(await source.fetched == 1, "one feed token for the stream and every poll")
            try await Self.revoke(token, at: broker)
            _ = try await subscription.round(wait: false)
            _ = try await subscription.round(wait: false)
            #expect(Self.code(await verifier.verify(token)) == .revoked)
            // 30 s before the token's expiry (300 s) a new one is fetched.
            clock.advance(by: 275)
            _ = try await subscription.round(wait: false)
            #expect(await source.fetched == 2)
            let records = try await broker.server.store.auditRecords(afterSequence: 0, limit: 100_000)
            #expect(records.filter { $0.event.reason.rawValue == "feed_token_issued" && $0.event.clientID == Broker.gatewayClient }.count == 2)
            #expect(!records.contains { $0.event.kind == .denial && $0.event.clientID == Broker.gatewayClient })
            #expect(records.contains { $0.event.reason == .feedAcknowledged && $0.event.clientID == Broker.gatewayClient })
        }
    }

    @Test("a gateway with a private key (private_key_jwt, no secret at all) subscribes with feed tokens; a revoked feed token is replaced")
    func bearerSubscriptionWithKey() async throws {
        // The feed client's public key is the test IdP's (the only key file of the deployment).
        let yaml: (BrokerSetup) -> String = { setup in
            Broker.yaml(setup).replacingOccurrences(of: "\nservers:\n", with: "\n  - id: feed-keys\n    jwks_file: idp-jwks.json\n    algorithms: [RS256]\n    revocation_feed: true\nservers:\n")
        }
        try await withBrokers([yaml]) { brokers in
            let broker = brokers[0]
            let clock = SteppedClock()
            let source = ClientCredentialsTokenSource(tokenEndpoint: broker.issuer + "/token", clientID: "feed-keys",
                                                      authentication: .privateKeyJWT(broker.idpKey, issuer: broker.issuer),
                                                      fetcher: Self.fetcher(), clock: clock)
            var settings = VerifierSettings(issuer: broker.issuer, resource: Broker.githubResource)
            settings.maxStaleness = 30
            let verifier = AccessTokenVerifier.discovering(settings, fetcher: Self.fetcher(), clock: clock)
            let subscription = RevocationFeedSubscription(verifier: verifier, settings: FeedSubscriptionSettings(clientID: "feed-keys", tokenSource: source),
                                                          fetcher: Self.fetcher(), clock: clock)
            _ = try await subscription.round(wait: false)
            #expect(await source.fetched == 1)
            // The broker revokes the feed token (RFC 7009 by the client): the next poll is refused
            // 401, the token is dropped, and the round after fetches a new one and goes on.
            let feedToken = try await source.token()
            let assertion = try broker.idpKey.signJWT(type: "client-authentication+jwt", claims: JSONObject([
                "iss": "feed-keys", "sub": "feed-keys", "aud": .string(broker.issuer), "jti": .string(SecureRandom.identifier()),
                "iat": .number(JSONNumber(Int64(Date().timeIntervalSince1970))), "exp": .number(JSONNumber(Int64(Date().timeIntervalSince1970) + 60)),
            ]))
            let revoked = try await Self.fetcher().send(HTTPRequest.form(broker.issuer + "/revoke", [
                ("token", feedToken), ("client_id", "feed-keys"), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion),
            ]))
            #expect(revoked.status == 200)
            await #expect(throws: SSFPollError.self) { _ = try await subscription.round(wait: false) }
            let records = try await broker.server.store.auditRecords(afterSequence: 0, limit: 100_000)
            #expect(records.last { $0.event.kind == .denial }?.event.reason.rawValue == "feed_token_invalid")
            _ = try await subscription.round(wait: false)
            #expect(await source.fetched == 2)
        }
    }

    @Test("a gateway that subscribes after a revocation learns it: a new stream replays every revocation of a token that may still be live")
    func newSubscriberLearnsEarlierRevocations() async throws {
        try await withBroker { broker in
            let token = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            try await Self.revoke(token, at: broker)
            let (verifier, subscription) = Self.gateway(broker)
            // Offline, the revoked token still verifies; nothing says otherwise yet.
            var offline = VerifierSettings(issuer: broker.issuer, resource: Broker.githubResource)
            offline.maxStaleness = nil
            #expect((try? await AccessTokenVerifier.discovering(offline, fetcher: Self.fetcher()).verify(token).get()) != nil)
            let round = try await subscription.round(wait: false)
            #expect(round.received >= 1 && round.applied == round.received && round.refused == 0)
            _ = try await subscription.round(wait: false)  // acknowledges, and drains: heard
            #expect(Self.code(await verifier.verify(token)) == .revoked)
            #expect(await subscription.pending.acknowledgements.isEmpty)
        }
    }

    @Test("a key rotation at the broker is seen by the subscribed verifier: new tokens and new SETs verify after one refetch")
    func rotationSeenThroughBroker() async throws {
        try await withBroker { broker in
            // Unknown kids refetched at most every 120 s (30 by default): the test steps its clock
            // past that instead of waiting (tokens live 300 s, so both stay valid).
            let clock = SteppedClock()
            var cache = JWKSCache.Settings()
            cache.unknownKeyInterval = 120
            let (verifier, subscription) = Self.gateway(broker, cache: cache, clock: clock)
            let before = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            _ = try await subscription.round(wait: false)
            #expect((try? await verifier.verify(before).get()) != nil)
            let oldKey = try UnverifiedJWS(compact: before).header["kid"]?.stringValue
            let newKey = try await broker.server.rotateAccessKey(immediate: true)
            #expect(newKey != oldKey)
            let after = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            #expect(try UnverifiedJWS(compact: after).header["kid"]?.stringValue == newKey)
            // Within the refetch interval of the last fetch, the unknown kid is not fetched again.
            #expect(Self.code(await verifier.verify(after)) == .unknownKey)
            clock.advance(by: 121)
            _ = try await subscription.round(wait: false)  // the feed heard at the new time
            #expect((try? await verifier.verify(after).get()) != nil)
            // A SET signed with the new key: applied, not refused.
            try await Self.revoke(after, at: broker)
            let round = try await subscription.round(wait: false)
            #expect(round.applied == 1 && round.refused == 0)
            #expect(Self.code(await verifier.verify(after)) == .revoked)
            #expect((try? await verifier.verify(before).get()) != nil)
        }
    }

    @Test("fails closed when the feed falls silent past the bound; a stream lost at the broker is created again, replaying what it missed")
    func stalenessAndResubscription() async throws {
        try await withBroker { broker in
            let clock = SteppedClock()
            let (verifier, subscription) = Self.gateway(broker, clock: clock)
            let token = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            let kept = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            _ = try await subscription.round(wait: false)
            #expect((try? await verifier.verify(token).get()) != nil)
            #expect((try? await verifier.verify(kept).get()) != nil)
            // Nobody polls: after the bound (30 s), every answer is stale (503), cached or not.
            clock.advance(by: 31)
            let stale = await verifier.verify(token)
            #expect(Self.code(stale) == .stale)
            if case .failure(let error) = stale { #expect(error.status == 503) }

            // The broker loses the stream (deleted by an operator, or its database restored), and a
            // revocation happens meanwhile.
            let lost = try #require(await subscription.streamID)
            #expect(try await broker.server.store.removeFeedStream(id: lost, audit: AuditEvent(kind: .administration, reason: .feedStreamDeleted,
                                                                                             time: Date(), performedBy: "test")))
            try await Self.revoke(token, at: broker)
            await #expect(throws: SSFPollError.self) { _ = try await subscription.round(wait: false) }
            // The next round subscribes again; the new stream replays the revocation.
            _ = try await subscription.round(wait: false)
            _ = try await subscription.round(wait: false)
            let again = try #require(await subscription.streamID)
            #expect(again != lost)
            // Nothing verified before the gap is trusted: the cache was cleared (the token not
            // revoked too), and is rebuilt by verifying again.
            #expect(verifier.cachedCount == 0)
            #expect(Self.code(await verifier.verify(token)) == .revoked)
            #expect((try? await verifier.verify(kept).get()) != nil)
            #expect(verifier.cachedCount == 1)
        }
    }

    @Test("an independent receiver (Python, joserfc) creates a stream, verifies the feed's SET for a revoked token, acknowledges it and is not sent it again")
    func independentReceiver() async throws {
        try await withBroker { broker in
            let token = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient))
            let jti = try #require(try UnverifiedJWS(compact: token).unverifiedClaims()["jti"]?.stringValue)
            try await Self.revoke(token, at: broker)
            let run = try await broker.python("feed_receiver.py", ["--issuer", broker.issuer, "--client-id", Broker.gatewayClient,
                                                                   "--client-secret", Broker.clientSecret])
            #expect(run.status == 0, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
            let sets = run.json?["sets"]?.arrayValue ?? []
            #expect(sets.contains { $0.objectValue?["sub_id"] == .object(JSONObject(["format": "jwt_id", "iss": .string(broker.issuer), "jti": .string(jti)])) })
            #expect(run.json?["after_ack"] == .number(JSONNumber(0)))
            #expect(run.json?["deleted"] == .bool(true))
        }
    }

    @Test("the feed's endpoints refuse precisely: no credentials, a client without the feed, push delivery, a bad body, an unknown or deleted stream")
    func refusals() async throws {
        try await withBroker { broker in
            // libcurl rather than URLSession: FoundationNetworking stalls on a 401 that names Basic.
            let curl = Self.fetcher()
            func call(_ method: String, _ path: String, client: String? = Broker.gatewayClient, secret: String = Broker.clientSecret,
                      body: String? = nil) async throws -> (Int, JSONObject, FetchedDocument) {
                var headers: [HTTPRequest.Header] = []
                if let client { headers.append(HTTPRequest.Header("Authorization", HTTPRequest.basicAuthorization(clientID: client, secret: secret))) }
                if body != nil { headers.append(HTTPRequest.Header("Content-Type", "application/json")) }
                let verb: HTTPRequest.Method = switch method {
                case "POST": .post
                case "DELETE": .delete
                default: .get
                }
                let answer = try await curl.send(HTTPRequest(method: verb, url: broker.issuer + path, headers: headers, body: body.map { Array($0.utf8) }))
                let object = (try? JSONValue.parse(answer.body))?.objectValue ?? JSONObject()
                return (answer.status, object, answer)
            }
            // Discovery.
            let (_, configuration, _) = try await call("GET", "/.well-known/ssf-configuration", client: nil)
            #expect(configuration["issuer"]?.stringValue == broker.issuer)
            #expect(configuration["configuration_endpoint"]?.stringValue == broker.issuer + "/ssf/streams")
            let (status, missing, http) = try await call("POST", "/ssf/streams", client: nil, body: "{}")
            #expect(status == 401 && missing["error"]?.stringValue == "invalid_client")
            #expect(http.cacheControl == "no-store")
            #expect(try await call("POST", "/ssf/streams", secret: "wrong-secret-0123456789", body: "{}").0 == 401)
            let (notFeed, refusal, _) = try await call("POST", "/ssf/streams", client: Broker.basicClient, body: "{}")
            #expect(notFeed == 400 && refusal["error"]?.stringValue == "unauthorized_client")
            let (push, pushRefusal, _) = try await call("POST", "/ssf/streams", body: #"{"delivery":{"method":"urn:ietf:rfc:8935"}}"#)
            #expect(push == 400 && pushRefusal["error"]?.stringValue == "invalid_request")
            #expect(try await call("POST", "/ssf/streams", body: #"{"events_requested":["urn:other"]}"#).0 == 400)
            #expect(try await call("POST", "/ssf/streams", body: "not json").0 == 400)
            let (created, stream, _) = try await call("POST", "/ssf/streams", body: #"{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"t"}"#)
            #expect(created == 201)
            let id = try #require(stream["stream_id"]?.stringValue)
            #expect(stream["aud"]?.stringValue == Broker.gatewayClient)
            #expect(try await call("GET", "/ssf/streams?stream_id=" + id).0 == 200)
            #expect(try await call("GET", "/ssf/status?stream_id=" + id).1["status"]?.stringValue == "enabled")
            #expect(try await call("POST", "/ssf/poll/" + id, body: #"{"maxEvents":"ten"}"#).0 == 400)
            let (polled, answer, _) = try await call("POST", "/ssf/poll/" + id, body: #"{"returnImmediately":true}"#)
            #expect(polled == 200 && answer["sets"]?.objectValue != nil && answer["moreAvailable"] == .bool(false))
            #expect(try await call("POST", "/ssf/poll/fs_unknown", body: "{}").0 == 404)
            #expect(try await call("GET", "/ssf/poll/" + id).0 == 405)
            #expect(try await call("DELETE", "/ssf/streams?stream_id=" + id).0 == 204)
            #expect(try await call("POST", "/ssf/poll/" + id, body: "{}").0 == 404)
            let reasons = Set(try await broker.server.store.auditRecords(afterSequence: 0, limit: 100_000).map(\.event.reason.rawValue))
            for reason in ["not_feed_client", "feed_invalid_request", "feed_no_such_stream", "feed_stream_created", "feed_stream_deleted",
                           "client_authentication_missing", "bad_client_secret"] {
                #expect(reasons.contains(reason), "\(reason)")
            }
        }
    }
}
