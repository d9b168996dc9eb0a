internal import COpenSSL

/// Random bytes from OpenSSL's CSPRNG.
public enum SecureRandom {
    /// `count` random bytes. Traps if the CSPRNG fails: nothing secure can go on without it.
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBytes { RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed")
        return out
    }

    /// A base64url identifier with `bytes` bytes of entropy (a `jti`, a client secret).
    public static func identifier(bytes: Int = 16) -> String {
        Base64URL.encode(self.bytes(bytes))
    }
}

extension Digest {
    /// Compares in time independent of where the inputs differ (`CRYPTO_memcmp`); false when the
    /// lengths differ.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress!, y.baseAddress!, a.count) == 0 } }
    }

    /// PBKDF2-HMAC-SHA-256 (RFC 8018 §5.2).
    public static func pbkdf2SHA256(password: [UInt8], salt: [UInt8], iterations: Int, length: Int = 32) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        let ok = password.withUnsafeBufferPointer { p in
            salt.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { o in
                    p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(p.count, 1)) { pc in
                        PKCS5_PBKDF2_HMAC(pc, Int32(p.count), s.baseAddress, Int32(s.count), Int32(iterations),
                                          EVP_sha256(), Int32(length), o.baseAddress)
                    }
                }
            }
        }
        precondition(ok == 1, "PKCS5_PBKDF2_HMAC failed")
        return out
    }
}

/// AES-256-GCM (NIST SP 800-38D) for data at rest: `seal` returns nonce ‖ ciphertext ‖ tag, with a
/// fresh 96-bit random nonce each time and `context` authenticated as associated data.
public struct SecretBox: Sendable {
    public static let keyLength = 32
    static let nonceLength = 12
    static let tagLength = 16
    private let key: [UInt8]

    public init(key: [UInt8]) throws(JOSEError) {
        guard key.count == Self.keyLength else { throw JOSEError(.invalidKey, "an AES-256-GCM key has 32 bytes") }
        self.key = key
    }

    public func seal(_ plaintext: [UInt8], context: [UInt8]) throws(JOSEError) -> [UInt8] {
        let nonce = SecureRandom.bytes(Self.nonceLength)
        guard let ctx = EVP_CIPHER_CTX_new() else { throw JOSEError(.cryptoFailure, "EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var tag = [UInt8](repeating: 0, count: Self.tagLength)
        var length: Int32 = 0
        var total = 0
        guard EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, nonce) == 1 else { throw JOSEError(.cryptoFailure, "AES-GCM init failed") }
        if !context.isEmpty {
            guard EVP_EncryptUpdate(ctx, nil, &length, context, Int32(context.count)) == 1 else { throw JOSEError(.cryptoFailure, "AES-GCM AAD failed") }
        }
        let updated = ciphertext.withUnsafeMutableBufferPointer { out in
            plaintext.isEmpty ? 1 : EVP_EncryptUpdate(ctx, out.baseAddress, &length, plaintext, Int32(plaintext.count))
        }
        guard updated == 1 else { throw JOSEError(.cryptoFailure, "AES-GCM encrypt failed") }
        total = plaintext.isEmpty ? 0 : Int(length)
        let finished = ciphertext.withUnsafeMutableBufferPointer { out in EVP_EncryptFinal_ex(ctx, out.baseAddress! + total, &length) }
        guard finished == 1 else { throw JOSEError(.cryptoFailure, "AES-GCM final failed") }
        total += Int(length)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(Self.tagLength), &tag) == 1 else {
            throw JOSEError(.cryptoFailure, "AES-GCM tag failed")
        }
        return nonce + ciphertext.prefix(total) + tag
    }

    /// - Throws: `bad_signature` when the box was altered, sealed under another key or context.
    public func open(_ sealed: [UInt8], context: [UInt8]) throws(JOSEError) -> [UInt8] {
        guard sealed.count >= Self.nonceLength + Self.tagLength else { throw JOSEError(.malformed, "sealed data is too short") }
        let nonce = Array(sealed.prefix(Self.nonceLength))
        var tag = Array(sealed.suffix(Self.tagLength))
        let ciphertext = Array(sealed.dropFirst(Self.nonceLength).dropLast(Self.tagLength))
        guard let ctx = EVP_CIPHER_CTX_new() else { throw JOSEError(.cryptoFailure, "EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var length: Int32 = 0
        var total = 0
        guard EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nil, key, nonce) == 1 else { throw JOSEError(.cryptoFailure, "AES-GCM init failed") }
        if !context.isEmpty {
            guard EVP_DecryptUpdate(ctx, nil, &length, context, Int32(context.count)) == 1 else { throw JOSEError(.cryptoFailure, "AES-GCM AAD failed") }
        }
        if !ciphertext.isEmpty {
            let updated = plaintext.withUnsafeMutableBufferPointer { out in
                EVP_DecryptUpdate(ctx, out.baseAddress, &length, ciphertext, Int32(ciphertext.count))
            }
            guard updated == 1 else { throw JOSEError(.cryptoFailure, "AES-GCM decrypt failed") }
            total = Int(length)
        }
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(Self.tagLength), &tag) == 1 else {
            throw JOSEError(.cryptoFailure, "AES-GCM tag failed")
        }
        let finished = plaintext.withUnsafeMutableBufferPointer { out in EVP_DecryptFinal_ex(ctx, out.baseAddress! + total, &length) }
        guard finished == 1 else { throw JOSEError(.badSignature, "sealed data does not authenticate: altered, or another key") }
        total += Int(length)
        return Array(plaintext.prefix(total))
    }
}
