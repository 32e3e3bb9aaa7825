import Foundation
import Logging
import PostgresNIO
import Testing
import WfloCore
import WfloPostgres
import WfloTesting

/// The store tests' PostgreSQL journals on the server of ``TestPostgres`` (`WFLO_TEST_POSTGRES_URL`):
/// each test gets a schema of its own on that database, dropped after, so tests run in parallel
/// (a schema costs less than the database per test the CLI tests use).
///
/// Without the URL the PostgreSQL cases are skipped, and say so (``skipReason``), unless
/// `WFLO_REQUIRE_POSTGRES=1`: then they run and fail, saying the URL is missing.
enum PostgresTestJournal {
    static var url: String? { TestPostgres.url }
    /// Whether the PostgreSQL cases run (and fail without a server when required).
    static let enabled = TestPostgres.url != nil || TestPostgres.isRequired
    static let skipReason: Comment = """
        WFLO_TEST_POSTGRES_URL is unset: the PostgreSQL journal's tests and conformance cases are skipped \
        (start a server with `eval "$(bash scripts/postgres.sh start /tmp/pg)"`, or set WFLO_REQUIRE_POSTGRES=1 to fail instead)
        """

    static func requireURL() throws -> String {
        guard let url else {
            throw StoreError(.database, "WFLO_REQUIRE_POSTGRES=1 but WFLO_TEST_POSTGRES_URL is unset: start a server with scripts/postgres.sh")
        }
        return url
    }

    /// A schema name no other test uses.
    static func freshSchema() -> String { "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20) }

    /// Runs `body` with a store on a fresh schema, then closes it and drops the schema.
    static func withStore<T>(maximumConnections: Int = 6, _ body: (PostgresJournalStore) async throws -> T) async throws -> T {
        try await withSchema { schema in
            let store = try await PostgresJournalStore.connect(url: try requireURL(), schema: schema, maximumConnections: maximumConnections)
            do {
                let result = try await body(store)
                await store.close()
                return result
            } catch {
                await store.close()
                throw error
            }
        }
    }

    /// Runs `body` with a fresh schema name, dropping the schema after.
    static func withSchema<T>(_ body: (String) async throws -> T) async throws -> T {
        let schema = freshSchema()
        do {
            let result = try await body(schema)
            try await execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
            return result
        } catch {
            _ = try? await execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
            throw error
        }
    }

    /// Runs SQL the store would never run (a journal from a newer wflo, a dropped connection) on
    /// a connection of its own.
    @discardableResult
    static func execute(_ sql: String) async throws -> [PostgresRow] {
        let parsed = try PostgresURL(parsing: try requireURL())
        let configuration = PostgresConnection.Configuration(host: parsed.host, port: parsed.port, username: parsed.user,
                                                             password: parsed.password, database: parsed.database, tls: .disable)
        let logger = Logger(label: "wflo.tests", factory: { _ in SwiftLogNoOpLogHandler() })
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
            try await connection.close()
            return rows
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
