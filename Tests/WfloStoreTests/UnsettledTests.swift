import Foundation
import Testing
import WfloCore
import WfloStore

struct UnsettledTests {
    @Test func inFlightAttemptsStayChargedAtTheirReservation() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: "0.10"))
        let done = try #require(try await store.beginAttempt(start(step: "outline", reserve: "0.03")).attemptID)
        try await store.finishAttempt(finish(done, step: "outline", cost: "0.01"))
        _ = try await store.beginAttempt(start(step: "facts", reserve: "0.04"))

        let marked = try await store.markInFlightUnsettled(runID: "run-1", at: date(10))

        #expect(marked == 1)
        let journal = try await store.journal(runID: "run-1")
        #expect(journal.attempts.map(\.status) == [.succeeded, .unsettled])
        #expect(journal.events.last?.kind == .attemptsUnsettled)
        #expect(try await store.ledger(runID: "run-1") == LedgerSnapshot(settled: money("0.01"), reserved: money("0.04"),
                                                                        budget: money("0.10")))
        #expect(try await store.markInFlightUnsettled(runID: "run-1", at: date(11)) == 0)
    }

    @Test func finishingAnUnsettledAttemptDoesNotChargeTwice() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: "0.10"))
        let id = try #require(try await store.beginAttempt(start(reserve: "0.04")).attemptID)
        _ = try await store.markInFlightUnsettled(runID: "run-1", at: date(5))
        let before = try await store.journal(runID: "run-1")

        try await store.finishAttempt(finish(id, cost: "0.02"))

        #expect(try await store.journal(runID: "run-1") == before)
        #expect(before.ledger.committed == money("0.04"))
    }

    @Test func finishingTheSameAttemptTwiceChargesOnce() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: "0.10"))
        let id = try #require(try await store.beginAttempt(start(reserve: "0.04")).attemptID)
        try await store.finishAttempt(finish(id, cost: "0.02"))
        try await store.finishAttempt(finish(id, cost: "0.03"))

        #expect(try await store.ledger(runID: "run-1") == LedgerSnapshot(settled: money("0.02"), reserved: .zero, budget: money("0.10")))
        #expect(try await store.journal(runID: "run-1").events.map(\.kind) == [.stepStarted, .stepCompleted])
    }

    @Test func failedAttemptThatDoesNotDecideTheStepLeavesItRunning() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: "0.10"))
        let id = try #require(try await store.beginAttempt(start(reserve: "0.04")).attemptID)
        try await store.finishAttempt(finish(id, cost: "0", succeeded: false, stepStatus: nil))

        let journal = try await store.journal(runID: "run-1")
        #expect(journal.attempts.first?.status == .failed)
        #expect(journal.attempts.first?.error == "HTTP 500")
        #expect(journal.steps.first?.status == .running)
        #expect(journal.events.last?.kind == .attemptFailed)
        #expect(journal.ledger.committed == .zero)
    }

    @Test func finishingAnUnknownAttemptThrowsNotFound() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun())
        let error = try await #require(throws: StoreError.self) { try await store.finishAttempt(finish(42, cost: "0")) }
        #expect(error.code == .notFound)
    }
}
