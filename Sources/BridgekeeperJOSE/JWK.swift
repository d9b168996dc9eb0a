/// A JSON Web Key (RFC 7517) for JWS: RSA, EC P-256/P-384/P-521, OKP Ed25519, and, only when a
/// caller explicitly allows it, a symmetric `oct` key.
///
/// The key decides which algorithms may be used with it (its type, narrowed by its `alg` member),
/// never the token. `use` and `key_ops` are honoured: an `enc` key or one without `verify` in its
/// operations does not verify signatures.
public struct JWK: Sendable {
    public enum KeyType: Sendable, Hashable, CustomStringConvertible {
        case rsa(bits: Int)
        case ec(ECCurve)
        case ed25519
        case symmetric(bytes: Int)

        public var description: String {
            switch self {
            case .rsa(let bits): return "RSA-\(bits)"
            case .ec(let curve): return "EC \(curve.rawValue)"
            case .ed25519: return "OKP Ed25519"
            case .symmetric(let bytes): return "oct (\(bytes * 8) bits)"
            }
        }
    }

    /// What a key may be used for (RFC 7517 §4.3).
    public enum Operation: String, Sendable {
        case sign, verify
    }

    public struct ParseOptions: Sendable {
        /// Accept `kty: oct`. Off by default: a public key set never holds secrets.
        public var allowSymmetric: Bool
        /// Accept private members (`d`, ...). Off by default: verification keys are public.
        public var allowPrivate: Bool

        public init(allowSymmetric: Bool = false, allowPrivate: Bool = false) {
            self.allowSymmetric = allowSymmetric
            self.allowPrivate = allowPrivate
        }

        public static let publicOnly = ParseOptions()
    }

    enum Material: Sendable {
        case asymmetric(EVPKey)
        case symmetric([UInt8])
    }

    public let keyType: KeyType
    public let keyID: String?
    public let use: String?
    public let keyOperations: [String]?
    /// The key's own `alg` member, when it has one.
    public let algorithm: JWSAlgorithm?
    public let isPrivate: Bool
    let material: Material

    init(material: Material, keyType: KeyType, keyID: String?, use: String? = nil, keyOperations: [String]? = nil,
         algorithm: JWSAlgorithm? = nil, isPrivate: Bool) {
        self.material = material
        self.keyType = keyType
        self.keyID = keyID
        self.use = use
        self.keyOperations = keyOperations
        self.algorithm = algorithm
        self.isPrivate = isPrivate
    }

    public init(json: String, options: ParseOptions = .publicOnly) throws(JOSEError) {
        guard let object = try JSONValue.parse(json).objectValue else {
            throw JOSEError(.invalidKey, "a JWK must be a JSON object")
        }
        try self.init(object: object, options: options)
    }

    public init(object: JSONObject, options: ParseOptions = .publicOnly) throws(JOSEError) {
        func string(_ name: String) throws(JOSEError) -> String? {
            guard let value = object[name] else { return nil }
            guard let string = value.stringValue else { throw JOSEError(.invalidKey, "JWK member \"\(name)\" must be a string") }
            return string
        }
        func bytes(_ name: String) throws(JOSEError) -> [UInt8] {
            guard let text = try string(name) else { throw JOSEError(.invalidKey, "JWK is missing \"\(name)\"") }
            do { return try Base64URL.decode(text) } catch {
                throw JOSEError(.invalidKey, "JWK member \"\(name)\" is not strict base64url: \(error.reason)")
            }
        }
        func optionalBytes(_ name: String) throws(JOSEError) -> [UInt8]? {
            object[name] == nil ? nil : try bytes(name)
        }

        guard let ktyValue = try string("kty") else { throw JOSEError(.invalidKey, "JWK has no \"kty\"") }
        // Matched exactly, then switched on our own constant.
        let kty = ["RSA", "EC", "OKP", "oct"].first { $0.isExactly(ktyValue) } ?? ktyValue
        let kid = try string("kid")
        let use = try string("use")
        var operations: [String]? = nil
        if let value = object["key_ops"] {
            guard let array = value.arrayValue else { throw JOSEError(.invalidKey, "\"key_ops\" must be an array of strings") }
            var seen = Set<ExactString>()
            operations = []
            for element in array {
                guard let op = element.stringValue, seen.insert(ExactString(op)).inserted else {
                    throw JOSEError(.invalidKey, "\"key_ops\" must hold unique strings")
                }
                operations!.append(op)
            }
        }
        var declared: JWSAlgorithm? = nil
        if let name = try string("alg") {
            if name.asciiLowercased.isExactly("none") { throw JOSEError(.algorithmNone, "a key cannot be declared for alg \"none\"") }
            guard let algorithm = JWSAlgorithm(exactName: name) else {
                throw JOSEError(.invalidKey, "key alg \"\(name.prefix(20))\" is not a supported signature algorithm")
            }
            declared = algorithm
        }
        let privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth"].filter { object[$0] != nil }
        let isPrivate = !privateMembers.isEmpty
        if isPrivate, !options.allowPrivate {
            throw JOSEError(.invalidKey, "private key members (\(privateMembers.joined(separator: ", "))) where a public key is expected")
        }

        let material: Material
        let keyType: KeyType
        switch kty {
        case "RSA":
            var parts: EVPKey.RSAPrivateParts? = nil
            if isPrivate {
                guard object["oth"] == nil else { throw JOSEError(.invalidKey, "multi-prime RSA keys (\"oth\") are not supported") }
                parts = EVPKey.RSAPrivateParts(
                    d: try bytes("d"), p: try bytes("p"), q: try bytes("q"),
                    dp: try bytes("dp"), dq: try bytes("dq"), qi: try bytes("qi"))
            }
            let key = try EVPKey.rsa(n: try bytes("n"), e: try bytes("e"), privateParts: parts)
            guard case .rsa(let bits) = key.kind else { throw JOSEError(.invalidKey, "not an RSA key") }
            material = .asymmetric(key)
            keyType = .rsa(bits: bits)
        case "EC":
            guard let crvName = try string("crv") else { throw JOSEError(.invalidKey, "EC JWK has no \"crv\"") }
            guard let curve = ECCurve(exactName: crvName) else {
                throw JOSEError(.invalidKey, "EC curve \"\(crvName.prefix(20))\" is not supported (P-256, P-384, P-521)")
            }
            material = .asymmetric(try EVPKey.ec(curve: curve, x: try bytes("x"), y: try bytes("y"), d: try optionalBytes("d")))
            keyType = .ec(curve)
        case "OKP":
            guard try string("crv").isExactly("Ed25519") else { throw JOSEError(.invalidKey, "OKP keys are supported for crv Ed25519 only") }
            material = .asymmetric(try EVPKey.ed25519(x: try bytes("x"), d: try optionalBytes("d")))
            keyType = .ed25519
        case "oct":
            guard options.allowSymmetric else {
                throw JOSEError(.invalidKey, "symmetric (oct) key where an asymmetric key is expected")
            }
            let secret = try bytes("k")
            guard secret.count >= 32 else { throw JOSEError(.invalidKey, "an HMAC key must have at least 256 bits") }
            material = .symmetric(secret)
            keyType = .symmetric(bytes: secret.count)
        default:
            throw JOSEError(.invalidKey, "kty \"\(kty.prefix(20))\" is not supported")
        }
        self.init(material: material, keyType: keyType, keyID: kid, use: use, keyOperations: operations,
                  algorithm: declared, isPrivate: isPrivate)
        if let declared, !Self.compatibleAlgorithms(keyType).contains(declared) {
            throw JOSEError(.invalidKey, "key alg \(declared.rawValue) does not fit a \(keyType) key")
        }
    }

    /// Algorithms a key of this type can ever be used with. HMAC only for `oct` keys, and only when
    /// the key is at least as long as the hash (RFC 7518 §3.2).
    static func compatibleAlgorithms(_ type: KeyType) -> Set<JWSAlgorithm> {
        switch type {
        case .rsa: return [.rs256, .rs384, .rs512, .ps256, .ps384, .ps512]
        case .ec(let curve): return [curve.algorithm]
        case .ed25519: return [.eddsa, .ed25519]
        case .symmetric(let bytes):
            return Set([JWSAlgorithm.hs256, .hs384, .hs512].filter { $0.digest!.size <= bytes })
        }
    }

    /// The per-key allow-list: what the key type permits, narrowed to its `alg` when it has one.
    /// `EdDSA` and `Ed25519` (RFC 9864) name the same algorithm for an Ed25519 key.
    public var allowedAlgorithms: Set<JWSAlgorithm> {
        let compatible = Self.compatibleAlgorithms(keyType)
        guard let algorithm else { return compatible }
        if algorithm.family == .eddsa { return compatible }
        return [algorithm]
    }

    /// `allowedAlgorithms.contains(algorithm)` without building the set (the verification hot path).
    func allows(_ algorithm: JWSAlgorithm) -> Bool {
        if let declared = self.algorithm, declared.family != .eddsa { return algorithm == declared }
        switch keyType {
        case .rsa: return algorithm.family == .rsaPKCS1 || algorithm.family == .rsaPSS
        case .ec(let curve): return algorithm == curve.algorithm
        case .ed25519: return algorithm.family == .eddsa
        case .symmetric(let bytes): return algorithm.family == .hmac && algorithm.digest!.size <= bytes
        }
    }

    /// Whether `use` and `key_ops` permit the operation.
    public func permits(_ operation: Operation) -> Bool {
        if let use, !use.isExactly("sig") { return false }
        if let keyOperations, !keyOperations.containsExactly(operation.rawValue) { return false }
        return true
    }

    public var isSymmetric: Bool {
        if case .symmetric = keyType { return true }
        return false
    }

    // MARK: Export and thumbprint

    /// The public JWK: only public members, plus `kid`, `use`, `key_ops` and `alg` when set.
    /// Symmetric keys have no public form.
    public func publicJWK() throws(JOSEError) -> JSONObject {
        var object = try requiredPublicMembers()
        if let keyID { object["kid"] = .string(keyID) }
        if let use { object["use"] = .string(use) }
        if let keyOperations { object["key_ops"] = .array(keyOperations.filter { $0.isExactly("verify") }.map(JSONValue.string)) }
        if let algorithm { object["alg"] = .string(algorithm.rawValue) }
        return object
    }

    /// The members RFC 7638 §3.2 lists for the thumbprint of this key type.
    func requiredPublicMembers() throws(JOSEError) -> JSONObject {
        switch (material, keyType) {
        case (.asymmetric(let key), .rsa):
            let parts = try key.rsaPublicBytes()
            return JSONObject(["e": .string(Base64URL.encode(parts.e)), "kty": "RSA", "n": .string(Base64URL.encode(parts.n))])
        case (.asymmetric(let key), .ec(let curve)):
            let parts = try key.ecPublicBytes(curve)
            return JSONObject(["crv": .string(curve.rawValue), "kty": "EC",
                               "x": .string(Base64URL.encode(parts.x)), "y": .string(Base64URL.encode(parts.y))])
        case (.asymmetric(let key), .ed25519):
            return JSONObject(["crv": "Ed25519", "kty": "OKP", "x": .string(Base64URL.encode(try key.ed25519PublicBytes()))])
        default:
            throw JOSEError(.unsupported, "symmetric keys have no public form")
        }
    }

    /// RFC 7638 JWK thumbprint with SHA-256, base64url.
    public func thumbprint() throws(JOSEError) -> String {
        let canonical = JSONValue.object(try requiredPublicMembers()).serialized(sortedKeys: true)
        return Base64URL.encode(FetchedDigest.sha256(Array(canonical.utf8)))
    }

    // MARK: Signatures

    /// Verifies `signature` over `message` with `algorithm`, which the caller has checked against
    /// `allowedAlgorithms`.
    func verifySignature(_ algorithm: JWSAlgorithm, signature: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer) throws(JOSEError) {
        switch material {
        case .asymmetric(let key):
            try key.verify(algorithm, signature: signature, message: message)
        case .symmetric(let secret):
            try HMACSignature.verify(algorithm, key: secret, signature: signature, message: message)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

/// A JWK Set (RFC 7517 §5) of verification keys.
///
/// Keys the set cannot use (an unsupported `kty` or curve, `use: enc`, a malformed or weak key) are
/// left out and listed in `skipped`, so one odd key in an IdP's set does not make the others unusable.
/// A private or symmetric key in a public set is an error for the whole set: it means a secret leaked
/// or the wrong file was configured.
public struct JWKSet: Sendable {
    public struct Skipped: Sendable, Hashable {
        public let index: Int
        public let keyID: String?
        public let reason: String
    }

    public let keys: [JWK]
    public let skipped: [Skipped]

    public init(keys: [JWK]) {
        self.keys = keys
        skipped = []
    }

    public init(json: String, options: JWK.ParseOptions = .publicOnly) throws(JOSEError) {
        try self.init(bytes: Array(json.utf8), options: options)
    }

    public init(bytes: [UInt8], options: JWK.ParseOptions = .publicOnly) throws(JOSEError) {
        guard let object = try JSONValue.parse(bytes, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 8)).objectValue,
              let array = object["keys"]?.arrayValue
        else { throw JOSEError(.invalidKey, "a JWK Set is a JSON object with a \"keys\" array") }
        var keys: [JWK] = []
        var skipped: [Skipped] = []
        for (index, element) in array.enumerated() {
            guard let keyObject = element.objectValue else {
                skipped.append(Skipped(index: index, keyID: nil, reason: "not a JSON object"))
                continue
            }
            let kid = keyObject["kid"]?.stringValue
            if !options.allowPrivate, keyObject["d"] != nil || keyObject["k"] != nil && !options.allowSymmetric {
                throw JOSEError(.invalidKey, "key \(index) in the set holds private or symmetric material")
            }
            do {
                let key = try JWK(object: keyObject, options: options)
                guard key.permits(.verify) else {
                    skipped.append(Skipped(index: index, keyID: kid, reason: "not a signature verification key (use/key_ops)"))
                    continue
                }
                keys.append(key)
            } catch {
                skipped.append(Skipped(index: index, keyID: kid, reason: error.reason))
            }
        }
        self.keys = keys
        self.skipped = skipped
    }

    enum Candidate {
        case none, one(JWK), several(Int)
    }

    /// The key that matches `kid` (when the token names one), allows `algorithm` and may verify;
    /// found without allocating, as this runs on every verification.
    func candidate(keyID: String?, algorithm: JWSAlgorithm) -> Candidate {
        var found: JWK? = nil
        var count = 0
        for key in keys where (keyID == nil || key.keyID.isExactly(keyID)) && key.allows(algorithm) && key.permits(.verify) {
            count += 1
            if found == nil { found = key }
        }
        guard let found else { return .none }
        return count == 1 ? .one(found) : .several(count)
    }
}
