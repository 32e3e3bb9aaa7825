import Testing
import WfloTesting

/// The journals the CLI's end-to-end tests run against.
enum TestJournal: String, CustomTestStringConvertible, Sendable {
    case sqlite = "SQLite"
    case postgres = "PostgreSQL"

    var testDescription: String { rawValue }

    /// SQLite always; PostgreSQL when a test server is given (CI always gives one, and
    /// ``PostgresAvailabilityTests`` fails there when it is missing, or says it is skipped here).
    static var all: [TestJournal] {
        TestPostgres.url != nil || TestPostgres.isRequired ? [.sqlite, .postgres] : [.sqlite]
    }
}

struct PostgresAvailabilityTests {
    /// Shown as skipped, with the reason, when no PostgreSQL was given; fails when CI requires one
    /// and it is not there.
    @Test(.enabled(if: TestPostgres.url != nil || TestPostgres.isRequired, "WFLO_TEST_POSTGRES_URL is not set: the PostgreSQL cases are skipped (eval \"$(bash scripts/postgres.sh start /tmp/pg)\" runs them)"))
    func theTestPostgreSQLServerAnswers() async throws {
        let url = try #require(TestPostgres.url, "WFLO_REQUIRE_POSTGRES is set but WFLO_TEST_POSTGRES_URL is not")
        let rows = try await TestPostgres.query(url, "SELECT 40 + 2")
        #expect(rows == ["42"])
    }
}
