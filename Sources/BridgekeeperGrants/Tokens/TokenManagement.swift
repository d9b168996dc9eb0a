import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation
public import BridgekeeperKeys
public import BridgekeeperClientAuth
public import BridgekeeperEndpoint

/// RFC 7662 introspection and RFC 7009 revocation of the access tokens Bridgekeeper minted.
///
/// Both authenticate the caller like the token endpoint. A token is ours when it verifies as an
/// `at+jwt` under a published key with our `iss`; its state comes from the store.
public struct TokenManagement: Sendable {
    private let issuer: String
    private let keys: KeyRing
    private let clients: ClientAuthenticator
    private let store: any TokenRegistry & SubjectDirectory & AuditLog & AgentRegistry
    private let clock: any WallClock

    public init(issuer: String, keys: KeyRing, clients: ClientAuthenticator, store: any TokenRegistry & SubjectDirectory & AuditLog & AgentRegistry, clock: any WallClock) {
        self.issuer = issuer
        self.keys = keys
        self.clients = clients
        self.store = store
        self.clock = clock
    }

    static let inactive = EndpointResponse(status: 200, body: #"{"active":false}"#)

    /// POST /introspect. Only clients registered for introspection; a token that is unknown,
    /// expired, revoked, of a disabled subject, or for a server the caller does not serve gives
    /// only `{"active":false}`.
    public func introspect(body: [UInt8], authorization: String?, remoteAddress: String?) async -> EndpointResponse {
        var draft = AuditDraft(remoteAddress: remoteAddress)
        do throws(OAuthError) {
            let form = try FormParameters(body, maxBytes: TokenEndpoint.maxBodyBytes)
            try clients.admit(form: form, authorization: authorization, draft: &draft)
            try form.rejectRepeats()
            let client = try await clients.authenticate(authorization: authorization, form: form)
            draft.clientID = client.id
            guard let registration = clients.registration(client.id), registration.mayIntrospect else {
                throw OAuthError(.unauthorizedClient, "this client may not introspect tokens", reason: .notIntrospectionClient)
            }
            let token = try form.required("token")
            guard let state = await activeState(token) else { return Self.inactive }
            guard let resource = try? ResourceURI(state.token.resource), registration.allows(resource: resource) else { return Self.inactive }
            let t = state.token
            var object = JSONObject([
                "active": .bool(true), "iss": .string(issuer), "sub": .string(t.subject.subject), "aud": .string(t.resource),
                "scope": .string(t.scope.joined(separator: " ")), "client_id": .string(t.clientID),
                "exp": .number(JSONNumber(Int64(t.expiresAt.timeIntervalSince1970))),
                "iat": .number(JSONNumber(Int64(t.issuedAt.timeIntervalSince1970))), "jti": .string(t.jti),
                "token_type": .string("Bearer"), "principal_class": .string(t.principal.rawValue), "idp_iss": .string(t.subject.issuer),
            ])
            if let tenant = t.subject.tenant { object["tenant"] = .string(tenant) }
            return EndpointResponse(status: 200, body: JSONValue.object(object).serialized())
        } catch {
            return await deny(error, draft: draft)
        }
    }

    /// POST /revoke. A client revokes only tokens issued to it; anything else, including an
    /// unknown or already revoked token, is answered 200 and changes nothing (RFC 7009 §2.2).
    public func revoke(body: [UInt8], authorization: String?, remoteAddress: String?) async -> EndpointResponse {
        var draft = AuditDraft(remoteAddress: remoteAddress)
        do throws(OAuthError) {
            let form = try FormParameters(body, maxBytes: TokenEndpoint.maxBodyBytes)
            try clients.admit(form: form, authorization: authorization, draft: &draft)
            try form.rejectRepeats()
            let client = try await clients.authenticate(authorization: authorization, form: form)
            draft.clientID = client.id
            let token = try form.required("token")
            guard let jti = verifiedJTI(token) else { return EndpointResponse(status: 200, body: "{}") }
            let found: TokenState?
            do { found = try await store.tokenState(jti: jti) } catch { return .serverError }
            guard let state = found, state.token.clientID.isExactly(client.id) else {
                return EndpointResponse(status: 200, body: "{}")
            }
            let t = state.token
            var event = AuditDraft(remoteAddress: remoteAddress)
            event.issuer = t.subject.issuer
            event.tenant = t.subject.tenant
            event.subject = t.subject.subject
            event.clientID = client.id
            event.principal = t.principal
            event.server = t.resource
            event.scopes = t.scope
            event.tokenID = t.jti
            do {
                _ = try await store.revoke(jti: jti, at: clock.now(), audit: event.event(.revocation, reason: .revokedByClient, time: clock.now()))
            } catch { return .serverError }
            return EndpointResponse(status: 200, body: "{}")
        } catch {
            return await deny(error, draft: draft)
        }
    }

    private func deny(_ error: OAuthError, draft: AuditDraft) async -> EndpointResponse {
        do { _ = try await store.appendRefusal(draft.event(.denial, reason: error.reason, time: clock.now())) } catch { return .serverError }
        return .error(error)
    }

    /// The `jti` of a token that verifies as one of ours, expired or not.
    func verifiedJTI(_ token: String) -> String? {
        let snapshot = keys.snapshot
        guard let jws = try? UnverifiedJWS(compact: token), (try? TokenKind.accessToken.checkType(jws.header)) != nil,
              (try? JWSVerifier(keys: snapshot.published, algorithms: snapshot.algorithms).verify(jws)) != nil,
              let claims = try? JWTClaims(jws.unverifiedClaims()), (try? claims.issuer())??.isExactly(issuer) == true else { return nil }
        return (try? claims.tokenID()) ?? nil
    }

    /// The stored state of a token that verifies, is ours, unexpired, unrevoked, issued after its
    /// subject's revocation epoch, whose subject is not disabled and, for an agent's token, whose
    /// agent is registered and active: what introspection calls active, and what the management API
    /// accepts as a bearer token.
    public func activeState(_ token: String) async -> TokenState? {
        let now = clock.now()
        let snapshot = keys.snapshot
        let verifier = JWTVerifier(kind: .accessToken, signatures: JWSVerifier(keys: snapshot.published, algorithms: snapshot.algorithms),
                                   rules: ClaimRules(issuer: issuer, leeway: 0))
        guard let verified = try? verifier.verify(token, now: now), let jti = try? verified.claims.tokenID(),
              let state = try? await store.tokenState(jti: jti), state.revokedAt == nil, now < state.token.expiresAt,
              // A disabled subject, or issued before their revocation epoch: dead, whatever its own
              // record says. A store that cannot answer makes the token inactive (fail closed).
              let standing = try? await store.standing(of: state.token.subject), standing.allows(issuedAt: state.token.issuedAt) else { return nil }
        // An agent's token lives only while the agent is active: disabling revokes its tokens, and
        // this check holds even for one a crash or an older version left unrevoked.
        if let agent = state.token.agent {
            guard let record = try? await store.agent(id: agent), record.status == .active else { return nil }
        }
        return state
    }
}
