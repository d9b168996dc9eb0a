import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperServer
import Foundation
import Testing

/// Interoperability with software we did not write, against the real server on loopback:
/// the official MCP Python SDK (`IdentityAssertionOAuthProvider`, inside a real MCP session)
/// redeems ID-JAGs, and joserfc and PyJWT verify the access tokens we mint.
/// The Python side lives in `python/`; `scripts/install-deps` installs its packages. A missing
/// package fails these tests, never skips them.
@Suite("Interop with the MCP Python SDK, joserfc and PyJWT", .serialized)
struct InteropTests {
    /// What policy grants alice (group engineering) on github: read and write tools, not destructive.
    static let policyScopes: Set<String> = ["tool:search_code", "tool:create_issue"]
    static let everyGitHubScope = "tool:search_code tool:create_issue tool:delete_repository"

    @Test("the MCP Python SDK redeems an ID-JAG with client_secret_post and uses the token in an MCP session")
    func sdkRedeemsWithClientSecretPost() async throws {
        try await withBroker { broker in
            let run = try await broker.sdkRedeem(client: Broker.postClient, authMethod: "client_secret_post",
                                                 assertions: [broker.idJAG(client: Broker.postClient)], scope: Self.everyGitHubScope)
            try expectSuccess(run)
            let out = run.json
            // The SDK asked its assertion provider for an ID-JAG for our issuer and the MCP server's resource.
            #expect(out?["assertion_requests"] == .array([.object(JSONObject([
                "audience": .string(broker.issuer), "resource": .string(Broker.githubResource)]))]))
            // The token: what policy allows, as the SDK parsed and stored it.
            let token = out?["token"]?.objectValue
            #expect(scopes(token?["scope"]) == Self.policyScopes)
            #expect(token?["token_type"]?.stringValue == "Bearer")
            #expect(token?["expires_in"]?.numberValue?.exactInteger == 300)
            #expect(token?["refresh_token"] == .null)
            // The SDK's request: secret in the body, no Authorization header.
            let request = try #require(tokenRequest(out, broker))
            #expect(request["form_parameters"] == strings(["grant_type", "assertion", "client_id", "resource", "scope", "client_secret"]))
            #expect(request["authorization_scheme"] == nil)
            #expect(request["status"]?.numberValue?.exactInteger == 200)
            // The SDK's MCP server accepted the token (joserfc against our JWKS) and ran the tool with it.
            let tool = out?["tool_result"]?.objectValue
            #expect(tool?["client_id"]?.stringValue == Broker.postClient)
            #expect(tool?["subject"]?.stringValue == "00u-alice")
            #expect(Set(tool?["scopes"]?.arrayValue?.compactMap(\.stringValue) ?? []) == Self.policyScopes)
            let seen = out?["verified_by_mcp_server"]?.objectValue
            #expect(seen?["header"]?.objectValue?["typ"]?.stringValue == "at+jwt")
            #expect(seen?["claims"]?.objectValue?["aud"]?.stringValue == Broker.githubResource)
        }
    }

    @Test("the MCP Python SDK redeems an ID-JAG with client_secret_basic")
    func sdkRedeemsWithClientSecretBasic() async throws {
        try await withBroker { broker in
            // No scope requested: the grant is the ID-JAG's scopes ∩ policy.
            let run = try await broker.sdkRedeem(client: Broker.basicClient, authMethod: "client_secret_basic",
                                                 assertions: [broker.idJAG(client: Broker.basicClient)])
            try expectSuccess(run)
            #expect(scopes(run.json?["token"]?.objectValue?["scope"]) == Self.policyScopes)
            let request = try #require(tokenRequest(run.json, broker))
            #expect(request["form_parameters"] == strings(["grant_type", "assertion", "client_id", "resource"]))
            #expect(request["authorization_scheme"]?.stringValue == "Basic")
            #expect(run.json?["tool_result"]?.objectValue?["client_id"]?.stringValue == Broker.basicClient)
        }
    }

    @Test("client_secret_basic with an id and secret that need form-encoding (RFC 6749 §2.3.1), as the SDK encodes them")
    func sdkBasicWithEncodedCredentials() async throws {
        try await withBroker { broker in
            let run = try await broker.sdkRedeem(client: Broker.encodedClient, secret: Broker.encodedSecret, authMethod: "client_secret_basic",
                                                 assertions: [broker.idJAG(client: Broker.encodedClient)])
            try expectSuccess(run)
            #expect(tokenRequest(run.json, broker)?["authorization_scheme"]?.stringValue == "Basic")
            #expect(run.json?["tool_result"]?.objectValue?["client_id"]?.stringValue == Broker.encodedClient)
        }
    }

    @Test("a wrong client secret makes the MCP Python SDK fail with our 401 invalid_client")
    func sdkSurfacesInvalidClient() async throws {
        try await withBroker { broker in
            let run = try await broker.sdkRedeem(client: Broker.basicClient, secret: "wrong-secret-0123456789abcdef",
                                                 authMethod: "client_secret_basic", assertions: [broker.idJAG(client: Broker.basicClient)])
            try expectSDKPresent(run)
            #expect(run.status == 1, "the SDK must fail; stdout: \(run.stdout)")
            #expect(run.json?["error_type"]?.stringValue == "mcp.client.auth.exceptions.OAuthTokenError")
            #expect(run.json?["error"]?.stringValue?.hasPrefix("Token exchange failed (401)") == true, "\(run.json?["error"] ?? .null)")
            #expect(run.json?["error"]?.stringValue?.contains(#""error":"invalid_client""#) == true)
            #expect(run.json?["token"] == .null)
        }
    }

    @Test("a replayed ID-JAG makes the MCP Python SDK fail with our invalid_grant")
    func sdkSurfacesReplay() async throws {
        try await withBroker { broker in
            let assertion = try broker.idJAG(client: Broker.postClient)
            let first = try await broker.sdkRedeem(client: Broker.postClient, authMethod: "client_secret_post", assertions: [assertion])
            try expectSuccess(first)

            let replay = try await broker.sdkRedeem(client: Broker.postClient, authMethod: "client_secret_post", assertions: [assertion])
            try expectSDKPresent(replay)
            #expect(replay.status == 1, "the SDK must fail; stdout: \(replay.stdout)")
            let out = replay.json
            #expect(out?["error_type"]?.stringValue == "mcp.client.auth.exceptions.OAuthTokenError")
            #expect(out?["error"]?.stringValue?.hasPrefix("Token exchange failed (400)") == true, "\(out?["error"] ?? .null)")
            #expect(out?["error"]?.stringValue?.contains(#""error":"invalid_grant""#) == true)
            #expect(out?["token"] == .null)
            #expect(out?["tool_result"] == nil)
            let request = try #require(tokenRequest(out, broker))
            #expect(request["status"]?.numberValue?.exactInteger == 400)
            #expect(request["cache_control"]?.stringValue == "no-store")
        }
    }

    /// MCP Python SDK 2.3.0's `OAuthMetadata` requires `authorization_endpoint` (RFC 8414 §2 makes
    /// it optional for a server whose grants never use it). Bridgekeeper publishes `/authorize`,
    /// which refuses every request with `unsupported_response_type`, so the SDK takes our document
    /// as it is: every SDK test here runs with the SDK's own model (`--strict-metadata`); this one
    /// also checks that no workaround was applied and that the endpoint refuses.
    @Test("the MCP Python SDK accepts our RFC 8414 metadata unmodified")
    func sdkAcceptsMetadataUnmodified() async throws {
        try await withBroker { broker in
            let run = try await broker.sdkRedeem(client: Broker.postClient, authMethod: "client_secret_post",
                                                 assertions: [broker.idJAG(client: Broker.postClient)], strictMetadata: true)
            try expectSDKPresent(run)
            #expect(run.status == 0, "\(run.json?["error"] ?? .null)")
            let workarounds: [JSONValue] = run.json?["workarounds"]?.arrayValue ?? []
            #expect(workarounds.isEmpty)
        }
    }

    @Test("joserfc and PyJWT both verify a token we mint: typ at+jwt, ES256, iss, aud, exp")
    func joseLibrariesVerifyMintedToken() async throws {
        try await withBroker { broker in
            let token = try await broker.redeemDirectly(broker.idJAG(client: Broker.postClient))
            let run = try await broker.python("verify_minted.py", ["--issuer", broker.issuer, "--audience", Broker.githubResource, "--token", token])
            #expect(run.status == 0, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
            for library in ["joserfc", "pyjwt"] {
                let result = run.json?[library]?.objectValue
                #expect(result?["ok"] == .bool(true), "\(library): \(result?["error"] ?? .null)")
                let header = result?["header"]?.objectValue
                #expect(header?["typ"]?.stringValue == "at+jwt")
                #expect(header?["alg"]?.stringValue == "ES256")
                let claims = result?["claims"]?.objectValue
                #expect(claims?["iss"]?.stringValue == broker.issuer)
                #expect(claims?["aud"]?.stringValue == Broker.githubResource)
                #expect(claims?["sub"]?.stringValue == "00u-alice")
                #expect(claims?["client_id"]?.stringValue == Broker.postClient)
                #expect(scopes(claims?["scope"]) == Self.policyScopes)
            }
        }
    }

    @Test("joserfc and PyJWT both reject our token when they expect another audience")
    func joseLibrariesRejectOtherAudience() async throws {
        try await withBroker { broker in
            let token = try await broker.redeemDirectly(broker.idJAG(client: Broker.postClient))
            let run = try await broker.python("verify_minted.py", ["--issuer", broker.issuer, "--audience", Broker.notionResource, "--token", token])
            #expect(run.status == 1, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
            #expect(run.json?["joserfc"]?.objectValue?["ok"] == .bool(false))
            #expect(run.json?["joserfc"]?.objectValue?["error"]?.stringValue?.contains("'aud'") == true)
            #expect(run.json?["pyjwt"]?.objectValue?["ok"] == .bool(false))
            #expect(run.json?["pyjwt"]?.objectValue?["error"]?.stringValue?.contains("InvalidAudienceError") == true)
        }
    }

    // MARK: - Helpers

    func expectSDKPresent(_ run: PythonRun, sourceLocation: SourceLocation = #_sourceLocation) throws {
        if run.status == 3 {
            Issue.record("the MCP Python SDK (mcp 2.3.0) is not installed: run scripts/install-deps. \(run.stdout)",
                         sourceLocation: sourceLocation)
            throw InteropFailure.missingPythonPackage
        }
    }

    func expectSuccess(_ run: PythonRun, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try expectSDKPresent(run, sourceLocation: sourceLocation)
        #expect(run.status == 0, "mcp_sdk_redeem.py failed\nstdout: \(run.stdout)\nstderr: \(run.stderr)", sourceLocation: sourceLocation)
        #expect(run.json?["sdk"]?.objectValue?["version"]?.stringValue == "2.3.0", sourceLocation: sourceLocation)
        guard run.status == 0 else { throw InteropFailure.scriptFailed }
    }

    /// The SDK's token request as the script recorded it.
    func tokenRequest(_ out: JSONObject?, _ broker: Broker) -> JSONObject? {
        out?["http"]?.arrayValue?.compactMap(\.objectValue).first { $0["url"]?.stringValue == broker.issuer + "/token" }
    }

    func scopes(_ value: JSONValue?) -> Set<String> {
        Set((value?.stringValue ?? "").split(separator: " ").map(String.init))
    }

    func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
}

enum InteropFailure: Error {
    case missingPythonPackage, scriptFailed, serverDidNotStart, badTokenResponse(String), pythonTimedOut(String)
}
