internal import COpenSSL

/// JWS signature verification and creation over OpenSSL (RFC 7518 §3).
///
/// Callers have already checked that `algorithm` fits the key; these functions check the signature's
/// encoding (exact length, `r||s` for ECDSA) before OpenSSL sees it.
extension EVPKey {
    func verify(_ algorithm: JWSAlgorithm, signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) throws(JOSEError) {
        switch algorithm.family {
        case .eddsa:
            guard signature.count == 64 else {
                throw JOSEError(.badSignatureEncoding, "an Ed25519 signature is 64 bytes, got \(signature.count)")
            }
            try withContext(algorithm, sign: false) { context throws(JOSEError) in
                let result = EVP_DigestVerify(
                    context.mdContext, signature.baseAddress?.assumingMemoryBound(to: UInt8.self), signature.count,
                    message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
                try Self.check(verifyResult: result)
            }
        case .ecdsa(let curve):
            let size = curve.fieldBytes
            guard signature.count == 2 * size else {
                throw JOSEError(.badSignatureEncoding, "\(algorithm.rawValue) needs a \(2 * size)-byte r||s signature, got \(signature.count) bytes")
            }
            let r = UnsafeRawBufferPointer(rebasing: signature[0..<size])
            let s = UnsafeRawBufferPointer(rebasing: signature[size..<(2 * size)])
            guard r.contains(where: { $0 != 0 }), s.contains(where: { $0 != 0 }) else {
                throw JOSEError(.badSignature, "ECDSA signature has r = 0 or s = 0")
            }
            let der = ECDSASignatureDER.encode(r: r, s: s)
            try der.withUnsafeBytes { der in Result { () throws(JOSEError) in try verifyDigest(algorithm, signature: der, message: message) } }.get()
        case .rsaPKCS1, .rsaPSS:
            guard signature.count == maxSignatureSize else {
                throw JOSEError(.badSignatureEncoding, "an RSA signature must be \(maxSignatureSize) bytes (the modulus size), got \(signature.count)")
            }
            try verifyDigest(algorithm, signature: signature, message: message)
        case .hmac:
            throw JOSEError(.symmetricAlgorithm, "\(algorithm.rawValue) cannot be used with an asymmetric key")
        }
    }

    /// Hashes `message` and verifies `signature` (DER for ECDSA, raw for RSA) over the digest with a
    /// pooled RSA or ECDSA context. For RSASSA-PKCS1-v1_5 the context has no digest set: it is
    /// given the whole `DigestInfo` (the algorithm's fixed DER prefix, then the hash), which
    /// OpenSSL compares byte for byte with what follows the signature's type-1 padding.
    private func verifyDigest(_ algorithm: JWSAlgorithm, signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) throws(JOSEError) {
        let digestAlgorithm = algorithm.digest!
        let prefix = algorithm.family == .rsaPKCS1 ? DigestInfoPrefix.der(digestAlgorithm) : []
        try withContext(algorithm, sign: false) { context throws(JOSEError) in
            // Room for the longest DigestInfo: a 19-byte prefix and a SHA-512 hash.
            var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                          UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            try withUnsafeMutableBytes(of: &buffer) { bytes throws(JOSEError) in
                let start = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
                if !prefix.isEmpty { prefix.withUnsafeBufferPointer { start.update(from: $0.baseAddress!, count: $0.count) } }
                let length = try FetchedDigest.digest(digestAlgorithm, context: context.mdContext, message: message, into: start + prefix.count)
                let result = EVP_PKEY_verify(
                    context.pkeyContext, signature.baseAddress?.assumingMemoryBound(to: UInt8.self), signature.count, start, prefix.count + length)
                try Self.check(verifyResult: result)
            }
        }
    }

    /// Hashes `message` and signs the digest with a pooled RSA or ECDSA context; returns what
    /// OpenSSL wrote (DER for ECDSA, the raw signature for RSA).
    private func signDigest(_ algorithm: JWSAlgorithm, message: UnsafeRawBufferPointer) throws(JOSEError) -> [UInt8] {
        try withContext(algorithm, sign: true) { context throws(JOSEError) in
            var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            return try withUnsafeMutableBytes(of: &digest) { digestBuffer throws(JOSEError) -> [UInt8] in
                let digestBytes = digestBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                let digestLength = try FetchedDigest.digest(algorithm.digest!, context: context.mdContext, message: message, into: digestBytes)
                var length = maxSignatureSize
                var ok: Int32 = 0
                let signature = [UInt8](unsafeUninitializedCapacity: length) { out, initialized in
                    ok = EVP_PKEY_sign(context.pkeyContext, out.baseAddress, &length, digestBytes, digestLength)
                    initialized = ok == 1 ? length : 0
                }
                guard ok == 1 else { throw OpenSSLError.take("\(algorithm.rawValue) signing") }
                return signature
            }
        }
    }

    private static func check(verifyResult result: Int32) throws(JOSEError) {
        if result == 1 { return }
        ERR_clear_error()
        throw JOSEError(.badSignature, "signature does not verify")
    }

    func sign(_ algorithm: JWSAlgorithm, message: UnsafeRawBufferPointer) throws(JOSEError) -> [UInt8] {
        switch algorithm.family {
        case .eddsa:
            return try withContext(algorithm, sign: true) { context throws(JOSEError) in
                var signature = [UInt8](repeating: 0, count: 64)
                var length = 64
                let ok = signature.withUnsafeMutableBufferPointer { buffer in
                    EVP_DigestSign(context.mdContext, buffer.baseAddress, &length,
                                   message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count)
                }
                guard ok == 1, length == 64 else { throw OpenSSLError.take("Ed25519 signing") }
                return signature
            }
        case .ecdsa(let curve):
            let der = try signDigest(algorithm, message: message)
            return try ECDSASignatureDER.decode(der[...], fieldBytes: curve.fieldBytes)
        case .rsaPKCS1, .rsaPSS:
            let signature = try signDigest(algorithm, message: message)
            guard signature.count == maxSignatureSize else { throw JOSEError(.cryptoFailure, "RSA signature has the wrong size") }
            return signature
        case .hmac:
            throw JOSEError(.symmetricAlgorithm, "\(algorithm.rawValue) cannot be used with an asymmetric key")
        }
    }
}

/// The DER encoding of `DigestInfo` up to the hash, for each digest (RFC 8017 §9.2, note 1): the
/// SEQUENCE, the AlgorithmIdentifier with its NULL parameters, and the OCTET STRING header.
enum DigestInfoPrefix {
    static let sha256: [UInt8] = [0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20]
    static let sha384: [UInt8] = [0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30]
    static let sha512: [UInt8] = [0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40]

    static func der(_ digest: DigestAlgorithm) -> [UInt8] {
        switch digest {
        case .sha256: return sha256
        case .sha384: return sha384
        case .sha512: return sha512
        }
    }
}

/// HMAC for explicitly configured symmetric keys (RFC 7518 §3.2), compared in constant time.
enum HMACSignature {
    static func compute(_ algorithm: JWSAlgorithm, key: [UInt8], message: UnsafeRawBufferPointer) throws(JOSEError) -> [UInt8] {
        guard algorithm.family == .hmac, let digest = algorithm.digest else {
            throw JOSEError(.algorithmNotAllowed, "\(algorithm.rawValue) is not an HMAC algorithm")
        }
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let md = FetchedDigest.get(digest)
        let result = key.withUnsafeBufferPointer { keyBuffer in
            out.withUnsafeMutableBufferPointer { outBuffer in
                HMAC(md.raw, keyBuffer.baseAddress, Int32(keyBuffer.count),
                     message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count, outBuffer.baseAddress, &length)
            }
        }
        guard result != nil else { throw OpenSSLError.take("HMAC") }
        return Array(out[0..<Int(length)])
    }

    static func verify(_ algorithm: JWSAlgorithm, key: [UInt8], signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) throws(JOSEError) {
        let expected = try compute(algorithm, key: key, message: message)
        guard signature.count == expected.count else {
            throw JOSEError(.badSignatureEncoding, "\(algorithm.rawValue) MAC must be \(expected.count) bytes, got \(signature.count)")
        }
        let equal = expected.withUnsafeBytes { CRYPTO_memcmp($0.baseAddress, signature.baseAddress, expected.count) == 0 }
        guard equal else { throw JOSEError(.badSignature, "MAC does not verify") }
    }
}

/// Conversion between JWS's fixed-size `r||s` and the DER `ECDSA-Sig-Value` OpenSSL uses.
enum ECDSASignatureDER {
    /// DER `SEQUENCE { INTEGER r, INTEGER s }` from big-endian unsigned halves.
    static func encode(r: UnsafeRawBufferPointer, s: UnsafeRawBufferPointer) -> [UInt8] {
        func integer(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
            var start = 0
            while start < bytes.count - 1, bytes[start] == 0 { start += 1 }
            var body = Array(bytes[start...])
            if body[0] & 0x80 != 0 { body.insert(0, at: 0) }
            return [0x02] + length(body.count) + body
        }
        func length(_ count: Int) -> [UInt8] {
            count < 0x80 ? [UInt8(count)] : [0x81, UInt8(count)]
        }
        let content = integer(r) + integer(s)
        return [0x30] + length(content.count) + content
    }

    /// `r||s`, each left-padded to `fieldBytes`, from OpenSSL's DER output. Strict: one SEQUENCE of
    /// two positive INTEGERs that fit the field, and nothing after it.
    static func decode(_ der: ArraySlice<UInt8>, fieldBytes: Int) throws(JOSEError) -> [UInt8] {
        let failure = JOSEError(.cryptoFailure, "OpenSSL returned a malformed ECDSA signature")
        var index = der.startIndex
        let end = der.endIndex
        func length() -> Int? {
            guard index < end else { return nil }
            let first = der[index]
            index += 1
            if first < 0x80 { return Int(first) }
            guard first == 0x81, index < end, der[index] >= 0x80 else { return nil }
            index += 1
            return Int(der[index - 1])
        }
        guard index < end, der[index] == 0x30 else { throw failure }
        index += 1
        guard let sequenceLength = length(), sequenceLength == end - index else { throw failure }
        var out = [UInt8](repeating: 0, count: 2 * fieldBytes)
        for half in 0..<2 {
            guard index < end, der[index] == 0x02 else { throw failure }
            index += 1
            guard let count = length(), count > 0, count <= end - index else { throw failure }
            var start = index
            index += count
            while start < index - 1, der[start] == 0 { start += 1 }
            let significant = index - start
            guard significant <= fieldBytes else { throw failure }
            let offset = half * fieldBytes + fieldBytes - significant
            for position in 0..<significant { out[offset + position] = der[start + position] }
        }
        guard index == end else { throw failure }
        return out
    }
}
