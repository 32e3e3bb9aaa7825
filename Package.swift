// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    // Existentials are spelled `any P`, as Hummingbird does: the cost of a protocol type is visible.
    .enableUpcomingFeature("ExistentialAny"),
]

var targets: [Target] = [
    // Definitions, money, JSON values, templates, the journal protocol. Foundation only.
    .target(name: "WfloCore", swiftSettings: swiftSettings),
    // LiteLLM-compatible pricing table, exact cost of usage, worst-case estimate.
    .target(name: "WfloPricing", dependencies: ["WfloCore"], swiftSettings: swiftSettings),
    // The journal in SQLite (GRDB). The only place SQL lives.
    .target(name: "WfloStore", dependencies: [
            "WfloCore",
            .product(name: "GRDB", package: "GRDB.swift"),
            // SQLite's C API, for the one hook GRDB has no call for (the WAL's, ``WALCheckpointer``).
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ], swiftSettings: swiftSettings),
    // The journal in PostgreSQL (postgres-nio), for many processes on many machines. All of its SQL lives here.
    .target(name: "WfloPostgres", dependencies: [
            "WfloCore",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
    // LLM clients (OpenAI-compatible, Anthropic) as pure wire formats over a transport protocol,
    // record/replay, the response cache's keys. No NIO: the engine links only this.
    .target(name: "WfloProviders", dependencies: [
            "WfloCore",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),
    // The network transports (AsyncHTTPClient on NIO) behind WfloProviders' protocols; only the
    // composition root (WfloApp) and tests that talk to loopback servers link it.
    .target(name: "WfloHTTP", dependencies: [
            "WfloCore", "WfloProviders",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
    // The sandbox: the runner (process, namespaces, docker backends) and its launcher, a small C
    // program that applies rlimits, an unprivileged uid, Landlock and the seccomp policy, then execs.
    .target(name: "CWfloSandbox"),
    .target(name: "WfloSandbox", dependencies: ["WfloCore", "CWfloSandbox"], swiftSettings: swiftSettings),
    // Linked as needed: the C launcher uses none of the Swift runtime SwiftPM links by default,
    // and loading it would cost each launch milliseconds.
    .executableTarget(name: "wflo-sandbox-launcher", linkerSettings: [.linkedLibrary("seccomp"), .unsafeFlags(["-static-executable"])]),
    // YAML -> definitions, validation with line numbers.
    .target(name: "WfloDSL", dependencies: [
            "WfloCore",
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: swiftSettings),
    // The executor: scheduling, replay, budget governor, retries.
    .target(name: "WfloEngine", dependencies: [
            "WfloCore", "WfloPricing", "WfloProviders", "WfloSandbox",
            // The light API packages only: spans and metrics are no-ops until a composition root bootstraps them.
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
    // The exporters (spans: OTLP/HTTP protobuf of its own; metrics: swift-otel; Prometheus text), linked only by the composition root.
    .target(name: "WfloTelemetry", dependencies: [
            "WfloCore",
            .product(name: "OTel", package: "swift-otel"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
    // Cost breakdowns and run summaries.
    .target(name: "WfloReports", dependencies: ["WfloCore"], swiftSettings: swiftSettings),
    // The application layer every front end shares: the one composition root (journal, prices,
    // transports, secrets, egress, cassettes) and the run, approval and report services.
    .target(name: "WfloApp", dependencies: [
            "WfloCore", "WfloPricing", "WfloStore", "WfloPostgres", "WfloProviders", "WfloHTTP", "WfloEngine", "WfloDSL", "WfloReports",
            // HMAC for signed approval links, and API token hashes.
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: swiftSettings),
    // The commands (parse, call a service, print); the executable below is only @main.
    .target(name: "WfloCLI", dependencies: [
            "WfloApp", "WfloServer", "WfloCore", "WfloPricing", "WfloStore", "WfloProviders", "WfloEngine", "WfloDSL", "WfloReports", "WfloSandbox",
            "WfloTelemetry",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Tracing", package: "swift-distributed-tracing"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
    .executableTarget(name: "wflo", dependencies: ["WfloCLI"], swiftSettings: swiftSettings),
    // `wflo server`: the /v1 JSON API, the dashboard and approval notifications on Hummingbird 2. Handlers call
    // WfloApp's services; only this target (and the CLI that starts it) links Hummingbird.
    .target(name: "WfloServer", dependencies: [
            "WfloApp", "WfloCore", "WfloEngine", "WfloReports",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
    // Workflows built and run from Swift: typed steps, a result builder, the runtime.
    .target(name: "WfloKit", dependencies: ["WfloApp", "WfloCore", "WfloPricing", "WfloStore", "WfloProviders", "WfloEngine"], swiftSettings: swiftSettings),
    // Examples/swift-api: the brief built in Swift, run offline from its cassette.
    .executableTarget(name: "wflo-swift-example", dependencies: ["WfloKit"], path: "Examples/swift-api", swiftSettings: swiftSettings),
    // Examples/swift-durable: a durable Swift function (ctx.step, ctx.llm, approval, sleep, forEach), offline from its cassette.
    .executableTarget(name: "wflo-durable-example", dependencies: ["WfloKit"], path: "Examples/swift-durable", exclude: ["cassette.json"],
                      swiftSettings: swiftSettings),
    // Local servers speaking the providers' wire formats, shared by test targets.
    .target(name: "WfloTesting", dependencies: [
            "WfloCore", "CWfloSandbox",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: swiftSettings),
    .testTarget(name: "WfloCoreTests", dependencies: ["WfloCore"], swiftSettings: swiftSettings),
    .testTarget(name: "WfloPricingTests", dependencies: ["WfloPricing"], exclude: ["Fixtures"], swiftSettings: swiftSettings),
    .testTarget(name: "WfloStoreTests", dependencies: ["WfloStore", "WfloPostgres", "WfloTesting", .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio")], swiftSettings: swiftSettings),
    .testTarget(name: "WfloProvidersTests", dependencies: ["WfloProviders", "WfloHTTP", "WfloTesting"], swiftSettings: swiftSettings),
    .testTarget(name: "WfloDSLTests", dependencies: ["WfloDSL", "WfloTesting", .product(name: "Yams", package: "Yams")], swiftSettings: swiftSettings),
    .testTarget(name: "WfloEngineTests", dependencies: ["WfloEngine", "WfloHTTP", "WfloStore", "WfloDSL", "WfloReports", "WfloTesting"], swiftSettings: swiftSettings),
    .testTarget(name: "WfloCLITests", dependencies: ["WfloCLI", "WfloApp", "WfloStore", "WfloTesting", "WfloTelemetry",
            .product(name: "AsyncHTTPClient", package: "async-http-client")], exclude: ["Browser"], swiftSettings: swiftSettings),
    .testTarget(name: "WfloAppTests", dependencies: ["WfloApp", "WfloCore", "WfloDSL", "WfloEngine", "WfloPricing", "WfloReports", "WfloStore", "WfloTesting", "WfloHTTP", "WfloProviders"], swiftSettings: swiftSettings),
    .testTarget(name: "WfloServerTests", dependencies: [
            "WfloServer", "WfloApp", "WfloCore", "WfloStore", "WfloTesting",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], swiftSettings: swiftSettings),
    .testTarget(name: "WfloKitTests", dependencies: ["WfloKit", "WfloTesting"], swiftSettings: swiftSettings),
    .testTarget(name: "WfloSandboxTests", dependencies: ["WfloSandbox", "WfloCore"], swiftSettings: swiftSettings),
    .testTarget(name: "WfloReportsTests", dependencies: ["WfloReports", "WfloStore", "WfloCore"], swiftSettings: swiftSettings),
    .testTarget(name: "WfloTelemetryTests", dependencies: ["WfloTelemetry", "WfloEngine"], swiftSettings: swiftSettings),
]

// While several people work on separate modules, WFLO_DEV_TARGETS=A,B,… builds only those.
if let only = Context.environment["WFLO_DEV_TARGETS"] {
    let names = Set(only.split(separator: ",").map(String.init))
    targets = targets.filter { names.contains($0.name) }
}

let package = Package(
    name: "wflo",
    platforms: [.macOS(.v15)],
    products: Context.environment["WFLO_DEV_TARGETS"] != nil ? [] : [
        .executable(name: "wflo", targets: ["wflo"]),
        .executable(name: "wflo-sandbox-launcher", targets: ["wflo-sandbox-launcher"]),
        // The sandbox alone (core and the runner), for programs that need no engine.
        .library(name: "WfloSandbox", targets: ["WfloSandbox"]),
        // The exporters (OTLP/HTTP, Prometheus), for programs that embed the engine and want its telemetry.
        .library(name: "WfloTelemetry", targets: ["WfloTelemetry"]),
        .library(name: "Wflo", targets: ["WfloCore", "WfloPricing", "WfloStore", "WfloPostgres", "WfloProviders", "WfloHTTP", "WfloEngine", "WfloDSL", "WfloReports",
                                          "WfloSandbox", "WfloApp", "WfloKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
        // The server; swift-configuration support is not used, so its trait is off.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // OTLP/HTTP only: the default traits would also build gRPC (grpc-swift-2, its NIO transport, HTTP/2).
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: targets
)
