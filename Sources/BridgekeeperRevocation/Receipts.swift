import BridgekeeperCore
public import BridgekeeperJOSE
public import BridgekeeperStore
public import Foundation
public import BridgekeeperKeys

/// Signed revocation receipts (issue 6): for every offboarding, whatever its source, a JWS that
/// names the subject, the trigger, the time, and the tokens and agents revoked. Signed with the
/// broker's access-token key, so anyone holding our JWKS can check one; its own `typ`
/// (`bridgekeeper-receipt+jwt`), no `aud` and no `exp` keep it from passing for any token.
public struct ReceiptSigner: Sendable {
    public static let type = "bridgekeeper-receipt+jwt"
    let issuer: String
    let keys: KeyRing

    public init(issuer: String, keys: KeyRing) {
        self.issuer = issuer
        self.keys = keys
    }

    /// The receipt of `outcome`, the work `signal` caused at `time`.
    public func sign(signal: InboundSignal, outcome: OwnerOffboarding, disabled: Bool, at time: Date) throws -> StoredReceipt {
        guard let signer = keys.snapshot.signer else { throw JOSEError(.invalidKey, "no active signing key") }
        let id = "rcpt_" + SecureRandom.identifier(bytes: 16)
        let claims = Self.claims(id: id, issuer: issuer, signal: signal, outcome: outcome, disabled: disabled, at: time)
        return StoredReceipt(id: id, subject: signal.subject, signalID: signal.id, issuedAt: time,
                             jws: try signer.signJWT(type: Self.type, claims: claims))
    }

    /// The receipt's claims.
    public static func claims(id: String, issuer: String, signal: InboundSignal, outcome: OwnerOffboarding, disabled: Bool, at time: Date) -> JSONObject {
        let seconds = Int64(time.timeIntervalSince1970.rounded(.down))
        var subject = JSONObject(["format": .string("iss_sub"), "iss": .string(signal.subject.issuer), "sub": .string(signal.subject.subject)])
        if let tenant = signal.subject.tenant { subject["tenant"] = .string(tenant) }
        var trigger = JSONObject([
            "source": .string(signal.source.rawValue), "connection": .string(signal.connection), "event": .string(signal.event),
            "signal_id": .string(signal.id), "received_at": .number(JSONNumber(Int64(signal.receivedAt.timeIntervalSince1970))),
        ])
        if let external = signal.externalID { trigger["external_id"] = .string(external) }
        let tokens: [JSONValue] = outcome.tokensRevoked.map { token in
            var object = JSONObject([
                "jti": .string(token.jti), "aud": .string(token.resource), "client_id": .string(token.clientID),
                "principal_class": .string(token.principal.rawValue), "exp": .number(JSONNumber(Int64(token.expiresAt.timeIntervalSince1970))),
            ])
            if let agent = token.agent { object["agent"] = .string(agent) }
            return .object(object)
        }
        return JSONObject([
            "iss": .string(issuer), "jti": .string(id), "iat": .number(JSONNumber(seconds)),
            "sub_id": .object(subject), "trigger": .object(trigger),
            "action": .string(disabled ? "offboard" : "revoke_sessions"), "disabled": .bool(disabled),
            "revoked_before": .number(JSONNumber(Int64(SubjectStanding.epoch(after: time).timeIntervalSince1970))),
            "agents_disabled": .array(outcome.agentsDisabled.map(JSONValue.string)),
            "tokens_revoked": .array(tokens),
        ])
    }
}

/// Checks a receipt against the broker's published keys: `typ`, an algorithm the key allows, the
/// key by `kid` from our JWKS (never from the header), the signature and the exact issuer.
public enum ReceiptVerifier {
    public static func verify(_ compact: String, issuer: String, keys: JWKSet, now: Date) throws(JOSEError) -> JWTClaims {
        let verifier = JWTVerifier(kind: .revocationReceipt, signatures: JWSVerifier(keys: keys), rules: ClaimRules(issuer: issuer))
        return try verifier.verify(compact, now: now).claims
    }
}

/// Which gateways confirmed a receipt's revocations through the revocation feed (issue 7): every
/// stream that acknowledged the feed through the receipt's last audit sequence, with the time of
/// its first acknowledgement that did.
public enum ReceiptAcknowledgements {
    /// `audit_sequence` and `acknowledgements` (`stream_id`, `client_id`, `acknowledged_at`,
    /// `through`), to add to a receipt's JSON.
    public static func json(_ receipt: StoredReceipt, store: any RevocationFeedStore) async throws -> JSONObject {
        guard let sequence = receipt.auditSequence else { return JSONObject(["acknowledgements": .array([])]) }
        let formatter = ISO8601DateFormatter()
        let acknowledgements = try await store.feedAcknowledgements(covering: sequence).map { ack -> JSONValue in
            .object(JSONObject([
                "stream_id": .string(ack.streamID), "client_id": .string(ack.clientID),
                "acknowledged_at": .string(formatter.string(from: ack.at)), "through": .number(JSONNumber(ack.through)),
            ]))
        }
        return JSONObject(["audit_sequence": .number(JSONNumber(sequence)), "acknowledgements": .array(acknowledgements)])
    }
}
