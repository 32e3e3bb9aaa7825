import Foundation
import Testing
import WfloCore

/// The rules for who drives a run and what a person is shown: ``RunStatus/shown(driverAlive:awaitingDecision:enqueued:)``
/// and ``QueueClaimRule/isClaimable(status:hasOwner:leaseExpiresAt:heartbeatAt:pendingApprovals:now:)``.
struct RunDriverRulesTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    @Test func aRunningRunWithoutALiveDriverIsInterruptedOrQueuedWhenAWorkerWillContinueIt() {
        #expect(RunStatus.running.shown(driverAlive: false, awaitingDecision: false) == "interrupted")
        #expect(RunStatus.running.shown(driverAlive: false, awaitingDecision: false, enqueued: true) == "queued")
        #expect(RunStatus.running.shown(driverAlive: true, awaitingDecision: false, enqueued: true) == "running")
        #expect(RunStatus.running.shown(driverAlive: true, awaitingDecision: true) == "waiting_approval")
        #expect(RunStatus.completed.shown(driverAlive: false, awaitingDecision: false, enqueued: true) == "completed")
    }

    @Test func anOwnerWithoutALeaseHoldsARunUntilItsHeartbeatIsStale() {
        func claimable(heartbeat: Double?) -> Bool {
            QueueClaimRule.isClaimable(status: .running, hasOwner: true, leaseExpiresAt: nil,
                                       heartbeatAt: heartbeat.map { now.addingTimeInterval(-$0) }, pendingApprovals: 0, now: now)
        }
        #expect(!claimable(heartbeat: 1))
        #expect(!claimable(heartbeat: RunDriver.staleAfter - 1))
        #expect(claimable(heartbeat: RunDriver.staleAfter + 1))
        #expect(claimable(heartbeat: nil))
        // A lease decides by its expiry alone, whatever the heartbeat.
        #expect(!QueueClaimRule.isClaimable(status: .running, hasOwner: true, leaseExpiresAt: now.addingTimeInterval(5),
                                            heartbeatAt: now.addingTimeInterval(-3600), pendingApprovals: 0, now: now))
        #expect(QueueClaimRule.isClaimable(status: .queued, hasOwner: true, leaseExpiresAt: now.addingTimeInterval(-1),
                                           heartbeatAt: now, pendingApprovals: 0, now: now))
        #expect(!QueueClaimRule.isClaimable(status: .waitingApproval, hasOwner: false, leaseExpiresAt: nil, heartbeatAt: nil,
                                            pendingApprovals: 1, now: now))
    }
}
