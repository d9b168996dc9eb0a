internal import COpenSSL

/// Building, generating, reading and exporting `EVP_PKEY`s. Every result is checked: EC points are
/// on their curve, key pairs are consistent, RSA moduli have at least 2048 bits.
extension EVPKey {
    static let minimumRSABits = 2048
    /// Larger moduli are refused everywhere (import, generation, PEM): an 8192-bit verification
    /// already costs about 16 times a 2048-bit one, and no IdP publishes larger keys.
    static let maximumRSABits = 8192

    // MARK: Import from JWK members

    struct RSAPrivateParts {
        var d, p, q, dp, dq, qi: [UInt8]
    }

    static func rsa(n: [UInt8], e: [UInt8], privateParts: RSAPrivateParts? = nil) throws(JOSEError) -> EVPKey {
        let modulus = Array(n.drop { $0 == 0 })
        let exponent = Array(e.drop { $0 == 0 })
        guard modulus.count * 8 >= minimumRSABits, modulus.count * 8 <= maximumRSABits else {
            throw JOSEError(.invalidKey, "RSA modulus must have \(minimumRSABits) to \(maximumRSABits) bits")
        }
        guard modulus.last! & 1 == 1 else { throw JOSEError(.invalidKey, "RSA modulus is even") }
        guard !exponent.isEmpty, exponent.count <= 8, exponent.last! & 1 == 1, exponent != [1] else {
            throw JOSEError(.invalidKey, "RSA public exponent must be odd, greater than 1, and at most 64 bits")
        }
        let raw: OpaquePointer?
        if let parts = privateParts {
            raw = bk_pkey_rsa(
                modulus, modulus.count, exponent, exponent.count, parts.d, parts.d.count, parts.p, parts.p.count,
                parts.q, parts.q.count, parts.dp, parts.dp.count, parts.dq, parts.dq.count, parts.qi, parts.qi.count)
        } else {
            raw = bk_pkey_rsa(modulus, modulus.count, exponent, exponent.count, nil, 0, nil, 0, nil, 0, nil, 0, nil, 0, nil, 0)
        }
        guard let raw else { throw invalid("RSA key") }
        let key = EVPKey(owning: raw)
        if privateParts != nil, bk_pkey_pair_check(raw) != 1 {
            throw invalid("RSA private key is inconsistent with its public key;")
        }
        return key
    }

    static func ec(curve: ECCurve, x: [UInt8], y: [UInt8], d: [UInt8]? = nil) throws(JOSEError) -> EVPKey {
        let size = curve.fieldBytes
        guard x.count == size, y.count == size else {
            throw JOSEError(.invalidKey, "\(curve.rawValue) coordinates must be \(size) bytes each")
        }
        if let d, d.count != size {
            throw JOSEError(.invalidKey, "\(curve.rawValue) private scalar must be \(size) bytes")
        }
        let point = [0x04] + x + y
        let raw: OpaquePointer? = d == nil
            ? bk_pkey_ec(curve.openSSLName, point, point.count, nil, 0)
            : bk_pkey_ec(curve.openSSLName, point, point.count, d!, d!.count)
        guard let raw else { throw invalid("\(curve.rawValue) point is not on the curve or the key is malformed;") }
        let key = EVPKey(owning: raw)
        guard bk_pkey_public_check(raw) == 1 else { throw invalid("\(curve.rawValue) public point fails validation;") }
        if d != nil, bk_pkey_pair_check(raw) != 1 { throw invalid("EC private scalar does not match the public point;") }
        return key
    }

    static func ed25519(x: [UInt8], d: [UInt8]? = nil) throws(JOSEError) -> EVPKey {
        guard x.count == 32 else { throw JOSEError(.invalidKey, "an Ed25519 public key is 32 bytes") }
        if let d {
            guard d.count == 32 else { throw JOSEError(.invalidKey, "an Ed25519 private key is 32 bytes") }
            guard let raw = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, d, d.count) else { throw invalid("Ed25519 private key") }
            let key = EVPKey(owning: raw)
            guard try key.ed25519PublicBytes() == x else {
                throw JOSEError(.invalidKey, "Ed25519 private key does not match its public key")
            }
            return key
        }
        guard let raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, x, x.count) else { throw invalid("Ed25519 public key") }
        return EVPKey(owning: raw)
    }

    private static func invalid(_ what: String) -> JOSEError {
        let detail = OpenSSLError.take(what)
        return JOSEError(.invalidKey, "\(what) rejected: \(detail.reason)")
    }

    // MARK: PEM and DER

    /// A PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`); encrypted PEM is refused without prompting.
    static func privateKey(pem: String) throws(JOSEError) -> EVPKey {
        guard pem.contains("-----BEGIN PRIVATE KEY-----") else {
            throw JOSEError(.invalidKey, "expected an unencrypted PKCS#8 PEM (-----BEGIN PRIVATE KEY-----); convert with `openssl pkcs8 -topk8 -nocrypt`")
        }
        return try withMemoryBIO(pem) { bio throws(JOSEError) in
            guard let raw = bk_read_private_key_pem(bio) else { throw invalid("PKCS#8 private key") }
            let key = EVPKey(owning: raw)
            guard key.kind != nil else { throw JOSEError(.invalidKey, "private key type is not RSA, EC P-256/384/521 or Ed25519") }
            return key
        }
    }

    /// A SubjectPublicKeyInfo in PEM (`-----BEGIN PUBLIC KEY-----`).
    static func publicKey(pem: String) throws(JOSEError) -> EVPKey {
        try withMemoryBIO(pem) { bio throws(JOSEError) in
            guard let raw = bk_read_public_key_pem(bio) else { throw invalid("public key PEM") }
            return EVPKey(owning: raw)
        }
    }

    /// A DER SubjectPublicKeyInfo.
    static func publicKey(der: [UInt8]) throws(JOSEError) -> EVPKey {
        try der.withUnsafeBufferPointer { buffer throws(JOSEError) in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard let raw = d2i_PUBKEY(nil, &cursor, buffer.count) else { throw invalid("DER public key") }
            let key = EVPKey(owning: raw)
            guard cursor == buffer.baseAddress! + buffer.count else { throw JOSEError(.invalidKey, "trailing bytes after the DER public key") }
            return key
        }
    }

    /// Runs `body` with a read-only memory BIO over `text`. `BIO_new_mem_buf` does not copy, so the
    /// bytes must stay alive, and in place, until the BIO is freed: all of it happens inside one
    /// `withUnsafeBytes`.
    private static func withMemoryBIO<T>(_ text: String, _ body: (OpaquePointer) throws(JOSEError) -> T) throws(JOSEError) -> T {
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBytes { buffer -> Result<T, JOSEError> in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else {
                return .failure(OpenSSLError.take("memory BIO"))
            }
            defer { BIO_free(bio) }
            return Result { () throws(JOSEError) in try body(bio) }
        }
        return try result.get()
    }

    func privateKeyPEM() throws(JOSEError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLError.take("memory BIO") }
        defer { BIO_free(bio) }
        guard bk_write_private_key_pem(bio, raw) == 1 else { throw OpenSSLError.take("PEM export") }
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = bk_bio_mem_data(bio, &data)
        guard length > 0, let data else { throw OpenSSLError.take("PEM export") }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    // MARK: Generation (RSA generation is slow; callers keep it off the cooperative pool)

    static func generate(for algorithm: JWSAlgorithm, rsaBits: Int = 2048) throws(JOSEError) -> EVPKey {
        let raw: OpaquePointer?
        switch algorithm.family {
        case .rsaPKCS1, .rsaPSS:
            guard rsaBits >= minimumRSABits, rsaBits <= maximumRSABits else {
                throw JOSEError(.invalidKey, "RSA keys are \(minimumRSABits) to \(maximumRSABits) bits")
            }
            raw = bk_generate_rsa(rsaBits)
        case .ecdsa(let curve): raw = bk_generate_ec(curve.rawValue)
        case .eddsa: raw = bk_generate_ed25519()
        case .hmac: throw JOSEError(.symmetricAlgorithm, "symmetric keys are not generated here")
        }
        guard let raw else { throw OpenSSLError.take("key generation") }
        return EVPKey(owning: raw)
    }

    // MARK: Export of public members

    func rsaPublicBytes() throws(JOSEError) -> (n: [UInt8], e: [UInt8]) {
        (try bignum(OSSL_PKEY_PARAM_RSA_N), try bignum(OSSL_PKEY_PARAM_RSA_E))
    }

    func ecPublicBytes(_ curve: ECCurve) throws(JOSEError) -> (x: [UInt8], y: [UInt8]) {
        (try bignum(OSSL_PKEY_PARAM_EC_PUB_X, padded: curve.fieldBytes), try bignum(OSSL_PKEY_PARAM_EC_PUB_Y, padded: curve.fieldBytes))
    }

    func ed25519PublicBytes() throws(JOSEError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(raw, &out, &length) == 1, length == 32 else { throw OpenSSLError.take("Ed25519 export") }
        return out
    }

    var hasPrivateKey: Bool {
        switch kind {
        case .rsa: return hasBignum(OSSL_PKEY_PARAM_RSA_D)
        case .ec: return hasBignum(OSSL_PKEY_PARAM_PRIV_KEY)
        case .ed25519:
            var length = 0
            return EVP_PKEY_get_raw_private_key(raw, nil, &length) == 1
        case nil: return false
        }
    }

    /// Room for any parameter of this key: its components are never larger than its size in bytes
    /// (the modulus for RSA, the signature for ECDSA, which exceeds the field size).
    private var parameterCapacity: Int { max(maxSignatureSize, 132) + 8 }

    private func hasBignum(_ name: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: parameterCapacity)
        return bk_pkey_get_bn(raw, name, &buffer, buffer.count, 0) >= 0
    }

    private func bignum(_ name: String, padded: Int = 0) throws(JOSEError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: parameterCapacity)
        let length = bk_pkey_get_bn(raw, name, &buffer, buffer.count, padded)
        guard length >= 0 else { throw OpenSSLError.take("export of \(name)") }
        return Array(buffer[0..<Int(length)])
    }
}
