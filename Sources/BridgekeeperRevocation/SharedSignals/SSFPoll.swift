import BridgekeeperAudit
public import BridgekeeperCore
import BridgekeeperJOSE
public import BridgekeeperSSF
public import BridgekeeperStore
import Foundation
public import BridgekeeperSignalSettings

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
                                     errors: errors.mapValues { SETError(err: $0.err, description: $0.description) })
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
        let response = try SSFPollResponse.parse(body, maxBytes: SSFPollSettings.maxResponseBytes)
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
