import BridgekeeperJOSE
import Foundation
import Testing

/// `bridgekeeper agents` as an administrator types it, on the demo deployment's data folder.
@Suite("bridgekeeper agents")
struct AgentsCLITests {

    func agents(_ data: String, _ arguments: String...) throws -> CLI.Result {
        try CLI.run(CLI.binary, ["agents"] + arguments + ["--data", data, "--fixtures", CLI.fixtures.path])
    }

    @Test("create, list, show, disable, enable and rotate-key, each audited; the audit chain stays intact")
    func lifecycle() throws {
        let data = try CLI.temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let jwks = CLI.fixtures.appendingPathComponent("jwks.json").path

        let created = try agents(data, "create", "--id", "release-bot", "--name", "Release bot", "--owner", "00u-alice", "--owner-idp", "demo-idp",
                                 "--grant", "github:read,write,delete_repository", "--grant", "notion:read", "--jwks-file", jwks)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.hasPrefix("registered agent release-bot for https://idp.demo.bridgekeeper.test 00u-alice, on_behalf_of_owner"))
        #expect(!created.stdout.contains("secret"))

        let again = try agents(data, "create", "--id", "release-bot", "--owner", "00u-alice", "--owner-idp", "demo-idp", "--grant", "github:read",
                               "--jwks-file", jwks)
        #expect(again.status == 1 && again.stderr == "error: agent_exists: an agent with id release-bot is already registered\n")

        let list = try agents(data, "list")
        #expect(list.stdout == "ID\tSTATUS\tMODE\tOWNER\tGRANT\nrelease-bot\tactive\ton_behalf_of_owner\t00u-alice\tgithub:read,write,delete_repository notion:read\n",
                "\(list.stdout)")
        let mine = try agents(data, "list", "--owner", "00u-bob", "--owner-idp", "demo-idp")
        #expect(mine.stdout == "ID\tSTATUS\tMODE\tOWNER\tGRANT\n")

        #expect(try agents(data, "disable", "release-bot").stdout == "agent release-bot is disabled; 0 live token(s) revoked\n")
        let shown = try agents(data, "show", "release-bot")
        #expect(shown.stdout.contains(#""status": "disabled""#) && shown.stdout.contains(#""kind": "jwks""#), "\(shown.stdout)")
        #expect(try agents(data, "enable", "release-bot").stdout == "agent release-bot is active\n")
        let rotated = try agents(data, "rotate-key", "release-bot", "--jwks-uri", "https://agents.example.com/release-bot/jwks.json")
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(try agents(data, "show", "release-bot").stdout.contains(#""jwks_uri": "https://agents.example.com/release-bot/jwks.json""#))

        let tail = try CLI.run(CLI.binary, ["audit", "tail", "--json", "--data", data, "--fixtures", CLI.fixtures.path])
        let reasons = tail.stdout.split(separator: "\n").compactMap { line in
            ["agent_created", "agent_disabled", "agent_enabled", "agent_key_rotated"].first { line.contains("\"reason\":\"\($0)\"") }
        }
        #expect(reasons == ["agent_created", "agent_disabled", "agent_enabled", "agent_key_rotated"], "\(tail.stdout)")
        #expect(tail.stdout.contains(#""kind":"administration""#))
        let verify = try CLI.run(CLI.binary, ["audit", "verify", "--data", data, "--fixtures", CLI.fixtures.path])
        #expect(verify.status == 0 && verify.stdout.hasPrefix("intact: 4 records"), "\(verify.stdout)\(verify.stderr)")
    }

    @Test("refused with the reason: a secret where agents must use keys, a grant naming an unknown tool, an owner without their IdP, a client's id")
    func refusals() throws {
        let data = try CLI.temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let secret = try agents(data, "create", "--id", "bot", "--owner", "00u-alice", "--owner-idp", "demo-idp", "--grant", "github:read", "--secret")
        #expect(secret.status == 1 && secret.stderr.hasPrefix("error: secret_not_allowed: "), "\(secret.stderr)")
        let grant = try agents(data, "create", "--id", "bot", "--owner", "00u-alice", "--owner-idp", "demo-idp", "--grant", "github:fly",
                               "--jwks-uri", "https://agents.example.com/jwks.json")
        #expect(grant.stderr == "error: invalid_grant_spec: github:fly: fly is neither a category nor a tool of github\n")
        let owner = try agents(data, "create", "--id", "bot", "--owner", "00u-alice", "--grant", "github:read", "--jwks-uri", "https://agents.example.com/jwks.json")
        #expect(owner.stderr == "error: invalid_owner: several IdPs are configured: name the owner's with --owner-idp\n")
        let client = try agents(data, "create", "--id", "mcp-client-demo", "--owner", "00u-alice", "--owner-idp", "demo-idp", "--grant", "github:read",
                                "--jwks-uri", "https://agents.example.com/jwks.json")
        #expect(client.stderr == "error: invalid_agent_id: mcp-client-demo is a configured client's id\n")
        let http = try agents(data, "create", "--id", "bot", "--owner", "00u-alice", "--owner-idp", "demo-idp", "--grant", "github:read",
                              "--jwks-uri", "http://agents.example.com/jwks.json")
        #expect(http.stderr == "error: invalid_credential: --jwks-uri must use https\n")
        #expect(try agents(data, "list").stdout == "ID\tSTATUS\tMODE\tOWNER\tGRANT\n")
        #expect(try agents(data, "disable", "nobody").stderr == "error: unknown_agent: no agent nobody\n")
    }
}

extension AgentsCLITests {
    @Test("a jwks_uri on an internal host is refused with the reason (issue 18 §2); a host named in agents.jwks_uri_allowed_internal_hosts passes", arguments: [
        ("https://169.254.169.254/keys", "169.254.169.254 is a link-local address"),
        ("https://[::1]/jwks", "::1 is a loopback address"),
        ("https://localhost/jwks", "localhost is a loopback name"),
        ("https://10.1.2.3/jwks", "10.1.2.3 is a private address"),
    ] as [(String, String)])
    func internalJWKSURI(_ uri: String, _ why: String) throws {
        let folder = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let refused = try agents(folder.appendingPathComponent("data").path, "create", "--id", "bot", "--owner", "00u-alice", "--owner-idp", "demo-idp",
                                 "--grant", "github:read", "--jwks-uri", uri)
        #expect(refused.status == 1)
        #expect(refused.stderr == "error: invalid_credential: --jwks-uri host \(why): an agent's keys are fetched from public addresses only, "
                                 + "unless the host is named in agents.jwks_uri_allowed_internal_hosts\n")
        #expect(try agents(folder.appendingPathComponent("data").path, "list").stdout == "ID\tSTATUS\tMODE\tOWNER\tGRANT\n")

        // The demo's configuration, with the host the URI names allowed by the operator.
        let host = try #require(URL(string: uri)?.host)
        let demo = try String(contentsOf: CLI.fixtures.appendingPathComponent("bridgekeeper-demo.yaml"), encoding: .utf8)
        let config = folder.appendingPathComponent("bridgekeeper.yaml")
        try (demo.replacingOccurrences(of: "encryption_key: env:BRIDGEKEEPER_DEMO_KEK", with: "encryption_key: file:kek")
            + "agents:\n  jwks_uri_allowed_internal_hosts: [\"\(host)\"]\n").write(to: config, atomically: true, encoding: .utf8)
        try Base64URL.encode([UInt8](repeating: 9, count: 32)).write(to: folder.appendingPathComponent("kek"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(at: CLI.fixtures.appendingPathComponent("jwks.json"), to: folder.appendingPathComponent("jwks.json"))
        let allowed = try CLI.run(CLI.binary, ["agents", "create", "--config", config.path, "--id", "bot", "--owner", "00u-alice", "--owner-idp", "demo-idp",
                                               "--grant", "github:read", "--jwks-uri", uri])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        let shown = try CLI.run(CLI.binary, ["agents", "show", "bot", "--config", config.path])
        #expect(shown.stdout.contains(#""jwks_uri": "\#(uri)""#), "\(shown.stdout)")
    }
}

@Suite("bridgekeeper users offboard and audit tail --agent / --owner")
struct OffboardCLITests {
    func run(_ data: String, _ arguments: String...) throws -> CLI.Result {
        try CLI.run(CLI.binary, arguments + ["--data", data, "--fixtures", CLI.fixtures.path])
    }

    @Test("offboarding a person disables each of their agents (audited with the owner chain), leaves others' agents, and is idempotent")
    func offboard() throws {
        let data = try CLI.temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let jwks = CLI.fixtures.appendingPathComponent("jwks.json").path
        for (id, owner) in [("release-bot", "00u-alice"), ("triage-bot", "00u-alice"), ("bobs-bot", "00u-bob")] {
            let created = try run(data, "agents", "create", "--id", id, "--owner", owner, "--owner-idp", "demo-idp", "--grant", "github:read",
                                  "--jwks-file", jwks)
            #expect(created.status == 0, "\(created.stderr)")
        }
        let offboarded = try run(data, "users", "offboard", "00u-alice", "--idp", "demo-idp")
        #expect(offboarded.status == 0, "\(offboarded.stderr)")
        let (report, receiptID) = splitReceipt(offboarded.stdout)
        #expect(report == "agent disabled: release-bot\nagent disabled: triage-bot\noffboarded 00u-alice: 2 agents disabled, 0 tokens revoked\n",
                "\(offboarded.stdout)")
        // The offboarding's signed receipt: verified against the broker's own keys, naming the
        // operator's signal and both agents.
        let receipt = try run(data, "receipts", "show", try #require(receiptID))
        #expect(receipt.status == 0, "\(receipt.stderr)")
        let shown = try #require(try JSONValue.parse(receipt.stdout).objectValue)
        #expect(shown["signature"] == "valid")
        let claims = try #require(shown["claims"]?.objectValue)
        #expect(claims["agents_disabled"] == .array(["release-bot", "triage-bot"]))
        #expect(claims["action"] == "offboard")
        #expect(claims["trigger"]?.objectValue?["source"] == "operator")
        #expect(claims["sub_id"]?.objectValue?["sub"] == "00u-alice")
        #expect(try run(data, "receipts", "list", "00u-alice", "--idp", "demo-idp").stdout.contains(try #require(receiptID)))
        #expect(try run(data, "receipts", "show", "rcpt_nope").status == 1)
        let list = try run(data, "agents", "list")
        #expect(list.stdout.contains("release-bot\tdisabled") && list.stdout.contains("triage-bot\tdisabled") && list.stdout.contains("bobs-bot\tactive"),
                "\(list.stdout)")
        let again = try run(data, "users", "offboard", "00u-alice", "--idp", "demo-idp")
        #expect(splitReceipt(again.stdout).report == "offboarded 00u-alice: 0 agents disabled, 0 tokens revoked\n", "\(again.stdout)")

        // The trail, filtered: alice's records are her agents' registrations, her offboarding (twice)
        // and her agents' disabling; release-bot's are its own two.
        let alice = try run(data, "audit", "tail", "--json", "--owner", "00u-alice")
        let aliceReasons = alice.stdout.split(separator: "\n").compactMap { line in
            ["agent_created", "subject_offboarded", "agent_disabled_with_owner"].first { line.contains("\"reason\":\"\($0)\"") }
        }
        #expect(aliceReasons == ["agent_created", "agent_created", "subject_offboarded", "agent_disabled_with_owner", "agent_disabled_with_owner",
                                 "subject_offboarded"], "\(alice.stdout)")
        #expect(!alice.stdout.contains("bobs-bot"))
        let bot = try run(data, "audit", "tail", "--json", "--agent", "release-bot")
        let botLines = bot.stdout.split(separator: "\n")
        #expect(botLines.count == 2 && botLines.allSatisfy { $0.contains(#""actor":"release-bot""#) && $0.contains(#""owner":"00u-alice""#) },
                "\(bot.stdout)")
        // Who made each change: the CLI's local user.
        #expect(botLines.allSatisfy { $0.contains(#""by":"local:"#) }, "\(bot.stdout)")
        let table = try run(data, "audit", "tail", "--agent", "bobs-bot")
        #expect(table.stdout.contains("AGENT") && table.stdout.contains("bobs-bot") && table.stdout.contains("00u-bob"), "\(table.stdout)")
        #expect(table.stdout.contains("BY") && table.stdout.contains("local:"), "\(table.stdout)")
        let verify = try run(data, "audit", "verify")
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test("users show says where a person stands; revoke-sessions moves the epoch without disabling; enable lets an offboarded person back without their agents; each audited with who did it")
    func showRevokeEnable() throws {
        let data = try CLI.temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let jwks = CLI.fixtures.appendingPathComponent("jwks.json").path
        #expect(try run(data, "agents", "create", "--id", "release-bot", "--owner", "00u-alice", "--owner-idp", "demo-idp", "--grant", "github:read",
                        "--jwks-file", jwks).status == 0)
        func show(_ subject: String) throws -> JSONObject {
            let shown = try run(data, "users", "show", subject, "--idp", "demo-idp")
            #expect(shown.status == 0, "\(shown.stderr)")
            return try #require(try JSONValue.parse(shown.stdout).objectValue)
        }
        let fresh = try show("00u-alice")
        #expect(fresh["disabled"] == .bool(false))
        #expect(fresh["revoked_before"] == .null)
        #expect(fresh["attributes"] == .null)
        #expect(fresh["live_tokens"] == .array([]))
        #expect(fresh["agents"]?.arrayValue?.first?.objectValue?["status"] == "active")

        let sessions = try run(data, "users", "revoke-sessions", "00u-bob", "--idp", "demo-idp")
        #expect(splitReceipt(sessions.stdout).report == "revoked the sessions of 00u-bob: 0 agents disabled, 0 tokens revoked\n", "\(sessions.stdout)")
        let bob = try show("00u-bob")
        #expect(bob["disabled"] == .bool(false))
        #expect(bob["revoked_before"]?.stringValue != nil)

        #expect(try run(data, "users", "offboard", "00u-alice", "--idp", "demo-idp").status == 0)
        let offboarded = try show("00u-alice")
        #expect(offboarded["disabled"] == .bool(true))
        #expect(offboarded["revoked_before"]?.stringValue != nil)
        #expect(offboarded["agents"]?.arrayValue?.first?.objectValue?["status"] == "disabled")

        let enabled = try run(data, "users", "enable", "00u-alice", "--idp", "demo-idp")
        #expect(enabled.stdout == "00u-alice is enabled; tokens revoked before stay revoked\n", "\(enabled.stdout)")
        let back = try show("00u-alice")
        #expect(back["disabled"] == .bool(false))
        #expect(back["revoked_before"] == offboarded["revoked_before"], "enabling never resurrects: the epoch stays")
        #expect(back["agents"]?.arrayValue?.first?.objectValue?["status"] == "disabled", "agents are re-enabled one by one")
        #expect(try run(data, "users", "enable", "00u-alice", "--idp", "demo-idp").stdout == "00u-alice is not disabled\n")

        let trail = try run(data, "audit", "tail", "--json", "--owner", "00u-alice").stdout + run(data, "audit", "tail", "--json", "--owner", "00u-bob").stdout
        for reason in ["sessions_revoked", "subject_offboarded", "subject_enabled"] {
            #expect(trail.split(separator: "\n").contains { $0.contains("\"reason\":\"\(reason)\"") && $0.contains(#""by":"local:"#) }, "\(reason): \(trail)")
        }
        #expect(try run(data, "audit", "verify").status == 0)
    }
}

/// An offboarding's report without its last line, `receipt: ID`, and that id.
func splitReceipt(_ stdout: String) -> (report: String, id: String?) {
    var lines = stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    guard let last = lines.last, last.hasPrefix("receipt: rcpt_") else { return (stdout, nil) }
    return (lines.dropLast().map { $0 + "\n" }.joined(), String(last.dropFirst("receipt: ".count)))
}
