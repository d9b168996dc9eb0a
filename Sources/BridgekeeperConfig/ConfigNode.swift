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
        do { root = try Yams.compose(yaml: yaml) } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
            throw duplicateKey(duplicates.first ?? "?", line: context.mark.line, column: context.mark.column, in: yaml)
        } catch {
            // Only the first line (position and problem): Yams adds a snippet of the file, which
            // may hold secrets.
            let first = "\(error)".split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? "syntax error"
            throw ConfigurationError(path: "", "not valid YAML: \(first)")
        }
        guard let root else { throw ConfigurationError(path: "", "the file is empty") }
        return ConfigNode(node: root, path: "")
    }

    /// A duplicate key, named by its path: Yams refuses duplicates before we see the tree, so the
    /// key at Yams' mark is renamed to a marker, the text parsed again, and the marker's path found.
    static func duplicateKey(_ key: String, line: Int, column: Int, in yaml: String) -> ConfigurationError {
        let fallback = ConfigurationError(path: "", "duplicate key \(key) at line \(line), column \(column)")
        var lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard line >= 1, line <= lines.count else { return fallback }
        let text = Array(lines[line - 1].utf8)
        let start = column - 1
        let keyBytes = Array(key.utf8)
        guard start >= 0, start + keyBytes.count <= text.count, Array(text[start..<start + keyBytes.count]) == keyBytes else { return fallback }
        let marker = "bk-duplicate-key-marker"
        lines[line - 1] = String(decoding: text[..<start] + Array(marker.utf8) + text[(start + keyBytes.count)...], as: UTF8.self)
        guard let root = try? Yams.compose(yaml: lines.joined(separator: "\n")),
              let path = find(marker, in: ConfigNode(node: root, path: "")) else { return fallback }
        return ConfigurationError(path: String(path.dropLast(marker.count)) + key, "appears twice")
    }

    private static func find(_ marker: String, in node: ConfigNode) -> String? {
        switch node.node {
        case .mapping(let mapping):
            for (keyNode, value) in mapping {
                guard case .scalar(let key) = keyNode else { continue }
                if key.string == marker { return node.child(marker) }
                if let found = find(marker, in: ConfigNode(node: value, path: node.child(key.string))) { return found }
            }
        case .sequence(let sequence):
            for (index, item) in sequence.enumerated() {
                if let found = find(marker, in: ConfigNode(node: item, path: "\(node.path)[\(index)]")) { return found }
            }
        default:
            break
        }
        return nil
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

    /// Whether this node is a single value (not a list or a mapping).
    var isScalar: Bool {
        if case .scalar = node { return true }
        return false
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
