// VerifierBenchmark: the gateway library's AccessTokenVerifier on one thread.
//
//   uncached   AccessTokenVerifier.verify on tokens it has not seen (a pool of 512 distinct tokens,
//              the cache emptied after each pass, so every call is a miss): the whole path a gateway runs on a new
//              token (parse, typ, alg, key by kid, signature, iss/aud/exp, claims, revocation, cache
//              insert). Compare with `openssl speed` verify for the same algorithm.
//   cached     AccessTokenVerifier.verify on a token it has seen: the hash lookup, the comparison,
//              the expiry and revocation checks.
//   interleaved  uncached, and in the same process the call `openssl speed` times (RawOpenSSL's
//              short input on the same key: EVP_PKEY_verify without hashing, or EVP_DigestVerify of
//              20 bytes for Ed25519), alternated in batches of 64 for S seconds, each batch timed in
//              process CPU time; prints both rates and their ratio. The machine's speed drifts from
//              one second to the next here; alternating every few milliseconds cancels the drift that
//              pairing whole `openssl speed` runs leaves in.
//
// Usage: VerifierBenchmark [--seconds S] [--algorithm ES256|EdDSA|RS256|PS256|ES384] [--ops uncached,cached,interleaved]
// Rates divide by user CPU time (as `openssl speed` does). One line per measurement on stdout:
//   RESULT alg=ES256 op=uncached ops_per_sec=… iterations=… user_s=…
// Benchmarks/verifier/run.sh runs it beside `openssl speed` on the same core (docs/benchmarks.md).

import BenchmarkSupport
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperVerifier
import Foundation

#if canImport(Glibc)
import Glibc
#endif

var seconds = 3.0
var algorithm = JWSAlgorithm.es256
var ops: Set<String> = ["uncached", "cached", "interleaved"]
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--ops": ops = Set((arguments.popFirst() ?? "").split(separator: ",").map(String.init))
    case "--seconds": seconds = Double(arguments.popFirst() ?? "") ?? seconds
    case "--algorithm":
        guard let named = JWSAlgorithm(rawValue: arguments.popFirst() ?? "") else { fatalError("unknown algorithm") }
        algorithm = named
    default: fatalError("usage: VerifierBenchmark [--seconds S] [--algorithm ES256]")
    }
}

func userSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1_000_000
}

struct Clock: WallClock { func now() -> Date { Date(timeIntervalSince1970: 1_800_000_000) } }

let issuer = "https://bridgekeeper.example.com", resource = "https://mcp.example.com/github"
let key = try SigningKey.generate(algorithm, keyID: "bench-1")
let keys = try JWKSet(json: JSONValue.object(JSONObject(["keys": .array([.object(try key.publicJWK())])])).serialized())

func token(_ n: Int) throws -> String {
    try key.signJWT(type: "at+jwt", claims: JSONObject([
        "iss": .string(issuer), "sub": "00u-alice", "aud": .string(resource), "client_id": "mcp-client",
        "scope": "tool:search_code tool:create_issue tool:get_file", "jti": .string("at-\(n)"), "iat": .number(JSONNumber(1_799_999_990)),
        "exp": .number(JSONNumber(1_800_000_290)), "principal_class": "human", "idp_iss": "https://idp.example.com",
    ]))
}

/// Runs `body` in batches until `seconds` of wall time have passed; ops per user CPU second.
/// Nonisolated, so calling the verifier hops to no other executor.
nonisolated func measure(_ name: String, seconds: Double, algorithm: JWSAlgorithm, _ body: () async -> Bool) async -> Double {
    // Warm-up.
    let warm = Date().addingTimeInterval(0.3)
    while Date() < warm { _ = await body() }
    var iterations = 0
    let userStart = userSeconds()
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        for _ in 0..<64 {
            guard await body() else { fatalError("\(name): a verification failed") }
        }
        iterations += 64
    }
    let user = userSeconds() - userStart
    let rate = Double(iterations) / user
    print("RESULT alg=\(algorithm.rawValue) op=\(name) ops_per_sec=\(String(format: "%.1f", rate)) iterations=\(iterations) user_s=\(String(format: "%.3f", user))")
    FileHandle.standardError.write(Data("\(algorithm.rawValue) \(name): \(Int(rate)) verifications per CPU second\n".utf8))
    return rate
}

let uncachedVerifier = AccessTokenVerifier(settings: VerifierSettings(issuer: issuer, resource: resource), keys: StaticKeySource(keys), clock: Clock())
let pool = try (0..<512).map(token)
nonisolated func uncached(_ verifier: AccessTokenVerifier, _ pool: [String], seconds: Double, algorithm: JWSAlgorithm) async {
    var next = 0
    _ = await measure("uncached", seconds: seconds, algorithm: algorithm) {
        next = (next + 1) & 511
        // Every 512 calls the cache is emptied, so each call is a miss (the clear costs one
        // removeAll per 512 verifications).
        if next == 0 { verifier.clearCache() }
        if case .success = await verifier.verify(pool[next]) { return true }
        return false
    }
}
if ops.contains("uncached") { await uncached(uncachedVerifier, pool, seconds: seconds, algorithm: algorithm) }

let cachedVerifier = AccessTokenVerifier(settings: VerifierSettings(issuer: issuer, resource: resource), keys: StaticKeySource(keys), clock: Clock())
let seen = try token(0)
_ = await cachedVerifier.verify(seen)
nonisolated func cached(_ verifier: AccessTokenVerifier, _ token: String, seconds: Double, algorithm: JWSAlgorithm) async {
    _ = await measure("cached", seconds: seconds, algorithm: algorithm) {
        if case .success = await verifier.verify(token) { return true }
        return false
    }
}
if ops.contains("cached") { await cached(cachedVerifier, seen, seconds: seconds, algorithm: algorithm) }

/// CPU time of the whole process, in seconds (CLOCK_PROCESS_CPUTIME_ID: exact, unlike getrusage's ticks).
func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
}

/// Uncached verification and `openssl speed`'s call, alternated batch by batch.
nonisolated func interleaved(_ verifier: AccessTokenVerifier, _ pool: [String], _ raw: RawOpenSSL, seconds: Double, algorithm: JWSAlgorithm) async {
    var next = 0
    var ours = (count: 0, cpu: 0.0), speed = (count: 0, cpu: 0.0)
    var verified = 0  // the baseline's successes in the timed batches: each must verify
    let warm = Date().addingTimeInterval(0.3)
    while Date() < warm { _ = raw.verify(short: true) }
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        var start = processCPUSeconds()
        for _ in 0..<64 {
            next = (next + 1) & 511
            if next == 0 { verifier.clearCache() }
            guard case .success = await verifier.verify(pool[next]) else { fatalError("interleaved: a verification failed") }
        }
        ours.cpu += processCPUSeconds() - start
        ours.count += 64
        start = processCPUSeconds()
        for _ in 0..<64 { verified &+= raw.verify(short: true) }
        speed.cpu += processCPUSeconds() - start
        speed.count += 64
    }
    guard verified == speed.count else { fatalError("interleaved: the baseline did not verify") }
    let oursRate = Double(ours.count) / ours.cpu, speedRate = Double(speed.count) / speed.cpu
    print("RESULT alg=\(algorithm.rawValue) op=interleaved ops_per_sec=\(String(format: "%.1f", oursRate)) speed_ops_per_sec=\(String(format: "%.1f", speedRate)) ratio=\(String(format: "%.3f", oursRate / speedRate)) iterations=\(ours.count)")
    FileHandle.standardError.write(Data("\(algorithm.rawValue) interleaved: \(Int(oursRate)) uncached and \(Int(speedRate)) openssl-speed-style verifications per CPU second, ratio \(String(format: "%.3f", oursRate / speedRate))\n".utf8))
}
if ops.contains("interleaved") {
    let raw = RawOpenSSL(algorithm: algorithm, privateKeyPEM: try key.privateKeyPEM(), token: pool[0])
    guard raw.verify(short: true) == 1, raw.verify(short: false) == 1 else { fatalError("interleaved: the baseline does not verify") }
    let verifier = AccessTokenVerifier(settings: VerifierSettings(issuer: issuer, resource: resource), keys: StaticKeySource(keys), clock: Clock())
    await interleaved(verifier, pool, raw, seconds: seconds, algorithm: algorithm)
}
