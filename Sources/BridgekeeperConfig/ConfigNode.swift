import Foundation
import Yams

/// A configuration error: the key path (`clients[1].secret_hash`) and what is wrong with it.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// A YAML node with its key path, read strictly: unknown keys, duplicate keys, wrong types and
/// out-of-bounds numbers are errors that name the path.
struct ConfigNode {
    let node: Node
    let path: String

    static func parse(yaml: String) throws(ConfigurationError) -> ConfigNode {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ConfigurationError(path: "", "not valid YAML: \(error)")
        }
        guard let root else { throw ConfigurationError(path: "", "the file is empty") }
        return ConfigNode(node: root, path: "")
    }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func error(_ message: String) -> ConfigurationError { ConfigurationError(path: path, message) }

    /// The mapping's members; refuses duplicates and any key not in `allowed`.
    func mapping(allowed: [String]) throws(ConfigurationError) -> [String: ConfigNode] {
        guard case .mapping(let mapping) = node else { throw error("must be a mapping") }
        var members: [String: ConfigNode] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else { throw error("keys must be strings") }
            guard allowed.contains(key.string) else {
                throw ConfigurationError(path: child(key.string), "unknown key (allowed here: \(allowed.joined(separator: ", ")))")
            }
            guard members[key.string] == nil else { throw ConfigurationError(path: child(key.string), "appears twice") }
            members[key.string] = ConfigNode(node: value, path: child(key.string))
        }
        return members
    }

    func sequence() throws(ConfigurationError) -> [ConfigNode] {
        guard case .sequence(let sequence) = node else { throw error("must be a list") }
        return sequence.enumerated().map { ConfigNode(node: $1, path: "\(path)[\($0)]") }
    }

    func string() throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node else { throw error("must be a string") }
        guard !scalar.string.isEmpty else { throw error("must not be empty") }
        return scalar.string
    }

    func strings() throws(ConfigurationError) -> [String] {
        var out: [String] = []
        for item in try sequence() { out.append(try item.string()) }
        return out
    }

    func bool() throws(ConfigurationError) -> Bool {
        switch try string() {
        case "true": return true
        case "false": return false
        default: throw error("must be true or false")
        }
    }

    func integer(in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let value = Int(try string()) else { throw error("must be a whole number") }
        guard range.contains(value) else { throw error("must be \(range.lowerBound) to \(range.upperBound)") }
        return value
    }

    /// A secret or key given inline, as `env:NAME` (an environment variable) or as `file:PATH`
    /// (a file, trailing newline removed).
    func secret(environment: [String: String], resolve: (String) -> String = { $0 }) throws(ConfigurationError) -> String {
        let value = try string()
        if value.hasPrefix("env:") {
            let name = String(value.dropFirst(4))
            guard let resolved = environment[name], !resolved.isEmpty else { throw error("environment variable \(name) is not set") }
            return resolved
        }
        if value.hasPrefix("file:") {
            let file = resolve(String(value.dropFirst(5)))
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw error("cannot read \(file)") }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { throw error("\(file) is empty") }
            return trimmed
        }
        return value
    }
}
