// swift-tools-version:6.1
import PackageDescription

/// Upcoming features every target opts into (STYLE.md).
let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Bridgekeeper",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bridgekeeper", targets: ["bridgekeeper"]),
        .library(name: "BridgekeeperJOSE", targets: ["BridgekeeperJOSE"]),
        // For gateways and MCP servers: verifies the broker's access tokens; nothing server-side, no libcurl.
        .library(name: "BridgekeeperVerifier", targets: ["BridgekeeperVerifier"]),
        // The verifier's network side: keys discovered from the broker, the revocation feed (libcurl).
        .library(name: "BridgekeeperVerifierFetch", targets: ["BridgekeeperVerifierFetch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
    ],
    targets: [
        // OpenSSL 3 (Debian libssl-dev) as a system library; only BridgekeeperJOSE imports it.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "BridgekeeperCore",
            swiftSettings: settings
        ),
        // The endpoint vocabulary every HTTP-facing module shares (issue 19 §1).
        .target(
            name: "BridgekeeperEndpoint",
            dependencies: ["BridgekeeperCore"],
            swiftSettings: settings
        ),
        // What tests share (STYLE): the test clocks. Not a product: only test targets use it.
        .target(
            name: "BridgekeeperTesting",
            dependencies: ["BridgekeeperCore"],
            swiftSettings: settings
        ),
        .target(
            name: "BridgekeeperAudit",
            dependencies: ["BridgekeeperCore", "BridgekeeperJOSE"],
            swiftSettings: settings
        ),
        .target(
            name: "BridgekeeperPolicy",
            dependencies: ["BridgekeeperCore"],
            swiftSettings: settings
        ),
        // libcurl (Debian libcurl4-openssl-dev) as a system library; only BridgekeeperFetch imports it.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(
            name: "BridgekeeperFetch",
            dependencies: ["BridgekeeperCore", "BridgekeeperJOSE", "CCurl"],
            swiftSettings: settings
        ),
        .target(
            name: "BridgekeeperJOSE",
            dependencies: ["COpenSSL"],
            swiftSettings: settings
        ),
        // Shared Signals wire formats, pure: RFC 8936 poll messages and the revocation feed's SETs.
        // Both ends use it: the broker (transmitter and receiver) and the gateway verifier.
        .target(
            name: "BridgekeeperSSF",
            dependencies: ["BridgekeeperCore", "BridgekeeperJOSE"],
            swiftSettings: settings
        ),
        // Shipped to gateways (issue 7): offline access-token verification, a per-token cache,
        // tool authorization, revocation inputs. Core and JOSE only: no libcurl.
        .target(
            name: "BridgekeeperVerifier",
            dependencies: ["BridgekeeperCore", "BridgekeeperJOSE"],
            swiftSettings: settings
        ),
        // What a gateway adds when it wants the network: keys discovered through the broker's
        // metadata, the revocation feed's subscription, client-credentials feed tokens (Fetch, libcurl).
        .target(
            name: "BridgekeeperVerifierFetch",
            dependencies: ["BridgekeeperVerifier", "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperFetch", "BridgekeeperSSF"],
            swiftSettings: settings
        ),
        .target(
            name: "BridgekeeperStore",
            dependencies: ["BridgekeeperCore", "BridgekeeperAudit", "BridgekeeperJOSE", "BridgekeeperPolicy"],
            swiftSettings: settings
        ),
        .target(
            name: "BridgekeeperStoreSQLite",
            dependencies: [
                "BridgekeeperStore", "BridgekeeperCore", "BridgekeeperAudit", "BridgekeeperJOSE", "BridgekeeperPolicy",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: settings
        ),
        // Keys and secrets, shared by the grants, the signal sources and the configuration: the
        // signing-key ring and its sealing at rest, stored-secret hashes, JWT verification against
        // a key source.
        .target(
            name: "BridgekeeperKeys",
            dependencies: ["BridgekeeperJOSE", "BridgekeeperStore"],
            swiftSettings: settings
        ),
        // Client authentication at our endpoints: client_secret_basic/post, private_key_jwt, agents'
        // keys and actor tokens, the registered clients (issue 19).
        .target(
            name: "BridgekeeperClientAuth",
            dependencies: ["BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperAudit", "BridgekeeperStore", "BridgekeeperKeys"],
            swiftSettings: settings
        ),
        .target(
            name: "BridgekeeperGrants",
            dependencies: ["BridgekeeperEndpoint", "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperPolicy", "BridgekeeperAudit", "BridgekeeperStore", "BridgekeeperKeys", "BridgekeeperClientAuth"],
            swiftSettings: settings
        ),
        // The signal sources' settings (SCIM connections, Okta Event Hooks, SSF transmitters and
        // polling): plain values the configuration builds and Revocation uses (issue 19).
        .target(
            name: "BridgekeeperSignalSettings",
            dependencies: ["BridgekeeperJOSE", "BridgekeeperKeys"],
            swiftSettings: settings
        ),
        // Revocation signals (issue 6): the signal inbox's processor, signed receipts, and the
        // sources (SCIM, Shared Signals, Okta Event Hooks), each a pure decision over parsed input.
        .target(
            name: "BridgekeeperRevocation",
            dependencies: ["BridgekeeperEndpoint", "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperPolicy", "BridgekeeperAudit", "BridgekeeperStore",
                           "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperKeys", "BridgekeeperSSF", "BridgekeeperSignalSettings"],
            swiftSettings: settings
        ),
        // The configuration file: one validated value. Its own target (STYLE puts Yams in the
        // executable) so that tests and the HTTP layer build the same value the CLI loads.
        .target(
            name: "BridgekeeperConfig",
            dependencies: [
                "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperPolicy", "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperKeys", "BridgekeeperSignalSettings",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "BridgekeeperHTTP",
            dependencies: ["BridgekeeperEndpoint", 
                "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperPolicy", "BridgekeeperAudit",
                "BridgekeeperStore", "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperKeys",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // The management API (`/admin/v1`) and the agent administration the CLI shares with it.
        .target(
            name: "BridgekeeperAdministration",
            dependencies: ["BridgekeeperEndpoint", 
                "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperPolicy", "BridgekeeperAudit", "BridgekeeperStore",
                "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperKeys", "BridgekeeperConfig", "BridgekeeperRevocation",
            ],
            swiftSettings: settings
        ),
        // The composition root: configuration → store, keys, grants, routes, background services.
        // The executable and the HTTP tests start the same server through it.
        .target(
            name: "BridgekeeperServer",
            dependencies: ["BridgekeeperEndpoint", 
                "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperPolicy", "BridgekeeperAudit", "BridgekeeperStore",
                "BridgekeeperStoreSQLite", "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperKeys", "BridgekeeperConfig", "BridgekeeperHTTP", "BridgekeeperFetch",
                "BridgekeeperRevocation", "BridgekeeperSSF", "BridgekeeperAdministration", "BridgekeeperSignalSettings",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // A small OpenID Connect provider (authorization code + PKCE, refresh tokens): the demo's
        // sign-in page (`bridgekeeper demo idp`) and the login tests' peer. Demo-grade only.
        .target(
            name: "BridgekeeperDemoIdP",
            dependencies: [
                "BridgekeeperCore", "BridgekeeperJOSE",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // The terminal sign-in client behind `bridgekeeper login`/`token`/`logout`: client
        // configuration, OIDC discovery, PKCE, the loopback redirect, the session store, refresh and
        // the token exchange at the broker. The executable is a thin shell over it.
        .target(
            name: "BridgekeeperClient",
            dependencies: [
                "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperFetch",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "bridgekeeper",
            dependencies: [
                "BridgekeeperCore",
                "BridgekeeperJOSE",
                "BridgekeeperPolicy",
                "BridgekeeperAudit",
                "BridgekeeperStore",
                "BridgekeeperStoreSQLite",
                "BridgekeeperGrants",
                "BridgekeeperClientAuth",
                "BridgekeeperKeys",
                "BridgekeeperConfig",
                "BridgekeeperHTTP",
                "BridgekeeperFetch",
                "BridgekeeperServer",
                "BridgekeeperAdministration",
                "BridgekeeperSignalSettings",
                "BridgekeeperRevocation",
                "BridgekeeperClient",
                "BridgekeeperDemoIdP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "BenchmarkSupport",
            dependencies: ["BridgekeeperJOSE", "COpenSSL"],
            path: "Benchmarks/Support",
            swiftSettings: settings
        ),
        .executableTarget(
            name: "JOSEBenchmark",
            dependencies: ["BenchmarkSupport", "BridgekeeperJOSE", "COpenSSL"],
            path: "Benchmarks/JOSEBenchmark",
            swiftSettings: settings
        ),
        .executableTarget(
            name: "VerifierBenchmark",
            dependencies: ["BenchmarkSupport", "BridgekeeperVerifier", "BridgekeeperJOSE", "BridgekeeperCore"],
            path: "Benchmarks/VerifierBenchmark",
            swiftSettings: settings
        ),
        .executableTarget(
            name: "FeedPropagation",
            dependencies: [
                "BridgekeeperConfig", "BridgekeeperCore", "BridgekeeperFetch", "BridgekeeperJOSE", "BridgekeeperPolicy", "BridgekeeperRevocation", "BridgekeeperServer",
                "BridgekeeperStore", "BridgekeeperVerifier", "BridgekeeperVerifierFetch",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/FeedPropagation",
            swiftSettings: settings
        ),
        .executableTarget(
            name: "RedemptionProfile",
            dependencies: [
                "BridgekeeperConfig", "BridgekeeperCore", "BridgekeeperEndpoint", "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperHTTP", "BridgekeeperServer",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/RedemptionProfile",
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperJOSETests",
            dependencies: ["BridgekeeperJOSE"],
            exclude: ["Vectors"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperAuditTests",
            dependencies: ["BridgekeeperAudit", "BridgekeeperCore", "BridgekeeperJOSE"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperPolicyTests",
            dependencies: ["BridgekeeperPolicy", "BridgekeeperCore"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperGrantsTests",
            dependencies: ["BridgekeeperGrants", "BridgekeeperCore", "BridgekeeperPolicy", "BridgekeeperStore", "BridgekeeperJOSE", "BridgekeeperAudit", "BridgekeeperKeys", "BridgekeeperClientAuth"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperFetchTests",
            dependencies: ["BridgekeeperTesting", "BridgekeeperFetch", "BridgekeeperCore", "BridgekeeperJOSE"],
            exclude: ["idp_server.py"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperVerifierTests",
            dependencies: ["BridgekeeperTesting", "BridgekeeperVerifier", "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperFetch", "BridgekeeperSSF"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperCoreTests",
            dependencies: ["BridgekeeperCore"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperStoreTests",
            dependencies: ["BridgekeeperStore", "BridgekeeperStoreSQLite", "BridgekeeperAudit", "BridgekeeperCore", "BridgekeeperJOSE",
                           "BridgekeeperPolicy"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperConfigTests",
            dependencies: ["BridgekeeperConfig", "BridgekeeperCore", "BridgekeeperJOSE", "BridgekeeperPolicy", "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperKeys",
                           "BridgekeeperRevocation", "BridgekeeperSignalSettings"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperRevocationTests",
            dependencies: ["BridgekeeperEndpoint", "BridgekeeperTesting", "BridgekeeperRevocation", "BridgekeeperStore", "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperKeys", "BridgekeeperJOSE", "BridgekeeperCore",
                           "BridgekeeperAudit", "BridgekeeperPolicy", "BridgekeeperSSF", "BridgekeeperSignalSettings"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperServerTests",
            dependencies: ["BridgekeeperTesting", 
                "BridgekeeperServer", "BridgekeeperConfig", "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperKeys", "BridgekeeperHTTP", "BridgekeeperStore",
                "BridgekeeperStoreSQLite", "BridgekeeperJOSE", "BridgekeeperCore", "BridgekeeperAudit", "BridgekeeperPolicy",
                "BridgekeeperRevocation", "BridgekeeperSignalSettings",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperInteropTests",
            dependencies: ["BridgekeeperTesting", 
                "BridgekeeperServer", "BridgekeeperConfig", "BridgekeeperJOSE", "BridgekeeperCore", "BridgekeeperVerifier", "BridgekeeperVerifierFetch", "BridgekeeperFetch",
                "BridgekeeperRevocation", "BridgekeeperStore", "BridgekeeperStoreSQLite", "BridgekeeperAudit", "BridgekeeperSSF", "BridgekeeperSignalSettings",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["python"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperDemoIdPTests",
            dependencies: ["BridgekeeperTesting", "BridgekeeperDemoIdP", "BridgekeeperFetch", "BridgekeeperCore", "BridgekeeperJOSE"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperClientTests",
            dependencies: ["BridgekeeperClient", "BridgekeeperJOSE"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "bridgekeeperTests",
            dependencies: ["BridgekeeperJOSE", "BridgekeeperCore", "BridgekeeperFetch", "BridgekeeperDemoIdP", "BridgekeeperGrants", "BridgekeeperClientAuth", "BridgekeeperKeys", "bridgekeeper"],
            swiftSettings: settings
        ),
    ]
)
