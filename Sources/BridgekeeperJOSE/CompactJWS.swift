#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A JWS in compact serialisation (RFC 7515 §7.1), parsed and nothing trusted.
///
/// Parsing checks only shape: a size cap, exactly three segments (five is a JWE and gets its own
/// error), strict base64url in every segment, a protected header that is a strict JSON object with a
/// string `alg`, and a non-empty payload (detached content is refused). Everything that decides trust
/// (`typ`, `alg`, `crit`, the key, the signature) happens in `JWSVerifier`, in a fixed order.
public struct UnverifiedJWS: Sendable {
    /// Default cap on a compact JWS, in bytes. ID tokens and ID-JAGs are a few KiB at most.
    public static let defaultMaxBytes = 16_384

    public let header: JSONObject
    /// The `alg` header as written; `JWSVerifier` decides whether it is acceptable.
    public let algorithmName: String
    /// Header, payload and signature, decoded into one buffer (one allocation per token); the header
    /// is parsed into `header` at once, so only the payload and signature ranges are kept.
    private let decoded: [UInt8]
    private let payloadRange: Range<Int>
    private let signatureRange: Range<Int>

    /// The decoded payload. Not verified.
    public var payload: [UInt8] { Array(decoded[payloadRange]) }
    /// The token as given (contiguous UTF-8); its first `signingInputLength` bytes are
    /// `ASCII(BASE64URL(header) || '.' || BASE64URL(payload))`, the bytes that were signed.
    private var compact: String = ""
    private let signingInputLength: Int

    public init(compact: String, maxBytes: Int = UnverifiedJWS.defaultMaxBytes) throws(JOSEError) {
        var copy = compact
        let parsed = copy.withUTF8 { buffer in Result { () throws(JOSEError) in try Self.parse(buffer, maxBytes: maxBytes) } }
        self = try parsed.get()
        self.compact = copy  // withUTF8 made it contiguous, so the signing input is read in place
    }

    private init(header: JSONObject, algorithmName: String, decoded: [UInt8],
                 ranges: (Range<Int>, Range<Int>, Range<Int>), signingInputLength: Int) {
        self.header = header
        self.algorithmName = algorithmName
        self.decoded = decoded
        payloadRange = ranges.1
        signatureRange = ranges.2
        self.signingInputLength = signingInputLength
    }

    /// Runs `body` over the decoded signature.
    func withSignature<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        decoded.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[signatureRange])) }
    }

    /// Runs `body` over the signing input without copying it.
    func withSigningInput<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        if let result = compact.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[0..<signingInputLength]))) }) {
            return result
        }
        return Array(compact.utf8.prefix(signingInputLength)).withUnsafeBytes(body)
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, maxBytes: Int) throws(JOSEError) -> UnverifiedJWS {
        guard bytes.count <= maxBytes else { throw JOSEError(.tooLarge, "token is larger than \(maxBytes) bytes") }
        guard !bytes.isEmpty else { throw JOSEError(.malformed, "token is empty") }
        // memchr is vectorised: find the two dots of a JWS, then make sure there is no third.
        let base = bytes.baseAddress!
        func dot(after start: Int) -> Int? {
            guard start < bytes.count, let found = memchr(base + start, Int32(UInt8(ascii: ".")), bytes.count - start) else { return nil }
            return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        }
        let first = dot(after: 0)
        let second = first.flatMap { dot(after: $0 + 1) }
        if let second, dot(after: second + 1) != nil {
            var dotCount = 0
            for byte in bytes where byte == UInt8(ascii: ".") { dotCount += 1 }
            if dotCount == 4 {
                throw JOSEError(.jweNotSupported, "token has five segments: a JWE (encrypted token), which is not accepted here")
            }
            throw JOSEError(.malformed, "a compact JWS has exactly three dot-separated segments, this has \(min(dotCount, 5) + 1)")
        }
        guard let first, let second else {
            throw JOSEError(.malformed, "a compact JWS has exactly three dot-separated segments, this has \(first == nil ? 1 : 2)")
        }
        guard second > first + 1 else {
            throw JOSEError(.detachedPayload, "payload segment is empty (detached content is not accepted)")
        }
        let headerSegment = 0..<first, payloadSegment = (first + 1)..<second, signatureSegment = (second + 1)..<bytes.count
        let headerCount = try Base64URL.decodedCount(headerSegment.count)
        let payloadCount = try Base64URL.decodedCount(payloadSegment.count)
        let signatureCount = try Base64URL.decodedCount(signatureSegment.count)
        let ranges = (0..<headerCount, headerCount..<(headerCount + payloadCount),
                      (headerCount + payloadCount)..<(headerCount + payloadCount + signatureCount))
        let total = ranges.2.upperBound
        var failure: JOSEError? = nil
        let decoded = [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
            do throws(JOSEError) {
                try Base64URL.decode(UnsafeBufferPointer(rebasing: bytes[headerSegment]), into: UnsafeMutableBufferPointer(rebasing: out[ranges.0]))
                try Base64URL.decode(UnsafeBufferPointer(rebasing: bytes[payloadSegment]), into: UnsafeMutableBufferPointer(rebasing: out[ranges.1]))
                try Base64URL.decode(UnsafeBufferPointer(rebasing: bytes[signatureSegment]), into: UnsafeMutableBufferPointer(rebasing: out[ranges.2]))
            } catch { failure = error }
            initialized = total
        }
        if let failure { throw failure }
        let headerValue = try JSONValue.parse(decoded[ranges.0], limits: JSONLimits(maxBytes: 8_192, maxDepth: 4))
        guard let header = headerValue.objectValue else { throw JOSEError(.malformed, "protected header is not a JSON object") }
        guard let algorithmName = header["alg"]?.stringValue else { throw JOSEError(.malformed, "protected header has no \"alg\" string") }
        try checkStringParameters(header)
        return UnverifiedJWS(header: header, algorithmName: algorithmName, decoded: decoded, ranges: ranges, signingInputLength: second)
    }

    /// Header parameters that RFC 7515 §4.1 defines as strings. A token whose `kid` is an object, a
    /// number, an array or empty is refused here, at parsing, so that no verifier can read it as
    /// "no `kid`" and pick a key anyway; `typ` and `cty` likewise, so a kind's `typ` rule never
    /// sees a non-string.
    static let stringParameters = ["kid", "typ", "cty"]

    /// RFC 7515 §4.1.4 (`kid`), §4.1.9 (`typ`), §4.1.10 (`cty`): each, when present, a non-empty string.
    static func checkStringParameters(_ header: JSONObject) throws(JOSEError) {
        for name in stringParameters {
            guard let value = header[name] else { continue }
            guard let text = value.stringValue, !text.isEmpty else {
                throw JOSEError(.invalidHeader, "header \"\(name)\" must be a non-empty string")
            }
        }
    }

    /// The header's `kid`, when present (parsing has made sure it is a non-empty string).
    public var keyID: String? { header["kid"]?.stringValue }

    /// The header's `typ`, when it is a string.
    public var type: String? { header["typ"]?.stringValue }

    /// The payload as a JSON object of claims, parsed strictly. Not verified.
    public func unverifiedClaims() throws(JOSEError) -> JSONObject {
        let value: JSONValue
        do {
            value = try JSONValue.parse(decoded[payloadRange], limits: JSONLimits(maxBytes: 65_536, maxDepth: 16))
        } catch where error.code == .badJSON {
            throw JOSEError(.notAJWT, "payload is not JSON: \(error.reason)")
        }
        guard let object = value.objectValue else { throw JOSEError(.notAJWT, "payload is not a JSON object") }
        return object
    }
}

/// Header parameters that carry a key or point at one. A verifier never takes keys from a token, and
/// a token that offers one is refused rather than silently trusted or ignored.
let embeddedKeyHeaders = ["jwk", "jku", "x5u", "x5c"]

/// Verifies compact JWS signatures with keys from a configured set (RFC 7515 §5.2).
///
/// Checks, in this order, after `UnverifiedJWS` has checked shape:
/// 1. `alg`: not `none`; not HMAC unless the key set is symmetric; on this verifier's allow-list.
/// 2. `crit` only names extensions we understand (none), and `b64` is not false (RFC 7797).
/// 3. No key or key location in the header (`jwk`, `jku`, `x5u`, `x5c`).
/// 4. The key: by `kid` from the configured set, allowing this `alg` (per-key allow-list).
/// 5. The signature.
public struct JWSVerifier: Sendable {
    public var keys: JWKSet
    /// The verifier's allow-list; a key's own list narrows it further. Asymmetric algorithms by default.
    public var algorithms: Set<JWSAlgorithm>

    public init(keys: JWKSet, algorithms: Set<JWSAlgorithm> = JWSAlgorithm.asymmetric) {
        self.keys = keys
        self.algorithms = algorithms
    }

    public func verify(_ jws: UnverifiedJWS) throws(JOSEError) -> VerifiedJWS {
        let algorithm = try JWSAlgorithm.fromHeader(jws.header["alg"])
        if algorithm.isSymmetric, !keys.keys.contains(where: \.isSymmetric) {
            throw JOSEError(.symmetricAlgorithm, "\(algorithm.rawValue) (HMAC) is refused: this verifier holds asymmetric keys")
        }
        guard algorithms.contains(algorithm) else {
            throw JOSEError(.algorithmNotAllowed, "alg \(algorithm.rawValue) is not on this verifier's allow-list")
        }
        try Self.checkExtensions(jws.header)
        let key: JWK
        switch keys.candidate(keyID: jws.keyID, algorithm: algorithm) {
        case .one(let found):
            key = found
        case .none:
            if let kid = jws.keyID, keys.keys.contains(where: { $0.keyID.isExactly(kid) }) {
                throw JOSEError(.algorithmNotAllowed, "key \"\(kid.prefix(64))\" does not allow alg \(algorithm.rawValue)")
            }
            throw JOSEError(.unknownKey, jws.keyID.map { "no key with kid \"\($0.prefix(64))\" for \(algorithm.rawValue)" }
                ?? "no key for \(algorithm.rawValue)")
        case .several(let count):
            throw JOSEError(.keyIDRequired, "\(count) keys could verify this token and it names none by a unique kid")
        }
        let outcome = jws.withSignature { signature in
            jws.withSigningInput { message in
                Result { () throws(JOSEError) in try key.verifySignature(algorithm, signature: signature, message: message) }
            }
        }
        try outcome.get()
        return VerifiedJWS(header: jws.header, algorithm: algorithm, keyID: key.keyID, jws: jws)
    }

    /// RFC 7515 §4.1.11: `crit` must be a non-empty array of names present in the header, each
    /// understood. We understand none, so any `crit` is refused, and `b64: false` is refused too.
    static func checkExtensions(_ header: JSONObject) throws(JOSEError) {
        if let b64 = header["b64"], b64 != .bool(true) {
            throw JOSEError(.unencodedPayload, "\"b64\": false (unencoded payload, RFC 7797) is not accepted")
        }
        if let crit = header["crit"] {
            let names = crit.arrayValue?.compactMap(\.stringValue) ?? []
            if names.containsExactly("b64") {
                throw JOSEError(.unencodedPayload, "\"crit\" lists b64 (unencoded payload, RFC 7797), which is not accepted")
            }
            throw JOSEError(.unknownCritical, names.isEmpty
                ? "\"crit\" is malformed"
                : "\"crit\" names extensions this verifier does not understand: \(names.prefix(5).map { String($0.prefix(20)) }.joined(separator: ", "))")
        }
        for name in embeddedKeyHeaders where header[name] != nil {
            throw JOSEError(.embeddedKey, "header carries \"\(name)\": keys are never taken from a token")
        }
    }
}

/// A JWS whose signature verified with a configured key. Only `JWSVerifier` makes one.
public struct VerifiedJWS: Sendable {
    public let header: JSONObject
    public let algorithm: JWSAlgorithm
    /// The `kid` of the key that verified it.
    public let keyID: String?
    /// The token it came from (its buffers are shared, not copied).
    let jws: UnverifiedJWS

    /// The verified payload.
    public var payload: [UInt8] { jws.payload }
}
