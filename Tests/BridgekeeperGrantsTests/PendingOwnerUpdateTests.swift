@testable import BridgekeeperGrants
import BridgekeeperCore
import BridgekeeperPolicy
import Foundation
import Testing

@Suite("owner updates owed after a commit")
struct PendingOwnerUpdateTests {
    typealias Update = AgentSupport.PendingOwnerUpdates.Update
    static let alice = SubjectKey(issuer: "https://idp.example.com", subject: "alice")
    static let older = SubjectAttributes(origin: SubjectOrigin(alice), groups: ["engineering", "admins"])
    static let newer = SubjectAttributes(origin: SubjectOrigin(alice), groups: ["engineering"])

    @Test("a failed write is kept until taken; the newer news wins; a narrowing owed stays owed")
    func keep() {
        let pending = AgentSupport.PendingOwnerUpdates()
        pending.keep(Update(attributes: Self.newer, asOf: Date(timeIntervalSince1970: 20), narrow: false, failure: "busy"), of: Self.alice)
        pending.keep(Update(attributes: Self.older, asOf: Date(timeIntervalSince1970: 10), narrow: true, failure: "locked"), of: Self.alice)
        #expect(pending.count == 1)
        let owed = pending.take(Self.alice)
        #expect(owed?.attributes == Self.newer)
        #expect(owed?.narrow == true)
        #expect(owed?.failure == "locked")
        #expect(pending.take(Self.alice) == nil)
        #expect(pending.count == 0)
    }

    @Test("a narrowing left after the attributes were recorded does not drop newer attributes still owed")
    func narrowingOnly() {
        let pending = AgentSupport.PendingOwnerUpdates()
        pending.keep(Update(attributes: Self.newer, asOf: Date(timeIntervalSince1970: 20), narrow: false, failure: "busy"), of: Self.alice)
        pending.keep(Update(attributes: nil, asOf: Date(timeIntervalSince1970: 10), narrow: true, failure: "busy"), of: Self.alice)
        let owed = pending.take(upTo: 8)
        #expect(owed.count == 1)
        #expect(owed.first?.1.attributes == Self.newer)
        #expect(owed.first?.1.narrow == true)
    }
}
