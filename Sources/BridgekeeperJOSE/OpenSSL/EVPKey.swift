internal import COpenSSL
internal import Synchronization

/// An OpenSSL `EVP_PKEY`, immutable after init and shared across threads (NOTES-native: safe when
/// each operation has its own context). It also keeps pools of ready-made signature contexts, so a
/// verification does not pay OpenSSL 3's per-call context set-up.
final class EVPKey: @unchecked Sendable {
    let raw: OpaquePointer
    /// Ready contexts, indexed by `poolIndex(algorithm, sign)`.
    private let pools = Mutex<[[PooledContext]]>(Array(repeating: [], count: JWSAlgorithm.allCases.count * 2))

    init(owning raw: OpaquePointer) { self.raw = raw }

    deinit {
        pools.withLock { pools in
            for contexts in pools { for context in contexts { context.free() } }
        }
        EVP_PKEY_free(raw)
    }

    enum Kind: Equatable {
        case rsa(bits: Int), ec(ECCurve), ed25519
    }

    /// What this key is, or nil for a type JOSE does not use.
    var kind: Kind? {
        switch EVP_PKEY_get_base_id(raw) {
        case EVP_PKEY_RSA: return .rsa(bits: Int(EVP_PKEY_get_bits(raw)))
        case EVP_PKEY_EC:
            var buffer = [CChar](repeating: 0, count: 64)
            guard bk_pkey_group_name(raw, &buffer, buffer.count) > 0 else { return nil }
            let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return ECCurve(openSSLName: name).map(Kind.ec)
        case EVP_PKEY_ED25519: return .ed25519
        default: return nil
        }
    }

    /// Size of a signature in bytes (the modulus for RSA).
    var maxSignatureSize: Int { Int(EVP_PKEY_get_size(raw)) }

    // MARK: Context pools

    private static func poolIndex(_ algorithm: JWSAlgorithm, sign: Bool) -> Int {
        algorithm.ordinal * 2 + (sign ? 1 : 0)
    }

    final class PooledContext: @unchecked Sendable {
        /// For RSA and ECDSA: an EVP_PKEY_CTX initialised for sign or verify with padding and digest set.
        let pkeyContext: OpaquePointer?
        /// For RSA and ECDSA: a digest context; for EdDSA: the DigestSign/DigestVerify context.
        let mdContext: OpaquePointer

        init(pkeyContext: OpaquePointer?, mdContext: OpaquePointer) {
            self.pkeyContext = pkeyContext
            self.mdContext = mdContext
        }

        func free() {
            if let pkeyContext { EVP_PKEY_CTX_free(pkeyContext) }
            EVP_MD_CTX_free(mdContext)
        }
    }

    private static let poolLimit = 16

    /// Runs `body` with a context for (algorithm, sign). A context is returned to the pool only when
    /// the operation succeeded; after any failure it is freed, so no error state carries over.
    func withContext<T>(
        _ algorithm: JWSAlgorithm, sign: Bool,
        _ body: (PooledContext) throws(JOSEError) -> T
    ) throws(JOSEError) -> T {
        let slot = Self.poolIndex(algorithm, sign: sign)
        let pooled = pools.withLock { $0[slot].popLast() }
        let context: PooledContext
        if let pooled { context = pooled } else { context = try makeContext(algorithm, sign: sign) }
        let result: T
        do {
            result = try body(context)
        } catch {
            context.free()
            ERR_clear_error()
            throw error
        }
        let kept = pools.withLock { pools -> Bool in
            guard pools[slot].count < Self.poolLimit else { return false }
            pools[slot].append(context)
            return true
        }
        if !kept { context.free() }
        return result
    }

    private func makeContext(_ algorithm: JWSAlgorithm, sign: Bool) throws(JOSEError) -> PooledContext {
        if algorithm.family == .eddsa {
            guard let md = bk_eddsa_ctx(raw, sign ? 1 : 0) else { throw OpenSSLError.take("EdDSA context") }
            return PooledContext(pkeyContext: nil, mdContext: md)
        }
        guard let digest = algorithm.digest else { throw JOSEError(.unsupported, "no digest for \(algorithm.rawValue)") }
        let kind: Int32
        switch algorithm.family {
        case .ecdsa: kind = 0
        case .rsaPKCS1: kind = sign ? 1 : 3  // verification compares our DigestInfo (DigestInfoPrefix)
        case .rsaPSS: kind = 2
        case .eddsa, .hmac: throw JOSEError(.unsupported, "\(algorithm.rawValue) has no public-key context")
        }
        let md = FetchedDigest.get(digest)
        guard let pkeyContext = bk_digest_pkey_ctx(raw, sign ? 1 : 0, kind, md.raw) else {
            throw OpenSSLError.take("signature context for \(algorithm.rawValue)")
        }
        guard let mdContext = EVP_MD_CTX_new() else {
            EVP_PKEY_CTX_free(pkeyContext)
            throw OpenSSLError.take("digest context")
        }
        return PooledContext(pkeyContext: pkeyContext, mdContext: mdContext)
    }
}

/// Digests fetched once from the default provider and kept for the life of the process.
final class FetchedDigest: @unchecked Sendable {
    let raw: OpaquePointer

    private init(_ name: String) {
        guard let md = EVP_MD_fetch(nil, name, nil) else { fatalError("OpenSSL has no \(name) digest") }
        raw = md
    }

    private static let sha256 = FetchedDigest("SHA256")
    private static let sha384 = FetchedDigest("SHA384")
    private static let sha512 = FetchedDigest("SHA512")

    static func get(_ algorithm: DigestAlgorithm) -> FetchedDigest {
        switch algorithm {
        case .sha256: return sha256
        case .sha384: return sha384
        case .sha512: return sha512
        }
    }

    /// Hashes `message` with a reusable digest context into `out` (at least 64 bytes).
    static func digest(
        _ algorithm: DigestAlgorithm, context: OpaquePointer, message: UnsafeRawBufferPointer,
        into out: UnsafeMutablePointer<UInt8>
    ) throws(JOSEError) -> Int {
        var length: UInt32 = 0
        guard EVP_DigestInit_ex2(context, get(algorithm).raw, nil) == 1,
              EVP_DigestUpdate(context, message.baseAddress, message.count) == 1,
              EVP_DigestFinal_ex(context, out, &length) == 1
        else { throw OpenSSLError.take("digest") }
        return Int(length)
    }

    /// One-shot SHA-256 (thumbprints, fingerprints; not on the hot path).
    static func sha256<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var out = [UInt8](repeating: 0, count: 32)
        let context = EVP_MD_CTX_new()!
        defer { EVP_MD_CTX_free(context) }
        let length = input.withUnsafeBytes { message in
            out.withUnsafeMutableBufferPointer { buffer in
                (try? digest(.sha256, context: context, message: message, into: buffer.baseAddress!)) ?? 0
            }
        }
        precondition(length == 32, "SHA-256 failed")
        return out
    }
}

/// Reads OpenSSL's per-thread error queue in the same synchronous stretch as the failing call.
enum OpenSSLError {
    static func take(_ what: String) -> JOSEError {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return JOSEError(.cryptoFailure, "\(what) failed") }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return JOSEError(.cryptoFailure, "\(what) failed (\(text))")
    }
}
