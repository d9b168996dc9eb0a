import BridgekeeperAudit
public import BridgekeeperCore
public import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation
import Synchronization
import BridgekeeperKeys
public import BridgekeeperSignalSettings
public import BridgekeeperEndpoint

/// The Shared Signals receiver (SSF 1.0, RFC 8935 push; issue 6) at `/signals/ssf/{transmitter}`.
///
/// The push authorization and the media type are checked here; the SET itself goes through the
/// `SETIntake` every delivery method shares. A valid SET is answered 202 once its signals are
/// durable in the inbox (and processed in the same request); an invalid one gets 400 (401 for the
/// authorization) with the RFC 8935 `err` code, audited.
public struct SSFReceiver: APIEndpoint {
    public static let caep = "https://schemas.openid.net/secevent/caep/event-type/"
    public static let risc = "https://schemas.openid.net/secevent/risc/event-type/"
    public static let ssf = "https://schemas.openid.net/secevent/ssf/event-type/"

    let transmitters: [SSFTransmitter]
    let intake: SETIntake
    /// Push authorizations already checked, and the per-credential limits, keyed by the stream and
    /// the peer address.
    let secrets: SecretMemo

    public init(transmitters: [SSFTransmitter], intake: SETIntake, limits: CredentialLimits = .none) {
        self.secrets = SecretMemo(limits: limits)
        self.transmitters = transmitters
        self.intake = intake
    }

    public func handle(_ request: APIRequest) async -> EndpointResponse {
        let found = request.method == "POST" && request.path.count == 1 ? transmitters.first(where: { $0.name == request.path[0] }) : nil
        let refusal: SETRefusal?
        do {
            let key = SecretMemo.limitKey("ssf:" + (found?.name ?? "-"), remote: request.remoteAddress)
            let now = intake.clock.now()
            var outcome = SecretMemo.Outcome.mismatch
            if let retryAfter = secrets.limits.refuseRequest(key, now: now) {
                outcome = .refused(retryAfter: retryAfter)
            } else if let found, let authorization = request.authorization, let expected = found.pushAuthorization {
                outcome = secrets.check(authorization, expected, source: found.name, key: key, now: now)
            }
            if case .refused(let retryAfter) = outcome {
                // RFC 8935 has no error code for it: 429 with Retry-After (RFC 6585 §4), audited.
                let limited = try await intake.refuse(SETRefusal(status: 429, err: "rate_limited", description: "too many requests", reason: .rateLimited),
                                                      from: found, remote: request.remoteAddress)
                return EndpointResponse(status: limited.status, body: JSONValue.object(JSONObject([
                    "err": .string(limited.err), "description": .string(limited.description)])).serialized(), headers: ["Retry-After": String(retryAfter)])
            }
            if let found {
                if outcome == .match {
                    if request.contentType == "application/secevent+jwt" {
                        let compact = String(decoding: request.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                        refusal = try await intake.take(compact, from: found, remote: request.remoteAddress)
                    } else {
                        refusal = try await intake.refuse(SETRefusal(status: 400, err: "invalid_request", description: "send one SET as application/secevent+jwt",
                                                                     reason: .ssfInvalidRequest), from: found, remote: request.remoteAddress)
                    }
                } else {
                    let description = found.pushAuthorization == nil ? "this stream is polled; it takes no pushes"
                        : "the push authorization is not the one this stream was given"
                    refusal = try await intake.refuse(SETRefusal(status: 401, err: "authentication_failed", description: description,
                                                                 reason: .ssfAuthenticationFailed), from: found, remote: request.remoteAddress)
                }
            } else {
                refusal = try await intake.refuse(SETRefusal(status: 404, err: "invalid_request", description: "no such transmitter", reason: .ssfInvalidRequest),
                                                  from: nil, remote: request.remoteAddress)
            }
        } catch {
            // The SET was valid but its signals could not be made durable (or a refusal could not be
            // audited): not accepted, so the transmitter retries.
            return .serverError
        }
        guard let refusal else { return EndpointResponse(status: 202, body: "") }
        return EndpointResponse(status: refusal.status,
                                body: JSONValue.object(JSONObject(["err": .string(refusal.err), "description": .string(refusal.description)])).serialized())
    }
}

/// What each CAEP and RISC event asks of the broker (SPECS §4): pure.
public enum SSFEvents {
    /// Every event type the broker acts on: what `ssf stream create` asks a transmitter for.
    public static let handled: [String] = {
        let caep = SSFReceiver.caep, risc = SSFReceiver.risc
        return ["session-revoked", "credential-change", "token-claims-change", "assurance-level-change"].map { caep + $0 }
            + ["account-disabled", "account-purged", "account-enabled", "account-credential-change-required", "credential-compromise",
               "identifier-changed", "identifier-recycled", "sessions-revoked"].map { risc + $0 }
    }()

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
    /// An event's payload in the SET is not a JSON object (RFC 8417 §2.2): the SET is refused whole.
    public static let ssfEventPayloadInvalid = ReasonCode("ssf_event_payload_invalid")
    /// The SET's `iat` is older than the stream's `max_set_age`: refused, for the operator to reconcile.
    public static let ssfSETTooOld = ReasonCode("ssf_set_too_old")
    /// An event's `event_timestamp` is in the future.
    public static let ssfEventTimeInvalid = ReasonCode("ssf_event_time_invalid")
    public static let ssfInvalidKey = ReasonCode("ssf_invalid_key")
    public static let ssfInvalidIssuer = ReasonCode("ssf_invalid_issuer")
    public static let ssfInvalidAudience = ReasonCode("ssf_invalid_audience")
    /// A stream verification event (SSF 1.0 §8.1.4) arrived: the stream delivers. Recorded, answered
    /// like any SET (202 for a push, an acknowledgement for a poll).
    public static let ssfVerification = ReasonCode("ssf_verification")
    /// The transmitter says the stream's status changed (enabled, paused, disabled).
    public static let ssfStreamUpdated = ReasonCode("ssf_stream_updated")
    /// An event that asks nothing of the broker (a credential created, an assurance increase…).
    public static let ssfEventIgnored = ReasonCode("ssf_event_ignored")
    /// The SET's subject is no one this IdP connection knows.
    public static let ssfSubjectUnknown = ReasonCode("ssf_subject_unknown")
}
