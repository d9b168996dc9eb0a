import ArgumentParser
import BridgekeeperClient
import Foundation

/// `bridgekeeper login`: sign in once from a terminal (docs/login.md).
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Sign in at your IdP from this terminal and keep the session for `bridgekeeper token`.",
        discussion: """
            Prints the sign-in URL on stderr and opens it in a browser (unless --no-browser); the IdP sends the browser
            back to a listener on 127.0.0.1. The session (ID token, refresh token) is saved in
            $XDG_STATE_HOME/bridgekeeper/sessions/<idp>.json (default ~/.local/state/...), readable only by you.
            """
    )

    @Option(help: "The IdP's name in the client configuration (optional when only one is configured).")
    var idp: String?

    @Option(name: .customLong("client-config"), help: "The client configuration (default $BRIDGEKEEPER_CLIENT_CONFIG or ~/.config/bridgekeeper/client.yaml).")
    var clientConfig: String?

    @Flag(name: .customLong("no-browser"), help: "Only print the URL; do not try to open a browser.")
    var noBrowser = false

    @Option(help: "Seconds to wait for the sign-in to finish (1 to 3600).")
    var timeout: Int = 300

    func validate() throws {
        guard (1...3600).contains(timeout) else { throw ValidationError("--timeout must be 1 to 3600 seconds") }
    }

    func run() async throws {
        try await reportingFailures {
            let configuration = try ClientConfiguration.load(file: clientConfig ?? ClientConfiguration.defaultPath())
            let idp = try configuration.idp(named: self.idp)
            let store = SessionStore(directory: SessionStore.defaultDirectory())
            var signIn = SignIn(configuration: configuration, idp: idp, store: store)
            signIn.timeout = Double(timeout)
            let openBrowser = !noBrowser
            let (session, verified) = try await signIn.run { url in
                printError("Open this URL to sign in: \(url)")
                if openBrowser { Browser.open(url) }
            }
            let until = ISO8601DateFormatter().string(from: session.idTokenExpiry)
            printError("Signed in to \(idp.name) as \(ClientError.printable(verified.email ?? verified.subject, limit: 200)); session saved in \(store.path(for: idp.name)) "
                       + "(ID token valid until \(until)\(session.refreshToken == nil ? ", no refresh token" : ", renewable")).")
        }
    }
}

/// `bridgekeeper token`: an access token for one MCP server, from the saved session.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print an access token for one MCP server, exchanged for your saved sign-in (RFC 8693).",
        discussion: """
            Refreshes the session first when its ID token expires within 60 s. Prints only the access token and a newline,
            or with --mcp-config an MCP client configuration entry ({"mcpServers": {NAME: {"type": "http", "url": ...,
            "headers": {"Authorization": "Bearer ..."}}}}). A refusal prints 'error: <error>: <description>' on stderr, exit 1.
            With --agent ID --agent-key FILE the token is for that agent acting on your behalf (sub = you, act = the
            agent): the agent must be registered to you for delegation, and it proves itself with a 60 s assertion
            signed by its key (RFC 8693 actor_token).
            """
    )

    @Option(help: "The catalog server's name at the broker.")
    var server: String

    @Option(help: "The IdP's name in the client configuration (optional when only one is configured).")
    var idp: String?

    @Option(name: .customLong("client-config"), help: "The client configuration (default $BRIDGEKEEPER_CLIENT_CONFIG or ~/.config/bridgekeeper/client.yaml).")
    var clientConfig: String?

    @Flag(name: .customLong("mcp-config"), help: "Print an MCP client configuration entry instead of the bare token.")
    var mcpConfig = false

    @Option(help: "The scope to ask for (space-separated tool scopes; default: what policy grants).")
    var scope: String?

    @Option(help: "Get the token for this agent acting on your behalf (act = the agent); needs --agent-key.")
    var agent: String?

    @Option(help: "The agent's private key: a PKCS#8 PEM (as `bridgekeeper keys generate` writes it) or a private JWK.")
    var agentKey: String?

    @Option(help: "The algorithm of a PEM --agent-key (default ES256).")
    var agentAlg: String?

    func run() async throws {
        try await reportingFailures {
            var actor: AgentActor? = nil
            switch (agent, agentKey) {
            case (nil, nil): break
            case (let id?, let file?):
                guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else { throw CLIFailure("usage", "cannot read \(file)", exitCode: 2) }
                actor = try AgentActor(id: id, keyFile: contents, algorithm: agentAlg)
            default: throw CLIFailure("usage", "--agent and --agent-key go together", exitCode: 2)
            }
            let configuration = try ClientConfiguration.load(file: clientConfig ?? ClientConfiguration.defaultPath())
            let idp = try configuration.idp(named: self.idp)
            let service = TokenService(configuration: configuration, idp: idp, store: SessionStore(directory: SessionStore.defaultDirectory()))
            let session = try await service.currentSession { printError($0) }
            let resource = try await service.resource(server: server)
            let issued = try await service.exchange(idToken: session.idToken, resource: resource, scope: scope, actor: actor)
            let output = mcpConfig ? MCPClientEntry.json(server: server, url: resource, token: issued.token) : issued.token
            FileHandleWriter.write(output + "\n", to: 1)
        }
    }
}

/// `bridgekeeper logout`: forget the saved session.
struct LogoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Delete the saved session for an IdP.",
        discussion: "The refresh token is not revoked at the IdP: sign out there too to end the IdP's own session."
    )

    @Option(help: "The IdP's name (optional when the client configuration names only one).")
    var idp: String?

    @Option(name: .customLong("client-config"), help: "The client configuration (default $BRIDGEKEEPER_CLIENT_CONFIG or ~/.config/bridgekeeper/client.yaml).")
    var clientConfig: String?

    func run() throws {
        try reportingFailures {
            let name: String
            if let idp {
                name = idp
            } else {
                name = try ClientConfiguration.load(file: clientConfig ?? ClientConfiguration.defaultPath()).idp(named: nil).name
            }
            let store = SessionStore(directory: SessionStore.defaultDirectory())
            if try store.delete(idp: name) {
                printError("Signed out of \(name): deleted \(store.path(for: name)).")
            } else {
                printError("No session for \(name).")
            }
        }
    }
}

/// Opens a URL in the person's browser, best effort: `open` on macOS, `xdg-open` elsewhere. The URL
/// has already been printed, so a failure changes nothing.
enum Browser {
    static func open(_ url: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        #if os(macOS)
        process.arguments = ["open", url]
        #else
        process.arguments = ["xdg-open", url]
        #endif
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
    }
}
