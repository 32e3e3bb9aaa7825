import Foundation
import GRDB
import WfloCore

/// The journal in one SQLite file (GRDB), shared safely by several `wflo` processes.
///
/// The file is opened in WAL mode with `synchronous = NORMAL` and a busy timeout, so readers
/// never block the writer and writers from other processes wait their turn. With NORMAL, a
/// committed transaction survives a crash of the process (kill -9 included); on power loss
/// or an OS crash the last transactions before the failure may be lost, but the file is never
/// corrupt. Every method is one transaction; writes that check the budget take the write lock
/// first (`BEGIN IMMEDIATE`), so the check and the insert cannot interleave with another writer.
///
/// Storage: money as exact decimal TEXT (``Money/description``), JSON as text
/// (``JSONValue/encoded(sorted:pretty:)``, read back with the exact-number parser), dates as
/// REAL seconds since 1970. Each run row carries its ledger (`settled_usd`, `reserved_usd`),
/// summed with ``Money`` in Swift and written in the same transaction as the attempt it changes.
///
/// No method waits for another process's lock on a thread of Swift's cooperative pool
/// (`JournalQueues`): a write is tried on the calling thread with SQLite told not to wait, and
/// only when the file is locked does it move to the store's dispatch queue, where it waits up to
/// the busy timeout (10 s) holding a dispatch thread, not one of the few threads every task
/// shares; reads run on a dispatch queue. GRDB's own async API is not used because it
/// turns the calling task's cancellation into an error (and interrupts SQLite): the journal
/// writes of a cancelled run (its unsettled attempts, its `cancelled` status) must still land.
///
/// ```swift
/// let store = try SQLiteJournalStore(path: SQLiteJournalStore.defaultPath(environment: ProcessInfo.processInfo.environment))
/// switch try await store.beginAttempt(start) {
/// case .started(let attemptID): ...   // make the call, then finishAttempt
/// case .refused(let ledger, let requested): ...   // no call is made
/// }
/// ```
///
/// ## Topics
/// - ``init(path:busyTimeout:)``
/// - ``inMemory()``
/// - ``defaultPath(environment:)``
/// - ``appliedMigrations()``
public struct SQLiteJournalStore: JournalStore {
    let writer: any DatabaseWriter
    private let queues: JournalQueues
    /// Where the journal lives (`:memory:` for an in-memory one).
    public let path: String
    /// Set on a view from ``fenced(runID:token:)``: every write transaction checks this lease first.
    private var fence: LeaseFence?
    /// Step results waiting to be committed together, for the unfenced store only (its copies
    /// share it; a fenced view writes its own results one by one).
    private let stepCommits = GroupCommit<StepWrite>()
    /// Reads ``changeStamp()`` on a connection of its own (nil for a journal in memory).
    let changes: ChangeWatcher?
    /// Checkpoints the write-ahead log off the writer's commits (nil for a journal in memory).
    let checkpointer: WALCheckpointer?

    /// Opens (creating if needed) the journal at `path` and brings its schema up to date.
    ///
    /// The journal holds prompts and outputs: a new one is created readable by its owner only
    /// (0600, and SQLite gives its `-wal` and `-shm` files the same mode), in a folder created
    /// 0700 when it is missing.
    /// - Throws: ``StoreError`` naming the path when it cannot be opened or migrated.
    /// - Parameter busyTimeout: how long a transaction waits for another process's lock before
    ///   it fails with ``StoreError`` `.busy`.
    public init(path: String, busyTimeout: TimeInterval = 10) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            }
            // O_EXCL: when another process creates the file first, its file is kept as it is.
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if descriptor >= 0 { closeDescriptor(descriptor) }
            var config = Configuration()
            config.busyMode = .callback(JournalQueues.busyHandler(timeout: busyTimeout))
            let checkpointer = WALCheckpointer(path: path)
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                try db.execute(sql: "PRAGMA foreign_keys = ON")
                if !db.configuration.readonly { checkpointer.install(on: db) }
            }
            // Other processes may be creating the same new file at this moment: switching it to
            // WAL can then find it locked, and GRDB reads the applied migrations before it takes
            // the write lock, so a migration the other has just applied can fail here. Each pass
            // opens and re-reads; once the other process is done, a pass finds nothing to do.
            var opened: DatabasePool?
            var attempt = 0
            while opened == nil {
                do {
                    let pool = try DatabasePool(path: path, configuration: config)
                    // A journal a newer wflo migrated is refused, never half-migrated backwards.
                    let unknown = try pool.read { db in try Schema.unknownMigrations(db) }
                    if !unknown.isEmpty {
                        throw StoreError(.database, "the journal at \(path) was written by a newer wflo (its schema has \(unknown.joined(separator: ", ")), which this wflo does not know; it knows up to \(Schema.latest)): upgrade wflo to use this journal")
                    }
                    do {
                        try Schema.migrator.migrate(pool)
                    } catch {
                        guard (try? pool.read({ try Schema.migrator.hasCompletedMigrations($0) })) == true else { throw error }
                    }
                    opened = pool
                } catch let error as StoreError {
                    throw error
                } catch {
                    attempt += 1
                    if attempt >= 50 { throw error }
                    Thread.sleep(forTimeInterval: 0.01 + 0.02 * Double.random(in: 0..<1))
                }
            }
            writer = opened!
            queues = JournalQueues(readers: config.maximumReaderCount)
            changes = ChangeWatcher(path: path)
            self.checkpointer = checkpointer
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "cannot open the journal at \(path): \(error); set WFLO_DB or --db to a writable file")
        }
    }

    private init(writer: any DatabaseWriter, path: String) {
        self.writer = writer
        self.path = path
        queues = JournalQueues()
        changes = nil
        checkpointer = nil
    }

    /// This store (same database, same queues) whose writes check `fence` first.
    func fencing(_ fence: LeaseFence) -> SQLiteJournalStore {
        var view = self
        view.fence = fence
        return view
    }

    /// A journal in memory, with the real schema: for tests.
    public static func inMemory() throws -> SQLiteJournalStore {
        let queue = try DatabaseQueue()
        try Schema.migrator.migrate(queue)
        return SQLiteJournalStore(writer: queue, path: ":memory:")
    }

    /// `WFLO_DB` when set, else `~/.wflo/wflo.db` (HOME from `environment`).
    public static func defaultPath(environment: [String: String]) -> String {
        if let path = environment["WFLO_DB"], !path.isEmpty { return path }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".wflo/wflo.db")
    }

    /// The identifiers of the schema migrations applied to this journal, oldest first.
    /// - Throws: ``StoreError`` when the journal cannot be read.
    public func appliedMigrations() throws -> [String] {
        do {
            return try writer.read { db in try Schema.migrator.appliedMigrations(db) }
        } catch {
            throw storeError(error, reading: true)
        }
    }

    /// "the journal at PATH".
    public var journalLocation: String { "the journal at \(path)" }

    // MARK: - Transactions

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction on the store's queue: the write lock is
    /// taken before the first read, so what `body` reads cannot change under it in this or
    /// another process. A `StoreError` thrown by `body` rolls back and is rethrown as is; a
    /// database error becomes a ``StoreError`` with its code (``storeError(_:reading:)``).
    /// On a fenced view the lease is checked first, in the same transaction (`.leaseLost`).
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let writer = self.writer
        let fence = self.fence
        return try await queues.write(isBusy: { ($0 as? StoreError)?.code == .busy }) { [self] in
            do {
                return try writer.writeWithoutTransaction { db in
                    // BEGIN and COMMIT as cached statements: `inTransaction` parses both again on
                    // every transaction, and a paid call makes two (perf, Benchmarks EngineBenchmark).
                    try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
                    do {
                        if let fence { try SQLiteJournalStore.checkFence(fence, db) }
                        let value = try body(db)
                        try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
                        return value
                    } catch {
                        // What failed is thrown, not a failure of the rollback (which does nothing
                        // when SQLite has already rolled back on its own).
                        try? db.rollback()
                        throw error
                    }
                }
            } catch {
                throw storeError(error, reading: false)
            }
        }
    }

    /// Runs `body` in a read-only transaction on the store's queue (a snapshot: in WAL mode it
    /// never waits for a writer).
    /// - Parameter inline: `body` is ONE statement reading a few rows by key (the server's checks
    ///   on every request). It may run on the calling thread (``JournalQueues``), and it runs
    ///   outside a transaction: one statement is its own consistent snapshot, and the read-only
    ///   transaction around it (query_only on, BEGIN, COMMIT, query_only off) was four more
    ///   statements per read, most of such a read's cost (perf, Benchmarks/server).
    func read<T: Sendable>(inline: Bool = false, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let writer = self.writer
        return try await queues.read(inline: inline, isBusy: { ($0 as? StoreError)?.code == .busy }) { [self] in
            do {
                return inline ? try writer.unsafeRead(body) : try writer.read(body)
            } catch {
                throw storeError(error, reading: true)
            }
        }
    }

    /// `error` as a ``StoreError``: SQLITE_BUSY and SQLITE_LOCKED (still locked after the busy
    /// timeout) are `.busy`, a broken constraint `.conflict`, a damaged file `.corrupt`, anything
    /// else `.database`; the database's error is kept as the cause.
    func storeError(_ error: any Error, reading: Bool) -> StoreError {
        if let error = error as? StoreError { return error }
        let doing = reading ? "read" : "written"
        if let database = error as? DatabaseError {
            switch database.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return StoreError(.busy, "the journal at \(path) could not be \(doing): another process held its lock past the busy timeout (\(database.message ?? "locked")); try again",
                                  underlying: error)
            case .SQLITE_CONSTRAINT:
                return StoreError(.conflict, "the journal at \(path) could not be \(doing): \(error)", underlying: error)
            case .SQLITE_CORRUPT, .SQLITE_NOTADB:
                return StoreError(.corrupt, "the journal at \(path) is damaged: \(error); restore it from a copy or move it away",
                                  underlying: error)
            default:
                break
            }
        }
        return StoreError(.database, "the journal at \(path) could not be \(doing): \(error)", underlying: error)
    }

    // MARK: - Runs

    public func createRun(_ run: RunRecord) async throws {
        try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [run.id]) == true {
                throw StoreError(.conflict, "a run with id \(run.id) is already in the journal at \(path)")
            }
            try RunRow.insert(db, run)
            try Self.writeTrigger(db, run)
            try Self.writeConcurrency(db, run)
        }
    }

    public func run(id: String) async throws -> RunRecord? {
        // A cached statement: compiling it again (GRDB's authorizer noting each column) was most of this read (perf).
        try await read(inline: true) { db in try RunRow.fetchOne(db.cachedStatement(sql: "\(RunRow.selectAll) WHERE id = ?"), arguments: [id])?.record() }
    }

    public func ids(matchingPrefix prefix: String, of kind: JournalIDKind, limit: Int) async throws -> [String] {
        let (table, order) = switch kind {
        case .run: ("runs", "created_at DESC, rowid DESC")
        case .approval: ("approvals", "requested_at DESC, rowid DESC")
        }
        return try await read { db -> [String] in
            if let exact = try String.fetchOne(db, sql: "SELECT id FROM \(table) WHERE id = ?", arguments: [prefix]) { return [exact] }
            return try String.fetchAll(db, sql: "SELECT id FROM \(table) WHERE substr(id, 1, length(?)) = ? ORDER BY \(order) LIMIT ?",
                                       arguments: [prefix, prefix, max(limit, 0)])
        }
    }

    public func listRuns(limit: Int) async throws -> [RunRecord] {
        try await read { db in
            try RunRow.fetchAll(db, sql: "\(RunRow.selectAll) ORDER BY created_at DESC, r.rowid DESC LIMIT ?", arguments: [max(limit, 0)])
                .map { try $0.record() }
        }
    }

    public func updateRun(id: String, status: RunStatus, outputs: JSONValue?, error: String?, at: Date) async throws {
        try await write { db in
            try db.cachedStatement(sql: "UPDATE runs SET status = ?, outputs = ?, error = ?, updated_at = ? WHERE id = ?")
                .execute(arguments: [status.rawValue, outputs?.encoded(), error, at.timeIntervalSince1970, id])
            guard db.changesCount == 1 else { throw StoreError(.notFound, "run \(id) is not in the journal at \(path)") }
            try EventRow.insert(db, .runStatus(runID: id, status: status, error: error, at: at))
        }
    }

    public func updateRunBudget(id: String, budget: Money, at: Date) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE runs SET budget_usd = ?, updated_at = ? WHERE id = ?",
                           arguments: [budget.description, at.timeIntervalSince1970, id])
            guard db.changesCount == 1 else { throw StoreError(.notFound, "run \(id) is not in the journal at \(path)") }
            try EventRow.insert(db, .budgetChanged(runID: id, budget: budget, at: at))
        }
    }

    public func appendEvent(_ event: EventRecord) async throws {
        try await write { db in try EventRow.insert(db, event) }
    }

    // MARK: - Attempts and the ledger

    /// The check and the writes run in one `BEGIN IMMEDIATE` transaction: the write lock is held
    /// before the run's ledger row (`settled_usd`, `reserved_usd`, exact decimal TEXT summed with
    /// ``Money`` in Swift, never by SQLite) is read, so neither another task nor another process
    /// sharing the file can read the same "fits" in between. The ledger row is updated in the same
    /// transaction. A refusal writes nothing.
    /// - Throws: ``StoreError`` `.notFound` when the run is not in the journal, `.database` when
    ///   the file cannot be written (e.g. still locked after the busy timeout).
    public func beginAttempt(_ start: AttemptStart) async throws -> AttemptBeginOutcome {
        try await write { db in
            let (ledger, cancelRequested, anyScopes) = try reservationState(db, runID: start.runID)
            if let refusal = try AttemptAdmission.refusal(ledger: ledger, cancelRequested: cancelRequested, reserve: start.reserve,
                                                          limits: start.limits, committedWithin: { try committed(db, runID: start.runID, limit: $0) }) {
                return refusal
            }
            var scopes = ScopeAdmission.Admitted.none
            if anyScopes {
                switch try scopeDecision(db, runID: start.runID, reserve: start.reserve, at: start.at) {
                case .refused(let refusal): return .refusedByScope(refusal)
                case .admitted(let admitted): scopes = admitted
                }
            }
            try db.cachedStatement(sql: """
                INSERT INTO attempts (run_id, step_id, number, status, model, reserved_usd, started_at)
                VALUES (?, ?, ?, 'running', ?, ?, ?)
                """).execute(arguments: [start.runID, start.stepID, start.number, start.model, start.reserve.description,
                                         start.at.timeIntervalSince1970])
            let attemptID = db.lastInsertedRowID
            if !scopes.windows.isEmpty { try writeScopeCharges(db, scopes, attemptID: attemptID) }
            try db.cachedStatement(sql: "UPDATE runs SET reserved_usd = ? WHERE id = ?")
                .execute(arguments: [ledger.reserving(start.reserve).reserved.description, start.runID])
            try db.cachedStatement(sql: """
                INSERT INTO steps (run_id, step_id, type, status, model, started_at) VALUES (?, ?, ?, 'running', ?, ?)
                ON CONFLICT (run_id, step_id) DO UPDATE SET status = 'running', model = excluded.model, error = NULL,
                    started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = NULL
                """).execute(arguments: [start.runID, start.stepID, start.stepType.rawValue, start.model, start.at.timeIntervalSince1970])
            try EventRow.insert(db, .stepStarted(start, attemptID: attemptID))
            return .started(attemptID: attemptID)
        }
    }

    /// Settles a running attempt: its reservation leaves the ledger's reserved sum and its exact
    /// cost joins the settled sum, with the step row and an event (`step_completed`, `step_failed`,
    /// or `attempt_succeeded`/`attempt_failed` when the step is not decided), in one transaction.
    ///
    /// Finishing an attempt that is no longer `running` (already finished, or marked unsettled
    /// after a crash) is ignored and changes nothing, so nothing is charged twice.
    /// - Returns: the run's ledger after the settlement, read in the same transaction.
    /// - Throws: ``StoreError`` `.notFound` when the attempt does not exist or belongs to another run.
    @discardableResult
    public func finishAttempt(_ finish: AttemptFinish) async throws -> LedgerSnapshot {
        try await write { db in
            // The attempt, its run's ledger and whether it reserved in budget windows, in one read.
            guard let row = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT a.status, a.reserved_usd, r.budget_usd, r.settled_usd, r.reserved_usd, r.stop_reason,
                       EXISTS (SELECT 1 FROM attempt_windows w WHERE w.attempt_id = a.id)
                FROM attempts a JOIN runs r ON r.id = a.run_id WHERE a.id = ? AND a.run_id = ?
                """), arguments: [finish.attemptID, finish.runID]) else {
                throw StoreError(.notFound, "attempt \(finish.attemptID) of run \(finish.runID) is not in the journal at \(path)")
            }
            let reserved = try JournalCells.money(row[1], "attempts.reserved_usd")
            let before = try Self.ledger(row, from: 2)
            guard let settlement = AttemptSettlement.settling(
                finish, current: try JournalCells.enumeration(row[0] as String, "attempts.status"),
                reserved: reserved, ledger: before) else { return before }
            if finish.unanswered {
                try db.cachedStatement(sql: "UPDATE attempts SET status = ?, error = ?, finished_at = ?, started_at = COALESCE(?, started_at) WHERE id = ?")
                    .execute(arguments: [settlement.status.rawValue, finish.error, finish.at.timeIntervalSince1970,
                                         finish.sentAt?.timeIntervalSince1970, finish.attemptID])
            } else {
                try db.cachedStatement(sql: """
                    UPDATE attempts SET status = ?, cost_usd = ?, usage = ?, error = ?, finished_at = ?, fees_usd = ?, flags = ?,
                        started_at = COALESCE(?, started_at) WHERE id = ?
                    """)
                    .execute(arguments: [settlement.status.rawValue, finish.cost.description, finish.usage?.json.encoded(),
                                         finish.error, finish.at.timeIntervalSince1970, finish.fees.isZero ? nil : finish.fees.description,
                                         finish.flags.isEmpty ? nil : JSONValue.array(finish.flags.map { .string($0) }).encoded(),
                                         finish.sentAt?.timeIntervalSince1970, finish.attemptID])
            }
            if !finish.unanswered, row[6] as Bool {
                try settleScopes(db, attemptID: finish.attemptID, reserved: reserved, cost: finish.cost)
            }
            let after = settlement.ledger
            if after != before {
                try db.cachedStatement(sql: "UPDATE runs SET reserved_usd = ?, settled_usd = ?, stop_reason = ? WHERE id = ?")
                    .execute(arguments: [after.reserved.description, after.settled.description, after.stopReason, finish.runID])
            }
            if let status = finish.stepStatus {
                try db.cachedStatement(sql: "UPDATE steps SET status = ?, output = ?, error = ?, finished_at = ? WHERE run_id = ? AND step_id = ?")
                    .execute(arguments: [status.rawValue, finish.stepOutput?.encoded(), finish.error, finish.at.timeIntervalSince1970,
                                         finish.runID, finish.stepID])
            }
            try EventRow.insert(db, settlement.event)
            return after
        }
    }

    /// One upsert of the step row through a cached prepared statement, plus the event: one
    /// transaction, no reads (this is the engine's hot path for steps that cost nothing).
    /// Results that arrive together (parallel items) share a transaction: ``GroupCommit``. A
    /// fenced view writes each alone, so no group ever mixes writes under different fences.
    public func recordStep(_ step: StepRecord, event: EventRecord?) async throws {
        if fence != nil {
            return try await write { db in try Self.recordStep(db, step, event: event) }
        }
        try await stepCommits.submit(StepWrite(step: step, event: event)) { [self] group in
            try await write { db in
                for write in group { try Self.recordStep(db, write.step, event: write.event) }
            }
        }
    }

    struct StepWrite: Sendable {
        let step: StepRecord
        let event: EventRecord?
    }

    static func recordStep(_ db: Database, _ step: StepRecord, event: EventRecord?) throws {
            try db.cachedStatement(sql: """
                INSERT INTO steps (run_id, step_id, type, status, output, error, model, started_at, finished_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id, step_id) DO UPDATE SET type = excluded.type, status = excluded.status, output = excluded.output,
                    error = excluded.error, model = COALESCE(excluded.model, steps.model),
                    started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = excluded.finished_at
                """).execute(arguments: [step.runID, step.stepID, step.type.rawValue, step.status.rawValue, step.output?.encoded(), step.error,
                                         step.model, step.startedAt?.timeIntervalSince1970, step.finishedAt?.timeIntervalSince1970])
            if let event { try EventRow.insert(db, event) }
    }

    /// The marked attempts keep their reservation in the run's reserved sum (invariant 2: when
    /// the truth is unknown the budget stays safe); an `attempts_unsettled` event records how many.
    public func markInFlightUnsettled(runID: String, at: Date) async throws -> Int {
        try await write { db in
            // Not those of a step a live helper executes as a task (its claim settles them if the helper dies).
            try db.execute(sql: """
                UPDATE attempts SET status = 'unsettled', error = ?, finished_at = ? WHERE run_id = ? AND status = 'running'
                  AND NOT EXISTS (SELECT 1 FROM step_tasks t WHERE t.run_id = attempts.run_id AND t.step_id = attempts.step_id
                                  AND t.status = 'claimed' AND t.lease_expires_at > \(Self.storeNow))
                """, arguments: [inFlightUnsettledError, at.timeIntervalSince1970, runID])
            let count = db.changesCount
            if count > 0 { try EventRow.insert(db, .attemptsUnsettled(runID: runID, count: count, at: at)) }
            return count
        }
    }

    public func journal(runID: String) async throws -> RunJournal {
        try await read { [self] db in try journal(db, runID: runID, eventKinds: nil, stepOutputs: true) }
    }

    /// A run's journal read in `db`: every event when `eventKinds` is nil, else only those of
    /// these kinds (their `data` is not even parsed otherwise); steps without outputs unless `stepOutputs`.
    /// `stepIDs`: only these steps (by the `steps` primary key), else all of them.
    func journal(_ db: Database, runID: String, eventKinds: Set<JournalEventKind>?, stepOutputs: Bool,
                 stepIDs: Set<String>? = nil) throws -> RunJournal {
        guard let run = try RunRow.fetchOne(db, sql: "\(RunRow.selectAll) WHERE id = ?", arguments: [runID])?.record() else {
            throw StoreError(.notFound, "run \(runID) is not in the journal at \(path)")
        }
        let steps = try steps(db, runID: runID, outputs: stepOutputs, ids: stepIDs)
        let attempts = try AttemptRow.fetchAll(db, sql: "SELECT * FROM attempts WHERE run_id = ? ORDER BY id", arguments: [runID])
            .map { try $0.record() }
        var events: [EventRecord] = []
        if let eventKinds {
            if !eventKinds.isEmpty {
                // Sorted, so one set of kinds is always the same statement.
                let kinds = eventKinds.map(\.rawValue).sorted()
                let marks = Array(repeating: "?", count: kinds.count).joined(separator: ", ")
                events = try EventRow.fetchAll(db, sql: "SELECT * FROM events WHERE run_id = ? AND kind IN (\(marks)) ORDER BY sequence",
                                               arguments: StatementArguments([runID] + kinds)).map { try $0.record() }
            }
        } else {
            events = try EventRow.fetchAll(db, sql: "SELECT * FROM events WHERE run_id = ? ORDER BY sequence", arguments: [runID])
                .map { try $0.record() }
        }
        let approvals = try ApprovalRow.fetchAll(db, sql: "SELECT * FROM approvals WHERE run_id = ? ORDER BY requested_at, rowid",
                                                 arguments: [runID]).map { try $0.record() }
        return RunJournal(run: run, steps: steps, attempts: attempts, events: events, approvals: approvals)
    }

    /// A run's steps, in the order of ``RunStore/journal(runID:)``: only those of `ids` when given.
    func steps(_ db: Database, runID: String, outputs: Bool, ids: Set<String>?) throws -> [StepRecord] {
        let columns = "run_id, step_id, type, status, \(outputs ? "output" : "NULL"), error, model, started_at, finished_at"
        let cursor: RowCursor
        if let ids {
            if ids.isEmpty { return [] }
            cursor = try Row.fetchCursor(db, sql: """
                SELECT \(columns) FROM steps WHERE run_id = ? AND step_id IN (SELECT value FROM json_each(?)) ORDER BY started_at, step_id
                """, arguments: [runID, JSONValue.array(ids.sorted().map { .string($0) }).encoded()])
        } else {
            cursor = try Row.fetchCursor(db.cachedStatement(sql: "SELECT \(columns) FROM steps WHERE run_id = ? ORDER BY started_at, step_id"),
                                         arguments: [runID])
        }
        var records: [StepRecord] = []
        while let row = try cursor.next() { records.append(try StepRow.record(positional: row)) }
        return records
    }

    public func ledger(runID: String) async throws -> LedgerSnapshot {
        try await read(inline: true) { db in try ledger(db, runID: runID) }
    }

    /// Spent and held by the attempts of steps `limit` covers. Checked inside every reservation's
    /// transaction, so it reads only those attempts: the range ``BudgetLimit/stepIDRange`` of the
    /// `attempts_run` index.
    private func committed(_ db: Database, runID: String, limit: BudgetLimit) throws -> Money {
        guard let range = limit.stepIDRange else {
            throw StoreError(.database, "a budget limit (\(limit.label)) names no step; limits cover the steps under one")
        }
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT status, reserved_usd, cost_usd FROM attempts WHERE run_id = ? AND step_id >= ? AND step_id < ?
            """), arguments: [runID, range.lower, range.upper])
        var total = Money.zero
        for row in rows {
            let cost = try (row["cost_usd"] as String?).map { try JournalCells.money($0, "attempts.cost_usd") }
            total += AttemptRecord.charged(status: try JournalCells.enumeration(row["status"] as String, "attempts.status"),
                                           reserved: try JournalCells.money(row["reserved_usd"], "attempts.reserved_usd"), cost: cost)
        }
        return total
    }

    /// The run's ledger row: budget, settled and reserved, kept current by every attempt change.
    private func ledger(_ db: Database, runID: String) throws -> LedgerSnapshot {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT budget_usd, settled_usd, reserved_usd, stop_reason FROM runs WHERE id = ?"),
                                         arguments: [runID]) else {
            throw StoreError(.notFound, "run \(runID) is not in the journal at \(path)")
        }
        return try Self.ledger(row, from: 0)
    }

    /// What a reservation decides on, in one read: the run's ledger, whether a cancel was asked
    /// for, and whether any budget scope exists (without one there are no windows to read).
    private func reservationState(_ db: Database, runID: String) throws -> (ledger: LedgerSnapshot, cancelRequested: Bool, anyScopes: Bool) {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT budget_usd, settled_usd, reserved_usd, stop_reason, cancel_requested_at IS NOT NULL,
                   EXISTS (SELECT 1 FROM budget_scopes) FROM runs WHERE id = ?
            """), arguments: [runID]) else {
            throw StoreError(.notFound, "run \(runID) is not in the journal at \(path)")
        }
        return (try Self.ledger(row, from: 0), row[4] as Bool, row[5] as Bool)
    }

    /// The ledger in `row`'s columns from `first` on: budget_usd, settled_usd, reserved_usd, stop_reason of `runs`.
    private static func ledger(_ row: Row, from first: Int) throws -> LedgerSnapshot {
        LedgerSnapshot(settled: try JournalCells.money(row[first + 1], "runs.settled_usd"),
                       reserved: try JournalCells.money(row[first + 2], "runs.reserved_usd"),
                       budget: try (row[first] as String?).map { try JournalCells.money($0, "runs.budget_usd") },
                       stopReason: row[first + 3])
    }
}

/// `close(2)`, named apart from the store's own `close()`.
private func closeDescriptor(_ descriptor: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(descriptor)
    #elseif canImport(Darwin)
    _ = Darwin.close(descriptor)
    #endif
}
