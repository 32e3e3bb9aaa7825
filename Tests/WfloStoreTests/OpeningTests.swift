import Foundation
import Testing
import WfloCore
import WfloStore

struct OpeningTests {
    /// Every migration a new journal gets, in order.
    static let allMigrations = ["v1", "v2_approvals", "v3_llm_cache", "v4_compact_journal", "v5_circuits", "v6_run_owner", "v7_cancel", "v8_billing_flags", "v9_queue", "v10_budget_scopes", "v11_server", "v12_triggers", "v15_approval_notifications", "v16_concurrency", "v17_sessions", "v18_step_tasks", "v20_run_documents", "v21_attempts_rowid"]

    @Test func createsParentDirectoriesAndReopensWithTheJournalIntact() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("nested/deeper/wflo.db").path
            do {
                let store = try SQLiteJournalStore(path: path)
                try await store.createRun(sampleRun())
                _ = try await store.beginAttempt(start(reserve: "0.25"))
            }
            let reopened = try SQLiteJournalStore(path: path)
            #expect(try await reopened.run(id: "run-1") == sampleRun())
            #expect(try await reopened.ledger(runID: "run-1").reserved == money("0.25"))
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        }
    }

    @Test func migrationsRunOnce() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("wflo.db").path
            for _ in 0..<3 { _ = try SQLiteJournalStore(path: path) }
            let store = try SQLiteJournalStore(path: path)
            #expect(try store.appliedMigrations() == Self.allMigrations)
        }
    }

    @Test(arguments: 0..<5)
    func manyOpenersOfANewFileAtOnceAllSucceed(round: Int) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("new-\(round).db").path
            let opened = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<8 {
                    group.addTask { try SQLiteJournalStore(path: path).appliedMigrations() }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            #expect(opened.count == 8)
            #expect(opened.allSatisfy { $0 == Self.allMigrations })
        }
    }

    @Test func unwritableLocationNamesThePathAndTheFix() async throws {
        try await withTemporaryDirectory { directory in
            let blocker = directory.appendingPathComponent("file")
            try Data("x".utf8).write(to: blocker)
            let path = blocker.appendingPathComponent("wflo.db").path
            let error = try #require(throws: StoreError.self) { try SQLiteJournalStore(path: path) }
            #expect(error.code == .database)
            #expect(error.message.contains(path))
            #expect(error.message.contains("WFLO_DB"))
        }
    }

    @Test(arguments: [
        (["WFLO_DB": "/data/j.db", "HOME": "/home/ann"], "/data/j.db"),
        (["HOME": "/home/ann"], "/home/ann/.wflo/wflo.db"),
        (["WFLO_DB": "", "HOME": "/home/bo"], "/home/bo/.wflo/wflo.db"),
    ])
    func defaultPathPrefersWFLODBThenHome(environment: [String: String], expected: String) {
        #expect(SQLiteJournalStore.defaultPath(environment: environment) == expected)
    }
}

struct RunOwnershipTests {
    @Test func oneOwnerAtATimeUnlessTheHolderIsGone() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path)
            try await store.createRun(sampleRun())
            let a = RunOwner(pid: 1, host: "h", token: "a")
            let b = RunOwner(pid: 2, host: "h", token: "b")
            let now = Date()
            #expect(try await store.claimRun(id: "run-1", owner: a, at: now) { _, _ in false } == .claimed)
            let held = try await store.claimRun(id: "run-1", owner: b, at: now) { _, _ in false }
            guard case .heldBy(let holder, _) = held else {
                Issue.record("a second owner claimed a held run")
                return
            }
            #expect(holder == a)
            // The same owner may claim again; another takes over only when the holder is gone.
            #expect(try await store.claimRun(id: "run-1", owner: a, at: now) { _, _ in false } == .claimed)
            #expect(try await store.claimRun(id: "run-1", owner: b, at: now) { holder, _ in holder.pid == 1 } == .claimed)
            // Releasing with someone else's token changes nothing.
            try await store.releaseRun(id: "run-1", token: "a")
            #expect(try await store.claimRun(id: "run-1", owner: a, at: now) { _, _ in false } != .claimed)
            try await store.releaseRun(id: "run-1", token: "b")
            #expect(try await store.claimRun(id: "run-1", owner: a, at: now) { _, _ in false } == .claimed)
        }
    }
}
