public import BridgekeeperAudit
public import BridgekeeperCore
import Foundation
import BridgekeeperJOSE
import BridgekeeperClientAuth

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
