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

// MARK: - Bare OpenSSL baselines

/// The OpenSSL calls `BridgekeeperJOSE` makes for one signature, with nothing around them, on the
/// same key and with contexts set up once and reused, in two variants:
///
/// - `raw`: the token's own signing input and signature. RSA and ECDSA hash the signing input first
///   (as JWS requires); Ed25519 signs it whole. `ours / raw` is the share of time spent outside OpenSSL.
/// - `speed`: what `openssl speed` signs: a short fixed buffer and no hashing (20 bytes for Ed25519,
///   a digest-sized buffer for RSA and ECDSA). `speed / openssl speed` checks that this harness and
///   `openssl speed` agree; `raw / speed` is what hashing the real, longer message costs.
final class RawOpenSSL {
    let algorithm: JWSAlgorithm
    let key: OpaquePointer
    /// RSA/ECDSA: EVP_PKEY_CTX for sign and verify over a digest. EdDSA: nil.
    let signContext, verifyContext: OpaquePointer?
    /// RSA/ECDSA: a digest context. EdDSA: nil.
    let digestContext: OpaquePointer?
    /// EdDSA: DigestSign / DigestVerify contexts. RSA/ECDSA: nil.
    let edSignContext, edVerifyContext: OpaquePointer?
    let md: OpaquePointer?
    let digestSize: Int
    /// The JWS signing input, and the `openssl speed`-style short input.
    let message: [UInt8]
    let shortMessage: [UInt8]
    /// Signatures as OpenSSL takes them (DER for ECDSA) over `message` and over `shortMessage`.
    var signature: [UInt8] = []
    var shortSignature: [UInt8] = []
    var scratch = [UInt8](repeating: 0, count: 1024)
    var hash = [UInt8](repeating: 0, count: 64)

    init(algorithm: JWSAlgorithm, privateKeyPEM: String, token: String) {
        self.algorithm = algorithm
        // A memory BIO borrows its buffer: read the key while the bytes are certainly alive.
        let pem = Array(privateKeyPEM.utf8)
        let parsed: OpaquePointer? = pem.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return bk_read_private_key_pem(bio)
        }
        guard let key = parsed else { fail("baseline: cannot read the private key") }
        self.key = key
        let dot = token.utf8.lastIndex(of: UInt8(ascii: "."))!
        message = Array(token.utf8[..<dot])
        let jwsSignature = (try? Base64URL.decode(String(token[token.utf8.index(after: dot)...]))) ?? []
        switch algorithm {
        case .eddsa, .ed25519:
            md = nil; signContext = nil; verifyContext = nil; digestContext = nil; digestSize = 0
            edSignContext = bk_eddsa_ctx(key, 1)
            edVerifyContext = bk_eddsa_ctx(key, 0)
            shortMessage = Array(repeating: 0x5A, count: 20)
        default:
            let kind: Int32
            let mdName: String
            switch algorithm {
            case .rs256, .rs384, .rs512: kind = 1
            case .ps256, .ps384, .ps512: kind = 2
            default: kind = 0
            }
            switch algorithm {
            case .rs384, .ps384, .es384: mdName = "SHA384"; digestSize = 48
            case .rs512, .ps512, .es512: mdName = "SHA512"; digestSize = 64
            default: mdName = "SHA256"; digestSize = 32
            }
            md = EVP_MD_fetch(nil, mdName, nil)
            signContext = bk_digest_pkey_ctx(key, 1, kind, md)
            verifyContext = bk_digest_pkey_ctx(key, 0, kind, md)
            digestContext = EVP_MD_CTX_new()
            edSignContext = nil; edVerifyContext = nil
            // The contexts carry the digest type, so OpenSSL wants a digest-sized input.
            shortMessage = Array(repeating: 0x5A, count: digestSize)
        }
        guard signContext != nil || edSignContext != nil else { fail("baseline: no OpenSSL context for \(algorithm.rawValue)") }
        let length = sign(short: true)
        guard length > 0 else { fail("baseline: OpenSSL cannot sign with \(algorithm.rawValue)") }
        shortSignature = Array(scratch[0..<length])
        if case .ecdsa = algorithmFamily {
            // OpenSSL verifies DER: take a DER signature of our own over the same digest.
            let length = sign(short: false)
            guard length > 0 else { fail("baseline: OpenSSL cannot sign with \(algorithm.rawValue)") }
            signature = Array(scratch[0..<length])
        } else {
            signature = jwsSignature
        }
    }

    private enum Family { case ecdsa, other }
    private var algorithmFamily: Family {
        switch algorithm {
        case .es256, .es384, .es512: return .ecdsa
        default: return .other
        }
    }

    deinit {
        if let signContext { EVP_PKEY_CTX_free(signContext) }
        if let verifyContext { EVP_PKEY_CTX_free(verifyContext) }
        EVP_MD_CTX_free(digestContext)
        EVP_MD_CTX_free(edSignContext)
        EVP_MD_CTX_free(edVerifyContext)
        EVP_MD_free(md)
        EVP_PKEY_free(key)
    }

    /// Runs `body` on the bytes the RSA/ECDSA contexts take: the hash of the signing input, or the
    /// short buffer as it is.
    private func withInput<R>(short: Bool, _ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
        if short { return shortMessage.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) } }
        var length: UInt32 = 0
        return hash.withUnsafeMutableBufferPointer { out in
            message.withUnsafeBytes { input in
                _ = EVP_DigestInit_ex2(digestContext, md, nil)
                _ = EVP_DigestUpdate(digestContext, input.baseAddress, input.count)
                _ = EVP_DigestFinal_ex(digestContext, out.baseAddress, &length)
            }
            return body(UnsafePointer(out.baseAddress!), Int(length))
        }
    }

    /// 1 when the signature verifies.
    @inline(never)
    func verify(short: Bool) -> Int {
        let sig = short ? shortSignature : signature
        if let edVerifyContext {
            let input = short ? shortMessage : message
            return Int(input.withUnsafeBufferPointer { input in
                sig.withUnsafeBufferPointer { sig in
                    EVP_DigestVerify(edVerifyContext, sig.baseAddress, sig.count, input.baseAddress, input.count)
                }
            })
        }
        return withInput(short: short) { tbs, length in
            Int(sig.withUnsafeBufferPointer { sig in EVP_PKEY_verify(verifyContext, sig.baseAddress, sig.count, tbs, length) })
        }
    }

    /// The signature's length (written to `scratch`), or -1.
    @inline(never)
    func sign(short: Bool) -> Int {
        var length = scratch.count
        if let edSignContext {
            let input = short ? shortMessage : message
            let ok = input.withUnsafeBufferPointer { input in
                scratch.withUnsafeMutableBufferPointer { out in
                    EVP_DigestSign(edSignContext, out.baseAddress, &length, input.baseAddress, input.count)
                }
            }
            return ok == 1 ? length : -1
        }
        let ok = withInput(short: short) { tbs, tbsLength in
            scratch.withUnsafeMutableBufferPointer { out in EVP_PKEY_sign(signContext, out.baseAddress, &length, tbs, tbsLength) }
        }
        return ok == 1 ? length : -1
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
