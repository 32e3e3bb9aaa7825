import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// Dead letters, forks and gc (issue 21) on every ``StoreUnderTest``.
struct RecoveryConformanceTests {
    static let stores = ConformanceTests.stores

    static func step(_ run: String, _ id: String, _ status: StepStatus, error: String? = nil, finished: Double) -> StepRecord {
        StepRecord(runID: run, stepID: id, type: .llm, status: status, output: status == .completed ? ["text": "hi"] : nil, error: error,
                   model: "gpt-4o-mini", startedAt: date(finished - 1), finishedAt: date(finished))
    }

    @Test(arguments: stores)
    func failedRunsComeNewestFirstWithTheStepThatFailedFirst(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            for (id, created) in [("old", 0.0), ("new", 100), ("fine", 50)] { try await store.createRun(sampleRun(id: id, created: created)) }
            try await store.recordStep(Self.step("old", "a", .completed, finished: 5), event: nil)
            try await store.recordStep(Self.step("old", "c", .failed, error: "later", finished: 9), event: nil)
            try await store.recordStep(Self.step("old", "b", .failed, error: "HTTP 400: too long", finished: 7), event: nil)
            try await store.updateRun(id: "old", status: .failed, outputs: nil, error: "step 'b' failed: HTTP 400: too long", at: date(10))
            try await store.updateRun(id: "new", status: .failed, outputs: nil, error: "outputs: no such step", at: date(110))
            try await store.updateRun(id: "fine", status: .completed, outputs: [:], error: nil, at: date(60))
            let letters = try await store.failedRuns(since: nil, workflow: nil, limit: 10)
            #expect(letters.map(\.run.id) == ["new", "old"])
            #expect(letters[0].failedStep == nil && letters[0].reason == "outputs: no such step")
            #expect(letters[1].failedStep == "b" && letters[1].reason == "HTTP 400: too long")
            #expect(try await store.failedRuns(since: date(50), workflow: nil, limit: 10).map(\.run.id) == ["new"])
            #expect(try await store.failedRuns(since: nil, workflow: "other", limit: 10).isEmpty)
            #expect(try await store.failedRuns(since: nil, workflow: "brief", limit: 1).map(\.run.id) == ["new"])
        }
    }

    @Test(arguments: stores)
    func aForkIsWrittenWithItsReusedStepsAndNoAttempts(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(id: "src"))
            var fork = sampleRun(id: "fork", created: 20)
            fork.status = .queued
            let reused = [Self.step("src", "a", .completed, finished: 5)]
            try await store.createForkedRun(fork, events: [EventRecord(runID: "fork", stepID: nil, kind: .runForked, data: ["from_run": "src"], at: date(20))],
                                            reused: reused)
            let journal = try await store.journal(runID: "fork")
            #expect(journal.run.status == .queued)
            #expect(journal.steps.map(\.stepID) == ["a"] && journal.steps.first?.runID == "fork" && journal.steps.first?.output == ["text": "hi"])
            #expect(journal.attempts.isEmpty && journal.ledger.committed == .zero)
            #expect(journal.events.map(\.kind) == [.runForked])
            await #expect(throws: StoreError.self) { try await store.createForkedRun(fork, events: [], reused: []) }
        }
    }

    @Test(arguments: stores)
    func gcRemovesFinishedRunsDetailsButKeepsTheirLedger(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun(id: "done"))
            try await store.createRun(sampleRun(id: "going"))
            guard case .started(let attempt) = try await store.beginAttempt(start("done", step: "a", reserve: "0.1")) else {
                Issue.record("the reservation was refused")
                return
            }
            _ = try await store.finishAttempt(AttemptFinish(attemptID: attempt, runID: "done", stepID: "a", succeeded: true, cost: money("0.04"),
                                                            usage: nil, error: nil, stepStatus: .completed, stepOutput: ["text": "x"], at: date(2)))
            try await store.updateRun(id: "done", status: .completed, outputs: ["x": 1], error: nil, at: date(3))
            let ledger = try await store.ledger(runID: "done")
            let dry = try await store.collectGarbage(finishedBefore: date(100), dryRun: true, at: date(200))
            #expect(dry.runs == 1 && dry.steps == 1 && dry.events > 0)
            #expect(try await store.journal(runID: "done").steps.count == 1)
            let done = try await store.collectGarbage(finishedBefore: date(100), dryRun: false, at: date(200))
            #expect(done == dry)
            let journal = try await store.journal(runID: "done")
            #expect(journal.steps.isEmpty && journal.run.outputs == nil)
            #expect(journal.events.map(\.kind) == [.runCollected])
            let kept = try await store.ledger(runID: "done")
            #expect(journal.attempts.count == 1 && kept == ledger)
            #expect(try await store.collectGarbage(finishedBefore: date(100), dryRun: false, at: date(300)).runs == 0)
            #expect(try await store.journal(runID: "going").run.status == .running)
        }
    }
}
