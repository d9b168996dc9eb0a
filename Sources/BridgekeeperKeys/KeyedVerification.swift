public import BridgekeeperJOSE
public import Foundation

/// JWT verification against a `KeySource`: when the token names a `kid` the current set lacks, the
/// source is asked once for fresher keys (a rotation at the IdP), then the verification is final.
public enum KeyedVerification {
    public enum Failure: Error, Sendable {
        case jose(JOSEError)
        case keysUnavailable(KeySourceError)
    }

    public static func verify(_ jws: UnverifiedJWS, kind: TokenKind, keys: any KeySource, algorithms: Set<JWSAlgorithm>,
                              rules: ClaimRules, now: Date) async throws(Failure) -> VerifiedJWT {
        try await verify(kind: kind, keys: keys, algorithms: algorithms, rules: rules) { verifier throws(JOSEError) in
            try verifier.verify(jws, now: now)
        }
    }

    /// The same for claims already parsed.
    public static func verify(_ parsed: ParsedJWT, kind: TokenKind, keys: any KeySource, algorithms: Set<JWSAlgorithm>,
                              rules: ClaimRules, now: Date) async throws(Failure) -> VerifiedJWT {
        try await verify(kind: kind, keys: keys, algorithms: algorithms, rules: rules) { verifier throws(JOSEError) in
            try verifier.verify(parsed, now: now)
        }
    }

    private static func verify(kind: TokenKind, keys: any KeySource, algorithms: Set<JWSAlgorithm>, rules: ClaimRules,
                               _ check: (JWTVerifier) throws(JOSEError) -> VerifiedJWT) async throws(Failure) -> VerifiedJWT {
        let set: JWKSet
        do { set = try await keys.keys() } catch { throw .keysUnavailable(error) }
        do {
            return try check(JWTVerifier(kind: kind, signatures: JWSVerifier(keys: set, algorithms: algorithms), rules: rules))
        } catch where error.code == .unknownKey {
            let fresher: JWKSet
            do { fresher = try await keys.keysAfterUnknownKeyID() } catch { throw .keysUnavailable(error) }
            do {
                return try check(JWTVerifier(kind: kind, signatures: JWSVerifier(keys: fresher, algorithms: algorithms), rules: rules))
            } catch { throw .jose(error) }
        } catch {
            throw .jose(error)
        }
    }
}
