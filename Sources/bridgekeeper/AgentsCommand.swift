import ArgumentParser
import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import BridgekeeperAdministration

/// `bridgekeeper agents`: the agent registry, for administrators (issue 5). Every change is
/// written with its audit record (kind `administration`).
struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "Register and manage AI agents: robot identities bounded by their human owner.",
        subcommands: [Create.self, List.self, Show.self, Disable.self, Enable.self, RotateKey.self]
    )

    /// How an agent authenticates, from the options (exactly one).
    struct CredentialOptions: ParsableArguments {
        @Option(help: "A JWK Set file with the agent's public keys (private_key_jwt).")
        var jwksFile: String?

        @Option(help: "Where the agent publishes its public keys (https).")
        var jwksURI: String?

        @Flag(help: "Generate a client secret instead (only with agents.allow_client_secret); printed once.")
        var secret = false

        func input() throws -> AgentAdministration.CredentialInput {
            let given = [jwksFile != nil, jwksURI != nil, secret].filter { $0 }.count
            guard given == 1 else { throw CLIFailure("usage", "give exactly one of --jwks-file, --jwks-uri, --secret", exitCode: 2) }
            if let jwksFile {
                guard let data = FileManager.default.contents(atPath: jwksFile) else { throw CLIFailure("usage", "cannot read \(jwksFile)", exitCode: 2) }
                return .jwksFile(contents: Array(data))
            }
            if let jwksURI { return .jwksURI(jwksURI) }
            return .newSecret
        }
    }

    static func withStore<T>(_ location: Location, _ body: (Configuration, SQLiteStore) async throws -> T) async throws -> T {
        let configuration = try location.configuration()
        let store = try await SQLiteStore.open(path: configuration.databasePath)
        do {
            let value = try await body(configuration, store)
            await store.close()
            return value
        } catch {
            await store.close()
            throw error
        }
    }

    static func failure(_ error: AgentAdministration.Failure) -> CLIFailure { CLIFailure(error.code, error.reason) }

    static func describe(_ grant: AgentGrant) -> String { AgentAdministration.specs(grant).joined(separator: " ") }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an agent with its own credential, its human owner and a grant.",
            discussion: """
                The agent never gets more than its owner has at the moment it asks (re-derived from the owner's groups at
                every issuance), never more than its grant, and never a category in agents.non_delegable_categories
                (destructive and admin) unless a single tool is listed in agents.delegable_tools.
                --grant SERVER:ITEM[,ITEM...] repeats; SERVER is a catalog name or '*', ITEM a category
                (read, write, destructive, admin) or a tool of that server.
                """
        )

        @OptionGroup var location: Location

        @Option(help: "The agent's id (its client_id): 1 to 128 letters, digits, '.', '_' or '-'.")
        var id: String

        @Option(help: "A name for people.")
        var name: String?

        @Option(help: "The owner's subject at the IdP (their sub, or oid at Entra).")
        var owner: String

        @Option(help: "The owner's IdP (its name in idps); optional with one IdP.")
        var ownerIdp: String?

        @Option(help: "The owner's tenant, for a multi-tenant IdP.")
        var ownerTenant: String?

        @Option(help: "What the agent may use: SERVER:ITEM[,ITEM...] (repeat).")
        var grant: [String] = []

        @Option(help: "itself (shared servers, sub = the agent) or on_behalf_of_owner (sub = the owner, act = the agent).")
        var mode: String = AgentMode.onBehalfOfOwner.rawValue

        @OptionGroup var credential: CredentialOptions

        func run() async throws {
            try await reportingFailures {
                guard let mode = AgentMode(rawValue: mode) else { throw CLIFailure("usage", "--mode must be itself or on_behalf_of_owner", exitCode: 2) }
                let input = try credential.input()
                try await AgentsCommand.withStore(location) { c, store in
                    let agent: AgentRecord
                    let secret: String?
                    do throws(AgentAdministration.Failure) {
                        try AgentAdministration.checkID(id, configuration: c)
                        let owner = try AgentAdministration.owner(subject: owner, idp: ownerIdp, tenant: ownerTenant, configuration: c)
                        let grant = try AgentAdministration.grant(parsing: grant, catalog: c.catalog)
                        let made = try AgentAdministration.credential(input, configuration: c)
                        secret = made.secret
                        agent = AgentRecord(id: id, displayName: name ?? id, owner: owner, credential: made.0, grant: grant, mode: mode,
                                            createdAt: SystemClock().now())
                    } catch { throw AgentsCommand.failure(error) }
                    guard try await store.addAgent(agent, audit: AgentAdministration.event("agent_created", agent: agent, time: agent.createdAt, by: AgentAdministration.localPerformer())) else {
                        throw CLIFailure("agent_exists", "an agent with id \(id) is already registered")
                    }
                    print("registered agent \(agent.id) for \(agent.owner), \(mode.rawValue), grant \(AgentsCommand.describe(agent.grant))")
                    if let secret { print("secret: \(secret)") }
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agents (all, or one owner's).")

        @OptionGroup var location: Location

        @Option(help: "Only this owner's agents (their subject).")
        var owner: String?

        @Option(help: "The owner's IdP (its name in idps).")
        var ownerIdp: String?

        @Option(help: "The owner's tenant.")
        var ownerTenant: String?

        func run() async throws {
            try await reportingFailures {
                try await AgentsCommand.withStore(location) { c, store in
                    var key: SubjectKey? = nil
                    if let owner {
                        do throws(AgentAdministration.Failure) {
                            key = try AgentAdministration.owner(subject: owner, idp: ownerIdp, tenant: ownerTenant, configuration: c)
                        } catch { throw AgentsCommand.failure(error) }
                    }
                    print(["ID", "STATUS", "MODE", "OWNER", "GRANT"].joined(separator: "\t"))
                    for agent in try await store.agents(ownedBy: key) {
                        print([agent.id, agent.status.rawValue, agent.mode.rawValue, agent.owner.subject, AgentsCommand.describe(agent.grant)]
                            .joined(separator: "\t"))
                    }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one agent as JSON (never a secret).")

        @OptionGroup var location: Location

        @Argument(help: "The agent's id.")
        var id: String

        func run() async throws {
            try await reportingFailures {
                try await AgentsCommand.withStore(location) { _, store in
                    guard let agent = try await store.agent(id: id) else { throw CLIFailure("unknown_agent", "no agent \(id)") }
                    print(JSONValue.object(AgentAdministration.json(agent)).serialized(pretty: true))
                }
            }
        }
    }

    /// Sets an agent's status, audited.
    static func setStatus(_ id: String, _ status: AgentRecord.Status, reason: String, location: Location) async throws {
        try await withStore(location) { _, store in
            guard let agent = try await store.agent(id: id) else { throw CLIFailure("unknown_agent", "no agent \(id)") }
            guard agent.status != status else {
                print("agent \(id) is already \(status.rawValue)")
                return
            }
            guard let (_, revoked) = try await AgentAdministration.setStatus(agent, status, at: SystemClock().now(), reason: reason,
                                                                             by: AgentAdministration.localPerformer(), store: store) else {
                throw CLIFailure("unknown_agent", "no agent \(id)")
            }
            print("agent \(id) is \(status.rawValue)" + (status == .disabled ? "; \(revoked.count) live token(s) revoked" : ""))
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an agent: it gets no new tokens.")
        @OptionGroup var location: Location
        @Argument(help: "The agent's id.") var id: String
        func run() async throws {
            try await reportingFailures { try await AgentsCommand.setStatus(id, .disabled, reason: "agent_disabled", location: location) }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled agent.")
        @OptionGroup var location: Location
        @Argument(help: "The agent's id.") var id: String
        func run() async throws {
            try await reportingFailures { try await AgentsCommand.setStatus(id, .active, reason: "agent_enabled", location: location) }
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rotate-key", abstract: "Replace an agent's credential.")
        @OptionGroup var location: Location
        @Argument(help: "The agent's id.") var id: String
        @OptionGroup var credential: CredentialOptions

        func run() async throws {
            try await reportingFailures {
                let input = try credential.input()
                try await AgentsCommand.withStore(location) { c, store in
                    guard let agent = try await store.agent(id: id) else { throw CLIFailure("unknown_agent", "no agent \(id)") }
                    let made: (AgentRecord.Credential, secret: String?)
                    do throws(AgentAdministration.Failure) { made = try AgentAdministration.credential(input, configuration: c) } catch {
                        throw AgentsCommand.failure(error)
                    }
                    let changed = agent.with(credential: made.0, at: SystemClock().now())
                    guard try await store.setAgentCredential(id: id, made.0, at: changed.updatedAt,
                                                             audit: AgentAdministration.event("agent_key_rotated", agent: changed, time: changed.updatedAt,
                                                                                                      by: AgentAdministration.localPerformer())) else {
                        throw CLIFailure("unknown_agent", "no agent \(id)")
                    }
                    print("agent \(id) has a new credential")
                    if let secret = made.secret { print("secret: \(secret)") }
                }
            }
        }
    }
}
