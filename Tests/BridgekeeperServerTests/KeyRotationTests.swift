import BridgekeeperConfig
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperKeys
import BridgekeeperClientAuth
import BridgekeeperTesting

/// Signing-key rotation seen over HTTP: a new key is published before it signs, and a retired key
/// stays published until every token it signed has expired (SPECS §3: overlap ≥ max token lifetime).
@Suite("signing key rotation over HTTP")
struct KeyRotationTests {
    typealias W = OAuthWire
    let deployment: TestDeployment
    let clock = TestClock(OAuthWire.start)

    init() throws { deployment = try TestDeployment() }

    func sealing() throws -> KeySealing { try KeySealing(keyEncryptionKey: try Base64URL.decode(deployment.kek)) }

    func kids(_ client: any TestClientProtocol) async throws -> [String] {
        let response = try await client.execute(uri: "/jwks.json", method: .get)
        #expect(response.status == .ok)
        return try #require(response.json?["keys"]?.arrayValue).compactMap { $0.objectValue?["kid"]?.stringValue }
    }

    func kid(of token: String) throws -> String { try #require(try W.header(of: token)["kid"]?.stringValue) }

    /// Rotates with `propagation` and reloads the server's key ring, as its maintenance task would.
    func rotate(_ server: BridgekeeperServer, propagation: TimeInterval) async throws -> (keyID: String, activatesAt: Date, retention: TimeInterval) {
        let retention = server.configuration.longestTokenLifetime + 60
        let (keyID, activatesAt) = try await KeyManagement.rotate(in: server.store, sealing: try sealing(), algorithm: .es256, now: clock.now(),
                                                                   propagation: propagation, retention: retention)
        try await server.keys.reload(from: server.store, now: clock.now())
        return (keyID, activatesAt, retention)
    }

    @Test("an immediate rotation publishes both keys, signs new tokens with the new kid, and old tokens stay active")
    func immediateRotation() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let tokenA = try await W.issue(client, deployment, clock)
            let oldKid = try kid(of: tokenA)
            clock.advance(30)
            let rotated = try await rotate(server, propagation: 0)
            #expect(Set(try await kids(client)) == [oldKid, rotated.keyID])
            let tokenB = try await W.issue(client, deployment, clock)
            #expect(try kid(of: tokenB) == rotated.keyID)
            W.expectActive(try await W.introspect(client, tokenA))
            W.expectActive(try await W.introspect(client, tokenB))
        }
    }

    @Test("an immediate rotation in the same second as the current key's activation still hands signing to the new key")
    func immediateRotationSameSecond() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let tokenA = try await W.issue(client, deployment, clock)
            let oldKid = try kid(of: tokenA)
            // The first key was created and activated at this very instant; rotate() retires it now.
            let rotated = try await rotate(server, propagation: 0)
            #expect(Set(try await kids(client)) == [oldKid, rotated.keyID])
            let tokenB = try await W.issue(client, deployment, clock)
            #expect(try kid(of: tokenB) == rotated.keyID, "a key whose retiresAt has passed must not sign")
        }
    }

    @Test("with a propagation delay the new key is published first and signs only from its activation")
    func delayedRotation() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let tokenA = try await W.issue(client, deployment, clock)
            let oldKid = try kid(of: tokenA)
            clock.advance(10)
            let rotated = try await rotate(server, propagation: 60)
            #expect(rotated.activatesAt == clock.now().addingTimeInterval(60))

            // Published, not yet signing.
            #expect(Set(try await kids(client)) == [oldKid, rotated.keyID])
            let tokenB = try await W.issue(client, deployment, clock)
            #expect(try kid(of: tokenB) == oldKid)

            // One second short of activation: still the old key.
            clock.advance(59)
            try await server.keys.reload(from: server.store, now: clock.now())
            #expect(try kid(of: try await W.issue(client, deployment, clock)) == oldKid)

            // Activation: the new key signs; the old one stays published and its tokens stay active.
            clock.advance(1)
            try await server.keys.reload(from: server.store, now: clock.now())
            let tokenC = try await W.issue(client, deployment, clock)
            #expect(try kid(of: tokenC) == rotated.keyID)
            #expect(Set(try await kids(client)) == [oldKid, rotated.keyID])
            W.expectActive(try await W.introspect(client, tokenB))
        }
    }

    @Test("a retired key stays published for the retention period and disappears from the JWKS after it")
    func retiredKeyUnpublished() async throws {
        try await withServer(deployment, clock: clock) { client, server in
            let oldKid = try kid(of: try await W.issue(client, deployment, clock))
            clock.advance(10)
            let rotated = try await rotate(server, propagation: 60)
            let unpublishAt = rotated.activatesAt.addingTimeInterval(rotated.retention)

            // The last token the old key signs, one second before the new key takes over.
            clock.advance(59)
            try await server.keys.reload(from: server.store, now: clock.now())
            let lastOld = try await W.issue(client, deployment, clock)
            #expect(try kid(of: lastOld) == oldKid)

            // A second before that token expires, the old key is still published: it verifies.
            let exp = try #require(try W.claims(of: lastOld)["exp"]?.numberValue?.exactInteger)
            clock.advance(TimeInterval(exp) - clock.now().timeIntervalSince1970 - 1)
            try await server.keys.reload(from: server.store, now: clock.now())
            W.expectActive(try await W.introspect(client, lastOld))

            // Just before unpublishAt the old key is still published (its last token has expired by now).
            clock.advance(unpublishAt.timeIntervalSince(clock.now()) - 1)
            try await server.keys.reload(from: server.store, now: clock.now())
            #expect(Set(try await kids(client)) == [oldKid, rotated.keyID])

            // Past unpublishAt: only the new key.
            clock.advance(2)
            try await server.keys.reload(from: server.store, now: clock.now())
            #expect(try await kids(client) == [rotated.keyID])
            #expect(try kid(of: try await W.issue(client, deployment, clock)) == rotated.keyID)
        }
    }
}

/// Bridge keys rotate on their own: the bridge issuer's JWKS changes, the access-token JWKS does not.
@Suite("bridge key rotation over HTTP")
struct BridgeKeyRotationTests: JWTBearerTesting {
    @Test("rotating the bridge key publishes it at /bridge/jwks.json only, new ID-JAGs use it, access tokens keep their key")
    func bridgeRotation() async throws {
        let deployment = try bridgeDeployment()
        let clock = TestClock(jwtBearerStart)
        try await withServer(deployment, clock: clock) { client, server in
            func kids(_ path: String) async throws -> Set<String> {
                let keys = try await client.execute(uri: path, method: .get).json?["keys"]?.arrayValue ?? []
                return Set(keys.compactMap { $0.objectValue?["kid"]?.stringValue })
            }
            func kid(_ response: TestResponse) throws -> String {
                let token = try #require(response.json?["access_token"]?.stringValue, "\(response.text)")
                return try #require(try UnverifiedJWS(compact: token).keyID)
            }
            let idToken = try deployment.idp.idToken(TestIdP.idTokenClaims(now: clock.now()))
            let accessKids = try await kids("/jwks.json")
            let oldBridge = try kid(try await BridgeIDJAGTests().requestIDJAG(client, idToken))
            #expect(try await kids("/bridge/jwks.json") == [oldBridge])
            #expect(!accessKids.contains(oldBridge))

            clock.advance(5)
            let sealing = try KeySealing(keyEncryptionKey: try Base64URL.decode(deployment.kek))
            let (newBridge, _) = try await KeyManagement.rotate(in: server.store, sealing: sealing, algorithm: .es256, purpose: .bridge, now: clock.now(),
                                                                propagation: 0, retention: server.configuration.longestTokenRetention)
            try await #require(server.bridgeKeys).reload(from: server.store, now: clock.now())
            try await server.keys.reload(from: server.store, now: clock.now())
            #expect(try await kids("/bridge/jwks.json") == [oldBridge, newBridge])
            #expect(try await kids("/jwks.json") == accessKids)
            #expect(try kid(try await BridgeIDJAGTests().requestIDJAG(client, idToken)) == newBridge)
            #expect(accessKids.contains(try kid(try await client.exchange(idToken))))
        }
    }

    @Test("a stored key whose kid is not base64url (a relabelled bridge key, bridge:<kid>) is refused when opened")
    func relabelledKeyRefused() throws {
        let sealing = try KeySealing(keyEncryptionKey: Array(repeating: 7, count: 32))
        let key = try SigningKey.generate(.es256)
        let bridge = try sealing.seal(key, purpose: .bridge, now: jwtBearerStart, activatesAt: jwtBearerStart)
        #expect(try sealing.open(bridge).keyID == key.keyID)
        // The same sealed bytes relabelled as an access key under kid "bridge:<kid>": the associated
        // data would match, so the kid itself must be refused.
        let relabelled = StoredSigningKey(keyID: "bridge:" + key.keyID, purpose: .access, algorithm: bridge.algorithm,
                                          sealedPrivateKey: bridge.sealedPrivateKey, publicJWK: bridge.publicJWK, createdAt: bridge.createdAt,
                                          activatesAt: bridge.activatesAt)
        #expect(throws: JOSEError.self) { try sealing.open(relabelled) }
        // Relabelled without renaming, the associated data does not match.
        let samekid = StoredSigningKey(keyID: key.keyID, purpose: .access, algorithm: bridge.algorithm, sealedPrivateKey: bridge.sealedPrivateKey,
                                       publicJWK: bridge.publicJWK, createdAt: bridge.createdAt, activatesAt: bridge.activatesAt)
        #expect(throws: JOSEError.self) { try sealing.open(samekid) }
    }
}
