public import BridgekeeperCore
import Foundation

// The vocabulary every HTTP-facing module shares (issue 19 §1): what a JSON API is handed and what
// any endpoint answers, independent of the HTTP framework. Its own module, on Core only, so that
// Grants, Revocation and Administration sit side by side instead of borrowing it from Grants.


/// A request to one of the JSON APIs (management, SCIM, signal receivers), as its routes hand it
/// over: the path after the API's prefix.
public struct APIRequest: Sendable {
    public let method: String
    public let path: [String]
    public let query: [String: String]
    public let authorization: String?
    /// The media type, lower-cased, without parameters.
    public let contentType: String?
    public let body: [UInt8]
    public let remoteAddress: String?
    /// Other request headers, by lower-cased name (the last value of a repeated one).
    public let headers: [String: String]

    public init(method: String, path: [String], query: [String: String] = [:], authorization: String?, contentType: String?, body: [UInt8],
                remoteAddress: String?, headers: [String: String] = [:]) {
        self.headers = headers
        self.method = method
        self.path = path
        self.query = query
        self.authorization = authorization
        self.contentType = contentType
        self.body = body
        self.remoteAddress = remoteAddress
    }
}

/// What serves a JSON API under a prefix (`/admin/v1`, `/scim/v2`, the signal receivers).
public protocol APIEndpoint: Sendable {
    func handle(_ request: APIRequest) async -> EndpointResponse
}

/// An HTTP answer from an OAuth endpoint, independent of the HTTP framework.
public struct EndpointResponse: Sendable, Equatable {
    public let status: Int
    public let body: String
    public let headers: [String: String]

    public init(status: Int, body: String, headers: [String: String] = [:]) {
        self.status = status
        self.body = body
        var all = headers
        all["Content-Type"] = all["Content-Type"] ?? "application/json"
        all["Cache-Control"] = "no-store"  // RFC 6749 §5.1, §5.2: every token endpoint answer
        all["Pragma"] = "no-cache"
        self.headers = all
    }

    public static func error(_ error: OAuthError, realm: String = "bridgekeeper") -> EndpointResponse {
        if let retryAfter = error.retryAfter { return .tooManyRequests(retryAfter: retryAfter) }
        var headers: [String: String] = [:]
        if error.code == .invalidClient {
            // RFC 6749 §5.2: a 401 names the schemes the client may use.
            headers["WWW-Authenticate"] = "Basic realm=\"\(realm)\", error=\"invalid_client\""
        }
        return EndpointResponse(status: error.code.httpStatus, body: error.body, headers: headers)
    }

    /// The same answer with more headers.
    public func adding(_ more: [String: String]) -> EndpointResponse {
        EndpointResponse(status: status, body: body, headers: headers.merging(more) { _, new in new })
    }

    /// 500 with no detail (STYLE rule 5).
    public static let serverError = EndpointResponse(status: 500, body: #"{"error":"server_error"}"#)

    /// 429 with `Retry-After` (RFC 6585 §4): a rate limit. Audited `rate_limited` where a credential
    /// was claimed; a flood's refusals are aggregated (`DenialAggregator`), so it cannot fill the trail.
    public static func tooManyRequests(retryAfter: Int) -> EndpointResponse {
        EndpointResponse(status: 429, body: #"{"error":"temporarily_unavailable","error_description":"rate limit exceeded"}"#,
                         headers: ["Retry-After": String(retryAfter)])
    }
}
