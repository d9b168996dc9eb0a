import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation
public import BridgekeeperClientAuth
public import BridgekeeperEndpoint

/// POST /token (RFC 6749 §3.2): form parsing, grant dispatch, client authentication, and an audit
/// record for every denial, durable before the answer.
///
/// Order: form (size, encoding) → `grant_type` known (else `unsupported_grant_type`) → repeats →
/// client authentication (`invalid_client`, 401) → client allowed this grant (`unauthorized_client`)
/// → the grant's own validation.
public struct TokenEndpoint: Sendable {
    public static let maxBodyBytes = FormParameters.defaultMaxBytes
    private let grants: [ExactString: any Grant]
    private let clients: ClientAuthenticator
    private let audit: any AuditLog
    private let clock: any WallClock

    public init(grants: [any Grant], clients: ClientAuthenticator, audit: any AuditLog, clock: any WallClock) {
        var byType: [ExactString: any Grant] = [:]
        for grant in grants { byType[ExactString(type(of: grant).grantType)] = grant }
        self.grants = byType
        self.clients = clients
        self.audit = audit
        self.clock = clock
    }

    public var grantTypes: [String] { grants.keys.map(\.value).sorted() }

    public func handle(body: [UInt8], authorization: String?, remoteAddress: String?) async -> EndpointResponse {
        var draft = AuditDraft(remoteAddress: remoteAddress)
        do throws(OAuthError) {
            let form = try FormParameters(body, maxBytes: Self.maxBodyBytes)
            try clients.admit(form: form, authorization: authorization, draft: &draft)
            let response = try await process(form: form, authorization: authorization, remoteAddress: remoteAddress, draft: &draft)
            return EndpointResponse(status: 200, body: response.json)
        } catch {
            // Our own faults are answered 500 without detail; a store failure cannot be audited
            // (the store is what failed), anything else is. A denial that cannot be recorded is
            // not answered as one.
            let failure = ServerFailure(error)
            if failure != .storeUnavailable {
                do {
                    _ = try await audit.appendRefusal(draft.event(.denial, reason: error.reason, time: clock.now()))
                } catch {
                    return .serverError
                }
            }
            return failure != nil ? .serverError : .error(error)
        }
    }

    /// Answers a request refused before its body could be read (too large), audited like any denial.
    public func refuse(_ error: OAuthError, remoteAddress: String?) async -> EndpointResponse {
        do { _ = try await audit.appendRefusal(AuditDraft(remoteAddress: remoteAddress).event(.denial, reason: error.reason, time: clock.now())) } catch {
            return .serverError
        }
        return .error(error)
    }

    private func process(form: FormParameters, authorization: String?, remoteAddress: String?, draft: inout AuditDraft) async throws(OAuthError) -> TokenResponse {
        try form.rejectRepeats(except: ["resource", "audience"])
        let grantType = try form.required("grant_type")
        guard let grant = grants[ExactString(grantType)] else {
            throw OAuthError(.unsupportedGrantType, "grant_type is not supported", reason: .unsupportedGrantType)
        }
        let kind = type(of: grant)
        try form.rejectRepeats(except: kind.repeatable)
        draft.clientID = form.value("client_id") ?? draft.clientID
        let client = try await clients.authenticate(authorization: authorization, form: form)
        draft.clientID = client.id
        if client.isAgent {
            draft.principal = .agent
            draft.actor = client.id
        }
        guard clients.allows(client, grantType: kind.grantType) else {
            throw OAuthError(.unauthorizedClient, "this client may not use this grant type", reason: .grantTypeNotAllowed)
        }
        let declared = FormParameters(pairs: form.keeping(kind.parameters).pairs)
        return try await grant.issue(TokenRequest(form: declared, remoteAddress: remoteAddress), for: client, draft: &draft)
    }
}
