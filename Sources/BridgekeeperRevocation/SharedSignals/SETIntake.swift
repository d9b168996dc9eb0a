import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation
import BridgekeeperKeys
public import BridgekeeperSignalSettings

/// Why a SET was not accepted: the RFC 8935 §2.3 / RFC 8936 §2.4.4 `err` code and description the
/// transmitter is told, and the audited reason.
public struct SETRefusal: Error, Sendable, Hashable {
    public let status: Int
    public let err: String
    public let description: String
    public let reason: ReasonCode

    public init(status: Int, err: String, description: String, reason: ReasonCode) {
        self.status = status
        self.err = err
        self.description = description
        self.reason = reason
    }
}

/// What every delivery method (RFC 8935 push, RFC 8936 poll) does with one SET from a configured
/// transmitter: verify it, then turn each of its events into a durable signal in the inbox and
/// process it; or refuse it, audited.
///
/// The checks, in order: `typ` `secevent+jwt`, an algorithm the transmitter is allowed, its key by
/// `kid` from its JWKS (refetched once for an unknown `kid`), the signature, the exact `iss` and
/// `aud`, `iat` neither in the future nor older than the stream's `max_set_age`, `sub_id` present,
/// `sub` and `exp` absent, `jti` a non-empty string (and, when polled, the one the SET was
/// delivered under), each event's payload an object whose `event_timestamp`, when present, is a
/// NumericDate not in the future.
///
/// Each event counts as of its `event_timestamp` (CAEP), or the SET's `iat` without one: the
/// signal processor orders status changes by it (`StatusOrder`), so a late SET cannot undo a
/// newer one.
public struct SETIntake: Sendable {
    let store: any SCIMStore & AuditLog
    let signals: SignalProcessor
    let clock: any WallClock

    public init(store: any SCIMStore & AuditLog, signals: SignalProcessor, clock: any WallClock) {
        self.store = store
        self.signals = signals
        self.clock = clock
    }

    /// Nil when the SET was accepted: its signals are durable (and processed). A refusal is audited
    /// before it is returned. Throws only when the store failed: then nothing was accepted, and the
    /// transmitter must deliver the SET again.
    public func take(_ compact: String, from transmitter: SSFTransmitter, remote: String?, deliveredAs jti: String? = nil) async throws -> SETRefusal? {
        do {
            let claims = try await verify(compact, from: transmitter)
            if let jti, claims["jti"]?.stringValue != jti {
                throw SETRefusal(status: 400, err: "invalid_request", description: "the SET's jti is not the one it was delivered under",
                                 reason: .ssfInvalidRequest)
            }
            try await accept(claims, from: transmitter, remote: remote)
            return nil
        } catch let refusal as SETRefusal {
            return try await refuse(refusal, from: transmitter, remote: remote)
        }
    }

    /// Audits `refusal` (by the transmitter, when known) and returns it.
    public func refuse(_ refusal: SETRefusal, from transmitter: SSFTransmitter?, remote: String?) async throws -> SETRefusal {
        _ = try await store.appendRefusal(AuditEvent(kind: .denial, reason: refusal.reason, time: clock.now(), remoteAddress: remote,
                                                     performedBy: transmitter.map { "ssf:\($0.name)" }))
        return refusal
    }

    /// A verified SET's claims.
    func verify(_ compact: String, from transmitter: SSFTransmitter) async throws -> JSONObject {
        let jws: UnverifiedJWS
        do { jws = try UnverifiedJWS(compact: compact) } catch {
            throw SETRefusal(status: 400, err: "invalid_request", description: "not a compact JWS: \(error.code.rawValue)", reason: .ssfInvalidRequest)
        }
        let verified: VerifiedJWT
        do {
            verified = try await KeyedVerification.verify(jws, kind: .securityEvent, keys: transmitter.keys, algorithms: transmitter.algorithms,
                                                          rules: ClaimRules(issuer: transmitter.issuer, audience: transmitter.audience),
                                                          now: clock.now())
        } catch {
            switch error {
            case .keysUnavailable:
                throw SETRefusal(status: 400, err: "invalid_key", description: "the transmitter's keys cannot be fetched", reason: .ssfInvalidKey)
            case .jose(let failure):
                throw Self.refusal(failure)
            }
        }
        let claims = verified.claims.object
        // RFC 8417 §2.2 makes `iat` required (the verifier checked it is not in the future); a SET
        // older than the stream allows is refused, whatever it says.
        if let issued = try? verified.claims.issuedAt(), clock.now().timeIntervalSince(issued) > transmitter.maxSETAge {
            throw SETRefusal(status: 400, err: "invalid_request",
                             description: "the SET was issued more than \(Int(transmitter.maxSETAge)) s ago (max_set_age)", reason: .ssfSETTooOld)
        }
        // SSF 1.0 §4.1: sub_id at the top, no sub, no exp.
        guard case .object? = claims["sub_id"] else {
            throw SETRefusal(status: 400, err: "invalid_request", description: "a SET needs a top-level sub_id", reason: .ssfInvalidRequest)
        }
        for forbidden in ["sub", "exp"] where claims[forbidden] != nil {
            throw SETRefusal(status: 400, err: "invalid_request", description: "a SET must not carry \(forbidden)", reason: .ssfInvalidRequest)
        }
        guard case .string(let jti)? = claims["jti"], !jti.isEmpty, jti.utf8.count <= 256 else {
            throw SETRefusal(status: 400, err: "invalid_request", description: "jti must be a non-empty string", reason: .ssfInvalidRequest)
        }
        // RFC 8417 §2.2: each event's payload is a JSON object. One that is not (a string, an array,
        // null) refuses the whole SET: nothing of it is acted on.
        guard case .object(let events)? = claims["events"], events.count > 0 else {
            throw SETRefusal(status: 400, err: "invalid_request", description: "events must be a JSON object naming at least one event",
                             reason: .ssfInvalidRequest)
        }
        for member in events.members {
            guard let payload = member.value.objectValue else {
                throw SETRefusal(status: 400, err: "invalid_request", description: "the payload of event \(member.name.prefix(120)) is not a JSON object",
                                 reason: .ssfEventPayloadInvalid)
            }
            // CAEP §2: event_timestamp, when present, is a NumericDate; a time in the future would
            // outrank whatever comes after it.
            guard payload["event_timestamp"] != nil else { continue }
            guard let time = try? JWTClaims(payload).date("event_timestamp") else {
                throw SETRefusal(status: 400, err: "invalid_request", description: "event_timestamp of \(member.name.prefix(120)) is not a NumericDate",
                                 reason: .ssfEventPayloadInvalid)
            }
            guard time.timeIntervalSince(clock.now()) <= Self.leeway else {
                throw SETRefusal(status: 400, err: "invalid_request", description: "event_timestamp of \(member.name.prefix(120)) is in the future",
                                 reason: .ssfEventTimeInvalid)
            }
        }
        return claims
    }

    /// Clock skew allowed on `event_timestamp`, as on `iat`.
    static let leeway: TimeInterval = 60

    /// When an event occurred: its `event_timestamp`, or the SET's `iat` (both checked by `verify`).
    static func occurredAt(_ payload: JSONObject, claims: JSONObject) -> Date? {
        (try? JWTClaims(payload).date("event_timestamp")) ?? (try? JWTClaims(claims).issuedAt()) ?? nil
    }

    static func refusal(_ error: JOSEError) -> SETRefusal {
        switch error.code {
        case .wrongIssuer: return SETRefusal(status: 400, err: "invalid_issuer", description: "iss is not this stream's transmitter", reason: .ssfInvalidIssuer)
        case .wrongAudience, .multipleAudiences:
            return SETRefusal(status: 400, err: "invalid_audience", description: "aud is not this receiver", reason: .ssfInvalidAudience)
        case .badSignature, .badSignatureEncoding, .unknownKey, .keyIDRequired, .algorithmNotAllowed, .algorithmNone, .symmetricAlgorithm,
             .embeddedKey, .invalidKey:
            return SETRefusal(status: 400, err: "invalid_key",
                              description: "the signature does not verify with the transmitter's keys (\(error.code.rawValue))", reason: .ssfInvalidKey)
        default:
            return SETRefusal(status: 400, err: "invalid_request", description: "not a valid SET (\(error.code.rawValue))", reason: .ssfInvalidRequest)
        }
    }

    /// Turns each event into a signal (or a recorded no-op) and submits it.
    func accept(_ claims: JSONObject, from transmitter: SSFTransmitter, remote: String?) async throws {
        guard case .object(let events)? = claims["events"], case .string(let jti)? = claims["jti"], case .object(let subID)? = claims["sub_id"] else { return }
        for (index, member) in events.members.enumerated() {
            guard let payload = member.value.objectValue else { continue }  // `verify` refused such a SET
            let action = SSFEvents.action(for: member.name, payload: payload)
            guard let action else {
                // Verification, stream updates and events that ask nothing of us: recorded, accepted.
                let reason: ReasonCode
                switch member.name {
                case SSFReceiver.ssf + "verification": reason = .ssfVerification
                case SSFReceiver.ssf + "stream-updated": reason = .ssfStreamUpdated
                default: reason = .ssfEventIgnored
                }
                _ = try await store.append(AuditEvent(kind: .administration, reason: reason, time: clock.now(), remoteAddress: remote,
                                                      performedBy: "ssf:\(transmitter.name)"))
                continue
            }
            let subjects = try await resolve(subID, transmitter)
            guard !subjects.isEmpty else {
                _ = try await store.append(AuditEvent(kind: .administration, reason: .ssfSubjectUnknown, time: clock.now(), remoteAddress: remote,
                                                      performedBy: "ssf:\(transmitter.name)"))
                continue
            }
            for (n, subject) in subjects.enumerated() {
                var external = events.count > 1 ? "\(jti)#\(index)" : jti
                if subjects.count > 1 { external += "@\(n)" }
                let signal = signals.signal(source: .ssf, connection: transmitter.name, externalID: external, event: member.name, subject: subject,
                                            action: action, occurredAt: Self.occurredAt(payload, claims: claims))
                _ = try await signals.submit(signal)
            }
        }
    }

    /// The people a subject identifier (RFC 9493, SSF `complex`) names, as this IdP's subjects.
    func resolve(_ id: JSONObject, _ transmitter: SSFTransmitter) async throws -> [SubjectKey] {
        guard case .string(let format)? = id["format"] else { return [] }
        let key = { (sub: String) in SubjectKey(issuer: transmitter.subjectIssuer, tenant: transmitter.tenant, subject: sub) }
        switch format {
        case "iss_sub":
            guard case .string(let iss)? = id["iss"], case .string(let sub)? = id["sub"], iss.isExactly(transmitter.subjectIssuer) else { return [] }
            return [key(sub)]
        case "opaque":
            guard case .string(let sub)? = id["id"], !sub.isEmpty else { return [] }
            return [key(sub)]
        case "email":
            guard case .string(let email)? = id["email"], !email.isEmpty else { return [] }
            // Known through SCIM: the people whose provisioned User has this email, of this IdP.
            return try await store.subjects(withEmail: email).filter { $0.issuer.isExactly(transmitter.subjectIssuer) && $0.tenant == transmitter.tenant }
        case "complex":
            // One principal: the `user` member names them; `tenant`, when present, must be ours.
            if case .object(let tenant)? = id["tenant"] {
                guard let ours = transmitter.tenant, case .string(let value)? = tenant["id"] ?? tenant["sub"], value.isExactly(ours) else { return [] }
            }
            guard case .object(let user)? = id["user"] else { return [] }
            return try await resolve(user, transmitter)
        default:
            return []
        }
    }
}
