import Foundation
import Testing
import WfloApp
import WfloCore

/// The worker's own rules: how often it renews, which settings it refuses, what it logs.
struct WorkerSettingsTests {
    @Test(arguments: [(3.0, 1.0), (30, 10), (120, 10), (3600, 10)])
    func aLeaseIsRenewedEveryThirdAndAtLeastEveryTenSecondsForOtherMachinesHeartbeatCheck(lease: Double, every: Double) {
        #expect(WorkerService.Settings(lease: lease).renewalInterval == every)
        // Renewals stay well inside what another machine takes for a gone driver.
        #expect(WorkerService.Settings(lease: lease).renewalInterval * 3 <= RunDriver.staleAfter)
    }

    @Test func unusableSettingsSayWhichOptionToFix() {
        #expect(WorkerService.Settings().problem == nil)
        #expect(WorkerService.Settings(concurrency: 0).problem?.contains("--concurrency") == true)
        #expect(WorkerService.Settings(lease: 0.5).problem?.contains("--lease") == true)
        #expect(WorkerService.Settings(lease: .nan).problem?.contains("--lease") == true)
        #expect(WorkerService.Settings(queues: ["a b"]).problem?.contains("--queue") == true)
    }

    @Test func logLinesAreOneJSONObjectEach() {
        #expect(WorkerService.Event.claimed(runID: "r1", queue: "default", status: .queued).json
            == ["event": "claimed", "run_id": "r1", "queue": "default", "status": "queued"])
        #expect(WorkerService.Event.leaseLost(runID: "r1").json == ["event": "lease_lost", "run_id": "r1"])
        #expect(WorkerService.Event.released(runID: "r1", reason: "stopping").json == ["event": "released", "run_id": "r1", "reason": "stopping"])
        #expect(WorkerService.Event.finished(runID: "r1", status: .waitingApproval).json
            == ["event": "finished", "run_id": "r1", "status": "waiting_approval"])
    }
}
