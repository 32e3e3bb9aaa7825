// swift-tools-version:6.2
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its folder: whatever the clone of wflo is called.
let wfloFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// Benchmarks live in their own package so `swift build` and `swift test` of wflo never compile them.
// Run: cd Benchmarks && swift run -c release EngineBenchmark
let package = Package(
    name: "wflo-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmark",
            dependencies: [
                .product(name: "Wflo", package: wfloFolder),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Run: cd Benchmarks && swift run -c release CacheBenchmark
        .executableTarget(
            name: "CacheBenchmark",
            dependencies: [
                .product(name: "Wflo", package: wfloFolder),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Run: (in wflo) swift build -c release --product wflo-sandbox-launcher; cd Benchmarks && swift run -c release SandboxBenchmark
        .executableTarget(
            name: "SandboxBenchmark",
            dependencies: [.product(name: "WfloSandbox", package: wfloFolder)],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Run: cd Benchmarks && swift run -c release ScaleBenchmark
        .executableTarget(
            name: "ScaleBenchmark",
            dependencies: [.product(name: "Wflo", package: wfloFolder)],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Run: cd Benchmarks && python3 -m venv .venv && .venv/bin/pip install aiohttp && swift run -c release ParallelBenchmark
        .executableTarget(
            name: "ParallelBenchmark",
            dependencies: [.product(name: "Wflo", package: wfloFolder)],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Run: cd Benchmarks && swift run -c release ReportBenchmark
        .executableTarget(
            name: "ReportBenchmark",
            dependencies: [.product(name: "Wflo", package: wfloFolder)],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Run: (in wflo) swift build -c release --product wflo; cd Benchmarks && swift run -c release StartupBenchmark
        // Run: cd Benchmarks && swift run -c release ValidateBenchmark
        .executableTarget(
            name: "ValidateBenchmark",
            dependencies: [.product(name: "Wflo", package: wfloFolder), .product(name: "Yams", package: "Yams")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Run: bash postgres.sh (a throwaway PostgreSQL, the DBOS venv, this target in release)
        .executableTarget(
            name: "PostgresBenchmark",
            dependencies: [.product(name: "Wflo", package: wfloFolder), .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Run: cd Benchmarks && swift run -c release ScopeBenchmark
        .executableTarget(
            name: "ScopeBenchmark",
            dependencies: [.product(name: "Wflo", package: wfloFolder)],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Run: cd Benchmarks && swift run -c release TelemetryBenchmark
        .executableTarget(
            name: "TelemetryBenchmark",
            dependencies: [.product(name: "Wflo", package: wfloFolder), .product(name: "WfloTelemetry", package: wfloFolder)],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "StartupBenchmark",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
