// FeedPropagation: how long a revocation takes to reach a gateway (issue 7). A served broker (the
// `serve --demo` composition root on loopback) and, in the same process, the gateway library
// subscribed to its revocation feed. For each sample: a fresh token is redeemed and verified by the
// gateway; then the clock starts, the token is revoked (RFC 7009 POST /revoke), and the gateway is
// asked, every 0.2 ms, until it refuses the token. The baseline, measured in the same samples, is
// the revoking request's own round trip: propagation minus it is what the feed adds.
//
// Usage: FeedPropagation [--samples N] [--mode token|subject] [--port P] [--fixtures DIR]
//   token: one token revoked (a jwt_id SET). subject: the person's sessions revoked in process
//   (SignalProcessor, as a CAEP/SCIM signal does; an iss_sub SET and the subject's epoch).
// Prints: RESULT mode=… samples=N p50_ms=… p90_ms=… p99_ms=… max_ms=… baseline_p50_ms=… baseline_p99_ms=…
// Benchmarks/feed/run.sh runs it and writes the table in docs/benchmarks.md.

import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperFetch
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperRevocation
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperVerifier
import Foundation
import Hummingbird
import Logging
import BridgekeeperVerifierFetch

struct Options {
    var samples = 200
    var mode = "token"
    var port = 18_299
    var fixtures = "idp-fixtures/demo-idp"
}
let options: Options = {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--samples", "-n": options.samples = Int(arguments.popFirst() ?? "") ?? options.samples
        case "--mode": options.mode = arguments.popFirst() ?? options.mode
        case "--port": options.port = Int(arguments.popFirst() ?? "") ?? options.port
        case "--fixtures": options.fixtures = arguments.popFirst() ?? options.fixtures
        default:
            FileHandle.standardError.write(Data("usage: FeedPropagation [--samples N] [--mode token|subject] [--port P] [--fixtures DIR]\n".utf8))
            exit(2)
        }
    }
    return options
}()

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

let data = FileManager.default.temporaryDirectory.appendingPathComponent("bk-feed-\(ProcessInfo.processInfo.processIdentifier)").path
defer { try? FileManager.default.removeItem(atPath: data) }
var configuration = try Demo.configuration(fixtures: options.fixtures, data: data, port: options.port)
configuration.perClientLimit = .init(rate: 1_000_000, burst: 1_000_000)
configuration.perAddressLimit = .init(rate: 1_000_000, burst: 1_000_000)
var logger = Logger(label: "feed-bench")
logger.logLevel = .warning
let server = try await BridgekeeperServer.prepare(configuration, logger: logger)
let (started, running) = AsyncStream<Int>.makeStream()
let app = server.application(onServerRunning: { running.yield($0) })
let serving = Task { try await app.runService(gracefulShutdownSignals: []) }
for await _ in started { break }

let issuer = configuration.issuer
let idp = try Demo.IdP(fixtures: options.fixtures)
guard let resource = configuration.catalog.server(named: "github")?.resource.canonical else { throw Failure("no github server in the demo") }
typealias HTTPRequest = BridgekeeperFetch.HTTPRequest
var fetchSettings = CurlFetcher.Settings()
fetchSettings.allowLoopbackHTTP = true
let curl = CurlFetcher(settings: fetchSettings)
let client = HTTPRequest.basicAuthorization(clientID: Demo.clientID, secret: Demo.clientSecret)

var verifierSettings = VerifierSettings(issuer: issuer, resource: resource)
verifierSettings.maxStaleness = 60
let verifier = AccessTokenVerifier.discovering(verifierSettings, fetcher: curl)
let subscription = RevocationFeedSubscription(verifier: verifier,
                                              settings: FeedSubscriptionSettings(clientID: Demo.gatewayID, clientSecret: Demo.gatewaySecret),
                                              fetcher: curl)
let feed = Task { await subscription.run { FileHandle.standardError.write(Data("feed: \($0)\n".utf8)) } }

func post(_ path: String, _ pairs: [(String, String)]) async throws -> [UInt8] {
    let answer = try await curl.send(HTTPRequest(method: .post, url: issuer + path,
                                                 headers: [HTTPRequest.Header("Authorization", client),
                                                           HTTPRequest.Header("Content-Type", "application/x-www-form-urlencoded")],
                                                 body: Array(HTTPRequest.formEncoded(pairs).utf8)))
    guard answer.status == 200 else { throw Failure("\(path): HTTP \(answer.status) \(String(decoding: answer.body, as: UTF8.self))") }
    return answer.body
}

func redeem() async throws -> String {
    let assertion = try idp.idJAG(user: "alice", server: "github", audience: issuer, now: Date())
    let body = try await post("/token", [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion),
                                         ("resource", resource)])
    guard case .object(let object) = try JSONValue.parse(body), let token = object["access_token"]?.stringValue else { throw Failure("no token") }
    return token
}

func refused(_ token: String) async -> Bool {
    if case .failure(let error) = await verifier.verify(token), error.code == .revoked { return true }
    return false
}

let alice = SubjectKey(issuer: idp.issuer, subject: idp.subject(of: "alice") ?? "")
var propagation: [Double] = []
var baseline: [Double] = []
for index in 0..<options.samples {
    let token = try await redeem()
    // The gateway has seen the token (it is cached) and the feed is current.
    let ready = ContinuousClock.now + .seconds(10)
    while (try? await verifier.verify(token).get()) == nil {
        guard ContinuousClock.now < ready else { throw Failure("sample \(index): the gateway never accepted the fresh token") }
        try await Task.sleep(for: .milliseconds(1))
    }
    // Subject epochs are whole seconds: a session revocation in the second a token was issued would
    // also kill the next sample's token, so those samples start on a fresh second.
    let start = ContinuousClock.now
    let revoked: ContinuousClock.Instant
    if options.mode == "subject" {
        let signal = server.signals.signal(source: .operator, connection: "local:bench", externalID: nil, event: "bench:revoke_sessions",
                                           subject: alice, action: .revokeSessions)
        _ = try await server.signals.submit(signal)
        revoked = ContinuousClock.now
    } else {
        _ = try await post("/revoke", [("token", token)])
        revoked = ContinuousClock.now
    }
    let deadline = start + .seconds(10)
    while !(await refused(token)) {
        guard ContinuousClock.now < deadline else { throw Failure("sample \(index): not refused within 10 s") }
        try await Task.sleep(for: .microseconds(200))
    }
    let end = ContinuousClock.now
    func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1_000 + Double(d.components.attoseconds) / 1e15 }
    propagation.append(ms(end - start))
    baseline.append(ms(revoked - start))
    if options.mode == "subject" { try await Task.sleep(for: .milliseconds(1_000)) }
}
// The feed's held poll ends first (libcurl aborts it on cancellation); then the server stops.
feed.cancel()
await feed.value
serving.cancel()
_ = await serving.result

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}
func f(_ value: Double) -> String { String(format: "%.2f", value) }
print("RESULT mode=\(options.mode) samples=\(propagation.count) p50_ms=\(f(percentile(propagation, 0.5))) p90_ms=\(f(percentile(propagation, 0.9)))"
      + " p99_ms=\(f(percentile(propagation, 0.99))) max_ms=\(f(propagation.max() ?? .nan))"
      + " baseline_p50_ms=\(f(percentile(baseline, 0.5))) baseline_p99_ms=\(f(percentile(baseline, 0.99)))")
