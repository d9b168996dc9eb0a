import Foundation
import BridgekeeperClientAuth

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
