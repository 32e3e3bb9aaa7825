import Foundation
import Synchronization
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloStore

/// Waiting for approval decisions and cancel requests goes through ``JournalNotifications``, and
/// every wait (the lease heartbeat too) runs on the configuration's clock: these tests drive
/// them by hand, without sleeping.
@Suite(.timeLimit(.minutes(1)))
struct RunWaitTests {
    /// One approval step with an hour to decide, rejected when nobody does.
    static let hourToDecide = ApprovalTests.timing("reject").replacingOccurrences(of: "timeout: 200ms", with: "timeout: 1h")

    func configuration(_ h: Harness, now: @escaping @Sendable () -> Date = { Date() }) -> ExecutorConfiguration {
        ExecutorConfiguration(store: h.store, pricing: testPricing, llm: h.llm, observer: h.observer, now: now, sleep: { _ in },
                              random: { 0.5 }, approvals: .wait(pollInterval: 0.2))
    }

    func start(_ configuration: ExecutorConfiguration, runID: String) throws -> Task<RunResult, any Error> {
        let yaml = Self.hourToDecide
        let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
        return Task {
            try await Executor(configuration).start(definition: definition, source: yaml, path: "test.yaml", inputs: [:],
                                                    budget: definition.budget, runID: runID)
        }
    }

    @Test func anApprovalDeadlinePassesOnTheInjectedClock() async throws {
        try await Harness.with { h in
            let clock = ManualClock()
            var configuration = configuration(h, now: { clock.now() })
            configuration.wait = { try await clock.wait($0) }
            let run = try start(configuration, runID: Executor.makeRunID())
            // The lease heartbeat, the cancel watch and the approval wait.
            await clock.sleepers(atLeast: 3)
            clock.advance(by: 3600)
            let result = try await run.value
            #expect(result.status == .rejected)
            let request = try #require(try await h.store.journal(runID: result.runID).approvals.first)
            #expect(request.status == .rejected)
            #expect(request.decidedBy == approvalTimeoutDecider)
            #expect(request.decidedAt == clock.now())
        }
    }

    @Test func aCancelRequestWakesTheRunThroughItsNotifications() async throws {
        try await Harness.with { h in
            let notifications = ManualNotifications()
            var configuration = configuration(h)
            configuration.notifications = notifications
            let runID = Executor.makeRunID()
            let run = try start(configuration, runID: runID)
            // The approval wait and the cancel watch wait for a notification, not a timer.
            await notifications.waiters(atLeast: 2)
            _ = try await h.store.requestCancel(runID: runID, by: "tester", reason: "enough", at: Date())
            notifications.notifyAll()
            let result = try await run.value
            #expect(result.status == .cancelled)
            #expect(notifications.waits.cancels >= 1 && notifications.waits.decisions >= 1)
            let request = try #require(try await h.store.journal(runID: runID).approvals.first)
            #expect(request.status == .rejected && request.decidedBy?.hasPrefix("wflo cancel") == true)
        }
    }

    @Test func theLeaseHeartbeatBeatsOnTheInjectedClock() async throws {
        try await Harness.with { h in
            let clock = ManualClock()
            let notifications = ManualNotifications()
            var configuration = configuration(h, now: { clock.now() })
            configuration.wait = { try await clock.wait($0) }
            configuration.notifications = notifications
            let runID = Executor.makeRunID()
            let run = try start(configuration, runID: runID)
            await notifications.waiters(atLeast: 2)
            await clock.sleepers(atLeast: 1)
            clock.advance(by: 2)
            // It beat, and waits for the next beat.
            await clock.sleepers(atLeast: 1)
            let other = RunOwner(pid: 1, host: "elsewhere.example", token: "other")
            let claim = try await h.store.claimRun(id: runID, owner: other, at: clock.now()) { _, _ in false }
            guard case .heldBy(_, let heartbeat) = claim else {
                Issue.record("the run was not held: \(claim)")
                return
            }
            #expect(heartbeat == clock.now())

            _ = try await h.store.requestCancel(runID: runID, by: "tester", reason: nil, at: clock.now())
            notifications.notifyAll()
            #expect(try await run.value.status == .cancelled)
        }
    }

    /// The polling adapter waits one interval, cut short at the deadline, never negative.
    @Test func pollingWaitsOneIntervalCutAtTheDeadline() async throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let waits = Mutex<[Double]>([])
        let polling = PollingJournalNotifications(approvalInterval: 0.5, cancelInterval: 0.2, now: { now },
                                                  wait: { seconds in waits.withLock { $0.append(seconds) } })
        try await polling.waitForDecision(requestID: "r", runID: "run", until: nil)
        try await polling.waitForDecision(requestID: "r", runID: "run", until: now.addingTimeInterval(0.125))
        try await polling.waitForCancel(runID: "run", until: nil)
        try await polling.waitForCancel(runID: "run", until: now.addingTimeInterval(-5))
        #expect(waits.withLock { $0 } == [0.5, 0.125, 0.2, 0])
    }
}
