import Foundation
import GRDB
import Synchronization
import Testing
import WfloCore
@testable import WfloStore

/// Step results that arrive together share a transaction, each caller returns only once its own
/// result is committed, and one item's failure is never another's.
struct GroupCommitTests {
    /// What a commit closure saw: the groups, in order, and the items committed so far.
    final class Ledger: Sendable {
        let groups = Mutex<[[Int]]>([])
        let committed = Mutex<Set<Int>>([])
    }

    @Test func itemsArrivingDuringACommitGoTogetherAndEachReturnsAfterItsOwn() async throws {
        let commits = GroupCommit<Int>()
        let ledger = Ledger()
        let commit: GroupCommit<Int>.Commit = { group in
            try await Task.sleep(for: .milliseconds(20))
            ledger.groups.withLock { $0.append(group) }
            ledger.committed.withLock { $0.formUnion(group) }
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for item in 0..<64 {
                tasks.addTask {
                    try await commits.submit(item, commit: commit)
                    #expect(ledger.committed.withLock { $0.contains(item) }, "item \(item) returned before it was committed")
                }
            }
            try await tasks.waitForAll()
        }
        let groups = ledger.groups.withLock { $0 }
        #expect(groups.flatMap { $0 }.sorted() == Array(0..<64))
        // 64 callers at once, 20 ms a commit: the first goes alone, the rest wait and go in a few groups.
        #expect(groups.count < 16, "\(groups.count) commits for 64 items")
    }

    @Test func oneItemsFailureIsNotTheOthers() async throws {
        let commits = GroupCommit<Int>()
        let ledger = Ledger()
        struct Refused: Error {}
        let commit: GroupCommit<Int>.Commit = { group in
            try await Task.sleep(for: .milliseconds(10))
            if group.contains(13) { throw Refused() }
            ledger.committed.withLock { $0.formUnion(group) }
        }
        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { tasks in
            for item in 0..<32 {
                tasks.addTask {
                    do {
                        try await commits.submit(item, commit: commit)
                        return (item, true)
                    } catch is Refused {
                        return (item, false)
                    }
                }
            }
            var outcomes: [Int: Bool] = [:]
            for try await (item, ok) in tasks { outcomes[item] = ok }
            return outcomes
        }
        #expect(outcomes.filter { !$0.value }.map(\.key) == [13])
        #expect(ledger.committed.withLock { $0 } == Set(0..<32).subtracting([13]))
    }

    /// The real store: 200 parallel step results all land, each with its event, and each caller
    /// reads its own back as soon as it returns.
    @Test func parallelStepResultsAllLandInTheJournal() async throws {
        try await withTemporaryDirectory { directory in
            let store = try SQLiteJournalStore(path: directory.appendingPathComponent("j.db").path)
            try await store.createRun(sampleRun())
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for item in 0..<200 {
                    tasks.addTask {
                        let id = "each[\(item)]"
                        try await store.recordStep(StepRecord(runID: "run-1", stepID: id, type: .transform, status: .completed,
                                                              output: ["n": .int(item)], startedAt: date(1), finishedAt: date(2)),
                                                   event: EventRecord(runID: "run-1", stepID: id, kind: .stepCompleted, at: date(2)))
                        let step = try await store.journal(runID: "run-1").steps.first { $0.stepID == id }
                        #expect(step?.output?["n"] == .int(item))
                    }
                }
                try await tasks.waitForAll()
            }
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.steps.count == 200)
            #expect(journal.events.filter { $0.kind == .stepCompleted }.count == 200)
        }
    }
}
