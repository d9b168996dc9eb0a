import BridgekeeperCore
import BridgekeeperFetch
import BridgekeeperJOSE
import Foundation
import Testing

/// `DestinationPolicy.publicOnly` (issue 18 §2): the fetcher for URLs the operator did not name
/// refuses, before any socket is opened, every internal address a host resolves to, however the
/// URL spells it, unless the host is allowed by name.
@Suite("libcurl fetcher: destinations")
struct DestinationPolicyTests {
    let idp = LoopbackIdP.shared

    func fetcher(allowing hosts: [String] = []) -> CurlFetcher {
        var settings = CurlFetcher.Settings()
        settings.allowLoopbackHTTP = true
        settings.totalTimeout = 2
        settings.destinations = .publicOnly(allowing: InternalHostAllowList(hosts))
        return CurlFetcher(settings: settings)
    }

    func failure(_ url: String, allowing hosts: [String] = []) async -> FetchError? {
        do {
            _ = try await fetcher(allowing: hosts).get(url)
            return nil
        } catch {
            return error
        }
    }

    @Test("a loopback server is refused at connect time, by address and by a name that resolves to it, with plain http allowed")
    func loopbackRefused() async {
        let byAddress = await failure(idp.url("/jwks"))
        #expect(byAddress?.code == .internalAddress)
        #expect(byAddress?.reason == "127.0.0.1 resolved to 127.0.0.1 (a loopback address); not connected")
        // `localhost` is a name: only what it resolves to (/etc/hosts) can be judged.
        let byName = await failure("http://localhost:\(idp.port)/jwks")
        #expect(byName?.code == .internalAddress, "\(String(describing: byName))")
        #expect(byName?.reason.hasPrefix("localhost resolved to ") == true)
    }

    @Test("spellings curl reads as internal addresses are refused before connecting", arguments: [
        "https://0x7f.1:9/jwks", "https://127.1:9/jwks", "https://2130706433:9/jwks", "https://0177.0.0.1:9/jwks",
        "https://[::1]:9/jwks", "https://[::ffff:127.0.0.1]:9/jwks", "https://169.254.169.254/latest/meta-data/", "https://10.1.2.3/jwks",
        "https://[fe80::1]/jwks", "https://0.0.0.0:9/jwks", "https://%31%32%37.0.0.1:9/jwks",
    ])
    func spellings(_ url: String) async {
        let error = await failure(url)
        #expect(error?.code == .internalAddress, "\(url): \(String(describing: error))")
    }

    @Test("a host the operator allows by name is fetched; the allowance is for that name only")
    func allowedByName() async throws {
        let document = try await fetcher(allowing: ["127.0.0.1"]).get(idp.url("/jwks"))
        #expect(try JWKSet(bytes: document.body).keys.map(\.keyID) == ["key-a"])
        let named = try await fetcher(allowing: ["LOCALHOST"]).get("http://localhost:\(idp.port)/jwks")
        #expect(named.status == 200)
        // Allowing the address does not allow a name that resolves to it, nor the other way round.
        #expect(await failure("http://localhost:\(idp.port)/jwks", allowing: ["127.0.0.1"])?.code == .internalAddress)
        #expect(await failure(idp.url("/jwks"), allowing: ["localhost"])?.code == .internalAddress)
    }

    @Test("the default policy connects anywhere: IdP and client key URLs are the operator's own")
    func anywhereByDefault() async throws {
        #expect(CurlFetcher.Settings().destinations == .anywhere)
        #expect(try await LoopbackIdP.fetcher().get(idp.url("/jwks")).status == 200)
    }
}
