public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
public import Foundation
import Synchronization

/// Authenticates confidential clients (RFC 6749 §2.3): `client_secret_basic` (§2.3.1, the
/// TypeScript and Swift SDKs and the conformance mock), `client_secret_post` (the Python and Go
/// SDKs), and `private_key_jwt` (RFC 7523 §2.2, rfc7523bis: `aud` is our issuer, one value; `jti`
/// single use). Exactly one method per request; no public clients.
public struct ClientAuthenticator: Sendable {
    public static let assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// Longest accepted client assertion lifetime (`exp - iat`), seconds.
    public static let maxAssertionLifetime: TimeInterval = 300

    private let clients: [ExactString: ClientRegistration]
    private let issuer: String
    private let ledger: any IssuanceLedger
    private let clock: any WallClock
    private let verified = VerifiedSecrets()

    public init(clients: [ClientRegistration], issuer: String, ledger: any IssuanceLedger, clock: any WallClock) {
        var byID: [ExactString: ClientRegistration] = [:]
        for client in clients { byID[ExactString(client.id)] = client }
        self.clients = byID
        self.issuer = issuer
        self.ledger = ledger
        self.clock = clock
    }

    public func registration(_ id: String) -> ClientRegistration? { clients[ExactString(id)] }

    /// The form parameters client authentication reads; every endpoint declares them.
    public static let parameters: Set<String> = ["client_id", "client_secret", "client_assertion", "client_assertion_type"]

    /// - Parameter authorization: the `Authorization` header, if any.
    /// - Throws: `invalid_client` (401) for a missing, unknown or failed authentication;
    ///   `invalid_request` (400) for two methods at once or a `client_id` that contradicts them.
    public func authenticate(authorization: String?, form: FormParameters) async throws(OAuthError) -> AuthenticatedClient {
        var basic: (id: String, secret: String)? = nil
        if let authorization { basic = try Self.basicCredentials(authorization) }
        let postSecret = form.value("client_secret")
        let assertion = form.value("client_assertion")
        let formClientID = form.value("client_id")
        let presented = [basic != nil, postSecret != nil, assertion != nil].filter { $0 }.count
        guard presented <= 1 else {
            throw OAuthError(.invalidRequest, "use exactly one client authentication method", reason: .clientAuthenticationAmbiguous)
        }
        if let basic {
            if let formClientID, !formClientID.isExactly(basic.id) {
                throw OAuthError(.invalidRequest, "client_id differs from the authenticated client", reason: .clientIDMismatch)
            }
            return try verifySecret(id: basic.id, secret: basic.secret, method: .clientSecretBasic)
        }
        if let postSecret {
            guard let formClientID else {
                throw OAuthError(.invalidRequest, "client_secret needs client_id", reason: .missingParameter)
            }
            return try verifySecret(id: formClientID, secret: postSecret, method: .clientSecretPost)
        }
        if let assertion {
            return try await verifyAssertion(assertion, type: form.value("client_assertion_type"), formClientID: formClientID)
        }
        throw OAuthError(.invalidClient, "client authentication is required", reason: .clientAuthenticationMissing)
    }

    /// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
    static func basicCredentials(_ header: String) throws(OAuthError) -> (id: String, secret: String)? {
        let bytes = Array(header.utf8)
        guard bytes.count > 6, bytes.prefix(6).map({ $0 | 0x20 }) == Array("basic ".utf8) else {
            // Another scheme (Bearer, DPoP) is not client authentication at this endpoint.
            return nil
        }
        var credentials = bytes.dropFirst(6)
        while let first = credentials.first, first == 0x20 || first == 0x09 { credentials = credentials.dropFirst() }
        while let last = credentials.last, last == 0x20 || last == 0x09 { credentials = credentials.dropLast() }
        guard let raw = Self.standardBase64(credentials), let decoded = String(validating: raw, as: UTF8.self),
              let colon = decoded.firstIndex(of: ":") else {
            throw OAuthError(.invalidClient, "malformed Basic credentials", reason: .badClientSecret)
        }
        do {
            let id = try FormParameters.decode(Array(decoded[..<colon].utf8))
            let secret = try FormParameters.decode(Array(decoded[decoded.index(after: colon)...].utf8))
            guard !id.isEmpty else { throw OAuthError(.invalidClient, "empty client id", reason: .unknownClient) }
            return (id, secret)
        } catch {
            throw OAuthError(.invalidClient, "malformed Basic credentials", reason: .badClientSecret)
        }
    }

    /// Standard base64 with padding (RFC 4648 §4), as RFC 7617 sends it; nil when malformed.
    static func standardBase64(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var body = text
        var padding = 0
        while body.last == UInt8(ascii: "="), padding < 2 {
            body = body.dropLast()
            padding += 1
        }
        var translated: [UInt8] = []
        translated.reserveCapacity(body.count)
        for byte in body {
            switch byte {
            case UInt8(ascii: "+"): translated.append(UInt8(ascii: "-"))
            case UInt8(ascii: "/"): translated.append(UInt8(ascii: "_"))
            case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "="): return nil  // the URL alphabet, or padding inside
            default: translated.append(byte)
            }
        }
        return try? translated.withUnsafeBufferPointer { buffer throws(JOSEError) in try Base64URL.decode(buffer[...]) }
    }

    private func verifySecret(id: String, secret: String, method: AuthenticatedClient.Method) throws(OAuthError) -> AuthenticatedClient {
        guard let client = registration(id) else {
            throw OAuthError(.invalidClient, "client authentication failed", reason: .unknownClient)
        }
        guard case .secret(let hash) = client.credential, client.methods.contains(method) else {
            throw OAuthError(.invalidClient, "client authentication failed", reason: .wrongClientAuthenticationMethod)
        }
        guard verified.check(client: id, secret: secret, hash: hash) else {
            throw OAuthError(.invalidClient, "client authentication failed", reason: .badClientSecret)
        }
        return AuthenticatedClient(id: id, method: method)
    }

    private func verifyAssertion(_ assertion: String, type: String?, formClientID: String?) async throws(OAuthError) -> AuthenticatedClient {
        guard let type, type.isExactly(Self.assertionType) else {
            throw OAuthError(.invalidClient, "client_assertion_type must be \(Self.assertionType)", reason: .badClientAssertion)
        }
        func failed(_ error: JOSEError) -> OAuthError {
            OAuthError(.invalidClient, "client assertion: \(error.reason)", reason: .badClientAssertion)
        }
        let jws: UnverifiedJWS
        let claimedID: String
        do throws(JOSEError) {
            jws = try UnverifiedJWS(compact: assertion)
            guard let sub = try JWTClaims(jws.unverifiedClaims()).subject() else {
                throw JOSEError(.missingClaim, "the client assertion needs sub")
            }
            claimedID = sub
        } catch { throw failed(error) }
        if let formClientID, !formClientID.isExactly(claimedID) {
            throw OAuthError(.invalidRequest, "client_id differs from the client assertion's sub", reason: .clientIDMismatch)
        }
        guard let client = registration(claimedID) else {
            throw OAuthError(.invalidClient, "client authentication failed", reason: .unknownClient)
        }
        guard case .privateKeyJWT(let keySource, let algorithms) = client.credential else {
            throw OAuthError(.invalidClient, "client authentication failed", reason: .wrongClientAuthenticationMethod)
        }
        let rules = ClaimRules(issuer: client.id, audience: issuer, leeway: 60, maxLifetime: Self.maxAssertionLifetime)
        let now = clock.now()
        let verifiedJWT: VerifiedJWT
        do throws(KeyedVerification.Failure) {
            verifiedJWT = try await KeyedVerification.verify(jws, kind: .clientAssertion, keys: keySource, algorithms: algorithms, rules: rules, now: now)
        } catch {
            switch error {
            case .jose(let jose): throw failed(jose)
            case .keysUnavailable: throw OAuthError(.invalidClient, "the client's keys are unavailable", reason: .keysUnavailable)
            }
        }
        let jti: String
        let expiry: Date
        do throws(JOSEError) {
            guard let value = try verifiedJWT.claims.tokenID(), !value.isEmpty, value.utf8.count <= 256 else {
                throw JOSEError(.invalidClaim, "jti must be 1 to 256 bytes")
            }
            jti = value
            expiry = try verifiedJWT.claims.expiration() ?? now
        } catch { throw failed(error) }
        let mark = ReplayMark(namespace: .clientAssertion, issuer: client.id, jti: jti, expiresAt: expiry.addingTimeInterval(60))
        let outcome: CommitOutcome
        do { outcome = try await ledger.commit(marks: [mark], token: nil, audit: nil) } catch {
            throw OAuthError(.invalidClient, "client authentication could not be recorded", reason: ReasonCode("store_unavailable"))
        }
        guard case .committed = outcome else {
            throw OAuthError(.invalidClient, "client assertion was already used", reason: .clientAssertionReplayed)
        }
        return AuthenticatedClient(id: client.id, method: .privateKeyJWT)
    }
}

/// Secrets that verified recently, so that PBKDF2 runs once per client and secret rather than once
/// per request. Held as HMAC under a key that lives only in this process; a wrong secret is never
/// cached and always pays the full PBKDF2 cost.
final class VerifiedSecrets: Sendable {
    private let key = SecureRandom.bytes(32)
    private let entries = Mutex<[ExactString: [UInt8]]>([:])

    func check(client: String, secret: String, hash: SecretHash) -> Bool {
        let tag = Digest.hmacSHA256(key: key, message: Array(client.utf8) + [0] + Array(secret.utf8))
        if let known = entries.withLock({ $0[ExactString(client)] }), Digest.constantTimeEquals(known, tag) { return true }
        guard hash.matches(secret) else { return false }
        entries.withLock { entries in
            if entries.count > 10_000 { entries.removeAll() }
            entries[ExactString(client)] = tag
        }
        return true
    }
}
