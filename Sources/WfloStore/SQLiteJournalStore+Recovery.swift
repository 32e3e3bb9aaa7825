import Foundation
import GRDB
import WfloCore

/// Dead letters, forks and garbage collection (``RecoveryStore``).
extension SQLiteJournalStore {
    public func failedRuns(since: Date?, workflow: String?, limit: Int) async throws -> [DeadLetter] {
        try await read { db in
            // The step that failed first, by when it ended; its error, else the run's.
            try Row.fetchAll(db, sql: """
                SELECT r.*, d.workflow_source, d.inputs,
                    (SELECT s.step_id FROM steps s WHERE s.run_id = r.id AND s.status = 'failed'
                        ORDER BY s.finished_at IS NULL, s.finished_at, s.step_id LIMIT 1) AS failed_step,
                    (SELECT s.error FROM steps s WHERE s.run_id = r.id AND s.status = 'failed'
                        ORDER BY s.finished_at IS NULL, s.finished_at, s.step_id LIMIT 1) AS failed_error
                FROM runs r JOIN run_documents d ON d.run_id = r.id
                WHERE r.status = 'failed' AND (? IS NULL OR r.created_at >= ?) AND (? IS NULL OR r.workflow_name = ?)
                ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?
                """, arguments: [since?.timeIntervalSince1970, since?.timeIntervalSince1970, workflow, workflow, max(limit, 0)]).map { row in
                let run = try RunRow(row: row).record()
                let step: String? = row["failed_step"]
                let error: String? = row["failed_error"]
                return DeadLetter(run: run, failedStep: step, reason: error ?? run.error)
            }
        }
    }

    public func createForkedRun(_ run: RunRecord, events: [EventRecord], reused: [StepRecord]) async throws {
        try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [run.id]) == true {
                throw StoreError(.conflict, "a run with id \(run.id) is already in the journal at \(path)")
            }
            try RunRow.insert(db, run)
            try Self.writeConcurrency(db, run)
            for step in reused {
                try db.cachedStatement(sql: """
                    INSERT INTO steps (run_id, step_id, type, status, output, error, model, started_at, finished_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [run.id, step.stepID, step.type.rawValue, step.status.rawValue, step.output?.encoded(), step.error,
                                             step.model, step.startedAt?.timeIntervalSince1970, step.finishedAt?.timeIntervalSince1970])
            }
            for event in events { try EventRow.insert(db, event) }
        }
    }

    public func collectGarbage(finishedBefore before: Date, dryRun: Bool, at: Date) async throws -> CollectionSummary {
        let finished = "status IN ('completed', 'failed', 'budget_exceeded', 'rejected', 'cancelled') AND updated_at < ?"
        let cutoff = before.timeIntervalSince1970
        let count: @Sendable (Database) throws -> CollectionSummary = { db in
            let ids = "SELECT id FROM runs WHERE \(finished)"
            // A run collected before keeps its marker event only: it is not counted again.
            let marked = "NOT EXISTS (SELECT 1 FROM events m WHERE m.run_id = runs.id AND m.kind = 'run_collected')"
            let runs = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs WHERE \(finished) AND \(marked)", arguments: [cutoff]) ?? 0
            let steps = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM steps WHERE run_id IN (\(ids))", arguments: [cutoff]) ?? 0
            let events = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE run_id IN (\(ids)) AND kind != 'run_collected'",
                                          arguments: [cutoff]) ?? 0
            let approvals = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM approvals WHERE run_id IN (\(ids))", arguments: [cutoff]) ?? 0
            return CollectionSummary(runs: runs, steps: steps, events: events, approvals: approvals)
        }
        if dryRun { return try await read(count) }
        return try await write { db in
            let summary = try count(db)
            let runIDs = try String.fetchAll(db, sql: """
                SELECT id FROM runs WHERE \(finished)
                    AND NOT EXISTS (SELECT 1 FROM events m WHERE m.run_id = runs.id AND m.kind = 'run_collected')
                """, arguments: [cutoff])
            for id in runIDs {
                let removed = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM steps WHERE run_id = ?", arguments: [id]) ?? 0
                try db.execute(sql: "DELETE FROM steps WHERE run_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM events WHERE run_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM approval_notifications WHERE run_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM approvals WHERE run_id = ?", arguments: [id])
                try db.execute(sql: "UPDATE runs SET outputs = NULL WHERE id = ?", arguments: [id])
                try db.execute(sql: "UPDATE run_documents SET inputs = '{}' WHERE run_id = ?", arguments: [id])
                try EventRow.insert(db, EventRecord(runID: id, stepID: nil, kind: .runCollected,
                                                    data: ["steps_removed": .int(removed), "finished_before": .string(before.formatted(.iso8601))],
                                                    at: at))
            }
            return summary
        }
    }
}
