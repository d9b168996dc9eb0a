import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation
import BridgekeeperKeys
public import BridgekeeperSignalSettings
public import BridgekeeperEndpoint

/// The Okta Event Hooks receiver (issue 6) at `/signals/okta/{hook}`.
///
/// Okta authenticates only with the static header configured in the hook. The one-time
/// verification is a GET carrying `X-Okta-Verification-Challenge`, answered
/// `{"verification": value}`. Each POST carries events; each event becomes a signal deduplicated by
/// its `uuid` (Okta delivers at least once), durable before the 200, processed in the same request.
/// A person deactivated, suspended or being deleted, or unassigned from the app, is offboarded;
/// re-activated or unsuspended, enabled; removed from a group, that group leaves their recorded
/// groups and the tokens that now exceed policy are revoked.
public struct OktaEventHooks: APIEndpoint {
    let hooks: [OktaEventHook]
    let store: any AuditLog
    let signals: SignalProcessor
    let clock: any WallClock
    /// Hook secrets already checked, and the per-credential limits, keyed by the hook and the peer address.
    let secrets: SecretMemo

    public init(hooks: [OktaEventHook], store: any AuditLog, signals: SignalProcessor, clock: any WallClock, limits: CredentialLimits = .none) {
        self.secrets = SecretMemo(limits: limits)
        self.hooks = hooks
        self.store = store
        self.signals = signals
        self.clock = clock
    }

    public func handle(_ request: APIRequest) async -> EndpointResponse {
        guard request.path.count == 1, let hook = hooks.first(where: { $0.name == request.path[0] }) else {
            return await refuse(404, "no such hook", .oktaHookInvalidRequest, hook: nil, request)
        }
        let key = SecretMemo.limitKey("okta:" + hook.name, remote: request.remoteAddress)
        let now = clock.now()
        if let retryAfter = secrets.limits.refuseRequest(key, now: now) {
            return await refuse(429, "too many requests", .rateLimited, hook: hook, request).adding(["Retry-After": String(retryAfter)])
        }
        let presented = hook.header == "authorization" ? request.authorization : request.headers[hook.header]
        switch presented.map({ secrets.check($0, hook.secret, source: hook.name, key: key, now: now) }) ?? .mismatch {
        case .match: break
        case .mismatch: return await refuse(401, "the hook's authorization header is missing or wrong", .oktaHookUnauthorized, hook: hook, request)
        case .refused(let retryAfter):
            return await refuse(429, "too many requests", .rateLimited, hook: hook, request).adding(["Retry-After": String(retryAfter)])
        }
        switch request.method {
        case "GET":
            guard let challenge = request.headers["x-okta-verification-challenge"], !challenge.isEmpty, challenge.utf8.count <= 256 else {
                return await refuse(400, "a GET is the one-time verification: X-Okta-Verification-Challenge is missing", .oktaHookInvalidRequest,
                                    hook: hook, request)
            }
            return EndpointResponse(status: 200, body: JSONValue.object(JSONObject(["verification": .string(challenge)])).serialized())
        case "POST":
            guard case .object(let body)? = try? JSONValue.parse(request.body), case .object(let data)? = body["data"],
                  case .array(let events)? = data["events"] else {
                return await refuse(400, "expected {\"data\":{\"events\":[…]}}", .oktaHookInvalidRequest, hook: hook, request)
            }
            do {
                for case .object(let event) in events {
                    guard let signal = Self.signal(event, hook: hook, processor: signals) else {
                        _ = try await store.append(AuditEvent(kind: .administration, reason: .oktaHookEventIgnored, time: clock.now(),
                                                              remoteAddress: request.remoteAddress, performedBy: "okta_event_hook:\(hook.name)"))
                        continue
                    }
                    _ = try await signals.submit(signal)
                }
            } catch {
                // Not durable: Okta retries the delivery.
                return .serverError
            }
            return EndpointResponse(status: 200, body: "")
        default:
            return await refuse(405, "GET (verification) or POST (events)", .oktaHookInvalidRequest, hook: hook, request)
        }
    }

    /// The signal an Okta event asks for: its action, the user it targets (the Okta user id is the
    /// ID token's `sub`), deduplicated by the event's `uuid`. Nil for events that ask nothing.
    static func signal(_ event: JSONObject, hook: OktaEventHook, processor: SignalProcessor) -> InboundSignal? {
        guard case .string(let type)? = event["eventType"], case .string(let uuid)? = event["uuid"], !uuid.isEmpty,
              case .array(let targets)? = event["target"] else { return nil }
        let objects = targets.compactMap(\.objectValue)
        guard let user = objects.first(where: { $0["type"]?.stringValue == "User" })?["id"]?.stringValue, !user.isEmpty else { return nil }
        let action: InboundSignal.Action
        switch type {
        case "user.lifecycle.deactivate", "user.lifecycle.suspend", "user.lifecycle.delete.initiated", "application.user_membership.remove":
            action = .offboard
        case "user.lifecycle.activate", "user.lifecycle.reactivate", "user.lifecycle.unsuspend":
            action = .enable
        case "group.user_membership.remove":
            guard let group = objects.first(where: { $0["type"]?.stringValue == "UserGroup" })?["displayName"]?.stringValue else { return nil }
            action = .leaveGroup(group)
        case "user.session.clear", "user.account.reset_password", "user.mfa.factor.reset_all":
            action = .revokeSessions
        default:
            return nil
        }
        return processor.signal(source: .oktaEventHook, connection: hook.name, externalID: uuid, event: type,
                                subject: SubjectKey(issuer: hook.subjectIssuer, tenant: hook.tenant, subject: user), action: action,
                                occurredAt: event["published"]?.stringValue.flatMap(Self.published))
    }

    /// An event's `published` time (RFC 3339, e.g. `2019-05-01T19:40:29.785Z`), by which it is
    /// ordered against other signals (`StatusOrder`); nil when absent or malformed (then it counts
    /// as of its arrival).
    static func published(_ text: String) -> Date? {
        guard text.utf8.count <= 64 else { return nil }
        let precise = ISO8601DateFormatter()
        precise.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = precise.date(from: text) { return date }
        return ISO8601DateFormatter().date(from: text)
    }

    func refuse(_ status: Int, _ message: String, _ reason: ReasonCode, hook: OktaEventHook?, _ request: APIRequest) async -> EndpointResponse {
        let event = AuditEvent(kind: .denial, reason: reason, time: clock.now(), remoteAddress: request.remoteAddress,
                               performedBy: hook.map { "okta_event_hook:\($0.name)" })
        do { _ = try await store.appendRefusal(event) } catch { return .serverError }
        return EndpointResponse(status: status,
                                body: JSONValue.object(JSONObject(["error": .string("invalid_request"), "error_description": .string(message)])).serialized())
    }
}

extension ReasonCode {
    public static let oktaHookUnauthorized = ReasonCode("okta_hook_unauthorized")
    public static let oktaHookInvalidRequest = ReasonCode("okta_hook_invalid_request")
    /// An Okta event that asks nothing of the broker.
    public static let oktaHookEventIgnored = ReasonCode("okta_hook_event_ignored")
}
