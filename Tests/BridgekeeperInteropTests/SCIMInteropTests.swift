import BridgekeeperCore
import BridgekeeperJOSE
import Foundation
import Testing

/// Bridgekeeper's SCIM service provider checked by a SCIM compliance tester we did not write:
/// scim2-tester 0.5.2 (with scim2-client over httpx2) runs discovery and then creates, reads,
/// replaces, patches and deletes every resource type the server publishes. The Python side is
/// `python/scim_compliance.py`.
@Suite("Interop: scim2-tester checks the SCIM service provider", .serialized)
struct SCIMInteropTests {
    static let token = "interop-scim-token-0123456789abcdef"

    static func yaml(_ setup: BrokerSetup) -> String {
        """
        \(Broker.preamble(port: setup.port))
        idps:
          - name: interop-idp
            issuer: \(Broker.idpIssuer)
            jwks_file: idp-jwks.json
            algorithms: [RS256]
        clients:
          - id: \(Broker.basicClient)
            secret_hash: "\(setup.secretHash)"
            auth_methods: [client_secret_basic]
            servers: ["*"]
        servers:
          - name: github
            resource: \(Broker.githubResource)
            tools:
              - { name: search_code, category: read }
        policy:
          - id: everyone-reads
            effect: allow
            everyone: true
            servers: [github]
            categories: [read]
        signals:
          scim:
            - name: interop-scim
              idp: interop-idp
              token_hash: "\(Broker.secretHash(token))"
        """
    }

    @Test("scim2-tester's full suite passes: no error and no critical result, over every check it runs")
    func compliance() async throws {
        try await withBrokers([Self.yaml]) { brokers in
            let broker = brokers[0]
            let run = try await broker.python("scim_compliance.py", [broker.issuer + "/scim/v2", Self.token], timeout: .seconds(180))
            #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
            let summary = run.stdout.split(separator: "\n").last.map(String.init) ?? ""
            #expect(summary.hasPrefix("checks: ") && summary.hasSuffix("failed: 0"), "\(run.stdout)")
            // It really exercised the resources, not only discovery.
            #expect(run.stdout.contains("SUCCESS"), "\(run.stdout)")
        }
    }
}
