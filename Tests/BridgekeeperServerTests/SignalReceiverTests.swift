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
import BridgekeeperClientAuth
import BridgekeeperTesting

/// The Shared Signals push receiver (RFC 8935, SSF 1.0) and the Okta Event Hooks receiver over HTTP
/// (issue 6): each event and subject format acts on the right person, each malformed or forged
/// delivery gets its precise error, audited; retries are deduplicated.
@Suite("Signal receivers: Shared Signals push and Okta Event Hooks")
struct SignalReceiverTests: JWTBearerTesting {
    typealias W = OAuthWire
    static let transmitter = "https://transmitter.test.example"
    static let push = "Bearer ssf-push-0123456789abcdef"
    static let hookSecret = "okta-hook-secret-0123456789abcdef"
    static let scimToken = "scim-token-for-signal-tests-0123"
    static let alice = SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice")
    static let caep = "https://schemas.openid.net/secevent/caep/event-type/"
    static let risc = "https://schemas.openid.net/secevent/risc/event-type/"

    let key: SigningKey
    let stranger: SigningKey

    init() throws {
        key = try SigningKey.generate(.rs256, keyID: "ssf-1")
        stranger = try SigningKey.generate(.rs256, keyID: "ssf-1")
    }

    func deployment() throws -> TestDeployment {
        let deployment = try TestDeployment(extra: """
            signals:
              scim:
                - name: test-scim
                  idp: test-idp
                  token_hash: "\(SecretHash.make(secret: Self.scimToken, iterations: 10_000))"
              ssf:
                - name: test-ssf
                  idp: test-idp
                  issuer: \(Self.transmitter)
                  jwks_file: ssf-jwks.json
                  push_authorization_hash: "\(SecretHash.make(secret: Self.push, iterations: 10_000))"
              okta_event_hooks:
                - name: test-okta
                  idp: test-idp
                  header: X-Bridgekeeper-Hook
                  secret_hash: "\(SecretHash.make(secret: Self.hookSecret, iterations: 10_000))"
            """)
        try deployment.write("ssf-jwks.json", JSONValue.object(JSONObject(["keys": .array([.object(try key.publicJWK())])])).serialized())
        return deployment
    }

    /// A SET as SSF 1.0 §4.1 profiles it.
    func set(_ event: String, _ payload: JSONObject = JSONObject(), subject: JSONObject = JSONObject(["format": "iss_sub", "iss": .string(TestIdP.issuer), "sub": "00u-alice"]),
             now: Date, jti: String = SecureRandom.identifier(), typ: String = "secevent+jwt", signer: SigningKey? = nil,
             change: (inout JSONObject) -> Void = { _ in }) throws -> String {
        var claims = JSONObject([
            "iss": .string(Self.transmitter), "aud": .string(TestDeployment.issuer), "jti": .string(jti),
            "iat": .number(JSONNumber(Int64(now.timeIntervalSince1970))), "sub_id": .object(subject),
            "events": .object(JSONObject([event: .object(payload)])),
        ])
        change(&claims)
        return try (signer ?? key).signJWT(type: typ, claims: claims)
    }

    func deliver(_ client: any TestClientProtocol, _ set: String, authorization: String? = SignalReceiverTests.push,
                 contentType: String = "application/secevent+jwt") async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: contentType]
        if let authorization { headers[.authorization] = authorization }
        return try await client.execute(uri: "/signals/ssf/test-ssf", method: .post, headers: headers, body: ByteBuffer(string: set))
    }

    func token(_ client: any TestClientProtocol, _ deployment: TestDeployment, now: Date, resource: String = TestDeployment.githubResource) async throws -> String {
        let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: now, subject: "00u-alice", groups: ["engineering"]))
        let response = try await client.exchange(idToken, resource: resource)
        return try #require(response.json?["access_token"]?.stringValue, "\(response.text)")
    }

    @Test("CAEP session-revoked (iss_sub) revokes every token without disabling; a redelivered jti does nothing more; RISC account-disabled (opaque) offboards and account-enabled lets the person back without their tokens")
    func sessionRevokedAndAccountLifecycle() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            let first = try await token(client, deployment, now: clock.now())
            let revoked = try set(Self.caep + "session-revoked", now: clock.now(), jti: "set-1")
            let accepted = try await deliver(client, revoked)
            #expect(accepted.status == .accepted, "\(accepted.text)")
            W.expectInactive(try await W.introspect(client, first))
            #expect(try await !server.store.isDisabled(Self.alice))
            let receipts = try await server.store.receipts(of: Self.alice)
            #expect(receipts.count == 1)
            let claims = try ReceiptVerifier.verify(try #require(receipts.first).jws, issuer: TestDeployment.issuer,
                                                    keys: server.keys.snapshot.published, now: clock.now())
            #expect(claims.object["action"] == "revoke_sessions")
            #expect(claims.object["trigger"]?.objectValue?["external_id"] == "set-1")

            // The transmitter retries: 202 again, nothing done twice.
            #expect(try await deliver(client, revoked).status == .accepted)
            #expect(try await server.store.receipts(of: Self.alice).count == 1)

            clock.advance(2)
            let second = try await token(client, deployment, now: clock.now())
            W.expectActive(try await W.introspect(client, second))
            let disabled = try set(Self.risc + "account-disabled", JSONObject(["reason": "hijacking"]),
                                   subject: JSONObject(["format": "opaque", "id": "00u-alice"]), now: clock.now())
            #expect(try await deliver(client, disabled).status == .accepted)
            W.expectInactive(try await W.introspect(client, second))
            #expect(try await server.store.isDisabled(Self.alice))

            clock.advance(2)
            #expect(try await deliver(client, try set(Self.risc + "account-enabled", now: clock.now())).status == .accepted)
            #expect(try await !server.store.isDisabled(Self.alice))
            W.expectInactive(try await W.introspect(client, second))
            _ = try await token(client, deployment, now: clock.now())
            let trail = try await auditTrail(server)
            #expect(trail.contains { $0.event.reason == .subjectOffboarded && $0.event.performedBy == "ssf:test-ssf" })
        }
    }

    @Test("subject formats: email (known through SCIM), complex (user + tenant), an unknown email is accepted and recorded; token-claims-change narrows; credential-change create and a verification event ask nothing")
    func subjectFormatsAndEvents() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            // Alice is provisioned, so her email is known.
            let user = #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice","externalId":"00u-alice","emails":[{"value":"Alice@Example.com","primary":true}]}"#
            let created = try await client.execute(uri: "/scim/v2/Users", method: .post,
                                                   headers: [.authorization: "Bearer \(Self.scimToken)", .contentType: "application/scim+json"],
                                                   body: ByteBuffer(string: user))
            #expect(created.status == .created, "\(created.text)")

            let github = try await token(client, deployment, now: clock.now())
            let notion = try await token(client, deployment, now: clock.now(), resource: TestDeployment.notionResource)
            // Groups now exclude engineering: the github token exceeds policy, the notion one does not.
            let claimsChange = try set(Self.caep + "token-claims-change", JSONObject(["claims": .object(JSONObject(["groups": .array(["sales"])]))]),
                                       subject: JSONObject(["format": "email", "email": "alice@example.com"]), now: clock.now())
            #expect(try await deliver(client, claimsChange).status == .accepted)
            W.expectInactive(try await W.introspect(client, github))
            W.expectActive(try await W.introspect(client, notion))
            #expect(try await server.store.attributes(of: Self.alice)?.attributes.groups == ["sales"])

            let nothing = try set(Self.caep + "credential-change", JSONObject(["credential_type": "fido2-roaming", "change_type": "create"]), now: clock.now())
            #expect(try await deliver(client, nothing).status == .accepted)
            #expect(try await auditTrail(server).last?.event.reason == .ssfEventIgnored)
            let verification = try set("https://schemas.openid.net/secevent/ssf/event-type/verification", JSONObject(["state": "abc"]),
                                       subject: JSONObject(["format": "opaque", "id": "stream-1"]), now: clock.now())
            #expect(try await deliver(client, verification).status == .accepted)
            #expect(try await auditTrail(server).last?.event.reason == .ssfVerification)
            W.expectActive(try await W.introspect(client, notion))

            let unknown = try set(Self.risc + "account-disabled", subject: JSONObject(["format": "email", "email": "nobody@example.com"]), now: clock.now())
            #expect(try await deliver(client, unknown).status == .accepted)
            #expect(try await auditTrail(server).last?.event.reason == .ssfSubjectUnknown)
            #expect(try await !server.store.isDisabled(Self.alice))

            let complex = try set(Self.risc + "account-purged", subject: JSONObject([
                "format": "complex", "user": .object(JSONObject(["format": "iss_sub", "iss": .string(TestIdP.issuer), "sub": "00u-alice"])),
            ]), now: clock.now())
            #expect(try await deliver(client, complex).status == .accepted)
            #expect(try await server.store.isDisabled(Self.alice))
            W.expectInactive(try await W.introspect(client, notion))
            // A complex subject in another tenant is no one of ours.
            let otherTenant = try set(Self.risc + "account-enabled", subject: JSONObject([
                "format": "complex", "user": .object(JSONObject(["format": "opaque", "id": "00u-alice"])),
                "tenant": .object(JSONObject(["format": "opaque", "id": "other-tenant"])),
            ]), now: clock.now())
            #expect(try await deliver(client, otherTenant).status == .accepted)
            #expect(try await server.store.isDisabled(Self.alice))
        }
    }

    @Test("each malformed or forged push gets RFC 8935's 400 err (or 401 authentication_failed), audited, and changes nothing")
    func pushErrors() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            let live = try await token(client, deployment, now: clock.now())
            let event = Self.caep + "session-revoked"
            func expectErr(_ response: TestResponse, _ err: String, _ reason: ReasonCode, status: HTTPResponse.Status = .badRequest,
                           sourceLocation: SourceLocation = #_sourceLocation) async throws {
                #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
                #expect(response.json?["err"]?.stringValue == err, "\(response.text)", sourceLocation: sourceLocation)
                #expect(try await auditTrail(server).last?.event.reason == reason, sourceLocation: sourceLocation)
            }
            let good = try set(event, now: clock.now())
            try await expectErr(try await deliver(client, good, authorization: nil), "authentication_failed", .ssfAuthenticationFailed, status: .unauthorized)
            try await expectErr(try await deliver(client, good, authorization: "Bearer wrong"), "authentication_failed", .ssfAuthenticationFailed, status: .unauthorized)
            try await expectErr(try await deliver(client, good, contentType: "application/json"), "invalid_request", .ssfInvalidRequest)
            try await expectErr(try await deliver(client, try set(event, now: clock.now(), typ: "JWT")), "invalid_request", .ssfInvalidRequest)
            try await expectErr(try await deliver(client, try set(event, now: clock.now(), signer: stranger)), "invalid_key", .ssfInvalidKey)
            try await expectErr(try await deliver(client, try set(event, now: clock.now()) { $0["iss"] = "https://evil.example" }),
                                "invalid_issuer", .ssfInvalidIssuer)
            try await expectErr(try await deliver(client, try set(event, now: clock.now()) { $0["aud"] = "https://other.example" }),
                                "invalid_audience", .ssfInvalidAudience)
            try await expectErr(try await deliver(client, try set(event, now: clock.now()) { $0["sub_id"] = nil }), "invalid_request", .ssfInvalidRequest)
            try await expectErr(try await deliver(client, try set(event, now: clock.now()) { $0["sub"] = "00u-alice" }), "invalid_request",
                                .ssfInvalidRequest)
            try await expectErr(try await deliver(client, try set(event, now: clock.now()) {
                $0["exp"] = .number(JSONNumber(Int64(clock.now().timeIntervalSince1970) + 60))
            }), "invalid_request", .ssfInvalidRequest)
            try await expectErr(try await deliver(client, "not.a.set"), "invalid_request", .ssfInvalidRequest)
            W.expectActive(try await W.introspect(client, live))
            #expect(try await server.store.receipts(of: Self.alice).isEmpty)
        }
    }

    @Test("a SET whose event payload is not a JSON object (RFC 8417 §2.2) is refused with invalid_request and nothing of it is acted on",
          arguments: [JSONValue.string("revoke"), .array([]), .null, .number(JSONNumber(1))])
    func eventPayloadNotAnObject(payload: JSONValue) async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            let live = try await token(client, deployment, now: clock.now())
            // Two events: a well-formed account-disabled, and a session-revoked whose payload is not an object.
            let set = try set(Self.risc + "account-disabled", subject: JSONObject(["format": "opaque", "id": "00u-alice"]), now: clock.now()) {
                $0["events"] = .object(JSONObject([Self.risc + "account-disabled": .object(JSONObject()), Self.caep + "session-revoked": payload]))
            }
            let response = try await deliver(client, set)
            #expect(response.status == .badRequest, "\(response.text)")
            #expect(response.json?["err"]?.stringValue == "invalid_request", "\(response.text)")
            #expect(try await auditTrail(server).last?.event.reason == .ssfEventPayloadInvalid)
            W.expectActive(try await W.introspect(client, live))
            #expect(try await server.store.receipts(of: Self.alice).isEmpty)
            // An empty events object is refused too.
            let empty = try self.set(Self.caep + "session-revoked", now: clock.now()) { $0["events"] = .object(JSONObject()) }
            #expect(try await deliver(client, empty).status == .badRequest)
            W.expectActive(try await W.introspect(client, live))
        }
    }

    @Test("late SETs apply by event time: an enable older than the disable in force changes nothing (signal_superseded); a newer one enables; a late disable older than that enable revokes but leaves the person enabled")
    func lateSignalsByEventTime() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        let opaque = JSONObject(["format": "opaque", "id": "00u-alice"])
        @Sendable func at(_ offset: TimeInterval) -> JSONObject {
            JSONObject(["event_timestamp": .number(JSONNumber(Int64(jwtBearerStart.addingTimeInterval(offset).timeIntervalSince1970)))])
        }
        try await withServer(deployment, clock: clock) { client, server in
            clock.advance(60)
            // The IdP disabled Alice at +30 s, after enabling her at +10 s; the enable arrives last.
            let disable = try set(Self.risc + "account-disabled", at(30), subject: opaque, now: clock.now())
            #expect(try await deliver(client, disable).status == .accepted)
            #expect(try await server.store.isDisabled(Self.alice))
            clock.advance(5)
            let lateEnable = try set(Self.risc + "account-enabled", at(10), subject: opaque, now: clock.now())
            #expect(try await deliver(client, lateEnable).status == .accepted)
            #expect(try await server.store.isDisabled(Self.alice), "an enable older than the disable in force must not enable")
            #expect(try await auditTrail(server).last?.event.reason == .signalSuperseded)
            #expect(try await client.exchange(try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now(), subject: "00u-alice",
                                                                                                groups: ["engineering"])),
                                              resource: TestDeployment.githubResource).status == .badRequest)

            // Without event_timestamp the SET's iat counts: a newer enable lets her back.
            clock.advance(10)
            #expect(try await deliver(client, try set(Self.risc + "account-enabled", subject: opaque, now: clock.now())).status == .accepted)
            #expect(try await !server.store.isDisabled(Self.alice))

            // A disable that happened before that enable arrives now: her tokens still die (fail
            // closed), but she stays enabled, and the receipt says so.
            clock.advance(2)
            let live = try await token(client, deployment, now: clock.now())
            let lateDisable = try set(Self.risc + "account-disabled", at(50), subject: opaque, now: clock.now())
            #expect(try await deliver(client, lateDisable).status == .accepted)
            W.expectInactive(try await W.introspect(client, live))
            #expect(try await !server.store.isDisabled(Self.alice))
            let receipt = try #require(try await server.store.receipts(of: Self.alice).first)
            let claims = try ReceiptVerifier.verify(receipt.jws, issuer: TestDeployment.issuer, keys: server.keys.snapshot.published, now: clock.now())
            #expect(claims.object["disabled"] == .bool(false))
            let trail = try await auditTrail(server)
            #expect(trail.suffix(3).contains { $0.event.reason == .signalSuperseded }, "\(trail.suffix(3).map(\.event.reason))")
            #expect(!trail.suffix(3).contains { $0.event.reason == .subjectOffboarded })
        }
    }

    @Test("a SET older than max_set_age, or an event dated in the future, is refused with invalid_request, audited, and nothing of it is acted on")
    func staleAndFutureSETs() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            clock.advance(8 * 86_400)
            let live = try await token(client, deployment, now: clock.now())
            let opaque = JSONObject(["format": "opaque", "id": "00u-alice"])
            // Issued eight days ago: past the default seven.
            let old = try set(Self.risc + "account-disabled", subject: opaque, now: clock.now().addingTimeInterval(-8 * 86_400))
            let refused = try await deliver(client, old)
            #expect(refused.status == .badRequest, "\(refused.text)")
            #expect(refused.json?["err"]?.stringValue == "invalid_request")
            #expect(try await auditTrail(server).last?.event.reason == .ssfSETTooOld)
            // Six days old is still taken... but here dated in the future by its event_timestamp.
            let future = JSONObject(["event_timestamp": .number(JSONNumber(Int64(clock.now().addingTimeInterval(3600).timeIntervalSince1970)))])
            let ahead = try set(Self.risc + "account-disabled", future, subject: opaque, now: clock.now().addingTimeInterval(-6 * 86_400))
            let refusedAhead = try await deliver(client, ahead)
            #expect(refusedAhead.status == .badRequest, "\(refusedAhead.text)")
            #expect(try await auditTrail(server).last?.event.reason == .ssfEventTimeInvalid)
            let malformed = try set(Self.risc + "account-disabled", JSONObject(["event_timestamp": "yesterday"]), subject: opaque, now: clock.now())
            #expect(try await deliver(client, malformed).status == .badRequest)
            #expect(try await auditTrail(server).last?.event.reason == .ssfEventPayloadInvalid)
            W.expectActive(try await W.introspect(client, live))
            #expect(try await !server.store.isDisabled(Self.alice))
            // Within the bound it is taken.
            let recent = try set(Self.risc + "account-disabled", subject: opaque, now: clock.now().addingTimeInterval(-6 * 86_400))
            #expect(try await deliver(client, recent).status == .accepted)
            #expect(try await server.store.isDisabled(Self.alice))
        }
    }

    @Test("Okta Event Hooks: the one-time verification, the configured header required, deactivation offboards (deduplicated by uuid), a group removal narrows")
    func oktaEventHooks() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            let hook = HTTPField.Name("X-Bridgekeeper-Hook")!
            let challenge = try await client.execute(uri: "/signals/okta/test-okta", method: .get,
                                                     headers: [hook: Self.hookSecret, HTTPField.Name("X-Okta-Verification-Challenge")!: "chal-123"])
            #expect(challenge.status == .ok)
            #expect(challenge.json?["verification"] == "chal-123")
            let forged = try await client.execute(uri: "/signals/okta/test-okta", method: .get,
                                                  headers: [hook: "wrong", HTTPField.Name("X-Okta-Verification-Challenge")!: "chal-123"])
            #expect(forged.status == .unauthorized)
            #expect(try await auditTrail(server).last?.event.reason == .oktaHookUnauthorized)

            func post(_ events: String) async throws -> TestResponse {
                try await client.execute(uri: "/signals/okta/test-okta", method: .post, headers: [hook: Self.hookSecret, .contentType: "application/json"],
                                         body: ByteBuffer(string: #"{"eventType":"com.okta.event_hook","data":{"events":[\#(events)]}}"#))
            }
            // Her sign-in records her groups (engineering) as the IdP said them.
            let github = try await token(client, deployment, now: clock.now())
            #expect(try await server.store.attributes(of: Self.alice)?.attributes.groups == ["engineering"])
            let removal = #"{"uuid":"evt-1","eventType":"group.user_membership.remove","target":[{"id":"00u-alice","type":"User"},{"id":"00g1","type":"UserGroup","displayName":"engineering"}]}"#
            #expect(try await post(removal).status == .ok)
            #expect(try await server.store.attributes(of: Self.alice)?.attributes.groups == [])
            W.expectInactive(try await W.introspect(client, github))

            clock.advance(2)
            let notion = try await token(client, deployment, now: clock.now(), resource: TestDeployment.notionResource)
            let deactivate = #"{"uuid":"evt-2","eventType":"user.lifecycle.deactivate","target":[{"id":"00u-alice","type":"User","alternateId":"alice@example.com"}]}"#
            #expect(try await post(deactivate).status == .ok)
            W.expectInactive(try await W.introspect(client, notion))
            #expect(try await server.store.isDisabled(Self.alice))
            #expect(try await server.store.receipts(of: Self.alice).count == 1)
            #expect(try await post(deactivate).status == .ok, "Okta redelivers")
            #expect(try await server.store.receipts(of: Self.alice).count == 1)
            #expect(try await post(#"{"uuid":"evt-3","eventType":"user.session.start","target":[{"id":"00u-alice","type":"User"}]}"#).status == .ok)
            #expect(try await auditTrail(server).last?.event.reason == .oktaHookEventIgnored)

            // Events count as of their `published` time: a reactivation Okta published before the
            // deactivation (redelivered late) changes nothing; a later one lets her back.
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            func reactivate(_ uuid: String, published: Date) -> String {
                #"{"uuid":"\#(uuid)","eventType":"user.lifecycle.reactivate","published":"\#(formatter.string(from: published))","target":[{"id":"00u-alice","type":"User"}]}"#
            }
            clock.advance(5)
            #expect(try await post(reactivate("evt-4", published: clock.now().addingTimeInterval(-60))).status == .ok)
            #expect(try await server.store.isDisabled(Self.alice), "a reactivation published before the deactivation must not enable")
            #expect(try await auditTrail(server).last?.event.reason == .signalSuperseded)
            clock.advance(1)
            #expect(try await post(reactivate("evt-5", published: clock.now().addingTimeInterval(-0.5))).status == .ok)
            #expect(try await !server.store.isDisabled(Self.alice))
        }
    }
}
