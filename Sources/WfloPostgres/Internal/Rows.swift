import Foundation
import PostgresNIO
import WfloCore

/// The journal's rows: the columns each read selects (in order) and how a row becomes a record.
/// Cells are decoded by position, so a `SELECT` always names ``columns`` of its row type.
enum RunRow {
    static let columns = """
        id, workflow_name, workflow_path, workflow_source, inputs, budget_usd, status, outputs, error, created_at, updated_at, queue, tags, "trigger", \
        concurrency_key, concurrency_limit, concurrency_on_conflict
        """

    static func record(_ row: PostgresRow) throws -> RunRecord {
        let (id, name, path, source, inputs, budget, status, outputs, error, created, updated, queue, tags, trigger, key, limit, onConflict) =
            try row.decode((String, String, String, String, String, String?, String, String?, String?, Double, Double, String?, String?, String?,
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
    static func columns(outputs: Bool) -> String {
        "run_id, step_id, type, status, \(outputs ? "output" : "NULL::text"), error, model, started_at, finished_at"
    }

    static func record(_ row: PostgresRow) throws -> StepRecord {
        let (runID, stepID, type, status, output, error, model, started, finished) =
            try row.decode((String, String, String, String, String?, String?, String?, Double?, Double?).self)
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
        let (id, runID, stepID, number, status, model, reserved, cost, usage, error, started, finished, cacheHit, saved, fees, flags) =
            try row.decode((Int64, String, String, Int, String, String?, String, String?, String?, String?, Double, Double?, Bool, String?,
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
        let (sequence, runID, stepID, kind, data, at) = try row.decode((Int64, String, String?, String, String, Double).self)
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
        let (id, runID, stepID, status, message, details, worstCase, approvers, timeout, onTimeout, requested, decidedBy, decidedAt, comment) =
            try row.decode((String, String, String, String, String, String, String?, String, Double?, String, Double, String?, Double?,
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
