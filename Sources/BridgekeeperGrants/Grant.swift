public import BridgekeeperAudit
public import BridgekeeperCore
public import Foundation
import BridgekeeperJOSE

/// A token request after form parsing: the parameters its grant declared, and where it came from.
public struct TokenRequest: Sendable {
    public let form: FormParameters
    public let remoteAddress: String?

    public init(form: FormParameters, remoteAddress: String?) {
        self.form = form
        self.remoteAddress = remoteAddress
    }
}

/// A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1).
public struct TokenResponse: Sendable, Equatable {
    public let accessToken: String
    public let tokenType: String
    public let expiresIn: Int
    public let scope: String
    public let issuedTokenType: String?

    public init(accessToken: String, tokenType: String = "Bearer", expiresIn: Int, scope: String, issuedTokenType: String? = nil) {
        self.accessToken = accessToken
        self.tokenType = tokenType
        self.expiresIn = expiresIn
        self.scope = scope
        self.issuedTokenType = issuedTokenType
    }

    /// The JSON body. No refresh token, ever (SPECS §2).
    public var json: String {
        var object = JSONObject([
            "access_token": .string(accessToken), "token_type": .string(tokenType),
            "expires_in": .number(JSONNumber(Int64(expiresIn))), "scope": .string(scope),
        ])
        if let issuedTokenType { object["issued_token_type"] = .string(issuedTokenType) }
        return JSONValue.object(object).serialized()
    }
}

/// What is known about a request so far, for its audit record: filled in as validation proceeds,
/// so that a denial records everything learned before it.
public struct AuditDraft: Sendable {
    public var issuer: String?
    public var tenant: String?
    public var subject: String?
    public var clientID: String?
    public var principal: PrincipalClass?
    public var server: String?
    public var scopes: [String] = []
    public var tokenID: String?
    public var assertionID: String?
    public var emailHash: String?
    public var remoteAddress: String?
    /// The agent acting, and its owner's `sub` (issue 5).
    public var actor: String?
    public var owner: String?

    public init(remoteAddress: String? = nil) { self.remoteAddress = remoteAddress }

    public func event(_ kind: AuditEvent.Kind, reason: ReasonCode, time: Date) -> AuditEvent {
        AuditEvent(kind: kind, reason: reason, time: time, issuer: issuer, tenant: tenant, subject: subject, clientID: clientID,
                   principalClass: principal?.rawValue, server: server, scopes: scopes, tokenID: tokenID,
                   assertionID: assertionID, remoteAddress: remoteAddress, emailHash: emailHash,
                   actor: actor, owner: owner)
    }
}

/// One handler per `grant_type` (STYLE rule 8), with the parameters it reads.
public protocol Grant: Sendable {
    static var grantType: String { get }
    /// Parameters besides `grant_type` and client authentication; all others are dropped.
    static var parameters: Set<String> { get }
    /// Parameters that may repeat (`resource`).
    static var repeatable: Set<String> { get }
    /// Validates and issues. An issuance commits its audit record itself, with the token; a thrown
    /// error is audited by the endpoint from `draft`.
    func issue(_ request: TokenRequest, for client: AuthenticatedClient, draft: inout AuditDraft) async throws(OAuthError) -> TokenResponse
}
