import Dispatch
import Foundation
import GRDB
import Testing
import WfloCore
import WfloStore

/// How the SQLite store runs its transactions: off the cooperative pool, to completion even for a
/// cancelled task, with errors that carry a code and their cause.
struct TransactionTests {
    /// Holds the journal's write lock from another connection, on a dispatch thread, until the
    /// returned closure is called (or 60 s pass); returns once the lock is held.
    private static func holdWriteLock(path: String) async throws -> @Sendable () -> Void {
        let queue = try DatabaseQueue(path: path)
        let release = DispatchSemaphore(value: 0)
        await withCheckedContinuation { (held: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                try? queue.write { db in
                    try db.execute(sql: "UPDATE runs SET updated_at = updated_at")
                    held.resume()
                    _ = release.wait(timeout: .now() + 60)
                }
            }
        }
        return { release.signal() }
    }

    @Test func aWriteStillLockedAfterTheBusyTimeoutIsBusyWithItsCause() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("wflo.db").path
            let store = try SQLiteJournalStore(path: path, busyTimeout: 0.2)
            try await store.createRun(sampleRun())
            let release = try await Self.holdWriteLock(path: path)
            defer { release() }
            let error = try await #require(throws: StoreError.self) { try await store.createRun(sampleRun(id: "run-2")) }
            #expect(error.code == .busy)
            #expect(error.message.contains(path) && error.message.contains("try again"))
            #expect((error.underlying as? DatabaseError)?.resultCode == .SQLITE_BUSY)
        }
    }

    @Test func aBrokenConstraintIsAConflict() async throws {
        let store = try SQLiteJournalStore.inMemory()
        // An event of a run the journal does not have breaks its foreign key.
        let error = try await #require(throws: StoreError.self) {
            try await store.appendEvent(EventRecord(runID: "nope", stepID: nil, kind: .runStarted, at: date(1)))
        }
        #expect(error.code == .conflict)
        #expect((error.underlying as? DatabaseError)?.resultCode == .SQLITE_CONSTRAINT)
    }

    @Test func aCancelledTaskStillWritesWhatItAskedFor() async throws {
        let store = try SQLiteJournalStore.inMemory()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            #expect(Task.isCancelled)
            try await store.createRun(sampleRun())
            try await store.updateRun(id: "run-1", status: .cancelled, outputs: nil, error: "cancelled by ana", at: date(2))
        }
        try await task.value
        #expect(try await store.run(id: "run-1")?.status == .cancelled)
    }

    /// Writes waiting for another process's lock hold dispatch threads, not the cooperative pool's:
    /// with more waiting writes than the machine has cores, this test's own task still runs and
    /// releases the lock. (Were the writes blocking the pool, nothing would release it and every
    /// write would fail busy after the timeout.)
    @Test func writesWaitingForALockDoNotStallOtherTasks() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("wflo.db").path
            let store = try SQLiteJournalStore(path: path, busyTimeout: 20)
            try await store.createRun(sampleRun())
            let release = try await Self.holdWriteLock(path: path)
            let waiting = (0..<(ProcessInfo.processInfo.activeProcessorCount * 2 + 2)).map { index in
                Task { try await store.appendEvent(EventRecord(runID: "run-1", stepID: nil, kind: .budgetAlert, data: ["n": .int(index)], at: date(2))) }
            }
            try await Task.sleep(for: .milliseconds(200))
            // Tasks that need a cooperative thread still run while the writes wait.
            #expect(await Task.detached { 42 }.value == 42)
            release()
            for task in waiting { try await task.value }
            #expect(try await store.journal(runID: "run-1").events.count == waiting.count)
        }
    }

    /// Reads of a few rows by key may run on the calling thread (no hop) only while a reader
    /// connection is free for certain: many more at once than the pool has readers, with another
    /// process holding the write lock meanwhile, all finish with what the journal holds.
    @Test func pointReadsBeyondThePoolsReadersAllFinish() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("wflo.db").path
            let store = try SQLiteJournalStore(path: path, busyTimeout: 20)
            try await store.createRun(sampleRun())
            let release = try await Self.holdWriteLock(path: path)
            defer { release() }
            let statuses = try await withThrowingTaskGroup(of: RunStatus?.self) { group in
                for _ in 0..<64 {
                    group.addTask { try await store.run(id: "run-1")?.status }
                    group.addTask { try await store.ledger(runID: "run-1").budget == money("1.00") ? .running : nil }
                    group.addTask { try await store.runChangeMark(id: "run-1")?.status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.count == 192 && statuses.allSatisfy { $0 == .running })
            #expect(try await store.run(id: "nope") == nil)
        }
    }
}
