public import BridgekeeperCore
public import BridgekeeperJOSE
public import Foundation
public import BridgekeeperKeys
import BridgekeeperClientAuth

/// Claims of an access token Bridgekeeper mints (RFC 9068 §2.2), before signing.
public struct AccessTokenClaims: Sendable {
    public let issuer: String
    public let subject: SubjectKey
    public let principal: PrincipalClass
    public let audience: String
    public let clientID: String
    public let scope: Scope
    public let jti: String
    public let issuedAt: Date
    public let expiresAt: Date
    /// The agent acting for `subject` (RFC 8693 §4.1 `act`), for a token an agent got on its
    /// owner's behalf.
    public var actor: String? = nil
    /// The owner of the agent that is `subject`, for a token an agent got acting as itself.
    public var owner: SubjectKey? = nil

    /// The JSON claims: `iss`, `sub`, `aud` (one string: the MCP server), `client_id`, `scope`,
    /// `jti`, `iat`, `exp`, `principal_class` (`human` or `agent`), `idp_iss` (the IdP, since
    /// `sub` is unique only per IdP) and `tenant` when the IdP is multi-tenant.
    public var object: JSONObject {
        var claims = JSONObject([
            "iss": .string(issuer),
            "sub": .string(subject.subject),
            "aud": .string(audience),
            "client_id": .string(clientID),
            "scope": .string(scope.description),
            "jti": .string(jti),
            "iat": .number(JSONNumber(Int64(issuedAt.timeIntervalSince1970))),
            "exp": .number(JSONNumber(Int64(expiresAt.timeIntervalSince1970))),
            "principal_class": .string(principal.rawValue),
            "idp_iss": .string(subject.issuer),
        ])
        if let tenant = subject.tenant { claims["tenant"] = .string(tenant) }
        if let actor { claims["act"] = .object(JSONObject(["sub": .string(actor)])) }
        if let owner {
            var object = JSONObject(["iss": .string(owner.issuer), "sub": .string(owner.subject)])
            if let tenant = owner.tenant { object["tenant"] = .string(tenant) }
            claims["owner"] = .object(object)
        }
        return claims
    }
}

/// Signs access tokens with the key ring's current key: header `typ: at+jwt`, `alg`, `kid`.
public struct AccessTokenMinter: Sendable {
    public let issuer: String
    /// Seconds. Default 300, at most 3600.
    public let lifetime: TimeInterval
    let keys: KeyRing

    public init(issuer: String, lifetime: TimeInterval, keys: KeyRing) {
        self.issuer = issuer
        self.lifetime = lifetime
        self.keys = keys
    }

    public func claims(subject: SubjectKey, principal: PrincipalClass, audience: String, clientID: String, scope: Scope, now: Date,
                       lifetime: TimeInterval? = nil) -> AccessTokenClaims {
        let issuedAt = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        return AccessTokenClaims(issuer: issuer, subject: subject, principal: principal, audience: audience, clientID: clientID,
                                 scope: scope, jti: Self.tokenID(now: now), issuedAt: issuedAt,
                                 expiresAt: issuedAt.addingTimeInterval((lifetime ?? self.lifetime).rounded(.down)))
    }

    /// A fresh `jti`: the issue time in milliseconds as 11 hex digits, then 128 random bits
    /// (base64url). The time prefix keeps the store's token index appended to at one end, so a
    /// commit rewrites a few index pages instead of one per token; the random part alone makes it
    /// unguessable and unique.
    static func tokenID(now: Date) -> String {
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let hex = String(milliseconds, radix: 16)
        return String(repeating: "0", count: max(0, 11 - hex.count)) + hex + SecureRandom.identifier(bytes: 16)
    }

    /// - Throws: when no key is active (the store has none) or OpenSSL fails.
    public func sign(_ claims: AccessTokenClaims) throws(JOSEError) -> String {
        guard let signer = keys.snapshot.signer else { throw JOSEError(.invalidKey, "no active signing key") }
        return try signer.signJWT(type: "at+jwt", claims: claims.object)
    }
}
