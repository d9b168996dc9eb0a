import BridgekeeperCore
import BridgekeeperJOSE
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

@Suite("token endpoint smoke")
struct SmokeTests {
    @Test("an ID-JAG from a trusted IdP is redeemed for an at+jwt limited to policy's tools")
    func redeems() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        try await withServer(deployment, clock: clock) { client, _ in
            let assertion = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            let response = try await client.redeem(assertion)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.headers[.cacheControl] == "no-store")
            let json = try #require(response.json)
            #expect(json["token_type"] == .string("Bearer"))
            #expect(json["scope"] == .string("tool:create_issue tool:search_code"))
            #expect(json["refresh_token"] == nil)
        }
    }
}
