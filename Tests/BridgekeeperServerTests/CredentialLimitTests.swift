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
