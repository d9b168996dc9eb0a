internal import CCurl
public import BridgekeeperCore
import Dispatch
import Foundation
import Synchronization

/// Why an outbound fetch failed. A struct with an extensible code (STYLE rule 6).
public struct FetchError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// Not `https` (or, where allowed, `http` to a loopback address).
        public static let insecureURL = Code("insecure_url")
        public static let network = Code("network")
        public static let timeout = Code("timeout")
        public static let tooLarge = Code("too_large")
        /// A 3xx answer: redirects are never followed.
        public static let redirect = Code("redirect")
        public static let httpStatus = Code("http_status")
        /// The document arrived but is not what was expected (e.g. not a JWK Set).
        public static let invalidDocument = Code("invalid_document")
        /// The request itself cannot be sent (a header with a line break).
        public static let invalidRequest = Code("invalid_request")
        /// The calling task was cancelled; the transfer was aborted.
        public static let cancelled = Code("cancelled")
        /// The host resolved only to addresses the fetcher's `DestinationPolicy` refuses (loopback,
        /// link-local, private, ...): no connection was opened.
        public static let internalAddress = Code("internal_address")
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }
}

/// A document fetched over HTTP(S).
public struct FetchedDocument: Sendable {
    public let status: Int
    public let body: [UInt8]
    /// The `Cache-Control` response header, when present.
    public let cacheControl: String?
    /// The `Location` response header, when present (only ever seen by a caller that asked for
    /// redirects back with `HTTPRequest.returnRedirects`; they are never followed).
    public let location: String?

    public init(status: Int, body: [UInt8], cacheControl: String? = nil, location: String? = nil) {
        self.status = status
        self.body = body
        self.cacheControl = cacheControl
        self.location = location
    }
}

/// One outbound request for `CurlFetcher.send`: a GET, or a POST with a body (an OAuth form).
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case get = "GET", post = "POST", delete = "DELETE"
    }

    public struct Header: Sendable, Hashable {
        public let name: String
        public let value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var method: Method
    public var url: String
    /// Request headers. Names and values must not hold CR or LF (refused by `send`).
    public var headers: [Header]
    public var body: [UInt8]?
    /// Hand a 3xx answer back (with its `Location`) instead of failing with `redirect`. Redirects
    /// are never followed either way. Default off.
    public var returnRedirects = false
    /// Seconds for this transfer, instead of the fetcher's `totalTimeout` (a long poll waits longer).
    public var timeout: Double?

    public init(method: Method = .get, url: String, headers: [Header] = [], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// A POST of `application/x-www-form-urlencoded` pairs (RFC 6749 Appendix B), in order.
    public static func form(_ url: String, _ pairs: [(String, String)], headers: [Header] = []) -> HTTPRequest {
        HTTPRequest(method: .post, url: url, headers: [Header("Content-Type", "application/x-www-form-urlencoded")] + headers,
                    body: Array(formEncoded(pairs).utf8))
    }

    /// `name=value&…`, every byte but the RFC 3986 unreserved characters percent-encoded.
    public static func formEncoded(_ pairs: [(String, String)]) -> String {
        pairs.map { percentEncoded($0.0) + "=" + percentEncoded($0.1) }.joined(separator: "&")
    }

    /// The HTTP Basic `Authorization` value of client credentials (RFC 6749 §2.3.1: each part
    /// form-encoded before Base64).
    public static func basicAuthorization(clientID: String, secret: String) -> String {
        "Basic " + Data((percentEncoded(clientID) + ":" + percentEncoded(secret)).utf8).base64EncodedString()
    }

    /// Percent-encodes every byte but ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3).
    public static func percentEncoded(_ value: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Where a fetcher may connect. The operator's own URLs (IdPs, clients' keys) go `anywhere`; URLs
/// named by someone else (an agent's `jwks_uri`) only to public addresses, unless their host is one
/// the operator allows by name. Judged at connect time on each address the host resolves to (DNS
/// rebinding, names for internal addresses, `0x7f.1`-style spellings), before a socket is opened.
public enum DestinationPolicy: Sendable, Equatable {
    case anywhere
    /// Refuses every address in an `InternalRange` unless the URL's host is in the allow-list.
    /// Proxies from the environment are not used, so the address judged is the one connected to.
    case publicOnly(allowing: InternalHostAllowList)
}

/// Fetches documents (JWKS, metadata) from IdPs.
public protocol DocumentFetcher: Sendable {
    func get(_ url: String) async throws(FetchError) -> FetchedDocument
}

/// Outbound requests over libcurl, locked down for fetching trust material (NOTES-native): https
/// only (plain http only to loopback, and only when allowed), peer and host verification on, no
/// redirects, connect and total timeouts, a body size cap enforced while reading, no signals.
/// The blocking transfer runs on a Dispatch queue, never on Swift's cooperative pool.
///
/// `get` is for documents (any answer but 2xx is an error); `send` is for the terminal client's
/// OAuth calls (a form POST with headers), and hands back every status with its body, because an
/// OAuth error arrives as a 400 with a JSON body.
public struct CurlFetcher: DocumentFetcher {
    public struct Settings: Sendable {
        /// Seconds to connect. Default 3.
        public var connectTimeout: Double = 3
        /// Seconds for the whole transfer. Default 5.
        public var totalTimeout: Double = 5
        /// Largest body accepted, in bytes. Default 1 MiB.
        public var maxBytes: Int = 1 << 20
        /// Allow `http://` to 127.0.0.1, [::1] and localhost (tests, local IdPs). Default off. It
        /// does not lift `destinations`: a loopback URL is still refused under `.publicOnly` unless
        /// its host is allowed by name.
        public var allowLoopbackHTTP = false
        /// Where transfers may connect. Default `.anywhere`.
        public var destinations: DestinationPolicy = .anywhere

        public init() {}
    }

    public let settings: Settings

    public init(settings: Settings = Settings()) {
        self.settings = settings
        _ = CurlFetcher.globalInit
    }

    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    public func get(_ url: String) async throws(FetchError) -> FetchedDocument {
        let document = try await send(HTTPRequest(url: url))
        guard (200..<300).contains(document.status) else { throw FetchError(.httpStatus, "HTTP \(document.status)") }
        return document
    }

    /// Sends `request` and returns the answer whatever its status (a 3xx only when the request
    /// asks for it back; never followed). Cancelling the calling task aborts the transfer within
    /// moments (libcurl's progress callback sees it), so a long poll never holds up a shutdown.
    public func send(_ request: HTTPRequest) async throws(FetchError) -> FetchedDocument {
        try checkScheme(request.url)
        for header in request.headers where (header.name + header.value).utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
            throw FetchError(.invalidRequest, "header \(header.name.prefix(40)) holds a line break")
        }
        let settings = self.settings
        let cancellation = Cancellation()
        let result: Result<FetchedDocument, FetchError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global(qos: .utility).async {
                    continuation.resume(returning: Result { () throws(FetchError) in try CurlFetcher.transfer(request, settings, cancellation) })
                }
            }
        } onCancel: {
            cancellation.flag.store(true, ordering: .relaxed)
        }
        return try result.get()
    }

    /// Set when the calling task is cancelled; read by the transfer's progress callback.
    private final class Cancellation: Sendable {
        let flag = Atomic<Bool>(false)
    }

    func checkScheme(_ url: String) throws(FetchError) {
        let lower = url.lowercased()
        if lower.hasPrefix("https://") { return }
        if settings.allowLoopbackHTTP,
           ["http://127.0.0.1:", "http://127.0.0.1/", "http://[::1]:", "http://[::1]/", "http://localhost:", "http://localhost/"]
               .contains(where: { lower.hasPrefix($0) }) {
            return
        }
        throw FetchError(.insecureURL, "only https URLs are fetched (got \(url.prefix(80)))")
    }

    /// The collected body and headers of one transfer; passed to the C callbacks as an opaque pointer.
    private final class Sink {
        var body: [UInt8] = []
        var cacheControl: String?
        var location: String?
        var overflow = false
        /// Whether each address is judged before connecting (`.publicOnly`, host not allowed).
        var refusesInternal = false
        /// The first address refused and why, e.g. `169.254.169.254 (a link-local address)`.
        var refused: String?
        let maxBytes: Int
        let cancellation: Cancellation
        init(maxBytes: Int, cancellation: Cancellation) {
            self.maxBytes = maxBytes
            self.cancellation = cancellation
        }
    }

    /// Nonzero aborts the transfer (CURLE_ABORTED_BY_CALLBACK) once the caller is cancelled.
    private static let progress: bk_curl_xferinfo_callback = { context, _, _, _, _ in
        let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
        return sink.cancellation.flag.load(ordering: .relaxed) ? 1 : 0
    }

    /// Opens the socket for an address unless `refusesInternal` and the address is internal (or
    /// not IP): then CURL_SOCKET_BAD, so curl tries the host's next address or fails to connect,
    /// and no packet has reached the refused address.
    private static let openSocket: bk_curl_opensocket_callback = { context, _, address in
        let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
        if sink.refusesInternal {
            var raw = [UInt8](repeating: 0, count: 16)
            let count = Int(bk_curl_sockaddr_ip(address, &raw))
            guard let ip = IPAddress(bytes: raw.prefix(count)) else {
                sink.refused = sink.refused ?? "an address that is not IP"
                return CURL_SOCKET_BAD
            }
            if let range = ip.internalRange {
                sink.refused = sink.refused ?? "\(ip) (a \(range.rawValue) address)"
                return CURL_SOCKET_BAD
            }
        }
        return bk_curl_open_socket(address)
    }

    private static let writeBody: bk_curl_write_callback = { data, size, count, context in
        let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
        let length = size * count
        guard sink.body.count + length <= sink.maxBytes else {
            sink.overflow = true
            return 0  // a short write aborts the transfer
        }
        if let data { sink.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length)) }
        return length
    }

    private static let writeHeader: bk_curl_write_callback = { data, size, count, context in
        let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
        let length = size * count
        if let data {
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
            let lower = line.lowercased()
            if lower.hasPrefix("http/") {
                // A new response (after a 100 Continue): only the final one's headers count.
                sink.cacheControl = nil
                sink.location = nil
            } else if lower.hasPrefix("cache-control:") {
                sink.cacheControl = String(line.dropFirst("cache-control:".count)).trimmingWhitespace()
            } else if lower.hasPrefix("location:") {
                sink.location = String(line.dropFirst("location:".count)).trimmingWhitespace()
            }
        }
        return length
    }

    private static func transfer(_ request: HTTPRequest, _ settings: Settings, _ cancellation: Cancellation) throws(FetchError) -> FetchedDocument {
        let url = request.url
        guard let curl = curl_easy_init() else { throw FetchError(.network, "curl_easy_init failed") }
        defer { curl_easy_cleanup(curl) }
        // Request headers; an empty "Expect:" stops curl from waiting for a 100 Continue on larger bodies.
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for line in request.headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            guard let appended = curl_slist_append(headerList, line) else { throw FetchError(.network, "curl_slist_append failed") }
            headerList = appended
        }
        if cancellation.flag.load(ordering: .relaxed) { throw FetchError(.cancelled, "cancelled before the transfer began") }
        let sink = Sink(maxBytes: settings.maxBytes, cancellation: cancellation)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        let protocols = settings.allowLoopbackHTTP ? "http,https" : "https"
        // Under `.publicOnly` curl parses the URL once (CURLOPT_CURLU) and the allow-list is
        // matched against the host curl will connect to, not another parser's reading of it.
        var parsed: OpaquePointer? = nil
        defer { if let parsed { curl_url_cleanup(parsed) } }
        var host = ""
        var ok = true
        if case .publicOnly(let allowed) = settings.destinations {
            guard let handle = curl_url(), curl_url_set(handle, CURLUPART_URL, url, 0) == CURLUE_OK else {
                throw FetchError(.invalidRequest, "not a URL: \(url.prefix(80))")
            }
            parsed = handle
            var part: UnsafeMutablePointer<CChar>? = nil
            guard curl_url_get(handle, CURLUPART_HOST, &part, 0) == CURLUE_OK, let part else {
                throw FetchError(.invalidRequest, "no host in \(url.prefix(80))")
            }
            host = String(cString: part)
            curl_free(part)
            sink.refusesInternal = !allowed.contains(host: host)
            ok = ok && bk_curl_set_pointer(curl, CURLOPT_CURLU, UnsafeMutableRawPointer(handle)) == CURLE_OK
            ok = ok && bk_curl_set_string(curl, CURLOPT_PROXY, "") == CURLE_OK
            ok = ok && bk_curl_set_opensocket_function(curl, openSocket) == CURLE_OK
            ok = ok && bk_curl_set_pointer(curl, CURLOPT_OPENSOCKETDATA, context) == CURLE_OK
        } else {
            ok = ok && bk_curl_set_string(curl, CURLOPT_URL, url) == CURLE_OK
        }
        ok = ok && bk_curl_set_string(curl, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_NOSIGNAL, 1) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_FOLLOWLOCATION, 0) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_SSL_VERIFYPEER, 1) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_SSL_VERIFYHOST, 2) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT_MS, Int(settings.connectTimeout * 1000)) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_TIMEOUT_MS, Int((request.timeout ?? settings.totalTimeout) * 1000)) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_MAXFILESIZE, settings.maxBytes) == CURLE_OK
        ok = ok && bk_curl_set_string(curl, CURLOPT_USERAGENT, "bridgekeeper") == CURLE_OK
        ok = ok && bk_curl_set_write_function(curl, CURLOPT_WRITEFUNCTION, writeBody) == CURLE_OK
        ok = ok && bk_curl_set_pointer(curl, CURLOPT_WRITEDATA, context) == CURLE_OK
        ok = ok && bk_curl_set_write_function(curl, CURLOPT_HEADERFUNCTION, writeHeader) == CURLE_OK
        ok = ok && bk_curl_set_pointer(curl, CURLOPT_HEADERDATA, context) == CURLE_OK
        ok = ok && bk_curl_set_pointer(curl, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList)) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_NOPROGRESS, 0) == CURLE_OK
        ok = ok && bk_curl_set_xferinfo_function(curl, progress) == CURLE_OK
        ok = ok && bk_curl_set_pointer(curl, CURLOPT_XFERINFODATA, context) == CURLE_OK
        if request.method == .delete {
            ok = ok && bk_curl_set_string(curl, CURLOPT_CUSTOMREQUEST, "DELETE") == CURLE_OK
        }
        if request.method == .post {
            let body = request.body ?? []
            ok = ok && bk_curl_set_long(curl, CURLOPT_POST, 1) == CURLE_OK
            ok = ok && bk_curl_set_long(curl, CURLOPT_POSTFIELDSIZE, body.count) == CURLE_OK
            // COPYPOSTFIELDS copies POSTFIELDSIZE bytes before returning; the trailing NUL keeps the
            // buffer non-empty for an empty body.
            var copy = body + [0]
            ok = ok && copy.withUnsafeMutableBytes { bk_curl_set_pointer(curl, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) == CURLE_OK }
        }
        guard ok else { throw FetchError(.network, "could not configure the transfer") }

        let code = withExtendedLifetime(sink) { curl_easy_perform(curl) }
        if sink.overflow || code == CURLE_FILESIZE_EXCEEDED {
            throw FetchError(.tooLarge, "response body exceeds \(settings.maxBytes) bytes")
        }
        if code == CURLE_ABORTED_BY_CALLBACK { throw FetchError(.cancelled, "the caller was cancelled") }
        if code != CURLE_OK, let refused = sink.refused {
            throw FetchError(.internalAddress, "\(host.prefix(80)) resolved to \(refused); not connected")
        }
        if code == CURLE_OPERATION_TIMEDOUT { throw FetchError(.timeout, "no complete answer within \(request.timeout ?? settings.totalTimeout) s") }
        if code == CURLE_UNSUPPORTED_PROTOCOL { throw FetchError(.insecureURL, "protocol not allowed") }
        guard code == CURLE_OK else {
            throw FetchError(.network, String(cString: curl_easy_strerror(code)))
        }
        var status = 0
        _ = bk_curl_get_long(curl, CURLINFO_RESPONSE_CODE, &status)
        if (300..<400).contains(status) && !request.returnRedirects {
            throw FetchError(.redirect, "HTTP \(status): redirects are not followed")
        }
        return FetchedDocument(status: status, body: sink.body, cacheControl: sink.cacheControl, location: sink.location)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        let start = scalars.firstIndex { !$0.properties.isWhitespace } ?? scalars.endIndex
        let end = scalars.lastIndex { !$0.properties.isWhitespace }.map { scalars.index(after: $0) } ?? start
        return String(scalars[start..<end])
    }
}
