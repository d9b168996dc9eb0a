public import BridgekeeperJOSE
import Foundation

/// SCIM PATCH (RFC 7644 §3.5.2) over a resource's JSON, tolerant of what real IdPs send:
/// - `op` in any case (Entra sends `Replace`, `Add`, `Remove`);
/// - no `path` and a value object (Okta's `{"op":"replace","value":{"active":false}}`);
/// - booleans as strings (Entra's `"False"`), normalised where the schema says boolean;
/// - attribute names in any case (RFC 7643 §2.1: case-insensitive);
/// - value filters on multi-valued attributes (`emails[type eq "work"].value`,
///   `members[value eq "…"]`).
public enum SCIMPatch {
    public struct Failure: Error, Equatable {
        /// RFC 7644 §3.12 `scimType`.
        public let scimType: String
        public let detail: String
        init(_ scimType: String, _ detail: String) {
            self.scimType = scimType
            self.detail = detail
        }
    }

    public static let schema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

    /// Schema extensions whose attributes are addressed as `SCHEMA:attribute`.
    static let extensionSchemas = ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]

    /// Attributes whose value is a boolean in the core schemas.
    static let booleans: Set<String> = ["active", "primary"]

    /// Applies the PatchOp `body` to `resource`. Attributes named in `readOnly` may not be changed.
    public static func apply(_ body: JSONObject, to resource: JSONObject, readOnly: Set<String> = ["id", "meta", "groups"]) throws(Failure) -> JSONObject {
        guard case .array(let schemas)? = body["schemas"], schemas.contains(where: { $0.stringValue == schema }) else {
            throw Failure("invalidSyntax", "a PATCH body is a \(schema) message")
        }
        guard case .array(let operations)? = body[member: "Operations"], !operations.isEmpty else {
            throw Failure("invalidSyntax", "Operations must be a non-empty array")
        }
        var result = resource
        for operation in operations {
            guard case .object(let op) = operation, let name = op[member: "op"]?.stringValue?.lowercased() else {
                throw Failure("invalidSyntax", "each operation needs an op")
            }
            let path = op[member: "path"]?.stringValue
            let value = op[member: "value"]
            switch name {
            case "add", "replace":
                guard let value else { throw Failure("invalidValue", "\(name) needs a value") }
                if let path, !path.isEmpty {
                    try set(path: try parse(path), value: normalise(value, for: path), in: &result, append: name == "add", readOnly: readOnly)
                } else {
                    guard case .object(let members) = value else { throw Failure("invalidValue", "\(name) without a path needs an object value") }
                    for member in members.members {
                        try set(path: try parse(member.name), value: normalise(member.value, for: member.name), in: &result, append: name == "add",
                                readOnly: readOnly)
                    }
                }
            case "remove":
                guard let path, !path.isEmpty else { throw Failure("noTarget", "remove needs a path") }
                try remove(path: try parse(path), value: value, from: &result, readOnly: readOnly)
            default:
                throw Failure("invalidSyntax", "op must be add, replace or remove")
            }
        }
        return result
    }

    /// A parsed path: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`; a schema URN prefix
    /// (`urn:…:User:attr`) is dropped for the core and enterprise schemas.
    struct Path {
        var attribute: String
        var filter: (attribute: String, value: String)?
        var sub: String?
    }

    static func parse(_ raw: String) throws(Failure) -> Path {
        var text = raw.trimmingCharacters(in: .whitespaces)
        for prefix in ["urn:ietf:params:scim:schemas:core:2.0:User:", "urn:ietf:params:scim:schemas:core:2.0:Group:"]
        where text.lowercased().hasPrefix(prefix.lowercased()) {
            text = String(text.dropFirst(prefix.count))
        }
        if text.lowercased().hasPrefix("urn:") {
            // An extension's attribute (`urn:…:enterprise:2.0:User:department`) lives in the
            // extension's object; the extension itself (`urn:…:User`) is an attribute.
            for schema in extensionSchemas where text.lowercased().hasPrefix(schema.lowercased() + ":") {
                return Path(attribute: schema, filter: nil, sub: String(text.dropFirst(schema.count + 1)))
            }
            return Path(attribute: text, filter: nil, sub: nil)
        }
        if let open = text.firstIndex(of: "[") {
            guard let close = text.firstIndex(of: "]"), close > open else { throw Failure("invalidPath", "unbalanced [ in \(raw.prefix(80))") }
            let attribute = String(text[..<open])
            let condition = String(text[text.index(after: open)..<close])
            // `type eq "work"` / `value eq "id"`: the one filter form IdPs send in paths.
            let parts = condition.split(separator: " ", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[1].lowercased() == "eq" else { throw Failure("invalidFilter", "only attr eq \"value\" filters are supported in paths") }
            let value = parts[2].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            var sub: String? = nil
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(".") { sub = String(rest.dropFirst()) } else if !rest.isEmpty { throw Failure("invalidPath", "unexpected text after ]") }
            return Path(attribute: attribute, filter: (parts[0], value), sub: sub)
        }
        let pieces = text.split(separator: ".", maxSplits: 1).map(String.init)
        guard let first = pieces.first, !first.isEmpty else { throw Failure("invalidPath", "empty path") }
        return Path(attribute: first, filter: nil, sub: pieces.count == 2 ? pieces[1] : nil)
    }

    /// `"True"`/`"False"` (any case) become booleans where the attribute is boolean.
    static func normalise(_ value: JSONValue, for path: String) -> JSONValue {
        let last = path.split(separator: ".").last.map { String($0).lowercased() } ?? path.lowercased()
        if booleans.contains(last), case .string(let text) = value {
            switch text.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return value
            }
        }
        if case .object(let object) = value {
            var normalised = JSONObject()
            for member in object.members { normalised[member.name] = normalise(member.value, for: member.name) }
            return .object(normalised)
        }
        return value
    }

    static func set(path: Path, value: JSONValue, in resource: inout JSONObject, append: Bool, readOnly: Set<String>) throws(Failure) {
        guard !readOnly.contains(path.attribute.lowercased()) else { throw Failure("mutability", "\(path.attribute) is read-only") }
        let key = resource.key(matching: path.attribute) ?? path.attribute
        if let filter = path.filter {
            guard case .array(var items)? = resource[key] else { throw Failure("noTarget", "\(path.attribute) has no values to filter") }
            var matched = false
            for index in items.indices {
                guard case .object(var item) = items[index], matches(item, filter) else { continue }
                matched = true
                if let sub = path.sub { item[item.key(matching: sub) ?? sub] = value } else if case .object(let replacement) = value { item = replacement }
                items[index] = .object(item)
            }
            if !matched {
                // Adding through a filter that matches nothing creates the element (Entra's
                // `emails[type eq "work"].value` on a user without one).
                var item = JSONObject()
                item[filter.attribute] = .string(filter.value)
                if let sub = path.sub { item[sub] = value }
                items.append(.object(item))
            }
            resource[key] = .array(items)
            return
        }
        if let sub = path.sub {
            var object = resource[key]?.objectValue ?? JSONObject()
            object[object.key(matching: sub) ?? sub] = value
            resource[key] = .object(object)
            return
        }
        if append, case .array(let existing)? = resource[key], case .array(let new) = value {
            // Multi-valued add: new values join the old, without duplicates.
            resource[key] = .array(existing + new.filter { !existing.contains($0) })
        } else if append, case .object(let existing)? = resource[key], case .object(let new) = value {
            var merged = existing
            for member in new.members { merged[merged.key(matching: member.name) ?? member.name] = member.value }
            resource[key] = .object(merged)
        } else {
            resource[key] = value
        }
    }

    static func remove(path: Path, value: JSONValue?, from resource: inout JSONObject, readOnly: Set<String>) throws(Failure) {
        guard !readOnly.contains(path.attribute.lowercased()) else { throw Failure("mutability", "\(path.attribute) is read-only") }
        guard let key = resource.key(matching: path.attribute) else { return }
        if let filter = path.filter {
            guard case .array(let items)? = resource[key] else { return }
            if let sub = path.sub {
                resource[key] = .array(items.map { item in
                    guard case .object(var object) = item, matches(object, filter) else { return item }
                    object[object.key(matching: sub) ?? sub] = nil
                    return .object(object)
                })
            } else {
                resource[key] = .array(items.filter { item in
                    guard case .object(let object) = item else { return true }
                    return !matches(object, filter)
                })
            }
            return
        }
        if let sub = path.sub {
            guard var object = resource[key]?.objectValue else { return }
            if let subKey = object.key(matching: sub) { object[subKey] = nil }
            resource[key] = .object(object)
            return
        }
        // Entra removes members with `"path":"members","value":[{"value":"id"}]`.
        if case .array(let removing)? = value, case .array(let items)? = resource[key] {
            let ids = Set(removing.compactMap { $0.objectValue?[member: "value"]?.stringValue })
            resource[key] = .array(items.filter { item in
                guard let id = item.objectValue?[member: "value"]?.stringValue else { return true }
                return !ids.contains(id)
            })
            return
        }
        resource[key] = nil
    }

    static func matches(_ item: JSONObject, _ filter: (attribute: String, value: String)) -> Bool {
        guard let key = item.key(matching: filter.attribute), let value = item[key] else { return false }
        switch value {
        case .string(let text): return text.lowercased() == filter.value.lowercased()
        case .bool(let flag): return String(flag) == filter.value.lowercased()
        default: return false
        }
    }
}

extension JSONObject {
    /// The member name equal to `name` without regard to case (SCIM attribute names).
    public func key(matching name: String) -> String? {
        let lower = name.lowercased()
        return names.first { $0.lowercased() == lower }
    }

    /// A member by case-insensitive name.
    public subscript(member name: String) -> JSONValue? {
        key(matching: name).flatMap { self[$0] }
    }
}
