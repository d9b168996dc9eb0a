import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

/// RFC 7662 introspection and RFC 7009 revocation over HTTP.
@Suite("introspection and revocation over HTTP")
struct TokenManagementTests {
    typealias W = OAuthWire
    let deployment: TestDeployment
    let clock = TestClock(OAuthWire.start)

    init() throws { deployment = try TestDeployment() }

    // MARK: - Introspection (RFC 7662)

    @Test("the gateway introspecting an issued token gets active true and exactly the token's claims")
    func introspectsActiveToken() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            let token = try await W.issue(client, deployment, clock)
            let jti = try #require(try W.claims(of: token)["jti"]?.stringValue)
            let iat = Int64(clock.now().timeIntervalSince1970)
            let response = try await W.introspect(client, token)
            W.expectActive(response)
            let expected: [String: JSONValue] = [
                "active": .bool(true),
                "iss": .string(TestDeployment.issuer),
                "sub": .string("00u-alice"),
                "aud": .string(TestDeployment.githubResource),
                "scope": .string("tool:create_issue tool:search_code"),
                "client_id": .string(TestDeployment.clientID),
                "exp": .number(JSONNumber(iat + 300)),
                "iat": .number(JSONNumber(iat)),
                "jti": .string(jti),
                "token_type": .string("Bearer"),
                "principal_class": .string("human"),
                "idp_iss": .string(TestIdP.issuer),
            ]
            #expect(W.members(response.json) == expected, "\(response.text)")
        }
    }

    @Test("a client not registered for introspection is 400 unauthorized_client (not_introspection_client)")
    func introspectionNotAllowed() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let token = try await W.issue(client, deployment, clock)
            let response = try await client.post("/introspect", [("token", token)],
                                                 authorization: basic(TestDeployment.clientID, TestDeployment.clientSecret))
            W.expectError(response, .badRequest, "unauthorized_client")
            try await W.expectDenial(server, "not_introspection_client")
        }
    }

    @Test("unauthenticated introspection is 401 invalid_client (client_authentication_missing)")
    func introspectionUnauthenticated() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let token = try await W.issue(client, deployment, clock)
            let response = try await client.post("/introspect", [("token", token)])
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "client_authentication_missing")
        }
    }

    @Test("introspection without the token parameter is 400 invalid_request (missing_parameter)")
    func introspectionMissingToken() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await client.post("/introspect", [("token_type_hint", "access_token")],
                                                 authorization: basic(TestDeployment.gatewayID, TestDeployment.gatewaySecret))
            W.expectError(response, .badRequest, "invalid_request")
            try await W.expectDenial(server, "missing_parameter")
        }
    }

    @Test("a string that is not a token introspects as exactly {\"active\":false}")
    func introspectsGarbage() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            W.expectInactive(try await W.introspect(client, "not-a-token"))
            W.expectInactive(try await W.introspect(client, "eyJhbGciOiJub25lIn0.e30."))
        }
    }

    @Test("our token's claims re-signed by another key under our kid introspect as {\"active\":false}")
    func introspectsForgedToken() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            let token = try await W.issue(client, deployment, clock)
            let kid = try #require(try W.header(of: token)["kid"]?.stringValue)
            let forger = try SigningKey.generate(.es256, keyID: kid)
            // Same claims, same jti (which the store knows): only the signature is wrong.
            let forged = try forger.signJWT(type: "at+jwt", claims: try W.claims(of: token))
            W.expectInactive(try await W.introspect(client, forged))
            W.expectActive(try await W.introspect(client, token))
        }
    }

    @Test("an ID-JAG introspects as {\"active\":false}")
    func introspectsIDJAG() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            let idjag = try deployment.idp.sign(TestIdP.claims(now: clock.now()))
            W.expectInactive(try await W.introspect(client, idjag))
        }
    }

    @Test("an expired token introspects as {\"active\":false}")
    func introspectsExpired() async throws {
        try await withServer(deployment, clock: clock) { client, _ in
            let token = try await W.issue(client, deployment, clock)
            let exp = try #require(try W.claims(of: token)["exp"]?.numberValue?.exactInteger)
            clock.advance(TimeInterval(exp) - clock.now().timeIntervalSince1970 - 1)
            W.expectActive(try await W.introspect(client, token))
            clock.advance(2)
            W.expectInactive(try await W.introspect(client, token))
        }
    }

    @Test("a token of a subject disabled since it was issued introspects as {\"active\":false}")
    func introspectsDisabledSubject() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let token = try await W.issue(client, deployment, clock)
            W.expectActive(try await W.introspect(client, token))
            try await server.store.setDisabled(SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice"), true, at: clock.now())
            W.expectInactive(try await W.introspect(client, token))
        }
    }

    @Test("a subject's revocation epoch kills their tokens issued before it, even one issued in the revoking second that no record revoked; later ones are active")
    func introspectsAcrossRevocationEpoch() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let alice = SubjectKey(issuer: TestIdP.issuer, subject: "00u-alice")
            let before = try await W.issue(client, deployment, clock)
            let outcome = try await server.store.revokeSubject(alice, at: clock.now(), disable: false) { _ in [] }
            #expect(outcome.tokensRevoked.count == 1)
            #expect(outcome.agentsDisabled.isEmpty)
            #expect(try await server.store.isDisabled(alice) == false, "a session revocation does not disable")
            #expect(try await server.store.revocationEpoch(of: alice) == Date(timeIntervalSince1970: clock.now().timeIntervalSince1970.rounded(.down) + 1))
            W.expectInactive(try await W.introspect(client, before))
            // Issued in the same second, racing the revocation: its record is live, the epoch kills it.
            let racing = try await W.issue(client, deployment, clock)
            W.expectInactive(try await W.introspect(client, racing))
            clock.advance(1)
            W.expectActive(try await W.introspect(client, try await W.issue(client, deployment, clock)))
        }
    }

    // MARK: - Revocation (RFC 7009)

    func revocations(_ server: BridgekeeperServer) async throws -> [AuditEvent] {
        try await server.store.auditRecords(afterSequence: 0, limit: 1000).map(\.event).filter { $0.kind == .revocation }
    }

    func revoke(_ client: any TestClientProtocol, _ token: String, id: String = TestDeployment.clientID,
                authorization: String? = nil) async throws -> TestResponse {
        try await client.post("/revoke", [("token", token), ("token_type_hint", "access_token")],
                              authorization: authorization ?? basic(id, TestDeployment.clientSecret))
    }

    @Test("a client revokes its own token: 200, then inactive, and one revocation record (revoked_by_client)")
    func revokesOwnToken() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let token = try await W.issue(client, deployment, clock)
            let jti = try #require(try W.claims(of: token)["jti"]?.stringValue)
            let response = try await revoke(client, token)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.headers[.cacheControl] == "no-store")
            W.expectInactive(try await W.introspect(client, token))
            let records = try await revocations(server)
            #expect(records.count == 1)
            #expect(records.first?.reason.rawValue == "revoked_by_client")
            #expect(records.first?.tokenID == jti)
            #expect(records.first?.clientID == TestDeployment.clientID)
        }
    }

    @Test("revoking an unknown token is 200 and records no revocation")
    func revokesUnknownToken() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let response = try await revoke(client, "no-such-token")
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.headers[.cacheControl] == "no-store")
            #expect(try await revocations(server).isEmpty)
        }
    }

    @Test("another client revoking a token is 200 but the token stays active and nothing is revoked")
    func revokesOthersToken() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let token = try await W.issue(client, deployment, clock)
            let response = try await client.post("/revoke", [
                ("token", token), ("client_id", TestDeployment.postClientID), ("client_secret", TestDeployment.clientSecret),
            ])
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.headers[.cacheControl] == "no-store")
            W.expectActive(try await W.introspect(client, token))
            #expect(try await revocations(server).isEmpty)
        }
    }

    @Test("revoking the same token twice is 200 both times and records one revocation")
    func revokesTwice() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let token = try await W.issue(client, deployment, clock)
            let first = try await revoke(client, token)
            let second = try await revoke(client, token)
            #expect(first.status == .ok, "\(first.text)")
            #expect(second.status == .ok, "\(second.text)")
            #expect(second.headers[.cacheControl] == "no-store")
            #expect(try await revocations(server).count == 1)
            W.expectInactive(try await W.introspect(client, token))
        }
    }

    @Test("unauthenticated revocation is 401 invalid_client (client_authentication_missing) and revokes nothing")
    func revocationUnauthenticated() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let token = try await W.issue(client, deployment, clock)
            let response = try await client.post("/revoke", [("token", token)])
            W.expectError(response, .unauthorized, "invalid_client")
            try await W.expectDenial(server, "client_authentication_missing")
            W.expectActive(try await W.introspect(client, token))
        }
    }

    // MARK: - Restart

    @Test("the signing key survives a restart, so tokens issued before it still introspect active")
    func restartKeepsKey() async throws {
        let (kid, token) = try await withServer(deployment, clock: clock) { client, _ in
            let token = try await W.issue(client, deployment, clock)
            let jwks = try await client.execute(uri: "/jwks.json", method: .get)
            let kid = try #require(jwks.json?["keys"]?.arrayValue?.first?.objectValue?["kid"]?.stringValue)
            return (kid, token)
        }
        clock.advance(5)
        try await withServer(deployment, clock: clock) { client, _ in
            let jwks = try await client.execute(uri: "/jwks.json", method: .get)
            let kids = jwks.json?["keys"]?.arrayValue?.compactMap { $0.objectValue?["kid"]?.stringValue }
            #expect(kids == [kid])
            W.expectActive(try await W.introspect(client, token))
            let next = try await W.issue(client, deployment, clock)
            #expect(try W.header(of: next)["kid"] == .string(kid))
        }
    }
}
