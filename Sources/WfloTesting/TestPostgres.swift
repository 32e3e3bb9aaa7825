import Foundation

/// The real PostgreSQL server tests run against: `WFLO_TEST_POSTGRES_URL` names a database on it
/// (`scripts/postgres.sh start` starts a throwaway cluster and prints it; `scripts/test.sh`, and
/// so CI, always does). Each test gets a database of its own, created with `psql` on the server's
/// `postgres` database and dropped after, so tests run in parallel without seeing each other.
public enum TestPostgres {
    /// Whether a server was given. When it was not, a test that needs one is skipped with a
    /// message, unless `WFLO_REQUIRE_POSTGRES` is set (CI), where it fails.
    public static var url: String? {
        ProcessInfo.processInfo.environment["WFLO_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static var isRequired: Bool { ProcessInfo.processInfo.environment["WFLO_REQUIRE_POSTGRES"] == "1" }

    /// Why PostgreSQL tests do not run here, or nil when they do.
    public static var unavailableReason: String? {
        url == nil ? "WFLO_TEST_POSTGRES_URL is not set: the PostgreSQL cases are skipped (eval \"$(bash scripts/postgres.sh start /tmp/pg)\" runs them)" : nil
    }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `body` with the URL of a new, empty database on the test server, dropped afterwards.
    /// - Throws: ``Unavailable`` when no server was given (callers that may skip check
    ///   ``unavailableReason`` first), or when `psql` cannot create the database.
    public static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        guard let base = url else { throw Unavailable(description: unavailableReason ?? "no PostgreSQL") }
        guard let slash = base.range(of: "/", options: .backwards), base[..<slash.lowerBound].contains("@") else {
            throw Unavailable(description: "WFLO_TEST_POSTGRES_URL '\(base)' is not postgres://USER@HOST:PORT/DB")
        }
        let server = String(base[..<slash.lowerBound])
        let name = "wflo_t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        try await psql(server + "/postgres", "CREATE DATABASE \(name)")
        do {
            let result = try await body(server + "/" + name)
            try? await psql(server + "/postgres", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            return result
        } catch {
            try? await psql(server + "/postgres", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            throw error
        }
    }

    /// Runs one statement with `psql` (a real client process).
    public static func psql(_ url: String, _ sql: String) async throws {
        let process = try SpawnedProcess(executable: "/usr/bin/psql", arguments: [url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                                         environment: ["PATH": "/usr/bin:/bin"])
        let end = await process.finish()
        if end.killedBySignal || end.status != 0 {
            throw Unavailable(description: "psql \(sql) failed (\(end.status)): \(end.stderr)")
        }
    }

    /// Runs a query with `psql` and returns its rows, one per line, columns separated by `|`.
    public static func query(_ url: String, _ sql: String) async throws -> [String] {
        let process = try SpawnedProcess(executable: "/usr/bin/psql", arguments: [url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                                         environment: ["PATH": "/usr/bin:/bin"])
        let end = await process.finish()
        if end.killedBySignal || end.status != 0 {
            throw Unavailable(description: "psql \(sql) failed (\(end.status)): \(end.stderr)")
        }
        return end.stdout.split(separator: "\n").map(String.init)
    }
}
