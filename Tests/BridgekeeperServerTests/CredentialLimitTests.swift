import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import BridgekeeperKeys
import BridgekeeperClientAuth
import BridgekeeperTesting

/// Per-credential limits on every authenticated route (issue 18 §3), over HTTP on loopback: each
/// route answers its protocol's 429 with `Retry-After`, audited `rate_limited`, before any
/// credential is checked; another client's good credential is unaffected. The clock is fixed, so no
/// bucket refills unless a test moves it.
@Suite("per-credential limits over HTTP")
struct CredentialLimitTests {
    typealias W = OAuthWire
    static let scimToken = "scim-token-for-limit-tests-0123456"
    static let push = "Bearer ssf-push-for-limit-tests-0123456"
    static let hookSecret = "okta-hook-secret-for-limit-tests-01"
    let clock = TestClock(OAuthWire.start)

    func expectTooManyRequests(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == .tooManyRequests, "\(response.text)", sourceLocation: sourceLocation)
        let retryAfter = response.headers[.retryAfter].flatMap { Int($0) }
        #expect((retryAfter ?? 0) >= 1, "Retry-After: \(response.headers[.retryAfter] ?? "absent")", sourceLocation: sourceLocation)
    }

    /// The last audit record, which must be a `rate_limited` denial on `route`.
    func expectRateLimitedAudit(_ server: BridgekeeperServer, route: String, client: String? = nil,
                                sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let last = try #require(try await server.store.lastAuditRecord()?.event, sourceLocation: sourceLocation)
        #expect(last.kind == .denial && last.reason == .rateLimited, "\(last.reason)", sourceLocation: sourceLocation)
        #expect(last.route == route, sourceLocation: sourceLocation)
        if let client { #expect(last.clientID == client, sourceLocation: sourceLocation) }
    }

    func introspect(_ client: any TestClientProtocol, secret: String = TestDeployment.gatewaySecret) async throws -> TestResponse {
        try await client.post("/introspect", [("token", "any-token")], authorization: basic(TestDeployment.gatewayID, secret))
    }

    @Test("/introspect, /revoke: past the client's burst, 429 with Retry-After, audited rate_limited for that client; another client is served")
    func introspectionAndRevocation() async throws {
        let deployment = try TestDeployment(extra: "rate_limits:\n  per_client: {requests_per_second: 1, burst: 2}")
        try await withServer(deployment, clock: clock) { client, server in
            #expect(try await introspect(client).status == .ok)
            #expect(try await introspect(client).status == .ok)
            let limited = try await introspect(client)
            expectTooManyRequests(limited)
            #expect(limited.headers[.cacheControl] == "no-store")
            try await expectRateLimitedAudit(server, route: "/introspect", client: TestDeployment.gatewayID)
            // The budget is the client's, whichever route: /revoke is refused too.
            let revoke = try await client.post("/revoke", [("token", "any-token")],
                                               authorization: basic(TestDeployment.gatewayID, TestDeployment.gatewaySecret))
            expectTooManyRequests(revoke)
            try await expectRateLimitedAudit(server, route: "/revoke", client: TestDeployment.gatewayID)
            // Another client's good credential is unaffected.
            _ = try await W.issue(client, deployment, clock)
            clock.advance(1)
            #expect(try await introspect(client).status == .ok)
        }
    }

    @Test("a 429 is held for limited_response_delay_ms before it is sent; other answers are not")
    func limitedResponsesAreHeld() async throws {
        // A hold long enough that a loaded machine's ordinary answer cannot be mistaken for it: the
        // held answer is checked against the hold (a sleep is never shorter), the served one only
        // against the held one, never against a wall-clock budget.
        let deployment = try TestDeployment(extra: "rate_limits:\n  per_client: {requests_per_second: 1, burst: 1}\n  limited_response_delay_ms: 2000")
        try await withServer(deployment, clock: clock) { client, _ in
            let clock = ContinuousClock()
            let start = clock.now
            #expect(try await introspect(client).status == .ok)
            let served = clock.now
            expectTooManyRequests(try await introspect(client))
            let held = clock.now
            #expect(held - served >= .milliseconds(2000), "\(held - served)")
            #expect(served - start < held - served, "the answer that was not limited was not held: \(served - start)")
        }
    }

    @Test("wrong secrets for a PBKDF2 client are checked only within per_client_secret_checks (429 before PBKDF2); its known good secret and other clients are still served")
    func stretchedSecretChecks() async throws {
        let deployment = try TestDeployment(extra: "rate_limits:\n  per_client_secret_checks: {requests_per_second: 1, burst: 3}")
        try await withServer(deployment, clock: clock) { client, server in
            // The good secret verifies once (one check) and is known good from then on.
            #expect(try await introspect(client).status == .ok)
            #expect(try await introspect(client, secret: "wrong-secret-1").status == .unauthorized)
            #expect(try await introspect(client, secret: "wrong-secret-2").status == .unauthorized)
            let limited = try await introspect(client, secret: "wrong-secret-3")
            expectTooManyRequests(limited)
            try await expectRateLimitedAudit(server, route: "/introspect", client: TestDeployment.gatewayID)
            // The known good secret costs no check: still served while the budget is spent.
            #expect(try await introspect(client).status == .ok)
            // Another client's first check comes from its own budget.
            _ = try await W.issue(client, deployment, clock)
            clock.advance(1)
            #expect(try await introspect(client, secret: "wrong-secret-4").status == .unauthorized)
        }
    }

    @Test("the revocation feed (/ssf): past the client's burst, 429 with Retry-After, audited rate_limited for that client")
    func feed() async throws {
        let deployment = try TestDeployment(extra: "rate_limits:\n  per_client: {requests_per_second: 1, burst: 1}", clients: """
              - id: feed-reader
                secret_hash: "\(SecretHash.make(secret: TestDeployment.gatewaySecret, iterations: 10_000))"
                auth_methods: [client_secret_basic]
                revocation_feed: true
            """)
        try await withServer(deployment, clock: clock) { client, server in
            func streams() async throws -> TestResponse {
                try await client.execute(uri: "/ssf/streams", method: .get,
                                         headers: [.authorization: basic("feed-reader", TestDeployment.gatewaySecret)], body: nil)
            }
            #expect(try await streams().status == .ok)
            expectTooManyRequests(try await streams())
            try await expectRateLimitedAudit(server, route: "/ssf", client: "feed-reader")
            #expect(try await introspect(client).status == .ok)
        }
    }

    func signalsDeployment(limits: String) throws -> TestDeployment {
        try TestDeployment(extra: """
            rate_limits:
              \(limits)
            signals:
              scim:
                - name: test-scim
                  idp: test-idp
                  token_hash: "\(SecretHash.make(secret: Self.scimToken, iterations: 10_000))"
              ssf:
                - name: test-ssf
                  idp: test-idp
                  issuer: https://transmitter.test.example
                  jwks_file: idp-jwks.json
                  push_authorization_hash: "\(SecretHash.make(secret: Self.push, iterations: 10_000))"
              okta_event_hooks:
                - name: test-okta
                  idp: test-idp
                  header: X-Bridgekeeper-Hook
                  secret_hash: "\(SecretHash.make(secret: Self.hookSecret, iterations: 10_000))"
            """)
    }

    func scim(_ client: any TestClientProtocol, token: String = CredentialLimitTests.scimToken) async throws -> TestResponse {
        try await client.execute(uri: "/scim/v2/Users", method: .get, headers: [.authorization: "Bearer \(token)"], body: nil)
    }

    func push(_ client: any TestClientProtocol, authorization: String) async throws -> TestResponse {
        try await client.execute(uri: "/signals/ssf/test-ssf", method: .post,
                                 headers: [.authorization: authorization, .contentType: "application/secevent+jwt"], body: ByteBuffer(string: "x.y.z"))
    }

    func hook(_ client: any TestClientProtocol, secret: String) async throws -> TestResponse {
        try await client.execute(uri: "/signals/okta/test-okta", method: .get,
                                 headers: [HTTPField.Name("X-Bridgekeeper-Hook")!: secret, HTTPField.Name("X-Okta-Verification-Challenge")!: "c"],
                                 body: nil)
    }

    @Test("SCIM: past the address's burst, 429 with a SCIM error body and Retry-After, audited rate_limited; the OAuth clients are served")
    func scimRequests() async throws {
        let deployment = try signalsDeployment(limits: "per_client: {requests_per_second: 1, burst: 2}")
        try await withServer(deployment, clock: clock) { client, server in
            #expect(try await scim(client).status == .ok)
            #expect(try await scim(client).status == .ok)
            let limited = try await scim(client)
            expectTooManyRequests(limited)
            #expect(limited.json == JSONValue.object(JSONObject([
                "schemas": .array(["urn:ietf:params:scim:api:messages:2.0:Error"]), "status": "429", "detail": "too many requests"])).objectValue)
            try await expectRateLimitedAudit(server, route: "/scim/v2")
            _ = try await W.issue(client, deployment, clock)
        }
    }

    @Test("the per-address limit of the JSON APIs is audited rate_limited too")
    func perAddressOnAPIs() async throws {
        let deployment = try signalsDeployment(limits: "per_address: {requests_per_second: 1, burst: 1}")
        try await withServer(deployment, clock: clock) { client, server in
            #expect(try await scim(client).status == .ok)
            expectTooManyRequests(try await scim(client))
            try await expectRateLimitedAudit(server, route: "/scim/v2")
        }
    }

    @Test("SCIM, SSF push, Okta hooks: wrong PBKDF2 secrets are checked only within per_client_secret_checks, then 429 with Retry-After, audited")
    func bearerSecretChecks() async throws {
        let deployment = try signalsDeployment(limits: "per_client_secret_checks: {requests_per_second: 1, burst: 1}")
        try await withServer(deployment, clock: clock) { client, server in
            #expect(try await scim(client, token: "wrong-scim-token-0123456789").status == .unauthorized)
            expectTooManyRequests(try await scim(client, token: "wrong-scim-token-0123456789"))
            try await expectRateLimitedAudit(server, route: "/scim/v2")

            #expect(try await push(client, authorization: "Bearer wrong-push-0123456789").status == .unauthorized)
            let pushed = try await push(client, authorization: "Bearer wrong-push-0123456789")
            expectTooManyRequests(pushed)
            #expect(pushed.json?["err"] == "rate_limited")
            try await expectRateLimitedAudit(server, route: "/signals/ssf")

            #expect(try await hook(client, secret: "wrong-hook-secret-0123456789").status == .unauthorized)
            expectTooManyRequests(try await hook(client, secret: "wrong-hook-secret-0123456789"))
            try await expectRateLimitedAudit(server, route: "/signals/okta")
            // Each source has its own budget: the right hook secret is checked once a second refills it.
            clock.advance(1)
            #expect(try await hook(client, secret: Self.hookSecret).status == .ok)
            #expect(try await hook(client, secret: Self.hookSecret).status == .ok)
        }
    }

    @Test("SSF push and Okta hooks: past the source's request burst, 429 with Retry-After, audited rate_limited")
    func pushAndHookRequests() async throws {
        let deployment = try signalsDeployment(limits: "per_client: {requests_per_second: 1, burst: 1}")
        try await withServer(deployment, clock: clock) { client, server in
            #expect(try await push(client, authorization: Self.push).status == .badRequest)
            expectTooManyRequests(try await push(client, authorization: Self.push))
            try await expectRateLimitedAudit(server, route: "/signals/ssf")
            #expect(try await hook(client, secret: Self.hookSecret).status == .ok)
            expectTooManyRequests(try await hook(client, secret: Self.hookSecret))
            try await expectRateLimitedAudit(server, route: "/signals/okta")
        }
    }
}

/// A flood of refused authentications over HTTP is audited as one record per source, route and
/// reason at once and one aggregate per interval (issue 18 §3), in the verifiable chain.
@Suite("aggregated refusal audit over HTTP")
struct RefusalAggregationTests {
    let clock = TestClock(OAuthWire.start)
    static let (fastSecret, fastHash) = SecretHash.generate()

    func deployment() throws -> TestDeployment {
        try TestDeployment(clients: """
              - id: fast-gateway
                secret_hash: "\(Self.fastHash)"
                auth_methods: [client_secret_basic]
                introspection: true
            """)
    }

    func introspect(_ client: any TestClientProtocol, id: String = "fast-gateway", secret: String) async throws -> TestResponse {
        try await client.post("/introspect", [("token", "any-token")], authorization: basic(id, secret))
    }

    func records(_ server: BridgekeeperServer) async throws -> [AuditRecord] { try await server.store.auditRecords(afterSequence: 0, limit: 10_000) }

    @Test("100 wrong secrets for one client: one record at once, one aggregate of 99 once the interval ended; distinct clients get their own; the chain verifies")
    func hundredWrongSecrets() async throws {
        try await withServer(try deployment(), clock: clock) { client, server in
            // The generated secret (sha256$) works over HTTP.
            #expect(try await introspect(client, secret: Self.fastSecret).status == .ok)
            let before = try await records(server).count
            for index in 0..<100 {
                #expect(try await introspect(client, secret: "wrong-\(index)").status == .unauthorized)
            }
            var written = Array(try await records(server).dropFirst(before))
            #expect(written.count == 1)
            #expect(written.first?.event.reason == .badClientSecret && written.first?.event.clientID == "fast-gateway")
            #expect(written.first?.event.route == "/introspect" && written.first?.event.count == nil)
            // Another client's refusal is its own record.
            #expect(try await introspect(client, id: TestDeployment.gatewayID, secret: "wrong").status == .unauthorized)
            written = Array(try await records(server).dropFirst(before))
            #expect(written.count == 2 && written.last?.event.clientID == TestDeployment.gatewayID)

            // The interval ends: the next refusal writes the aggregates first, then itself.
            clock.advance(60)
            #expect(try await introspect(client, secret: "wrong-again").status == .unauthorized)
            written = Array(try await records(server).dropFirst(before))
            #expect(written.count == 4, "\(written.map(\.event))")
            let aggregate = try #require(written.first { $0.event.count != nil })
            #expect(aggregate.event.count == 99 && aggregate.event.clientID == "fast-gateway" && aggregate.event.route == "/introspect")
            #expect(aggregate.event.reason == .badClientSecret && aggregate.event.kind == .denial)
            #expect(written.last?.event.count == nil && written.last?.event.clientID == "fast-gateway")
            guard case .intact = AuditChain.verify(try await records(server)) else { Issue.record("the audit chain does not verify"); return }
        }
    }

    @Test("what is still counted is written by the maintenance flush once due, and all of it at shutdown")
    func flushes() async throws {
        try await withServer(try deployment(), clock: clock) { client, server in
            for _ in 0..<5 { _ = try await introspect(client, secret: "wrong") }
            for _ in 0..<3 { _ = try await introspect(client, id: TestDeployment.gatewayID, secret: "wrong") }
            let before = try await records(server).count
            await server.flushRefusals()
            #expect(try await records(server).count == before)
            // Due, with no refusal since: the maintenance flush writes both aggregates.
            clock.advance(60)
            await server.flushRefusals()
            var written = Array(try await records(server).dropFirst(before))
            #expect(written.compactMap(\.event.count).sorted() == [2, 4], "\(written.map(\.event))")
            for _ in 0..<2 { _ = try await introspect(client, id: TestDeployment.gatewayID, secret: "wrong") }
            await server.flushRefusals()
            written = Array(try await records(server).dropFirst(before))
            #expect(written.count == 3 && written.compactMap(\.event.count).sorted() == [2, 4])
            // Shutdown: what is still counted is written, due or not.
            await server.flushRefusals(all: true)
            written = Array(try await records(server).dropFirst(before))
            #expect(written.compactMap(\.event.count).sorted() == [1, 2, 4])
            guard case .intact = AuditChain.verify(try await records(server)) else { Issue.record("the audit chain does not verify"); return }
        }
    }
}
