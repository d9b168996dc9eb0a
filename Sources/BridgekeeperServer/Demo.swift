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

    /// A fresh ID-JAG from the demo IdP (RS256, as Okta and Entra sign) for `user` (from
    /// `users.json`) and the catalog server `server`, audience `audience` (the broker's issuer).
    public static func idJAG(fixtures: String, user: String, server: String, audience: String, scope: String? = nil,
                             clientID: String = clientID, lifetime: Int = 300, now: Date) throws -> String {
        let usersFile = (fixtures as NSString).appendingPathComponent("users.json")
        guard let usersData = FileManager.default.contents(atPath: usersFile),
              case .object(let users) = try JSONValue.parse(Array(usersData)) else {
            throw Failure("cannot read \(usersFile)")
        }
        guard let entry = users[user]?.objectValue, let sub = entry["sub"]?.stringValue else {
            throw Failure("no demo user \(user); known: \(users.names.sorted().joined(separator: ", "))")
        }
        let kek = Base64URL.encode(SecureRandom.bytes(32))
        let configuration = try Configuration.load(file: (fixtures as NSString).appendingPathComponent(configurationFile),
                                                   environment: ["BRIDGEKEEPER_DEMO_KEK": kek])
        guard let target = configuration.catalog.server(named: server) else {
            throw Failure("no server \(server) in the demo catalog; known: \(configuration.catalog.servers.map(\.name).joined(separator: ", "))")
        }
        let pemPath = (fixtures as NSString).appendingPathComponent("signing-rs256.pem")
        guard let pem = try? String(contentsOfFile: pemPath, encoding: .utf8) else { throw Failure("cannot read \(pemPath)") }
        let key = try SigningKey(pem: pem, algorithm: .rs256, keyID: "demo-rs256")
        let iat = Int64(now.timeIntervalSince1970)
        var claims = JSONObject([
            "iss": .string(configuration.idps[0].issuer), "sub": .string(sub), "aud": .string(audience),
            "client_id": .string(clientID), "jti": .string(SecureRandom.identifier()),
            "iat": .number(JSONNumber(iat)), "exp": .number(JSONNumber(iat + Int64(lifetime))),
            "resource": .string(target.resource.canonical),
        ])
        if let email = entry["email"] { claims["email"] = email }
        if let groups = entry["groups"] { claims["groups"] = groups }
        if let scope { claims["scope"] = .string(scope) }
        return try key.signJWT(type: "oauth-id-jag+jwt", claims: claims)
    }
}
