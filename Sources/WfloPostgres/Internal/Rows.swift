import Foundation
import PostgresNIO
import WfloCore

/// The journal's rows: the columns each read selects (in order) and how a row becomes a record.
/// Cells are decoded by position, so a `SELECT` always names ``columns`` of its row type; a row
/// of ``JournalRows`` holds them further along (``RowCells``).
enum RunRow {
    static let columns = """
        id, workflow_name, workflow_path, workflow_source, inputs, budget_usd, status, outputs, error, created_at, updated_at, queue, tags, "trigger", \
        concurrency_key, concurrency_limit, concurrency_on_conflict
        """

    static func record(_ row: PostgresRow) throws -> RunRecord {
        var cells = RowCells(row)
        return try record(&cells)
    }

    static func record(_ cells: inout RowCells) throws -> RunRecord {
        let (id, name, path, source, inputs, budget, status, outputs, error, created, updated, queue, tags, trigger, key, limit, onConflict) =
            try cells.decode((String, String, String, String, String, String?, String, String?, String?, Double, Double, String?, String?, String?,
                            String?, Int?, String?).self)
        return RunRecord(id: id, workflowName: name, workflowPath: path, workflowSource: source,
                         inputs: try JournalCells.json(inputs, "runs.inputs"), budget: try budget.map { try JournalCells.money($0, "runs.budget_usd") },
                         status: try JournalCells.enumeration(status, "runs.status"), outputs: try outputs.map { try JournalCells.json($0, "runs.outputs") },
                         error: error, createdAt: JournalCells.date(created), updatedAt: JournalCells.date(updated), queue: queue,
                         tags: try JournalCells.tags(tags, "runs.tags"), trigger: try JournalCells.trigger(trigger, "runs.trigger"),
                         concurrency: try JournalCells.concurrency(key: key, limit: limit, onConflict: onConflict))
    }
}

enum StepRow {
    /// - Parameter output: what the output column is read as (`NULL::text` to leave outputs unread).
    static func columns(output: String) -> String {
        "run_id, step_id, type, status, \(output), error, model, started_at, finished_at"
    }

    static func record(_ row: PostgresRow) throws -> StepRecord {
        var cells = RowCells(row)
        return try record(&cells)
    }

    static func record(_ cells: inout RowCells) throws -> StepRecord {
        let (runID, stepID, type, status, output, error, model, started, finished) =
            try cells.decode((String, String, String, String, String?, String?, String?, Double?, Double?).self)
        return StepRecord(runID: runID, stepID: stepID, type: try JournalCells.enumeration(type, "steps.type"),
                          status: try JournalCells.enumeration(status, "steps.status"), output: try output.map { try JournalCells.json($0, "steps.output") },
                          error: error, model: model, startedAt: started.map(JournalCells.date), finishedAt: finished.map(JournalCells.date))
    }
}

enum AttemptRow {
    static let columns = """
        id, run_id, step_id, number, status, model, reserved_usd, cost_usd, usage, error, started_at, finished_at, cache_hit, saved_usd, \
        fees_usd, flags
        """

    /// - Parameter details: false for the read model across runs, which (as SQLite's) shows no fees or flags.
    static func record(_ row: PostgresRow, details: Bool = true) throws -> AttemptRecord {
        var cells = RowCells(row)
        return try record(&cells, details: details)
    }

    static func record(_ cells: inout RowCells, details: Bool = true) throws -> AttemptRecord {
        let (id, runID, stepID, number, status, model, reserved, cost, usage, error, started, finished, cacheHit, saved, fees, flags) =
            try cells.decode((Int64, String, String, Int, String, String?, String, String?, String?, String?, Double, Double?, Bool, String?,
                            String?, String?).self)
        return try JournalCells.attempt(id: id, runID: runID, stepID: stepID, number: number, status: status, model: model,
                                        reserved: reserved, cost: cost, usage: usage, error: error, startedAt: started,
                                        finishedAt: finished, cacheHit: cacheHit, saved: saved,
                                        fees: details ? fees : nil, flags: details ? flags : nil)
    }
}

enum EventRow {
    static let columns = "sequence, run_id, step_id, kind, data, at"

    static func record(_ row: PostgresRow) throws -> EventRecord {
        var cells = RowCells(row)
        return try record(&cells)
    }

    static func record(_ cells: inout RowCells) throws -> EventRecord {
        let (sequence, runID, stepID, kind, data, at) = try cells.decode((Int64, String, String?, String, String, Double).self)
        return EventRecord(sequence: sequence, runID: runID, stepID: stepID, kind: try JournalCells.enumeration(kind, "events.kind"),
                           data: try JournalCells.json(data, "events.data"), at: JournalCells.date(at))
    }

    /// Appends `event` as its run's next one, in one statement: the run row's `last_event` is
    /// raised (which locks the row until the transaction ends) and the event takes that number.
    /// - Returns: whether the run exists (nothing is written when it does not).
    static func insert(_ connection: PostgresConnection, _ event: EventRecord, logger: Logger) async throws -> Bool {
        let rows = try await connection.prepared(Hot.Event.self, inserting(event, after: """
            WITH next AS (UPDATE runs SET last_event = last_event + 1 WHERE id = \(event.runID) RETURNING last_event)
            """), logger: logger)
        return !rows.isEmpty
    }

    /// `prefix` — a `WITH` whose last query, `next`, raises the run's `last_event` and returns it
    /// (it may write other rows and run columns in the same statement) — followed by the insert of
    /// `event` numbered by it, returning a row when it was written (none when `next` updated no run).
    static func inserting(_ event: EventRecord, after prefix: PostgresQuery) -> PostgresQuery {
        appending(event, data: [event.data.encoded()], to: prefix)
    }

    /// ``inserting(_:after:)`` that fails the whole statement (division by zero, SQLSTATE 22012)
    /// when `next` returned its row but the prefix's `WITH` query `attempt` returned none: the
    /// statement then changes nothing, its sub-statements all or none.
    static func inserting(_ event: EventRecord, after prefix: PostgresQuery, requiringOneRowOf attempt: String) -> PostgresQuery {
        appending(event, data: [event.data.encoded()], to: prefix, sequence: "next.last_event / (SELECT count(*) FROM \(attempt))")
    }

    /// ``inserting(_:after:)`` for an event whose data names an attempt inserted by the same
    /// statement: `event` is built with attempt id 0, and its `"attempt_id":0` is replaced by the
    /// id the `WITH` query `attempt` returns (the encoding is compact with sorted keys, so the
    /// key occurs once and string values cannot hold it unescaped). Returns the attempt's id.
    static func inserting(_ event: EventRecord, namingAttemptOf prefix: PostgresQuery) throws -> PostgresQuery {
        let data = event.data.encoded()
        let marker = "\"attempt_id\":0"
        guard let range = data.range(of: marker), data.range(of: marker, range: range.upperBound..<data.endIndex) == nil else {
            throw StoreError(.database, "the \(event.kind.rawValue) event names no attempt id to fill in: \(data)")
        }
        return appending(event, data: [String(data[..<range.lowerBound]) + "\"attempt_id\":", String(data[range.upperBound...])], to: prefix)
    }

    /// `prefix` and the insert of `event` numbered by its `next`: `data` is the event's JSON whole,
    /// or in two parts to join around the id of the `attempt` the prefix inserts.
    private static func appending(_ event: EventRecord, data: [String], to prefix: PostgresQuery,
                                  sequence: String = "next.last_event") -> PostgresQuery {
        var query = prefix
        let first = query.binds.count + 1
        query.binds.append(event.runID)
        query.binds.append(event.stepID)
        query.binds.append(event.kind.rawValue)
        for part in data { query.binds.append(part) }
        query.binds.append(event.at.timeIntervalSince1970)
        let namesAttempt = data.count == 2
        let dataSQL = namesAttempt ? "$\(first + 3)::text || attempt.id::text || $\(first + 4)::text" : "$\(first + 3)"
        query.sql += """

            INSERT INTO events (run_id, sequence, step_id, kind, data, at)
            SELECT $\(first), \(sequence), $\(first + 1), $\(first + 2), \(dataSQL), $\(first + 3 + data.count)
            FROM \(namesAttempt ? "next, attempt" : "next") RETURNING \(namesAttempt ? "(SELECT id FROM attempt)" : "1")
            """
        return query
    }
}

enum ApprovalRow {
    static let columns = """
        id, run_id, step_id, status, message, details, worst_case_usd, approvers, timeout_seconds, on_timeout, requested_at, decided_by, \
        decided_at, comment
        """

    static func record(_ row: PostgresRow) throws -> ApprovalRecord {
        var cells = RowCells(row)
        return try record(&cells)
    }

    static func record(_ cells: inout RowCells) throws -> ApprovalRecord {
        let (id, runID, stepID, status, message, details, worstCase, approvers, timeout, onTimeout, requested, decidedBy, decidedAt, comment) =
            try cells.decode((String, String, String, String, String, String, String?, String, Double?, String, Double, String?, Double?,
                            String?).self)
        guard case .array(let items) = try JournalCells.json(approvers, "approvals.approvers") else {
            throw StoreError(.corrupt, "approvals.approvers holds '\(approvers)', not a JSON list; the journal was edited or is damaged")
        }
        let settings = ApprovalSettings(approvers: items.compactMap(\.stringValue), timeout: timeout,
                                        onTimeout: try JournalCells.enumeration(onTimeout, "approvals.on_timeout"))
        return ApprovalRecord(id: id, runID: runID, stepID: stepID, status: try JournalCells.enumeration(status, "approvals.status"),
                              message: message, details: try JournalCells.json(details, "approvals.details"),
                              worstCase: try worstCase.map { try JournalCells.money($0, "approvals.worst_case_usd") },
                              settings: settings, requestedAt: JournalCells.date(requested), decidedBy: decidedBy,
                              decidedAt: decidedAt.map(JournalCells.date), comment: comment)
    }
}

enum CircuitRow {
    static let columns = "host, state, failures, opened_at, open_until, probe_started_at, last_error, updated_at"

    static func record(_ row: PostgresRow) throws -> CircuitRecord {
        let (host, state, failures, openedAt, openUntil, probeStartedAt, lastError, updatedAt) =
            try row.decode((String, String, String, Double?, Double?, Double?, String?, Double).self)
        let times = try JournalCells.json(failures, "circuits.failures").arrayValue ?? []
        return CircuitRecord(host: host, state: try JournalCells.enumeration(state, "circuits.state"),
                             failures: times.compactMap { $0.doubleValue.map(JournalCells.date) }, openedAt: openedAt.map(JournalCells.date),
                             openUntil: openUntil.map(JournalCells.date), probeStartedAt: probeStartedAt.map(JournalCells.date),
                             lastError: lastError, updatedAt: JournalCells.date(updatedAt))
    }

    /// Inserts or replaces the row of `record.host`.
    static func save(_ connection: PostgresConnection, _ record: CircuitRecord, logger: Logger) async throws {
        let failures = JSONValue.array(record.failures.map { .double($0.timeIntervalSince1970) }).encoded()
        try await connection.query("""
            INSERT INTO circuits (host, state, failures, opened_at, open_until, probe_started_at, last_error, updated_at)
            VALUES (\(record.host), \(record.state.rawValue), \(failures), \(record.openedAt?.timeIntervalSince1970),
                    \(record.openUntil?.timeIntervalSince1970), \(record.probeStartedAt?.timeIntervalSince1970), \(record.lastError),
                    \(record.updatedAt.timeIntervalSince1970))
            ON CONFLICT (host) DO UPDATE SET state = excluded.state, failures = excluded.failures, opened_at = excluded.opened_at,
                open_until = excluded.open_until, probe_started_at = excluded.probe_started_at, last_error = excluded.last_error,
                updated_at = excluded.updated_at
            """, logger: logger)
    }
}

extension PostgresRowSequence {
    /// Every row, as records.
    func records<T>(_ transform: (PostgresRow) throws -> T) async throws -> [T] {
        var result: [T] = []
        for try await row in self { result.append(try transform(row)) }
        return result
    }
}

/// A row's cells from a position on, decoded in order as `PostgresRow.decode` decodes a row's
/// from its first: a record type's cells may sit further along a wider row (``JournalRows``).
struct RowCells {
    private var cells: PostgresRow.Iterator

    init(_ row: PostgresRow, from position: Int = 0) {
        cells = row.makeIterator()
        for _ in 0..<position { _ = cells.next() }
    }

    mutating func decode<each Column: PostgresDecodable>(_ columns: (repeat each Column).Type) throws -> (repeat each Column) {
        (repeat try next((each Column).self))
    }

    private mutating func next<Column: PostgresDecodable>(_ column: Column.Type) throws -> Column {
        guard let cell = cells.next() else {
            throw StoreError(.database, "a journal row has fewer cells than its \(Column.self) column needs (a statement and its decoding disagree)")
        }
        return try cell.decode(Column.self)
    }
}

/// A run's journal read in one statement — one snapshot and one round trip. A read-only
/// transaction with a statement for each table took seven (BEGIN, five reads, COMMIT), and a
/// worker reads its run's journal for every run it claims.
///
/// The rows of the five tables come as one result: each row starts with its ``Part`` and three
/// sort keys, then holds every table's columns (``RunRow/columns``, ``StepRow``'s, … in that
/// order), its own filled and the others NULL. A first branch that returns no row types every
/// column from its table (a `UNION` resolves an untyped NULL by the branches before it).
enum JournalRows {
    enum Part: Int {
        case run, step, attempt, event, approval
    }

    /// Each part's columns, in the order of ``Part`` (a step's output is read when `$2` is true),
    /// and how many each is (no column expression holds a comma).
    private static let columns = [RunRow.columns, StepRow.columns(output: "CASE WHEN $2 THEN output END"), AttemptRow.columns,
                                  EventRow.columns, ApprovalRow.columns]
    private static let widths = columns.map { $0.split(separator: ",").count }
    /// Where each part's columns start in a row: after its part and three sort keys, and the parts before it.
    private static let positions = widths.indices.map { 4 + widths.prefix($0).reduce(0, +) }

    /// The statement: run `runID`'s row, its steps (with outputs when `outputs`; only those of
    /// `stepIDs` when given), attempts, events (only those of `kinds` when given) and approvals, each
    /// table's rows in the order of its own read.
    static func query(runID: String, outputs: Bool, stepIDs: [String]?, kinds: [String]?) -> PostgresQuery {
        var binds = PostgresBindings()
        binds.append(runID)
        binds.append(outputs)
        binds.append(stepIDs)
        binds.append(kinds)
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    /// The text of ``query(runID:outputs:stepIDs:kinds:)``, made once: `$1` the run, `$2` outputs, `$3` step ids, `$4` event kinds.
    private static let sql: String = {
        func branch(_ part: Part, keys: String, selecting: String, from table: String) -> String {
            let before = Array(repeating: "NULL", count: widths.prefix(part.rawValue).reduce(0, +))
            let after = Array(repeating: "NULL", count: widths.dropFirst(part.rawValue + 1).reduce(0, +))
            return "SELECT " + ([String(part.rawValue), keys] + before + [selecting] + after).joined(separator: ", ") + " FROM " + table
        }
        let tables = ["runs", "steps", "attempts", "events", "approvals"]
        let typed = columns.enumerated().map { "(SELECT \($0.element) FROM \(tables[$0.offset])) t\($0.offset)" }
        return """
            SELECT * FROM (
                SELECT 0 AS part, NULL::float8 AS k_float, NULL::text AS k_text, NULL::int8 AS k_int, t0.*, t1.*, t2.*, t3.*, t4.*
                FROM \(typed.joined(separator: ", ")) WHERE false
                UNION ALL \(branch(.run, keys: "NULL, NULL, NULL", selecting: columns[0], from: "runs WHERE id = $1"))
                UNION ALL \(branch(.step, keys: "started_at, step_id, NULL", selecting: columns[1],
                                   from: "steps WHERE run_id = $1 AND ($3::text[] IS NULL OR step_id = ANY($3))"))
                UNION ALL \(branch(.attempt, keys: "NULL, NULL, id", selecting: columns[2], from: "attempts WHERE run_id = $1"))
                UNION ALL \(branch(.event, keys: "NULL, NULL, sequence", selecting: columns[3],
                                   from: "events WHERE run_id = $1 AND ($4::text[] IS NULL OR kind = ANY($4))"))
                UNION ALL \(branch(.approval, keys: "requested_at, NULL, ord", selecting: columns[4], from: "approvals WHERE run_id = $1"))
            ) journal
            ORDER BY part, k_float NULLS FIRST, k_text COLLATE "C", k_int
            """
    }()

    /// The journal in `rows` (the rows of ``query(runID:outputs:stepIDs:kinds:)``); nil when the run's row is not among them.
    static func journal(_ rows: [PostgresRow]) throws -> RunJournal? {
        var run: RunRecord?
        var steps: [StepRecord] = [], attempts: [AttemptRecord] = [], events: [EventRecord] = [], approvals: [ApprovalRecord] = []
        for row in rows {
            let number = try row.decode(Int.self)
            guard let part = Part(rawValue: number) else {
                throw StoreError(.database, "a journal row of part \(number), which no table is (a statement and its decoding disagree)")
            }
            var cells = RowCells(row, from: positions[part.rawValue])
            switch part {
            case .run: run = try RunRow.record(&cells)
            case .step: steps.append(try StepRow.record(&cells))
            case .attempt: attempts.append(try AttemptRow.record(&cells))
            case .event: events.append(try EventRow.record(&cells))
            case .approval: approvals.append(try ApprovalRow.record(&cells))
            }
        }
        return run.map { RunJournal(run: $0, steps: steps, attempts: attempts, events: events, approvals: approvals) }
    }
}
