import Foundation
import Testing
import WfloCore
import WfloStore

struct RoundTripTests {
    @Test func runReadsBackExactlyAsWritten() async throws {
        let store = try SQLiteJournalStore.inMemory()
        var run = sampleRun(budget: "0.00000015")
        run.outputs = ["price": .number("1.5e-07"), "big": .number("10000000000000000000000")]
        run.error = "none"
        try await store.createRun(run)

        #expect(try await store.run(id: "run-1") == run)
        #expect(try await store.run(id: "missing") == nil)
        #expect(try await store.run(id: "run-1")?.budget?.description == "0.00000015")
    }

    @Test func runWithoutBudgetKeepsNil() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun(budget: nil))
        #expect(try await store.run(id: "run-1")?.budget == nil)
        #expect(try await store.ledger(runID: "run-1") == LedgerSnapshot(settled: .zero, reserved: .zero, budget: nil))
    }

    @Test func creatingTheSameRunTwiceFailsNamingIt() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun())
        let error = try await #require(throws: StoreError.self) { try await store.createRun(sampleRun()) }
        #expect(error.message.contains("run-1"))
    }

    @Test func attemptStepAndEventsRoundTripThroughTheJournal() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun())
        let id = try #require(try await store.beginAttempt(start(reserve: "0.0003")).attemptID)
        try await store.finishAttempt(finish(id, cost: "0.000123456789", output: ["text": "outline", "score": .number("1.5e-07")]))

        let journal = try await store.journal(runID: "run-1")
        #expect(journal.attempts == [AttemptRecord(id: id, runID: "run-1", stepID: "outline", number: 1, status: .succeeded,
                                                   model: "gpt-4o-mini", reserved: money("0.0003"), cost: money("0.000123456789"),
                                                   usage: TokenUsage(inputTokens: 12, cachedInputTokens: 3, outputTokens: 40),
                                                   error: nil, startedAt: date(1), finishedAt: date(2))])
        #expect(journal.steps == [StepRecord(runID: "run-1", stepID: "outline", type: .llm, status: .completed,
                                             output: ["text": "outline", "score": .number("1.5e-07")], model: "gpt-4o-mini",
                                             startedAt: date(1), finishedAt: date(2))])
        #expect(journal.events.map(\.kind) == [.stepStarted, .stepCompleted])
        #expect(journal.events[1].data["cost_usd"] == "0.000123456789")
        #expect(try await store.ledger(runID: "run-1") == LedgerSnapshot(settled: money("0.000123456789"), reserved: .zero,
                                                                        budget: money("1.00")))
        #expect(journal.ledger == (try await store.ledger(runID: "run-1")))
    }

    @Test func recordedStepAndAppendedEventsKeepTheirOrder() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun())
        let step = StepRecord(runID: "run-1", stepID: "shape", type: .transform, status: .completed,
                              output: ["n": .number("1.5e-07"), "list": [1, "two", nil, true]], startedAt: date(1), finishedAt: date(1.5))
        try await store.recordStep(step, event: EventRecord(runID: "run-1", stepID: "shape", kind: .stepCompleted,
                                                           data: ["x": .number("2.50")], at: date(1.5)))
        try await store.appendEvent(EventRecord(runID: "run-1", stepID: nil, kind: .budgetAlert, at: date(3)))
        // A second record of the same step replaces it (upsert), keeping its first start time.
        var skipped = step
        skipped.status = .skipped
        skipped.output = nil
        skipped.startedAt = date(9)
        try await store.recordStep(skipped, event: nil)

        let journal = try await store.journal(runID: "run-1")
        var expected = skipped
        expected.startedAt = date(1)
        #expect(journal.steps == [expected])
        #expect(journal.events.map(\.kind) == [.stepCompleted, .budgetAlert])
        #expect(journal.events[0].data == ["x": .number("2.50")])
        #expect(journal.events[0].sequence < journal.events[1].sequence)
    }

    @Test func updatingARunRecordsStatusOutputsAndAnEvent() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(sampleRun())
        try await store.updateRun(id: "run-1", status: .failed, outputs: ["a": 1], error: "step draft failed", at: date(5))
        try await store.updateRunBudget(id: "run-1", budget: money("2.5"), at: date(6))

        let journal = try await store.journal(runID: "run-1")
        #expect(journal.run.status == .failed)
        #expect(journal.run.outputs == ["a": 1])
        #expect(journal.run.error == "step draft failed")
        #expect(journal.run.updatedAt == date(6))
        #expect(journal.run.budget == money("2.5"))
        #expect(journal.events.map(\.kind) == [.runFailed, .budgetChanged])
    }

    @Test func updatingAMissingRunThrowsNotFound() async throws {
        let store = try SQLiteJournalStore.inMemory()
        let error = try await #require(throws: StoreError.self) {
            try await store.updateRun(id: "nope", status: .completed, outputs: nil, error: nil, at: date(1))
        }
        #expect(error.code == .notFound)
        #expect(error.message.contains("nope"))
        await #expect(throws: StoreError.self) { try await store.journal(runID: "nope") }
        await #expect(throws: StoreError.self) { try await store.beginAttempt(start("nope", reserve: "0")) }
    }

    @Test func listsRunsNewestFirstUpToTheLimit() async throws {
        let store = try SQLiteJournalStore.inMemory()
        for (index, id) in ["a", "b", "c"].enumerated() {
            try await store.createRun(sampleRun(id: id, created: Double(index)))
        }
        #expect(try await store.listRuns(limit: 10).map(\.id) == ["c", "b", "a"])
        #expect(try await store.listRuns(limit: 2).map(\.id) == ["c", "b"])
    }
}
