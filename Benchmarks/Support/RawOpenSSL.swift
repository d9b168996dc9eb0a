// Bare OpenSSL baselines shared by the benchmarks (JOSEBenchmark, VerifierBenchmark).

public import BridgekeeperJOSE
import COpenSSL
import Foundation

#if canImport(Glibc)
import Glibc
#endif

func baselineFailure(_ message: String) -> Never {
    FileHandle.standardError.write(Data("sanity check failed: \(message)\n".utf8))
    exit(1)
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
public final class RawOpenSSL {
    public let algorithm: JWSAlgorithm
    let key: OpaquePointer
    /// RSA/ECDSA: EVP_PKEY_CTX for sign and verify over a digest. EdDSA: nil.
    let signContext, verifyContext: OpaquePointer?
    /// The contexts for the short input: for RSA PKCS#1 v1.5 without a digest, over 36 bytes, as
    /// `openssl speed rsa2048` sets them up; otherwise the ones above.
    let speedSignContext, speedVerifyContext: OpaquePointer?
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

    public init(algorithm: JWSAlgorithm, privateKeyPEM: String, token: String) {
        self.algorithm = algorithm
        // A memory BIO borrows its buffer: read the key while the bytes are certainly alive.
        let pem = Array(privateKeyPEM.utf8)
        let parsed: OpaquePointer? = pem.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return bk_read_private_key_pem(bio)
        }
        guard let key = parsed else { baselineFailure("baseline: cannot read the private key") }
        self.key = key
        let dot = token.utf8.lastIndex(of: UInt8(ascii: "."))!
        message = Array(token.utf8[..<dot])
        let jwsSignature = (try? Base64URL.decode(String(token[token.utf8.index(after: dot)...]))) ?? []
        switch algorithm {
        case .eddsa, .ed25519:
            md = nil; signContext = nil; verifyContext = nil; digestContext = nil; digestSize = 0
            speedSignContext = nil; speedVerifyContext = nil
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
            if kind == 1 {
                speedSignContext = bk_digest_pkey_ctx(key, 1, 3, nil)
                speedVerifyContext = bk_digest_pkey_ctx(key, 0, 3, nil)
                shortMessage = Array(repeating: 0x5A, count: 36)
            } else {
                speedSignContext = signContext
                speedVerifyContext = verifyContext
                // The contexts carry the digest type, so OpenSSL wants a digest-sized input.
                shortMessage = Array(repeating: 0x5A, count: digestSize)
            }
        }
        guard signContext != nil || edSignContext != nil else { baselineFailure("baseline: no OpenSSL context for \(algorithm.rawValue)") }
        let length = sign(short: true)
        guard length > 0 else { baselineFailure("baseline: OpenSSL cannot sign with \(algorithm.rawValue)") }
        shortSignature = Array(scratch[0..<length])
        if case .ecdsa = algorithmFamily {
            // OpenSSL verifies DER: take a DER signature of our own over the same digest.
            let length = sign(short: false)
            guard length > 0 else { baselineFailure("baseline: OpenSSL cannot sign with \(algorithm.rawValue)") }
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
        if let speedSignContext, speedSignContext != signContext { EVP_PKEY_CTX_free(speedSignContext) }
        if let speedVerifyContext, speedVerifyContext != verifyContext { EVP_PKEY_CTX_free(speedVerifyContext) }
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
    public func verify(short: Bool) -> Int {
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
            Int(sig.withUnsafeBufferPointer { sig in EVP_PKEY_verify(short ? speedVerifyContext : verifyContext, sig.baseAddress, sig.count, tbs, length) })
        }
    }

    /// The signature's length (written to `scratch`), or -1.
    @inline(never)
    public func sign(short: Bool) -> Int {
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
            scratch.withUnsafeMutableBufferPointer { out in EVP_PKEY_sign(short ? speedSignContext : signContext, out.baseAddress, &length, tbs, tbsLength) }
        }
        return ok == 1 ? length : -1
    }
}

