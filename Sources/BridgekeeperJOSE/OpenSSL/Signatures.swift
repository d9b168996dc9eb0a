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
            try withContext(algorithm, sign: false) { context throws(JOSEError) in
                var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
                try withUnsafeMutableBytes(of: &digest) { digestBuffer throws(JOSEError) in
                    let out = digestBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    let length = try FetchedDigest.digest(algorithm.digest!, context: context.mdContext, message: message, into: out)
                    let result = der.withUnsafeBufferPointer { derBuffer in
                        EVP_PKEY_verify(context.pkeyContext, derBuffer.baseAddress, derBuffer.count, out, length)
                    }
                    try Self.check(verifyResult: result)
                }
            }
        case .rsaPKCS1, .rsaPSS:
            guard signature.count == maxSignatureSize else {
                throw JOSEError(.badSignatureEncoding, "an RSA signature must be \(maxSignatureSize) bytes (the modulus size), got \(signature.count)")
            }
            try withContext(algorithm, sign: false) { context throws(JOSEError) in
                var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
                try withUnsafeMutableBytes(of: &digest) { digestBuffer throws(JOSEError) in
                    let out = digestBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    let length = try FetchedDigest.digest(algorithm.digest!, context: context.mdContext, message: message, into: out)
                    let result = EVP_PKEY_verify(
                        context.pkeyContext, signature.baseAddress?.assumingMemoryBound(to: UInt8.self), signature.count, out, length)
                    try Self.check(verifyResult: result)
                }
            }
        case .hmac:
            throw JOSEError(.symmetricAlgorithm, "\(algorithm.rawValue) cannot be used with an asymmetric key")
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
            return try withContext(algorithm, sign: true) { context throws(JOSEError) in
                var digest = [UInt8](repeating: 0, count: 64)
                var der = [UInt8](repeating: 0, count: maxSignatureSize)
                var derLength = der.count
                let ok = try digest.withUnsafeMutableBufferPointer { digestBuffer throws(JOSEError) -> Int32 in
                    let length = try FetchedDigest.digest(algorithm.digest!, context: context.mdContext, message: message, into: digestBuffer.baseAddress!)
                    return der.withUnsafeMutableBufferPointer { derBuffer in
                        EVP_PKEY_sign(context.pkeyContext, derBuffer.baseAddress, &derLength, digestBuffer.baseAddress, length)
                    }
                }
                guard ok == 1 else { throw OpenSSLError.take("ECDSA signing") }
                return try ECDSASignatureDER.decode(der[0..<derLength], fieldBytes: curve.fieldBytes)
            }
        case .rsaPKCS1, .rsaPSS:
            return try withContext(algorithm, sign: true) { context throws(JOSEError) in
                var digest = [UInt8](repeating: 0, count: 64)
                var signature = [UInt8](repeating: 0, count: maxSignatureSize)
                var length = signature.count
                let ok = try digest.withUnsafeMutableBufferPointer { digestBuffer throws(JOSEError) -> Int32 in
                    let digestLength = try FetchedDigest.digest(algorithm.digest!, context: context.mdContext, message: message, into: digestBuffer.baseAddress!)
                    return signature.withUnsafeMutableBufferPointer { out in
                        EVP_PKEY_sign(context.pkeyContext, out.baseAddress, &length, digestBuffer.baseAddress, digestLength)
                    }
                }
                guard ok == 1, length == signature.count else { throw OpenSSLError.take("RSA signing") }
                return signature
            }
        case .hmac:
            throw JOSEError(.symmetricAlgorithm, "\(algorithm.rawValue) cannot be used with an asymmetric key")
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
    /// two positive minimal INTEGERs and nothing after it.
    static func decode(_ der: ArraySlice<UInt8>, fieldBytes: Int) throws(JOSEError) -> [UInt8] {
        var bytes = Array(der)[...]
        func fail() -> JOSEError { JOSEError(.cryptoFailure, "OpenSSL returned a malformed ECDSA signature") }
        func readLength() throws(JOSEError) -> Int {
            guard let first = bytes.popFirst() else { throw fail() }
            if first < 0x80 { return Int(first) }
            guard first == 0x81, let next = bytes.popFirst(), next >= 0x80 else { throw fail() }
            return Int(next)
        }
        guard bytes.popFirst() == 0x30 else { throw fail() }
        guard try readLength() == bytes.count else { throw fail() }
        var out = [UInt8]()
        for _ in 0..<2 {
            guard bytes.popFirst() == 0x02 else { throw fail() }
            let count = try readLength()
            guard count > 0, count <= bytes.count else { throw fail() }
            var value = Array(bytes.prefix(count))
            bytes = bytes.dropFirst(count)
            while value.count > 1, value[0] == 0 { value.removeFirst() }
            guard value.count <= fieldBytes else { throw fail() }
            out.append(contentsOf: [UInt8](repeating: 0, count: fieldBytes - value.count))
            out.append(contentsOf: value)
        }
        guard bytes.isEmpty else { throw fail() }
        return out
    }
}
