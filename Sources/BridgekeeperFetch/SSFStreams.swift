public import BridgekeeperJOSE

/// A Shared Signals transmitter's configuration (SSF 1.0 §7.1), from
/// `/.well-known/ssf-configuration{/path}`.
public struct SSFTransmitterMetadata: Sendable, Hashable {
    public let issuer: String
    public let jwksURI: String?
    public let configurationEndpoint: String
    public let statusEndpoint: String?
    public let verificationEndpoint: String?
    public let deliveryMethods: [String]
    public let document: JSONObject

    /// The delivery method URIs (SSF 1.0 §6.1.1).
    public static let push = "urn:ietf:rfc:8935"
    public static let poll = "urn:ietf:rfc:8936"

    /// The well-known URL for `issuer`: the suffix goes between the host and any path (SSF 1.0 §7.2,
    /// as RFC 8414 §3.1 does it).
    public static func url(issuer: String) -> String {
        var trimmed = issuer
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let schemeEnd = trimmed.firstRange(of: "://") else { return trimmed + "/.well-known/ssf-configuration" }
        let afterScheme = trimmed[schemeEnd.upperBound...]
        guard let slash = afterScheme.firstIndex(of: "/") else { return trimmed + "/.well-known/ssf-configuration" }
        return String(trimmed[..<slash]) + "/.well-known/ssf-configuration" + String(trimmed[slash...])
    }

    /// Parses the document and checks that it speaks for `issuer` exactly (a mix-up defence, as
    /// RFC 8414 §3.3 asks of authorization server metadata).
    public static func parse(_ body: [UInt8], issuer expected: String) throws(FetchError) -> SSFTransmitterMetadata {
        guard case .object(let object)? = try? JSONValue.parse(body, limits: JSONLimits(maxBytes: 1 << 20)) else {
            throw FetchError(.invalidDocument, "the SSF configuration is not a JSON object")
        }
        guard let issuer = object["issuer"]?.stringValue, issuer.isExactly(expected) else {
            throw FetchError(.invalidDocument, "the SSF configuration's issuer is not \(expected)")
        }
        guard let configuration = object["configuration_endpoint"]?.stringValue else {
            throw FetchError(.invalidDocument, "the transmitter publishes no configuration_endpoint: its streams cannot be managed here")
        }
        var methods: [String] = []
        if case .array(let values)? = object["delivery_methods_supported"] { methods = values.compactMap(\.stringValue) }
        return SSFTransmitterMetadata(issuer: issuer, jwksURI: object["jwks_uri"]?.stringValue, configurationEndpoint: configuration,
                                      statusEndpoint: object["status_endpoint"]?.stringValue,
                                      verificationEndpoint: object["verification_endpoint"]?.stringValue, deliveryMethods: methods,
                                      document: object)
    }
}

/// The receiver's side of SSF stream management (SSF 1.0 §8.1): create a stream, trigger its
/// verification, read its status, delete it. Every call carries the bearer token the transmitter's
/// management API was given.
public struct SSFStreamClient: Sendable {
    let fetcher: CurlFetcher
    /// The `Authorization` header value every call carries.
    public let authorization: String

    /// Calls authorized with a bearer token (what IdP transmitters issue).
    public init(fetcher: CurlFetcher, token: String) {
        self.init(fetcher: fetcher, authorization: "Bearer \(token)")
    }

    /// Calls authorized with any header value (HTTP Basic client credentials for the broker's own
    /// revocation feed).
    public init(fetcher: CurlFetcher, authorization: String) {
        self.fetcher = fetcher
        self.authorization = authorization
    }

    public func discover(issuer: String) async throws(FetchError) -> SSFTransmitterMetadata {
        let document = try await fetcher.get(SSFTransmitterMetadata.url(issuer: issuer))
        return try SSFTransmitterMetadata.parse(document.body, issuer: issuer)
    }

    /// Creates a stream (SSF 1.0 §8.1.1.1): `delivery` (method, and for push the endpoint and its
    /// authorization header), the events asked for, a description. Returns the transmitter's stream
    /// configuration (`stream_id`, `iss`, `aud`, `events_delivered`, `delivery`…).
    public func create(at metadata: SSFTransmitterMetadata, delivery: JSONObject, events: [String], description: String) async throws(FetchError) -> JSONObject {
        let body = JSONObject(["delivery": .object(delivery), "events_requested": .array(events.map { .string($0) }),
                               "description": .string(description)])
        let answer = try await call(.post, metadata.configurationEndpoint, body)
        guard case .object(let stream)? = try? JSONValue.parse(answer, limits: JSONLimits(maxBytes: 1 << 20)),
              stream["stream_id"]?.stringValue != nil else {
            throw FetchError(.invalidDocument, "the transmitter's answer has no stream_id")
        }
        return stream
    }

    /// Asks the transmitter to send a verification event carrying `state` (SSF 1.0 §8.1.4.2).
    public func verify(at metadata: SSFTransmitterMetadata, streamID: String, state: String) async throws(FetchError) {
        guard let endpoint = metadata.verificationEndpoint else { throw FetchError(.invalidDocument, "the transmitter publishes no verification_endpoint") }
        _ = try await call(.post, endpoint, JSONObject(["stream_id": .string(streamID), "state": .string(state)]))
    }

    /// The stream's status (SSF 1.0 §8.1.2.1): `enabled`, `paused` or `disabled`, and a reason.
    public func status(at metadata: SSFTransmitterMetadata, streamID: String) async throws(FetchError) -> JSONObject {
        guard let endpoint = metadata.statusEndpoint else { throw FetchError(.invalidDocument, "the transmitter publishes no status_endpoint") }
        let answer = try await call(.get, endpoint + "?stream_id=" + HTTPRequest.percentEncoded(streamID), nil)
        guard case .object(let status)? = try? JSONValue.parse(answer, limits: JSONLimits(maxBytes: 1 << 20)) else {
            throw FetchError(.invalidDocument, "the stream status is not a JSON object")
        }
        return status
    }

    /// Deletes the stream (SSF 1.0 §8.1.1.5).
    public func delete(at metadata: SSFTransmitterMetadata, streamID: String) async throws(FetchError) {
        _ = try await call(.delete, metadata.configurationEndpoint + "?stream_id=" + HTTPRequest.percentEncoded(streamID), nil)
    }

    /// One authorized JSON call; a 2xx answer's body, else an error naming the status and the
    /// transmitter's own words (trimmed).
    func call(_ method: HTTPRequest.Method, _ url: String, _ body: JSONObject?) async throws(FetchError) -> [UInt8] {
        var headers = [HTTPRequest.Header("Authorization", authorization), HTTPRequest.Header("Accept", "application/json")]
        if body != nil { headers.append(HTTPRequest.Header("Content-Type", "application/json")) }
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body.map { Array(JSONValue.object($0).serialized().utf8) })
        let answer = try await fetcher.send(request)
        guard (200..<300).contains(answer.status) else {
            let text = String(decoding: answer.body.prefix(300), as: UTF8.self)
            throw FetchError(.httpStatus, "HTTP \(answer.status) from \(url): \(text)")
        }
        return answer.body
    }
}
