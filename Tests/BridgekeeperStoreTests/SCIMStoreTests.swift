import BridgekeeperCore
import BridgekeeperStore
@testable import BridgekeeperStoreSQLite
import Foundation
import Testing

/// The SCIM part of the store contract (issue 6), on every store: large groups are written, read,
/// listed and changed member by member; memberships are found by user.
@Suite("Store contract: SCIM resources")
struct SCIMStoreTests {
    typealias F = Fixture
    static let connection = "okta"

    static func user(_ id: String, name: String? = nil) -> SCIMResource {
        SCIMResource(kind: .user, connection: connection, id: id, name: name ?? "\(id)@example.com", externalID: "ext-\(id)", active: true, email: nil,
                     subject: SubjectKey(issuer: F.idp, subject: "ext-\(id)"), members: [], attributes: #"{"userName":"\#(name ?? "\(id)@example.com")"}"#,
                     created: F.t0, lastModified: F.t0, version: 1)
    }

    static func group(_ id: String, name: String, members: [String], version: Int = 1, externalID: String? = nil) -> SCIMResource {
        SCIMResource(kind: .group, connection: connection, id: id, name: name, externalID: externalID, active: true, email: nil, subject: nil,
                     members: members, attributes: #"{"displayName":"\#(name)"}"#, created: F.t0, lastModified: F.t0, version: version)
    }

    /// 20,000 user ids, in ascending order (the order stores return members in).
    static let many = (0..<20_000).map { String(format: "u-%05d", $0) }

    @Test("a 20,000-member group is written, read back whole, listed, patched one member in and one out, and found from its members' side",
          arguments: StoreKind.allCases)
    func largeGroup(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let group = Self.group("g-1", name: "everyone", members: Self.many)
            #expect(try await store.writeSCIM(group, replacing: nil, signals: []) == .written)
            #expect(try await store.writeSCIM(Self.group("g-2", name: "small", members: ["u-00007"]), replacing: nil, signals: []) == .written)

            let read = try #require(try await store.scimResource(.group, connection: Self.connection, id: "g-1"))
            #expect(read.members.count == 20_000)
            #expect(read.members == Self.many)
            #expect(read == group)

            let (total, listed) = try await store.scimResources(.group, connection: Self.connection, where: .all, startIndex: 1, count: 10)
            #expect(total == 2)
            #expect(listed.map(\.id) == ["g-1", "g-2"])
            #expect(listed.first?.members.count == 20_000)
            #expect(listed.last?.members == ["u-00007"])
            let (named, byName) = try await store.scimResources(.group, connection: Self.connection, where: .name("EVERYONE"), startIndex: 1, count: 10)
            #expect(named == 1)
            #expect(byName.first?.members.count == 20_000)

            #expect(try await store.scimGroups(containing: "u-00007", connection: Self.connection).map(\.id) == ["g-1", "g-2"])
            #expect(try await store.scimGroups(containing: "u-19999", connection: Self.connection).map(\.id) == ["g-1"])
            #expect(try await store.scimGroups(containing: "u-00007", connection: "other").isEmpty)

            // One member out, one in.
            let patched = Self.group("g-1", name: "everyone", members: Array(Self.many.dropFirst()) + ["u-20000"], version: 2)
            #expect(try await store.writeSCIM(patched, replacing: group, signals: []) == .written)
            let after = try #require(try await store.scimResource(.group, connection: Self.connection, id: "g-1"))
            #expect(after.members.count == 20_000)
            #expect(after.members.first == "u-00001")
            #expect(after.members.last == "u-20000")
            #expect(after.version == 2)
            #expect(try await store.scimGroups(containing: "u-00000", connection: Self.connection).isEmpty)
            #expect(try await store.scimGroups(containing: "u-20000", connection: Self.connection).map(\.id) == ["g-1"])

            // A user deleted leaves every group.
            #expect(try await store.writeSCIM(Self.user("u-00007"), replacing: nil, signals: []) == .written)
            #expect(try await store.deleteSCIM(.user, connection: Self.connection, id: "u-00007", signals: []) == .written)
            #expect(try await store.scimGroups(containing: "u-00007", connection: Self.connection).isEmpty)
            #expect(try await store.scimResource(.group, connection: Self.connection, id: "g-2")?.members == [])
            #expect(try await store.scimResource(.group, connection: Self.connection, id: "g-1")?.members.count == 19_999)

            // A group deleted takes its memberships along.
            #expect(try await store.deleteSCIM(.group, connection: Self.connection, id: "g-1", signals: []) == .written)
            #expect(try await store.scimGroups(containing: "u-12345", connection: Self.connection).isEmpty)
        }
    }

    @Test("a write replaces only the version it was made from: a stale one is changedSince and changes nothing; an unknown id is notFound",
          arguments: StoreKind.allCases)
    func staleWrite(_ kind: StoreKind) async throws {
        try await kind.withStore { store async throws in
            let v1 = Self.group("g-1", name: "team", members: ["u-1"])
            #expect(try await store.writeSCIM(v1, replacing: nil, signals: []) == .written)
            let v2 = Self.group("g-1", name: "team", members: ["u-1", "u-2"], version: 2)
            #expect(try await store.writeSCIM(v2, replacing: v1, signals: []) == .written)
            // Another request made its change from v1 too: refused, v2 and its members stay.
            let stale = Self.group("g-1", name: "team", members: ["u-3"], version: 2)
            #expect(try await store.writeSCIM(stale, replacing: v1, signals: []) == .changedSince)
            let stored = try await store.scimResource(.group, connection: Self.connection, id: "g-1")
            #expect(stored?.members == ["u-1", "u-2"] && stored?.version == 2)
            #expect(try await store.scimGroups(containing: "u-3", connection: Self.connection).isEmpty)
            let ghost = Self.group("g-9", name: "ghost", members: [])
            #expect(try await store.writeSCIM(ghost, replacing: ghost, signals: []) == .notFound)
        }
    }

    @Test("memberChanges merges two normalised member lists by their bytes: canonically equivalent ids are different members")
    func memberChanges() {
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        let old = SCIMResource.normalisedMembers(["a", "b", nfc, "d"])
        let new = SCIMResource.normalisedMembers(["b", nfd, "d", "e", "f"])
        let (added, removed) = SCIMResource.memberChanges(from: old, to: new)
        #expect(added.map { Array($0.utf8) } == [Array(nfd.utf8), Array("e".utf8), Array("f".utf8)])
        #expect(removed.map { Array($0.utf8) } == [Array("a".utf8), Array(nfc.utf8)])
        #expect(SCIMResource.memberChanges(from: [], to: new).added == new)
        #expect(SCIMResource.memberChanges(from: old, to: []).removed == old)
        let same = SCIMResource.memberChanges(from: Self.many, to: Self.many)
        #expect(same.added.isEmpty && same.removed.isEmpty)
    }

    @Test("migration 9 carries members that schema 8 kept as JSON (members_json and a copy in attributes, 3,000 of them: past the parser's 64 KiB) into rows, and drops both documents")
    func migrationFromMembersJSON() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("store.sqlite")
        let old = try await SQLiteStore.open(path: path, migratingThrough: 8)
        #expect(try await old.schemaVersion() == 8)
        // As the schema-8 code wrote a group: members in members_json and in attributes, and (for
        // groups it had written) in scim_members too; this one lost a row to show the carry-over.
        let ids = (0..<3_000).map { String(format: "u-%05d", $0) }
        let array = "[" + ids.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let objects = "[" + ids.map { #"{"value":"\#($0)"}"# }.joined(separator: ",") + "]"
        try await old.execute("""
            INSERT INTO scim_resources (kind, connection, id, name, name_lower, external_id, active, email, issuer, tenant, subject,
                                        members_json, attributes, created, last_modified, version)
            VALUES ('Group', 'okta', 'g-1', 'Everyone', 'everyone', NULL, 1, NULL, NULL, NULL, NULL,
                    '\(array)', '{"displayName":"Everyone","members":\(objects)}', 1800000000, 1800000000, 3)
            """)
        try await old.execute("INSERT INTO scim_members (connection, group_id, user_id) VALUES ('okta', 'g-1', 'u-00001')")
        // Schema 8 kept the client's spelling of the key: every case of `members` goes.
        try await old.execute("""
            INSERT INTO scim_resources (kind, connection, id, name, name_lower, external_id, active, email, issuer, tenant, subject,
                                        members_json, attributes, created, last_modified, version)
            VALUES ('Group', 'okta', 'g-3', 'Spelt', 'spelt', NULL, 1, NULL, NULL, NULL, NULL,
                    '["u-00002"]', '{"Members":[{"value":"u-00002"}],"displayName":"Spelt","MEMBERS":[],"note":"members"}', 1800000001, 1800000001, 1)
            """)
        await old.close()

        let store = try await SQLiteStore.open(path: path)
        #expect(try await store.schemaVersion() == 11)
        let group = try #require(try await store.scimResource(.group, connection: "okta", id: "g-1"))
        #expect(group.members == ids)
        #expect(group.attributes == #"{"displayName":"Everyone"}"#)
        #expect(group.version == 3)
        let spelt = try #require(try await store.scimResource(.group, connection: "okta", id: "g-3"))
        #expect(spelt.attributes == #"{"displayName":"Spelt","note":"members"}"#)
        #expect(spelt.members == ["u-00002"])
        #expect(try await store.scimGroups(containing: "u-02999", connection: "okta").map(\.id) == ["g-1"])
        // members_json is gone from the schema, and the schema-9 code writes to the migrated table
        // (with members_json still there, NOT NULL and no default, its INSERT would fail).
        try await store.execute("SELECT attributes FROM scim_resources")
        await #expect(throws: (any Error).self, "no such column: members_json") {
            try await store.execute("SELECT members_json FROM scim_resources")
        }
        let renamed = SCIMResource(kind: .group, connection: "okta", id: "g-1", name: "All", externalID: nil, active: true, email: nil, subject: nil,
                                   members: Array(ids.dropFirst()), attributes: #"{"displayName":"All"}"#, created: group.created,
                                   lastModified: group.lastModified, version: 4)
        #expect(try await store.writeSCIM(renamed, replacing: group, signals: []) == .written)
        #expect(try await store.writeSCIM(Self.group("g-2", name: "new", members: ["u-00001"]), replacing: nil, signals: []) == .written)
        #expect(try await store.scimResource(.group, connection: "okta", id: "g-1") == renamed)
        #expect(try await store.scimGroups(containing: "u-00001", connection: "okta").map(\.id) == ["g-1", "g-2"])
        await store.close()
    }
}
