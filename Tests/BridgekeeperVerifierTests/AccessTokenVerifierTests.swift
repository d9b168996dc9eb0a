import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperVerifier
import Foundation
import Synchronization
import Testing
import BridgekeeperTesting

/// The gateway verifier offline: real OpenSSL signatures, a scripted key source, time as an input.
@Suite("BridgekeeperVerifier: offline access-token verification")
struct AccessTokenVerifierTests {
    static let issuer = "https://broker.example"
    static let resource = "https://mcp.example/github"
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Serves `current`, and `afterRefetch` once a token names an unknown kid; counts both.
    final class Keys: KeySource {
        let sets: Mutex<(current: JWKSet, afterRefetch: JWKSet, fetches: Int, refetches: Int)>
        init(_ current: JWKSet, afterRefetch: JWKSet? = nil) { sets = Mutex((current, afterRefetch ?? current, 0, 0)) }
        func keys() async throws(KeySourceError) -> JWKSet { sets.withLock { $0.fetches += 1; return $0.current } }
        func keysAfterUnknownKeyID() async throws(KeySourceError) -> JWKSet {
            sets.withLock { $0.refetches += 1; $0.current = $0.afterRefetch; return $0.current }
        }
        var counts: (fetches: Int, refetches: Int) { sets.withLock { ($0.fetches, $0.refetches) } }
    }

    static func set(_ keys: SigningKey...) throws -> JWKSet {
        try JWKSet(json: JSONValue.object(JSONObject(["keys": .array(try keys.map { .object(try $0.publicJWK()) })])).serialized())
    }

    static func claims(jti: String = "at-1", sub: String = "00u-alice", aud: String = resource, iss: String = issuer, iat: Date = t0,
                       lifetime: TimeInterval = 300, scope: String = "tool:search_code tool:create_issue") -> JSONObject {
        JSONObject([
            "iss": .string(iss), "sub": .string(sub), "aud": .string(aud), "client_id": "mcp-client", "scope": .string(scope),
            "jti": .string(jti), "iat": .number(JSONNumber(Int64(iat.timeIntervalSince1970))),
            "exp": .number(JSONNumber(Int64(iat.timeIntervalSince1970 + lifetime))), "idp_iss": "https://idp.example",
        ])
    }

    struct World {
        let key: SigningKey
        let keys: Keys
        let clock = TestClock(AccessTokenVerifierTests.t0)
        let verifier: AccessTokenVerifier

        init(adjust: (inout VerifierSettings) -> Void = { _ in }) throws {
            key = try SigningKey.generate(.es256, keyID: "k1")
            keys = Keys(try AccessTokenVerifierTests.set(key))
            var settings = VerifierSettings(issuer: AccessTokenVerifierTests.issuer, resource: AccessTokenVerifierTests.resource)
            settings.resourceMetadata = "https://mcp.example/.well-known/oauth-protected-resource/github"
            adjust(&settings)
            verifier = AccessTokenVerifier(settings: settings, keys: keys, clock: clock)
        }

        func token(_ claims: JSONObject = AccessTokenVerifierTests.claims(), type: String = "at+jwt") throws -> String {
            try key.signJWT(type: type, claims: claims)
        }
    }

    func code(_ result: Result<VerifiedAccessToken, VerificationError>) -> VerificationError.Code? {
        if case .failure(let error) = result { return error.code }
        return nil
    }

    @Test("a valid token verifies with its claims; seen again it comes from the cache without touching the keys")
    func validAndCached() async throws {
        let world = try World()
        let token = try world.token()
        let verified = try await world.verifier.verify(token).get()
        #expect(verified.subject == "00u-alice" && verified.tokenID == "at-1" && verified.clientID == "mcp-client")
        #expect(verified.scopes == ["tool:search_code", "tool:create_issue"] && verified.subjectIssuer == "https://idp.example")
        #expect(verified.expiresAt == Self.t0.addingTimeInterval(300))
        #expect(world.keys.counts.fetches == 1)
        for _ in 0..<5 { #expect(try await world.verifier.verify(token).get() == verified) }
        #expect(world.keys.counts.fetches == 1, "cache hits read no keys")
        #expect(world.verifier.cachedCount == 1)
        // Expiry ends the cached answer too (after the leeway).
        world.clock.advance(300 + 30)
        #expect(code(await world.verifier.verify(token)) == .expired)
        #expect(world.verifier.cachedCount == 0)
    }

    @Test("every failure kind has its code: typ, alg, unknown kid, signature, iss, aud (another server's token), exp, nbf, claims, shape")
    func failures() async throws {
        let world = try World { $0.algorithms = [.es256] }
        var claims = Self.claims()
        #expect(code(await world.verifier.verify(try world.token(type: "JWT"))) == .wrongType)
        #expect(code(await world.verifier.verify(try world.token(type: "oauth-id-jag+jwt"))) == .wrongType)
        let rsa = try SigningKey.generate(.rs256, keyID: "k1")
        #expect(code(await world.verifier.verify(try rsa.signJWT(type: "at+jwt", claims: claims))) == .algorithmNotAllowed)
        let none = Base64URL.encode(Array(#"{"alg":"none","typ":"at+jwt"}"#.utf8)) + "." + Base64URL.encode(Array(JSONValue.object(claims).serialized().utf8)) + "."
        #expect(code(await world.verifier.verify(none)) == .algorithmNotAllowed)
        let stranger = try SigningKey.generate(.es256, keyID: "k-unknown")
        #expect(code(await world.verifier.verify(try stranger.signJWT(type: "at+jwt", claims: claims))) == .unknownKey)
        #expect(world.keys.counts.refetches == 1, "an unknown kid is refetched once")
        let impostor = try SigningKey.generate(.es256, keyID: "k1")
        #expect(code(await world.verifier.verify(try impostor.signJWT(type: "at+jwt", claims: claims))) == .badSignature)
        let parts = try world.token().split(separator: ".")
        claims["scope"] = "tool:delete_repository"
        let tampered = parts[0] + "." + Base64URL.encode(Array(JSONValue.object(claims).serialized().utf8)) + "." + parts[2]
        #expect(code(await world.verifier.verify(String(tampered))) == .badSignature)
        #expect(code(await world.verifier.verify(try world.token(Self.claims(iss: "https://other-broker.example")))) == .wrongIssuer)
        #expect(code(await world.verifier.verify(try world.token(Self.claims(aud: "https://mcp.example/notion")))) == .wrongAudience)
        #expect(code(await world.verifier.verify(try world.token(Self.claims(iat: Self.t0.addingTimeInterval(-400))))) == .expired)
        var future = Self.claims()
        future["nbf"] = .number(JSONNumber(Int64(Self.t0.timeIntervalSince1970) + 120))
        #expect(code(await world.verifier.verify(try world.token(future))) == .notYetValid)
        var noJTI = Self.claims()
        noJTI["jti"] = nil
        #expect(code(await world.verifier.verify(try world.token(noJTI))) == .invalidClaims)
        for garbage in ["", "abc", "a.b", "a.b.c.d.e", String(repeating: "x", count: 20_000)] {
            #expect(code(await world.verifier.verify(garbage)) == .malformed, "\(garbage.prefix(10))")
        }
        #expect(world.verifier.cachedCount == 0, "nothing refused is cached")
    }

    @Test("the cache is keyed by every byte: a forgery with a cached token's length and signature is verified afresh and refused")
    func cacheKeyIsTheWholeToken() async throws {
        let world = try World()
        let token = try world.token()
        _ = try await world.verifier.verify(token).get()
        // One scope letter changed: same length, same signature, so the same hash bucket and tail.
        var claims = Self.claims()
        claims["scope"] = "tool:search_cods tool:create_issue"
        let parts = token.split(separator: ".")
        let forged = parts[0] + "." + Base64URL.encode(Array(JSONValue.object(claims).serialized().utf8)) + "." + parts[2]
        #expect(forged.utf8.count == token.utf8.count && forged.suffix(32) == token.suffix(32) && forged != token)
        #expect(code(await world.verifier.verify(String(forged))) == .badSignature)
        #expect(world.verifier.cachedCount == 1)
        _ = try await world.verifier.verify(token).get()
    }

    @Test("a scope is granted only by an exact scope token of the claim, never by a prefix, a suffix or a run of two")
    func scopeTokensMatchExactly() async throws {
        let world = try World()
        let token = try world.token()
        let verified = try await world.verifier.verify(token).get()
        #expect(verified.scope == "tool:search_code tool:create_issue")
        #expect(verified.grants("tool:search_code") && verified.grants("tool:create_issue"))
        for wanted in ["tool:search", "search_code", "tool:search_code ", "tool:search_code tool:create_issue", "tool:create_issu", "", " ", "tool:"] {
            #expect(!verified.grants(wanted), "\(wanted)")
        }
        _ = try await world.verifier.authorize(token, tool: "create_issue").get()
        #expect(code(await world.verifier.authorize(token, tool: "search")) == .insufficientScope)
        #expect(code(await world.verifier.authorize(token, tool: "search_code tool:create_issue")) == .insufficientScope)
        var noScope = Self.claims(jti: "no-scope")
        noScope["scope"] = nil
        let bare = try await world.verifier.verify(try world.token(noScope)).get()
        #expect(bare.scopes.isEmpty && !bare.grants("tool:search_code"))
    }

    @Test("a rotated key is found by one refetch when a token names it; the old key's tokens still verify while published")
    func rotation() async throws {
        let old = try SigningKey.generate(.es256, keyID: "old")
        let new = try SigningKey.generate(.es256, keyID: "new")
        let keys = Keys(try Self.set(old), afterRefetch: try Self.set(old, new))
        let verifier = AccessTokenVerifier(settings: VerifierSettings(issuer: Self.issuer, resource: Self.resource), keys: keys, clock: TestClock(AccessTokenVerifierTests.t0))
        _ = try await verifier.verify(try old.signJWT(type: "at+jwt", claims: Self.claims(jti: "a"))).get()
        _ = try await verifier.verify(try new.signJWT(type: "at+jwt", claims: Self.claims(jti: "b"))).get()
        _ = try await verifier.verify(try old.signJWT(type: "at+jwt", claims: Self.claims(jti: "c"))).get()
        #expect(keys.counts.refetches == 1)
    }

    @Test("revocation: a revoked jti and a subject epoch end cached tokens at once; tokens issued after the epoch pass")
    func revocation() async throws {
        let world = try World()
        let first = try world.token(Self.claims(jti: "a"))
        let second = try world.token(Self.claims(jti: "b"))
        let bob = try world.token(Self.claims(jti: "c", sub: "00u-bob"))
        for token in [first, second, bob] { _ = try await world.verifier.verify(token).get() }
        world.verifier.revokeToken(id: "a", expiresAt: Self.t0.addingTimeInterval(300))
        #expect(code(await world.verifier.verify(first)) == .revoked)
        _ = try await world.verifier.verify(second).get()
        world.clock.advance(10)
        world.verifier.revokeSubject(issuer: "https://idp.example", subject: "00u-alice", before: world.clock.now())
        #expect(code(await world.verifier.verify(second)) == .revoked)
        _ = try await world.verifier.verify(bob).get()
        let later = try world.token(Self.claims(jti: "d", iat: world.clock.now()))
        _ = try await world.verifier.verify(later).get()
        // An older epoch never moves it back.
        world.verifier.revokeSubject(issuer: "https://idp.example", subject: "00u-alice", before: Self.t0)
        #expect(code(await world.verifier.verify(second)) == .revoked)
        // The same subject at another IdP is someone else.
        world.verifier.revokeSubject(issuer: "https://other-idp.example", subject: "00u-bob", before: world.clock.now().addingTimeInterval(1))
        _ = try await world.verifier.verify(bob).get()
    }

    @Test("subject epochs are bounded: each is kept while a token it kills can be alive, then forgotten; an already-lapsed epoch is not kept; a token longer than maxTokenLifetime is refused, so none outlives its epoch")
    func epochsAreBounded() async throws {
        let world = try World()
        let alice = try world.token(Self.claims(jti: "a", lifetime: 3600))
        _ = try await world.verifier.verify(alice).get()
        world.verifier.revokeSubject(issuer: "https://idp.example", subject: "00u-alice", before: Self.t0.addingTimeInterval(1))
        // 10,000 other subjects revoked at t0 + 1.
        for n in 0..<10_000 { world.verifier.revokeSubject(issuer: "https://idp.example", subject: "00u-\(n)", before: Self.t0.addingTimeInterval(1)) }
        #expect(world.verifier.epochCount == 10_001, "none lapsed yet: all kept")
        // Up to the last instant Alice's token could be alive (exp + leeway), her epoch holds.
        world.clock.advance(3600 + 30 - 1)
        #expect(code(await world.verifier.verify(alice)) == .revoked)
        // Past it every token issued before the epochs has expired: the next pass forgets them all.
        world.clock.advance(2)
        #expect(code(await world.verifier.verify(alice)) == .expired)
        // Passes are amortised (due when twice as many are remembered as after the last one), so
        // the next comes within the next 7,000 revocations: after it only the new ones are left.
        for n in 0..<7_000 { world.verifier.revokeSubject(issuer: "https://idp.example", subject: "00u-new-\(n)", before: world.clock.now()) }
        #expect(world.verifier.epochCount == 7_000, "lapsed epochs forgotten: \(world.verifier.epochCount)")
        // An epoch whose tokens have all expired (an old feed event) is not remembered.
        let before = world.verifier.epochCount
        world.verifier.revokeSubject(issuer: "https://idp.example", subject: "00u-ancient", before: Self.t0)
        #expect(world.verifier.epochCount == before)
        // A token longer-lived than maxTokenLifetime could outlive its epoch's memory: refused.
        let long = try world.token(Self.claims(jti: "long", iat: world.clock.now(), lifetime: 3601))
        #expect(code(await world.verifier.verify(long)) == .invalidClaims)
    }

    @Test("a revoked token stays refused while its jti is remembered, cached or not, and leaves the cache when the jti is forgotten")
    func revokedTokensLeaveTheCacheWithTheirRevocation() async throws {
        let world = try World()
        let revoked = try world.token(Self.claims(jti: "a"))
        _ = try await world.verifier.verify(revoked).get()
        world.verifier.revokeToken(id: "a", expiresAt: Self.t0.addingTimeInterval(10))
        #expect(code(await world.verifier.verify(revoked)) == .revoked, "dropped from the cache on the refused hit")
        #expect(world.verifier.cachedCount == 0)
        world.verifier.clearCache()
        #expect(code(await world.verifier.verify(revoked)) == .revoked, "uncached: still refused")
        // Cached again behind the revocation's back (a gateway that verified it before hearing of
        // it): the pass that forgets the jti takes the entry along.
        let racing = try world.token(Self.claims(jti: "b"))
        let kept = try world.token(Self.claims(jti: "c"))
        for token in [racing, kept] { _ = try await world.verifier.verify(token).get() }
        world.verifier.revokeToken(id: "b", expiresAt: Self.t0.addingTimeInterval(10))
        #expect(world.verifier.cachedCount == 2, "revoking is constant time: nothing scanned yet")
        world.clock.advance(20)
        // Enough revocations that the lapsed ones are forgotten: b's entry goes with its jti.
        for n in 0..<4_096 { world.verifier.revokeToken(id: "x\(n)", expiresAt: Self.t0.addingTimeInterval(10)) }
        #expect(world.verifier.cachedCount == 1)
        let fetches = world.keys.counts.fetches
        _ = try await world.verifier.verify(kept).get()
        #expect(world.keys.counts.fetches == fetches, "c is still cached")
    }

    @Test("a leeway past 300 s is taken as 300 s, so a cached token expires when an uncached one would")
    func leewayIsCapped() async throws {
        let lax = try World { $0.leeway = 10_000 }
        #expect(lax.verifier.settings.leeway == 300)
        let token = try lax.token()  // exp = t0 + 300
        _ = try await lax.verifier.verify(token).get()
        lax.clock.advance(300 + 299)
        _ = try await lax.verifier.verify(token).get()  // within the capped leeway: still cached and good
        #expect(lax.verifier.cachedCount == 1)
        lax.clock.advance(2)
        #expect(code(await lax.verifier.verify(token)) == .expired, "cached: the 10,000 s asked for would still accept it")
        #expect(code(await lax.verifier.verify(try lax.token(Self.claims(jti: "fresh-look")))) == .expired, "uncached agrees")
    }

    @Test("with a staleness bound, answers fail closed (stale, 503) until the feed is heard, and again after a silence past the bound, cached or not")
    func staleness() async throws {
        let world = try World { $0.maxStaleness = 60 }
        let token = try world.token()
        #expect(code(await world.verifier.verify(token)) == .stale)
        world.verifier.noteFeedHeard(at: world.clock.now())
        _ = try await world.verifier.verify(token).get()
        world.clock.advance(61)
        let stale = await world.verifier.verify(token)
        #expect(code(stale) == .stale)
        if case .failure(let error) = stale { #expect(error.status == 503 && error.bearerError == nil) }
        world.verifier.noteFeedHeard(at: world.clock.now())
        _ = try await world.verifier.verify(token).get()
    }

    @Test("authorize names the missing scope; the errors map to 401/403 with RFC 6750 and RFC 9728 WWW-Authenticate parameters")
    func authorizeAndChallenges() async throws {
        let world = try World()
        let metadata = "https://mcp.example/.well-known/oauth-protected-resource/github"
        let token = try world.token()
        _ = try await world.verifier.authorize(token, tool: "search_code").get()
        guard case .failure(let denied) = await world.verifier.authorize(token, tool: "delete_repository") else {
            Issue.record("a tool outside the token's scope was allowed")
            return
        }
        #expect(denied.code == .insufficientScope && denied.scope == "tool:delete_repository" && denied.status == 403)
        #expect(denied.wwwAuthenticate(resourceMetadata: metadata)
                == #"Bearer resource_metadata="\#(metadata)", error="insufficient_scope", error_description="the token does not grant tool:delete_repository", scope="tool:delete_repository""#)
        guard case .failure(let missing) = await world.verifier.authorize(nil, tool: "search_code") else { Issue.record("no token was allowed"); return }
        #expect(missing.status == 401 && missing.wwwAuthenticate(resourceMetadata: metadata) == #"Bearer resource_metadata="\#(metadata)""#)
        guard case .failure(let other) = await world.verifier.authorize(try world.token(Self.claims(aud: "https://mcp.example/notion")), tool: "search_code") else {
            Issue.record("another server's token was allowed")
            return
        }
        #expect(other.status == 401 && other.wwwAuthenticate(resourceMetadata: nil) == #"Bearer error="invalid_token", error_description="the token is not for this server""#)
        #expect(VerificationError(.malformed, #"a "quoted" \ reason"#).wwwAuthenticate(resourceMetadata: nil).contains(#"error_description="a \"quoted\" \\ reason""#))
        #expect(AccessTokenVerifier.bearerToken(fromAuthorization: "Bearer abc") == "abc")
        #expect(AccessTokenVerifier.bearerToken(fromAuthorization: "bearer  abc") == "abc")
        #expect(AccessTokenVerifier.bearerToken(fromAuthorization: "Basic abc") == nil)
        #expect(AccessTokenVerifier.bearerToken(fromAuthorization: "Bearer ") == nil)
    }
}
