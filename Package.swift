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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
        .executableTarget(
            name: "bridgekeeper",
            dependencies: [
                "BridgekeeperCore",
                "BridgekeeperJOSE",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "JOSEBenchmark",
            dependencies: ["BridgekeeperJOSE", "COpenSSL"],
            path: "Benchmarks/JOSEBenchmark",
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
            dependencies: ["BridgekeeperAudit", "BridgekeeperCore"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperPolicyTests",
            dependencies: ["BridgekeeperPolicy", "BridgekeeperCore"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperFetchTests",
            dependencies: ["BridgekeeperFetch", "BridgekeeperCore", "BridgekeeperJOSE"],
            exclude: ["idp_server.py"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "BridgekeeperCoreTests",
            dependencies: ["BridgekeeperCore"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "bridgekeeperTests",
            dependencies: ["BridgekeeperJOSE", "bridgekeeper"],
            swiftSettings: settings
        ),
    ]
)
