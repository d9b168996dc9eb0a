import ArgumentParser
import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation

/// `bridgekeeper users`: the people behind the tokens, for operators. `offboard` is the cascade of
/// issue 5 (the owner and every agent of theirs); issue 6 brings the IdP signals that call it.
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "Offboard people: disable them, their agents, and every token of theirs.",
        subcommands: [Offboard.self]
    )

    struct Offboard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a person, disable their agents, and revoke every live token of theirs and of their agents.",
            discussion: """
                One transaction: the person gets no new token, each agent they own is disabled (enable it again with
                `agents enable` once someone else owns its purpose), and every token that is not yet expired is revoked,
                each with its audit record. Running it again does nothing more. Exit 0, and a line per agent and a count.
                """
        )

        @OptionGroup var location: Location

        @Argument(help: "The person's subject at the IdP (their sub, or oid at Entra).")
        var subject: String

        @Option(help: "Their IdP (its name in idps); optional with one IdP.")
        var idp: String?

        @Option(help: "Their tenant, for a multi-tenant IdP.")
        var tenant: String?

        func run() async throws {
            try await reportingFailures {
                try await AgentsCommand.withStore(location) { c, store in
                    let owner: SubjectKey
                    do throws(AgentAdministration.Failure) {
                        owner = try AgentAdministration.owner(subject: subject, idp: idp, tenant: tenant, configuration: c)
                    } catch { throw AgentsCommand.failure(error) }
                    let now = SystemClock().now()
                    let outcome = try await store.disableOwner(owner, at: now) { outcome in
                        AgentAdministration.offboardingEvents(owner: owner, outcome: outcome, time: now, by: AgentAdministration.localPerformer())
                    }
                    for agent in outcome.agentsDisabled { print("agent disabled: \(agent)") }
                    print("offboarded \(owner.subject): \(outcome.agentsDisabled.count) agents disabled, \(outcome.tokensRevoked.count) tokens revoked")
                }
            }
        }
    }
}
