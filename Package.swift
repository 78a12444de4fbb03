// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "credits-ledger",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "credits-ledger", targets: ["credits-ledger"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // System libraries (installed from Debian: libsqlite3-dev, librdkafka-dev).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "Crdkafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),

        // Domain core: amounts, pricing, inputs, ledger rules, output events. No I/O.
        .target(
            name: "CreditsCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // SQLite adapter: schema, migrations, batch apply, dedupe, outbox, offsets.
        .target(
            name: "CreditsStore",
            dependencies: [
                "CreditsCore", "CSQLite", .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: strict),
        // PostgreSQL adapter: the shared store for several instances (fenced per partition).
        .target(
            name: "CreditsPostgres",
            dependencies: [
                "CreditsCore", "CreditsStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        // librdkafka adapter: consumer, producer, admin, embedded (mock) broker.
        .target(
            name: "CreditsKafka",
            dependencies: [
                "Crdkafka", "CreditsCore",
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        // The service: pipeline loop, grace timer, configuration, HTTP API and operator console.
        .target(
            name: "CreditsService",
            dependencies: [
                "CreditsCore", "CreditsStore", "CreditsPostgres", "CreditsKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            // The console's templates and style sheet, compiled into the binary (no bundle to ship).
            resources: [.embedInCode("Console/Templates")], swiftSettings: strict),
        .executableTarget(
            name: "credits-ledger",
            dependencies: [
                "CreditsService", "CreditsKafka", "CreditsStore", "CreditsCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: strict),
        // The deterministic simulator: the real pipeline and stores against a model of a Kafka
        // cluster, driven by a seed (tests and `credits-bench sim`).
        .target(
            name: "CreditsSimulation",
            dependencies: [
                "CreditsCore", "CreditsStore", "CreditsPostgres", "CreditsKafka", "CreditsService",
                .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
            ], swiftSettings: strict),
        // Benchmarks: the store against a naive baseline, and the whole pipeline on the embedded broker.
        .executableTarget(
            name: "credits-bench",
            dependencies: [
                "CreditsCore", "CreditsStore", "CSQLite", "CreditsKafka", "CreditsService", "CreditsSimulation",
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),

        // Helpers shared by the test targets (never linked into the service).
        .target(name: "CreditsTestSupport", dependencies: ["CreditsCore"], path: "Tests/Support", swiftSettings: strict),
        .testTarget(name: "CreditsCoreTests", dependencies: ["CreditsCore", "CreditsTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "CreditsStoreTests",
            dependencies: [
                "CreditsStore", "CreditsPostgres", "CreditsCore", "CreditsTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        .testTarget(
            name: "CreditsIntegrationTests",
            dependencies: [
                "CreditsService", "CreditsKafka", "CreditsStore", "CreditsPostgres", "CreditsCore",
                "CreditsTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                "credits-ledger",  // the CLI tests run the built executable
            ], swiftSettings: strict),
        .testTarget(
            name: "CreditsSimulationTests",
            dependencies: ["CreditsSimulation", "CreditsService", "CreditsStore", "CreditsTestSupport"],
            swiftSettings: strict),
        // Parses docker/ and config/ and checks them against each other (no Docker engine needed).
        .testTarget(
            name: "DeploymentTests",
            dependencies: [
                "CreditsService", .product(name: "Yams", package: "Yams"),
            ], swiftSettings: strict),
    ]
)
