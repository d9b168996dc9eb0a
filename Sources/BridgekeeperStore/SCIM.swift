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
    /// A Group's members (User ids).
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
        self.members = members
        self.attributes = attributes
        self.created = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
        self.lastModified = Date(timeIntervalSince1970: lastModified.timeIntervalSince1970.rounded(.down))
        self.version = version
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
}

/// The SCIM resources of each connection (issue 6). A write and the revocation signals it raises
/// are one transaction: a deactivation is never stored without the signal that acts on it.
public protocol SCIMStore: Sendable {
    func scimResource(_ kind: SCIMResource.Kind, connection: String, id: String) async throws -> SCIMResource?
    /// Resources matching `selector`, ordered by creation, with the total count (RFC 7644 §3.4.2.4).
    func scimResources(_ kind: SCIMResource.Kind, connection: String, where selector: SCIMSelector, startIndex: Int,
                       count: Int) async throws -> (total: Int, resources: [SCIMResource])
    /// Groups of the connection that have `userID` as a member.
    func scimGroups(containing userID: String, connection: String) async throws -> [SCIMResource]
    /// Creates (`create`) or replaces `resource`, writing `signals` as received in the same
    /// transaction.
    func writeSCIM(_ resource: SCIMResource, create: Bool, signals: [InboundSignal]) async throws -> SCIMWriteOutcome
    /// Deletes a resource (and a User's memberships), with `signals`.
    func deleteSCIM(_ kind: SCIMResource.Kind, connection: String, id: String, signals: [InboundSignal]) async throws -> SCIMWriteOutcome
    /// The subjects whose SCIM User has `email` (lower-cased), across connections.
    func subjects(withEmail email: String) async throws -> [SubjectKey]
}
