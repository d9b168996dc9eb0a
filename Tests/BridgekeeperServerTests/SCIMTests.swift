import BridgekeeperAudit
import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperRevocation
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import BridgekeeperKeys
import BridgekeeperSignalSettings
import BridgekeeperClientAuth
import BridgekeeperTesting

/// SCIM 2.0 provisioning as real IdPs send it (issue 6): Okta's and Entra's dialects deactivate,
/// delete and re-activate people; group changes narrow what they hold; every deactivation ends
/// every token of the person, with a signed receipt; errors are SCIM error bodies, audited.
@Suite("SCIM service provider: IdP dialects offboard people and narrow groups")
struct SCIMTests: JWTBearerTesting {
    typealias W = OAuthWire
    static let token = "scim-token-0123456789abcdef-okta"
    static let alice = SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice")

    func deployment(groupAttribute: String = "displayName") throws -> TestDeployment {
        let hash = SecretHash.make(secret: Self.token, iterations: 10_000)
        return try TestDeployment(extra: """
            signals:
              scim:
                - name: test-scim
                  idp: test-idp
                  token_hash: "\(hash)"
                  group_attribute: \(groupAttribute)
            """)
    }

    func scim(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, json: String? = nil,
              token: String? = SCIMTests.token, contentType: String = "application/scim+json") async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = contentType }
        return try await client.execute(uri: "/scim/v2" + path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// Okta's create: the Okta user id as externalId, a password (never stored), active.
    static func oktaUser(_ login: String, id: String, active: Bool = true) -> String {
        """
        {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"\(login)","externalId":"\(id)",
         "name":{"givenName":"Alice","familyName":"Doe"},"emails":[{"primary":true,"value":"\(login)","type":"work"}],
         "displayName":"Alice Doe","password":"Sup3r-secret!","active":\(active)}
        """
    }

    func issue(_ client: any TestClientProtocol, _ deployment: TestDeployment, now: Date, resource: String = TestDeployment.githubResource,
               groups: [String] = ["engineering"]) async throws -> TestResponse {
        let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: now, subject: "00u-alice", groups: groups))
        return try await client.exchange(idToken, resource: resource)
    }

    func accessToken(_ response: TestResponse) throws -> String { try #require(response.json?["access_token"]?.stringValue) }

    @Test("Okta: create (password never stored), find by userName, deactivate by replace with no path: every token dies, the user reads back active:false, a signed receipt names the token; repeating changes nothing; re-activation lets them back without their old tokens")
    func oktaLifecycle() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            let created = try await scim(client, .post, "/Users", json: Self.oktaUser("alice@example.com", id: "00u-alice"))
            #expect(created.status == .created, "\(created.text)")
            #expect(created.headers[.contentType] == "application/scim+json")
            let user = try #require(created.json)
            let id = try #require(user["id"]?.stringValue)
            #expect(created.headers[.location] == "\(TestDeployment.issuer)/scim/v2/Users/\(id)")
            #expect(user["password"] == nil, "a password is never stored or returned")
            #expect(user["active"] == .bool(true))
            #expect(!created.text.contains("Sup3r-secret!"))

            let token = try accessToken(try await issue(client, deployment, now: clock.now()))
            W.expectActive(try await W.introspect(client, token))

            // Okta looks the user up before acting.
            let found = try await scim(client, .get, "/Users?filter=userName%20eq%20%22ALICE@example.com%22")
            #expect(found.json?["totalResults"] == .number(JSONNumber(1)), "userName is compared without case: \(found.text)")

            let patch = #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}"#
            let deactivated = try await scim(client, .patch, "/Users/\(id)", json: patch)
            #expect(deactivated.status == .ok, "\(deactivated.text)")
            #expect(deactivated.json?["active"] == .bool(false))
            W.expectInactive(try await W.introspect(client, token))
            #expect(try await server.store.isDisabled(Self.alice))
            let refused = try await issue(client, deployment, now: clock.now())
            #expect(refused.status == .badRequest, "a deactivated person gets nothing new: \(refused.text)")

            // Reads back, by id and by filter, with active:false (Okta's and Entra's validators check).
            #expect(try await scim(client, .get, "/Users/\(id)").json?["active"] == .bool(false))
            let listed = try await scim(client, .get, "/Users?filter=userName%20eq%20%22alice@example.com%22")
            #expect(listed.json?["Resources"]?.arrayValue?.first?.objectValue?["active"] == .bool(false))

            // The receipt: signed by the broker's key, naming the token and the SCIM trigger.
            let receipts = try await server.store.receipts(of: Self.alice)
            #expect(receipts.count == 1)
            let receipt = try #require(receipts.first)
            let claims = try ReceiptVerifier.verify(receipt.jws, issuer: TestDeployment.issuer, keys: server.keys.snapshot.published, now: clock.now())
            let jti = try #require(try W.claims(of: token)["jti"]?.stringValue)
            #expect(claims.object["tokens_revoked"]?.arrayValue?.compactMap { $0.objectValue?["jti"]?.stringValue } == [jti])
            #expect(claims.object["trigger"]?.objectValue?["source"] == "scim")
            #expect(claims.object["trigger"]?.objectValue?["event"] == "scim:user-deactivated")
            #expect(claims.object["disabled"] == .bool(true))

            // Idempotent: Okta retries; nothing more happens.
            #expect(try await scim(client, .patch, "/Users/\(id)", json: patch).status == .ok)
            #expect(try await server.store.receipts(of: Self.alice).count == 1)

            // Okta's AIW apps re-activate with a full PUT, later (at the same instant the
            // deactivation would win: StatusOrder).
            clock.advance(1)
            let replaced = try await scim(client, .put, "/Users/\(id)", json: Self.oktaUser("alice@example.com", id: "00u-alice", active: true))
            #expect(replaced.status == .ok, "\(replaced.text)")
            #expect(try await !server.store.isDisabled(Self.alice))
            W.expectInactive(try await W.introspect(client, token))
            let again = try await issue(client, deployment, now: clock.now().addingTimeInterval(2))
            #expect(again.status == .ok, "re-activated: new tokens again: \(again.text)")

            let trail = try await auditTrail(server)
            #expect(trail.contains { $0.event.reason == .subjectOffboarded && $0.event.performedBy == "scim:test-scim" })
            #expect(trail.contains { $0.event.reason == .subjectEnabled && $0.event.performedBy == "scim:test-scim" })
        }
    }

    @Test("Entra: PascalCase op, path active and the string \"False\" deactivate; emails[type eq \"work\"].value is patched; DELETE offboards and the user is gone (404)")
    func entraDialect() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            let id = try #require(try await scim(client, .post, "/Users", json: Self.oktaUser("alice@example.com", id: "00u-alice")).json?["id"]?.stringValue)
            let token = try accessToken(try await issue(client, deployment, now: clock.now()))

            let email = #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"alice.doe@example.com"}]}"#
            let patched = try await scim(client, .patch, "/Users/\(id)", json: email)
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(patched.json?["emails"]?.arrayValue?.first?.objectValue?["value"] == "alice.doe@example.com")
            W.expectActive(try await W.introspect(client, token))

            let entra = #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}"#
            let deactivated = try await scim(client, .patch, "/Users/\(id)", json: entra, contentType: "application/json")
            #expect(deactivated.status == .ok, "\(deactivated.text)")
            #expect(deactivated.json?["active"] == .bool(false))
            W.expectInactive(try await W.introspect(client, token))

            let deleted = try await scim(client, .delete, "/Users/\(id)")
            #expect(deleted.status == .noContent)
            #expect(try await scim(client, .get, "/Users/\(id)").status == .notFound)
            #expect(try await scim(client, .delete, "/Users/\(id)").status == .notFound)
            #expect(try await server.store.isDisabled(Self.alice))
            // Deactivation and deletion each produced a receipt.
            #expect(try await server.store.receipts(of: Self.alice).count == 2)
        }
    }

    @Test("group membership: removing a person from a group revokes exactly the tokens that now exceed policy and records their groups; re-adding feeds the next issuance")
    func groupNarrowing() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            let id = try #require(try await scim(client, .post, "/Users", json: Self.oktaUser("alice@example.com", id: "00u-alice")).json?["id"]?.stringValue)
            let group = try await scim(client, .post, "/Groups", json: """
                {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"engineering","members":[{"value":"\(id)"}]}
                """)
            #expect(group.status == .created, "\(group.text)")
            let groupID = try #require(group.json?["id"]?.stringValue)
            #expect(try await server.store.attributes(of: Self.alice)?.attributes.groups == ["engineering"])
            #expect(try await scim(client, .get, "/Users/\(id)").json?["groups"]?.arrayValue?.first?.objectValue?["display"] == "engineering")

            let github = try accessToken(try await issue(client, deployment, now: clock.now()))
            let notion = try accessToken(try await issue(client, deployment, now: clock.now(), resource: TestDeployment.notionResource))

            // Okta removes a member with a value filter in the path.
            let remove = #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"\#(id)\"]"}]}"#
            let removed = try await scim(client, .patch, "/Groups/\(groupID)", json: remove)
            #expect(removed.status == .ok, "\(removed.text)")
            #expect(removed.json?["members"] == .array([]))
            W.expectInactive(try await W.introspect(client, github))
            W.expectActive(try await W.introspect(client, notion))
            #expect(try await server.store.attributes(of: Self.alice)?.attributes.groups == [])
            #expect(try await !server.store.isDisabled(Self.alice), "a group change narrows; it never offboards")
            let trail = try await auditTrail(server)
            #expect(trail.contains { $0.event.reason == .subjectRightsNarrowed && $0.event.performedBy == "scim:test-scim" })

            // Entra adds members back with a value array.
            let add = #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"value":"\#(id)"}]}]}"#
            #expect(try await scim(client, .patch, "/Groups/\(groupID)", json: add).status == .ok)
            #expect(try await server.store.attributes(of: Self.alice)?.attributes.groups == ["engineering"])
        }
    }

    @Test("bad requests get SCIM error bodies with the right status and scimType, each audited: no or wrong token 401, unsupported filter 400 invalidFilter, duplicate userName 409 uniqueness, bad PATCH 400, wrong media type 415, unknown id 404")
    func errors() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            func expectError(_ response: TestResponse, _ status: HTTPResponse.Status, scimType: String?, reason: ReasonCode,
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
                #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
                let body = try #require(response.json, sourceLocation: sourceLocation)
                #expect(body["schemas"] == .array(["urn:ietf:params:scim:api:messages:2.0:Error"]), sourceLocation: sourceLocation)
                #expect(body["status"] == .string(String(status.code)), sourceLocation: sourceLocation)
                #expect(body["scimType"]?.stringValue == scimType, sourceLocation: sourceLocation)
                #expect(response.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
                #expect(try await auditTrail(server).last?.event.reason == reason, sourceLocation: sourceLocation)
            }
            let missing = try await scim(client, .get, "/Users", token: nil)
            try await expectError(missing, .unauthorized, scimType: nil, reason: .scimUnauthorized)
            #expect(missing.headers[HTTPField.Name("WWW-Authenticate")!]?.hasPrefix("Bearer") == true)
            try await expectError(try await scim(client, .get, "/Users", token: "not-the-token"), .unauthorized, scimType: nil, reason: .scimUnauthorized)
            try await expectError(try await scim(client, .get, "/Users?filter=nickName%20co%20%22x%22"), .badRequest, scimType: "invalidFilter",
                                  reason: .scimInvalidFilter)
            #expect(try await scim(client, .post, "/Users", json: Self.oktaUser("alice@example.com", id: "00u-alice")).status == .created)
            try await expectError(try await scim(client, .post, "/Users", json: Self.oktaUser("Alice@Example.com", id: "00u-other")), .conflict,
                                  scimType: "uniqueness", reason: .scimConflict)
            try await expectError(try await scim(client, .post, "/Users", json: #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}"#),
                                  .badRequest, scimType: "invalidValue", reason: .scimInvalidValue)
            let id = try #require(try await scim(client, .get, "/Users").json?["Resources"]?.arrayValue?.first?.objectValue?["id"]?.stringValue)
            try await expectError(try await scim(client, .patch, "/Users/\(id)", json: #"{"Operations":[{"op":"replace","value":{"active":false}}]}"#),
                                  .badRequest, scimType: "invalidSyntax", reason: .scimInvalidPatch)
            try await expectError(try await scim(client, .patch, "/Users/\(id)",
                                                 json: #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"id","value":"x"}]}"#),
                                  .badRequest, scimType: "mutability", reason: .scimInvalidPatch)
            try await expectError(try await scim(client, .post, "/Users", json: "{}", contentType: "text/plain"), .unsupportedMediaType, scimType: nil,
                                  reason: .scimInvalidRequest)
            try await expectError(try await scim(client, .post, "/Users", json: "{not json"), .badRequest, scimType: "invalidSyntax",
                                  reason: .scimInvalidRequest)
            try await expectError(try await scim(client, .get, "/Users/nope"), .notFound, scimType: nil, reason: .scimNotFound)
            #expect(try await !server.store.isDisabled(Self.alice), "no refused request changed anyone")

            // Discovery answers with the service provider's real capabilities.
            let config = try await scim(client, .get, "/ServiceProviderConfig")
            #expect(config.json?["patch"]?.objectValue?["supported"] == .bool(true))
            #expect(config.json?["bulk"]?.objectValue?["supported"] == .bool(false))
            #expect(try await scim(client, .get, "/ResourceTypes").json?["totalResults"] == .number(JSONNumber(2)))
            #expect(try await scim(client, .get, "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json?["name"] == "User")
        }
    }

    @Test("the issue's three filter bugs: `or` is a logical operator, not part of the value; an invalid JSON escape is invalidFilter; `members[value eq \"x\" or 1 eq 1]` in a PATCH path is invalidPath and changes nothing")
    func reportedFilterBugs() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            let alice = try #require(try await scim(client, .post, "/Users", json: Self.oktaUser("alice@example.com", id: "00u-alice")).json?["id"]?.stringValue)
            #expect(try await scim(client, .post, "/Users", json: Self.oktaUser("bob@example.com", id: "00u-bob")).status == .created)
            #expect(try await scim(client, .post, "/Users", json: Self.oktaUser("carol@example.com", id: "00u-carol")).status == .created)

            // 1. `or` joins two expressions (it used to be read as part of the value: zero results).
            let either = try await scim(client, .get, "/Users?filter=" + Self.query(#"userName eq "alice@example.com" or userName eq "BOB@example.com""#))
            #expect(either.status == .ok, "\(either.text)")
            #expect(either.json?["totalResults"] == .number(JSONNumber(2)), "\(either.text)")
            let names = Set((either.json?["Resources"]?.arrayValue ?? []).compactMap { $0.objectValue?["userName"]?.stringValue })
            #expect(names == ["alice@example.com", "bob@example.com"])

            // 2. `\q` is not a JSON escape: refused, audited (it used to be accepted as a literal).
            let escape = try await scim(client, .get, "/Users?filter=" + Self.query(#"userName eq "alice\q@example.com""#))
            #expect(escape.status == .badRequest, "\(escape.text)")
            #expect(escape.json?["scimType"] == "invalidFilter")
            #expect(try await auditTrail(server).last?.event.reason == .scimInvalidFilter)

            // 3. `1` is not an attribute path: the whole path is refused and the member stays.
            let group = try await scim(client, .post, "/Groups", json: """
                {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"engineering","members":[{"value":"\(alice)"}]}
                """)
            let groupID = try #require(group.json?["id"]?.stringValue)
            let sneaky = #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"x\" or 1 eq 1]"}]}"#
            let refused = try await scim(client, .patch, "/Groups/\(groupID)", json: sneaky)
            #expect(refused.status == .badRequest, "\(refused.text)")
            #expect(refused.json?["scimType"] == "invalidPath")
            #expect(try await auditTrail(server).last?.event.reason == .scimInvalidPatch)
            let members = try await scim(client, .get, "/Groups/\(groupID)").json?["members"]?.arrayValue ?? []
            #expect(members.compactMap { $0.objectValue?["value"]?.stringValue } == [alice])
        }
    }

    /// `text` percent-encoded for a query string.
    static func query(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    @Test("a signal acknowledged before a crash and never processed is processed at start-up, before the first request: the person is offboarded with a receipt")
    func pendingWorkResumesAtStartUp() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        // The crash: the inbox holds the signal (it was durable before the IdP got its answer) but
        // the process died before the revocation.
        let path = try deployment.configuration().databasePath
        let store = try await SQLiteStore.open(path: path)
        let signal = InboundSignal(id: "sig_crashed", source: .scim, connection: "test-scim", externalID: nil, event: "scim:user-deactivated",
                                   subject: Self.alice, action: .offboard, receivedAt: clock.now())
        #expect(try await store.receive(signal, audit: signal.receivedEvent) == .accepted)
        #expect(try await store.pendingSignals(limit: 10).map(\.id) == ["sig_crashed"])
        await store.close()

        try await withServer(deployment, clock: clock) { client, server in
            #expect(try await server.store.isDisabled(Self.alice))
            #expect(try await server.store.pendingSignals(limit: 10).isEmpty)
            #expect(try await server.store.signal(id: "sig_crashed")?.completedAt != nil)
            let receipt = try #require(try await server.store.receipts(of: Self.alice).first)
            #expect(receipt.signalID == "sig_crashed")
            let refused = try await issue(client, deployment, now: clock.now())
            #expect(refused.status == .badRequest)
        }
    }
}
