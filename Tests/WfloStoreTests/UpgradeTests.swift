import Foundation
import GRDB
import Testing
import WfloCore
@testable import WfloStore

/// A journal written by the first shipped schema (v1) keeps every run, step, attempt and event
/// when a newer wflo opens it and migrates it (v4 rebuilds `steps` and `events`).
struct UpgradeTests {
    @Test func aV1JournalKeepsItsRowsAndEventOrderAfterMigrating() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("old.db").path
            do {
                let queue = try DatabaseQueue(path: path)
                try Schema.migrator.migrate(queue, upTo: "v1")
                try await queue.write { db in
                    try db.execute(sql: """
                        INSERT INTO runs (id, workflow_name, workflow_path, workflow_source, inputs, budget_usd, settled_usd, reserved_usd,
                                          status, created_at, updated_at)
                        VALUES ('old-run', 'brief', 'brief.yaml', 'name: brief', '{}', '0.10', '0.000042', '0', 'failed', 1, 2);
                        INSERT INTO steps (run_id, step_id, type, status, output, model, started_at, finished_at)
                        VALUES ('old-run', 'outline', 'llm', 'completed', '{"text":"hi","cost_usd":"0.000042"}', 'gpt-4o-mini', 1, 1.5);
                        INSERT INTO attempts (run_id, step_id, number, status, model, reserved_usd, cost_usd, started_at, finished_at)
                        VALUES ('old-run', 'outline', 1, 'succeeded', 'gpt-4o-mini', '0.0001', '0.000042', 1, 1.5);
                        INSERT INTO events (run_id, step_id, kind, data, at) VALUES ('old-run', NULL, 'run_started', '{}', 1);
                        INSERT INTO events (run_id, step_id, kind, data, at) VALUES ('old-run', 'outline', 'step_started', '{}', 1);
                        INSERT INTO events (run_id, step_id, kind, data, at) VALUES ('old-run', 'outline', 'step_completed', '{}', 1.5);
                        """)
                }
            }
            let store = try SQLiteJournalStore(path: path)
            #expect(try store.appliedMigrations().last == "v8_billing_flags")
            let before = try await store.journal(runID: "old-run")
            #expect(before.steps.map(\.stepID) == ["outline"])
            #expect(before.steps.first?.output?["text"] == "hi")
            #expect(before.attempts.map(\.cost) == [money("0.000042")])
            #expect(before.ledger.settled == money("0.000042"))
            #expect(before.events.map(\.kind) == [.runStarted, .stepStarted, .stepCompleted])

            // New events continue the run's sequence after the migrated ones.
            try await store.appendEvent(EventRecord(runID: "old-run", stepID: nil, kind: .runResumed, at: date(3)))
            let after = try await store.journal(runID: "old-run")
            #expect(after.events.map(\.kind).last == .runResumed)
            let sequences = after.events.map(\.sequence)
            #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
        }
    }
}
