import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperPolicy
public import BridgekeeperStore
import Foundation
import BridgekeeperKeys
public import BridgekeeperClientAuth

/// What the composition root hands the grants. It holds no behaviour: each grant takes the parts
/// it uses, `IdPTokenVerifier` (IdP tokens → verified types), `AccessRules` (catalog, client
/// registration, policy → server and scope) and `Issuance` (mint, sign, record, commit).
public struct GrantDependencies: Sendable {
    public let issuer: String
    public let clients: ClientAuthenticator
    public let clock: any WallClock
    /// Third-party authorization servers the bridge issues ID-JAGs for.
    public let authorizationServers: [ThirdPartyAuthorizationServer]
    /// Robot identities (issue 5); nil when the deployment has no agent registry (unit tests).
    public let agents: AgentSupport?
    let verifier: IdPTokenVerifier
    let access: AccessRules
    let issuance: Issuance

    public init(issuer: String, idps: [TrustedIdP], catalog: Catalog, policy: Policy, clients: ClientAuthenticator,
                store: any IssuanceLedger, minter: AccessTokenMinter, clock: any WallClock, emailHashKey: [UInt8],
                authorizationServers: [ThirdPartyAuthorizationServer] = [], idJAGMinter: IDJAGMinter? = nil, agents: AgentSupport? = nil) {
        self.issuer = issuer
        self.clients = clients
        self.clock = clock
        self.authorizationServers = authorizationServers
        self.agents = agents
        // The bridge issuer is ours whether or not a bridge is configured now: an ID-JAG it issued
        // before the configuration changed is still never redeemed here.
        let ownIssuers = [issuer, (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/bridge"]
            + (idJAGMinter.map { [$0.issuer] } ?? [])
        verifier = IdPTokenVerifier(audience: issuer, idps: idps, ownIssuers: ownIssuers, emailHashKey: emailHashKey)
        access = AccessRules(catalog: catalog, policy: policy, registration: { [clients] in clients.registration($0) })
        issuance = Issuance(minter: minter, idJAGMinter: idJAGMinter, store: store)
    }
}

/// Our own fault while issuing: answered 500 `{"error":"server_error"}` without detail (STYLE rule
/// 5; RFC 6749 §5.2 has no code for it), never as a refusal. Grants throw `OAuthError` (their one
/// wire error type), so a failure travels as `error`, whose reason names it, and `TokenEndpoint`
/// turns it back into this case (`init?(_:)`) before answering.
enum ServerFailure: Sendable, Equatable {
    /// The store failed: not audited (the store is what failed).
    case storeUnavailable
    /// No signing key is active, or OpenSSL failed to sign: audited.
    case signingUnavailable

    var reason: ReasonCode { self == .storeUnavailable ? .storeUnavailable : .signingUnavailable }

    var error: OAuthError { OAuthError(.invalidRequest, "temporarily unavailable", reason: reason) }

    /// The server failure `error` carries (any code: client authentication's store failures too).
    init?(_ error: OAuthError) {
        switch error.reason {
        case .storeUnavailable: self = .storeUnavailable
        case .signingUnavailable: self = .signingUnavailable
        default: return nil
        }
    }
}

/// The pure access rules a grant applies once it knows who asks: which catalog server a client may
/// reach, and what policy grants on it. No store, no clock.
struct AccessRules: Sendable {
    let catalog: Catalog
    let policy: Policy
    /// The configured client registration of an id (nil for an agent or an unknown id).
    let registration: @Sendable (String) -> ClientRegistration?

    /// The catalog server for `resource`, if this client may obtain tokens for it, and its tokens
    /// come from `authorizationServer` (a third party's name; nil = Bridgekeeper itself).
    func catalogServer(_ resource: ResourceURI, for client: AuthenticatedClient,
                       at authorizationServer: ThirdPartyAuthorizationServer? = nil) throws(OAuthError) -> MCPServer {
        guard let server = catalog.server(for: resource) else {
            throw OAuthError(.invalidTarget, "resource is not an MCP server this authorization server serves", reason: .unknownResource)
        }
        // An agent has no client registration: its grant and its owner bound it (the grant decides).
        guard client.isAgent || registration(client.id)?.allows(resource: server.resource) == true else {
            throw OAuthError(.invalidTarget, "this client may not obtain tokens for that resource", reason: .resourceNotAllowedForClient)
        }
        switch (server.authorizationServer, authorizationServer) {
        case (nil, nil):
            return server
        case (let reference?, nil):
            throw OAuthError(.invalidTarget, "\(server.name)'s tokens come from its own authorization server: request an ID-JAG with audience \(reference.issuer)",
                             reason: .thirdPartyResource)
        case (let reference?, let target?) where reference.name == target.name:
            return server
        case (_, .some):
            throw OAuthError(.invalidTarget, "resource is not served by the authorization server named in audience", reason: .resourceNotAtAudience)
        }
    }

    /// The policy decision on a person's `attributes`, then scope = requested ∩ assertion ∩ policy.
    /// Groups left out for size (`groupsOverage`, the claim's name) are refused first. A deny is
    /// answered with `denial` (the grants differ: RFC 6749 vs RFC 8693).
    func grantedScope(attributes: SubjectAttributes, groupsOverage: String?, server: MCPServer, requested: Scope?, assertion: Scope?,
                      denial: OAuthError.Code) throws(OAuthError) -> Scope {
        if let groupsClaim = groupsOverage {
            throw OAuthError(denial, "the token's \(groupsClaim) did not fit in it (groups overage): access is not decided on a partial group list",
                             reason: .groupsOverage)
        }
        switch policy.decide(for: attributes, on: server) {
        case .deny(let reason, let rules):
            // The person asking is told why (their own access): the reason code and, for a deny
            // rule, its id.
            let which = rules.isEmpty ? "" : " by \(rules.joined(separator: ", "))"
            throw OAuthError(denial, "policy does not grant this subject access to \(server.name) (\(reason.rawValue)\(which))", reason: reason)
        case .allow(let tools, _):
            return try ScopeGrant.grant(requested: requested, assertion: assertion, policyTools: tools)
        }
    }
}

/// The one issue-and-commit step every grant ends with: sign the token, then commit its replay
/// marks, its record and its audit record in one transaction, unless a mark is present or the
/// subject (a person, an agent's owner, a feed client) is disabled, decided inside the commit. The
/// store's and the signer's failures are translated here, once, into `ServerFailure`.
struct Issuance: Sendable {
    let minter: AccessTokenMinter
    /// Signs ID-JAGs for third-party authorization servers (nil when no bridge is configured).
    let idJAGMinter: IDJAGMinter?
    let store: any IssuanceLedger

    /// What is signed.
    enum Token {
        /// An access token; `agent` is the agent it is for (as itself or for its owner).
        case accessToken(AccessTokenClaims, agent: String? = nil)
        /// An ID-JAG for a third-party authorization server; `clientID` is ours for the client
        /// (the claims carry its id at that server).
        case idJAG(IDJAGClaims, clientID: String)
    }

    /// The refusals a commit can end in, as the grant words them.
    struct Refusals {
        let replayed: OAuthError
        let disabled: OAuthError

        init(replayed: OAuthError, disabled: OAuthError) {
            self.replayed = replayed
            self.disabled = disabled
        }

        /// A grant with no replay mark: only the subject's state can refuse.
        init(disabled: OAuthError) { self.init(replayed: disabled, disabled: disabled) }
    }

    /// Signs `token` and commits it with `marks` and its audit record (`reason`, from `draft`, whose
    /// `tokenID` it sets, and whose `assertionID` the record keeps), unless a mark is present or
    /// `subject` is disabled. Returns the signed token.
    /// - Throws: `refusals`' error when the commit refused (nothing was written; `draft.tokenID`
    ///   cleared); a `ServerFailure` when signing or the store failed.
    func issue(_ token: Token, marks: [ReplayMark] = [], unlessDisabled subject: SubjectKey, audit reason: ReasonCode, now: Date,
               refusals: Refusals, draft: inout AuditDraft) async throws(OAuthError) -> String {
        let signed: String
        let record: IssuedToken
        switch token {
        case .accessToken(let claims, let agent):
            draft.tokenID = claims.jti
            do { signed = try minter.sign(claims) } catch { throw ServerFailure.signingUnavailable.error }
            record = IssuedToken(jti: claims.jti, subject: claims.subject, principal: claims.principal, clientID: claims.clientID,
                                 resource: claims.audience, scope: claims.scope.tokens, issuedAt: claims.issuedAt, expiresAt: claims.expiresAt,
                                 assertionID: draft.assertionID, agent: agent)
        case .idJAG(let claims, let clientID):
            draft.tokenID = claims.jti
            do {
                guard let idJAGMinter else { throw JOSEError(.invalidKey, "no bridge") }
                signed = try idJAGMinter.sign(claims)
            } catch { throw ServerFailure.signingUnavailable.error }
            record = IssuedToken(jti: claims.jti, kind: .idJAG, subject: claims.subject, principal: .human, clientID: clientID,
                                 resource: claims.resource, scope: claims.scope.tokens, issuedAt: claims.issuedAt, expiresAt: claims.expiresAt,
                                 assertionID: draft.assertionID)
        }
        let outcome: CommitOutcome
        do {
            outcome = try await store.commit(marks: marks, token: record, audit: draft.event(.issuance, reason: reason, time: now),
                                             unlessDisabled: subject)
        } catch { throw ServerFailure.storeUnavailable.error }
        switch outcome {
        case .committed:
            return signed
        case .replayed:
            draft.tokenID = nil
            throw refusals.replayed
        case .subjectDisabled:
            draft.tokenID = nil
            throw refusals.disabled
        }
    }

    /// What a refused issuance reports in its documented place: whether `mark` is present and
    /// `subject` disabled (one read).
    /// - Throws: `ServerFailure.storeUnavailable`.
    func facts(mark: ReplayMark? = nil, subject: SubjectKey) async throws(OAuthError) -> RedemptionFacts {
        do { return try await store.redemptionFacts(mark: mark, subject: subject) } catch { throw ServerFailure.storeUnavailable.error }
    }
}

extension ReasonCode {
    /// The resource is a catalog server whose tokens a third-party authorization server issues.
    public static let thirdPartyResource = ReasonCode("third_party_resource")
    /// The resource's authorization server is not the one named in `audience`.
    public static let resourceNotAtAudience = ReasonCode("resource_not_at_audience")
}
