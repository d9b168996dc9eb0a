import ArgumentParser
import BridgekeeperAudit
import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperRevocation
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation
import BridgekeeperAdministration

/// `bridgekeeper users`: the people behind the tokens, for operators. The revocation semantics every
/// offboarding source shares (issue 6): a disabled flag that blocks new grants, a per-subject
/// revocation epoch, and per-token revocation; `offboard` applies all three to a person and their agents.
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Offboard people, revoke their sessions, re-enable them, and show where they stand.",
        subcommands: [Show.self, Offboard.self, RevokeSessions.self, Enable.self]
    )

    /// The person: their subject at the IdP named (optional with one IdP), and a tenant.
    struct SubjectOptions: ParsableArguments {
        @Argument(help: "The person's subject at the IdP (their sub, or oid at Entra).")
        var subject: String

        @Option(help: "Their IdP (its name in idps); optional with one IdP.")
        var idp: String?

        @Option(help: "Their tenant, for a multi-tenant IdP.")
        var tenant: String?

        func key(_ configuration: Configuration) throws -> SubjectKey {
            do throws(AgentAdministration.Failure) {
                return try AgentAdministration.owner(subject: subject, idp: idp, tenant: tenant, configuration: configuration)
            } catch { throw AgentsCommand.failure(error) }
        }
    }

    /// Sends an operator's signal about the person through the same path as an IdP's (inbox,
    /// revocation, audit, signed receipt) and prints what it did.
    static func act(_ options: SubjectOptions, location: Location, action: InboundSignal.Action, event: String) async throws {
        try await AgentsCommand.withStore(location) { c, store in
            let subject = try options.key(c)
            let processor = try await SignalProcessor.forOperator(c, store: store)
            let signal = processor.signal(source: .operator, connection: AgentAdministration.localPerformer(), externalID: nil, event: event,
                                          subject: subject, action: action)
            switch try await processor.submit(signal) {
            case .processed(_, .revoked(let outcome, let receipt)):
                for agent in outcome.agentsDisabled { print("agent disabled: \(agent)") }
                let verb = action == .offboard ? "offboarded" : "revoked the sessions of"
                print("\(verb) \(subject.subject): \(outcome.agentsDisabled.count) agents disabled, \(outcome.tokensRevoked.count) tokens revoked")
                if let receipt { print("receipt: \(receipt.id)") }
            case .processed(_, .enabled(let wasDisabled)):
                print(wasDisabled ? "\(subject.subject) is enabled; tokens revoked before stay revoked" : "\(subject.subject) is not disabled")
            case .processed(_, .narrowed(let revoked)):
                print("\(revoked.count) tokens revoked")
            case .processed(_, .superseded(let current)):
                print("\(subject.subject): nothing changed; a newer status change (\(ISO8601DateFormatter().string(from: current))) stands")
            case .pending(let signal):
                throw CLIFailure("signal_pending", "signal \(signal.id) is recorded but its work failed; the server retries it")
            case .duplicate(let id):
                print("already received as \(id)")
            }
        }
    }

    struct Offboard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a person, disable their agents, and revoke every live token of theirs and of their agents.",
            discussion: """
                One transaction: the person gets no new token, each agent they own is disabled (enable it again with
                `agents enable` once someone else owns its purpose), their revocation epoch moves past now, and every
                token that is not yet expired is revoked, each with its audit record. Running it again does nothing more.
                Exit 0, and a line per agent and a count.
                """
        )

        @OptionGroup var location: Location
        @OptionGroup var person: SubjectOptions

        func run() async throws {
            try await reportingFailures { try await UsersCommand.act(person, location: location, action: .offboard, event: "cli:users-offboard") }
        }
    }

    struct RevokeSessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-sessions",
            abstract: "Revoke every live token of a person and of their agents without disabling anyone.",
            discussion: """
                For a compromised session or credential: every token issued before now is dead (the revocation epoch),
                each live one is revoked with its audit record; the person may sign in again and get new tokens.
                """
        )

        @OptionGroup var location: Location
        @OptionGroup var person: SubjectOptions

        func run() async throws {
            try await reportingFailures { try await UsersCommand.act(person, location: location, action: .revokeSessions, event: "cli:users-revoke-sessions") }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a disabled person get tokens again. Nothing revoked comes back; their agents stay disabled.",
            discussion: "Re-enable agents one by one with `agents enable` after checking each."
        )

        @OptionGroup var location: Location
        @OptionGroup var person: SubjectOptions

        func run() async throws {
            try await reportingFailures { try await UsersCommand.act(person, location: location, action: .enable, event: "cli:users-enable") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show where a person stands, as JSON: disabled, revocation epoch, known groups and roles, agents, live tokens."
        )

        @OptionGroup var location: Location
        @OptionGroup var person: SubjectOptions

        func run() async throws {
            try await reportingFailures {
                try await AgentsCommand.withStore(location) { c, store in
                    let subject = try person.key(c)
                    let now = SystemClock().now()
                    let f = ISO8601DateFormatter()
                    var object = JSONObject(["issuer": .string(subject.issuer), "subject": .string(subject.subject)])
                    if let tenant = subject.tenant { object["tenant"] = .string(tenant) }
                    object["disabled"] = .bool(try await store.isDisabled(subject))
                    object["revoked_before"] = try await store.revocationEpoch(of: subject).map { .string(f.string(from: $0)) } ?? .null
                    if let known = try await store.attributes(of: subject) {
                        object["attributes"] = .object(JSONObject([
                            "groups": .array(known.attributes.groups.map(JSONValue.string)), "roles": .array(known.attributes.roles.map(JSONValue.string)),
                            "updated_at": .string(f.string(from: known.updatedAt)),
                        ]))
                    } else {
                        object["attributes"] = .null
                    }
                    object["agents"] = .array(try await store.agents(ownedBy: subject).map { agent in
                        .object(JSONObject(["id": .string(agent.id), "status": .string(agent.status.rawValue), "mode": .string(agent.mode.rawValue)]))
                    })
                    object["live_tokens"] = .array(try await store.liveTokens(ofOwner: subject, now: now).map { token in
                        var t = JSONObject(["jti": .string(token.jti), "server": .string(token.resource), "client_id": .string(token.clientID),
                                            "principal_class": .string(token.principal.rawValue), "expires_at": .string(f.string(from: token.expiresAt))])
                        if let agent = token.agent { t["agent"] = .string(agent) }
                        return .object(t)
                    })
                    print(JSONValue.object(object).serialized(pretty: true))
                }
            }
        }
    }
}
