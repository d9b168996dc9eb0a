import BridgekeeperJOSE

/// A receiver's refusal of one SET, as it goes back to the transmitter (RFC 8936 §2.4.4
/// `setErrs`; the `err` codes of RFC 8935 §2.3).
public struct SETError: Error, Sendable, Hashable {
    public let err: String
    public let description: String

    public init(err: String, description: String) {
        self.err = err
        self.description = description
    }
}

/// One RFC 8936 §2.4 poll request: what the receiver acknowledges, the SETs it refuses (with their
/// `err`), and how many new SETs it will take.
public struct SSFPollRequest: Sendable, Hashable {
    public var maxEvents: Int
    /// True: answer at once even when nothing is queued (short polling). False: the transmitter may
    /// hold the request until a SET arrives (long polling).
    public var returnImmediately: Bool
    /// `jti`s whose SETs are durable here.
    public var acknowledgements: [String]
    /// `jti` → why it was refused (`setErrs`).
    public var errors: [String: SETError]

    public init(maxEvents: Int, returnImmediately: Bool, acknowledgements: [String] = [], errors: [String: SETError] = [:]) {
        self.maxEvents = maxEvents
        self.returnImmediately = returnImmediately
        self.acknowledgements = acknowledgements
        self.errors = errors
    }

    /// The JSON body (RFC 8936 §2.4.1–§2.4.4). `ack` and `setErrs` appear only when non-empty.
    public var body: [UInt8] {
        var object = JSONObject(["maxEvents": .number(JSONNumber(Int64(maxEvents))), "returnImmediately": .bool(returnImmediately)])
        if !acknowledgements.isEmpty { object["ack"] = .array(acknowledgements.map { .string($0) }) }
        if !errors.isEmpty {
            var errs = JSONObject()
            for (jti, refusal) in errors.sorted(by: { $0.key < $1.key }) {
                errs[jti] = .object(JSONObject(["err": .string(refusal.err), "description": .string(refusal.description)]))
            }
            object["setErrs"] = .object(errs)
        }
        return Array(JSONValue.object(object).serialized().utf8)
    }
}

/// One RFC 8936 §2.5 poll response: SETs by `jti`, in the transmitter's order.
public struct SSFPollResponse: Sendable, Hashable {
    public struct Delivered: Sendable, Hashable {
        public let jti: String
        public let set: String
    }

    public let sets: [Delivered]
    public let moreAvailable: Bool

    /// Parses a response body strictly: `sets` must be an object of strings; `moreAvailable`, when
    /// present, a boolean.
    public static func parse(_ body: [UInt8], maxBytes: Int = 4 << 20) throws(SSFPollError) -> SSFPollResponse {
        let value: JSONValue
        do { value = try JSONValue.parse(body, limits: JSONLimits(maxBytes: maxBytes, maxDepth: 8)) } catch {
            throw SSFPollError(.invalidResponse, "the poll response is not JSON (\(error.code.rawValue))")
        }
        guard case .object(let object) = value else { throw SSFPollError(.invalidResponse, "the poll response is not a JSON object") }
        guard case .object(let sets)? = object["sets"] else { throw SSFPollError(.invalidResponse, "the poll response has no sets object") }
        var delivered: [Delivered] = []
        for member in sets.members {
            guard case .string(let set) = member.value else { throw SSFPollError(.invalidResponse, "sets.\(member.name.prefix(40)) is not a string") }
            delivered.append(Delivered(jti: member.name, set: set))
        }
        var more = false
        switch object["moreAvailable"] {
        case nil: break
        case .bool(let flag)?: more = flag
        default: throw SSFPollError(.invalidResponse, "moreAvailable is not a boolean")
        }
        return SSFPollResponse(sets: delivered, moreAvailable: more)
    }
}

/// Why a poll round failed (both ends of the revocation feed and the broker's own poll client use it). A struct with an extensible code (STYLE rule 6).
public struct SSFPollError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The request did not complete (network, timeout, TLS).
        public static let transport = Code("transport")
        /// The transmitter answered something other than 200 (its `err`, when it gave one, is in
        /// the reason).
        public static let httpStatus = Code("http_status")
        public static let invalidResponse = Code("invalid_response")
        /// A SET could not be made durable here; it is not acknowledged, so it comes again.
        public static let store = Code("store")
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }
}

