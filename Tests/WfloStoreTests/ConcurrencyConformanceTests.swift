import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// A workflow's `concurrency:` slots (``ConcurrencyStore``, ``ConcurrencyRule``) on every
/// ``StoreUnderTest``: at most `limit` runs of a key hold a slot, from their claim (or start) until
/// they are final; `skip` and `cancel_running` at a full key; claimers racing never exceed the limit.
struct ConcurrencyConformanceTests {
    static let stores = ConformanceTests.stores

    private func run(_ id: String, key: String = "acme", limit: Int = 1, _ onConflict: ConcurrencySettings.OnConflict = .queue,
                     created: Double = 0) -> RunRecord {
        var run = sampleRun(id: id, created: created)
        run.concurrency = RunConcurrency(key: key, limit: limit, onConflict: onConflict)
        return run
    }

    private func enqueue(_ store: any JournalStore, _ run: RunRecord, idempotencyKey: String? = nil) async throws -> RunRecord {
        let started = EventRecord(runID: run.id, stepID: nil, kind: .runStarted, data: ["budget_usd": "1.00"], at: run.createdAt)
        return try await store.enqueueRun(EnqueueRequest(run: run, events: [started], idempotencyKey: idempotencyKey)).run
    }

    private func claim(_ store: any JournalStore, _ worker: String = "w") async throws -> String? {
        try await store.claimQueuedRun(queues: [], owner: RunOwner(pid: 1, host: "worker-host", token: worker), lease: 3600)?.runID
    }

    /// Ends a claimed run as its worker does (through the fenced view), and gives the lease back.
    private func finish(_ store: any JournalStore, _ id: String, worker: String = "w", _ status: RunStatus = .completed) async throws {
        try await store.fenced(runID: id, token: worker).updateRun(id: id, status: status, outputs: nil, error: nil, at: date(50))
        try await store.releaseLease(runID: id, token: worker)
    }

    @Test(arguments: stores)
    func aFullKeyMakesItsRunsWaitInQueueOrderAndAFinishedRunFreesItsSlot(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            #expect(try await enqueue(store, run("a", created: 0)).concurrency == RunConcurrency(key: "acme", limit: 1, onConflict: .queue))
            _ = try await enqueue(store, run("b", created: 1))
            _ = try await enqueue(store, run("c", created: 2))
            // Read back from the journal as it was written.
            #expect(try await store.run(id: "b")?.concurrency == RunConcurrency(key: "acme", limit: 1, onConflict: .queue))
            #expect(try await claim(store) == "a")
            #expect(try await claim(store) == nil)
            #expect(try await store.concurrencyOccupants(workflow: "brief", key: "acme")
                    == [ConcurrencyOccupant(runID: "a", status: .queued, holdsSlot: true, cancelRequested: false),
                        ConcurrencyOccupant(runID: "b", status: .queued, holdsSlot: false, cancelRequested: false),
                        ConcurrencyOccupant(runID: "c", status: .queued, holdsSlot: false, cancelRequested: false)])
            // A worker that stops gives the run back: it keeps its slot, so it (not b) is claimed next.
            try await store.releaseLease(runID: "a", token: "w")
            #expect(try await claim(store) == "a")
            try await finish(store, "a", .failed)
            #expect(try await claim(store) == "b")
            #expect(try await claim(store) == nil)
            try await finish(store, "b")
            #expect(try await claim(store) == "c")
        }
    }

    @Test(arguments: stores)
    func aLimitOfTwoHoldsTwoAndKeysAndWorkflowsAreIndependent(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            for (index, id) in ["a1", "a2", "a3"].enumerated() { _ = try await enqueue(store, run(id, limit: 2, created: Double(index))) }
            _ = try await enqueue(store, run("b1", key: "globex", limit: 2, created: 3))
            var other = run("o1", limit: 1, created: 4)
            other.workflowName = "other"
            _ = try await enqueue(store, other)
            var claimed: [String] = []
            while let id = try await claim(store) { claimed.append(id) }
            #expect(claimed == ["a1", "a2", "b1", "o1"])
            try await finish(store, "a2")
            #expect(try await claim(store) == "a3")
            #expect(try await claim(store) == nil)
        }
    }

    @Test(arguments: stores)
    func aRunWaitingForAnApprovalKeepsItsSlot(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            _ = try await enqueue(store, run("a", created: 0))
            _ = try await enqueue(store, run("b", created: 1))
            #expect(try await claim(store, "w1") == "a")
            let asW1 = store.fenced(runID: "a", token: "w1")
            _ = try await asW1.requestApproval(ApprovalRecord(id: "req1", runID: "a", stepID: "publish", message: "Publish?", details: .null,
                                                              worstCase: nil, settings: ApprovalSettings(), requestedAt: date(1)),
                                               stepType: .approval)
            try await asW1.updateRun(id: "a", status: .waitingApproval, outputs: nil, error: nil, at: date(2))
            try await store.releaseLease(runID: "a", token: "w1")
            // a waits for a person, with no worker: b still may not start.
            #expect(try await claim(store, "w2") == nil)
            #expect(try await store.takeConcurrencySlot(runID: "b", arriving: false, at: date(3)) == .waiting(holders: ["a"]))
            _ = try await store.decideApproval(ApprovalDecision(requestID: "req1", verdict: .approve, by: "ana", at: date(4)))
            #expect(try await claim(store, "w2") == "a")
            try await finish(store, "a", worker: "w2")
            #expect(try await claim(store, "w2") == "b")
        }
    }

    @Test(arguments: stores)
    func skipEndsANewRunAtAFullKeyAtOnceSayingWhy(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            _ = try await enqueue(store, run("a", .skip, created: 0))
            // a is admitted and waits for a worker: it counts, so b is skipped before anything is claimed.
            let b = try await enqueue(store, run("b", .skip, created: 1), idempotencyKey: "delivery-7")
            #expect(b.status == .cancelled)
            let reason = "skipped: workflow 'brief' already has 1 run with concurrency key 'acme' (limit 1, on_conflict: skip)"
            #expect(b.error == reason)
            let journal = try await store.journal(runID: "b")
            #expect(journal.run.status == .cancelled && journal.run.error == reason)
            #expect(journal.events.map(\.kind) == [.runStarted, .runQueued, .runCancelled])
            // The same delivery again: the same (skipped) run, nothing written.
            #expect(try await enqueue(store, run("b2", .skip, created: 2), idempotencyKey: "delivery-7").id == "b")
            #expect(try await store.run(id: "b2") == nil)
            #expect(try await claim(store) == "a")
            #expect(try await claim(store) == nil)
            // Another key is not full.
            #expect(try await enqueue(store, run("c", key: "globex", .skip, created: 3)).status == .queued)
            try await finish(store, "a")
            #expect(try await enqueue(store, run("d", .skip, created: 4)).status == .queued)
        }
    }

    @Test(arguments: stores)
    func cancelRunningAsksTheOldestRunToCancelAndTheNewOneStartsOnceItEnded(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            _ = try await enqueue(store, run("a", .cancelRunning, created: 0))
            #expect(try await claim(store, "w1") == "a")
            #expect(try await enqueue(store, run("b", .cancelRunning, created: 1)).status == .queued)
            let request = try #require(try await store.cancelRequest(runID: "a"))
            #expect(request.by == ConcurrencyRule.cancelBy)
            #expect(request.reason?.contains("the newer run b") == true)
            #expect(try await store.journal(runID: "a").events.last?.kind == .cancelRequested)
            // a holds its slot until its worker has stopped it.
            #expect(try await claim(store, "w2") == nil)
            // c arrives while b waits: b (never started) is the one asked to go, not a again.
            _ = try await enqueue(store, run("c", .cancelRunning, created: 2))
            #expect(try await store.cancelRequest(runID: "b")?.reason?.contains("the newer run c") == true)
            // b, asked to cancel, may be claimed without a slot (it only ends); c still waits for a's slot.
            #expect(try await claim(store, "w2") == "b")
            try await finish(store, "b", worker: "w2", .cancelled)
            #expect(try await claim(store, "w2") == nil)
            try await finish(store, "a", worker: "w1", .cancelled)
            #expect(try await claim(store, "w2") == "c")
            #expect(try await store.concurrencyOccupants(workflow: "brief", key: "acme").map(\.runID) == ["c"])
        }
    }

    @Test(arguments: stores)
    func aRunItsOwnProcessDrivesTakesItsSlotInTheSameWay(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            // `wflo run`: created waiting (no queue), then its slot.
            var x = run("x", limit: 1, created: 0)
            x.status = .queued
            try await store.createRun(x)
            #expect(try await store.takeConcurrencySlot(runID: "x", arriving: true, at: date(1)) == .taken)
            #expect(try await store.takeConcurrencySlot(runID: "x", arriving: false, at: date(1)) == .taken)
            var y = x
            y.id = "y"
            try await store.createRun(y)
            #expect(try await store.takeConcurrencySlot(runID: "y", arriving: true, at: date(2)) == .waiting(holders: ["x"]))
            // A queued run of the key is not claimed past x either.
            _ = try await enqueue(store, run("q", created: 3))
            #expect(try await claim(store) == nil)
            try await store.updateRun(id: "x", status: .failed, outputs: nil, error: "boom", at: date(4))
            #expect(try await store.takeConcurrencySlot(runID: "y", arriving: false, at: date(5)) == .taken)
            #expect(try await claim(store) == nil)
            // `wflo retry x`: the failed run gave its slot up and waits for one again.
            #expect(try await store.takeConcurrencySlot(runID: "x", arriving: false, at: date(6)) == .waiting(holders: ["y"]))
            #expect(try await store.run(id: "x")?.status == .queued)
            // skip, for a process's run.
            var s = run("s", .skip, created: 7)
            s.status = .queued
            try await store.createRun(s)
            let reason = "skipped: workflow 'brief' already has 3 runs with concurrency key 'acme' (limit 1, on_conflict: skip)"
            #expect(try await store.takeConcurrencySlot(runID: "s", arriving: true, at: date(8)) == .ended(.cancelled, reason: reason))
            #expect(try await store.run(id: "s")?.error == reason)
            // No concurrency: nothing to take.
            try await store.createRun(sampleRun(id: "free", created: 9))
            #expect(try await store.takeConcurrencySlot(runID: "free", arriving: true, at: date(9)) == .taken)
            let missing = try await #require(throws: StoreError.self) { try await store.takeConcurrencySlot(runID: "nope", arriving: true, at: date(9)) }
            #expect(missing.code == .notFound)
        }
    }

    /// Many claimers at once, each driving what it claims for a moment and ending it: the runs
    /// holding a slot at any moment never exceed the limit, and every run is driven.
    @Test(arguments: stores)
    func racingClaimersNeverExceedTheLimit(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            let count = 12
            for index in 0..<count { _ = try await enqueue(store, run("r\(index)", limit: 2, created: Double(index))) }
            let gauge = InFlight()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        let token = "w\(worker)"
                        var idle = 0
                        while idle < 40 {
                            guard let id = try await claim(store, token) else {
                                idle += 1
                                try await Task.sleep(for: .milliseconds(10))
                                continue
                            }
                            idle = 0
                            await gauge.enter(id)
                            try await Task.sleep(for: .milliseconds(60))
                            await gauge.leave(id)
                            try await finish(store, id, worker: token)
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Never above the limit; at the limit whenever two claims overlapped (nearly always, but a
            // loaded machine may serialise them: not asserted).
            let peak = await gauge.peak
            #expect(peak >= 1 && peak <= 2, "peak \(peak)")
            #expect(await gauge.driven.count == count)
            for index in 0..<count { #expect(try await store.run(id: "r\(index)")?.status == .completed) }
        }
    }
}

/// Counts the runs being driven at once (entered before a run's work, left before it is ended).
actor InFlight {
    private(set) var now = 0
    private(set) var peak = 0
    private(set) var driven: Set<String> = []

    func enter(_ id: String) {
        now += 1
        peak = max(peak, now)
        driven.insert(id)
    }

    func leave(_ id: String) { now -= 1 }
}
