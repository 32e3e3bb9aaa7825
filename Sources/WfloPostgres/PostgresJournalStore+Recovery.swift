import Foundation
import PostgresNIO
import WfloCore

/// Dead letters, forks and garbage collection (``RecoveryStore``).
extension PostgresJournalStore {
    public func failedRuns(since: Date?, workflow: String?, limit: Int) async throws -> [DeadLetter] {
        try await read { connection in
            let since = since?.timeIntervalSince1970
            let runs = try await connection.query("""
                SELECT \(unescaped: RunRow.columns) FROM runs
                WHERE status = 'failed' AND (\(since)::double precision IS NULL OR created_at >= \(since))
                    AND (\(workflow)::text IS NULL OR workflow_name = \(workflow))
                ORDER BY created_at DESC, ord DESC LIMIT \(max(limit, 0))
                """, logger: self.logger).records(RunRow.record)
            if runs.isEmpty { return [] }
            // The step that failed first in each run, by when it ended.
            let failed = try await connection.query("""
                SELECT DISTINCT ON (run_id) run_id, step_id, error FROM steps
                WHERE run_id = ANY(\(runs.map(\.id))) AND status = 'failed'
                ORDER BY run_id, finished_at NULLS LAST, step_id
                """, logger: self.logger).records { row -> (String, String, String?) in try row.decode((String, String, String?).self) }
            let byRun = Dictionary(failed.map { ($0.0, ($0.1, $0.2)) }, uniquingKeysWith: { first, _ in first })
            return runs.map { run in
                let step = byRun[run.id]
                return DeadLetter(run: run, failedStep: step?.0, reason: step?.1 ?? run.error)
            }
        }
    }

    public func createForkedRun(_ run: RunRecord, events: [EventRecord], reused: [StepRecord]) async throws {
        try await write { connection in
            let inserted = try await connection.query("""
                INSERT INTO runs (id, workflow_name, workflow_path, workflow_source, inputs, budget_usd, status, outputs, error, created_at, updated_at,
                                  tags)
                VALUES (\(run.id), \(run.workflowName), \(run.workflowPath), \(run.workflowSource), \(run.inputs.encoded()),
                        \(run.budget?.description), \(run.status.rawValue), \(run.outputs?.encoded()), \(run.error),
                        \(run.createdAt.timeIntervalSince1970), \(run.updatedAt.timeIntervalSince1970), \(JournalCells.tagsCell(run.tags)))
                ON CONFLICT (id) DO NOTHING RETURNING 1
                """, logger: self.logger).collect()
            guard !inserted.isEmpty else { throw StoreError(.conflict, "a run with id \(run.id) is already in \(self.journalLocation)") }
            if let concurrency = run.concurrency {
                try await connection.query("""
                    UPDATE runs SET concurrency_key = \(concurrency.key), concurrency_limit = \(concurrency.limit),
                                    concurrency_on_conflict = \(concurrency.onConflict.rawValue) WHERE id = \(run.id)
                    """, logger: self.logger)
            }
            for step in reused {
                try await connection.query("""
                    INSERT INTO steps (run_id, step_id, type, status, output, error, model, started_at, finished_at)
                    VALUES (\(run.id), \(step.stepID), \(step.type.rawValue), \(step.status.rawValue), \(step.output?.encoded()), \(step.error),
                            \(step.model), \(step.startedAt?.timeIntervalSince1970), \(step.finishedAt?.timeIntervalSince1970))
                    """, logger: self.logger)
            }
            for event in events { _ = try await EventRow.insert(connection, event, logger: self.logger) }
        }
    }

    public func collectGarbage(finishedBefore before: Date, dryRun: Bool, at: Date) async throws -> CollectionSummary {
        let cutoff = before.timeIntervalSince1970
        let body: @Sendable (PostgresConnection) async throws -> CollectionSummary = { connection in
            let ids = try await connection.query("""
                SELECT id FROM runs r
                WHERE status IN ('completed', 'failed', 'budget_exceeded', 'rejected', 'cancelled') AND updated_at < \(cutoff)
                    AND NOT EXISTS (SELECT 1 FROM events m WHERE m.run_id = r.id AND m.kind = 'run_collected')
                ORDER BY id \(unescaped: dryRun ? "" : "FOR UPDATE")
                """, logger: self.logger).records { try $0.decode(String.self) }
            if ids.isEmpty { return CollectionSummary() }
            var summary = CollectionSummary(runs: ids.count)
            summary.steps = try await connection.query("SELECT COUNT(*)::bigint FROM steps WHERE run_id = ANY(\(ids))", logger: self.logger)
                .records { try $0.decode(Int.self) }.first ?? 0
            summary.events = try await connection.query("SELECT COUNT(*)::bigint FROM events WHERE run_id = ANY(\(ids))", logger: self.logger)
                .records { try $0.decode(Int.self) }.first ?? 0
            summary.approvals = try await connection.query("SELECT COUNT(*)::bigint FROM approvals WHERE run_id = ANY(\(ids))", logger: self.logger)
                .records { try $0.decode(Int.self) }.first ?? 0
            if dryRun { return summary }
            let removed = try await connection.query("""
                SELECT run_id, COUNT(*)::bigint FROM steps WHERE run_id = ANY(\(ids)) GROUP BY run_id
                """, logger: self.logger).records { row -> (String, Int) in try row.decode((String, Int).self) }
            let stepsOf = Dictionary(removed, uniquingKeysWith: { first, _ in first })
            try await connection.query("DELETE FROM steps WHERE run_id = ANY(\(ids))", logger: self.logger)
            try await connection.query("DELETE FROM events WHERE run_id = ANY(\(ids))", logger: self.logger)
            try await connection.query("DELETE FROM approval_notifications WHERE run_id = ANY(\(ids))", logger: self.logger)
            try await connection.query("DELETE FROM approvals WHERE run_id = ANY(\(ids))", logger: self.logger)
            try await connection.query("UPDATE runs SET outputs = NULL, inputs = '{}' WHERE id = ANY(\(ids))", logger: self.logger)
            for id in ids {
                _ = try await EventRow.insert(connection, EventRecord(runID: id, stepID: nil, kind: .runCollected,
                                                                      data: ["steps_removed": .int(stepsOf[id] ?? 0),
                                                                             "finished_before": .string(before.formatted(.iso8601))], at: at),
                                              logger: self.logger)
            }
            return summary
        }
        return dryRun ? try await read(body) : try await write(body)
    }
}
