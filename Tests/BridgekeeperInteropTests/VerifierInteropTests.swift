import BridgekeeperCore
import BridgekeeperFetch
import BridgekeeperJOSE
import BridgekeeperVerifier
import Foundation
import Testing
import BridgekeeperVerifierFetch

/// The gateway library against a served broker on loopback: it finds the keys through the broker's
/// RFC 8414 metadata and verifies what the broker minted, offline.
@Suite("Gateway verifier against a served broker")
struct VerifierInteropTests {
    @Test("discovers the broker's keys from its metadata, verifies and authorizes a redeemed token, refuses it for another server and for a tool it lacks")
    func discoverAndVerify() async throws {
        try await withBroker { broker in
            let token = try await broker.redeemDirectly(try broker.idJAG(client: Broker.postClient, scope: "tool:search_code"))
            var fetch = CurlFetcher.Settings()
            fetch.allowLoopbackHTTP = true
            let github = AccessTokenVerifier.discovering(VerifierSettings(issuer: broker.issuer, resource: Broker.githubResource),
                                                         fetcher: CurlFetcher(settings: fetch))
            let verified = try await github.authorize(token, tool: "search_code").get()
            #expect(verified.subject == "00u-alice" && verified.clientID == Broker.postClient && verified.subjectIssuer == Broker.idpIssuer)
            guard case .failure(let scope) = await github.authorize(token, tool: "create_issue") else { Issue.record("create_issue allowed"); return }
            #expect(scope.code == .insufficientScope && scope.scope == "tool:create_issue")
            let notion = AccessTokenVerifier.discovering(VerifierSettings(issuer: broker.issuer, resource: Broker.notionResource),
                                                         fetcher: CurlFetcher(settings: fetch))
            guard case .failure(let other) = await notion.verify(token) else { Issue.record("another server's token accepted"); return }
            #expect(other.code == .wrongAudience)
            let elsewhere = AccessTokenVerifier.discovering(VerifierSettings(issuer: "http://127.0.0.1:9", resource: Broker.githubResource),
                                                            fetcher: CurlFetcher(settings: fetch))
            guard case .failure(let unreachable) = await elsewhere.verify(token) else { Issue.record("verified without keys"); return }
            #expect(unreachable.code == .keysUnavailable && unreachable.status == 503)
        }
    }
}
