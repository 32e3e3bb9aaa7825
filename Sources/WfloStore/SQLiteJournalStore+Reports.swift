import Foundation
import GRDB
import WfloCore

extension SQLiteJournalStore {
    /// The runs created at or after `since` (and before `until` when given), optionally only
    /// those of one workflow, with every attempt of those runs: read-only, one snapshot.
    ///
    /// Money comes back exact (the decimal TEXT of the journal, parsed into ``Money``); token
    /// counts are read from the usage JSON by SQLite, which only ever sums integers here. The
    /// query uses the `runs(created_at)` and `attempts(run_id, step_id)` indexes.
    ///
    /// The read is one snapshot from the store's reader connections: in WAL mode it never waits
    /// for a writer and sees only committed transactions.
    /// - Throws: ``StoreError`` `.database` when the file cannot be read; `.corrupt` when a cell does not parse.
    /// One run's journal with only the events of `eventKinds` and, unless `stepOutputs`, no step
    /// outputs: one snapshot. The kinds are filtered by SQLite, so an event not asked for is
    /// never parsed; the `events` primary key (run_id, sequence) keeps the read in the run's range.
    /// - Throws: ``StoreError`` `.notFound` for an unknown run; `.corrupt` when a cell does not parse.
    public func journal(runID: String, eventKinds: Set<JournalEventKind>, stepOutputs: Bool) async throws -> RunJournal {
        try await read { [self] db in try journal(db, runID: runID, eventKinds: eventKinds, stepOutputs: stepOutputs) }
    }

    /// One snapshot: the run and its events, two short columns of its `steps` rows, then only the
    /// picked rows (by the `steps` primary key) and every attempt.
    public func journal(runID: String, eventKinds: Set<JournalEventKind>,
                        pick: @escaping @Sendable (JournalPageIndex) -> Set<String>) async throws -> RunJournal {
        try await read { [self] db in
            var index: [(id: String, type: StepType)] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT step_id, type FROM steps WHERE run_id = ?", arguments: [runID])
            while let row = try rows.next() {
                index.append((row[0], try JournalCells.enumeration(row[1] as String, "steps.type")))
            }
            var journal = try journal(db, runID: runID, eventKinds: eventKinds, stepOutputs: false, stepIDs: [])
            journal.steps = try steps(db, runID: runID, outputs: false,
                                      ids: pick(JournalPageIndex(run: journal.run, events: journal.events, steps: index)))
            return journal
        }
    }

    public func activity(since: Date, until: Date?, workflow: String?) async throws -> RunsActivity {
        try await read { db in
            var conditions = ["r.created_at >= ?"]
            var arguments: StatementArguments = [since.timeIntervalSince1970]
            if let until {
                conditions.append("r.created_at < ?")
                arguments += [until.timeIntervalSince1970]
            }
            if let workflow {
                conditions.append("r.workflow_name = ?")
                arguments += [workflow]
            }
            let filter = conditions.joined(separator: " AND ")
            let runs = try RunRow.fetchAll(db, sql: "\(RunRow.selectAll) WHERE \(filter) ORDER BY r.created_at, r.rowid",
                                           arguments: arguments).map { try $0.record() }
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT a.id, a.run_id, a.step_id, a.number, a.status, a.model, a.reserved_usd, a.cost_usd, a.error,
                       a.started_at, a.finished_at, a.cache_hit, a.saved_usd, a.usage IS NOT NULL AS has_usage,
                       json_extract(a.usage, '$.input_tokens') AS input_tokens,
                       json_extract(a.usage, '$.cached_input_tokens') AS cached_input_tokens,
                       json_extract(a.usage, '$.cache_write_tokens') AS cache_write_tokens,
                       json_extract(a.usage, '$.cache_write_1h_tokens') AS cache_write_1h_tokens,
                       json_extract(a.usage, '$.output_tokens') AS output_tokens,
                       json_extract(a.usage, '$.reasoning_tokens') AS reasoning_tokens
                FROM attempts a JOIN runs r ON r.id = a.run_id
                WHERE \(filter)
                ORDER BY a.id
                """, arguments: arguments)
            // Costs repeat a lot (same model, same prompt sizes): parse each distinct text once.
            var amounts: [String: Money] = [:]
            func money(_ text: String, _ column: String) throws -> Money {
                if let known = amounts[text] { return known }
                let value = try JournalCells.money(text, column)
                amounts[text] = value
                return value
            }
            var attempts: [AttemptRecord] = []
            while let row = try cursor.next() {
                let usage: TokenUsage? = (row["has_usage"] as Bool) ? TokenUsage(
                    inputTokens: row["input_tokens"] ?? 0, cachedInputTokens: row["cached_input_tokens"] ?? 0,
                    cacheWriteTokens: row["cache_write_tokens"] ?? 0, cacheWrite1hTokens: row["cache_write_1h_tokens"] ?? 0,
                    outputTokens: row["output_tokens"] ?? 0, reasoningTokens: row["reasoning_tokens"] ?? 0) : nil
                let cost: String? = row["cost_usd"]
                let saved: String? = row["saved_usd"]
                attempts.append(AttemptRecord(
                    id: row["id"], runID: row["run_id"], stepID: row["step_id"], number: row["number"],
                    status: try JournalCells.enumeration(row["status"] as String, "attempts.status"), model: row["model"],
                    reserved: try money(row["reserved_usd"], "attempts.reserved_usd"),
                    cost: try cost.map { try money($0, "attempts.cost_usd") }, usage: usage, error: row["error"],
                    startedAt: Date(timeIntervalSince1970: row["started_at"]),
                    finishedAt: (row["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    cacheHit: row["cache_hit"], saved: try saved.map { try money($0, "attempts.saved_usd") }))
            }
            var agentSteps: [String: Set<String>] = [:]
            let agents = try Row.fetchCursor(db, sql: """
                SELECT s.run_id, s.step_id FROM steps s JOIN runs r ON r.id = s.run_id WHERE s.type = 'agent' AND \(filter)
                """, arguments: arguments)
            while let row = try agents.next() { agentSteps[row["run_id"], default: []].insert(row["step_id"]) }
            return RunsActivity(runs: runs, attempts: attempts, agentSteps: agentSteps)
        }
    }
}
