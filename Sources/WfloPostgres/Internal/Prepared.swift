import Logging
import PostgresNIO
import Synchronization

/// A call site of a statement on the journal's hot paths (a paid call's two writes, a worker's
/// claim and its read of the run): PostgreSQL parses and plans it once per connection instead of
/// on every execution. An unnamed statement is parsed, analysed and planned each time, which
/// was a third of the server's CPU when four workers shared two cores; prepared, the run's lock
/// statement costs the server 58 µs instead of 240.
///
/// The SQL stays where it is built (string interpolation with binds): the site keeps the text of
/// the first statement it runs as its prepared statement's, and a later statement of another
/// text runs unnamed (and fails an assertion in a debug build): a site is one fixed text.
protocol PreparedSite {
    static var statement: PreparedText { get }
}

/// A site's statement name and the SQL text it was first run with.
final class PreparedText: Sendable {
    let name: String
    private let text = Mutex<String?>(nil)

    init(_ name: String) { self.name = "wflo_" + name }

    /// Whether `sql` is this site's statement (the first text asked about becomes it).
    func holds(_ sql: String) -> Bool {
        text.withLock { text in
            guard let known = text else {
                text = sql
                return true
            }
            return known == sql
        }
    }

    var sql: String { text.withLock { $0 ?? "" } }
}

/// The statement of `Site` with one execution's binds.
struct PreparedQuery<Site: PreparedSite>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var name: String { Site.statement.name }
    static var sql: String { Site.statement.sql }
    let binds: PostgresBindings

    func makeBindings() throws -> PostgresBindings { binds }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

extension PostgresConnection {
    /// `query` as the prepared statement of `site` (prepared on this connection by its first use), its rows.
    func prepared<Site: PreparedSite>(_ site: Site.Type, _ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        guard Site.statement.holds(query.sql) else {
            assertionFailure("the prepared statement \(Site.statement.name) was run with another text")
            return try await self.query(query, logger: logger).collect()
        }
        var rows: [PostgresRow] = []
        for try await row in try await execute(PreparedQuery<Site>(binds: query.binds), logger: logger) { rows.append(row) }
        return rows
    }
}

/// The hot statements' sites (one type each: PostgresNIO names a prepared statement by its type).
enum Hot {
    enum LockRun: PreparedSite { static let statement = PreparedText("lock_run") }
    enum Reserve: PreparedSite { static let statement = PreparedText("reserve") }
    enum Settle: PreparedSite { static let statement = PreparedText("settle") }
    enum CancelRequest: PreparedSite { static let statement = PreparedText("cancel_request") }
    enum Ledger: PreparedSite { static let statement = PreparedText("ledger") }
    enum InFlight: PreparedSite { static let statement = PreparedText("in_flight") }
    enum RunStatus: PreparedSite { static let statement = PreparedText("run_status") }
    enum Journal: PreparedSite { static let statement = PreparedText("journal") }
    enum ClaimCandidate: PreparedSite { static let statement = PreparedText("claim_candidate") }
    enum Claim: PreparedSite { static let statement = PreparedText("claim") }
    enum ClaimAtOnce: PreparedSite { static let statement = PreparedText("claim_at_once") }
    enum LimitedQueues: PreparedSite { static let statement = PreparedText("limited_queues") }
    enum Release: PreparedSite { static let statement = PreparedText("release") }
    enum Renew: PreparedSite { static let statement = PreparedText("renew") }
    enum Event: PreparedSite { static let statement = PreparedText("event") }
    enum Fence: PreparedSite { static let statement = PreparedText("fence") }
    enum RecordStep: PreparedSite { static let statement = PreparedText("record_step") }
}
