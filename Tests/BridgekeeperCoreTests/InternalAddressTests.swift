import BridgekeeperCore
import Testing

/// The classifier behind the agent `jwks_uri` SSRF checks (issue 18 §2): every internal range, its
/// edges, IPv6 forms that carry an IPv4 address, and public addresses left alone.
@Suite("internal addresses and hosts")
struct InternalAddressTests {
    static let table: [(String, InternalRange?)] = [
        // unspecified
        ("0.0.0.0", .unspecified), ("0.255.255.255", .unspecified), ("::", .unspecified),
        // loopback
        ("127.0.0.1", .loopback), ("127.255.255.254", .loopback), ("::1", .loopback),
        ("126.255.255.255", nil), ("128.0.0.0", nil),
        // link-local, the cloud metadata address among them
        ("169.254.169.254", .linkLocal), ("169.254.0.0", .linkLocal), ("169.254.255.255", .linkLocal),
        ("169.253.255.255", nil), ("169.255.0.0", nil),
        ("fe80::1", .linkLocal), ("febf:ffff::1", .linkLocal), ("fe7f::1", nil),
        // private (RFC 1918) and unique local
        ("10.0.0.0", .privateUse), ("10.255.255.255", .privateUse), ("9.255.255.255", nil), ("11.0.0.0", nil),
        ("172.15.255.255", nil), ("172.16.0.0", .privateUse), ("172.31.255.255", .privateUse), ("172.32.0.0", nil),
        ("192.168.0.0", .privateUse), ("192.168.255.255", .privateUse), ("192.167.255.255", nil), ("192.169.0.0", nil),
        ("fc00::1", .privateUse), ("fd12:3456::1", .privateUse), ("fbff::1", nil), ("fec0::1", .privateUse),
        // carrier-grade NAT (RFC 6598)
        ("100.64.0.0", .sharedAddressSpace), ("100.127.255.255", .sharedAddressSpace), ("100.63.255.255", nil), ("100.128.0.0", nil),
        // multicast, broadcast, reserved
        ("224.0.0.1", .multicast), ("239.255.255.255", .multicast), ("223.255.255.255", nil), ("ff02::1", .multicast),
        ("255.255.255.255", .broadcast), ("240.0.0.1", .reserved), ("255.255.255.254", .reserved),
        // IPv6 forms that carry an IPv4 address
        ("::ffff:127.0.0.1", .loopback), ("::ffff:169.254.169.254", .linkLocal), ("::ffff:7f00:1", .loopback),
        ("::ffff:10.1.2.3", .privateUse), ("::ffff:8.8.8.8", nil),
        ("64:ff9b::a9fe:a9fe", .linkLocal), ("64:ff9b::808:808", nil),
        ("2002:c0a8:0101::1", .privateUse), ("2002:0808:0808::1", nil),
        ("::127.0.0.1", .reserved), ("::2", .reserved),
        // public
        ("8.8.8.8", nil), ("1.1.1.1", nil), ("93.184.216.34", nil), ("2606:4700:4700::1111", nil), ("2001:4860:4860::8888", nil),
    ]

    @Test("every range, its edges, IPv4 inside IPv6, public addresses", arguments: table)
    func classifies(_ text: String, _ expected: InternalRange?) throws {
        let address = try #require(IPAddress(text), "\(text) parses")
        #expect(address.internalRange == expected, "\(text)")
        // The same judgement from the bytes a socket address holds.
        #expect(try #require(IPAddress(bytes: address.bytes)).internalRange == expected)
    }

    @Test("only dotted quads and IPv6 text are addresses: no shorthand, octal, hex or bare-number IPv4, no brackets or zones",
          arguments: ["127.1", "0x7f.0.0.1", "0x7f000001", "0177.0.0.1", "2130706433", "127.0.0.1.", "[::1]", "fe80::1%eth0", "", "localhost",
                      "256.0.0.1", "1.2.3.4.5"])
    func strictParsing(_ text: String) {
        #expect(IPAddress(text) == nil, "\(text)")
    }

    @Test("a URL host is judged without DNS: internal literals, localhost names and numbers that are not dotted quads; other names pass", arguments: [
        ("169.254.169.254", "is a link-local address"), ("::1", "is a loopback address"), ("[::1]", "is a loopback address"),
        ("[::ffff:127.0.0.1]", "is a loopback address"), ("10.1.2.3", "is a private address"), ("100.64.1.1", "is a carrier-grade NAT address"),
        ("localhost", "is a loopback name"), ("LOCALHOST.", "is a loopback name"), ("keys.localhost", "is a loopback name"),
        ("127.1", "is a number that is not a dotted-quad IPv4 address"), ("0x7f.1", "is a number that is not a dotted-quad IPv4 address"),
        ("2130706433", "is a number that is not a dotted-quad IPv4 address"), ("0177.0.0.1", "is a number that is not a dotted-quad IPv4 address"),
        ("127.0.0.1.", "is a number that is not a dotted-quad IPv4 address"),
        ("fe80::1%eth0", "is not an IP address that can be judged (an IPv6 zone?)"),
        ("[fe80::1%25eth0]", "is not an IP address that can be judged (an IPv6 zone?)"),
    ] as [(String, String)])
    func internalHosts(_ host: String, _ reason: String) {
        #expect(InternalHost.reason(host) == reason, "\(host)")
    }

    @Test("public addresses and names are not judged internal before resolution",
          arguments: ["8.8.8.8", "[2606:4700:4700::1111]", "keys.example.com", "localhost.example.com", "agents.example", "1.example", "x0x7f"])
    func publicHosts(_ host: String) {
        #expect(InternalHost.reason(host) == nil, "\(host)")
    }

    @Test("the allow-list matches exactly, without regard to case, IP literals by canonical form")
    func allowList() {
        let list = InternalHostAllowList(["Keys.Corp.Internal", "10.0.0.5", "[FD00::0:1]"])
        #expect(list.contains(host: "keys.corp.internal"))
        #expect(list.contains(host: "KEYS.corp.internal"))
        #expect(!list.contains(host: "keys.corp.internal."))
        #expect(!list.contains(host: "evil.keys.corp.internal"))
        #expect(!list.contains(host: "corp.internal"))
        #expect(list.contains(host: "10.0.0.5"))
        #expect(!list.contains(host: "10.0.0.6"))
        #expect(list.contains(host: "fd00::1") && list.contains(host: "[fd00:0::1]"))
        #expect(!InternalHostAllowList().contains(host: "127.0.0.1"))
    }
}
