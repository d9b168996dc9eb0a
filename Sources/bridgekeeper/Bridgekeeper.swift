import ArgumentParser

/// The one `bridgekeeper` executable: operator commands now, the server in later issues.
@main
struct Bridgekeeper: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridgekeeper",
        abstract: "Enterprise identity bridge for the Model Context Protocol (EMA authorization server).",
        discussion: """
            Operator commands for JOSE work: verify and decode JWTs against a JWKS, and generate signing keys.
            Tokens may be given as '-' to read them from standard input (keeps them out of shell history).
            """,
        subcommands: [JWTCommand.self, KeysCommand.self]
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
        do {
            try body()
        } catch let failure as CLIFailure {
            printError("error: \(failure.code): \(failure.reason)")
            throw ExitCode(failure.exitCode)
        }
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
