import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation

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
    public var errors: [String: SETRefusal]

    public init(maxEvents: Int, returnImmediately: Bool, acknowledgements: [String] = [], errors: [String: SETRefusal] = [:]) {
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
    public static func parse(_ body: [UInt8]) throws(SSFPollError) -> SSFPollResponse {
        let value: JSONValue
        do { value = try JSONValue.parse(body, limits: JSONLimits(maxBytes: SSFPollSettings.maxResponseBytes, maxDepth: 8)) } catch {
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

/// How one polled stream is polled (`signals.ssf[].poll`).
public struct SSFPollSettings: Sendable, Hashable {
    /// Largest poll response accepted, in bytes.
    public static let maxResponseBytes = 4 << 20

    /// The transmitter's poll `endpoint_url` for this stream.
    public var endpoint: String
    /// The bearer token the transmitter gave us for it.
    public var token: String
    /// `maxEvents` per request. Default 100.
    public var maxEvents: Int = 100
    /// Seconds the transmitter may hold a request (long polling); 0 polls with `returnImmediately`
    /// every `interval`. Default 30.
    public var wait: Double = 30
    /// Seconds between short polls (`wait: 0`). Default 10.
    public var interval: Double = 10

    public init(endpoint: String, token: String) {
        self.endpoint = endpoint
        self.token = token
    }
}

/// Why a poll round failed. A struct with an extensible code (STYLE rule 6).
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

/// Sends one poll request to the stream's endpoint (libcurl in the server; a fake in tests).
public protocol SSFPollTransport: Sendable {
    /// POSTs `body` to `settings.endpoint` with `settings.token` as the bearer token, allowing the
    /// transmitter to hold it `settings.wait` seconds; the status and body that came back.
    func poll(_ body: [UInt8], settings: SSFPollSettings) async throws(SSFPollError) -> (status: Int, body: [UInt8])
}

/// The RFC 8936 poll client for one transmitter that only offers polling.
///
/// Each round sends the acknowledgements and refusals of the previous one and takes the next SETs.
/// Every SET goes through the same `SETIntake` as a pushed one. A SET is acknowledged only once its
/// signals are durable in the inbox; a refused one is reported in `setErrs` with its RFC 8935 code.
/// When the store fails, the round stops: what was not acknowledged is delivered again, and the
/// inbox's deduplication by `jti` makes that harmless. A crash loses nothing for the same reason.
public actor SSFPoller {
    public struct Round: Sendable, Hashable {
        public var received = 0
        public var accepted = 0
        public var refused = 0
        public var moreAvailable = false

        public init(received: Int = 0, accepted: Int = 0, refused: Int = 0, moreAvailable: Bool = false) {
            self.received = received
            self.accepted = accepted
            self.refused = refused
            self.moreAvailable = moreAvailable
        }
    }

    nonisolated public let transmitter: SSFTransmitter
    let settings: SSFPollSettings
    let intake: SETIntake
    let transport: any SSFPollTransport
    let audit: any AuditLog
    let clock: any WallClock
    var acknowledgements: [String] = []
    var errors: [String: SETRefusal] = [:]
    /// Whether the last round failed: failures and recoveries are audited once each, not per retry.
    var failing = false

    public init(transmitter: SSFTransmitter, settings: SSFPollSettings, intake: SETIntake, transport: any SSFPollTransport, audit: any AuditLog,
                clock: any WallClock) {
        self.transmitter = transmitter
        self.settings = settings
        self.intake = intake
        self.transport = transport
        self.audit = audit
        self.clock = clock
    }

    /// What the next request will acknowledge and refuse.
    public var pending: (acknowledgements: [String], errors: [String: SETRefusal]) { (acknowledgements, errors) }

    /// One request and the SETs it brought.
    public func round() async throws(SSFPollError) -> Round {
        let request = SSFPollRequest(maxEvents: settings.maxEvents, returnImmediately: settings.wait <= 0, acknowledgements: acknowledgements,
                                     errors: errors)
        let (status, body) = try await transport.poll(request.body, settings: settings)
        guard status == 200 else {
            var reason = "HTTP \(status)"
            if case .object(let error)? = try? JSONValue.parse(body, limits: JSONLimits(maxBytes: 8192)), let err = error["err"]?.stringValue {
                reason += " \(err.prefix(64))"
                if let description = error["description"]?.stringValue { reason += ": \(description.prefix(200))" }
            }
            throw SSFPollError(.httpStatus, reason)
        }
        // The transmitter has our acknowledgements and refusals.
        acknowledgements.removeAll()
        errors.removeAll()
        let response = try SSFPollResponse.parse(body)
        var round = Round(received: response.sets.count, moreAvailable: response.moreAvailable)
        for delivered in response.sets {
            do {
                if let refusal = try await intake.take(delivered.set, from: transmitter, remote: nil, deliveredAs: delivered.jti) {
                    errors[delivered.jti] = refusal
                    round.refused += 1
                } else {
                    acknowledgements.append(delivered.jti)
                    round.accepted += 1
                }
            } catch {
                throw SSFPollError(.store, "a SET could not be made durable; it will be delivered again")
            }
        }
        return round
    }

    /// Polls until the task is cancelled: at once again after a round that said `moreAvailable` or
    /// that long-polled, after `interval` otherwise; after a failure, with a backoff of 1, 2, 4 … 60
    /// seconds. The first failure after a success, and the recovery, are audited
    /// (`ssf_poll_failed`, `ssf_poll_recovered`); `report` sees every failure (for the log).
    public func run(report: @Sendable (SSFPollError) -> Void = { _ in }) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let round = try await round()
                failures = 0
                await transition(failing: false)
                if round.moreAvailable || settings.wait > 0 { continue }
                try? await Task.sleep(for: .seconds(settings.interval))
            } catch {
                if Task.isCancelled { break }
                failures += 1
                report(error)
                await transition(failing: true)
                try? await Task.sleep(for: .seconds(min(60, 1 << min(failures - 1, 6))))
            }
        }
    }

    func transition(failing now: Bool) async {
        guard now != failing else { return }
        failing = now
        let event = AuditEvent(kind: .administration, reason: now ? .ssfPollFailed : .ssfPollRecovered, time: clock.now(),
                               performedBy: "ssf:\(transmitter.name)")
        _ = try? await audit.append(event)
    }
}

extension ReasonCode {
    /// Polling a transmitter started failing: revocation signals from it are delayed until it recovers.
    public static let ssfPollFailed = ReasonCode("ssf_poll_failed")
    public static let ssfPollRecovered = ReasonCode("ssf_poll_recovered")
}
