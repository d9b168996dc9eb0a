import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import BridgekeeperTesting

extension SCIMTests {
    /// A percent-encoded `filter` query.
    static func filterQuery(_ filter: String) -> String { "filter=" + query(filter) }

    @Test("a 20,000-member group built over HTTP in PATCHes under the per-request cap reads back whole (GET, list, filters, a member's groups) without a 500, and loses one member cleanly")
    func twentyThousandMembers() async throws {
        let clock = TestClock(jwtBearerStart)
        let deployment = try deployment()
        try await withServer(deployment, clock: clock) { client, server in
            // The users, straight into the store (20,000 POSTs would test nothing more); without
            // externalId they have no subject, so the PATCHes raise no signals.
            let ids = (0..<20_000).map { String(format: "u%05d", $0) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, id) in ids.enumerated() {
                    group.addTask {
                        let user = SCIMResource(kind: .user, connection: "test-scim", id: id, name: "\(id)@example.com", externalID: nil, active: true,
                                                email: nil, subject: nil, members: [], attributes: #"{"userName":"\#(id)@example.com"}"#,
                                                created: clock.now(), lastModified: clock.now(), version: 1)
                        _ = try await server.store.writeSCIM(user, replacing: nil, signals: [])
                    }
                    if index % 512 == 511 { try await group.next() }
                }
                try await group.waitForAll()
            }

            let created = try await scim(client, .post, "/Groups", json: #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"everyone"}"#)
            let groupID = try #require(created.json?["id"]?.stringValue, "\(created.text)")
            // Eight PATCHes of 2,500 members (each body under the 64 KiB the HTTP layer reads).
            for start in stride(from: 0, to: ids.count, by: 2_500) {
                let values = ids[start..<(start + 2_500)].map { #"{"value":"\#($0)"}"# }.joined(separator: ",")
                let body = #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[\#(values)]}]}"#
                let patched = try await scim(client, .patch, "/Groups/\(groupID)", json: body)
                #expect(patched.status == .ok, "PATCH at \(start): \(patched.text.prefix(300))")
            }

            func members(_ object: JSONObject?) -> [JSONObject] { (object?["members"]?.arrayValue ?? []).compactMap(\.objectValue) }
            func json(_ response: TestResponse) throws -> JSONObject {
                try #require(try JSONValue.parse(Array(response.text.utf8), limits: JSONLimits(maxBytes: 1 << 24)).objectValue)
            }

            let read = try await scim(client, .get, "/Groups/\(groupID)")
            #expect(read.status == .ok, "\(read.text.prefix(300))")
            let group = try json(read)
            #expect(members(group).count == 20_000)
            #expect(members(group).first?["display"] == "u00000@example.com")
            #expect(members(group).last?["value"] == "u19999")

            let listed = try await scim(client, .get, "/Groups")
            #expect(listed.status == .ok, "\(listed.text.prefix(300))")
            let list = try json(listed)
            #expect(list["totalResults"] == .number(JSONNumber(1)))
            #expect(members(list["Resources"]?.arrayValue?.first?.objectValue).count == 20_000)

            // Entra's membership check, and the general filter over the group's members.
            let entra = try await scim(client, .get, "/Groups?excludedAttributes=members&" + Self.filterQuery(#"id eq "\#(groupID)" and members[value eq "u12345"]"#))
            #expect(try json(entra)["totalResults"] == .number(JSONNumber(1)), "\(entra.text.prefix(300))")
            let missing = try await scim(client, .get, "/Groups?" + Self.filterQuery(#"members[value eq "u99999"]"#))
            #expect(try json(missing)["totalResults"] == .number(JSONNumber(0)), "\(missing.text.prefix(300))")

            let user = try await scim(client, .get, "/Users/u12345")
            #expect(user.json?["groups"]?.arrayValue?.compactMap { $0.objectValue?["display"]?.stringValue } == ["everyone"])

            let remove = #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"u12345\"]"}]}"#
            let removed = try await scim(client, .patch, "/Groups/\(groupID)", json: remove)
            #expect(removed.status == .ok)
            #expect(members(try json(removed)).count == 19_999)
            #expect(try await scim(client, .get, "/Users/u12345").json?["groups"] == nil)
            #expect(try await server.store.scimGroups(containing: "u12346", connection: "test-scim").map(\.id) == [groupID])
        }
    }
}
