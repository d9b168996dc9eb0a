import BridgekeeperJOSE
import BridgekeeperStore

/// The attributes a `filter` may name, per resource type (RFC 7643 §4.1, §4.3, §4.2), and how their
/// values compare: strings without case unless `caseExact` (RFC 7643 §2.2; `id` and `externalId` are
/// case-exact, §3.1), booleans by `eq`/`ne` only (RFC 7644 §3.4.2.2). Anything else is refused with
/// `invalidFilter` rather than answered wrongly.
struct SCIMFilterSchema: Sendable {
    enum Kind: Sendable {
        case string(caseExact: Bool)
        case boolean
        /// A complex attribute; `multiValued` ones compare through their `value` sub-attribute when
        /// named without one (`emails co "@x"` is `emails.value co "@x"`, RFC 7644 §3.4.2.2's example).
        case complex([String: Attribute], multiValued: Bool)
    }

    struct Attribute: Sendable {
        /// The name as the schema spells it.
        let name: String
        let kind: Kind
        /// The extension object holding it (the enterprise User schema), nil for core attributes.
        let container: String?

        init(_ name: String, _ kind: Kind, container: String? = nil) {
            self.name = name
            self.kind = kind
            self.container = container
        }
    }

    let coreSchema: String
    let attributes: [String: Attribute]
    let extensions: [String: [String: Attribute]]

    static func table(_ list: [Attribute]) -> [String: Attribute] {
        var table: [String: Attribute] = [:]
        for attribute in list { table[attribute.name.lowercased()] = attribute }
        return table
    }

    static let user: SCIMFilterSchema = {
        let text = Kind.string(caseExact: false)
        let enterprise = SCIMService.enterpriseSchema
        return SCIMFilterSchema(
            coreSchema: SCIMService.userSchema,
            attributes: table([
                Attribute("id", .string(caseExact: true)), Attribute("externalId", .string(caseExact: true)),
                Attribute("userName", text), Attribute("displayName", text), Attribute("active", .boolean),
                Attribute("name", .complex(table([Attribute("formatted", text), Attribute("familyName", text), Attribute("givenName", text)]),
                                           multiValued: false)),
                Attribute("emails", .complex(table([Attribute("value", text), Attribute("type", text), Attribute("primary", .boolean)]),
                                             multiValued: true)),
            ]),
            extensions: [enterprise.lowercased(): table([
                Attribute("employeeNumber", text, container: enterprise), Attribute("department", text, container: enterprise),
                Attribute("organization", text, container: enterprise),
            ])])
    }()

    static let group = SCIMFilterSchema(
        coreSchema: SCIMService.groupSchema,
        attributes: table([
            Attribute("id", .string(caseExact: true)), Attribute("externalId", .string(caseExact: true)),
            Attribute("displayName", .string(caseExact: false)),
            Attribute("members", .complex(table([Attribute("value", .string(caseExact: false)), Attribute("type", .string(caseExact: false))]),
                                          multiValued: true)),
        ]),
        extensions: [:])

    static func of(_ kind: SCIMResource.Kind) -> SCIMFilterSchema { kind == .user ? user : group }
}

/// A filter checked against a schema (or, in PATCH paths, against the value's own sub-attributes)
/// and made ready to evaluate: names resolved, needles prepared once. Evaluation is linear in the
/// resource's values times the filter's size (`co` runs Knuth–Morris–Pratt, never quadratic).
struct SCIMCompiledFilter: Sendable {
    struct Leaf: Sendable {
        let container: String?
        let name: String
        let sub: String?
        let caseExact: Bool
    }

    struct Needle: Sendable {
        let bytes: [UInt8]
        let failure: [Int]
    }

    indirect enum Node: Sendable {
        case present(Leaf)
        case compare(Leaf, SCIMComparison, SCIMFilterValue, Needle?)
        case valuePath(Leaf, Node)
        case not(Node)
        case and([Node])
        case or([Node])
    }

    let root: Node

    /// Compiles `filter` for a `filter` query over `schema`: attributes it lacks, comparisons their
    /// type does not have and nested value paths throw `SCIMFilterError`.
    init(_ filter: SCIMFilter, schema: SCIMFilterSchema) throws(SCIMFilterError) {
        root = try Self.node(filter, attributes: schema.attributes, schema: schema, inValuePath: false)
    }

    /// Compiles a PATCH path's value filter: its paths name sub-attributes of each value, written
    /// plainly (`type`, `value`); strings compare without case.
    init(valueFilter filter: SCIMFilter) throws(SCIMFilterError) {
        root = try Self.node(filter, attributes: nil, schema: nil, inValuePath: true)
    }

    static func refuse(_ detail: String) -> SCIMFilterError { SCIMFilterError(detail: detail, offset: 0) }

    static func node(_ filter: SCIMFilter, attributes: [String: SCIMFilterSchema.Attribute]?, schema: SCIMFilterSchema?,
                     inValuePath: Bool) throws(SCIMFilterError) -> Node {
        switch filter {
        case .and(let operands):
            var nodes: [Node] = []
            for operand in operands { nodes.append(try node(operand, attributes: attributes, schema: schema, inValuePath: inValuePath)) }
            return .and(nodes)
        case .or(let operands):
            var nodes: [Node] = []
            for operand in operands { nodes.append(try node(operand, attributes: attributes, schema: schema, inValuePath: inValuePath)) }
            return .or(nodes)
        case .not(let inner):
            return .not(try node(inner, attributes: attributes, schema: schema, inValuePath: inValuePath))
        case .present(let path):
            return .present(try resolve(path, attributes: attributes, schema: schema, inValuePath: inValuePath).leaf)
        case .valuePath(let path, let inner):
            let (leaf, kind) = try resolve(path, attributes: attributes, schema: schema, inValuePath: inValuePath)
            guard path.subAttribute == nil else { throw refuse("\(path) cannot take a value filter") }
            if let kind {
                guard case .complex(let subAttributes, multiValued: true) = kind else { throw refuse("\(path) is not multi-valued") }
                return .valuePath(leaf, try node(inner, attributes: subAttributes, schema: nil, inValuePath: true))
            }
            return .valuePath(leaf, try node(inner, attributes: nil, schema: nil, inValuePath: true))
        case .compare(let path, let op, let value):
            let (leaf, kind) = try resolve(path, attributes: attributes, schema: schema, inValuePath: inValuePath)
            if let kind { try check(op, value, against: kind, path: path) }
            var needle: Needle? = nil
            if op == .co, case .string(let text) = value { needle = Self.needle(fold(text, caseExact: leaf.caseExact)) }
            return .compare(leaf, op, value, needle)
        }
    }

    /// The leaf a path names, and its schema type (nil where there is no schema: PATCH value filters).
    static func resolve(_ path: SCIMAttributePath, attributes: [String: SCIMFilterSchema.Attribute]?, schema: SCIMFilterSchema?,
                        inValuePath: Bool) throws(SCIMFilterError) -> (leaf: Leaf, kind: SCIMFilterSchema.Kind?) {
        if inValuePath {
            // Inside `attr[…]` paths name the value's own sub-attributes.
            guard path.schema == nil, path.subAttribute == nil else { throw refuse("\(path) is not a sub-attribute of the filtered value") }
        }
        guard let attributes else {
            return (Leaf(container: nil, name: path.name, sub: nil, caseExact: false), nil)
        }
        var table = attributes
        if let prefix = path.schema?.lowercased() {
            if let schema, prefix == schema.coreSchema.lowercased() {
                table = schema.attributes
            } else if let schema, let extensionTable = schema.extensions[prefix] {
                table = extensionTable
            } else {
                throw refuse("\(String(path.description.prefix(80))) is not in a schema of this resource type")
            }
        }
        guard let attribute = table[path.name.lowercased()] else { throw refuse("\(String(path.description.prefix(80))) cannot be filtered on") }
        var kind = attribute.kind
        var sub: String? = nil
        if let subName = path.subAttribute {
            guard case .complex(let subAttributes, _) = attribute.kind, let subAttribute = subAttributes[subName.lowercased()] else {
                throw refuse("\(String(path.description.prefix(80))) cannot be filtered on")
            }
            kind = subAttribute.kind
            sub = subAttribute.name
        }
        var caseExact = false
        if case .string(let exact) = kind { caseExact = exact }
        if case .complex(let subAttributes, multiValued: true) = kind, case .string(let exact)? = subAttributes["value"]?.kind { caseExact = exact }
        return (Leaf(container: attribute.container, name: attribute.name, sub: sub, caseExact: caseExact), kind)
    }

    /// RFC 7644 §3.4.2.2: strings take every operator; booleans `eq` and `ne` (others are
    /// `invalidFilter`); `null` only `eq` and `ne` (unassigned); complex attributes only `pr`, except
    /// multi-valued ones through their `value`.
    static func check(_ op: SCIMComparison, _ value: SCIMFilterValue, against kind: SCIMFilterSchema.Kind, path: SCIMAttributePath) throws(SCIMFilterError) {
        var leafKind = kind
        if case .complex(let subAttributes, multiValued: true) = kind, let value = subAttributes["value"] { leafKind = value.kind }
        if case .null = value {
            guard op == .eq || op == .ne else { throw refuse("null compares only with eq and ne") }
            return
        }
        switch (leafKind, value) {
        case (.string, .string): return
        case (.boolean, .bool): guard op == .eq || op == .ne else { throw refuse("\(path) is boolean: only eq and ne") }
        case (.complex, _): throw refuse("\(path) is complex: name a sub-attribute or use pr")
        default: throw refuse("\(path) cannot be compared with \(String(value.description.prefix(40)))")
        }
    }

    // MARK: - Evaluation

    func matches(_ resource: JSONObject) -> Bool { Self.evaluate(root, resource) }

    static func evaluate(_ node: Node, _ object: JSONObject) -> Bool {
        switch node {
        case .and(let operands): return operands.allSatisfy { evaluate($0, object) }
        case .or(let operands): return operands.contains { evaluate($0, object) }
        case .not(let inner): return !evaluate(inner, object)
        case .present(let leaf): return values(leaf, object).contains(where: isPresent)
        case .valuePath(let leaf, let inner):
            guard let items = base(leaf, object)?[member: leaf.name] else { return false }
            return (items.arrayValue ?? [items]).contains { item in item.objectValue.map { evaluate(inner, $0) } ?? false }
        case .compare(let leaf, let op, let value, let needle):
            let found = values(leaf, object)
            switch (op, value) {
            case (.eq, .null): return !found.contains(where: isPresent)
            case (.ne, .null): return found.contains(where: isPresent)
            case (.ne, _): return !found.contains { compare($0, .eq, value, leaf.caseExact, nil) }
            default: return found.contains { compare($0, op, value, leaf.caseExact, needle) }
            }
        }
    }

    static func base(_ leaf: Leaf, _ object: JSONObject) -> JSONObject? {
        guard let container = leaf.container else { return object }
        return object[member: container]?.objectValue
    }

    /// The values a leaf names: each value of a multi-valued attribute (its `value` when it is
    /// complex and no sub-attribute is named), a complex attribute's sub-attribute, or the attribute.
    static func values(_ leaf: Leaf, _ object: JSONObject) -> [JSONValue] {
        guard let value = base(leaf, object)?[member: leaf.name] else { return [] }
        if case .array(let items) = value {
            if let sub = leaf.sub { return items.compactMap { $0.objectValue?[member: sub] } }
            return items.compactMap { item in item.objectValue.map { $0[member: "value"] ?? .null } ?? item }
        }
        if let sub = leaf.sub { return value.objectValue?[member: sub].map { [$0] } ?? [] }
        return [value]
    }

    /// `pr` (RFC 7644 §3.4.2.2): a non-empty value or a complex value with a non-empty node.
    static func isPresent(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return false
        case .string(let text): return !text.isEmpty
        case .array(let items): return items.contains(where: isPresent)
        case .object(let object): return object.members.contains { isPresent($0.value) }
        default: return true
        }
    }

    static func fold(_ text: String, caseExact: Bool) -> [UInt8] { Array((caseExact ? text : text.lowercased()).utf8) }

    static func compare(_ found: JSONValue, _ op: SCIMComparison, _ value: SCIMFilterValue, _ caseExact: Bool, _ needle: Needle?) -> Bool {
        switch (found, value) {
        case (.string(let have), .string(let want)):
            let a = fold(have, caseExact: caseExact)
            switch op {
            case .co: return contains(a, needle ?? Self.needle(fold(want, caseExact: caseExact)))
            default:
                let b = fold(want, caseExact: caseExact)
                switch op {
                case .eq: return a == b
                case .ne: return a != b
                case .sw: return a.starts(with: b)
                case .ew: return a.count >= b.count && a.suffix(b.count).elementsEqual(b)
                case .gt: return b.lexicographicallyPrecedes(a)
                case .ge: return !a.lexicographicallyPrecedes(b)
                case .lt: return a.lexicographicallyPrecedes(b)
                case .le: return !b.lexicographicallyPrecedes(a)
                case .co: return false
                }
            }
        case (.bool(let have), .bool(let want)):
            switch op {
            case .eq: return have == want
            case .ne: return have != want
            default: return false
            }
        case (.number(let have), .number(let want)):
            guard let b = Double(want) else { return false }
            let a = have.double
            switch op {
            case .eq: return a == b
            case .ne: return a != b
            case .gt: return a > b
            case .ge: return a >= b
            case .lt: return a < b
            case .le: return a <= b
            default: return false
            }
        default:
            return false
        }
    }

    /// Knuth–Morris–Pratt's failure table for `bytes`.
    static func needle(_ bytes: [UInt8]) -> Needle {
        var failure = [Int](repeating: 0, count: bytes.count)
        var k = 0
        var i = 1
        while i < bytes.count {
            while k > 0, bytes[i] != bytes[k] { k = failure[k - 1] }
            if bytes[i] == bytes[k] { k += 1 }
            failure[i] = k
            i += 1
        }
        return Needle(bytes: bytes, failure: failure)
    }

    /// Whether `haystack` contains `needle`, in time linear in both.
    static func contains(_ haystack: [UInt8], _ needle: Needle) -> Bool {
        let pattern = needle.bytes
        if pattern.isEmpty { return true }
        var k = 0
        for byte in haystack {
            while k > 0, byte != pattern[k] { k = needle.failure[k - 1] }
            if byte == pattern[k] { k += 1 }
            if k == pattern.count { return true }
        }
        return false
    }
}
