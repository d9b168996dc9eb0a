import BridgekeeperAudit
import BridgekeeperCore
import BridgekeeperGrants
import BridgekeeperJOSE
import BridgekeeperPolicy
@testable import BridgekeeperRevocation
import BridgekeeperStore
import Foundation
import Synchronization
import Testing
import BridgekeeperKeys
import BridgekeeperSignalSettings
import BridgekeeperClientAuth
import BridgekeeperTesting
import BridgekeeperEndpoint

/// The SCIM service on the in-memory store, without a socket: group member caps and the number of
/// store reads a request makes.
@Suite("SCIM service: member caps, batched reads")
struct SCIMServiceTests {
    static let token = "scim-service-test-token-0123456789"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let connection = "okta"


    /// The store with its SCIM reads counted (every other call passes through).
    final class CountingStore: SCIMStore, AuditLog {
        let inner: MemoryStore
        let reads = Mutex(0)
        /// The SCIM reads since the last reset, by method (and kind where it takes one).
        let calls = Mutex<[String]>([])
        init(_ inner: MemoryStore) { self.inner = inner }
        func count(_ call: String = #function) {
            reads.withLock { $0 += 1 }
            calls.withLock { $0.append(call) }
        }
        func reset() {
            reads.withLock { $0 = 0 }
            calls.withLock { $0 = [] }
        }

        func scimResource(_ kind: SCIMResource.Kind, connection: String, id: String) async throws -> SCIMResource? {
            count()
            return await inner.scimResource(kind, connection: connection, id: id)
        }
        func scimResources(_ kind: SCIMResource.Kind, connection: String, where selector: SCIMSelector, startIndex: Int,
                           count n: Int) async throws -> (total: Int, resources: [SCIMResource]) {
            count("scimResources(count: \(n))")
            return await inner.scimResources(kind, connection: connection, where: selector, startIndex: startIndex, count: n)
        }
        func scimGroups(containing userID: String, connection: String) async throws -> [SCIMSummary] {
            count()
            return await inner.scimGroups(containing: userID, connection: connection)
        }
        func scimSummaries(_ kind: SCIMResource.Kind, connection: String, ids: [String]) async throws -> [SCIMSummary] {
            count("scimSummaries(\(kind))")
            return await inner.scimSummaries(kind, connection: connection, ids: ids)
        }
        func scimMemberships(of userIDs: [String], connection: String) async throws -> [String: [String]] {
            count()
            return await inner.scimMemberships(of: userIDs, connection: connection)
        }
        /// Member lists another request writes to a group just before each of the next writes (a
        /// concurrent PATCH landing between this request's read and its write).
        let interleaved = Mutex<[(id: String, members: [String])]>([])
        func writeSCIM(_ resource: SCIMResource, replacing previous: SCIMResource?, signals: [InboundSignal]) async throws -> SCIMWriteOutcome {
            let next = interleaved.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            if let next, let stored = await inner.scimResource(.group, connection: resource.connection, id: next.id) {
                let other = SCIMResource(kind: .group, connection: stored.connection, id: stored.id, name: stored.name, externalID: stored.externalID,
                                         active: true, email: nil, subject: nil, members: next.members, attributes: stored.attributes,
                                         created: stored.created, lastModified: stored.lastModified, version: stored.version + 1)
                #expect(await inner.writeSCIM(other, replacing: stored, signals: []) == .written)
            }
            return await inner.writeSCIM(resource, replacing: previous, signals: signals)
        }
        func deleteSCIM(_ kind: SCIMResource.Kind, connection: String, id: String, signals: [InboundSignal]) async throws -> SCIMWriteOutcome {
            await inner.deleteSCIM(kind, connection: connection, id: id, signals: signals)
        }
        func subjects(withEmail email: String) async throws -> [SubjectKey] { await inner.subjects(withEmail: email) }
        func append(_ event: AuditEvent) async throws -> AuditRecord { await inner.append(event) }
        func auditRecords(afterSequence: Int64, limit: Int) async throws -> [AuditRecord] {
            await inner.auditRecords(afterSequence: afterSequence, limit: limit)
        }
        func lastAuditRecord() async throws -> AuditRecord? { await inner.lastAuditRecord() }
    }

    struct Fixture {
        let memory = MemoryStore()
        let store: CountingStore
        let service: SCIMService

        let limits: SCIMService.Limits

        init(limits: SCIMService.Limits = SCIMService.Limits()) async throws {
            self.limits = limits
            store = CountingStore(memory)
            let sealing = try KeySealing(keyEncryptionKey: SecureRandom.bytes(32))
            _ = try await KeyManagement.ensureKey(in: memory, sealing: sealing, algorithm: .es256, now: SCIMServiceTests.now.addingTimeInterval(-1000))
            let keys = KeyRing(sealing: sealing)
            try await keys.reload(from: memory, now: SCIMServiceTests.now)
            let processor = SignalProcessor(issuer: "https://broker.example", store: memory, keys: keys, policy: Policy(rules: []),
                                            catalog: Catalog(servers: []), delegation: .default, clock: TestClock(SCIMServiceTests.now))
            let hash = try SecretHash(encoded: SecretHash.make(secret: SCIMServiceTests.token, iterations: SecretHash.minimumIterations))
            let connection = SCIMConnection(name: SCIMServiceTests.connection, issuer: "https://idp.example", tenant: nil, tokenHash: hash)
            service = SCIMService(issuer: "https://broker.example", connections: [connection], store: store, signals: processor, clock: TestClock(SCIMServiceTests.now),
                                  limits: limits)
        }

        func call(_ method: String, _ path: String, body: String = "", query: [String: String] = [:]) async -> EndpointResponse {
            await service.handle(APIRequest(method: method, path: path.split(separator: "/").map(String.init), query: query,
                                            authorization: "Bearer \(SCIMServiceTests.token)", contentType: "application/scim+json",
                                            body: Array(body.utf8), remoteAddress: "127.0.0.1"))
        }

        /// Users `u-00000` … written straight to the store, each with a subject (so each membership
        /// change raises a signal).
        func users(_ count: Int) async throws -> [String] {
            var ids: [String] = []
            for index in 0..<count {
                let id = String(format: "u-%05d", index)
                let user = SCIMResource(kind: .user, connection: SCIMServiceTests.connection, id: id, name: "\(id)@example.com", externalID: "ext-\(id)",
                                        active: true, email: nil, subject: SubjectKey(issuer: "https://idp.example", subject: "ext-\(id)"), members: [],
                                        attributes: #"{"userName":"\#(id)@example.com"}"#, created: SCIMServiceTests.now,
                                        lastModified: SCIMServiceTests.now, version: 1)
                _ = await memory.writeSCIM(user, replacing: nil, signals: [])
                ids.append(id)
            }
            return ids
        }
    }

    static func members(_ ids: some Sequence<String>) -> String {
        "[" + ids.map { #"{"value":"\#($0)"}"# }.joined(separator: ",") + "]"
    }

    static func add(_ ids: some Sequence<String>) -> String {
        #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":\#(members(ids))}]}"#
    }

    func json(_ response: EndpointResponse) throws -> JSONObject { try #require(try JSONValue.parse(response.body, limits: JSONLimits(maxBytes: 1 << 24)).objectValue) }

    static var smallCaps: SCIMService.Limits {
        var limits = SCIMService.Limits()
        limits.maxGroupMembers = 500
        limits.maxMembersAddedPerRequest = 200
        limits.maxFilterScan = 50
        return limits
    }

    @Test("a PATCH racing another request's write is read and applied again: both members stay; one that keeps losing gets 412, audited, nothing of it written")
    func concurrentPatches() async throws {
        let f = try await Fixture()
        let created = await f.call("POST", "Groups", body: #"{"displayName":"everyone","members":[{"value":"a"}]}"#)
        let id = try #require(try json(created)["id"]?.stringValue)
        // Another request adds "b" between this PATCH's read and its write.
        f.store.interleaved.withLock { $0 = [(id, ["a", "b"])] }
        let patched = await f.call("PATCH", "Groups/\(id)", body: Self.add(["c"]))
        #expect(patched.status == 200, "\(patched.body)")
        let stored = await f.memory.scimResource(.group, connection: Self.connection, id: id)
        #expect(stored?.members == ["a", "b", "c"], "the concurrent member is kept, not overwritten")
        #expect(stored?.version == 3)

        // A writer that changes the group before every attempt: 412 after the last one.
        f.store.interleaved.withLock { $0 = (0..<SCIMService.updateAttempts).map { (id, ["a", "x\($0)"]) } }
        let lost = await f.call("PATCH", "Groups/\(id)", body: Self.add(["d"]))
        #expect(lost.status == 412, "\(lost.body)")
        #expect(try await f.memory.lastAuditRecord()?.event.reason == .scimConcurrentChange)
        #expect(await f.memory.scimResource(.group, connection: Self.connection, id: id)?.members.contains("d") == false)
    }

    @Test("a request adding more than maxMembersAddedPerRequest members, or taking a group past maxGroupMembers, is 400 invalidValue, audited, and writes nothing")
    func memberCaps() async throws {
        let f = try await Fixture(limits: Self.smallCaps)
        let created = await f.call("POST", "Groups", body: #"{"displayName":"everyone","members":[{"value":"first"}]}"#)
        #expect(created.status == 201, "\(created.body)")
        let id = try #require(try json(created)["id"]?.stringValue)

        let tooMany = (0...f.limits.maxMembersAddedPerRequest).map { "m\($0)" }
        let refused = await f.call("PATCH", "Groups/\(id)", body: Self.add(tooMany))
        #expect(refused.status == 400, "\(refused.body)")
        #expect(try json(refused)["scimType"] == "invalidValue")
        #expect(try await f.memory.lastAuditRecord()?.event.reason == .scimTooManyMembers)
        #expect(await f.memory.scimResource(.group, connection: Self.connection, id: id)?.members == ["first"], "nothing written")

        // The same at creation.
        let body = #"{"displayName":"big","members":\#(Self.members(tooMany))}"#
        let createRefused = await f.call("POST", "Groups", body: body)
        #expect(createRefused.status == 400)
        #expect(await f.memory.scimResources(.group, connection: Self.connection, where: .name("big"), startIndex: 1, count: 1).total == 0)

        // Exactly the per-request cap is accepted.
        let atCap = (1...f.limits.maxMembersAddedPerRequest).map { "m\($0)" }
        #expect(await f.call("PATCH", "Groups/\(id)", body: Self.add(atCap)).status == 200)
        #expect(await f.memory.scimResource(.group, connection: Self.connection, id: id)?.members.count == f.limits.maxMembersAddedPerRequest + 1)

        // The group cap: fill to it in steps under the request cap, then one more is refused.
        var next = f.limits.maxMembersAddedPerRequest + 1
        while next < f.limits.maxGroupMembers {
            let batch = (next..<min(next + f.limits.maxMembersAddedPerRequest, f.limits.maxGroupMembers)).map { "m\($0)" }
            let response = await f.call("PATCH", "Groups/\(id)", body: Self.add(batch))
            #expect(response.status == 200, "\(response.body.prefix(200))")
            next += batch.count
        }
        #expect(await f.memory.scimResource(.group, connection: Self.connection, id: id)?.members.count == f.limits.maxGroupMembers)
        let over = await f.call("PATCH", "Groups/\(id)", body: Self.add(["one-too-many"]))
        #expect(over.status == 400)
        #expect(try json(over)["scimType"] == "invalidValue")
        #expect(try json(over)["detail"]?.stringValue?.contains("\(f.limits.maxGroupMembers)") == true)
        #expect(try await f.memory.lastAuditRecord()?.event.reason == .scimTooManyMembers)
        #expect(await f.memory.scimResource(.group, connection: Self.connection, id: id)?.members.contains("one-too-many") == false)
    }

    @Test("adding 300 members raises one signal each (all counted, each member's groups recorded) and reads the store a fixed number of times; so do rendering the group, a user and a page of users")
    func batchedReads() async throws {
        let f = try await Fixture()
        let ids = try await f.users(300)
        let created = await f.call("POST", "Groups", body: #"{"displayName":"everyone"}"#)
        let id = try #require(try json(created)["id"]?.stringValue)
        _ = await f.call("POST", "Groups", body: #"{"displayName":"other","members":\#(Self.members(ids.prefix(10)))}"#)

        let before = try await f.memory.lastAuditRecord()?.sequence ?? 0
        f.store.reads.withLock { $0 = 0 }
        let added = await f.call("PATCH", "Groups/\(id)", body: Self.add(ids))
        #expect(added.status == 200)
        let addReads = f.store.reads.withLock { $0 }
        // existing + users + memberships + group names + member names for the response.
        #expect(addReads <= 6, "\(addReads) reads for 300 members")
        let rendered = try json(added)["members"]?.arrayValue ?? []
        #expect(rendered.count == 300)
        #expect(rendered.first?.objectValue?["display"] == "u-00000@example.com")
        // One signal received per member, each for a different member, all of them.
        let received = await f.memory.auditRecords(afterSequence: before, limit: 10_000).filter { $0.event.reason == .signalReceived }
        #expect(received.count == 300)
        #expect(Set(received.compactMap(\.event.subject)) == Set(ids.map { "ext-\($0)" }))
        // Every member's groups were recomputed and recorded: the first ten are in both groups.
        for (index, member) in ids.enumerated() {
            let subject = SubjectKey(issuer: "https://idp.example", subject: "ext-\(member)")
            let groups = try await f.memory.attributes(of: subject)?.attributes.groups
            #expect(groups == (index < 10 ? ["everyone", "other"] : ["everyone"]), "\(member)")
        }

        f.store.reads.withLock { $0 = 0 }
        #expect(await f.call("GET", "Groups/\(id)").status == 200)
        #expect(f.store.reads.withLock { $0 } <= 2)

        f.store.reads.withLock { $0 = 0 }
        let user = try json(await f.call("GET", "Users/u-00003"))
        #expect(user["groups"]?.arrayValue?.compactMap { $0.objectValue?["display"]?.stringValue } == ["everyone", "other"])
        #expect(f.store.reads.withLock { $0 } <= 3)

        f.store.reads.withLock { $0 = 0 }
        let page = try json(await f.call("GET", "Users", query: ["count": "200"]))
        #expect(page["itemsPerPage"] == .number(JSONNumber(200)))
        #expect(f.store.reads.withLock { $0 } <= 3, "one page of users: the page, memberships, group names")
    }

    @Test("Entra's membership check with members excluded reads no member names, and candidates are counted before any is read")
    func membershipCheck() async throws {
        let f = try await Fixture()
        let ids = try await f.users(300)
        let created = await f.call("POST", "Groups", body: #"{"displayName":"everyone","members":\#(Self.members(ids))}"#)
        let id = try #require(try json(created)["id"]?.stringValue)

        for (member, expected) in [("u-00005", 1), ("nobody", 0)] {
            f.store.reset()
            let query = ["filter": #"id eq "\#(id)" and members[value eq "\#(member)"]"#, "excludedAttributes": "members"]
            let page = try json(await f.call("GET", "Groups", query: query))
            #expect(page["totalResults"] == .number(JSONNumber(Int64(expected))), "\(member)")
            let resources = page["Resources"]?.arrayValue ?? []
            #expect(resources.count == expected)
            #expect(resources.allSatisfy { $0.objectValue?["members"] == nil })
            // The count (no rows read), then the one candidate; no member names.
            #expect(f.store.calls.withLock { $0 } == ["scimResources(count: 0)", "scimResources(count: \(f.limits.maxFilterScan))"])
        }

        // Members returned (no excludedAttributes, or attributes naming them): their names are read.
        f.store.reset()
        let full = try json(await f.call("GET", "Groups/\(id)"))
        #expect(full["members"]?.arrayValue?.first?.objectValue?["display"] == "u-00000@example.com")
        #expect(f.store.calls.withLock { $0 }.contains("scimSummaries(user)"))
        f.store.reset()
        let named = try json(await f.call("GET", "Groups/\(id)", query: ["attributes": "members.value"]))
        #expect(named["members"]?.arrayValue?.count == 300)
        #expect(f.store.calls.withLock { $0 }.contains("scimSummaries(user)"))
        f.store.reset()
        let excluded = try json(await f.call("GET", "Groups/\(id)", query: ["excludedAttributes": "Members"]))
        #expect(excluded["members"] == nil)
        #expect(excluded["displayName"] == "everyone")
        #expect(f.store.calls.withLock { $0 } == ["scimResource(_:connection:id:)"], "the group only, no member names")
        f.store.reset()
        let other = try json(await f.call("GET", "Groups/\(id)", query: ["attributes": "displayName"]))
        #expect(other["members"] == nil)
        #expect(f.store.calls.withLock { $0 } == ["scimResource(_:connection:id:)"], "the group only, no member names")
    }

    @Test("general filters are evaluated over at most maxFilterScan resources: past it tooMany, audited; the IdPs' eq look-ups are never refused")
    func scanBound() async throws {
        let f = try await Fixture(limits: Self.smallCaps)
        _ = try await f.users(f.limits.maxFilterScan + 1)
        let broad = await f.call("GET", "Users", query: ["filter": #"userName sw "u-""#])
        #expect(broad.status == 400)
        #expect(try json(broad)["scimType"] == "tooMany")
        #expect(try await f.memory.lastAuditRecord()?.event.reason == .scimFilterTooBroad)
        let exact = try json(await f.call("GET", "Users", query: ["filter": #"userName eq "u-00042@example.com""#]))
        #expect(exact["totalResults"] == .number(JSONNumber(1)))
        // Narrowed by a look-up, a general filter is answered however many resources there are.
        let narrowed = try json(await f.call("GET", "Users", query: ["filter": #"userName eq "u-00042@example.com" and active eq true"#]))
        #expect(narrowed["totalResults"] == .number(JSONNumber(1)))
        let none = try json(await f.call("GET", "Users", query: ["filter": #"externalId eq "ext-u-00042" and active eq false"#]))
        #expect(none["totalResults"] == .number(JSONNumber(0)))
    }
}
