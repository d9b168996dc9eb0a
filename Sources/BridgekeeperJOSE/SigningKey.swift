/// A private key that signs JWS with one algorithm (RFC 7515 §5.1).
///
/// Supported: ES256, ES384, ES512, EdDSA/Ed25519, RS256/384/512 and PS256/384/512. The `kid` defaults
/// to the key's RFC 7638 thumbprint, so a published key and its tokens always agree.
public struct SigningKey: Sendable {
    public let algorithm: JWSAlgorithm
    public let keyID: String
    let key: EVPKey
    let keyType: JWK.KeyType
    /// `BASE64URL(header)` for the plain `{"alg","kid"}` header, kept so signing does not re-encode it.
    private let plainHeaderPrefix: [UInt8]
    /// `BASE64URL({"alg","typ","kid"})` for the token types Bridgekeeper mints, made once.
    private let typedHeaders: [(type: String, encoded: [UInt8])]

    static let mintedTypes = ["at+jwt", "oauth-id-jag+jwt", "secevent+jwt", "JWT"]

    private init(key: EVPKey, algorithm: JWSAlgorithm, keyID: String?) throws(JOSEError) {
        guard !algorithm.isSymmetric else {
            throw JOSEError(.symmetricAlgorithm, "\(algorithm.rawValue) is symmetric; signing keys are asymmetric")
        }
        let keyType: JWK.KeyType
        switch key.kind {
        case .rsa(let bits): keyType = .rsa(bits: bits)
        case .ec(let curve): keyType = .ec(curve)
        case .ed25519: keyType = .ed25519
        case nil: throw JOSEError(.invalidKey, "unsupported private key type")
        }
        if case .rsa(let bits) = keyType, bits < EVPKey.minimumRSABits || bits > EVPKey.maximumRSABits {
            throw JOSEError(.invalidKey, "RSA signing keys have \(EVPKey.minimumRSABits) to \(EVPKey.maximumRSABits) bits")
        }
        guard JWK.compatibleAlgorithms(keyType).contains(algorithm) else {
            throw JOSEError(.algorithmNotAllowed, "\(algorithm.rawValue) does not fit a \(keyType) key")
        }
        guard key.hasPrivateKey else { throw JOSEError(.invalidKey, "not a private key") }
        self.key = key
        self.algorithm = algorithm
        self.keyType = keyType
        let publicKey = JWK(material: .asymmetric(key), keyType: keyType, keyID: nil, isPrivate: false)
        let kid: String
        if let keyID { kid = keyID } else { kid = try publicKey.thumbprint() }
        self.keyID = kid
        let header = JSONObject(["alg": .string(algorithm.rawValue), "kid": .string(kid)])
        plainHeaderPrefix = Base64URL.encodeBytes(Array(header.serialized().utf8))
        typedHeaders = Self.mintedTypes.map { ($0, Self.encodedHeader(algorithm: algorithm, type: $0, keyID: kid)) }
    }

    /// A key from an unencrypted PKCS#8 PEM.
    public init(pem: String, algorithm: JWSAlgorithm, keyID: String? = nil) throws(JOSEError) {
        try self.init(key: try EVPKey.privateKey(pem: pem), algorithm: algorithm, keyID: keyID)
    }

    /// A key from a private JWK. Its `kid` and `alg` are used unless given here.
    public init(jwk: String, algorithm: JWSAlgorithm? = nil, keyID: String? = nil) throws(JOSEError) {
        let parsed = try JWK(json: jwk, options: JWK.ParseOptions(allowPrivate: true))
        guard parsed.isPrivate, case .asymmetric(let key) = parsed.material else {
            throw JOSEError(.invalidKey, "a signing key JWK needs its private members")
        }
        guard parsed.permits(.sign) else { throw JOSEError(.invalidKey, "the JWK's use/key_ops do not allow signing") }
        guard let chosen = algorithm ?? parsed.algorithm ?? Self.defaultAlgorithm(parsed.keyType) else {
            throw JOSEError(.invalidKey, "cannot choose an algorithm for this key")
        }
        guard parsed.allowedAlgorithms.contains(chosen) else {
            throw JOSEError(.algorithmNotAllowed, "the key allows \(parsed.allowedAlgorithms.map(\.rawValue).sorted()), not \(chosen.rawValue)")
        }
        try self.init(key: key, algorithm: chosen, keyID: keyID ?? parsed.keyID)
    }

    /// A fresh key for `algorithm`. RSA generation takes up to a second: keep it off the
    /// cooperative thread pool.
    public static func generate(_ algorithm: JWSAlgorithm, rsaBits: Int = 2048, keyID: String? = nil) throws(JOSEError) -> SigningKey {
        try SigningKey(key: try EVPKey.generate(for: algorithm, rsaBits: rsaBits), algorithm: algorithm, keyID: keyID)
    }

    static func defaultAlgorithm(_ type: JWK.KeyType) -> JWSAlgorithm? {
        switch type {
        case .rsa: return .rs256
        case .ec(let curve): return curve.algorithm
        case .ed25519: return .eddsa
        case .symmetric: return nil
        }
    }

    /// The private key as unencrypted PKCS#8 PEM.
    public func privateKeyPEM() throws(JOSEError) -> String { try key.privateKeyPEM() }

    /// The public key as a JWK with `kid`, `use: sig` and `alg`, ready for a JWKS.
    public func publicJWK() throws(JOSEError) -> JSONObject {
        let jwk = JWK(material: .asymmetric(key), keyType: keyType, keyID: keyID, use: "sig", algorithm: algorithm, isPrivate: false)
        return try jwk.publicJWK()
    }

    /// The public half as a verification key.
    public func verificationKey() -> JWK {
        JWK(material: .asymmetric(key), keyType: keyType, keyID: keyID, use: "sig", algorithm: algorithm, isPrivate: false)
    }

    /// Signs `payload` with a protected header of `alg`, `kid` and the given extra members
    /// (`typ`, ...). Returns the compact serialisation.
    public func sign(payload: [UInt8], header extra: JSONObject = JSONObject()) throws(JOSEError) -> String {
        if extra.count == 0 { return try sign(encodedHeader: plainHeaderPrefix, payload: payload) }
        var header = JSONObject(["alg": .string(algorithm.rawValue)])
        for member in extra.members where !member.name.isExactly("alg") { header[member.name] = member.value }
        if header["kid"] == nil { header["kid"] = .string(keyID) }
        return try sign(encodedHeader: Base64URL.encodeBytes(header.serializedBytes()), payload: payload)
    }

    /// Builds the compact JWS in one buffer: the encoded header, the payload encoded in place, the
    /// signature over that prefix where it lies, then the encoded signature.
    private func sign(encodedHeader: [UInt8], payload: [UInt8]) throws(JOSEError) -> String {
        let inputCount = encodedHeader.count + 1 + Base64URL.encodedCount(payload.count)
        let capacity = inputCount + 1 + Base64URL.encodedCount(max(key.maxSignatureSize, 64))
        var failure: JOSEError? = nil
        let compact = String(unsafeUninitializedCapacity: capacity) { buffer -> Int in
            let base = buffer.baseAddress!
            encodedHeader.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: $0.count) }
            base[encodedHeader.count] = UInt8(ascii: ".")
            _ = payload.withUnsafeBytes { Base64URL.encode($0, into: base + encodedHeader.count + 1) }
            do throws(JOSEError) {
                let signature = try key.sign(algorithm, message: UnsafeRawBufferPointer(start: base, count: inputCount))
                base[inputCount] = UInt8(ascii: ".")
                return inputCount + 1 + signature.withUnsafeBytes { Base64URL.encode($0, into: base + inputCount + 1) }
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        return compact
    }

    /// Signs a JWT with header `typ` and the claims as its payload.
    public func signJWT(type: String, claims: JSONObject) throws(JOSEError) -> String {
        let header = typedHeaders.first { $0.type.isExactly(type) }?.encoded
            ?? Self.encodedHeader(algorithm: algorithm, type: type, keyID: keyID)
        return try sign(encodedHeader: header, payload: claims.serializedBytes())
    }

    /// `BASE64URL` of the header `sign(payload:header:)` writes for `["typ": type]`:
    /// `{"alg","typ","kid"}`, in that order.
    private static func encodedHeader(algorithm: JWSAlgorithm, type: String, keyID: String) -> [UInt8] {
        var header = [UInt8]()
        header.reserveCapacity(128)
        header.append(contentsOf: #"{"alg":"#.utf8)
        JSONValue.writeString(algorithm.rawValue, into: &header)
        header.append(contentsOf: #","typ":"#.utf8)
        JSONValue.writeString(type, into: &header)
        header.append(contentsOf: #","kid":"#.utf8)
        JSONValue.writeString(keyID, into: &header)
        header.append(UInt8(ascii: "}"))
        return Base64URL.encodeBytes(header)
    }
}
