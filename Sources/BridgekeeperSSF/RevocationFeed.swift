public import BridgekeeperCore
public import BridgekeeperJOSE
public import Foundation

/// One fact a gateway must act on (issue 7): a token is dead, or every token of a subject issued
/// before an instant is.
public enum FeedEvent: Sendable, Hashable {
    /// One token revoked (RFC 7009, narrowing, an offboarding's per-token record).
    case tokenRevoked(jti: String, at: Date)
    /// A subject's revocation epoch moved (an offboarding or a session revocation): their tokens
    /// issued before `before` are dead.
    case subjectRevoked(SubjectKey, before: Date)
}

/// The revocation feed's SETs (issue 7), both ways: the SET each feed event becomes (the broker)
/// and the feed event a SET stands for (the gateway verifier). Which audit records are feed events
/// is the broker's half, in BridgekeeperRevocation.
public enum RevocationFeed {
    /// CAEP session-revoked (CAEP 1.0 §3.1), the one event type the feed sends.
    public static let sessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"

    /// The SET's claims (RFC 8417 as SSF 1.0 §4.1 profiles it: `sub_id` at the top, no `sub`, no
    /// `exp`). A token revocation names the token (`jwt_id`: the broker's `iss` and the `jti`); a
    /// subject revocation names the person (`iss_sub`: the IdP issuer, their `sub`) with the epoch as
    /// `event_timestamp`. The SET's `jti` is `<stream>-<sequence>`, so an acknowledgement names the
    /// audit sequence it covers.
    public static func claims(for event: FeedEvent, sequence: Int64, stream: String, issuer: String, audience: String, now: Date) -> JSONObject {
        let subjectID: JSONObject
        let timestamp: Date
        switch event {
        case .tokenRevoked(let jti, let at):
            subjectID = JSONObject(["format": "jwt_id", "iss": .string(issuer), "jti": .string(jti)])
            timestamp = at
        case .subjectRevoked(let subject, let before):
            subjectID = JSONObject(["format": "iss_sub", "iss": .string(subject.issuer), "sub": .string(subject.subject)])
            timestamp = before
        }
        return JSONObject([
            "iss": .string(issuer), "aud": .string(audience), "jti": .string(setID(stream: stream, sequence: sequence)),
            "iat": .number(JSONNumber(Int64(now.timeIntervalSince1970))), "sub_id": .object(subjectID),
            "events": .object(JSONObject([sessionRevoked: .object(JSONObject([
                "event_timestamp": .number(JSONNumber(Int64(timestamp.timeIntervalSince1970.rounded(.up)))),
                "initiating_entity": "policy",
            ]))])),
        ])
    }

    public static func setID(stream: String, sequence: Int64) -> String { "\(stream)-\(sequence)" }

    /// The audit sequence a SET `jti` of `stream` covers, or nil when it is not one of that stream's.
    public static func sequence(ofSET jti: String, stream: String) -> Int64? {
        guard jti.hasPrefix(stream + "-"), let sequence = Int64(jti.dropFirst(stream.count + 1)), sequence > 0 else { return nil }
        return sequence
    }

    /// What a verifier makes of a feed SET's claims (the inverse of `claims(for:…)`): nil for a SET
    /// that is not a feed event (a verification, say).
    public static func event(fromSET claims: JSONObject, brokerIssuer: String) -> FeedEvent? {
        guard case .object(let events)? = claims["events"], case .object(let payload)? = events[sessionRevoked],
              let seconds = payload["event_timestamp"]?.numberValue?.exactInteger, case .object(let subject)? = claims["sub_id"] else { return nil }
        let time = Date(timeIntervalSince1970: Double(seconds))
        switch subject["format"]?.stringValue {
        case "jwt_id":
            guard subject["iss"]?.stringValue?.isExactly(brokerIssuer) == true, let jti = subject["jti"]?.stringValue else { return nil }
            return .tokenRevoked(jti: jti, at: time)
        case "iss_sub":
            guard let issuer = subject["iss"]?.stringValue, let sub = subject["sub"]?.stringValue else { return nil }
            return .subjectRevoked(SubjectKey(issuer: issuer, subject: sub), before: time)
        default:
            return nil
        }
    }
}
