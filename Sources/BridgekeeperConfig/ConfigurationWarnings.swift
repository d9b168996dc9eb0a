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
