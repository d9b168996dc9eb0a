// JOSEBenchmark: JWS verify and sign operations per second, per algorithm, on one thread.
//
// VERIFY, per iteration, the whole path a relying party runs on an incoming token:
//   UnverifiedJWS(compact:)   size cap, segment split, strict base64url of all three segments,
//                             strict JSON parse of the protected header
//   JWSVerifier.verify        alg allow-list, crit/b64/embedded-key checks, key selection by kid,
//                             digest + signature check
//   unverifiedClaims()        strict JSON parse of the payload
// SIGN, per iteration: SigningKey.signJWT(type:claims:), i.e. header and claims serialisation,
// base64url, digest + signature, and the compact string.
//
// Usage: JOSEBenchmark [--seconds S] [--warmup S] [--algorithms RS256,ES256,...] [--ops verify,sign]
//                      [--elapsed] [--baseline] [--iterations N]
// Each measurement runs for S seconds of wall time (default 3, after a 0.5 s warm-up). Like
// `openssl speed`, the reported rate divides by user CPU time unless --elapsed is given (then by wall
// time, like `openssl speed -elapsed`). --baseline adds bare-OpenSSL figures on the same key
// (ops verify-raw/sign-raw on the token's own signing input, verify-speed/sign-speed on `openssl
// speed`'s short unhashed input; see RawOpenSSL). --iterations runs a fixed count instead (rounded up
// to a multiple of 8), for profilers:
//   valgrind --tool=callgrind --toggle-collect='*verifyOnce*' JOSEBenchmark -a RS256 --ops verify -n 2000 --warmup 0
// Prints one machine-readable line per measurement on stdout:
//   RESULT alg=ES256 op=verify ops_per_sec=12345.6 ops_per_user_sec=12345.6 ops_per_wall_sec=12301.2
//          iterations=37032 wall_s=3.000 user_s=2.999 token_bytes=707
// and a human summary on stderr. Exits non-zero when a produced token fails its sanity checks.
// Benchmarks/run.sh runs this beside `openssl speed`; see docs/benchmarks.md.

import BenchmarkSupport
import BridgekeeperJOSE
import COpenSSL
import Foundation

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Arguments

struct Options {
    var seconds = 3.0
    var warmup = 0.5
    var algorithms: [JWSAlgorithm] = [.rs256, .ps256, .es256, .es384, .eddsa]
    var ops: [String] = ["verify", "verify+claims", "sign"]
    /// Report ops per wall-clock second (like `openssl speed -elapsed`) instead of per user CPU second.
    var elapsed = false
    /// A fixed iteration count instead of a duration (for profilers: callgrind, perf).
    var iterations: Int? = nil
    /// Also time bare OpenSSL on the same key: on the token's signing input ("verify-raw", "sign-raw")
    /// and on `openssl speed`'s short unhashed input ("verify-speed", "sign-speed").
    var baseline = false
}

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("""
        error: \(message)
        usage: JOSEBenchmark [--seconds S] [--warmup S] [--algorithms RS256,PS256,ES256,ES384,EdDSA] [--ops verify,sign] [--elapsed] [--iterations N] [--baseline]
        A bare number is taken as --seconds. ops_per_sec is per user CPU second (as `openssl speed`
        reports by default), or per wall-clock second with --elapsed (as `openssl speed -elapsed`).

        """.utf8))
    exit(2)
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    func value(_ flag: String) -> String {
        guard let next = arguments.popFirst() else { usage("\(flag) needs a value") }
        return next
    }
    func duration(_ flag: String, _ text: String) -> Double {
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0 else { usage("\(flag): not a duration: \(text)") }
        return seconds
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--seconds", "-s": options.seconds = duration(argument, value(argument))
        case "--warmup", "-w": options.warmup = duration(argument, value(argument))
        case "--algorithms", "--algs", "-a":
            options.algorithms = value(argument).split(separator: ",").map { name in
                guard let algorithm = JWSAlgorithm(rawValue: String(name)), !algorithm.isSymmetric else {
                    usage("unknown or symmetric algorithm \(name)")
                }
                return algorithm
            }
        case "--ops", "-o":
            options.ops = value(argument).split(separator: ",").map(String.init)
            let known = ["verify", "verify+claims", "sign", "verify-raw", "sign-raw", "verify-speed", "sign-speed"]
            for op in options.ops where !known.contains(op) { usage("unknown op \(op) (\(known.joined(separator: ", ")))") }
        case "--elapsed": options.elapsed = true
        case "--baseline": options.baseline = true
        case "--iterations", "-n":
            guard let count = Int(value(argument)), count > 0 else { usage("--iterations needs a positive count") }
            options.iterations = count
        case "--help", "-h": usage("help requested")
        default:
            guard let seconds = Double(argument) else { usage("unexpected argument \(argument)") }
            options.seconds = duration("--seconds", String(seconds))
        }
    }
    if options.seconds <= 0 { usage("--seconds must be positive") }
    if options.baseline {
        for op in ["verify", "sign"] where options.ops.contains(op) {
            var at = options.ops.firstIndex(of: op)! + 1
            for extra in [op + "-raw", op + "-speed"] where !options.ops.contains(extra) {
                options.ops.insert(extra, at: at)
                at += 1
            }
        }
    }
    return options
}

// MARK: - Timing

/// Monotonic nanoseconds (vDSO, cheap enough to read once per small batch).
@inline(__always)
func now() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// User CPU time of this (single-threaded) process, in seconds. `openssl speed` divides by user CPU time unless given
/// `-elapsed`, so this is the figure to compare with it; it also ignores time the core spent on other
/// processes, which makes it steadier on a shared machine.
func userCPUSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif  // the process runs one thread
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
}

/// Keeps results observable so the optimiser cannot drop the work.
nonisolated(unsafe) var sink = 0

struct Measurement {
    let iterations: Int
    let wallSeconds: Double
    let userSeconds: Double
    var perWallSecond: Double { Double(iterations) / wallSeconds }
    var perUserSecond: Double { Double(iterations) / max(userSeconds, 1e-9) }
}

/// Runs `body` repeatedly for about `seconds` of wall time (or exactly `count` times), reading the
/// clock once per small batch.
@inline(never)
func measure(seconds: Double, count: Int? = nil, _ body: () throws(JOSEError) -> Int) throws(JOSEError) -> Measurement {
    let batch = 8
    let budget = count == nil ? UInt64(seconds * 1e9) : UInt64.max
    var iterations = 0
    let cpuStart = userCPUSeconds()
    let start = now()
    var elapsed: UInt64 = 0
    repeat {
        for _ in 0..<batch { sink &+= try body() }
        iterations += batch
        elapsed = now() - start
    } while elapsed < budget && iterations < (count ?? .max)
    let cpu = userCPUSeconds() - cpuStart
    return Measurement(iterations: iterations, wallSeconds: Double(elapsed) / 1e9, userSeconds: cpu)
}

// MARK: - Fixtures

/// A typical ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant) / RFC 9068 access-token claim set.
func claims(issuedAt: Int64) -> JSONObject {
    JSONObject([
        "iss": "https://idp.example.com",
        "sub": "248289761001",
        "aud": "https://as.resource.example.net",
        "client_id": "s6BhdRkqt3-chat-app",
        "jti": "9e43f81b-64e3-4a7c-8d1f-2c52b2a6f0d7",
        "exp": .number(JSONNumber(issuedAt + 300)),
        "iat": .number(JSONNumber(issuedAt)),
        "auth_time": .number(JSONNumber(issuedAt - 120)),
        "scope": "chat.read chat.history calendar.read",
        "resource": "https://api.resource.example.net/",
        "email": "alice@example.com",
        "amr": .array(["pwd", "mfa"]),
    ])
}

let tokenType = "oauth-id-jag+jwt"

struct Case {
    let algorithm: JWSAlgorithm
    let signer: SigningKey
    let verifier: JWSVerifier
    let claims: JSONObject
    let token: String
    let raw: RawOpenSSL
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("sanity check failed: \(message)\n".utf8))
    exit(1)
}

/// The verify figure's unit of work, a JWS verification with full JWS parsing: the compact
/// serialisation (size, segments, strict base64url of header, payload and signature), the strict JSON
/// protected header, the alg/crit/embedded-key checks, key selection by kid, and the signature.
@inline(never)
func verifyOnce(_ verifier: JWSVerifier, _ token: String) throws(JOSEError) -> Int {
    let jws = try UnverifiedJWS(compact: token)
    let verified = try verifier.verify(jws)
    return verified.header.count &+ (verified.keyID?.utf8.count ?? 0)
}

/// The verify+claims figure: the above, plus the JWT layer's strict JSON parse of the claims.
@inline(never)
func verifyClaimsOnce(_ verifier: JWSVerifier, _ token: String) throws(JOSEError) -> Int {
    let jws = try UnverifiedJWS(compact: token)
    let verified = try verifier.verify(jws)
    let claims = try jws.unverifiedClaims()
    return claims.count &+ (verified.keyID?.utf8.count ?? 0)
}

/// The sign figure's unit of work: a compact JWT from a claim set.
@inline(never)
func signOnce(_ signer: SigningKey, _ claims: JSONObject) throws(JOSEError) -> Int {
    try signer.signJWT(type: tokenType, claims: claims).utf8.count
}

/// Builds the key, verifier and token for `algorithm`, and checks before any timing that the token
/// verifies, carries the claims it was signed with, passes the ID-JAG rules, and that a tampered
/// copy does not verify.
func makeCase(_ algorithm: JWSAlgorithm) -> Case {
    let issuedAt = Int64(Date().timeIntervalSince1970)
    let claimSet = claims(issuedAt: issuedAt)
    do {
        let signer = try SigningKey.generate(algorithm)
        let verifier = JWSVerifier(keys: JWKSet(keys: [signer.verificationKey()]))
        let token = try signer.signJWT(type: tokenType, claims: claimSet)

        let jws = try UnverifiedJWS(compact: token)
        guard jws.algorithmName == algorithm.rawValue, jws.type == tokenType, jws.keyID == signer.keyID else {
            fail("\(algorithm.rawValue): header is \(jws.header.serialized())")
        }
        let verified = try verifier.verify(jws)
        guard verified.algorithm == algorithm, verified.keyID == signer.keyID else { fail("\(algorithm.rawValue): verified with the wrong key/alg") }
        guard try jws.unverifiedClaims() == claimSet else { fail("\(algorithm.rawValue): claims did not round-trip") }
        guard try verifyOnce(verifier, token) > 0 else { fail("\(algorithm.rawValue): empty verify result") }

        let jwt = JWTVerifier(kind: .idJAG, signatures: verifier,
                              rules: ClaimRules(issuer: "https://idp.example.com", audience: "https://as.resource.example.net"))
        _ = try jwt.verify(token, now: Date(timeIntervalSince1970: Double(issuedAt)))

        // A signature that no longer matches must be refused: flip one bit in the signature's
        // first byte (the middle of its first base64url character, which stays canonical).
        var bytes = Array(token.utf8)
        let signatureStart = bytes.lastIndex(of: UInt8(ascii: "."))! + 1
        bytes[signatureStart] = bytes[signatureStart] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let tampered = String(decoding: bytes, as: UTF8.self)
        do {
            _ = try verifier.verify(try UnverifiedJWS(compact: tampered))
            fail("\(algorithm.rawValue): a tampered signature verified")
        } catch where error.code == .badSignature || error.code == .badSignatureEncoding {
            // expected
        }

        // A freshly signed token (the sign loop's output) verifies too.
        let fresh = try signer.signJWT(type: tokenType, claims: claimSet)
        _ = try verifier.verify(try UnverifiedJWS(compact: fresh))
        let raw = RawOpenSSL(algorithm: algorithm, privateKeyPEM: try signer.privateKeyPEM(), token: token)
        guard raw.verify(short: false) == 1, raw.verify(short: true) == 1, raw.sign(short: false) > 0 else {
            fail("\(algorithm.rawValue): bare OpenSSL baseline does not verify")
        }
        return Case(algorithm: algorithm, signer: signer, verifier: verifier, claims: claimSet, token: token, raw: raw)
    } catch {
        fail("\(algorithm.rawValue): \(error)")
    }
}

// MARK: - Main

let options = parseOptions()
let log = FileHandle.standardError
func info(_ text: String) { log.write(Data((text + "\n").utf8)) }

info("JOSEBenchmark: \(options.seconds) s per measurement after \(options.warmup) s warm-up, one thread, "
     + (options.elapsed ? "ops per wall-clock second" : "ops per user CPU second"))
let cases = options.algorithms.map(makeCase)
for item in cases {
    info("  \(item.algorithm.rawValue): token \(item.token.utf8.count) bytes, sanity checks passed")
}
print("# JOSEBenchmark seconds=\(options.seconds) warmup=\(options.warmup) clock=\(options.elapsed ? "wall" : "user")")

for item in cases {
    for op in options.ops {
        do {
            let result: Measurement
            switch op {
            case "verify-raw", "verify-speed":
                let short = op == "verify-speed"
                _ = try measure(seconds: options.warmup) { () throws(JOSEError) in item.raw.verify(short: short) }
                result = try measure(seconds: options.seconds, count: options.iterations) { () throws(JOSEError) in item.raw.verify(short: short) }
            case "sign-raw", "sign-speed":
                let short = op == "sign-speed"
                _ = try measure(seconds: options.warmup) { () throws(JOSEError) in item.raw.sign(short: short) }
                result = try measure(seconds: options.seconds, count: options.iterations) { () throws(JOSEError) in item.raw.sign(short: short) }
            case "verify":
                _ = try measure(seconds: options.warmup) { () throws(JOSEError) in try verifyOnce(item.verifier, item.token) }
                result = try measure(seconds: options.seconds, count: options.iterations) { () throws(JOSEError) in try verifyOnce(item.verifier, item.token) }
            case "verify+claims":
                _ = try measure(seconds: options.warmup) { () throws(JOSEError) in try verifyClaimsOnce(item.verifier, item.token) }
                result = try measure(seconds: options.seconds, count: options.iterations) { () throws(JOSEError) in try verifyClaimsOnce(item.verifier, item.token) }
            default:
                _ = try measure(seconds: options.warmup) { () throws(JOSEError) in try signOnce(item.signer, item.claims) }
                result = try measure(seconds: options.seconds, count: options.iterations) { () throws(JOSEError) in try signOnce(item.signer, item.claims) }
            }
            let rate = options.elapsed ? result.perWallSecond : result.perUserSecond
            print("RESULT alg=\(item.algorithm.rawValue) op=\(op) ops_per_sec=\(String(format: "%.1f", rate))"
                  + " ops_per_user_sec=\(String(format: "%.1f", result.perUserSecond))"
                  + " ops_per_wall_sec=\(String(format: "%.1f", result.perWallSecond))"
                  + " iterations=\(result.iterations) wall_s=\(String(format: "%.3f", result.wallSeconds))"
                  + " user_s=\(String(format: "%.3f", result.userSeconds)) token_bytes=\(item.token.utf8.count)")
            fflush(nil)  // flush stdout line by line when piped
            func pad(_ text: String) -> String { text + String(repeating: " ", count: max(0, 13 - text.count)) }
            info("  " + pad(item.algorithm.rawValue) + pad(op)
                 + String(format: "%10.1f ops/s  (%.2f µs/op; %.1f ops per wall second)", rate, 1e6 / rate, result.perWallSecond))
        } catch {
            fail("\(item.algorithm.rawValue) \(op) failed during timing: \(error)")
        }
    }
}
if sink == 42 { info("") }  // keep `sink` alive
