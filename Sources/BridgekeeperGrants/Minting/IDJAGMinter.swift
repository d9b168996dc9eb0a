public import BridgekeeperCore
public import BridgekeeperJOSE
public import Foundation
public import BridgekeeperKeys
import BridgekeeperClientAuth

/// Claims of an ID-JAG the bridge issues for a third-party authorization server
/// (draft-ietf-oauth-identity-assertion-authz-grant §3.1), before signing.
public struct IDJAGClaims: Sendable {
    /// The bridge issuer (`{issuer}/bridge`).
    public let issuer: String
    /// The person, as their IdP names them (the authorization server knows them from SSO).
    public let subject: SubjectKey
    /// The third-party authorization server's issuer.
    public let audience: String
    /// The client's id at that authorization server.
    public let clientID: String
    public let resource: String
    public let scope: Scope
    public let jti: String
    public let issuedAt: Date
    public let expiresAt: Date
    /// Carried over from the ID token when present: when and how the person signed in, and the
    /// email the draft recommends for subject resolution.
    public let authTime: Date?
    public let amr: [String]
    public let acr: String?
    public let email: String?

    /// The JSON claims: `iss`, `sub`, `aud` (one string), `client_id`, `jti`, `iat`, `exp`,
    /// `resource`, `scope`, and `tenant`, `auth_time`, `amr`, `acr`, `email` when known.
    public var object: JSONObject {
        var claims = JSONObject([
            "iss": .string(issuer),
            "sub": .string(subject.subject),
            "aud": .string(audience),
            "client_id": .string(clientID),
            "jti": .string(jti),
            "iat": .number(JSONNumber(Int64(issuedAt.timeIntervalSince1970))),
            "exp": .number(JSONNumber(Int64(expiresAt.timeIntervalSince1970))),
            "resource": .string(resource),
            "scope": .string(scope.description),
        ])
        if let tenant = subject.tenant { claims["tenant"] = .string(tenant) }
        if let authTime { claims["auth_time"] = .number(JSONNumber(Int64(authTime.timeIntervalSince1970))) }
        if !amr.isEmpty { claims["amr"] = .array(amr.map(JSONValue.string)) }
        if let acr { claims["acr"] = .string(acr) }
        if let email { claims["email"] = .string(email) }
        return claims
    }
}

/// Signs ID-JAGs with the bridge key ring (never the access-token keys): header
/// `typ: oauth-id-jag+jwt`, `alg`, `kid`.
public struct IDJAGMinter: Sendable {
    public static let type = "oauth-id-jag+jwt"

    /// The bridge issuer.
    public let issuer: String
    let keys: KeyRing

    public init(issuer: String, keys: KeyRing) {
        self.issuer = issuer
        self.keys = keys
    }

    /// - Throws: when no bridge key is active or OpenSSL fails.
    public func sign(_ claims: IDJAGClaims) throws(JOSEError) -> String {
        guard let signer = keys.snapshot.signer else { throw JOSEError(.invalidKey, "no active bridge signing key") }
        return try signer.signJWT(type: Self.type, claims: claims.object)
    }
}
