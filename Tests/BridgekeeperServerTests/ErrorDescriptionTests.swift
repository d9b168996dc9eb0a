import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import Foundation
import HummingbirdTesting
import Testing
import BridgekeeperTesting

// error_description on the wire (RFC 6749 §5.2): readable, never a raw quote or backslash.

@Suite("error_description on the wire")
struct ErrorDescriptionTests: JWTBearerTesting {
    @Test("an error_description quoting a kid keeps it readable: single quotes, not question marks")
    func readableKidInDescription() async throws {
        let deployment = try TestDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            let stranger = try SigningKey.generate(.rs256, keyID: "rig-idp-1")
            let response = try await client.redeem(try deployment.idp.sign(TestIdP.claims(now: clock.now()), with: stranger))
            try await expectRefusal(response, error: "invalid_grant", reason: "unknown_key", server: server)
            let description = try #require(response.json?["error_description"]?.stringValue)
            #expect(description.contains("kid 'rig-idp-1'"), "\(description)")
            #expect(!description.contains("?"), "\(description)")
        }
    }
}
