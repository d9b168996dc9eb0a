import ArgumentParser
import BridgekeeperClient
import BridgekeeperConfig
import BridgekeeperDemoIdP
import BridgekeeperServer

/// The one `bridgekeeper` executable: the server and the operator commands.
@main
struct Bridgekeeper: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridgekeeper",
        abstract: "Enterprise identity bridge for the Model Context Protocol (EMA authorization server).",
        discussion: """
            `serve` runs the authorization server (`serve --demo` on the embedded demo). The other commands
            administer it (config, keys, audit, clients, prm) or help with JOSE work (jwt). `login`, `token`
            and `logout` are for people: sign in once from a terminal, then get access tokens for MCP servers.
            Tokens may be given as '-' to read them from standard input (keeps them out of shell history).
            """,
        subcommands: [ServeCommand.self, ConfigCommand.self, DemoCommand.self, AuditCommand.self, KeysCommand.self,
                      ClientsCommand.self, AgentsCommand.self, UsersCommand.self, ReceiptsCommand.self, SSFCommand.self, PRMCommand.self, JWTCommand.self, LoginCommand.self, TokenCommand.self, LogoutCommand.self]
    )
}

/// A failure the CLI reports as one line, `error: <code>: <reason>`, with a non-zero exit.
struct CLIFailure: Error {
    let code: String
    let reason: String
    let exitCode: Int32

    init(_ code: String, _ reason: String, exitCode: Int32 = 1) {
        self.code = code
        self.reason = reason
        self.exitCode = exitCode
    }
}

extension ParsableCommand {
    /// Runs `body`, printing a failure as one line on stderr and exiting non-zero.
    func reportingFailures(_ body: () throws -> Void) throws {
        do { try body() } catch { throw reported(error) }
    }

    /// The same for async commands.
    func reportingFailures(_ body: () async throws -> Void) async throws {
        do { try await body() } catch { throw reported(error) }
    }
}

/// Prints a known failure (CLI, configuration, demo) as one line and returns the exit to throw;
/// anything else is passed on unchanged.
func reported(_ error: any Error) -> any Error {
    switch error {
    case let failure as CLIFailure:
        printError("error: \(failure.code): \(failure.reason)")
        return ExitCode(failure.exitCode)
    case let error as ConfigurationError:
        printError("error: invalid_configuration: \(error)")
        return ExitCode(1)
    case let error as Demo.Failure:
        printError("error: demo: \(error)")
        return ExitCode(1)
    case let error as DemoIdPError:
        printError("error: demo: \(error)")
        return ExitCode(1)
    case let error as ClientError:
        printError("error: \(error.code.rawValue): \(error.reason)")
        return ExitCode(error.code == .usage ? 2 : 1)
    default:
        return error
    }
}

func printError(_ line: String) {
    var standardError = StandardError()
    print(line, to: &standardError)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleWriter.write(string, to: 2)
    }
}
