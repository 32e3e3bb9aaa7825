import Foundation
import Testing
import WfloCore
import WfloStore

struct BudgetTests {
    @Test func refusalWritesNothingAndReportsTheNumbers() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: "0.10"))
        let first = try #require(try await store.beginAttempt(start(step: "outline", reserve: "0.04")).attemptID)
        try await store.finishAttempt(finish(first, step: "outline", cost: "0.03"))
        _ = try await store.beginAttempt(start(step: "facts", reserve: "0.05"))
        let before = try await store.journal(runID: "run-1")

        let outcome = try await store.beginAttempt(start(step: "draft", reserve: "0.020000001"))

        #expect(outcome == .refused(ledger: LedgerSnapshot(settled: money("0.03"), reserved: money("0.05"), budget: money("0.10")),
                                    requested: money("0.020000001")))
        #expect(try await store.journal(runID: "run-1") == before)
    }

    @Test func settlingReturnsTheLedgerItWrote() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: "0.10"))
        let first = try #require(try await store.beginAttempt(start(step: "outline", reserve: "0.04")).attemptID)
        _ = try await store.beginAttempt(start(step: "facts", reserve: "0.05"))

        let settled = try await store.finishAttempt(finish(first, step: "outline", cost: "0.03"))

        #expect(settled == LedgerSnapshot(settled: money("0.03"), reserved: money("0.05"), budget: money("0.10")))
        #expect(try await store.ledger(runID: "run-1") == settled)
        // Settling it again changes nothing and returns the ledger as it is.
        #expect(try await store.finishAttempt(finish(first, step: "outline", cost: "0.09")) == settled)
    }

    @Test(arguments: [("0.02", true), ("0.0200000000001", false), ("0", true)])
    func reservationFitsExactlyUpToTheBudget(reserve: String, fits: Bool) async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: "0.10"))
        _ = try await store.beginAttempt(start(step: "a", reserve: "0.08"))
        let outcome = try await store.beginAttempt(start(step: "b", reserve: reserve))
        #expect((outcome.attemptID != nil) == fits)
    }

    /// A limit (a sub-workflow's or an agent's budget) counts exactly the attempts under its prefix,
    /// settled at their cost and in flight or unsettled at their reservation; a sibling whose id
    /// merely starts with the same letters (`sub0`, `subway`) is not under `sub/`. A refusal writes nothing.
    @Test func aLimitCountsOnlyTheAttemptsUnderItsPrefix() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: "1.00"))
        let settled = try #require(try await store.beginAttempt(start(step: "sub/one", reserve: "0.04")).attemptID)
        try await store.finishAttempt(finish(settled, step: "sub/one", cost: "0.01"))
        _ = try await store.beginAttempt(start(step: "sub/two[3]/x", reserve: "0.02"))
        #expect(try await store.markInFlightUnsettled(runID: "run-1", at: date(5)) == 1)
        for outside in ["sub0", "subway", "su", "sub"] {
            #expect(try await store.beginAttempt(start(step: outside, reserve: "0.2")).attemptID != nil)
        }
        let limit = BudgetLimit(prefix: "sub/", budget: money("0.05"), label: "workflow step 'sub'")
        func begin(_ reserve: String) -> AttemptStart {
            var attempt = start(step: "sub/three", reserve: reserve)
            attempt.limits = [limit]
            return attempt
        }
        let before = try await store.journal(runID: "run-1")
        let refused = try await store.beginAttempt(begin("0.020000001"))
        #expect(refused == .refusedByLimit(limit: limit, committed: money("0.03"), requested: money("0.020000001")))
        #expect(try await store.journal(runID: "run-1") == before)
        #expect(try await store.beginAttempt(begin("0.02")).attemptID != nil)
    }

    /// Once `wflo cancel` is journaled, no attempt starts, whatever the budget: checked in the
    /// reservation's own transaction, so a driver that has not yet seen the request sends nothing.
    @Test func aCancelRequestRefusesEveryNewAttempt() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: nil))
        _ = try await store.requestCancel(runID: "run-1", by: "tester", reason: nil, at: date(1))
        let before = try await store.journal(runID: "run-1")
        #expect(try await store.beginAttempt(start(step: "draft", reserve: "0")) == .runCancelled)
        #expect(try await store.journal(runID: "run-1") == before)
    }

    @Test func runWithoutBudgetNeverRefuses() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: nil))
        #expect(try await store.beginAttempt(start(reserve: "1000000")).attemptID != nil)
    }

    @Test func settledPlusReservedNeverExceedsTheBudget() async throws {
        let store = try SQLiteJournalStore.inMemory()
        let budget = money("0.05")
        try await store.createRun(sampleRun(budget: "0.05"))
        // Deterministic mix of reservations and settlements (costs below or at the reservation).
        var open: [(id: Int64, reserve: Money)] = []
        for index in 0..<60 {
            let reserve = money("0.00\(index % 7 + 1)3")
            if let id = try await store.beginAttempt(start(step: "s\(index)", reserve: reserve.description)).attemptID {
                open.append((id, reserve))
            }
            if index % 3 == 2, !open.isEmpty {
                let settling = open.removeFirst()
                let cost = index % 2 == 0 ? settling.reserve : Money(settling.reserve.amount / 2)
                try await store.finishAttempt(finish(settling.id, step: "s", cost: cost.description, stepStatus: nil))
            }
            let ledger = try await store.ledger(runID: "run-1")
            #expect(ledger.committed <= budget)
            // The ledger row agrees with the attempt rows it summarises.
            #expect(try await store.journal(runID: "run-1").ledger == ledger)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func twoStoresOnOneFileStartExactlyAsManyAttemptsAsFit() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("shared.db").path
            // Opened together, as two `wflo` processes starting at once would.
            async let openedA = Task { try SQLiteJournalStore(path: path) }.value
            async let openedB = Task { try SQLiteJournalStore(path: path) }.value
            let stores = try await [openedA, openedB]
            try await stores[0].createRun(sampleRun(budget: "0.05"))

            let started = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<20 {
                    let store = stores[index % 2]
                    group.addTask {
                        try await store.beginAttempt(start(step: "s\(index)", reserve: "0.01")).attemptID != nil
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }

            #expect(started == 5)
            let journal = try await stores[1].journal(runID: "run-1")
            #expect(journal.attempts.count == 5)
            #expect(journal.ledger == LedgerSnapshot(settled: .zero, reserved: money("0.05"), budget: money("0.05")))
            #expect(try await stores[0].ledger(runID: "run-1") == journal.ledger)
        }
    }
}
