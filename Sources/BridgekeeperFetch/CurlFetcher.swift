internal import CCurl
import Dispatch

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
}

/// Fetches documents (JWKS, metadata) from IdPs.
public protocol DocumentFetcher: Sendable {
    func get(_ url: String) async throws(FetchError) -> FetchedDocument
}

/// Outbound GETs over libcurl, locked down for fetching trust material (NOTES-native): https only
/// (plain http only to loopback, and only when allowed), peer and host verification on, no
/// redirects, connect and total timeouts, a body size cap enforced while reading, no signals.
/// The blocking transfer runs on a Dispatch queue, never on Swift's cooperative pool.
public struct CurlFetcher: DocumentFetcher {
    public struct Settings: Sendable {
        /// Seconds to connect. Default 3.
        public var connectTimeout: Double = 3
        /// Seconds for the whole transfer. Default 5.
        public var totalTimeout: Double = 5
        /// Largest body accepted, in bytes. Default 1 MiB.
        public var maxBytes: Int = 1 << 20
        /// Allow `http://` to 127.0.0.1, [::1] and localhost (tests, local IdPs). Default off.
        public var allowLoopbackHTTP = false

        public init() {}
    }

    public let settings: Settings

    public init(settings: Settings = Settings()) {
        self.settings = settings
        _ = CurlFetcher.globalInit
    }

    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    public func get(_ url: String) async throws(FetchError) -> FetchedDocument {
        try checkScheme(url)
        let settings = self.settings
        let result: Result<FetchedDocument, FetchError> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .utility).async {
                continuation.resume(returning: Result { () throws(FetchError) in try CurlFetcher.transfer(url, settings) })
            }
        }
        return try result.get()
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
        var overflow = false
        let maxBytes: Int
        init(maxBytes: Int) { self.maxBytes = maxBytes }
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
            if line.lowercased().hasPrefix("cache-control:") {
                sink.cacheControl = String(line.dropFirst("cache-control:".count)).trimmingWhitespace()
            }
        }
        return length
    }

    private static func transfer(_ url: String, _ settings: Settings) throws(FetchError) -> FetchedDocument {
        guard let curl = curl_easy_init() else { throw FetchError(.network, "curl_easy_init failed") }
        defer { curl_easy_cleanup(curl) }
        let sink = Sink(maxBytes: settings.maxBytes)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        let protocols = settings.allowLoopbackHTTP ? "http,https" : "https"
        var ok = true
        ok = ok && bk_curl_set_string(curl, CURLOPT_URL, url) == CURLE_OK
        ok = ok && bk_curl_set_string(curl, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_NOSIGNAL, 1) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_FOLLOWLOCATION, 0) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_SSL_VERIFYPEER, 1) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_SSL_VERIFYHOST, 2) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT_MS, Int(settings.connectTimeout * 1000)) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_TIMEOUT_MS, Int(settings.totalTimeout * 1000)) == CURLE_OK
        ok = ok && bk_curl_set_long(curl, CURLOPT_MAXFILESIZE, settings.maxBytes) == CURLE_OK
        ok = ok && bk_curl_set_string(curl, CURLOPT_USERAGENT, "bridgekeeper") == CURLE_OK
        ok = ok && bk_curl_set_write_function(curl, CURLOPT_WRITEFUNCTION, writeBody) == CURLE_OK
        ok = ok && bk_curl_set_pointer(curl, CURLOPT_WRITEDATA, context) == CURLE_OK
        ok = ok && bk_curl_set_write_function(curl, CURLOPT_HEADERFUNCTION, writeHeader) == CURLE_OK
        ok = ok && bk_curl_set_pointer(curl, CURLOPT_HEADERDATA, context) == CURLE_OK
        guard ok else { throw FetchError(.network, "could not configure the transfer") }

        let code = withExtendedLifetime(sink) { curl_easy_perform(curl) }
        if sink.overflow || code == CURLE_FILESIZE_EXCEEDED {
            throw FetchError(.tooLarge, "response body exceeds \(settings.maxBytes) bytes")
        }
        if code == CURLE_OPERATION_TIMEDOUT { throw FetchError(.timeout, "no complete answer within \(settings.totalTimeout) s") }
        if code == CURLE_UNSUPPORTED_PROTOCOL { throw FetchError(.insecureURL, "protocol not allowed") }
        guard code == CURLE_OK else {
            throw FetchError(.network, String(cString: curl_easy_strerror(code)))
        }
        var status = 0
        _ = bk_curl_get_long(curl, CURLINFO_RESPONSE_CODE, &status)
        if (300..<400).contains(status) { throw FetchError(.redirect, "HTTP \(status): redirects are not followed") }
        guard (200..<300).contains(status) else { throw FetchError(.httpStatus, "HTTP \(status)") }
        return FetchedDocument(status: status, body: sink.body, cacheControl: sink.cacheControl)
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
