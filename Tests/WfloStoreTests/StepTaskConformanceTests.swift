import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// The rules of a run's step tasks (``StepTaskStore``), run against every ``StoreUnderTest``:
/// enqueue, claims that skip claimed tasks, leases timed by the store's clock, fencing of a lost
/// helper, completion with the outcome and who ran it, cancel.
struct StepTaskConformanceTests {
    static let stores = ConformanceTests.stores

    private func helper(_ name: String) -> RunOwner { RunOwner(pid: 1, host: "helper-host", token: name) }

    private func task(_ step: String, run: String = "run-1", item: Int = 0) -> StepTaskRequest {
        StepTaskRequest(runID: run, stepID: step, payload: ["item": .int(item)], at: date(1))
    }

    @Test(arguments: stores)
    func claimsTakeTheOldestTaskSkipClaimedOnesAndTheDoneTaskSaysWhoRanIt(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            let ids = try await store.enqueueStepTasks([task("items[0]"), task("items[1]", item: 1), task("items[2]", item: 2)])
            #expect(ids.count == 3 && Set(ids).count == 3)
            // Asked again for a live task: the same task, as it was.
            #expect(try await store.enqueueStepTasks([StepTaskRequest(runID: "run-1", stepID: "items[0]", payload: "other", at: date(2))]) == [ids[0]])

            let first = try #require(try await store.claimStepTask(runID: nil, owner: helper("h1"), lease: 3600))
            #expect(first.id == ids[0] && first.stepID == "items[0]" && first.payload == ["item": 0] && first.claims == 1)
            #expect(first.nextAttempt == 1 && first.unsettled == 0)
            #expect(first.expiresAt.timeIntervalSinceNow > 3000)
            // The next claimer skips the claimed task; the driver may claim only its own run's.
            let second = try #require(try await store.claimStepTask(runID: nil, owner: helper("h2"), lease: 3600))
            #expect(second.id == ids[1])
            #expect(try await store.claimStepTask(runID: "another-run", owner: helper("d"), lease: 3600) == nil)
            let third = try #require(try await store.claimStepTask(runID: "run-1", owner: helper("d"), lease: 3600))
            #expect(third.id == ids[2])
            #expect(try await store.claimStepTask(runID: nil, owner: helper("h3"), lease: 3600) == nil)

            // Only the holder completes it; the outcome and the worker stay on the task.
            let outcome = StepTaskOutcome.completed(["text": "ok"])
            #expect(try await store.completeStepTask(id: first.id, token: "h2", outcome: outcome.json) == false)
            #expect(try await store.completeStepTask(id: first.id, token: "h1", outcome: outcome.json))
            #expect(try await store.completeStepTask(id: first.id, token: "h1", outcome: outcome.json) == false)
            let done = try #require(try await store.stepTasks(runID: "run-1", ids: [first.id]).first)
            #expect(done.status == .done && done.owner == helper("h1") && done.claims == 1 && done.finishedAt != nil)
            #expect(done.outcome.flatMap(StepTaskOutcome.init(json:)) == outcome)
            #expect(try await store.stepTasks(runID: "run-1", ids: nil).map(\.status) == [.done, .claimed, .claimed])
            #expect(try await store.stepTasks(runID: "run-1", ids: []).isEmpty)

            // Given back, a task is claimable at once; a done task asked for again is queued again (same id).
            #expect(try await store.releaseStepTask(id: second.id, token: "h1") == false)
            #expect(try await store.releaseStepTask(id: second.id, token: "h2"))
            #expect(try await store.claimStepTask(runID: nil, owner: helper("h3"), lease: 3600)?.id == second.id)
            #expect(try await store.enqueueStepTasks([StepTaskRequest(runID: "run-1", stepID: "items[0]", payload: "again", at: date(3))]) == [first.id])
            let requeued = try #require(try await store.stepTasks(runID: "run-1", ids: [first.id]).first)
            #expect(requeued.status == .queued && requeued.payload == "again" && requeued.outcome == nil)
        }
    }

    @Test(arguments: stores)
    func helpersClaimOnlyTasksOfARunningRunNotAskedToCancel(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            var waiting = sampleRun(id: "queued-run")
            waiting.status = .queued
            try await store.createRun(waiting)
            _ = try await store.enqueueStepTasks([task("a", run: "queued-run")])
            #expect(try await store.claimStepTask(runID: nil, owner: helper("h"), lease: 3600) == nil)
            // Its driver still may (it drains its own run's tasks whatever the status says).
            let own = try #require(try await store.claimStepTask(runID: "queued-run", owner: helper("d"), lease: 3600))
            #expect(try await store.releaseStepTask(id: own.id, token: "d"))

            try await store.createRun(sampleRun(id: "run-1"))
            _ = try await store.enqueueStepTasks([task("b")])
            _ = try await store.requestCancel(runID: "run-1", by: "ana", reason: nil, at: date(2))
            #expect(try await store.claimStepTask(runID: nil, owner: helper("h"), lease: 3600) == nil)
        }
    }

    @Test(arguments: stores)
    func anExpiredLeaseMakesTheTaskClaimableAndItsInFlightAttemptUnsettled(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            _ = try await store.enqueueStepTasks([task("items[0]")])
            let lost = try #require(try await store.claimStepTask(runID: nil, owner: helper("h1"), lease: 3600))
            let asH1 = store.fenced(stepTask: lost)
            _ = try #require(try await asH1.beginAttempt(start(step: "items[0]", reserve: "0.10")).attemptID)
            // Renewed to a short lease, then left to run out (timed by the store's clock): lost, even before another claims it.
            #expect(try await store.renewStepTask(id: lost.id, token: "h2", lease: 3600) == false)
            // (Whether a live lease keeps a claimer off is the first test's, with hour-long leases: a short one may
            // already have run out here on a loaded machine.)
            #expect(try await store.renewStepTask(id: lost.id, token: "h1", lease: kind.shortLease))
            try await Task.sleep(for: .seconds(kind.shortLease + 0.3))
            #expect(try await store.renewStepTask(id: lost.id, token: "h1", lease: 3600) == false)

            let taken = try #require(try await store.claimStepTask(runID: nil, owner: helper("h2"), lease: 3600))
            #expect(taken.id == lost.id && taken.claims == 2)
            // The attempt the lost helper left in flight stays charged at its reservation; the next one is number 2.
            #expect(taken.unsettled == 1 && taken.nextAttempt == 2)
            let journal = try await store.journal(runID: "run-1")
            #expect(journal.attempts.map(\.status) == [.unsettled])
            #expect(journal.ledger.committed == money("0.10"))
            #expect(journal.events.last?.kind == .attemptsUnsettled)
        }
    }

    @Test(arguments: stores)
    func aStaleHelpersWritesAreRefusedAndWriteNothing(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            _ = try await store.enqueueStepTasks([task("items[0]")])
            let lost = try #require(try await store.claimStepTask(runID: nil, owner: helper("h1"), lease: kind.shortLease))
            let asH1 = store.fenced(stepTask: lost)
            try await Task.sleep(for: .seconds(kind.shortLease + 0.3))
            let taken = try #require(try await store.claimStepTask(runID: nil, owner: helper("h2"), lease: 3600))
            let before = try await store.journal(runID: "run-1")

            let writes: [@Sendable () async throws -> Void] = [
                { _ = try await asH1.beginAttempt(start(step: "items[0]", reserve: "0.10")) },
                { try await asH1.appendEvent(EventRecord(runID: "run-1", stepID: "items[0]", kind: .retryScheduled, at: date(2))) },
                { try await asH1.recordStep(StepRecord(runID: "run-1", stepID: "items[0]", type: .transform, status: .completed), event: nil) },
            ]
            for write in writes {
                let error = try await #require(throws: StoreError.self) { try await write() }
                #expect(error.code == .leaseLost)
                #expect(error.message.contains("step task \(lost.id)"))
            }
            #expect(try await store.completeStepTask(id: lost.id, token: "h1", outcome: StepTaskOutcome.failed("late").json) == false)
            #expect(try await store.journal(runID: "run-1") == before)
            // The new holder writes.
            let asH2 = store.fenced(stepTask: taken)
            let attempt = try #require(try await asH2.beginAttempt(start(step: "items[0]", number: taken.nextAttempt, reserve: "0.10")).attemptID)
            try await asH2.finishAttempt(finish(attempt, step: "items[0]", cost: "0.04"))
            #expect(try await store.ledger(runID: "run-1").settled == money("0.04"))
            #expect(try await store.completeStepTask(id: taken.id, token: "h2", outcome: StepTaskOutcome.completed("ok").json))
        }
    }

    @Test(arguments: stores)
    func cancelStopsEveryTaskOfTheRunAndItsHelpersWrites(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            try await store.createRun(sampleRun(id: "other"))
            _ = try await store.enqueueStepTasks([task("items[0]"), task("items[1]", item: 1), task("x", run: "other")])
            let held = try #require(try await store.claimStepTask(runID: "run-1", owner: helper("h1"), lease: 3600))
            let asH1 = store.fenced(stepTask: held)
            #expect(try await store.cancelStepTasks(runID: "run-1") == 2)
            #expect(try await store.stepTasks(runID: "run-1", ids: nil).map(\.status) == [.cancelled, .cancelled])
            let error = try await #require(throws: StoreError.self) { _ = try await asH1.beginAttempt(start(step: "items[0]", reserve: "0.10")) }
            #expect(error.code == .leaseLost)
            #expect(try await store.renewStepTask(id: held.id, token: "h1", lease: 3600) == false)
            #expect(try await store.completeStepTask(id: held.id, token: "h1", outcome: StepTaskOutcome.completed("ok").json) == false)
            // Another run's tasks are untouched; nothing of the cancelled run is claimed.
            #expect(try await store.claimStepTask(runID: nil, owner: helper("h2"), lease: 3600)?.runID == "other")
            #expect(try await store.claimStepTask(runID: nil, owner: helper("h3"), lease: 3600) == nil)
            #expect(try await store.cancelStepTasks(runID: "run-1") == 0)
        }
    }

    @Test(arguments: stores)
    func aResumeLeavesALiveHelpersAttemptInFlight(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            _ = try await store.enqueueStepTasks([task("items[0]")])
            let held = try #require(try await store.claimStepTask(runID: nil, owner: helper("h1"), lease: 3600))
            let helped = try #require(try await store.fenced(stepTask: held).beginAttempt(start(step: "items[0]", reserve: "0.10")).attemptID)
            let own = try #require(try await store.beginAttempt(start(step: "outline", reserve: "0.20")).attemptID)
            // The driver restarted: its own in-flight attempt is unsettled, the live helper's is not.
            #expect(try await store.markInFlightUnsettled(runID: "run-1", at: date(3)) == 1)
            let attempts = try await store.journal(runID: "run-1").attempts
            #expect(attempts.first { $0.id == own }?.status == .unsettled)
            #expect(attempts.first { $0.id == helped }?.status == .running)
        }
    }

    @Test(arguments: stores)
    func racingClaimersNeverBothWinATask(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(sampleRun())
            _ = try await store.enqueueStepTasks((0..<5).map { task("items[\($0)]", item: $0) })
            let claims = try await withThrowingTaskGroup(of: StepTaskLease?.self) { group in
                for index in 0..<20 {
                    group.addTask { try await store.claimStepTask(runID: nil, owner: self.helper("h\(index)"), lease: 3600) }
                }
                return try await group.reduce(into: [StepTaskLease]()) { if let lease = $1 { $0.append(lease) } }
            }
            #expect(claims.count == 5)
            #expect(Set(claims.map(\.stepID)) == Set((0..<5).map { "items[\($0)]" }))
            for claim in claims {
                #expect(try await store.stepTasks(runID: "run-1", ids: [claim.id]).first?.owner == claim.owner)
            }
        }
    }
}
