import Foundation
import GRDB
import Testing
import WfloCore
@testable import WfloStore

/// A paid call's commits write the same number of pages whatever the size of its run's workflow:
/// the text and inputs live in `run_documents`, not in the `runs` row that every reservation,
/// settlement and heartbeat updates (SQLite rewrites a row's overflow pages when its size changes).
/// Counted in WAL frames, not timed.
struct RunDocumentTests {
    /// WAL frames written by `calls` reservations and settlements in a run whose workflow is `sourceBytes` long.
    func framesWritten(sourceBytes: Int, calls: Int, in directory: URL) async throws -> Int {
        let store = try SQLiteJournalStore(path: directory.appendingPathComponent("j\(sourceBytes).db").path)
        var run = sampleRun(budget: "100")
        run.workflowSource = "name: brief\nsteps:\n" + String(repeating: "  - id: s\n    type: transform\n", count: sourceBytes / 30)
        run.inputs = ["items": .array((0..<(sourceBytes / 20)).map { .string("item \($0)") })]
        try await store.createRun(run)
        _ = try await store.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        for number in 1...calls {
            let id = try #require(try await store.beginAttempt(start(step: "s\(number)", reserve: "0.000\(number)")).attemptID)
            try await store.finishAttempt(finish(id, step: "s\(number)", cost: "0.0000\(number)7"))
        }
        let read = try await store.journal(runID: run.id)
        #expect(read.run.workflowSource == run.workflowSource)
        #expect(read.run.inputs == run.inputs)
        return try await store.writer.writeWithoutTransaction { db in
            // (busy, frames in the log, frames checkpointed): the log was empty before the calls.
            try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")?[1] ?? -1
        }
    }

    @Test func aCallWritesAsMuchInALongRunAsInAShortOne() async throws {
        try await withTemporaryDirectory { directory in
            let small = try await framesWritten(sourceBytes: 1_000, calls: 10, in: directory)
            let large = try await framesWritten(sourceBytes: 300_000, calls: 10, in: directory)
            // With the text in the row, each of the 20 commits copied its ~75 overflow pages of
            // workflow and inputs again: well over 1,000 frames against ~100.
            #expect(small > 0)
            #expect(Double(large) <= Double(small) * 1.25, "large run: \(large) WAL frames, small run: \(small)")
        }
    }

    /// A reservation writes five pages (the run's ledger, the attempt, its index entry, the step,
    /// the event) and a settlement four; with AUTOINCREMENT on `attempts` every reservation also
    /// wrote `sqlite_sequence` (40 calls: 411 frames, now 371 — page splits make the rest).
    @Test func aPaidCallWritesNineWALFramesAndFewSplits() async throws {
        try await withTemporaryDirectory { directory in
            let frames = try await framesWritten(sourceBytes: 1_000, calls: 40, in: directory)
            #expect(frames >= 40 * 9 && frames <= 40 * 19 / 2, "40 calls wrote \(frames) WAL frames")
        }
    }

    /// A journal from before `v20_run_documents` keeps each run's workflow text and inputs.
    @Test func theMigrationMovesTextAndInputsOutOfTheRunsRow() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("old.db").path
            do {
                let queue = try DatabaseQueue(path: path)
                try Schema.migrator.migrate(queue, upTo: "v17_sessions")
                try await queue.write { db in
                    try db.execute(sql: """
                        INSERT INTO runs (id, workflow_name, workflow_path, workflow_source, inputs, budget_usd, status, created_at, updated_at)
                        VALUES ('old-run', 'brief', 'brief.yaml', 'name: brief', '{"topic":"tides"}', '0.10', 'completed', 1, 2)
                        """)
                }
            }
            let store = try SQLiteJournalStore(path: path)
            let run = try #require(try await store.run(id: "old-run"))
            #expect(run.workflowSource == "name: brief")
            #expect(run.inputs == ["topic": "tides"])
            let columns = try await store.writer.read { db in try db.columns(in: "runs").map(\.name) }
            #expect(!columns.contains("workflow_source") && !columns.contains("inputs"))
        }
    }
}
