import BridgekeeperCore
import BridgekeeperJOSE
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Robot tokens (issue 5) requested by software we did not write: keys made and assertions signed
/// by joserfc, requests made by Authlib (its `PrivateKeyJWT` client authentication for
/// client_credentials, its token request for an RFC 8693 exchange with an actor token), and the
/// tokens verified by PyJWT. The agents are registered by their owner through the management API,
/// as a person would. The Python side is `python/authlib_agents.py`.
@Suite("Interop: agents' tokens requested by Authlib with joserfc keys", .serialized)
struct AgentInteropTests {
    static let upstreamClientID = "interop-upstream"
    static let wikiResource = "https://mcp.test.example/wiki"

    static func yaml(_ setup: BrokerSetup) -> String {
        """
        \(Broker.preamble(port: setup.port))
        idps:
          - name: interop-idp
            issuer: \(Broker.idpIssuer)
            jwks_file: idp-jwks.json
            algorithms: [RS256]
        clients:
          - id: \(Broker.basicClient)
            secret_hash: "\(setup.secretHash)"
            auth_methods: [client_secret_basic]
            idp_client_ids: { interop-idp: \(upstreamClientID) }
            servers: ["*", bridgekeeper]
        servers:
          - name: github
            resource: \(Broker.githubResource)
            tools:
              - { name: search_code, category: read }
              - { name: create_issue, category: write }
          - name: wiki
            resource: \(wikiResource)
            shared: true
            tools:
              - { name: read_page, category: read }
              - { name: edit_page, category: write }
              - { name: purge_page, category: destructive }
        policy:
          - id: engineering-tools
            effect: allow
            groups: [engineering]
            servers: [github, wiki]
            categories: [read, write, destructive]
          - id: engineering-own-agents
            effect: allow
            groups: [engineering]
            servers: [bridgekeeper]
            tools: [agents.read, agents.manage]
        agents:
          self_service:
            modes: [itself, on_behalf_of_owner]
            categories: [read, write, destructive]
        """
    }

    /// Alice's ID token from the interop IdP, for the basic client's registration there.
    func idToken(_ broker: Broker) throws -> String {
        let now = Int64(Date().timeIntervalSince1970)
        return try broker.idpKey.signJWT(type: "JWT", claims: JSONObject([
            "iss": .string(Broker.idpIssuer), "sub": "00u-alice", "aud": .string(Self.upstreamClientID), "iat": .number(JSONNumber(now)),
            "exp": .number(JSONNumber(now + 600)), "auth_time": .number(JSONNumber(now - 10)), "groups": .array(["engineering"]),
            "email": "alice@example.com",
        ]))
    }

    /// Alice registers an agent for herself through the management API with the JWK Set joserfc made.
    func register(_ broker: Broker, id: String, mode: String, grant: [String], jwks: JSONValue) async throws {
        let management = try await post(broker, "/token", form: [
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("subject_token", try idToken(broker)),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), ("resource", broker.issuer + "/admin"),
        ])
        #expect(management.status == 200, "\(management.text)")
        let token = try #require(management.json?["access_token"]?.stringValue)
        let body = JSONValue.object(JSONObject(["id": .string(id), "mode": .string(mode), "grant": .array(grant.map(JSONValue.string)),
                                                "credential": .object(JSONObject(["jwks": jwks]))]))
        let created = try await post(broker, "/admin/v1/agents", json: body.serialized(), bearer: token)
        #expect(created.status == 201, "\(created.text)")
    }

    struct Answer {
        let status: Int
        let text: String
        var json: JSONObject? { (try? JSONValue.parse(text))?.objectValue }
    }

    func post(_ broker: Broker, _ path: String, form: [(String, String)] = [], json: String? = nil, bearer: String? = nil) async throws -> Answer {
        var request = URLRequest(url: URL(string: broker.issuer + path)!)
        request.httpMethod = "POST"
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(json.utf8)
        } else {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            request.setValue("Basic " + Data("\(Broker.basicClient):\(Broker.clientSecret)".utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
            request.httpBody = Data(form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&").utf8)
        }
        if let bearer { request.setValue("Bearer " + bearer, forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Answer(status: (response as? HTTPURLResponse)?.statusCode ?? 0, text: String(decoding: data, as: UTF8.self))
    }

    /// joserfc makes the agent's key pair: the private JWK in the broker's folder, the public JWK Set returned.
    func keygen(_ broker: Broker, alg: String, kid: String) async throws -> (path: String, jwks: JSONValue) {
        let path = (broker.directory as NSString).appendingPathComponent("\(kid).jwk")
        let run = try await broker.python("authlib_agents.py", ["keygen", "--alg", alg, "--kid", kid, "--private-out", path])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        return (path, try #require(run.json?["jwks"]))
    }

    func scopes(_ claims: JSONObject?) -> Set<String> {
        Set((claims?["scope"]?.stringValue ?? "").split(separator: " ").map(String.init))
    }

    @Test("Authlib's PrivateKeyJWT (ES256 key from joserfc) gets an agent's own token for a shared server; PyJWT verifies it; destructive withheld; a server not shared refused")
    func authlibClientCredentials() async throws {
        try await withBrokers([Self.yaml]) { brokers in
            let broker = brokers[0]
            let key = try await keygen(broker, alg: "ES256", kid: "authlib-robot-es256")
            try await register(broker, id: "authlib-robot", mode: "itself", grant: ["wiki:read,write,destructive"], jwks: key.jwks)

            let run = try await broker.python("authlib_agents.py", ["itself", "--issuer", broker.issuer, "--agent", "authlib-robot",
                                                                   "--key", key.path, "--resource", Self.wikiResource])
            #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
            let claims = run.json?["claims"]?.objectValue
            #expect(claims?["sub"] == "authlib-robot")
            #expect(claims?["client_id"] == "authlib-robot")
            #expect(claims?["principal_class"] == "agent")
            #expect(claims?["owner"]?.objectValue?["sub"] == "00u-alice")
            #expect(scopes(claims) == ["tool:read_page", "tool:edit_page"], "purge_page is destructive: never delegated")
            #expect(run.json?["response"]?.objectValue?["expires_in"]?.numberValue?.exactInteger == 120)

            let github = try await broker.python("authlib_agents.py", ["itself", "--issuer", broker.issuer, "--agent", "authlib-robot",
                                                                      "--key", key.path, "--resource", Broker.githubResource])
            #expect(github.status == 1)
            #expect(github.json?["status"] == "refused")
            #expect(github.json?["response"]?.objectValue?["error"] == "invalid_target", "\(github.stdout)")
        }
    }

    @Test("Authlib's RFC 8693 exchange with an EdDSA actor token signed by joserfc: sub the owner, act the agent, only the agent's grant; PyJWT verifies it")
    func authlibDelegatedExchange() async throws {
        try await withBrokers([Self.yaml]) { brokers in
            let broker = brokers[0]
            let key = try await keygen(broker, alg: "EdDSA", kid: "authlib-delegate-ed25519")
            try await register(broker, id: "authlib-delegate", mode: "on_behalf_of_owner", grant: ["github:read"], jwks: key.jwks)

            let arguments = ["delegate", "--issuer", broker.issuer, "--client-id", Broker.basicClient, "--client-secret", Broker.clientSecret,
                             "--id-token", try idToken(broker), "--agent", "authlib-delegate", "--key", key.path, "--resource", Broker.githubResource]
            let run = try await broker.python("authlib_agents.py", arguments)
            #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
            let claims = run.json?["claims"]?.objectValue
            #expect(claims?["sub"] == "00u-alice")
            #expect(claims?["act"]?.objectValue?["sub"] == "authlib-delegate")
            #expect(claims?["principal_class"] == "agent")
            #expect(scopes(claims) == ["tool:search_code"])
            #expect(run.json?["response"]?.objectValue?["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token")

            // The same exchange naming an agent this key does not belong to is refused.
            var impostor = arguments
            impostor[impostor.firstIndex(of: "authlib-delegate")!] = "authlib-robot"
            let refused = try await broker.python("authlib_agents.py", impostor)
            #expect(refused.status == 1)
            #expect(refused.json?["status"] == "refused", "\(refused.stdout) \(refused.stderr)")
            #expect(refused.json?["response"]?.objectValue?["error"] == "invalid_request", "bad_actor_token: \(refused.stdout)")
        }
    }
}
