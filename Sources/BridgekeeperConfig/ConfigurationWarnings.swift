import Foundation

/// Something a configuration allows but an operator probably did not mean: `config check` prints
/// each on standard error (`warning: <path>: <why>`) and `serve` logs them at start; neither refuses
/// the file.
public struct ConfigurationWarning: Sendable, Hashable, CustomStringConvertible {
    public let path: String
    public let message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

extension Configuration {
    /// What this configuration allows that an operator probably did not mean, by key path.
    public var warnings: [ConfigurationWarning] {
        var found: [ConfigurationWarning] = []
        // Issuers are compared byte for byte (RFC 8414 §3.3, OIDC Discovery §4.3, RFC 7519 `iss`):
        // a trailing slash is part of the string, and most servers write their issuer without one.
        func checkSlash(_ issuer: String, _ path: String, _ whose: String) {
            guard issuer.hasSuffix("/") else { return }
            found.append(ConfigurationWarning(path: path, "ends with /: \(whose) must carry exactly this string, slash included, "
                                              + "so an issuer written without it (the usual form) never matches"))
        }
        checkSlash(issuer, "issuer", "tokens and discovery documents naming Bridgekeeper")
        for (index, idp) in idps.enumerated() {
            checkSlash(idp.issuer, "idps[\(index)].issuer", "the IdP's tokens (iss) and its discovery document (issuer)")
        }
        // A client without `servers` reaches no server (deny by default).
        for (index, client) in clients.enumerated() where client.servers == nil && (!client.grantTypes.isEmpty || client.introspection) {
            let path = "clients[\(index)].servers"
            if !client.grantTypes.isEmpty {
                found.append(ConfigurationWarning(path: path, "not given, so this client gets tokens for no server (deny by default); "
                                                  + "list the servers it may use, or [\"*\"] for every server but the management API"))
            } else {
                found.append(ConfigurationWarning(path: path, "not given, so every token introspects as inactive for this client "
                                                  + "(deny by default); list the servers whose tokens it checks, or [\"*\"]"))
            }
        }
        return found
    }
}
