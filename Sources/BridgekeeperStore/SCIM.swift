public import BridgekeeperCore
public import Foundation

/// A SCIM 2.0 resource (RFC 7643) an IdP provisioned through one connection: a User or a Group,
/// kept as the JSON the service provider returns, with the attributes it is looked up by.
public struct SCIMResource: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case user = "User", group = "Group"
    }

    public let kind: Kind
    /// The connection (one IdP's provisioning) it belongs to; ids and names are per connection.
    public let connection: String
    /// Ours (RFC 7643 §3.1: assigned by the service provider, never reassigned).
    public let id: String
    /// `userName` of a User, `displayName` of a Group; unique per connection, compared without case.
    public let name: String
    public let externalID: String?
    /// A User's `active` (Groups: true).
    public let active: Bool
    /// A User's primary (or first) email, lower-cased, for subject look-ups by email.
    public let email: String?
    /// The person the User is, as the IdP's tokens name them; nil when the resource lacks the
    /// attribute the connection maps subjects from.
    public let subject: SubjectKey?
    /// A Group's members (User ids): unique, in ascending order of their UTF-8 bytes (the order
    /// every store returns them in; SCIM multi-valued attributes have none, RFC 7643 §2.4). Stores
    /// keep them one row per member, never as one document.
    public let members: [String]
    /// The resource's attributes as last written (without `id`, `meta`, `members` and `groups`,
    /// which are ours or derived).
    public let attributes: String
    public let created: Date
    public let lastModified: Date
    public let version: Int

    public init(kind: Kind, connection: String, id: String, name: String, externalID: String?, active: Bool, email: String?,
                subject: SubjectKey?, members: [String], attributes: String, created: Date, lastModified: Date, version: Int) {
        self.kind = kind
        self.connection = connection
        self.id = id
        self.name = name
        self.externalID = externalID
        self.active = active
        self.email = email
        self.subject = subject
        self.members = Self.normalisedMembers(members)
        self.attributes = attributes
        self.created = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
        self.lastModified = Date(timeIntervalSince1970: lastModified.timeIntervalSince1970.rounded(.down))
        self.version = version
    }
}

extension SCIMResource {
    /// `ids` without repeats (compared by bytes), in ascending order of their UTF-8 bytes.
    public static func normalisedMembers(_ ids: [String]) -> [String] {
        let sorted = ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var result: [String] = []
        result.reserveCapacity(sorted.count)
        for id in sorted where !(result.last.map { $0.utf8.elementsEqual(id.utf8) } ?? false) { result.append(id) }
        return result
    }

    /// What turns the members `old` into `new`, both as `normalisedMembers` leaves them (unique, in
    /// ascending order of their UTF-8 bytes): one linear merge, ids compared by their bytes (never
    /// String ==, which is Unicode canonical equivalence and would take "é" and "e\u{301}" for
    /// one member). Both results are in the same order.
    public static func memberChanges(from old: [String], to new: [String]) -> (added: [String], removed: [String]) {
        var added: [String] = [], removed: [String] = []
        var i = old.startIndex, j = new.startIndex
        while i < old.endIndex, j < new.endIndex {
            if old[i].utf8.elementsEqual(new[j].utf8) {
                i += 1
                j += 1
            } else if old[i].utf8.lexicographicallyPrecedes(new[j].utf8) {
                removed.append(old[i])
                i += 1
            } else {
                added.append(new[j])
                j += 1
            }
        }
        removed += old[i...]
        added += new[j...]
        return (added, removed)
    }
}

/// A resource without its attributes or members: what a reference to it (a member's `display`, a
/// user's `groups`) and a group's name for policy need.
public struct SCIMSummary: Sendable, Hashable {
    public let kind: SCIMResource.Kind
    public let id: String
    public let name: String
    public let externalID: String?
    public let subject: SubjectKey?

    public init(kind: SCIMResource.Kind, id: String, name: String, externalID: String?, subject: SubjectKey?) {
        self.kind = kind
        self.id = id
        self.name = name
        self.externalID = externalID
        self.subject = subject
    }

    public init(_ resource: SCIMResource) {
        self.init(kind: resource.kind, id: resource.id, name: resource.name, externalID: resource.externalID, subject: resource.subject)
    }
}

/// What a SCIM filter may select on (RFC 7644 §3.4.2.2, the `eq` forms IdPs send).
public enum SCIMSelector: Sendable, Hashable {
    case all
    /// `userName eq` / `displayName eq` (case-insensitive).
    case name(String)
    case externalID(String)
    case id(String)
}

/// The outcome of a SCIM write.
public enum SCIMWriteOutcome: Sendable, Hashable {
    case written
    /// Another resource of the connection has that name (`uniqueness`).
    case nameTaken
    /// No such resource (replace or delete).
    case notFound
    /// The stored resource is no longer `previous` (another request wrote it since it was read):
    /// nothing written, so no concurrent change is lost. The caller reads it again.
    case changedSince
}

/// The SCIM resources of each connection (issue 6). A write and the revocation signals it raises
/// are one transaction: a deactivation is never stored without the signal that acts on it.
public protocol SCIMStore: Sendable {
    func scimResource(_ kind: SCIMResource.Kind, connection: String, id: String) async throws -> SCIMResource?
    /// Resources matching `selector`, ordered by creation, with the total count (RFC 7644 §3.4.2.4).
    func scimResources(_ kind: SCIMResource.Kind, connection: String, where selector: SCIMSelector, startIndex: Int,
                       count: Int) async throws -> (total: Int, resources: [SCIMResource])
    /// Groups of the connection that have `userID` as a member, ordered by creation (one read, by
    /// the member's index; the groups' own members are not read).
    func scimGroups(containing userID: String, connection: String) async throws -> [SCIMSummary]
    /// The resources of `kind` among `ids` that exist, ordered by creation: one read per 5,000 ids
    /// however many there are (what renders a page of members or a member's groups).
    func scimSummaries(_ kind: SCIMResource.Kind, connection: String, ids: [String]) async throws -> [SCIMSummary]
    /// For each of `userIDs` that is a member of some group of the connection, those groups' ids:
    /// one read per 5,000 ids.
    func scimMemberships(of userIDs: [String], connection: String) async throws -> [String: [String]]
    /// Creates `resource` (`previous` nil) or replaces `previous`, the stored resource it was made
    /// from, writing `signals` as received in the same transaction; `.changedSince` (nothing
    /// written) when the stored version is no longer `previous.version`. A Group's member rows change by
    /// `memberChanges(from: previous.members, to: resource.members)` only: the rows added and
    /// removed, never a re-read of all of them.
    func writeSCIM(_ resource: SCIMResource, replacing previous: SCIMResource?, signals: [InboundSignal]) async throws -> SCIMWriteOutcome
    /// Deletes a resource (and a User's memberships), with `signals`.
    func deleteSCIM(_ kind: SCIMResource.Kind, connection: String, id: String, signals: [InboundSignal]) async throws -> SCIMWriteOutcome
    /// The subjects whose SCIM User has `email` (lower-cased), across connections.
    func subjects(withEmail email: String) async throws -> [SubjectKey]
}
