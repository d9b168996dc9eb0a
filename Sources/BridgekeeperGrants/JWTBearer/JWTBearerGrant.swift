public import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperStore
import Foundation
import BridgekeeperClientAuth

/// The JWT bearer grant (RFC 7523 §2.1) whose assertion is an ID-JAG (draft-ietf-oauth-identity-
/// assertion-authz-grant §4.4; MCP EMA §5), redeemed for an access token for one MCP server.
///
/// Validation runs in one fixed order (docs/architecture.md, pinned by tests): request shape →
/// assertion size and shape → `typ` → `alg` not none → `iss` not Bridgekeeper's own (its issuer or
/// bridge issuer) → `alg` allowed → trusted `iss` → `alg` on that IdP's list →
/// key by `kid` from the IdP's JWKS → signature → required claims → `iss`, `aud` (our issuer,
/// string or one-element array) → `exp`/`nbf`/`iat` with leeway → lifetime cap → no `cnf` or
/// `authorization_details` (unsupported, never ignored) → `jti` unused →
/// `client_id` = the authenticated client → `resource` a catalog server this client may use →
/// tenant trusted → subject not disabled → policy → scope → mint → commit (replay mark, token,
/// audit in one transaction) → response.
///
/// - Throws: `invalid_request` for missing or malformed parameters; `invalid_grant` for every
///   assertion failure, a replay, a client or resource mismatch, a disabled subject or a policy
///   deny; `invalid_target` for an unknown resource or one the client may not use; `invalid_scope`
///   when nothing of the requested scope is granted.
public struct JWTBearerGrant: Grant {
    public static let grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    public static let parameters: Set<String> = ["assertion", "scope", "resource"]
    public static let repeatable: Set<String> = ["resource"]

    let deps: GrantDependencies

    public init(_ deps: GrantDependencies) { self.deps = deps }

    public func issue(_ request: TokenRequest, for client: AuthenticatedClient, draft: inout AuditDraft) async throws(OAuthError) -> TokenResponse {
        let form = request.form
        draft.principal = .human

        // Request shape.
        let assertion = try form.required("assertion")
        let requestedScope = try form.value("scope").map { text throws(OAuthError) in try Scope(parsing: text) }
        let requestedResources = form.values("resource")
        guard requestedResources.count <= 1 else {
            throw OAuthError(.invalidTarget, "an access token is for one MCP server: send one resource", reason: .malformedResource)
        }
        let requestedResource = try requestedResources.first.map { text throws(OAuthError) in try ResourceURI(text) }

        // The assertion, through `jti` (the verifier's steps).
        let now = deps.clock.now()
        let idjag = try await deps.verifier.verifyIDJAG(assertion, now: now, draft: &draft)
        draft.emailHash = idjag.emailHash ?? draft.emailHash
        draft.subject = idjag.subject.subject
        draft.assertionID = idjag.jti

        // The steps after `jti` that need no store run first. The store's answers (mark present,
        // subject disabled) are then taken where the documented order puts them: on the way to an
        // issuance, inside the commit itself (one transaction, no window between check and write);
        // on the way to a refusal, from one read, so a replay is still reported as a replay.
        let plan: Plan
        do throws(Refusal) {
            plan = try Self.decide(idjag, requestedResource: requestedResource, requestedScope: requestedScope, client: client,
                                   access: deps.access, draft: &draft)
        } catch {
            let facts = try await deps.issuance.facts(mark: idjag.mark, subject: idjag.subject)
            if facts.markPresent { throw Self.replayed }
            if error.afterSubjectStep, facts.subjectDisabled { throw Self.subjectDisabled }
            throw error.error
        }

        // Mint, then commit the mark, the token and the audit record together, unless the mark is
        // present or the subject disabled.
        let claims = deps.issuance.minter.claims(subject: idjag.subject, principal: .human, audience: plan.server.resource.canonical,
                                                 clientID: client.id, scope: plan.scope, now: now)
        let token = try await deps.issuance.issue(.accessToken(claims), marks: [idjag.mark], unlessDisabled: idjag.subject, audit: .issued,
                                                  now: now, refusals: .init(replayed: Self.replayed, disabled: Self.subjectDisabled),
                                                  draft: &draft)
        await deps.noteOwnerAttributes(idjag.attributes, of: idjag.subject, issuedAt: idjag.issuedAt, now: now)
        return TokenResponse(accessToken: token, expiresIn: Int(deps.issuance.minter.lifetime), scope: plan.scope.description)
    }

    static let replayed = OAuthError(.invalidGrant, "assertion was already used", reason: .assertionReplayed)
    static let subjectDisabled = OAuthError(.invalidGrant, "the subject is disabled", reason: .subjectDisabled)

    /// What the store-free steps decided: the one server and the scope to grant.
    struct Plan {
        let server: MCPServer
        let scope: Scope
    }

    /// A store-free step's refusal, and whether that step comes after "subject not disabled" in
    /// the documented order (then a disabled subject is reported first).
    struct Refusal: Error {
        let error: OAuthError
        let afterSubjectStep: Bool
    }

    /// The steps after `jti` that need no store, in their documented order: `client_id`, resource,
    /// tenant, (subject not disabled: the store's), policy, scope. A pure decision: a verified
    /// ID-JAG, the request and the access rules give the server and scope, or the refusal.
    static func decide(_ idjag: VerifiedIDJAG, requestedResource: ResourceURI?, requestedScope: Scope?, client: AuthenticatedClient,
                       access: AccessRules, draft: inout AuditDraft) throws(Refusal) -> Plan {
        // Bound to the authenticated client.
        guard idjag.clientID.isExactly(client.id) else {
            throw Refusal(error: OAuthError(.invalidGrant, "assertion was issued to another client", reason: .assertionClientMismatch),
                          afterSubjectStep: false)
        }

        // The one MCP server: the request's resource within the assertion's, in the catalog, for this client.
        let server: MCPServer
        do throws(OAuthError) {
            server = try resolveServer(requested: requestedResource, granted: try idjag.resources.get(), client: client, access: access)
        } catch {
            throw Refusal(error: error, afterSubjectStep: false)
        }
        draft.server = server.resource.canonical

        // Tenant.
        guard idjag.tenant.trusted else {
            throw Refusal(error: OAuthError(.invalidGrant, "assertion tenant is not trusted", reason: .tenantNotAllowed),
                          afterSubjectStep: false)
        }
        draft.tenant = idjag.tenant.value

        // Policy, then scope = requested ∩ assertion ∩ policy.
        do throws(OAuthError) {
            let assertionScope = try idjag.scope.get()
            let scope = try access.grantedScope(attributes: idjag.attributes, groupsOverage: idjag.groupsOverage, server: server,
                                                requested: requestedScope, assertion: assertionScope, denial: .invalidGrant)
            draft.scopes = scope.tokens
            return Plan(server: server, scope: scope)
        } catch {
            throw Refusal(error: error, afterSubjectStep: true)
        }
    }

    private static func resolveServer(requested: ResourceURI?, granted: [ResourceURI], client: AuthenticatedClient,
                                      access: AccessRules) throws(OAuthError) -> MCPServer {
        let target: ResourceURI
        if let requested {
            guard granted.isEmpty || granted.contains(requested) else {
                throw OAuthError(.invalidGrant, "resource is not one the assertion was issued for", reason: .resourceMismatch)
            }
            target = requested
        } else if granted.count == 1 {
            target = granted[0]
        } else if granted.isEmpty, access.catalog.servers.count == 1 {
            target = access.catalog.servers[0].resource
        } else {
            throw OAuthError(.invalidRequest, "name the MCP server with the resource parameter", reason: .resourceRequired)
        }
        return try access.catalogServer(target, for: client)
    }
}

extension ReasonCode {
    /// No signing key is active (or OpenSSL failed to sign); answered 500 without detail.
    public static let signingUnavailable = ReasonCode("signing_unavailable")
}
