import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// The rules of queued runs and workers' leases (``RunQueueStore``), run against every
/// ``StoreUnderTest``: idempotent enqueue, claim order, queue concurrency, leases timed by the
/// store's clock, renewal and fencing after a lost lease, racing claimers.
extension StoreUnderTest {
    /// A lease a test lets run out (set by a claim or a renewal, then waited past). Leases that
    /// must not run out mid-test are an hour long. PostgreSQL's transactions are several round
    /// trips, which take longer while every suite shares two cores.
    var shortLease: Double { self == .postgres ? 1.5 : 0.3 }
}

struct QueueConformanceTests {
    static let stores = ConformanceTests.stores

    private func enqueue(_ store: any JournalStore, _ id: String, queue: String = "default", priority: Int = 0, created: Double = 0,
                         key: String? = nil) async throws -> EnqueueOutcome {
        let started = EventRecord(runID: id, stepID: nil, kind: .runStarted, data: ["budget_usd": "1.00"], at: date(created))
        return try await store.enqueueRun(EnqueueRequest(run: sampleRun(id: id, created: created), events: [started], queue: queue,
                                                         priority: priority, idempotencyKey: key))
    }

    private func worker(_ name: String) -> RunOwner { RunOwner(pid: 1, host: "worker-host", token: name) }

    @Test(arguments: stores)
    func theSameIdempotencyKeyReturnsTheFirstRunAndWritesNothing(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            let first = try await enqueue(store, "a", key: "order-17")
            var expected = sampleRun(id: "a")
            expected.status = .queued
            expected.queue = "default"
            #expect(first == .enqueued(expected))
            #expect(try await store.run(id: "a")?.status == .queued)
            let again = try await enqueue(store, "b", key: "order-17")
            #expect(again == .existing(expected))
            #expect(try await store.run(id: "b") == nil)
            #expect(try await store.journal(runID: "a").events.map(\.kind) == [.runStarted, .runQueued])
            #expect(try await store.journal(runID: "a").events.last?.data == ["queue": "default", "priority": 0])
            // Without a key, every enqueue is a new run.
            #expect(try await enqueue(store, "c") == .enqueued({ var run = sampleRun(id: "c"); run.status = .queued; run.queue = "default"; return run }()))
            #expect(try await store.run(id: "c")?.queue == "default")
            #expect(try await store.queues() == [QueueSummary(name: "default", concurrency: nil, queued: 2, running: 0)])
            let duplicate = try await #require(throws: StoreError.self) { try await enqueue(store, "a") }
            #expect(duplicate.code == .conflict)
            let badName = try await #require(throws: StoreError.self) { try await enqueue(store, "d", queue: "no spaces") }
            #expect(badName.message.contains("no spaces"))
        }
    }

    @Test(arguments: stores)
    func aRunHeldByAPersonsResumeIsLeftAloneWhileItHeartbeatsAndClaimableOnceItStops(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            _ = try await enqueue(store, "held")
            // `wflo resume held` typed by a person: an owner without a lease, heartbeating.
            let person = RunOwner(pid: 99, host: "laptop", token: "resume")
            #expect(try await store.claimRun(id: "held", owner: person, at: Date(), takeOver: { _, _ in false }) == .claimed)
            #expect(try await store.claimQueuedRun(queues: [], owner: worker("w1"), lease: 3600) == nil)
            // Its process was killed: the last heartbeat ages past RunDriver.staleAfter and a worker takes the run.
            try await store.heartbeatRun(id: "held", token: "resume", at: Date().addingTimeInterval(-(RunDriver.staleAfter + 5)))
            let lease = try await store.claimQueuedRun(queues: [], owner: worker("w1"), lease: 3600)
            #expect(lease?.runID == "held")
            #expect(try await store.driver(runID: "held")?.owner.token == "w1")
        }
    }

    @Test(arguments: stores)
    func claimsTakeHigherPriorityFirstThenTheOldestOnTheNamedQueues(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            _ = try await enqueue(store, "old-low", created: 1)
            _ = try await enqueue(store, "new-high", priority: 5, created: 3)
            _ = try await enqueue(store, "older-low", created: 0)
            _ = try await enqueue(store, "elsewhere", queue: "other", priority: 9, created: 0)
            try await store.createRun(sampleRun(id: "not-queued", created: 0))
            var claimed: [String] = []
            while let lease = try await store.claimQueuedRun(queues: ["default"], owner: worker("w"), lease: 3600) {
                #expect(lease.status == .queued && lease.queue == "default" && lease.owner == worker("w"))
                claimed.append(lease.runID)
            }
            #expect(claimed == ["new-high", "older-low", "old-low"])
            // Every queue when none is named; a run that was never enqueued is never claimed.
            #expect(try await store.claimQueuedRun(queues: [], owner: worker("w"), lease: 3600)?.runID == "elsewhere")
            #expect(try await store.claimQueuedRun(queues: [], owner: worker("w"), lease: 3600) == nil)
            // A claim makes the worker the run's driver, as `status` and `resume` see it.
            #expect(try await store.driver(runID: "elsewhere")?.owner == worker("w"))
        }
    }

    @Test(arguments: stores)
    func aQueuesConcurrencyBoundsItsLiveLeasesAcrossWorkers(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setQueue(QueueSettings(name: "serial", concurrency: 1))
            _ = try await enqueue(store, "s1", queue: "serial", created: 1)
            _ = try await enqueue(store, "s2", queue: "serial", created: 2)
            _ = try await enqueue(store, "free", queue: "open", created: 3)
            let first = try #require(try await store.claimQueuedRun(queues: ["serial"], owner: worker("a"), lease: 3600))
            #expect(first.runID == "s1")
            #expect(try await store.claimQueuedRun(queues: ["serial"], owner: worker("b"), lease: 3600) == nil)
            // The full queue does not stop claims on others.
            #expect(try await store.claimQueuedRun(queues: ["serial", "open"], owner: worker("b"), lease: 3600)?.runID == "free")
            #expect(try await store.queues() == [QueueSummary(name: "open", concurrency: nil, queued: 0, running: 1),
                                                 QueueSummary(name: "serial", concurrency: 1, queued: 1, running: 1)])
            // Finishing s1 frees the slot.
            try await store.updateRun(id: "s1", status: .completed, outputs: nil, error: nil, at: date(5))
            #expect(try await store.releaseLease(runID: "s1", token: "a"))
            #expect(try await store.claimQueuedRun(queues: ["serial"], owner: worker("b"), lease: 3600)?.runID == "s2")
            // Raising the limit lets more in; nil lifts it.
            try await store.setQueue(QueueSettings(name: "serial", concurrency: nil))
            #expect(try await store.queues().first { $0.name == "serial" }?.concurrency == nil)
        }
    }

    @Test(arguments: stores)
    func aLeaseExpiresByTheStoresClockAndIsThenLost(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            _ = try await enqueue(store, "r")
            let lease = try #require(try await store.claimQueuedRun(queues: [], owner: worker("a"), lease: 3600))
            #expect(lease.expiresAt.timeIntervalSinceNow > 3000 && lease.expiresAt.timeIntervalSinceNow <= 3600)
            #expect(try await store.claimQueuedRun(queues: [], owner: worker("b"), lease: 3600) == nil)
            #expect(try await store.renewLease(runID: "r", token: "b", lease: 3600) == false)
            // Renewed to a short lease by its holder, then left to run out (timed by the store's clock).
            #expect(try await store.renewLease(runID: "r", token: "a", lease: kind.shortLease))
            try await Task.sleep(for: .seconds(kind.shortLease + 0.3))
            // Expired: lost, even before another worker claims the run.
            #expect(try await store.renewLease(runID: "r", token: "a", lease: 3600) == false)
            let taken = try #require(try await store.claimQueuedRun(queues: [], owner: worker("b"), lease: 3600))
            #expect(taken.runID == "r" && taken.status == .queued)
            #expect(try await store.renewLease(runID: "r", token: "a", lease: 3600) == false)
            #expect(try await store.releaseLease(runID: "r", token: "a") == false)
            #expect(try await store.driver(runID: "r")?.owner == worker("b"))
            // Released, it is claimable again at once.
            #expect(try await store.releaseLease(runID: "r", token: "b"))
            #expect(try await store.claimQueuedRun(queues: [], owner: worker("c"), lease: 3600)?.runID == "r")
        }
    }

    /// The look for attempts in flight when nothing is in flight (a queued run's first start):
    /// PostgreSQL answers it with one statement outside a transaction, which must still refuse a
    /// lost lease, and write nothing.
    @Test(arguments: stores)
    func markingARunWithNothingInFlightWritesNothingAndStillRefusesALostLease(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            #expect(try await store.markInFlightUnsettled(runID: "nope", at: date(1)) == 0, "an unknown run has nothing in flight")
            _ = try await enqueue(store, "run-1")
            let before = try await store.journal(runID: "run-1")
            #expect(try await store.markInFlightUnsettled(runID: "run-1", at: date(2)) == 0)
            #expect(try await store.journal(runID: "run-1") == before, "no attempts_unsettled event for none")

            _ = try #require(try await store.claimQueuedRun(queues: [], owner: worker("a"), lease: 3600))
            let asA = store.fenced(runID: "run-1", token: "a")
            #expect(try await asA.markInFlightUnsettled(runID: "run-1", at: date(3)) == 0)
            let asStranger = store.fenced(runID: "run-1", token: "z")
            let lost = try await #require(throws: StoreError.self) { try await asStranger.markInFlightUnsettled(runID: "run-1", at: date(4)) }
            #expect(lost.code == .leaseLost)
            #expect(try await store.journal(runID: "run-1") == before)
        }
    }

    @Test(arguments: stores)
    func writesThroughALostLeaseFailAndWriteNothing(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            _ = try await enqueue(store, "run-1")
            _ = try #require(try await store.claimQueuedRun(queues: [], owner: worker("a"), lease: 3600))
            let asA = store.fenced(runID: "run-1", token: "a")
            try await asA.updateRun(id: "run-1", status: .running, outputs: nil, error: nil, at: date(1))
            let attempt = try #require(try await asA.beginAttempt(start(reserve: "0.10")).attemptID)
            // The lease runs out (a stalled worker's last renewal was short-lived).
            #expect(try await store.renewLease(runID: "run-1", token: "a", lease: kind.shortLease))
            try await Task.sleep(for: .seconds(kind.shortLease + 0.3))
            _ = try #require(try await store.claimQueuedRun(queues: [], owner: worker("b"), lease: 3600))
            let before = try await store.journal(runID: "run-1")

            let writes: [@Sendable () async throws -> Void] = [
                { try await asA.appendEvent(EventRecord(runID: "run-1", stepID: nil, kind: .runResumed, at: date(2))) },
                { _ = try await asA.beginAttempt(start(step: "facts", reserve: "0.10")) },
                { try await asA.finishAttempt(finish(attempt, cost: "0.05")) },
                { try await asA.recordStep(StepRecord(runID: "run-1", stepID: "t", type: .transform, status: .completed), event: nil) },
                { try await asA.updateRun(id: "run-1", status: .completed, outputs: nil, error: nil, at: date(3)) },
                { _ = try await asA.markInFlightUnsettled(runID: "run-1", at: date(3)) },
                // PostgreSQL checks the lease of these two in the statement's own WHERE, not a transaction around it.
                { _ = try await asA.cancelStepTasks(runID: "run-1") },
            ]
            for write in writes {
                let error = try await #require(throws: StoreError.self) { try await write() }
                #expect(error.code == .leaseLost)
            }
            #expect(try await store.journal(runID: "run-1") == before)
            // The new holder writes; a token that never held the run does not.
            let asB = store.fenced(runID: "run-1", token: "b")
            try await asB.finishAttempt(finish(attempt, cost: "0.05"))
            #expect(try await store.ledger(runID: "run-1").settled == money("0.05"))
            let stranger = try await #require(throws: StoreError.self) {
                try await store.fenced(runID: "run-1", token: "z").appendEvent(EventRecord(runID: "run-1", stepID: nil, kind: .runResumed, at: date(4)))
            }
            #expect(stranger.code == .leaseLost)
            // Reads are not fenced.
            #expect(try await asA.run(id: "run-1")?.id == "run-1")
        }
    }

    @Test(arguments: stores)
    func racingClaimersNeverBothWinARun(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            for index in 0..<5 { _ = try await enqueue(store, "r\(index)", created: Double(index)) }
            let claims = try await withThrowingTaskGroup(of: QueueLease?.self) { group in
                for index in 0..<20 {
                    group.addTask { try await store.claimQueuedRun(queues: [], owner: self.worker("w\(index)"), lease: 3600) }
                }
                return try await group.reduce(into: [QueueLease]()) { if let lease = $1 { $0.append(lease) } }
            }
            #expect(claims.count == 5)
            #expect(Set(claims.map(\.runID)) == ["r0", "r1", "r2", "r3", "r4"])
            for claim in claims { #expect(try await store.driver(runID: claim.runID)?.owner == claim.owner) }
        }
    }

    @Test(arguments: stores)
    func aRunWaitingForAPersonIsClaimableOnlyOnceDecided(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            _ = try await enqueue(store, "run-1")
            _ = try #require(try await store.claimQueuedRun(queues: [], owner: worker("a"), lease: 3600))
            let asA = store.fenced(runID: "run-1", token: "a")
            _ = try await asA.requestApproval(ApprovalRecord(id: "req1", runID: "run-1", stepID: "publish", message: "Publish?", details: .null,
                                                             worstCase: nil, settings: ApprovalSettings(), requestedAt: date(1)),
                                              stepType: .approval)
            try await asA.updateRun(id: "run-1", status: .waitingApproval, outputs: nil, error: nil, at: date(2))
            #expect(try await store.releaseLease(runID: "run-1", token: "a"))
            #expect(try await store.claimQueuedRun(queues: [], owner: worker("b"), lease: 3600) == nil)
            _ = try await store.decideApproval(ApprovalDecision(requestID: "req1", verdict: .approve, by: "ana", at: date(3)))
            let lease = try #require(try await store.claimQueuedRun(queues: [], owner: worker("b"), lease: 3600))
            #expect(lease.runID == "run-1" && lease.status == .waitingApproval)
        }
    }

    @Test(arguments: stores)
    func aRunDrivenWithoutALeaseIsNotClaimedAndFinalRunsNeverAre(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            _ = try await enqueue(store, "held")
            _ = try await enqueue(store, "done", created: 1)
            // `wflo resume` (or `wflo cancel`) holds the run as a process, with no lease, heartbeating now.
            let resume = RunOwner(pid: 7, host: "h", token: "resume")
            #expect(try await store.claimRun(id: "held", owner: resume, at: Date()) { _, _ in false } == .claimed)
            try await store.updateRun(id: "done", status: .cancelled, outputs: nil, error: "cancelled by ana", at: date(2))
            #expect(try await store.claimQueuedRun(queues: [], owner: worker("w"), lease: 3600) == nil)
            try await store.releaseRun(id: "held", token: "resume")
            #expect(try await store.claimQueuedRun(queues: [], owner: worker("w"), lease: kind.shortLease)?.runID == "held")
            try await Task.sleep(for: .seconds(kind.shortLease + 0.3))
            // `wflo resume` taking over the dead worker's run ends its lease: no worker claims it under the resume.
            #expect(try await store.claimRun(id: "held", owner: resume, at: Date()) { _, _ in true } == .claimed)
            #expect(try await store.claimQueuedRun(queues: [], owner: worker("x"), lease: 3600) == nil)
        }
    }
}
