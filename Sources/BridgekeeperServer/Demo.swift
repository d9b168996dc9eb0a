public import BridgekeeperConfig
public import Foundation
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperCore

/// The embedded default: the demo IdP and configuration in `idp-fixtures/demo-idp`, SQLite in a
/// local data folder, and a key-encryption key made there on first start (mode 0600). Demo-grade
/// only: the IdP's private keys are public.
public enum Demo {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public static let configurationFile = "bridgekeeper-demo.yaml"
    public static let clientID = "mcp-client-demo"
    public static let clientSecret = "demo-client-secret-not-for-production"
    public static let gatewayID = "gateway-demo"
    public static let gatewaySecret = "demo-gateway-secret-not-for-production"

    /// The demo configuration with the issuer on `port`, the database and key-encryption key in `data`.
    public static func configuration(fixtures: String, data: String, port: Int) throws -> Configuration {
        let file = (fixtures as NSString).appendingPathComponent(configurationFile)
        guard FileManager.default.fileExists(atPath: file) else {
            throw Failure("no demo configuration at \(file): run from the project folder or pass --fixtures")
        }
        guard (1...65535).contains(port) else { throw Failure("the demo needs a fixed port (1 to 65535)") }
        let kek = try keyEncryptionKey(data: data)
        var configuration = try Configuration.load(file: file, environment: ["BRIDGEKEEPER_DEMO_KEK": kek])
        configuration.issuer = "http://127.0.0.1:\(port)"
        configuration.port = port
        configuration.host = "127.0.0.1"
        configuration.databasePath = (data as NSString).appendingPathComponent("bridgekeeper.sqlite")
        return configuration
    }

    /// The data folder (0700) and its key-encryption key file (0600), created when missing.
    static func keyEncryptionKey(data: String) throws -> String {
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = (data as NSString).appendingPathComponent("key-encryption-key")
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) {
            return existing.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let key = Base64URL.encode(SecureRandom.bytes(32))
        guard FileManager.default.createFile(atPath: path, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Failure("cannot write \(path)")
        }
        return key
    }

    /// The demo IdP: its users, its RS256 key, and the catalog's resources, loaded once.
    public struct IdP: Sendable {
        let users: JSONObject
        let key: SigningKey
        public let issuer: String
        let resources: [String: String]

        public init(fixtures: String) throws {
            let usersFile = (fixtures as NSString).appendingPathComponent("users.json")
            guard let usersData = FileManager.default.contents(atPath: usersFile),
                  case .object(let users) = try JSONValue.parse(Array(usersData)) else {
                throw Failure("cannot read \(usersFile)")
            }
            self.users = users
            let configuration = try Configuration.load(file: (fixtures as NSString).appendingPathComponent(configurationFile),
                                                       environment: ["BRIDGEKEEPER_DEMO_KEK": Base64URL.encode(SecureRandom.bytes(32))])
            issuer = configuration.idps[0].issuer
            var resources: [String: String] = [:]
            for server in configuration.catalog.servers { resources[server.name] = server.resource.canonical }
            self.resources = resources
            let pemPath = (fixtures as NSString).appendingPathComponent("signing-rs256.pem")
            guard let pem = try? String(contentsOfFile: pemPath, encoding: .utf8) else { throw Failure("cannot read \(pemPath)") }
            key = try SigningKey(pem: pem, algorithm: .rs256, keyID: "demo-rs256")
        }

        /// The IdP `sub` of a demo user (from `users.json`).
        public func subject(of user: String) -> String? { users[user]?.objectValue?["sub"]?.stringValue }

        /// A fresh ID-JAG (RS256, as Okta and Entra sign) for `user` (from `users.json`) and the
        /// catalog server `server`, audience `audience` (the broker's issuer).
        public func idJAG(user: String, server: String, audience: String, scope: String? = nil, clientID: String = Demo.clientID,
                          lifetime: Int = 300, now: Date) throws -> String {
            guard let entry = users[user]?.objectValue, let sub = entry["sub"]?.stringValue else {
                throw Failure("no demo user \(user); known: \(users.names.sorted().joined(separator: ", "))")
            }
            guard let resource = resources[server] else {
                throw Failure("no server \(server) in the demo catalog; known: \(resources.keys.sorted().joined(separator: ", "))")
            }
            let iat = Int64(now.timeIntervalSince1970)
            var claims = JSONObject([
                "iss": .string(issuer), "sub": .string(sub), "aud": .string(audience),
                "client_id": .string(clientID), "jti": .string(SecureRandom.identifier()),
                "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + Int64(lifetime))),
                "resource": .string(resource),
            ])
            if let email = entry["email"] { claims["email"] = email }
            if let groups = entry["groups"] { claims["groups"] = groups }
            if let scope { claims["scope"] = .string(scope) }
            return try key.signJWT(type: "oauth-id-jag+jwt", claims: claims)
        }
    }
}
