public import Foundation

/// A kind of JWT, with the `typ` rule that keeps it from passing as any other kind (RFC 8725 §3.11).
///
/// | kind | accepted `typ` | also required |
/// |---|---|---|
/// | ID token (OIDC Core §2) | `JWT` or absent | `iss` ≠ `sub`, no `events` claim |
/// | ID-JAG | `oauth-id-jag+jwt` | |
/// | access token (RFC 9068) | `at+jwt` | |
/// | Security Event Token (RFC 8417) | `secevent+jwt` | an `events` object |
/// | client assertion (RFC 7523 §3, rfc7523bis) | `client-authentication+jwt`, or `JWT`/absent from older clients | `iss` = `sub`, no `events` |
///
/// `typ` is compared case-insensitively and an `application/` prefix is ignored (RFC 7515 §4.1.9).
/// The explicitly typed kinds never accept a token of another type, and the kinds that tolerate a
/// missing `typ` refuse every explicit type but `JWT`, so a minted `at+jwt`, an ID-JAG or a SET
/// can never be replayed as an ID token or a client assertion. Those two tolerant kinds are kept
/// apart by their subject rule: a client assertion has `iss` = `sub` (both the client id), an ID
/// token never does (its `sub` is a user at the issuer).
public struct TokenKind: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    /// Normalised (lowercase, no `application/`) `typ` values accepted.
    let types: [String]
    let acceptsMissingType: Bool
    let requiredClaims: [String]
    let forbiddenClaims: [String]
    let subjectRule: SubjectRule
    let requiresEventsObject: Bool

    enum SubjectRule: Hashable {
        case any, equalsIssuer, differsFromIssuer
    }

    public var description: String { name }

    public static let idToken = TokenKind(
        name: "ID token", types: ["jwt"], acceptsMissingType: true,
        requiredClaims: ["iss", "sub", "aud", "exp", "iat"], forbiddenClaims: ["events"],
        subjectRule: .differsFromIssuer, requiresEventsObject: false)

    public static let idJAG = TokenKind(
        name: "ID-JAG", types: ["oauth-id-jag+jwt"], acceptsMissingType: false,
        requiredClaims: ["iss", "sub", "aud", "client_id", "jti", "exp", "iat"], forbiddenClaims: [],
        subjectRule: .any, requiresEventsObject: false)

    public static let accessToken = TokenKind(
        name: "access token", types: ["at+jwt"], acceptsMissingType: false,
        requiredClaims: ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"], forbiddenClaims: [],
        subjectRule: .any, requiresEventsObject: false)

    public static let securityEvent = TokenKind(
        name: "Security Event Token", types: ["secevent+jwt"], acceptsMissingType: false,
        requiredClaims: ["iss", "iat", "jti", "events"], forbiddenClaims: [],
        subjectRule: .any, requiresEventsObject: true)

    public static let clientAssertion = TokenKind(
        name: "client assertion", types: ["client-authentication+jwt", "jwt"], acceptsMissingType: true,
        requiredClaims: ["iss", "sub", "aud", "exp", "jti"], forbiddenClaims: ["events"],
        subjectRule: .equalsIssuer, requiresEventsObject: false)

    /// Bridgekeeper's signed revocation receipt: evidence, never a credential (no `aud`, no `exp`).
    public static let revocationReceipt = TokenKind(
        name: "revocation receipt", types: ["bridgekeeper-receipt+jwt"], acceptsMissingType: false,
        requiredClaims: ["iss", "jti", "iat", "sub_id", "trigger"], forbiddenClaims: ["aud", "exp", "sub"],
        subjectRule: .any, requiresEventsObject: false)

    public static let all: [TokenKind] = [.idToken, .idJAG, .accessToken, .securityEvent, .clientAssertion, .revocationReceipt]

    /// The kind for a `--typ` given on the command line: a kind name or a `typ` value.
    public static func named(_ text: String) -> TokenKind? {
        switch text.asciiLowercased {
        case "id_token", "id-token", "idtoken", "jwt": return .idToken
        case "id-jag", "id_jag", "idjag", "oauth-id-jag+jwt": return .idJAG
        case "access_token", "access-token", "at+jwt": return .accessToken
        case "set", "secevent", "secevent+jwt": return .securityEvent
        case "client_assertion", "client-assertion", "client-authentication+jwt": return .clientAssertion
        case "receipt", "revocation_receipt", "bridgekeeper-receipt+jwt": return .revocationReceipt
        default: return nil
        }
    }

    static func normalise(_ typ: String) -> String {
        let lower = typ.asciiLowercased
        return lower.utf8.starts(with: "application/".utf8) ? String(decoding: lower.utf8.dropFirst("application/".utf8.count), as: UTF8.self) : lower
    }

    /// The `typ` rule (header only), checked before anything else is trusted.
    public func checkType(_ header: JSONObject) throws(JOSEError) {
        guard let value = header["typ"] else {
            if acceptsMissingType { return }
            throw JOSEError(.wrongType, "\(name) needs typ \"\(types[0])\"; the header has none")
        }
        guard let typ = value.stringValue else { throw JOSEError(.invalidHeader, "typ must be a string") }
        // Nearly every token writes its typ as we list it: only other spellings are normalised.
        if types.containsExactly(typ) { return }
        guard types.containsExactly(Self.normalise(typ)) else {
            throw JOSEError(.wrongType, "typ \"\(typ.prefix(40))\" is not accepted for an \(name)")
        }
    }

    /// Claims that name someone or something (RFC 7519 §4.1.1, §4.1.2, §4.1.7; RFC 8693 §4.3):
    /// whenever a token of any kind carries one, it is a non-empty string. `"sub": ""` names nobody
    /// and `"sub": 42` is not a StringOrURI; neither is read as "no subject".
    static let identifierClaims = ["iss", "sub", "jti", "client_id"]

    /// The kind's claim rules: presence, identifiers as non-empty strings, absence, `iss` = `sub`,
    /// `events`.
    func checkClaims(_ claims: JWTClaims) throws(JOSEError) {
        for claim in requiredClaims where claims.object[claim] == nil {
            throw JOSEError(.missingClaim, "\(name) needs the \"\(claim)\" claim")
        }
        for claim in Self.identifierClaims {
            guard let value = claims.object[claim] else { continue }
            guard let text = value.stringValue, !text.isEmpty else {
                throw JOSEError(.invalidClaim, "\"\(claim)\" must be a non-empty string")
            }
        }
        for claim in forbiddenClaims where claims.object[claim] != nil {
            throw JOSEError(.forbiddenClaim, "an \(name) must not carry \"\(claim)\"")
        }
        switch subjectRule {
        case .any:
            break
        case .equalsIssuer:
            guard let issuer = try claims.issuer(), (try claims.subject()).isExactly(issuer) else {
                throw JOSEError(.invalidClaim, "a \(name) needs iss equal to sub (the client_id)")
            }
        case .differsFromIssuer:
            guard !(try claims.issuer()).isExactly(try claims.subject()) else {
                throw JOSEError(.invalidClaim, "an \(name) never has sub equal to iss")
            }
        }
        if requiresEventsObject, claims.object["events"]?.objectValue == nil {
            throw JOSEError(.invalidClaim, "\"events\" must be a JSON object")
        }
    }
}

/// The claims of a JWT (RFC 7519 §4.1), with typed, strict accessors.
public struct JWTClaims: Sendable, Hashable {
    public let object: JSONObject

    public init(_ object: JSONObject) { self.object = object }

    public func string(_ name: String) throws(JOSEError) -> String? {
        guard let value = object[name] else { return nil }
        guard let string = value.stringValue else { throw JOSEError(.invalidClaim, "\"\(name)\" must be a string") }
        return string
    }

    public func issuer() throws(JOSEError) -> String? { try string("iss") }
    public func subject() throws(JOSEError) -> String? { try string("sub") }
    public func tokenID() throws(JOSEError) -> String? { try string("jti") }

    /// `aud` as RFC 7519 §4.1.3 allows it: a string or an array of strings.
    public func audience() throws(JOSEError) -> [String]? {
        guard let value = object["aud"] else { return nil }
        if let single = value.stringValue { return [single] }
        guard let array = value.arrayValue else { throw JOSEError(.invalidClaim, "\"aud\" must be a string or an array of strings") }
        var out: [String] = []
        for element in array {
            guard let string = element.stringValue else { throw JOSEError(.invalidClaim, "\"aud\" must be a string or an array of strings") }
            out.append(string)
        }
        return out
    }

    /// A NumericDate claim (RFC 7519 §2): a JSON number of seconds since the epoch, finite and
    /// within year 1970 to 9999.
    public func date(_ name: String) throws(JOSEError) -> Date? {
        guard let value = object[name] else { return nil }
        guard let number = value.numberValue, number.double >= 0, number.double < 253_402_300_800 else {
            throw JOSEError(.invalidClaim, "\"\(name)\" must be a NumericDate (seconds since 1970)")
        }
        return Date(timeIntervalSince1970: number.double)
    }

    public func expiration() throws(JOSEError) -> Date? { try date("exp") }
    public func notBefore() throws(JOSEError) -> Date? { try date("nbf") }
    public func issuedAt() throws(JOSEError) -> Date? { try date("iat") }
}

/// What a JWT's registered claims must satisfy. A pure check: time is an input.
public struct ClaimRules: Sendable {
    /// Exact `iss` required, when set.
    public var issuer: String?
    /// Exact audience required, when set: `aud` must be this string, or an array of exactly this one.
    public var audience: String?
    /// Allowed clock skew in seconds, applied to `exp`, `nbf` and `iat`. Default 60, at most 300.
    public var leeway: TimeInterval
    /// Longest accepted `exp - iat` (or `exp - now` without `iat`), when set.
    public var maxLifetime: TimeInterval?
    /// Oldest accepted `iat`, as seconds before now, when set.
    public var maxAge: TimeInterval?

    public init(issuer: String? = nil, audience: String? = nil, leeway: TimeInterval = 60,
                maxLifetime: TimeInterval? = nil, maxAge: TimeInterval? = nil) {
        self.issuer = issuer
        self.audience = audience
        self.leeway = min(max(leeway, 0), 300)
        self.maxLifetime = maxLifetime
        self.maxAge = maxAge
    }

    /// Checks, in order: `iss`, `aud`, `exp`, `nbf`, `iat`, lifetime cap, maximum age.
    public func check(_ claims: JWTClaims, now: Date) throws(JOSEError) {
        let issuer = try claims.issuer()
        if let expected = self.issuer, !issuer.isExactly(expected) {
            throw JOSEError(.wrongIssuer, issuer == nil ? "token has no iss" : "iss does not match the expected issuer exactly")
        }
        if let expected = self.audience {
            // A single string (the common shape) is checked where it stands, without an array.
            if let single = claims.object["aud"]?.stringValue {
                guard single.isExactly(expected) else { throw JOSEError(.wrongAudience, "aud does not match the expected audience exactly") }
            } else {
                guard let audience = try claims.audience(), !audience.isEmpty else { throw JOSEError(.wrongAudience, "token has no aud") }
                guard audience.count == 1 else {
                    throw JOSEError(.multipleAudiences, "aud has \(audience.count) members; exactly one is accepted")
                }
                guard audience[0].isExactly(expected) else { throw JOSEError(.wrongAudience, "aud does not match the expected audience exactly") }
            }
        } else {
            _ = try claims.audience()  // still a string or an array of strings
        }
        let expiration = try claims.expiration()
        let notBefore = try claims.notBefore()
        let issuedAt = try claims.issuedAt()
        if let expiration, now.timeIntervalSince(expiration) >= leeway {
            throw JOSEError(.expired, "token expired at \(Int(expiration.timeIntervalSince1970))")
        }
        if let notBefore, notBefore.timeIntervalSince(now) > leeway {
            throw JOSEError(.notYetValid, "token is not valid before \(Int(notBefore.timeIntervalSince1970))")
        }
        if let issuedAt, issuedAt.timeIntervalSince(now) > leeway {
            throw JOSEError(.issuedInFuture, "iat is in the future")
        }
        if let maxLifetime, let expiration {
            let lifetime = expiration.timeIntervalSince(issuedAt ?? now)
            if lifetime > maxLifetime {
                throw JOSEError(.lifetimeTooLong, "lifetime \(Int(lifetime)) s exceeds the cap of \(Int(maxLifetime)) s")
            }
        }
        if let maxAge, let issuedAt, now.timeIntervalSince(issuedAt) > maxAge + leeway {
            throw JOSEError(.lifetimeTooLong, "iat is older than the maximum age of \(Int(maxAge)) s")
        }
    }
}

/// Verifies a JWT of one kind: `typ` first, then the JWS (alg, crit, key, signature), then claims.
public struct JWTVerifier: Sendable {
    public let kind: TokenKind
    public var signatures: JWSVerifier
    public var rules: ClaimRules

    public init(kind: TokenKind, signatures: JWSVerifier, rules: ClaimRules) {
        self.kind = kind
        self.signatures = signatures
        self.rules = rules
    }

    public func verify(_ compact: String, now: Date) throws(JOSEError) -> VerifiedJWT {
        try verify(try UnverifiedJWS(compact: compact), now: now)
    }

    public func verify(_ jws: UnverifiedJWS, now: Date) throws(JOSEError) -> VerifiedJWT {
        try kind.checkType(jws.header)
        let verified = try signatures.verify(jws)
        return try finish(verified, claims: JWTClaims(try jws.unverifiedClaims()), now: now)
    }

    /// The same checks for a token whose claims were already parsed (a caller that read `iss` to
    /// choose the issuer), so the payload is parsed once.
    public func verify(_ parsed: ParsedJWT, now: Date) throws(JOSEError) -> VerifiedJWT {
        try kind.checkType(parsed.jws.header)
        let verified = try signatures.verify(parsed.jws)
        return try finish(verified, claims: parsed.claims, now: now)
    }

    private func finish(_ verified: VerifiedJWS, claims: JWTClaims, now: Date) throws(JOSEError) -> VerifiedJWT {
        try kind.checkClaims(claims)
        try rules.check(claims, now: now)
        return VerifiedJWT(kind: kind, header: verified.header, algorithm: verified.algorithm, keyID: verified.keyID, claims: claims)
    }
}

/// A JWT of a known kind whose signature and claims verified. Only `JWTVerifier` makes one.
public struct VerifiedJWT: Sendable {
    public let kind: TokenKind
    public let header: JSONObject
    public let algorithm: JWSAlgorithm
    public let keyID: String?
    public let claims: JWTClaims
}

/// A compact JWS with its payload parsed as claims, once; the pair always belongs together (only
/// this initialiser makes one). Nothing in it is verified.
public struct ParsedJWT: Sendable {
    public let jws: UnverifiedJWS
    public let claims: JWTClaims

    public init(_ jws: UnverifiedJWS) throws(JOSEError) {
        self.jws = jws
        claims = JWTClaims(try jws.unverifiedClaims())
    }
}
