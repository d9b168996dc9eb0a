import BridgekeeperAudit
import BridgekeeperClientAuth
import BridgekeeperCore
import BridgekeeperKeys
@testable import BridgekeeperGrants
import BridgekeeperPolicy
import BridgekeeperStore
import Foundation
import Testing

/// The jwt-bearer grant's store-free rules as a pure decision (`JWTBearerGrant.decide`): a verified
/// ID-JAG, the request and the access rules (catalog, client registration, policy) give the server
/// and scope, or the refusal with its wire code, audited reason and place in the documented order.
/// The HTTP tests (ValidationOrderTests, JWTBearerValidationTests) cover the same rules end to end.
@Suite("jwt-bearer decisions")
struct JWTBearerDecisionTests {
    static let issuer = "https://idp.example.com"
    static let github = MCPServer(
        name: "github", resource: try! ResourceURI("https://mcp.example.com/github"), displayName: "GitHub",
        tools: [
            Tool(name: "search_issues", category: .read),
            Tool(name: "create_issue", category: .write),
            Tool(name: "delete_repo", category: .destructive),
        ])
    static let jira = MCPServer(
        name: "jira", resource: try! ResourceURI("https://mcp.example.com/jira"), displayName: "Jira",
        tools: [Tool(name: "search", category: .read)])
    static let source = AttributeSource(idp: "corp", issuers: [issuer])
    static let policy = Policy(rules: [
        PolicyRule(id: "eng", effect: .allow, subjects: .anyOf(groups: ["engineering"], roles: []), source: source,
                   servers: .all, categories: [.read, .write]),
        PolicyRule(id: "no-contractor-writes", effect: .deny, subjects: .anyOf(groups: ["contractors"], roles: []), source: source,
                   servers: .all, categories: [.write]),
    ])
    static let client = AuthenticatedClient(id: "agent-app", method: .clientSecretBasic)

    static func access(servers: [MCPServer] = [github, jira], clientResources: [ResourceURI] = [github.resource, jira.resource]) -> AccessRules {
        let registration = ClientRegistration(id: "agent-app", credential: .secret(try! SecretHash(encoded: SecretHash.generate().encoded)),
                                              grantTypes: [JWTBearerGrant.grantType], resources: clientResources)
        return AccessRules(catalog: Catalog(servers: servers), policy: policy,
                           registration: { $0 == "agent-app" ? registration : nil })
    }

    /// An ID-JAG as the verifier would hand it over, for `alice` in `groups`.
    static func idjag(clientID: String = "agent-app", groups: [String] = ["engineering"], resources: [String] = ["https://mcp.example.com/github"],
                      scope: Result<Scope?, OAuthError> = .success(nil), tenant: TenantClaim = TenantClaim(value: nil, trusted: true),
                      groupsOverage: String? = nil) -> VerifiedIDJAG {
        let subject = SubjectKey(issuer: issuer, tenant: tenant.value, subject: "alice")
        return VerifiedIDJAG(unchecked: issuer, subject: subject, tenant: tenant, clientID: clientID, jti: "j1",
                             mark: ReplayMark(namespace: .assertion, issuer: issuer, jti: "j1", expiresAt: Date(timeIntervalSince1970: 1_000)),
                             resources: .success(resources.map { try! ResourceURI($0) }), scope: scope,
                             attributes: SubjectAttributes(origin: SubjectOrigin(subject), groups: groups), groupsOverage: groupsOverage,
                             issuedAt: nil, emailHash: nil)
    }

    func decide(_ idjag: VerifiedIDJAG, resource: String? = nil, scope: String? = nil,
                access: AccessRules = Self.access()) throws(JWTBearerGrant.Refusal) -> (JWTBearerGrant.Plan, AuditDraft) {
        var draft = AuditDraft()
        let plan = try JWTBearerGrant.decide(idjag, requestedResource: resource.map { try! ResourceURI($0) },
                                             requestedScope: scope.map { try! Scope(parsing: $0) }, client: Self.client, access: access,
                                             draft: &draft)
        return (plan, draft)
    }

    func refusal(_ idjag: VerifiedIDJAG, resource: String? = nil, scope: String? = nil,
                 access: AccessRules = Self.access()) -> JWTBearerGrant.Refusal? {
        do throws(JWTBearerGrant.Refusal) {
            _ = try decide(idjag, resource: resource, scope: scope, access: access)
            return nil
        } catch { return error }
    }

    @Test("policy grants the engineer's read and write tools on the assertion's one server, recorded in the draft")
    func grants() throws {
        let (plan, draft) = try decide(Self.idjag())
        #expect(plan.server.name == "github")
        #expect(Set(plan.scope.tokens) == ["tool:search_issues", "tool:create_issue"])
        #expect(draft.server == "https://mcp.example.com/github")
        #expect(Set(draft.scopes) == ["tool:search_issues", "tool:create_issue"])
    }

    @Test("scope = requested ∩ assertion ∩ policy")
    func scopeIntersection() throws {
        let (plan, _) = try decide(Self.idjag(scope: .success(try Scope(parsing: "tool:search_issues tool:create_issue"))), scope: "tool:search_issues tool:delete_repo")
        #expect(plan.scope.tokens == ["tool:search_issues"])
    }

    @Test("a deny rule removes what it covers")
    func denyWins() throws {
        let (plan, _) = try decide(Self.idjag(groups: ["engineering", "contractors"]))
        #expect(plan.scope.tokens == ["tool:search_issues"])
    }

    @Test("an assertion issued to another client is invalid_grant, before the subject step")
    func clientMismatch() {
        let r = refusal(Self.idjag(clientID: "other"))
        #expect(r?.error.code == .invalidGrant)
        #expect(r?.error.reason == .assertionClientMismatch)
        #expect(r?.afterSubjectStep == false)
    }

    @Test("a requested resource outside the assertion's is invalid_grant resource_mismatch")
    func resourceMismatch() {
        let r = refusal(Self.idjag(), resource: "https://mcp.example.com/jira")
        #expect(r?.error.code == .invalidGrant)
        #expect(r?.error.reason == .resourceMismatch)
        #expect(r?.afterSubjectStep == false)
    }

    @Test("without resource anywhere: the catalog's only server, else invalid_request resource_required")
    func resourceRequired() throws {
        let (plan, _) = try decide(Self.idjag(resources: []), access: Self.access(servers: [Self.github]))
        #expect(plan.server.name == "github")
        let r = refusal(Self.idjag(resources: []))
        #expect(r?.error.code == .invalidRequest)
        #expect(r?.error.reason == .resourceRequired)
    }

    @Test("a server this client is not registered for is invalid_target")
    func resourceNotAllowedForClient() {
        let r = refusal(Self.idjag(), access: Self.access(clientResources: [Self.jira.resource]))
        #expect(r?.error.code == .invalidTarget)
        #expect(r?.error.reason == .resourceNotAllowedForClient)
    }

    @Test("an untrusted tenant is refused before the subject step; the resource was decided first")
    func tenant() {
        let r = refusal(Self.idjag(tenant: TenantClaim(value: "t9", trusted: false)), resource: "https://mcp.example.com/jira")
        // The resource step comes first: jira is not in the assertion.
        #expect(r?.error.reason == .resourceMismatch)
        let tenant = self.refusal(Self.idjag(tenant: TenantClaim(value: "t9", trusted: false)))
        #expect(tenant?.error.code == .invalidGrant)
        #expect(tenant?.error.reason == .tenantNotAllowed)
        #expect(tenant?.afterSubjectStep == false)
    }

    @Test("nothing matching in policy is invalid_grant with the policy's reason, after the subject step")
    func policyDeny() {
        let r = refusal(Self.idjag(groups: ["marketing"]))
        #expect(r?.error.code == .invalidGrant)
        #expect(r?.error.reason == .noMatchingRule)
        #expect(r?.afterSubjectStep == true)
    }

    @Test("groups left out for size are refused, never decided on a partial list")
    func groupsOverage() {
        let r = refusal(Self.idjag(groupsOverage: "groups"))
        #expect(r?.error.code == .invalidGrant)
        #expect(r?.error.reason == .groupsOverage)
        #expect(r?.afterSubjectStep == true)
    }

    @Test("a malformed assertion scope is refused at the policy step, not at verification")
    func malformedScope() {
        let malformed = OAuthError(.invalidGrant, "assertion scope must be a string", reason: .malformedScope)
        let r = refusal(Self.idjag(scope: .failure(malformed)))
        #expect(r?.error.reason == .malformedScope)
        #expect(r?.afterSubjectStep == true)
        // A refusal that comes earlier in the order wins over it.
        #expect(self.refusal(Self.idjag(clientID: "other", scope: .failure(malformed)))?.error.reason == .assertionClientMismatch)
    }

    @Test("nothing of the requested scope granted is invalid_scope")
    func nothingGranted() {
        let r = refusal(Self.idjag(), scope: "tool:delete_repo")
        #expect(r?.error.code == .invalidScope)
        #expect(r?.error.reason == .noScopeGranted)
    }
}

@Suite("server failures")
struct ServerFailureTests {
    @Test("a store or signing failure is its own case, recognised from what a grant throws; a refusal is not one")
    func roundTrip() {
        #expect(ServerFailure(ServerFailure.storeUnavailable.error) == .storeUnavailable)
        #expect(ServerFailure(ServerFailure.signingUnavailable.error) == .signingUnavailable)
        #expect(ServerFailure(OAuthError(.invalidGrant, "assertion was already used", reason: .assertionReplayed)) == nil)
        // Client authentication's store failure (`invalid_client` code) is one too.
        #expect(ServerFailure(OAuthError(.invalidClient, "could not be recorded", reason: .storeUnavailable)) == .storeUnavailable)
    }
}
