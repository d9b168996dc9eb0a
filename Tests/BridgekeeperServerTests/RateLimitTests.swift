import BridgekeeperJOSE
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

/// Per-client and per-address rate limits on the OAuth endpoints: 429 with `Retry-After`
/// (RFC 6585 §4), so one noisy client cannot starve the others. The clock is fixed, so no bucket
/// refills unless the test moves it.
@Suite("rate limits over HTTP")
struct RateLimitTests {
    typealias W = OAuthWire
    let clock = TestClock(OAuthWire.start)

    func expectTooManyRequests(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == .tooManyRequests, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
        let retryAfter = response.headers[.retryAfter].flatMap { Int($0) }
        #expect((retryAfter ?? 0) >= 1, "Retry-After: \(response.headers[.retryAfter] ?? "absent")", sourceLocation: sourceLocation)
    }

    func redeemAsPostClient(_ client: any TestClientProtocol, _ deployment: TestDeployment) async throws -> TestResponse {
        try await client.post("/token", [
            ("grant_type", W.jwtBearer),
            ("assertion", try deployment.idp.sign(TestIdP.claims(now: clock.now(), client: TestDeployment.postClientID,
                                                                 resource: TestDeployment.notionResource))),
            ("client_id", TestDeployment.postClientID), ("client_secret", TestDeployment.clientSecret),
            ("resource", TestDeployment.notionResource),
        ])
    }

    @Test("per client: the request beyond the burst is 429 with Retry-After while another client is still served")
    func perClient() async throws {
        let deployment = try TestDeployment(extra: "rate_limits:\n  per_client: {requests_per_second: 1, burst: 2}")
        try await withServer(deployment, clock: clock) { client, _ in
            _ = try await W.issue(client, deployment, clock)
            _ = try await W.issue(client, deployment, clock)
            expectTooManyRequests(try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now()))))
            _ = try W.accessToken(try await redeemAsPostClient(client, deployment))
            // One second refills one request for mcp-client.
            clock.advance(1)
            _ = try await W.issue(client, deployment, clock)
        }
    }

    @Test("per address: the request beyond the burst is 429 with Retry-After whichever client sends it")
    func perAddress() async throws {
        let deployment = try TestDeployment(extra: "rate_limits:\n  per_address: {requests_per_second: 1, burst: 2}")
        try await withServer(deployment, clock: clock) { client, _ in
            _ = try await W.issue(client, deployment, clock)
            _ = try await W.issue(client, deployment, clock)
            expectTooManyRequests(try await redeemAsPostClient(client, deployment))
            expectTooManyRequests(try await W.introspect(client, "any-token"))
            clock.advance(1)
            _ = try W.accessToken(try await redeemAsPostClient(client, deployment))
        }
    }
}
