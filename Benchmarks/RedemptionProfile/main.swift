// RedemptionProfile: the token endpoint's cost per ID-JAG redemption in process, without HTTP or
// a load generator sharing the CPU: the same composition root as `serve --demo` (SQLite store,
// group commit, the demo IdP's RS256 assertions), CPU time per redemption from getrusage.
//
// Usage: RedemptionProfile [--count N] [--concurrency C] [--fixtures DIR]
// Prints: RESULT redemptions=N concurrency=C cpu_us_per_redemption=… wall_per_sec=… 
// For attribution under a profiler (the assertions are minted before collection starts):
//   valgrind --tool=callgrind --toggle-collect='*TokenEndpoint*handle*' RedemptionProfile --count 2000
// Benchmarks/redemption/run.sh reports the HTTP figures; see docs/benchmarks.md.

import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperEndpoint
import BridgekeeperGrants
import BridgekeeperHTTP
import BridgekeeperServer
import BridgekeeperStoreSQLite
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
import BridgekeeperClientAuth
#endif

struct Options {
    var count = 20_000
    var concurrency = 64
    var fixtures = "idp-fixtures/demo-idp"
}
let options: Options = {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
        switch argument {
        case "--count", "-n": options.count = Int(arguments.popFirst() ?? "") ?? options.count
        case "--concurrency", "-c": options.concurrency = Int(arguments.popFirst() ?? "") ?? options.concurrency
        case "--fixtures": options.fixtures = arguments.popFirst() ?? options.fixtures
        default:
            FileHandle.standardError.write(Data("usage: RedemptionProfile [--count N] [--concurrency C] [--fixtures DIR]\n".utf8))
            exit(2)
        }
    }
    return options
}()
let count = options.count, concurrency = options.concurrency, fixtures = options.fixtures

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

let data = FileManager.default.temporaryDirectory.appendingPathComponent("bk-profile-\(getpid())").path
defer { try? FileManager.default.removeItem(atPath: data) }
var configuration = try Demo.configuration(fixtures: fixtures, data: data, port: 18_199)  // the port only names the issuer
// No rate limits: they would be what is measured.
configuration.perClientLimit = .init(rate: 1_000_000, burst: 1_000_000)
var logger = Logger(label: "profile")
logger.logLevel = .warning
let server = try await BridgekeeperServer.prepare(configuration, logger: logger)
let idp = try Demo.IdP(fixtures: fixtures)
let basic = "Basic " + Data("\(Demo.clientID):\(Demo.clientSecret)".utf8).base64EncodedString()
let resource = "https%3A%2F%2Fmcp.demo.bridgekeeper.test%2Fgithub"
let bodies: [[UInt8]] = try (0..<count).map { _ in
    let assertion = try idp.idJAG(user: "alice", server: "github", audience: configuration.issuer, now: Date())
    return Array("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&resource=\(resource)&assertion=\(assertion)".utf8)
}
let endpoint = server.services.tokenEndpoint

let startCPU = cpuSeconds()
let startWall = Date()
let failures = await withTaskGroup(of: Int.self) { group in
    for lane in 0..<concurrency {
        group.addTask {
            var failed = 0
            var index = lane
            while index < bodies.count {
                let response = await endpoint.handle(body: bodies[index], authorization: basic, remoteAddress: "127.0.0.1")
                if response.status != 200 { failed += 1 }
                index += concurrency
            }
            return failed
        }
    }
    var total = 0
    for await failed in group { total += failed }
    return total
}
let cpu = cpuSeconds() - startCPU
let wall = Date().timeIntervalSince(startWall)
await server.store.close()
print(String(format: "RESULT redemptions=%d concurrency=%d failures=%d cpu_us_per_redemption=%.1f wall_per_sec=%.0f",
             count, concurrency, failures, cpu / Double(count) * 1e6, Double(count) / wall))
exit(failures == 0 ? 0 : 1)
