public import BridgekeeperJOSE
import BridgekeeperSignalSettings

/// The SCIM discovery documents (RFC 7644 §4, RFC 7643 §5–§7): what this service provider
/// supports, its two resource types, and the schemas of the attributes it understands.
public enum SCIMDiscovery {
    static let resourceTypeSchema = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
    static let schemaSchema = "urn:ietf:params:scim:schemas:core:2.0:Schema"
    static let configSchema = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"

    static func supported(_ flag: Bool) -> JSONValue { .object(JSONObject(["supported": .bool(flag)])) }

    public static func serviceProviderConfig(baseURL: String, maxResults: Int) -> JSONObject {
        JSONObject([
            "schemas": .array([.string(configSchema)]),
            "documentationUri": .string("https://github.com/bridgekeeper/bridgekeeper/blob/main/docs/offboarding.md"),
            "patch": supported(true),
            "bulk": .object(JSONObject(["supported": .bool(false), "maxOperations": .number(JSONNumber(0)), "maxPayloadSize": .number(JSONNumber(0))])),
            "filter": .object(JSONObject(["supported": .bool(true), "maxResults": .number(JSONNumber(Int64(maxResults)))])),
            "changePassword": supported(false), "sort": supported(false), "etag": supported(false),
            "authenticationSchemes": .array([.object(JSONObject([
                "type": .string("oauthbearertoken"), "name": .string("OAuth Bearer Token"),
                "description": .string("One bearer token per IdP connection (signals.scim[].token_hash)"), "primary": .bool(true),
            ]))]),
            "meta": .object(JSONObject(["resourceType": .string("ServiceProviderConfig"), "location": .string("\(baseURL)/ServiceProviderConfig")])),
        ])
    }

    public static func resourceTypes(baseURL: String) -> [JSONObject] {
        func type(_ id: String, _ endpoint: String, _ schema: String, _ extensions: [JSONValue]) -> JSONObject {
            JSONObject([
                "schemas": .array([.string(resourceTypeSchema)]), "id": .string(id), "name": .string(id), "endpoint": .string(endpoint),
                "description": .string(id), "schema": .string(schema), "schemaExtensions": .array(extensions),
                "meta": .object(JSONObject(["resourceType": .string("ResourceType"), "location": .string("\(baseURL)/ResourceTypes/\(id)")])),
            ])
        }
        return [
            type("User", "/Users", SCIMService.userSchema,
                 [.object(JSONObject(["schema": .string(SCIMService.enterpriseSchema), "required": .bool(false)]))]),
            type("Group", "/Groups", SCIMService.groupSchema, []),
        ]
    }

    /// An attribute definition (RFC 7643 §7).
    static func attribute(_ name: String, type: String = "string", multiValued: Bool = false, required: Bool = false, caseExact: Bool = false,
                          mutability: String = "readWrite", returned: String = "default", uniqueness: String = "none",
                          sub: [JSONObject] = []) -> JSONValue {
        var object = JSONObject([
            "name": .string(name), "type": .string(type), "multiValued": .bool(multiValued), "description": .string(name),
            "required": .bool(required), "caseExact": .bool(caseExact), "mutability": .string(mutability), "returned": .string(returned),
            "uniqueness": .string(uniqueness),
        ])
        if !sub.isEmpty { object["subAttributes"] = .array(sub.map(JSONValue.object)) }
        return .object(object)
    }

    static func subAttribute(_ name: String, type: String = "string", mutability: String = "readWrite", caseExact: Bool = false) -> JSONObject {
        guard case .object(let object) = attribute(name, type: type, caseExact: caseExact, mutability: mutability) else { return JSONObject() }
        return object
    }

    public static func schemas(baseURL: String) -> [JSONObject] {
        func schema(_ id: String, _ name: String, _ attributes: [JSONValue]) -> JSONObject {
            JSONObject([
                "schemas": .array([.string(schemaSchema)]), "id": .string(id), "name": .string(name), "description": .string(name),
                "attributes": .array(attributes),
                "meta": .object(JSONObject(["resourceType": .string("Schema"), "location": .string("\(baseURL)/Schemas/\(id)")])),
            ])
        }
        let user = schema(SCIMService.userSchema, "User", [
            attribute("userName", required: true, uniqueness: "server"),
            attribute("name", type: "complex", sub: [subAttribute("formatted"), subAttribute("familyName"), subAttribute("givenName")]),
            attribute("displayName"),
            attribute("active", type: "boolean"),
            attribute("emails", type: "complex", multiValued: true,
                      sub: [subAttribute("value"), subAttribute("type"), subAttribute("primary", type: "boolean")]),
            attribute("groups", type: "complex", multiValued: true, mutability: "readOnly",
                      sub: [subAttribute("value", mutability: "readOnly"), subAttribute("$ref", type: "reference", mutability: "readOnly"),
                            subAttribute("display", mutability: "readOnly")]),
        ])
        let group = schema(SCIMService.groupSchema, "Group", [
            attribute("displayName", required: true, uniqueness: "server"),
            attribute("members", type: "complex", multiValued: true,
                      sub: [subAttribute("value", mutability: "immutable"), subAttribute("$ref", type: "reference", mutability: "immutable"),
                            subAttribute("display", mutability: "readOnly"), subAttribute("type", mutability: "immutable")]),
        ])
        let enterprise = schema(SCIMService.enterpriseSchema, "EnterpriseUser", [
            attribute("employeeNumber"), attribute("department"), attribute("organization"),
        ])
        return [user, group, enterprise]
    }

    /// A ListResponse of `resources`.
    public static func list(_ resources: [JSONObject]) -> JSONObject {
        JSONObject([
            "schemas": .array([.string(SCIMService.listSchema)]), "totalResults": .number(JSONNumber(Int64(resources.count))),
            "startIndex": .number(JSONNumber(1)), "itemsPerPage": .number(JSONNumber(Int64(resources.count))),
            "Resources": .array(resources.map(JSONValue.object)),
        ])
    }
}
