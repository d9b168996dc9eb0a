/// A person or robot as the IdP names it: unique per (`iss`, `tenant` when the IdP is multi-tenant,
/// `sub`) (ID-JAG draft §3.1), never by e-mail.
public struct SubjectKey: Sendable, Hashable, CustomStringConvertible {
    public let issuer: String
    public let tenant: String?
    public let subject: String

    public init(issuer: String, tenant: String? = nil, subject: String) {
        self.issuer = issuer
        self.tenant = tenant
        self.subject = subject
    }

    /// One string for storage and lookups: the three parts joined by a line feed, a character none of
    /// them may contain (the form parser and the JSON strings we accept refuse control characters
    /// in identifiers; `Subject` values with one are refused before they get here).
    public var storageKey: String { "\(issuer)\n\(tenant ?? "")\n\(subject)" }

    public var description: String { tenant.map { "\(issuer) [\($0)] \(subject)" } ?? "\(issuer) \(subject)" }

    public static func == (lhs: SubjectKey, rhs: SubjectKey) -> Bool {
        lhs.storageKey.utf8.elementsEqual(rhs.storageKey.utf8)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(Array(storageKey.utf8)) }
}

/// Whether a token's principal is a person or a robot (agents come with the agents issue); every
/// token and audit record carries it so that nobody has to guess.
public enum PrincipalClass: String, Sendable, Hashable {
    case human, agent
    /// A configured client acting as itself: the revocation feed's tokens.
    case client
}

/// A client that proved who it is at the token, introspection or revocation endpoint.
public struct AuthenticatedClient: Sendable, Hashable {
    public enum Method: String, Sendable, Hashable {
        case clientSecretBasic = "client_secret_basic"
        case clientSecretPost = "client_secret_post"
        case privateKeyJWT = "private_key_jwt"
    }

    public let id: String
    public let method: Method
    /// Whether the client is a registered agent (issue 5) authenticating with its own credential,
    /// rather than a client of the configuration.
    public let isAgent: Bool

    public init(id: String, method: Method, isAgent: Bool = false) {
        self.id = id
        self.method = method
        self.isAgent = isAgent
    }
}
