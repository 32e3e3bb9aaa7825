import Foundation
import Logging
import NIOSSL
import PostgresNIO
import WfloCore

/// The journal in a PostgreSQL database, shared by every process on every machine that points
/// wflo at it (`--db postgres://…`).
///
/// The same schema and encoding as the SQLite journal (money as exact decimal TEXT summed with
/// ``Money`` in Swift, JSON as text, dates as seconds since 1970), and the same decisions: every
/// one is a rule of `JournalRules.swift`, called on what a transaction read under its locks.
/// Every write that touches a run locks that run's row first (`FOR NO KEY UPDATE`, or the
/// `UPDATE` that numbers its next event), so the budget check and the reservation of
/// ``beginAttempt(_:)`` cannot interleave with another process's, and a run's events are
/// numbered without gap. A transaction the server aborts as a serialization failure or a
/// deadlock is tried again; one still refused after that is ``StoreError`` `.busy`.
///
/// A write asked for is carried out even when the calling task is cancelled (it runs in a task
/// of its own), as the SQLite journal's: the journal writes of a cancelled run must land.
///
/// Decisions on approvals and cancel requests are pushed to waiting drivers with
/// `NOTIFY` (``notifications``), sent in the transaction that records them.
///
/// ```swift
/// let store = try await PostgresJournalStore.connect(url: "postgres://wflo@db.internal:5432/wflo")
/// defer { Task { await store.close() } }
/// ```
public final class PostgresJournalStore: JournalStore {
    /// The pool, its `run()` task and the listener: shared by the store and its fenced views,
    /// shut down when the last of them goes (or by ``close()``).
    final class Resources: Sendable {
        let client: PostgresClient
        let runTask: Task<Void, Never>
        let listener: PostgresNotifications
        /// Ledger cells this process last wrote (the one-statement paid-call writes).
        let ledgers = LedgerMemo()

        init(client: PostgresClient, runTask: Task<Void, Never>, listener: PostgresNotifications) {
            self.client = client
            self.runTask = runTask
            self.listener = listener
        }

        deinit {
            runTask.cancel()
            listener.stop()
        }
    }

    let resources: Resources
    var client: PostgresClient { resources.client }
    private var listener: PostgresNotifications { resources.listener }
    let logger: Logger
    /// The server, user and database (no password), for messages.
    public let url: PostgresURL
    /// The schema the journal's tables live in (nil: the user's default, `public`).
    public let schema: String?
    /// "postgres://USER@HOST:PORT/DB" (and "schema NAME" when one is set).
    let location: String
    /// Set on a view from ``fenced(runID:token:)``: every write transaction checks this lease first.
    let fence: LeaseFence?

    /// Pushes approval decisions and cancel requests written by any process to this one's
    /// waiters (LISTEN/NOTIFY on one connection of its own), within milliseconds of the commit;
    /// falls back to looking every `pollInterval` while that connection is down.
    public var notifications: any JournalNotifications { listener }

    /// ``notifications``: the engine's waits for decisions and cancels are woken by the server.
    public var pushNotifications: (any JournalNotifications)? { listener }

    /// Whether the listening connection is up (decisions then wake waiters at once; else they poll).
    public var isListening: Bool { listener.isListening }

    /// The channel this store's transactions `NOTIFY` on.
    var notificationChannel: String { listener.channel }

    /// "the journal at postgres://USER@HOST:PORT/DB" (never the password).
    public var journalLocation: String { "the journal at \(location)" }

    private init(resources: Resources, url: PostgresURL, schema: String?, logger: Logger, fence: LeaseFence?) {
        self.resources = resources
        self.url = url
        self.schema = schema
        self.logger = logger
        self.fence = fence
        self.location = url.redacted + (schema.map { " (schema \($0))" } ?? "")
    }

    /// This store (same pool) whose write transactions check `fence` first.
    func fencing(_ fence: LeaseFence) -> PostgresJournalStore {
        PostgresJournalStore(resources: resources, url: url, schema: schema, logger: logger, fence: fence)
    }

    /// Connects to the journal at `url` (`postgres://USER[:PASS]@HOST:PORT/DB`), creating or
    /// upgrading its schema on first use.
    ///
    /// The migrations run in one transaction that first takes a transaction-scoped advisory lock,
    /// so processes starting together migrate once: the others wait, then find nothing to do.
    /// - Parameters:
    ///   - schema: a schema of its own for the journal's tables (created when missing), e.g. one
    ///     per test; nil uses the user's default (`public`). Lowercase letters, digits and `_`.
    ///   - maximumConnections: the pool's size (the listener has one more connection of its own).
    ///   - pollInterval: how often waiters look at the journal while the listener is reconnecting.
    /// - Throws: ``StoreError`` `.database` when the URL does not parse, the server cannot be
    ///   reached or refuses the user, or the journal's schema is newer than this wflo knows.
    public static func connect(url text: String, schema: String? = nil, maximumConnections: Int = 20, pollInterval: Double = 1,
                               logger: Logger? = nil) async throws -> PostgresJournalStore {
        let url = try PostgresURL(parsing: text)
        if let schema { try validate(schema: schema) }
        let logger = logger ?? Logger(label: "wflo.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        let connector = try Connector(url: url, schema: schema, logger: logger)
        // One connection of its own first: a server that is not there or refuses the user is an
        // error now, naming the server (a pool would keep retrying in the background).
        let connection = try await connector.connect()
        do {
            try await migrate(connection, url: url, schema: schema, logger: logger)
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
        var configuration = PostgresClient.Configuration(host: url.host, port: url.port, username: url.user, password: url.password,
                                                         database: url.database, tls: connector.clientTLS)
        configuration.options.maximumConnections = max(1, maximumConnections)
        configuration.options.additionalStartupParameters = connector.startupParameters
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let runTask = Task { await client.run() }
        let listener = PostgresNotifications(connector: connector, channel: notificationChannel(schema: schema), pollInterval: pollInterval,
                                             logger: logger)
        listener.start()
        return PostgresJournalStore(resources: Resources(client: client, runTask: runTask, listener: listener), url: url, schema: schema,
                                    logger: logger, fence: nil)
    }

    /// Shuts the pool and the listening connection down. The store (and its fenced views)
    /// cannot be used afterwards. On a fenced view it does nothing: the store it came from owns
    /// the pool.
    public func close() async {
        guard fence == nil else { return }
        listener.stop()
        await listener.stopped()
        resources.runTask.cancel()
        await resources.runTask.value
    }

    /// The versions of the schema migrations applied to this journal, oldest first.
    public func appliedMigrations() async throws -> [Int] {
        try await read { connection in
            try await connection.query("SELECT version FROM wflo_migrations ORDER BY version", logger: self.logger)
                .records { try $0.decode(Int.self) }
        }
    }

    /// The channel `NOTIFY` uses for this journal (one per schema, so journals in one database do not wake each other).
    static func notificationChannel(schema: String?) -> String { "wflo_journal" + (schema.map { "_" + $0 } ?? "") }

    static func validate(schema: String) throws {
        let allowed = schema.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
        guard !schema.isEmpty, schema.count <= 50, allowed, !("0"..."9").contains(schema.unicodeScalars.first!) else {
            throw StoreError(.database, "schema name '\(schema)' is not allowed: use up to 50 lowercase letters, digits and '_', starting with a letter")
        }
    }

    // MARK: - Migrations

    /// Brings the schema up to date in one transaction under an advisory lock, or refuses a
    /// journal whose schema is newer than this binary's.
    static func migrate(_ connection: PostgresConnection, url: PostgresURL, schema: String?, logger: Logger) async throws {
        let where_ = url.redacted + (schema.map { " (schema \($0))" } ?? "")
        do {
            // Up to date (every start but the first): no lock, no DDL.
            let hasTable = try await connection.query("SELECT to_regclass('wflo_migrations') IS NOT NULL", logger: logger)
                .records { try $0.decode(Bool.self) }.first ?? false
            if hasTable {
                let applied = try await connection.query("SELECT COALESCE(MAX(version), 0) FROM wflo_migrations", logger: logger)
                    .records { try $0.decode(Int.self) }.first ?? 0
                if applied == PostgresSchema.latestVersion { return }
            }
            try await connection.query("BEGIN", logger: logger)
            let key = "wflo.migrate." + (schema ?? "public")
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(key)))", logger: logger)
            if let schema { try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger) }
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS wflo_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())
                """, logger: logger)
            let applied = try await connection.query("SELECT COALESCE(MAX(version), 0) FROM wflo_migrations", logger: logger)
                .records { try $0.decode(Int.self) }.first ?? 0
            if applied > PostgresSchema.latestVersion {
                throw StoreError(.database, """
                    the journal at \(where_) has schema version \(applied), newer than this wflo knows (\(PostgresSchema.latestVersion)): \
                    it was written by a newer wflo; upgrade wflo to use it
                    """)
            }
            for migration in PostgresSchema.migrations where migration.version > applied {
                // One round trip: the migration's statements as one anonymous block.
                try await connection.query(PostgresQuery(unsafeSQL: "DO $wflo_migration$ BEGIN\n" + migration.sql + "\nEND $wflo_migration$"),
                                           logger: logger)
                try await connection.query("INSERT INTO wflo_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                                           logger: logger)
            }
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            if let error = error as? StoreError { throw error }
            throw StoreError(.database, "cannot create or upgrade the journal at \(where_): \(PostgresErrors.describe(error))", underlying: error)
        }
    }

    // MARK: - Transactions

    /// Runs `body` in one transaction (READ COMMITTED: each statement sees what committed before
    /// it; the row locks `body` takes serialize what it reads and writes), committed when `body`
    /// returns and rolled back when it throws. A serialization failure or deadlock is tried
    /// again (up to 20 times, with a short random pause); a `StoreError` thrown by `body` is
    /// rethrown as is, a database error becomes a ``StoreError`` (``PostgresErrors``).
    ///
    /// The transaction runs in a task of its own: the caller's cancellation does not cut a
    /// journal write short.
    ///
    /// On a fenced view the lease is checked first, in the same transaction (`.leaseLost`).
    func write<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let fence = self.fence
        return try await Task {
            try await self.retrying(doing: "written") {
                try await self.transaction(begin: "BEGIN") { connection in
                    if let fence { try await self.check(fence, connection) }
                    return try await body(connection)
                }
            }
        }.value
    }

    /// How a one-statement write to run `runID` checks this view's fence in its own `WHERE`: `.some(nil)`
    /// for a view without a fence, `.some(token)` for one fenced by a lease on that run; nil when
    /// the fence is another kind (a step task's), which ``write(_:)`` checks.
    func singleStatementFence(runID: String) -> String?? {
        guard let fence else { return .some(nil) }
        return fence.stepTask == nil && fence.runID == runID ? .some(fence.token) : nil
    }

    /// ``write(_:)`` whose first statement locks run `runID`'s row and reads what a reservation or
    /// a settlement needs of it (``lockRun(_:runID:attemptID:fenceToken:)``); on a view fenced by
    /// a lease on that run, the same statement checks the lease (one round trip instead of two:
    /// these are the two writes of every paid call). Another fence is checked first, as ``write(_:)`` does.
    func writeLockingRun<T: Sendable>(_ runID: String, attemptID: Int64? = nil,
                                      _ body: @escaping @Sendable (PostgresConnection, LockedRun?) async throws -> T) async throws -> T {
        let fence = self.fence
        // The lease on this run is checked by the locking statement; another kind of fence first, on its own.
        let inStatement = singleStatementFence(runID: runID)
        return try await Task {
            try await self.retrying(doing: "written") {
                try await self.transaction(begin: "BEGIN") { connection in
                    if let fence, inStatement == nil { try await self.check(fence, connection) }
                    let locked = try await self.lockRun(connection, runID: runID, attemptID: attemptID, fenceToken: inStatement ?? nil)
                    if let fence, inStatement != nil, locked?.fenceHeld != true { throw fence.lostError }
                    return try await body(connection, locked)
                }
            }
        }.value
    }

    /// One statement (a transaction of its own), with the same retries as ``write(_:)``; on a
    /// fenced view, a transaction that checks the lease first, unless `checksFence`: the
    /// statement checks it itself (``singleStatementFence(runID:)``).
    func statement<T: Sendable>(checksFence: Bool = false, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        if fence != nil && !checksFence { return try await write(body) }
        return try await Task {
            try await self.retrying(doing: "written") { try await self.client.withConnection { connection in try await body(connection) } }
        }.value
    }

    /// Runs `body` in a read-only transaction that sees one snapshot.
    /// - Parameter oneStatement: `body` runs one statement (or statements that need no common
    ///   snapshot): it runs without a transaction around it, as one statement is its own snapshot.
    ///   BEGIN and COMMIT were two of every such read's three round trips, and a worker makes
    ///   several per run (its row, its ledger, its cancel request).
    func read<T: Sendable>(oneStatement: Bool = false, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        if oneStatement {
            return try await retrying(doing: "read") { try await self.client.withConnection { connection in try await body(connection) } }
        }
        return try await retrying(doing: "read") { try await self.transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body) }
    }

    private func transaction<T: Sendable>(begin: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: begin), logger: self.logger)
            do {
                let value = try await body(connection)
                try await connection.query("COMMIT", logger: self.logger)
                return value
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: self.logger)
                throw error
            }
        }
    }

    private func retrying<T: Sendable>(doing: String, _ work: @Sendable () async throws -> T) async throws -> T {
        var tries = 0
        while true {
            do {
                return try await work()
            } catch let error as StoreError {
                throw error
            } catch {
                tries += 1
                if PostgresErrors.isRetryable(error), tries < 20 {
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * min(tries, 10)))))
                    continue
                }
                throw PostgresErrors.storeError(error, location: location, doing: doing)
            }
        }
    }

    // MARK: - Runs

    public func createRun(_ run: RunRecord) async throws {
        try await statement { connection in
            let inserted = try await connection.query("""
                INSERT INTO runs (id, workflow_name, workflow_path, workflow_source, inputs, budget_usd, status, outputs, error, created_at, updated_at,
                                  tags, "trigger", trigger_key, trigger_at, concurrency_key, concurrency_limit, concurrency_on_conflict)
                VALUES (\(run.id), \(run.workflowName), \(run.workflowPath), \(run.workflowSource), \(run.inputs.encoded()),
                        \(run.budget?.description), \(run.status.rawValue), \(run.outputs?.encoded()), \(run.error),
                        \(run.createdAt.timeIntervalSince1970), \(run.updatedAt.timeIntervalSince1970), \(JournalCells.tagsCell(run.tags)),
                        \(JournalCells.triggerCell(run.trigger)), \(run.trigger?.kind == .schedule ? run.trigger?.key : nil),
                        \(run.trigger?.at.timeIntervalSince1970), \(run.concurrency?.key), \(run.concurrency?.limit),
                        \(run.concurrency?.onConflict.rawValue))
                ON CONFLICT (id) DO NOTHING RETURNING 1
                """, logger: self.logger).collect()
            guard !inserted.isEmpty else { throw StoreError(.conflict, "a run with id \(run.id) is already in \(self.journalLocation)") }
        }
    }

    public func run(id: String) async throws -> RunRecord? {
        try await read(oneStatement: true) { connection in
            try await connection.query("SELECT \(unescaped: RunRow.columns) FROM runs WHERE id = \(id)", logger: self.logger)
                .records(RunRow.record).first
        }
    }

    public func listRuns(limit: Int) async throws -> [RunRecord] {
        try await read(oneStatement: true) { connection in
            try await connection.query("SELECT \(unescaped: RunRow.columns) FROM runs ORDER BY created_at DESC, ord DESC LIMIT \(max(limit, 0))",
                                       logger: self.logger).records(RunRow.record)
        }
    }

    public func ids(matchingPrefix prefix: String, of kind: JournalIDKind, limit: Int) async throws -> [String] {
        let (table, order) = switch kind {
        case .run: ("runs", "created_at DESC, ord DESC")
        case .approval: ("approvals", "requested_at DESC, ord DESC")
        }
        return try await read(oneStatement: true) { connection in
            let exact = try await connection.query("SELECT id FROM \(unescaped: table) WHERE id = \(prefix)", logger: self.logger)
                .records { try $0.decode(String.self) }
            if !exact.isEmpty { return exact }
            return try await connection.query("""
                SELECT id FROM \(unescaped: table) WHERE left(id, length(\(prefix))) = \(prefix) ORDER BY \(unescaped: order) LIMIT \(max(limit, 0))
                """, logger: self.logger).records { try $0.decode(String.self) }
        }
    }

    public func updateRun(id: String, status: RunStatus, outputs: JSONValue?, error: String?, at: Date) async throws {
        if let token = singleStatementFence(runID: id) {
            // One statement, its own transaction: the run's row is updated only while the lease (if any) holds, and its event
            // numbered by the same update (a status change starts and ends every run: five round trips become one).
            let event = EventRecord.runStatus(runID: id, status: status, error: error, at: at)
            let written = try await statement(checksFence: true) { connection in
                try await connection.prepared(Hot.RunStatus.self, EventRow.inserting(event, after: """
                    WITH next AS (
                        UPDATE runs SET status = \(status.rawValue), outputs = \(outputs?.encoded()), error = \(error),
                            updated_at = \(at.timeIntervalSince1970), last_event = last_event + 1
                        WHERE id = \(id) AND (\(token)::text IS NULL OR (owner_token = \(token) AND lease_expires_at > \(unescaped: Self.storeNow)))
                        RETURNING last_event
                    )
                    """), logger: self.logger).count
            }
            if written == 0 { throw fence?.lostError ?? runNotFound(id) }
            return
        }
        try await write { connection in
            let updated = try await connection.query("""
                UPDATE runs SET status = \(status.rawValue), outputs = \(outputs?.encoded()), error = \(error),
                    updated_at = \(at.timeIntervalSince1970) WHERE id = \(id) RETURNING 1
                """, logger: self.logger).collect()
            guard !updated.isEmpty else { throw self.runNotFound(id) }
            _ = try await EventRow.insert(connection, .runStatus(runID: id, status: status, error: error, at: at), logger: self.logger)
        }
    }

    public func updateRunBudget(id: String, budget: Money, at: Date) async throws {
        try await write { connection in
            let updated = try await connection.query("""
                UPDATE runs SET budget_usd = \(budget.description), updated_at = \(at.timeIntervalSince1970) WHERE id = \(id) RETURNING 1
                """, logger: self.logger).collect()
            guard !updated.isEmpty else { throw self.runNotFound(id) }
            _ = try await EventRow.insert(connection, .budgetChanged(runID: id, budget: budget, at: at), logger: self.logger)
        }
    }

    public func appendEvent(_ event: EventRecord) async throws {
        try await statement { connection in
            guard try await EventRow.insert(connection, event, logger: self.logger) else { throw self.runNotFound(event.runID) }
        }
    }

    func runNotFound(_ id: String) -> StoreError { StoreError(.notFound, "run \(id) is not in \(journalLocation)") }

    // MARK: - Cancel requests

    public func requestCancel(runID: String, by: String, reason: String?, at: Date) async throws -> CancelRequest {
        try await write { connection in
            guard let request = try await self.requestCancel(connection, runID: runID, by: by, reason: reason, at: at) else {
                throw self.runNotFound(runID)
            }
            return request
        }
    }

    /// Journals a cancel request in `connection`'s transaction (the first request is kept) and
    /// tells the run's driver; nil for an unknown run.
    func requestCancel(_ connection: PostgresConnection, runID: String, by: String, reason: String?, at: Date) async throws -> CancelRequest? {
        guard let row = try await connection.query("""
            SELECT cancel_requested_at, cancel_by, cancel_reason FROM runs WHERE id = \(runID) FOR NO KEY UPDATE
            """, logger: self.logger).records({ try $0.decode((Double?, String?, String?).self) }).first else {
            return nil
        }
        if let first = Self.cancelRequest(row) { return first }
        let request = CancelRequest(at: at, by: by, reason: reason)
        try await connection.query("""
            UPDATE runs SET cancel_requested_at = \(at.timeIntervalSince1970), cancel_by = \(by), cancel_reason = \(reason) WHERE id = \(runID)
            """, logger: self.logger)
        _ = try await EventRow.insert(connection, .cancelRequested(runID: runID, request), logger: self.logger)
        try await PostgresNotifications.notify(connection, channel: self.notificationChannel, .cancel(runID: runID), logger: self.logger)
        return request
    }

    public func cancelRequest(runID: String) async throws -> CancelRequest? {
        try await read(oneStatement: true) { connection in
            try await connection.prepared(Hot.CancelRequest.self, "SELECT cancel_requested_at, cancel_by, cancel_reason FROM runs WHERE id = \(runID)",
                                          logger: self.logger)
                .map { try $0.decode((Double?, String?, String?).self) }.first.flatMap(Self.cancelRequest)
        }
    }

    private static func cancelRequest(_ row: (Double?, String?, String?)) -> CancelRequest? {
        guard let at = row.0 else { return nil }
        return CancelRequest(at: JournalCells.date(at), by: row.1 ?? "someone", reason: row.2)
    }

    // MARK: - Journal reads

    public func journal(runID: String) async throws -> RunJournal {
        try await read(oneStatement: true) { connection in try await self.journal(connection, runID: runID, eventKinds: nil, stepOutputs: true) }
    }

    public func journal(runID: String, eventKinds: Set<JournalEventKind>, stepOutputs: Bool) async throws -> RunJournal {
        try await read(oneStatement: true) { connection in
            try await self.journal(connection, runID: runID, eventKinds: eventKinds, stepOutputs: stepOutputs)
        }
    }

    public func journal(runID: String, eventKinds: Set<JournalEventKind>,
                        pick: @escaping @Sendable (JournalPageIndex) -> Set<String>) async throws -> RunJournal {
        try await read { connection in
            var journal = try await self.journal(connection, runID: runID, eventKinds: eventKinds, stepOutputs: false, stepIDs: [])
            let index = try await connection.query("SELECT step_id, type FROM steps WHERE run_id = \(runID)", logger: self.logger).records { row in
                let (id, type) = try row.decode((String, String).self)
                let kind: StepType = try JournalCells.enumeration(type, "steps.type")
                return (id: id, type: kind)
            }
            journal.steps = try await self.steps(connection, runID: runID, ids: pick(JournalPageIndex(run: journal.run, events: journal.events, steps: index)))
            return journal
        }
    }

    /// The steps of `ids` of a run, without outputs, in the order of ``journal(runID:)``.
    func steps(_ connection: PostgresConnection, runID: String, ids: Set<String>) async throws -> [StepRecord] {
        if ids.isEmpty { return [] }
        return try await connection.query("""
            SELECT \(unescaped: StepRow.columns(output: "NULL::text")) FROM steps WHERE run_id = \(runID) AND step_id = ANY(\(ids.sorted()))
            ORDER BY started_at NULLS FIRST, step_id COLLATE "C"
            """, logger: logger).records(StepRow.record)
    }

    /// A run's journal, in one statement (``JournalRows``): every event when `eventKinds` is nil,
    /// else only those of these kinds; steps without outputs unless `stepOutputs`; only the steps
    /// of `stepIDs` when given.
    func journal(_ connection: PostgresConnection, runID: String, eventKinds: Set<JournalEventKind>?, stepOutputs: Bool,
                 stepIDs: Set<String>? = nil) async throws -> RunJournal {
        let query = JournalRows.query(runID: runID, outputs: stepOutputs, stepIDs: stepIDs.map { $0.sorted() },
                                      kinds: eventKinds.map { $0.map(\.rawValue).sorted() })
        guard let journal = try JournalRows.journal(try await connection.prepared(Hot.Journal.self, query, logger: logger)) else {
            throw runNotFound(runID)
        }
        return journal
    }
}
