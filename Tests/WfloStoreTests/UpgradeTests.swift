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
            #expect(try store.appliedMigrations().last == "v21_attempts_rowid")
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

/// A journal left at each earlier schema version, with rows in every table that version has,
/// opens with the current store and reads back whole (SQLite only: the migrations are its own).
struct MigrationTests {
    static let earlier = Array(Schema.migrator.migrations.dropLast())

    @Test(arguments: earlier)
    func aJournalAtAnEarlierVersionReadsBackAfterMigrating(version: String) async throws {
        let applied = Set(Schema.migrator.migrations.prefix { $0 != version } + [version])
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("v.db").path
            do {
                let queue = try DatabaseQueue(path: path)
                try Schema.migrator.migrate(queue, upTo: version)
                try await queue.write { db in
                    if applied.contains("v20_run_documents") {
                        try db.execute(sql: """
                            INSERT INTO runs (id, workflow_name, workflow_path, budget_usd, settled_usd, reserved_usd, status, created_at, updated_at)
                            VALUES ('r1', 'brief', 'brief.yaml', '1.00', '0.03', '0.05', 'running', 1, 2);
                            INSERT INTO run_documents (run_id, workflow_source, inputs) VALUES ('r1', 'name: brief', '{"topic":"x"}');
                            """)
                    } else {
                        try db.execute(sql: """
                            INSERT INTO runs (id, workflow_name, workflow_path, workflow_source, inputs, budget_usd, settled_usd, reserved_usd,
                                              status, created_at, updated_at)
                            VALUES ('r1', 'brief', 'brief.yaml', 'name: brief', '{"topic":"x"}', '1.00', '0.03', '0.05', 'running', 1, 2);
                            """)
                    }
                    try db.execute(sql: """
                        INSERT INTO steps (run_id, step_id, type, status, output, model, started_at, finished_at)
                        VALUES ('r1', 'outline', 'llm', 'completed', '{"text":"hi"}', 'gpt-4o-mini', 1, 1.5);
                        INSERT INTO attempts (run_id, step_id, number, status, model, reserved_usd, cost_usd, started_at, finished_at)
                        VALUES ('r1', 'outline', 1, 'succeeded', 'gpt-4o-mini', '0.04', '0.03', 1, 1.5),
                               ('r1', 'draft', 1, 'running', 'gpt-4o-mini', '0.05', NULL, 2, NULL);
                        INSERT INTO events (run_id, sequence, step_id, kind, data, at) VALUES ('r1', 1, NULL, 'run_started', '{}', 1);
                        INSERT INTO events (run_id, sequence, step_id, kind, data, at) VALUES ('r1', 2, 'outline', 'step_completed', '{}', 1.5);
                        """)
                    if applied.contains("v2_approvals") {
                        try db.execute(sql: """
                            INSERT INTO approvals (id, run_id, step_id, status, message, details, approvers, timeout_seconds, on_timeout,
                                                   requested_at)
                            VALUES ('ap1', 'r1', 'publish', 'pending', 'Publish?', '{}', '["ana"]', 60, 'fail', 3);
                            """)
                    }
                    if applied.contains("v3_llm_cache") {
                        try db.execute(sql: """
                            INSERT INTO llm_cache (key, namespace, model, response, created_at, expires_at)
                            VALUES ('k', 'default', 'gpt-4o-mini', '{"text":"cached"}', 1, NULL);
                            """)
                    }
                    if applied.contains("v5_circuits") {
                        try db.execute(sql: """
                            INSERT INTO circuits (host, state, failures, updated_at) VALUES ('api.example.com', 'closed', '[1.5]', 2);
                            """)
                    }
                }
            }
            let store = try SQLiteJournalStore(path: path)
            #expect(try store.appliedMigrations() == Schema.migrator.migrations)
            let journal = try await store.journal(runID: "r1")
            #expect(journal.run.inputs == ["topic": "x"] && journal.run.status == .running)
            #expect(journal.steps.map(\.stepID) == ["outline"] && journal.steps.first?.output == ["text": "hi"])
            #expect(journal.attempts.map(\.status) == [.succeeded, .running])
            #expect(journal.attempts.allSatisfy { !$0.cacheHit && $0.fees == nil && $0.flags.isEmpty })
            #expect(journal.events.map(\.kind) == [.runStarted, .stepCompleted])
            let ledger = try await store.ledger(runID: "r1")
            #expect(ledger == LedgerSnapshot(settled: money("0.03"), reserved: money("0.05"), budget: money("1.00")))
            #expect(journal.ledger == ledger)
            #expect(try await store.cancelRequest(runID: "r1") == nil)
            #expect(try await store.driver(runID: "r1") == nil)
            if applied.contains("v2_approvals") {
                #expect(journal.approvals.map(\.id) == ["ap1"])
                #expect(try await store.resolveApprovalID("r1/publish") == "ap1")
            }
            if applied.contains("v3_llm_cache") {
                #expect(try await store.cachedResponse(key: "k", at: date(0)) == ["text": "cached"])
            }
            if applied.contains("v5_circuits") {
                #expect(try await store.circuits().map(\.failures) == [[Date(timeIntervalSince1970: 1.5)]])
            }
            // The migrated journal takes new writes: an attempt against its ledger, an event after its last.
            // Attempt ids are kept, and a new one comes after them (v21: rowids without AUTOINCREMENT).
            #expect(journal.attempts.map(\.id) == [1, 2])
            #expect(try await store.beginAttempt(start("r1", step: "more", reserve: "0.92")).attemptID == 3)
            #expect(try await store.beginAttempt(start("r1", step: "over", reserve: "0.000001")).attemptID == nil)
            #expect(try await store.journal(runID: "r1").events.map(\.sequence) == [1, 2, 3])
        }
    }
}

/// A cell this wflo cannot name (a step type or event kind of a newer version, an edited file)
/// is reported with its table and column, never read as something else and never a crash.
struct NewerJournalTests {
    @Test func aJournalANewerWfloMigratedIsRefusedAndLeftAsItWas() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("wflo.db").path
            let store = try SQLiteJournalStore(path: path)
            try await store.createRun(RunRecord(id: "r", workflowName: "w", workflowPath: "w.yaml", workflowSource: "", inputs: [:],
                                                budget: nil, createdAt: Date(timeIntervalSince1970: 1), updatedAt: Date(timeIntervalSince1970: 1)))
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations VALUES ('v99_from_the_future')") }
            try queue.close()
            let error = try #require(throws: StoreError.self) { try SQLiteJournalStore(path: path) }
            #expect(error.message.contains("the journal at \(path) was written by a newer wflo"))
            #expect(error.message.contains("v99_from_the_future") && error.message.contains("upgrade wflo"))
            #expect(error.message.contains(Schema.latest))
            // Nothing was changed: the old store still reads its run.
            #expect(try await store.run(id: "r")?.workflowName == "w")
        }
    }
}

struct UnknownValueTests {
    @Test(arguments: [
        ("UPDATE steps SET type = 'email'", "steps.type holds unknown value 'email'"),
        ("UPDATE events SET kind = 'run_paused'", "events.kind holds unknown value 'run_paused'"),
    ])
    func anUnknownStoredValueIsACorruptCellNamed(edit: String, message: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("wflo.db").path
            let store = try SQLiteJournalStore(path: path)
            try await store.createRun(sampleRun())
            _ = try await store.beginAttempt(start(step: "outline", reserve: "0.01"))
            try await DatabaseQueue(path: path).write { db in try db.execute(sql: edit) }
            let error = try await #require(throws: StoreError.self) { try await store.journal(runID: "run-1") }
            #expect(error.code == .corrupt)
            #expect(error.message.hasPrefix(message))
        }
    }
}
