import ArgumentParser
import BridgekeeperAudit
import BridgekeeperConfig
import BridgekeeperCore
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperServer
import BridgekeeperStore
import BridgekeeperStoreSQLite
import Foundation

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

    /// Revokes every live token of the person and their agents and moves their epoch; disables them
    /// and their agents when `disable`. Prints what it did.
    static func revoke(_ options: SubjectOptions, location: Location, disable: Bool) async throws {
        try await AgentsCommand.withStore(location) { c, store in
            let subject = try options.key(c)
            let now = SystemClock().now()
            let reason: ReasonCode = disable ? .subjectOffboarded : .sessionsRevoked
            let outcome = try await store.revokeSubject(subject, at: now, disable: disable) { outcome in
                AgentAdministration.revocationEvents(owner: subject, outcome: outcome, time: now, reason: reason, by: AgentAdministration.localPerformer())
            }
            for agent in outcome.agentsDisabled { print("agent disabled: \(agent)") }
            let verb = disable ? "offboarded" : "revoked the sessions of"
            print("\(verb) \(subject.subject): \(outcome.agentsDisabled.count) agents disabled, \(outcome.tokensRevoked.count) tokens revoked")
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
            try await reportingFailures { try await UsersCommand.revoke(person, location: location, disable: true) }
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
            try await reportingFailures { try await UsersCommand.revoke(person, location: location, disable: false) }
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
            try await reportingFailures {
                try await AgentsCommand.withStore(location) { c, store in
                    let subject = try person.key(c)
                    guard try await store.isDisabled(subject) else {
                        print("\(subject.subject) is not disabled")
                        return
                    }
                    let now = SystemClock().now()
                    try await store.setDisabled(subject, false, at: now)
                    _ = try await store.append(AuditEvent(kind: .administration, reason: .subjectEnabled, time: now, issuer: subject.issuer,
                                                          tenant: subject.tenant, subject: subject.subject,
                                                          principalClass: PrincipalClass.human.rawValue,
                                                          performedBy: AgentAdministration.localPerformer()))
                    print("\(subject.subject) is enabled; tokens revoked before stay revoked")
                }
            }
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
