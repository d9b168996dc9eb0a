import Foundation
import Testing

/// The layering of docs/architecture.md ("Layering": one row per target, its layer) checked against
/// the package graph SwiftPM reads from Package.swift (`swift package dump-package`), so the picture
/// in the docs cannot drift from the code (issue 19).
///
/// Rule: a target may depend only on targets in a lower layer. Test targets are not layered (they
/// may use anything); dependencies on other packages' products are not ours to layer.
@Suite("Architecture: the documented layering holds in Package.swift")
struct ArchitectureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `target → [targets it depends on]` for every non-test target, from `swift package dump-package`.
    static func packageGraph() throws -> [String: [String]] {
        let environment = ProcessInfo.processInfo.environment
        let swift = (environment["PATH"] ?? "").split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("swift") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? URL(fileURLWithPath: "/opt/swift/usr/bin/swift")
        // A scratch path of its own: `swift test` holds the lock on the package's .build.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("architecture-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let process = Process()
        process.executableURL = swift
        process.arguments = ["package", "--package-path", root.path, "--scratch-path", scratch.path, "dump-package"]
        process.currentDirectoryURL = root
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ArchitectureError("swift package dump-package failed (\(process.terminationStatus)): \(errorText)")
        }
        guard let package = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let targets = package["targets"] as? [[String: Any]] else {
            throw ArchitectureError("dump-package gave no targets")
        }
        let names = Set(targets.compactMap { $0["name"] as? String })
        var graph: [String: [String]] = [:]
        for target in targets {
            guard let name = target["name"] as? String, (target["type"] as? String) != "test" else { continue }
            var dependencies: [String] = []
            for dependency in target["dependencies"] as? [[String: Any]] ?? [] {
                // `byName` names a target of ours or another package's product; `target` is ours;
                // `product` is another package's.
                for key in ["byName", "target"] {
                    if let value = dependency[key] as? [Any], let first = value.first as? String, names.contains(first) {
                        dependencies.append(first)
                    }
                }
            }
            graph[name] = dependencies
        }
        return graph
    }

    /// `target → layer` from the table under "## Layering" in docs/architecture.md: rows
    /// `` | `Name` | 3 | … | ``.
    static func documentedLayers() throws -> [String: Int] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        var layers: [String: Int] = [:]
        var inSection = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") { inSection = line == "## Layering" }
            guard inSection, line.hasPrefix("|") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, cells[1].hasPrefix("`"), cells[1].hasSuffix("`"), let layer = Int(cells[2]) else { continue }
            let name = String(cells[1].dropFirst().dropLast())
            if layers[name] != nil { throw ArchitectureError("\(name) is listed twice in the layering table") }
            layers[name] = layer
        }
        guard !layers.isEmpty else { throw ArchitectureError("docs/architecture.md has no layering table under \"## Layering\"") }
        return layers
    }

    /// Every edge that runs sideways or upwards, and every target the table does not list.
    static func violations(graph: [String: [String]], layers: [String: Int]) -> [String] {
        var found: [String] = []
        for (target, dependencies) in graph.sorted(by: { $0.key < $1.key }) {
            guard let layer = layers[target] else {
                found.append("\(target) is not in the layering table")
                continue
            }
            for dependency in dependencies {
                guard let below = layers[dependency] else {
                    found.append("\(target) depends on \(dependency), which is not in the layering table")
                    continue
                }
                if below >= layer {
                    found.append("\(target) (layer \(layer)) depends on \(dependency) (layer \(below)), which is not below it")
                }
            }
        }
        return found
    }

    @Test("every target depends only on targets the documented layering puts below it")
    func layeringHolds() throws {
        let graph = try Self.packageGraph()
        let layers = try Self.documentedLayers()
        #expect(graph["BridgekeeperCore"] != nil, "the package graph was read")
        let violations = Self.violations(graph: graph, layers: layers)
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
        let stale = Set(layers.keys).subtracting(graph.keys).sorted()
        #expect(stale.isEmpty, "the layering table lists targets Package.swift does not have: \(stale.joined(separator: ", "))")
    }

    @Test("the check names an upward edge and a target missing from the table")
    func checkCanFail() {
        let layers = ["Low": 1, "High": 2]
        let violations = Self.violations(graph: ["Low": ["High"], "High": ["Low"], "Unlisted": ["Low"]], layers: layers)
        #expect(violations == [
            "Low (layer 1) depends on High (layer 2), which is not below it",
            "Unlisted is not in the layering table",
        ])
    }
}

struct ArchitectureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
