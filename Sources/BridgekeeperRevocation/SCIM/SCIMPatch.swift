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

    /// A parsed path (RFC 7644 §3.5.2 Figure 7, read by `SCIMFilterParser`): `attr`, `attr.sub`,
    /// `attr[filter]`, `attr[filter].sub`; a schema URN prefix is dropped for the core schemas and
    /// names the extension's object for the enterprise one. Anything else is `invalidPath`.
    struct Path {
        var attribute: String
        var filter: SCIMCompiledFilter?
        /// The `attr eq "value"` of a value filter of that one shape: what an add or replace through
        /// a filter that matches nothing creates (Entra's `emails[type eq "work"].value`).
        var seed: (attribute: String, value: String)?
        var sub: String?
    }

    static func parse(_ raw: String) throws(Failure) -> Path {
        let text = raw.trimmingCharacters(in: .whitespaces)
        // The extension itself (`urn:…:enterprise:2.0:User`) is an attribute: its object.
        for schema in extensionSchemas where text.lowercased() == schema.lowercased() {
            return Path(attribute: schema, filter: nil, seed: nil, sub: nil)
        }
        let parsed: SCIMPatchPath
        do {
            parsed = try SCIMFilterParser.parsePath(text)
        } catch {
            throw Failure("invalidPath", "\(error.detail) (path \(String(raw.prefix(80))))")
        }
        var attribute = parsed.attribute.name
        var sub = parsed.attribute.subAttribute
        if let schema = parsed.attribute.schema {
            let lower = schema.lowercased()
            if lower == SCIMService.userSchema.lowercased() || lower == SCIMService.groupSchema.lowercased() {
                // A core attribute, written in full.
            } else if let extensionSchema = extensionSchemas.first(where: { $0.lowercased() == lower }), sub == nil, parsed.filter == nil {
                // An extension's attribute (`urn:…:enterprise:2.0:User:department`) lives in the
                // extension's object.
                sub = attribute
                attribute = extensionSchema
            } else {
                throw Failure("invalidPath", "\(String(parsed.attribute.description.prefix(80))) is not an attribute of a supported schema")
            }
        }
        var filter: SCIMCompiledFilter? = nil
        var seed: (attribute: String, value: String)? = nil
        if let valueFilter = parsed.filter {
            guard parsed.attribute.subAttribute == nil else { throw Failure("invalidPath", "a value filter applies to a multi-valued attribute, not \(sub ?? "")") }
            do {
                filter = try SCIMCompiledFilter(valueFilter: valueFilter)
            } catch {
                throw Failure("invalidPath", "\(error.detail) (path \(String(raw.prefix(80))))")
            }
            if case .compare(let path, .eq, .string(let value)) = valueFilter { seed = (path.name, value) }
            sub = parsed.subAttribute
        }
        return Path(attribute: attribute, filter: filter, seed: seed, sub: sub)
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
                guard case .object(var item) = items[index], filter.matches(item) else { continue }
                matched = true
                if let sub = path.sub { item[item.key(matching: sub) ?? sub] = value } else if case .object(let replacement) = value { item = replacement }
                items[index] = .object(item)
            }
            if !matched {
                // Adding through a filter that matches nothing creates the element (Entra's
                // `emails[type eq "work"].value` on a user without one) when the filter says what
                // it is; otherwise there is nothing to operate on (RFC 7644 §3.5.2.3).
                guard let seed = path.seed else { throw Failure("noTarget", "no value of \(path.attribute) matches the filter") }
                var item = JSONObject()
                item[seed.attribute] = .string(seed.value)
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
            // Multi-valued add: new values join the old, without duplicates (a set: a group's
            // thousands of members are not compared pairwise).
            var seen = Set(existing)
            var merged = existing
            for item in new where seen.insert(item).inserted { merged.append(item) }
            resource[key] = .array(merged)
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
                    guard case .object(var object) = item, filter.matches(object) else { return item }
                    object[object.key(matching: sub) ?? sub] = nil
                    return .object(object)
                })
            } else {
                resource[key] = .array(items.filter { item in
                    guard case .object(let object) = item else { return true }
                    return !filter.matches(object)
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
