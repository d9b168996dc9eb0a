public import Foundation
import Yams

/// The terminal client's configuration (`~/.config/bridgekeeper/client.yaml`): where the broker
/// is, this CLI's client at the broker, and the IdPs a person signs in with. One validated value;
/// loading throws naming the bad key's path (STYLE rule 13). `docs/login.md` is its reference.
///
/// ```yaml
/// broker: https://bridgekeeper.example.com    # Bridgekeeper's issuer
/// client_id: bridgekeeper-cli                 # this CLI's client at Bridgekeeper
/// client_secret: env:BRIDGEKEEPER_CLI_SECRET  # or file:/path; never inline
/// idps:
///   - name: okta
///     issuer: https://acme.okta.com
///     client_id: 0oa-cli-native               # the native app at the IdP
///     scopes: [openid, profile, email, offline_access]
///     redirect_port: 0                        # 0 = any free port
///     redirect_path: /callback
/// development: { allow_loopback_http: true }  # http:// broker/IdP on loopback only
/// ```
public struct ClientConfiguration: Sendable {
    public struct IdP: Sendable {
        /// The session's name (a file name): letters, digits, `.`, `_`, `-`; at most 64.
        public var name: String
        /// The IdP's issuer, compared exactly with its discovery document's.
        public var issuer: String
        /// This CLI's client id at the IdP (a public native client); the broker maps it in
        /// `clients[].idp_client_ids`.
        public var clientID: String
        /// Requested scopes; must include `openid`. Default openid, profile, email, offline_access.
        public var scopes: [String] = ["openid", "profile", "email", "offline_access"]
        /// The loopback redirect's port; 0 (default) = any free port (RFC 8252 §7.3).
        public var redirectPort: Int = 0
        /// The loopback redirect's path, registered at the IdP. Default `/callback`.
        public var redirectPath: String = "/callback"
    }

    /// Where the client secret comes from: never inline in the file.
    public enum SecretReference: Sendable, Equatable {
        case environment(String)
        case file(String)
    }

    /// Bridgekeeper's issuer: https, no path, query or fragment.
    public var broker: String
    /// This CLI's client id at Bridgekeeper.
    public var clientID: String
    /// Its secret, read only when needed (`token`), not at `login`.
    public var clientSecret: SecretReference
    public var idps: [IdP]
    /// `http://` broker and IdP URLs on loopback (demo, tests). Default off.
    public var allowLoopbackHTTP = false

    /// `$BRIDGEKEEPER_CLIENT_CONFIG`, else `$XDG_CONFIG_HOME/bridgekeeper/client.yaml`, else
    /// `~/.config/bridgekeeper/client.yaml`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let file = environment["BRIDGEKEEPER_CLIENT_CONFIG"], !file.isEmpty { return file }
        if let config = environment["XDG_CONFIG_HOME"], config.hasPrefix("/") { return config + "/bridgekeeper/client.yaml" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/bridgekeeper/client.yaml"
    }

    /// Loads and validates a file; relative `file:` paths are resolved against its folder.
    public static func load(file: String) throws(ClientError) -> ClientConfiguration {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ClientError(.invalidConfiguration, "cannot read \(file) (give --client-config FILE or set BRIDGEKEEPER_CLIENT_CONFIG)")
        }
        return try parse(yaml: text, baseDirectory: URL(fileURLWithPath: file).deletingLastPathComponent().path)
    }

    public static func parse(yaml: String, baseDirectory: String) throws(ClientError) -> ClientConfiguration {
        let root = try YAMLNode.parse(yaml)
        let top = try root.mapping(allowed: ["broker", "client_id", "client_secret", "idps", "development"])
        var loopback = false
        if let development = top["development"] {
            loopback = try development.mapping(allowed: ["allow_loopback_http"])["allow_loopback_http"]?.bool() ?? false
        }
        let brokerNode = try top.required("broker", in: root)
        let broker = try brokerNode.string()
        try checkURL(broker, loopbackHTTP: loopback, allowPath: false, node: brokerNode)
        let clientID = try top.required("client_id", in: root).string()
        let secretNode = try top.required("client_secret", in: root)
        let secretText = try secretNode.string()
        let secret: SecretReference
        if secretText.hasPrefix("env:"), secretText.count > 4 {
            secret = .environment(String(secretText.dropFirst(4)))
        } else if secretText.hasPrefix("file:"), secretText.count > 5 {
            let path = String(secretText.dropFirst(5))
            secret = .file(path.hasPrefix("/") ? path : (baseDirectory as NSString).appendingPathComponent(path))
        } else {
            throw secretNode.error("must be env:NAME or file:PATH; a secret is never written in this file")
        }

        var idps: [IdP] = []
        for item in try top.required("idps", in: root).sequence() {
            let m = try item.mapping(allowed: ["name", "issuer", "client_id", "scopes", "redirect_port", "redirect_path"])
            let nameNode = try m.required("name", in: item)
            let name = try nameNode.string()
            guard isSessionName(name) else { throw nameNode.error("must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'") }
            guard !idps.contains(where: { $0.name == name }) else { throw nameNode.error("is used twice") }
            let issuerNode = try m.required("issuer", in: item)
            let issuer = try issuerNode.string()
            try checkURL(issuer, loopbackHTTP: loopback, allowPath: true, node: issuerNode)
            var idp = IdP(name: name, issuer: issuer, clientID: try m.required("client_id", in: item).string())
            if let scopesNode = m["scopes"] {
                let scopes = try scopesNode.strings()
                for (index, scope) in scopes.enumerated() where !isScopeToken(scope) {
                    throw YAMLNode.Failure(path: "\(scopesNode.path)[\(index)]", "is not a scope token (RFC 6749 §3.3)").error
                }
                guard scopes.contains("openid") else { throw scopesNode.error("must include openid") }
                idp.scopes = scopes
            }
            if let port = m["redirect_port"] { idp.redirectPort = try port.integer(in: 0...65535) }
            if let pathNode = m["redirect_path"] {
                let path = try pathNode.string()
                guard path.hasPrefix("/"), !path.contains("?"), !path.contains("#"), !path.contains(" "), path.utf8.count <= 200 else {
                    throw pathNode.error("must be a path starting with / without query or fragment")
                }
                idp.redirectPath = path
            }
            idps.append(idp)
        }
        guard !idps.isEmpty else { throw YAMLNode.Failure(path: "idps", "must list at least one IdP").error }
        var configuration = ClientConfiguration(broker: broker, clientID: clientID, clientSecret: secret, idps: idps)
        configuration.allowLoopbackHTTP = loopback
        return configuration
    }

    /// The IdP named `name`, or the only one when `name` is nil.
    public func idp(named name: String?) throws(ClientError) -> IdP {
        guard let name else {
            guard idps.count == 1 else {
                throw ClientError(.usage, "several IdPs are configured (\(idps.map(\.name).joined(separator: ", "))): choose one with --idp")
            }
            return idps[0]
        }
        guard let idp = idps.first(where: { $0.name == name }) else {
            throw ClientError(.usage, "no IdP named \(name) in the client configuration; known: \(idps.map(\.name).joined(separator: ", "))")
        }
        return idp
    }

    /// The client secret, read now from its environment variable or file.
    public func resolveClientSecret(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ClientError) -> String {
        switch clientSecret {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw ClientError(.invalidConfiguration, "client_secret: environment variable \(name) is not set")
            }
            return value
        case .file(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ClientError(.invalidConfiguration, "client_secret: cannot read \(path)")
            }
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !value.isEmpty else { throw ClientError(.invalidConfiguration, "client_secret: \(path) is empty") }
            return value
        }
    }

    /// The broker's base URL without a trailing slash.
    public var brokerBase: String { broker.hasSuffix("/") ? String(broker.dropLast()) : broker }

    static func isSessionName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && !name.hasPrefix(".") && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    /// RFC 6749 §3.3: 1*( %x21 / %x23-5B / %x5D-7E ).
    static func isScopeToken(_ scope: String) -> Bool {
        !scope.isEmpty && scope.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
    }

    /// An absolute https URL without query or fragment (and without a path for the broker, whose
    /// endpoints are at its root); `http` only to a loopback host when allowed.
    static func checkURL(_ text: String, loopbackHTTP: Bool, allowPath: Bool, node: YAMLNode) throws(ClientError) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw node.error("must be an absolute URL")
        }
        guard url.query == nil, url.fragment == nil, !text.contains("?"), !text.contains("#") else {
            throw node.error("must have no query or fragment")
        }
        guard allowPath || url.path.isEmpty || url.path == "/" else { throw node.error("must have no path (Bridgekeeper's issuer)") }
        guard scheme == "https" || (scheme == "http" && loopbackHTTP && isLoopback(host)) else {
            throw node.error("must use https (http only on loopback with development.allow_loopback_http)")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased())
    }
}

/// A YAML node with its key path, read strictly: unknown and duplicate keys, wrong types and
/// out-of-bounds numbers are errors naming the path (as `BridgekeeperConfig` reads the server's file).
struct YAMLNode {
    let node: Node
    let path: String

    struct Failure {
        let path: String
        let message: String
        init(path: String, _ message: String) {
            self.path = path
            self.message = message
        }
        var error: ClientError { ClientError(.invalidConfiguration, path.isEmpty ? message : "\(path): \(message)") }
    }

    static func parse(_ yaml: String) throws(ClientError) -> YAMLNode {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
            throw Failure(path: "", "duplicate key \(duplicates.first.map { "\($0)" } ?? "?") at line \(context.mark.line)").error
        } catch {
            // Only the first line: Yams quotes the file, which may hold secrets.
            let first = "\(error)".split(separator: "\n").first.map(String.init) ?? "syntax error"
            throw Failure(path: "", "not valid YAML: \(first)").error
        }
        guard let root else { throw Failure(path: "", "the file is empty").error }
        return YAMLNode(node: root, path: "")
    }

    func error(_ message: String) -> ClientError { Failure(path: path, message).error }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func mapping(allowed: [String]) throws(ClientError) -> [String: YAMLNode] {
        guard case .mapping(let mapping) = node else { throw error("must be a mapping") }
        var members: [String: YAMLNode] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else { throw error("keys must be strings") }
            guard allowed.contains(key.string) else {
                throw Failure(path: child(key.string), "unknown key (allowed here: \(allowed.joined(separator: ", ")))").error
            }
            guard members[key.string] == nil else { throw Failure(path: child(key.string), "appears twice").error }
            members[key.string] = YAMLNode(node: value, path: child(key.string))
        }
        return members
    }

    func sequence() throws(ClientError) -> [YAMLNode] {
        guard case .sequence(let sequence) = node else { throw error("must be a list") }
        return sequence.enumerated().map { YAMLNode(node: $1, path: "\(path)[\($0)]") }
    }

    func string() throws(ClientError) -> String {
        guard case .scalar(let scalar) = node else { throw error("must be a string") }
        guard !scalar.string.isEmpty else { throw error("must not be empty") }
        return scalar.string
    }

    func strings() throws(ClientError) -> [String] {
        var out: [String] = []
        for item in try sequence() { out.append(try item.string()) }
        return out
    }

    func bool() throws(ClientError) -> Bool {
        switch try string() {
        case "true": return true
        case "false": return false
        default: throw error("must be true or false")
        }
    }

    func integer(in range: ClosedRange<Int>) throws(ClientError) -> Int {
        guard let value = Int(try string()) else { throw error("must be a whole number") }
        guard range.contains(value) else { throw error("must be \(range.lowerBound) to \(range.upperBound)") }
        return value
    }
}

extension Dictionary where Key == String, Value == YAMLNode {
    func required(_ key: String, in parent: YAMLNode) throws(ClientError) -> YAMLNode {
        guard let node = self[key] else { throw YAMLNode.Failure(path: parent.child(key), "is required").error }
        return node
    }
}
