import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperStore
import BridgekeeperKeys
import Foundation

/// A token's tenant under its IdP's tenant rule: the claim's value (nil when the IdP has no rule),
/// and whether it is trusted.
struct TenantClaim: Sendable, Equatable {
    let value: String?
    let trusted: Bool
}

/// An ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant §3) that `IdPTokenVerifier` checked
/// up to and including its `jti`, with the claims the jwt-bearer grant decides on already read.
/// What a later step of the documented order refuses (`resource`, `scope`) is kept as read, so the
/// grant reports it in its place. Only the verifier builds one; tests use `init(unchecked...)`.
struct VerifiedIDJAG: Sendable {
    /// The exact `iss`.
    let issuer: String
    let subject: SubjectKey
    let tenant: TenantClaim
    /// `client_id`: the client the IdP issued it to.
    let clientID: String
    let jti: String
    /// The replay mark of this assertion (its `jti` until `exp` plus the IdP's leeway).
    let mark: ReplayMark
    /// `resource`: nil when absent, or the claim's malformation.
    let resources: Result<[ResourceURI], OAuthError>
    /// `scope`: nil when absent, or the claim's malformation.
    let scope: Result<Scope?, OAuthError>
    /// The groups and roles it carries, from the directory that issued it.
    let attributes: SubjectAttributes
    /// The groups claim's name when the IdP left the groups out for size (refused at the policy step).
    let groupsOverage: String?
    /// `iat`, when present.
    let issuedAt: Date?
    /// `AuditEvent.emailHash` of `email`, when present.
    let emailHash: String?

    init(unchecked issuer: String, subject: SubjectKey, tenant: TenantClaim, clientID: String, jti: String, mark: ReplayMark,
         resources: Result<[ResourceURI], OAuthError>, scope: Result<Scope?, OAuthError>, attributes: SubjectAttributes,
         groupsOverage: String?, issuedAt: Date?, emailHash: String?) {
        self.issuer = issuer
        self.subject = subject
        self.tenant = tenant
        self.clientID = clientID
        self.jti = jti
        self.mark = mark
        self.resources = resources
        self.scope = scope
        self.attributes = attributes
        self.groupsOverage = groupsOverage
        self.issuedAt = issuedAt
        self.emailHash = emailHash
    }
}

/// An OIDC ID token (OIDC Core §2) that `IdPTokenVerifier` checked for the client it was issued to,
/// with the claims token exchange decides on already read.
struct VerifiedIDToken: Sendable {
    let issuer: String
    /// The configured name of the IdP that issued it.
    let idpName: String
    let subject: SubjectKey
    let tenant: TenantClaim
    /// `jti`, when present (audited as the assertion id).
    let jti: String?
    let attributes: SubjectAttributes
    let groupsOverage: String?
    let issuedAt: Date?
    let authTime: Date?
    let amr: [String]
    let acr: String?
    /// `email`, only when `email_verified` is true (what an ID-JAG may pass on).
    let verifiedEmail: String?
    let emailHash: String?
}

/// Verifies the JWTs an IdP signs, one verified type per kind (STYLE rule 2), in the steps every
/// kind shares: size and shape → `typ` of the kind → `alg` not `none` → `iss` not Bridgekeeper's
/// own → `alg` on some IdP's list → trusted `iss` → `alg` on that IdP's list → (ID token: the
/// client's id at that IdP, the `aud`) → key by `kid` from that IdP's keys (one refetch on an
/// unknown `kid`) → signature → claims → no `cnf` or `authorization_details` → the kind's own
/// claims. Every failure is translated here, once, into the kind's OAuth error: `invalid_grant`
/// for an assertion (RFC 7523 §3.1), `invalid_request` for a subject token (RFC 8693 §2.2.2).
struct IdPTokenVerifier: Sendable {
    /// Our issuer: the `aud` of an ID-JAG.
    let audience: String
    let idps: [TrustedIdP]
    /// Issuers that are Bridgekeeper itself (its own and the bridge's): never redeemed here.
    let ownIssuers: [String]
    /// Key for `AuditEvent.emailHash`.
    let emailHashKey: [UInt8]
    /// Union of every IdP's algorithms, for the `alg` step that comes before the issuer is known.
    private let anyAlgorithms: Set<JWSAlgorithm>

    init(audience: String, idps: [TrustedIdP], ownIssuers: [String], emailHashKey: [UInt8]) {
        self.audience = audience
        self.idps = idps
        self.ownIssuers = ownIssuers
        self.emailHashKey = emailHashKey
        anyAlgorithms = idps.reduce(into: []) { $0.formUnion($1.algorithms) }
    }

    /// An ID-JAG presented as a jwt-bearer `assertion`. Records `iss` in `draft` once it is known.
    /// - Throws: `invalid_grant` with the failing step's reason.
    func verifyIDJAG(_ compact: String, now: Date, draft: inout AuditDraft) async throws(OAuthError) -> VerifiedIDJAG {
        let kind = Kind.idJAG
        let token = try parse(compact, kind: kind)
        draft.issuer = token.entry.issuer
        try token.checkAlgorithm()
        let idp = token.idp
        let claims = try await token.verify(rules: ClaimRules(issuer: token.entry.issuer, audience: audience, leeway: idp.leeway,
                                                              maxLifetime: idp.maxAssertionLifetime), now: now)
        if let refusal = Self.unsupportedExtension(in: claims, kind: kind) { throw refusal }
        let subject: String, jti: String, expiration: Date, clientID: String, email: String?
        do throws(JOSEError) {
            guard let sub = try claims.subject(), !sub.isEmpty, sub.utf8.count <= 255, !sub.utf8.contains(where: { $0 < 0x20 }) else {
                throw JOSEError(.invalidClaim, "sub must be 1 to 255 bytes without control characters")
            }
            guard let id = try claims.tokenID(), !id.isEmpty, id.utf8.count <= 256 else {
                throw JOSEError(.invalidClaim, "jti must be 1 to 256 bytes")
            }
            guard let exp = try claims.expiration(), let client = try claims.string("client_id") else {
                throw JOSEError(.missingClaim, "exp and client_id are required")
            }
            subject = sub
            jti = id
            expiration = exp
            clientID = client
            email = try claims.string("email")
        } catch { throw kind.refusal(.jose(error)) }
        let tenant = token.tenant(in: claims)
        let subjectKey = SubjectKey(issuer: token.entry.issuer, tenant: tenant.value, subject: subject)
        return VerifiedIDJAG(unchecked: token.entry.issuer, subject: subjectKey, tenant: tenant, clientID: clientID, jti: jti,
                             mark: ReplayMark(namespace: .assertion, issuer: token.entry.issuer, jti: jti,
                                              expiresAt: expiration.addingTimeInterval(idp.leeway)),
                             resources: Self.resources(claims), scope: Self.scope(claims),
                             attributes: Self.attributes(claims, idp, of: subjectKey), groupsOverage: Self.groupsOverage(claims, idp),
                             issuedAt: claims.verifiedIssuedAt, emailHash: email.map { AuditEvent.emailHash($0, key: emailHashKey) })
    }

    /// An ID token presented as a token exchange `subject_token`. `audience` names the client's id
    /// at the token's IdP (its `aud`), or refuses; it is asked once the IdP is known, before the key.
    /// - Throws: `invalid_request` with the failing step's reason, or what `audience` throws.
    func verifyIDToken(_ compact: String, now: Date, audience: (TrustedIdP) throws(OAuthError) -> String,
                       draft: inout AuditDraft) async throws(OAuthError) -> VerifiedIDToken {
        let kind = Kind.idToken
        let token = try parse(compact, kind: kind)
        draft.issuer = token.entry.issuer
        try token.checkAlgorithm()
        let idp = token.idp
        let upstreamClientID = try audience(idp)
        let claims = try await token.verify(rules: ClaimRules(issuer: token.entry.issuer, audience: upstreamClientID, leeway: idp.leeway,
                                                              maxLifetime: idp.maxIDTokenLifetime), now: now)
        if let refusal = Self.unsupportedExtension(in: claims, kind: kind) { throw refusal }
        let subject: String, email: String?, authTime: Date?
        do throws(JOSEError) {
            authTime = try claims.date("auth_time")
            if let maxAge = idp.maxIDTokenAge {
                guard let authTime else {
                    throw JOSEError(.missingClaim, "auth_time is required: this IdP's sign-ins are accepted for \(Int(maxAge)) s")
                }
                guard now.timeIntervalSince(authTime) <= maxAge + idp.leeway else {
                    throw JOSEError(.expired, "the sign-in (auth_time) is older than \(Int(maxAge)) s")
                }
            }
            guard let value = try claims.string(idp.subjectClaim), !value.isEmpty, value.utf8.count <= 255,
                  !value.utf8.contains(where: { $0 < 0x20 }) else {
                throw JOSEError(.invalidClaim, "\(idp.subjectClaim) must be 1 to 255 bytes without control characters")
            }
            subject = value
            email = try claims.string("email")
        } catch { throw kind.refusal(.jose(error)) }
        let tenant = token.tenant(in: claims)
        let subjectKey = SubjectKey(issuer: token.entry.issuer, tenant: tenant.value, subject: subject)
        let verifiedEmail: String?
        if let email, case .bool(true)? = claims.object["email_verified"] { verifiedEmail = email } else { verifiedEmail = nil }
        return VerifiedIDToken(issuer: token.entry.issuer, idpName: idp.name, subject: subjectKey, tenant: tenant,
                               jti: (try? claims.tokenID()) ?? nil, attributes: Self.attributes(claims, idp, of: subjectKey),
                               groupsOverage: Self.groupsOverage(claims, idp), issuedAt: claims.verifiedIssuedAt, authTime: authTime,
                               amr: Self.strings(claims, "amr"), acr: (try? claims.string("acr")) ?? nil, verifiedEmail: verifiedEmail,
                               emailHash: email.map { AuditEvent.emailHash($0, key: emailHashKey) })
    }

    /// The kinds an IdP signs, with how each names its refusals.
    enum Kind {
        case idJAG, idToken

        var tokenKind: TokenKind { self == .idJAG ? .idJAG : .idToken }
        var code: OAuthError.Code { self == .idJAG ? .invalidGrant : .invalidRequest }
        var what: String { self == .idJAG ? "assertion" : "subject_token" }

        /// The one translation of a verification failure into the wire error.
        func refusal(_ failure: Failure) -> OAuthError {
            switch failure {
            case .jose(let error): OAuthError(code, "\(what) rejected: \(error.reason)", reason: ReasonCode(error.code.rawValue))
            case .untrustedIssuer: OAuthError(code, "\(what) issuer is not trusted", reason: .untrustedIssuer)
            case .selfIssued: OAuthError(code, "\(what) was issued by Bridgekeeper itself and is never redeemed here", reason: .selfIssued)
            case .keysUnavailable: OAuthError(code, "the issuer's keys are unavailable", reason: .keysUnavailable)
            }
        }
    }

    enum Failure: Error {
        case jose(JOSEError)
        case untrustedIssuer
        /// Bridgekeeper's own issuer or its bridge's: never redeemed here (SPECS §2, "other rules").
        case selfIssued
        case keysUnavailable
    }

    /// A token parsed, of a trusted issuer whose algorithms include its `alg`; nothing verified yet.
    private struct Parsed {
        let idp: TrustedIdP
        /// The issuer the token named, among the IdP's (with its tenant and keys).
        let entry: TrustedIdP.Issuer
        let kind: Kind
        let parsed: ParsedJWT

        /// `alg` on this IdP's list (after the issuer is recorded for the audit).
        func checkAlgorithm() throws(OAuthError) {
            guard let algorithm = JWSAlgorithm(rawValue: parsed.jws.algorithmName), idp.algorithms.contains(algorithm) else {
                throw kind.refusal(.jose(JOSEError(.algorithmNotAllowed, "alg \(parsed.jws.algorithmName) is not accepted from this issuer")))
            }
        }

        func verify(rules: ClaimRules, now: Date) async throws(OAuthError) -> JWTClaims {
            do {
                return try await KeyedVerification.verify(parsed, kind: kind.tokenKind, keys: entry.keys, algorithms: idp.algorithms,
                                                          rules: rules, now: now).claims
            } catch {
                switch error {
                case .jose(let jose): throw kind.refusal(.jose(jose))
                case .keysUnavailable: throw kind.refusal(.keysUnavailable)
                }
            }
        }

        /// The token's tenant under the IdP's tenant rule: nil and trusted when the IdP has no rule;
        /// otherwise the claim's value, trusted when it is on the allowed list and, for an issuer
        /// expanded from a template, is the tenant that issuer names (Entra: `tid` must match `iss`).
        func tenant(in claims: JWTClaims) -> TenantClaim {
            guard let rule = idp.tenant else {
                // No rule: trusted, unless the issuer itself names a tenant (a template expanded in
                // code without a rule), which the token must then carry in the tenant claim.
                guard let expected = entry.tenant else { return TenantClaim(value: nil, trusted: true) }
                let value = (try? claims.string("tenant")) ?? nil
                return TenantClaim(value: value, trusted: value.map { $0.isExactly(expected) } ?? false)
            }
            guard let value = (try? claims.string(rule.claim)) ?? nil else { return TenantClaim(value: nil, trusted: false) }
            let trusted = rule.allowed.containsExactly(value) && (entry.tenant.map { $0.isExactly(value) } ?? true)
            return TenantClaim(value: value, trusted: trusted)
        }
    }

    /// Size and shape → `typ` → `alg` not none → `iss` not ours → `alg` on some IdP's list →
    /// trusted `iss`.
    private func parse(_ compact: String, kind: Kind) throws(OAuthError) -> Parsed {
        let jws: UnverifiedJWS
        let parsed: ParsedJWT
        let issuer: String?
        do throws(JOSEError) {
            jws = try UnverifiedJWS(compact: compact)
            try kind.tokenKind.checkType(jws.header)
            if jws.algorithmName.asciiLowercased.isExactly("none") {
                throw JOSEError(.algorithmNone, "alg none is never accepted")
            }
            parsed = try ParsedJWT(jws)
            issuer = try parsed.claims.issuer()
        } catch { throw kind.refusal(.jose(error)) }
        // Before the algorithm list: the bridge may sign with an algorithm no IdP uses, and a token
        // of our own must be named as such whatever its algorithm.
        if let issuer, ownIssuers.containsExactly(issuer) { throw kind.refusal(.selfIssued) }
        guard let algorithm = JWSAlgorithm(rawValue: jws.algorithmName), anyAlgorithms.contains(algorithm) else {
            throw kind.refusal(.jose(JOSEError(.algorithmNotAllowed, "alg \(jws.algorithmName.prefix(20)) is not accepted")))
        }
        guard let issuer else { throw kind.refusal(.untrustedIssuer) }
        var found: (TrustedIdP, TrustedIdP.Issuer)? = nil
        for idp in idps {
            if let entry = idp.issuers.first(where: { $0.issuer.isExactly(issuer) }) {
                found = (idp, entry)
                break
            }
        }
        guard let (idp, entry) = found else { throw kind.refusal(.untrustedIssuer) }
        return Parsed(idp: idp, entry: entry, kind: kind, parsed: parsed)
    }

    /// Claims that bind or narrow a grant in ways Bridgekeeper does not enforce yet, refused rather
    /// than ignored: ignoring them would silently widen what the IdP granted.
    /// - `cnf` (RFC 7800; `cnf.jkt` of DPoP, RFC 9449 §6): the grant is bound to a key whose
    ///   possession we would not check, so redeeming it as a bearer grant would unbind it.
    /// - `authorization_details` (RFC 9396): the IdP narrowed access in a form we do not evaluate.
    private static func unsupportedExtension(in claims: JWTClaims, kind: Kind) -> OAuthError? {
        if claims.object["cnf"] != nil {
            return OAuthError(kind.code, "\(kind.what) is bound to a key (cnf): key-bound (DPoP) grants are not supported, and it is never redeemed as a bearer grant",
                              reason: .keyBoundGrantUnsupported)
        }
        if claims.object["authorization_details"] != nil {
            return OAuthError(kind.code, "\(kind.what) carries authorization_details (RFC 9396), which are not supported: it is refused rather than redeemed without them",
                              reason: .authorizationDetailsUnsupported)
        }
        return nil
    }

    /// An ID-JAG's `resource`: a string or an array of strings, each a resource indicator.
    private static func resources(_ claims: JWTClaims) -> Result<[ResourceURI], OAuthError> {
        guard let value = claims.object["resource"] else { return .success([]) }
        let texts: [String]
        if let single = value.stringValue { texts = [single] } else if let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) {
            texts = array.compactMap(\.stringValue)
        } else {
            return .failure(OAuthError(.invalidGrant, "assertion resource must be a string or an array of strings", reason: .malformedResource))
        }
        var uris: [ResourceURI] = []
        for text in texts {
            guard let uri = try? ResourceURI(text) else {
                return .failure(OAuthError(.invalidGrant, "assertion resource is not a valid resource indicator", reason: .malformedResource))
            }
            uris.append(uri)
        }
        return .success(uris)
    }

    /// An ID-JAG's `scope`: a string of scope tokens.
    private static func scope(_ claims: JWTClaims) -> Result<Scope?, OAuthError> {
        guard let value = claims.object["scope"] else { return .success(nil) }
        guard let text = value.stringValue else {
            return .failure(OAuthError(.invalidGrant, "assertion scope must be a string", reason: .malformedScope))
        }
        do throws(OAuthError) { return .success(try Scope(parsing: text)) } catch {
            return .failure(OAuthError(.invalidGrant, "assertion scope is malformed", reason: .malformedScope))
        }
    }

    /// The groups and roles a person's token carries, from the directory that issued it.
    static func attributes(_ claims: JWTClaims, _ idp: TrustedIdP, of subject: SubjectKey) -> SubjectAttributes {
        SubjectAttributes(origin: SubjectOrigin(subject), groups: strings(claims, idp.groupsClaim), roles: strings(claims, idp.rolesClaim))
    }

    /// The groups claim's name when the token says it was left out for size: OIDC Core §5.6.2
    /// distributed claims (`_claim_names` naming it; Entra's overage) or Entra's `hasgroups: true`.
    static func groupsOverage(_ claims: JWTClaims, _ idp: TrustedIdP) -> String? {
        guard let groupsClaim = idp.groupsClaim else { return nil }
        if claims.object["_claim_names"]?.objectValue?[groupsClaim] != nil { return groupsClaim }
        if case .bool(true)? = claims.object["hasgroups"] { return groupsClaim }
        return nil
    }

    /// A claim read as a list of strings: an array of strings, or one string; anything else is empty.
    /// A name with dots that is not itself a top-level claim is a path into nested objects
    /// (Keycloak's `realm_access.roles`, `resource_access.<client>.roles`).
    static func strings(_ claims: JWTClaims, _ name: String?) -> [String] {
        guard let name, let value = claim(claims, name) else { return [] }
        if let single = value.stringValue { return [single] }
        return value.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// The claim `name`, or the value at its dotted path when no top-level claim has that name.
    static func claim(_ claims: JWTClaims, _ name: String) -> JSONValue? {
        if let value = claims.object[name] { return value }
        guard name.contains(".") else { return nil }
        var current: JSONValue? = .object(claims.object)
        for part in name.split(separator: ".", omittingEmptySubsequences: false) {
            current = current?.objectValue?[String(part)]
        }
        return current
    }
}

extension JWTClaims {
    /// `iat` of a verified token (`ClaimRules` checked it is a NumericDate when present).
    var verifiedIssuedAt: Date? { (try? issuedAt()) ?? nil }
}

extension ReasonCode {
    /// The IdP's token carries `cnf`: a key-bound (e.g. DPoP) grant, which is not supported.
    public static let keyBoundGrantUnsupported = ReasonCode("key_bound_grant_unsupported")
    /// The IdP's token carries RFC 9396 `authorization_details`, which are not supported.
    public static let authorizationDetailsUnsupported = ReasonCode("authorization_details_unsupported")
    /// The token's `iss` is Bridgekeeper's own issuer or its bridge issuer.
    public static let selfIssued = ReasonCode("self_issued")
    /// The token's groups were left out for size (distributed claims, Entra's overage): refused,
    /// never decided on a partial list.
    public static let groupsOverage = ReasonCode("groups_overage")
}
