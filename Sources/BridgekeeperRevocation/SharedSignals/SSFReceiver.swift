import BridgekeeperAudit
public import BridgekeeperCore
public import BridgekeeperGrants
public import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation
import Synchronization

/// One Shared Signals transmitter Bridgekeeper receives from (an IdP's SSF stream).
public struct SSFTransmitter: Sendable {
    public let name: String
    /// The transmitter's `iss` (exact).
    public let issuer: String
    /// The `aud` its SETs carry for us (exact): the stream's audience; our issuer by default.
    public let audience: String
    public let keys: any KeySource
    public let algorithms: Set<JWSAlgorithm>
    /// The subjects' issuer and tenant (the IdP whose people the stream speaks about).
    public let subjectIssuer: String
    public let tenant: String?
    /// The `authorization_header` value we gave the transmitter for push (RFC 8935 §2), hashed.
    public let pushAuthorization: SecretHash

    public init(name: String, issuer: String, audience: String, keys: any KeySource, algorithms: Set<JWSAlgorithm>, subjectIssuer: String,
                tenant: String?, pushAuthorization: SecretHash) {
        self.name = name
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.algorithms = algorithms
        self.subjectIssuer = subjectIssuer
        self.tenant = tenant
        self.pushAuthorization = pushAuthorization
    }
}

/// The Shared Signals receiver (SSF 1.0, RFC 8935 push; issue 6) at `/signals/ssf/{transmitter}`.
///
/// Each SET is checked in a fixed order: the push authorization, then `typ` `secevent+jwt`, an
/// algorithm the transmitter is allowed, its key by `kid` from its JWKS, the signature, the exact
/// `iss` and `aud`, `sub_id` present, `sub` and `exp` absent, `events` an object. A valid SET is
/// answered 202 once its signals are durable in the inbox (deduplicated by `jti`), and processed in
/// the same request; an invalid one gets 400 with the RFC 8935 `err` code, audited.
public struct SSFReceiver: APIEndpoint {
    public static let caep = "https://schemas.openid.net/secevent/caep/event-type/"
    public static let risc = "https://schemas.openid.net/secevent/risc/event-type/"
    public static let ssf = "https://schemas.openid.net/secevent/ssf/event-type/"

    let transmitters: [SSFTransmitter]
    let store: any SCIMStore & AuditLog
    let signals: SignalProcessor
    let clock: any WallClock
    let secrets = SecretMemo()

    public init(transmitters: [SSFTransmitter], store: any SCIMStore & AuditLog, signals: SignalProcessor, clock: any WallClock) {
        self.transmitters = transmitters
        self.store = store
        self.signals = signals
        self.clock = clock
    }

    /// An RFC 8935 §2.3 error: `err` and a description, audited with `reason`.
    struct Refusal: Error {
        let status: Int
        let err: String
        let description: String
        let reason: ReasonCode
    }

    public func handle(_ request: APIRequest) async -> EndpointResponse {
        var transmitter: SSFTransmitter? = nil
        do {
            guard request.method == "POST", request.path.count == 1, let found = transmitters.first(where: { $0.name == request.path[0] }) else {
                throw Refusal(status: 404, err: "invalid_request", description: "no such transmitter", reason: .ssfInvalidRequest)
            }
            transmitter = found
            guard let authorization = request.authorization, secrets.matches(authorization, found.pushAuthorization, source: found.name) else {
                throw Refusal(status: 401, err: "authentication_failed", description: "the push authorization is not the one this stream was given",
                              reason: .ssfAuthenticationFailed)
            }
            guard request.contentType == "application/secevent+jwt" else {
                throw Refusal(status: 400, err: "invalid_request", description: "send one SET as application/secevent+jwt", reason: .ssfInvalidRequest)
            }
            let set = try await verify(String(decoding: request.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), from: found)
            try await accept(set, from: found, remote: request.remoteAddress)
            return EndpointResponse(status: 202, body: "")
        } catch let refusal as Refusal {
            let event = AuditEvent(kind: .denial, reason: refusal.reason, time: clock.now(), remoteAddress: request.remoteAddress,
                                   performedBy: transmitter.map { "ssf:\($0.name)" })
            do { _ = try await store.append(event) } catch { return .serverError }
            return EndpointResponse(status: refusal.status,
                                    body: JSONValue.object(JSONObject(["err": .string(refusal.err), "description": .string(refusal.description)])).serialized())
        } catch {
            // The SET was valid but its signals could not be made durable: not accepted, so the
            // transmitter retries.
            return .serverError
        }
    }

    /// A verified SET's claims.
    func verify(_ compact: String, from transmitter: SSFTransmitter) async throws -> JSONObject {
        let jws: UnverifiedJWS
        do { jws = try UnverifiedJWS(compact: compact) } catch {
            throw Refusal(status: 400, err: "invalid_request", description: "not a compact JWS: \(error.code.rawValue)", reason: .ssfInvalidRequest)
        }
        let verified: VerifiedJWT
        do {
            verified = try await KeyedVerification.verify(jws, kind: .securityEvent, keys: transmitter.keys, algorithms: transmitter.algorithms,
                                                          rules: ClaimRules(issuer: transmitter.issuer, audience: transmitter.audience),
                                                          now: clock.now())
        } catch {
            switch error {
            case .keysUnavailable:
                throw Refusal(status: 400, err: "invalid_key", description: "the transmitter's keys cannot be fetched", reason: .ssfInvalidKey)
            case .jose(let failure):
                throw Self.refusal(failure)
            }
        }
        let claims = verified.claims.object
        // SSF 1.0 §4.1: sub_id at the top, no sub, no exp.
        guard case .object? = claims["sub_id"] else {
            throw Refusal(status: 400, err: "invalid_request", description: "a SET needs a top-level sub_id", reason: .ssfInvalidRequest)
        }
        for forbidden in ["sub", "exp"] where claims[forbidden] != nil {
            throw Refusal(status: 400, err: "invalid_request", description: "a SET must not carry \(forbidden)", reason: .ssfInvalidRequest)
        }
        guard case .string(let jti)? = claims["jti"], !jti.isEmpty, jti.utf8.count <= 256 else {
            throw Refusal(status: 400, err: "invalid_request", description: "jti must be a non-empty string", reason: .ssfInvalidRequest)
        }
        return claims
    }

    static func refusal(_ error: JOSEError) -> Refusal {
        switch error.code {
        case .wrongIssuer: return Refusal(status: 400, err: "invalid_issuer", description: "iss is not this stream's transmitter", reason: .ssfInvalidIssuer)
        case .wrongAudience, .multipleAudiences:
            return Refusal(status: 400, err: "invalid_audience", description: "aud is not this receiver", reason: .ssfInvalidAudience)
        case .badSignature, .badSignatureEncoding, .unknownKey, .keyIDRequired, .algorithmNotAllowed, .algorithmNone, .symmetricAlgorithm,
             .embeddedKey, .invalidKey:
            return Refusal(status: 400, err: "invalid_key", description: "the signature does not verify with the transmitter's keys (\(error.code.rawValue))",
                           reason: .ssfInvalidKey)
        default:
            return Refusal(status: 400, err: "invalid_request", description: "not a valid SET (\(error.code.rawValue))", reason: .ssfInvalidRequest)
        }
    }

    /// Turns each event into a signal (or a recorded no-op) and submits it.
    func accept(_ claims: JSONObject, from transmitter: SSFTransmitter, remote: String?) async throws {
        guard case .object(let events)? = claims["events"], case .string(let jti)? = claims["jti"], case .object(let subID)? = claims["sub_id"] else { return }
        for (index, member) in events.members.enumerated() {
            let payload = member.value.objectValue ?? JSONObject()
            let action = SSFEvents.action(for: member.name, payload: payload)
            guard let action else {
                // Verification, stream updates and events that ask nothing of us: recorded, accepted.
                let reason: ReasonCode = member.name.hasPrefix(Self.ssf) ? .ssfControlEvent : .ssfEventIgnored
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
                                            action: action)
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

/// What each CAEP and RISC event asks of the broker (SPECS §4): pure.
public enum SSFEvents {
    public static func action(for event: String, payload: JSONObject) -> InboundSignal.Action? {
        let caep = SSFReceiver.caep, risc = SSFReceiver.risc
        switch event {
        case caep + "session-revoked", risc + "sessions-revoked", risc + "account-credential-change-required",
             risc + "credential-compromise", risc + "identifier-changed", risc + "identifier-recycled":
            return .revokeSessions
        case caep + "credential-change":
            let change = payload["change_type"]?.stringValue ?? ""
            let credential = payload["credential_type"]?.stringValue ?? ""
            // A credential revoked or deleted, or a password reset: sessions on the old one end.
            if change == "revoke" || change == "delete" || (change == "update" && credential == "password") { return .revokeSessions }
            return nil
        case caep + "assurance-level-change":
            return payload["change_direction"]?.stringValue == "decrease" ? .revokeSessions : nil
        case caep + "token-claims-change":
            guard case .object(let claims)? = payload["claims"] else { return nil }
            func list(_ name: String) -> [String]? {
                switch claims[name] {
                case .array(let values)?: return values.compactMap(\.stringValue)
                case .string(let value)?: return [value]
                default: return nil
                }
            }
            let groups = list("groups"), roles = list("roles")
            return groups == nil && roles == nil ? nil : .attributes(groups: groups, roles: roles)
        case risc + "account-disabled", risc + "account-purged":
            return .offboard
        case risc + "account-enabled":
            return .enable
        default:
            return nil
        }
    }
}

extension ReasonCode {
    public static let ssfAuthenticationFailed = ReasonCode("ssf_authentication_failed")
    public static let ssfInvalidRequest = ReasonCode("ssf_invalid_request")
    public static let ssfInvalidKey = ReasonCode("ssf_invalid_key")
    public static let ssfInvalidIssuer = ReasonCode("ssf_invalid_issuer")
    public static let ssfInvalidAudience = ReasonCode("ssf_invalid_audience")
    /// A verification or stream-updated event: recorded, nothing to do.
    public static let ssfControlEvent = ReasonCode("ssf_control_event")
    /// An event that asks nothing of the broker (a credential created, an assurance increase…).
    public static let ssfEventIgnored = ReasonCode("ssf_event_ignored")
    /// The SET's subject is no one this IdP connection knows.
    public static let ssfSubjectUnknown = ReasonCode("ssf_subject_unknown")
}
