import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperRevocation
import BridgekeeperSSF
import BridgekeeperStore
import Foundation
import Synchronization
import Testing
import BridgekeeperKeys
import BridgekeeperSignalSettings
import BridgekeeperClientAuth
import BridgekeeperTesting

/// The RFC 8936 poll client on the in-memory store, against a scripted transmitter: what each
/// request carries, when a SET is acknowledged, refused or neither.
@Suite("Shared Signals poll client (RFC 8936)")
struct SSFPollTests {
    static let issuer = "https://transmitter.example"
    static let idp = "https://idp.example"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let risc = "https://schemas.openid.net/secevent/risc/event-type/"


    /// Answers each poll with the next scripted reply and records every request body.
    final class ScriptedTransmitter: SSFPollTransport {
        let replies: Mutex<[Result<(status: Int, body: String), SSFPollError>]>
        let requests = Mutex<[JSONObject]>([])

        init(_ replies: [Result<(status: Int, body: String), SSFPollError>]) { self.replies = Mutex(replies) }

        func poll(_ body: [UInt8], settings: SSFPollSettings) async throws(SSFPollError) -> (status: Int, body: [UInt8]) {
            let object = (try? JSONValue.parse(body))?.objectValue ?? JSONObject()
            requests.withLock { $0.append(object) }
            let next = replies.withLock { $0.isEmpty ? .success((200, #"{"sets":{}}"#)) : $0.removeFirst() }
            let reply = try next.get()
            return (reply.status, Array(reply.body.utf8))
        }
    }

    struct World {
        let store: MemoryStore
        let key: SigningKey
        let transmitter: SSFTransmitter
        let intake: SETIntake

        init() async throws {
            store = MemoryStore()
            let sealing = try KeySealing(keyEncryptionKey: SecureRandom.bytes(32))
            _ = try await KeyManagement.ensureKey(in: store, sealing: sealing, algorithm: .es256, now: SSFPollTests.now.addingTimeInterval(-1000))
            let keys = KeyRing(sealing: sealing)
            try await keys.reload(from: store, now: SSFPollTests.now)
            let processor = SignalProcessor(issuer: "https://broker.example", store: store, keys: keys, policy: Policy(rules: []),
                                            catalog: Catalog(servers: []), delegation: .default, clock: TestClock(SSFPollTests.now))
            key = try SigningKey.generate(.rs256, keyID: "tx-1")
            let set = try JWKSet(json: JSONValue.object(JSONObject(["keys": .array([.object(try key.publicJWK())])])).serialized())
            transmitter = SSFTransmitter(name: "acme", issuer: SSFPollTests.issuer, audience: "https://broker.example", keys: StaticKeySource(set),
                                         algorithms: [.rs256], subjectIssuer: SSFPollTests.idp, tenant: nil, pushAuthorization: nil)
            intake = SETIntake(store: store, signals: processor, clock: TestClock(SSFPollTests.now))
        }

        func set(_ jti: String, event: String = SSFPollTests.risc + "account-disabled", subject: String = "alice",
                 audience: String = "https://broker.example") throws -> String {
            try key.signJWT(type: "secevent+jwt", claims: JSONObject([
                "iss": .string(SSFPollTests.issuer), "aud": .string(audience), "jti": .string(jti), "iat": .number(JSONNumber(1_800_000_000)),
                "sub_id": .object(JSONObject(["format": "iss_sub", "iss": .string(SSFPollTests.idp), "sub": .string(subject)])),
                "events": .object(JSONObject([event: .object(JSONObject())])),
            ]))
        }

        func poller(_ transport: ScriptedTransmitter, wait: Double = 30) -> SSFPoller {
            var settings = SSFPollSettings(endpoint: "https://transmitter.example/poll/1", token: "t")
            settings.maxEvents = 25
            settings.wait = wait
            return SSFPoller(transmitter: transmitter, settings: settings, intake: intake, transport: transport, audit: store, clock: TestClock(SSFPollTests.now))
        }

        func subject(_ name: String) -> SubjectKey { SubjectKey(issuer: SSFPollTests.idp, subject: name) }
    }

    static func sets(_ pairs: [(String, String)], more: Bool = false) -> String {
        var sets = JSONObject()
        for (jti, set) in pairs { sets[jti] = .string(set) }
        return JSONValue.object(JSONObject(["sets": .object(sets), "moreAvailable": .bool(more)])).serialized()
    }

    @Test("a valid SET is processed and acknowledged on the next request; a refused one goes back in setErrs with its err; a SET delivered under another jti is refused")
    func acknowledgementsAndRefusals() async throws {
        let world = try await World()
        let good = try world.set("jti-good")
        let wrongAudience = try world.set("jti-aud", subject: "bob", audience: "https://elsewhere.example")
        let renamed = try world.set("jti-real", subject: "carol")
        let transport = ScriptedTransmitter([.success((200, Self.sets([("jti-good", good), ("jti-aud", wrongAudience), ("jti-other", renamed)], more: true)))])
        let poller = world.poller(transport)

        let first = try await poller.round()
        #expect(first == SSFPoller.Round(received: 3, accepted: 1, refused: 2, moreAvailable: true))
        #expect(try await world.store.isDisabled(world.subject("alice")))
        #expect(try await !world.store.isDisabled(world.subject("bob")))
        #expect(try await !world.store.isDisabled(world.subject("carol")))

        let second = try await poller.round()
        #expect(second == SSFPoller.Round())
        let requests = transport.requests.withLock { $0 }
        #expect(requests.count == 2)
        // The first request acknowledges nothing and asks for a long poll.
        #expect(requests[0] == JSONObject(["maxEvents": .number(JSONNumber(25)), "returnImmediately": .bool(false)]))
        #expect(requests[1]["ack"] == .array(["jti-good"]))
        let errs = try #require(requests[1]["setErrs"]?.objectValue)
        #expect(errs["jti-aud"]?.objectValue?["err"] == "invalid_audience")
        #expect(errs["jti-other"]?.objectValue?["err"] == "invalid_request")
        // Delivered: nothing is pending any more.
        #expect(await poller.pending.acknowledgements.isEmpty)

        // The same SET redelivered (a lost acknowledgement) is acknowledged again and does nothing more.
        let again = ScriptedTransmitter([.success((200, Self.sets([("jti-good", good)])))])
        let redelivered = try await world.poller(again).round()
        #expect(redelivered.accepted == 1)
        #expect(try await world.store.receipts(of: world.subject("alice")).count == 1)
    }

    @Test("a failed request keeps the acknowledgements for the next one; a transmitter error is reported with its err; a malformed response is refused; the failure and the recovery are audited once each")
    func failures() async throws {
        let world = try await World()
        let transport = ScriptedTransmitter([
            .success((200, Self.sets([("j1", try world.set("j1"))]))),
            .failure(SSFPollError(.transport, "connection refused")),
            .success((401, #"{"err":"authentication_failed","description":"bad token"}"#)),
            .success((200, #"{"sets":{"j2":42}}"#)),
            .success((200, #"{"sets":{}}"#)),
        ])
        let poller = world.poller(transport, wait: 0)
        _ = try await poller.round()
        await #expect(throws: SSFPollError(.transport, "connection refused")) { _ = try await poller.round() }
        let refused = await #expect(throws: SSFPollError.self) { _ = try await poller.round() }
        #expect(refused?.code == .httpStatus && refused?.reason == "HTTP 401 authentication_failed: bad token")
        let malformed = await #expect(throws: SSFPollError.self) { _ = try await poller.round() }
        #expect(malformed?.code == .invalidResponse)
        _ = try await poller.round()
        let requests = transport.requests.withLock { $0 }
        // Short polling; j1's acknowledgement rides on every request until one is answered 200.
        #expect(requests.allSatisfy { $0["returnImmediately"] == .bool(true) })
        #expect(requests[1]["ack"] == .array(["j1"]) && requests[2]["ack"] == .array(["j1"]) && requests[3]["ack"] == .array(["j1"]))
        #expect(requests[4]["ack"] == nil)

        // run(): one audit record when polling starts failing, one when it recovers.
        let flaky = ScriptedTransmitter([.failure(SSFPollError(.transport, "down")), .failure(SSFPollError(.transport, "down")),
                                         .success((200, #"{"sets":{}}"#))])
        let looping = world.poller(flaky, wait: 0)
        let task = Task { await looping.run() }
        for _ in 0..<200 where try await world.store.lastAuditRecord()?.event.reason != .ssfPollRecovered {
            try await Task.sleep(for: .milliseconds(50))
        }
        task.cancel()
        await task.value
        let reasons = try await world.store.auditRecords(afterSequence: 0, limit: 10_000).map(\.event.reason).filter { $0 == .ssfPollFailed || $0 == .ssfPollRecovered }
        #expect(reasons == [.ssfPollFailed, .ssfPollRecovered])
    }

    @Test("response parsing is strict: sets must be an object of strings, moreAvailable a boolean")
    func parsing() throws {
        let parsed = try SSFPollResponse.parse(Array(#"{"sets":{"a":"x.y.z","b":"p.q.r"},"moreAvailable":true}"#.utf8))
        #expect(parsed.sets.map(\.jti) == ["a", "b"] && parsed.moreAvailable)
        #expect(try SSFPollResponse.parse(Array(#"{"sets":{}}"#.utf8)).moreAvailable == false)
        for bad in [#"[]"#, #"{}"#, #"{"sets":[]}"#, #"{"sets":{"a":1}}"#, #"{"sets":{},"moreAvailable":"yes"}"#, "not json"] {
            #expect(throws: SSFPollError.self, "\(bad)") { _ = try SSFPollResponse.parse(Array(bad.utf8)) }
        }
        let request = SSFPollRequest(maxEvents: 5, returnImmediately: true, acknowledgements: ["a"],
                                     errors: ["b": SETError(err: "invalid_key", description: "d")])
        #expect(try JSONValue.parse(request.body) == .object(JSONObject([
            "maxEvents": .number(JSONNumber(5)), "returnImmediately": .bool(true), "ack": .array(["a"]),
            "setErrs": .object(JSONObject(["b": .object(JSONObject(["err": "invalid_key", "description": "d"]))])),
        ])))
    }
}
