import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing
import WfloTesting

struct WorkerServiceTests {
    /// The environment over `store` and a free one-step workflow written into `folder`, ready to submit.
    static func freeWorkflow(_ store: any JournalStore, in folder: URL) throws -> (WfloEnvironment, RunService, RunService.Workflow) {
        let file = folder.appendingPathComponent("free.yaml")
        try "name: free\nbudget: 0\nsteps:\n  - id: shape\n    type: transform\n    output: {done: true}\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let pricing = try PricingTable(json: [:], source: "empty table")
        let environment = try WfloEnvironment(store: store, settings: .init(pricing: pricing, environment: ["HOME": folder.path]))
        let runs = environment.runs(observer: SilentObserver())
        return (environment, runs, try runs.load(file: file.path))
    }

    /// A worker at its concurrency claims the next run as soon as the one in hand ends, and
    /// stops at once: with a 10-minute poll interval and one slot, three runs finish and the
    /// worker ends in moments (before the wake-up, the second run waited the whole interval).
    /// No bound on time but the test's own: the full suite on two cores slows everything.
    @Test(.timeLimit(.minutes(10)))
    func aFreedSlotIsFilledAtOnceNotAfterThePollInterval() async throws {
        try await ServiceTests.withJournal { folder, store in
            let (environment, runs, workflow) = try Self.freeWorkflow(store, in: folder)
            var ids: [String] = []
            for _ in 0..<3 {
                ids.append(try await runs.submit(workflow, inputs: [:], budget: .zero).run.id)
            }
            let worker = WorkerService(store: store, runs: runs, settings: .init(concurrency: 1, pollInterval: 600))
            let working = Task { try await worker.run() }
            let clock = ContinuousClock()
            let started = clock.now
            var statuses: [RunStatus?] = []
            while clock.now - started < .seconds(300) {
                statuses = []
                for id in ids { statuses.append(try await store.run(id: id)?.status) }
                if statuses.allSatisfy({ $0?.isFinal == true }) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(statuses == [.completed, .completed, .completed])
            worker.stop()
            try await working.value
            try await environment.close()
        }
    }

    /// A run a worker cannot drive (its model is in the submitter's pricing table, not the
    /// worker's) ends failed, saying why, the way a cancel ends one: the step tasks an earlier
    /// spreading driver left end with it (a helper still holding one can commit nothing more,
    /// nothing claims the queued one), the helper's call in flight is charged at its reservation,
    /// and a pending approval request is closed.
    @Test(.timeLimit(.minutes(5)))
    func aRunAWorkerCannotDriveEndsFailedWithItsStepTasksEndedAndItsCallInFlightCharged() async throws {
        try await ServiceTests.withJournal { folder, store in
            let file = folder.appendingPathComponent("house.yaml")
            try """
                name: house
                budget: 1
                steps:
                  - id: a
                    type: llm
                    model: house-model
                    prompt: "Say a"
                    max_tokens: 5
                  - id: b
                    type: llm
                    model: house-model
                    prompt: "Say b"
                    max_tokens: 5
                """.write(to: file, atomically: true, encoding: .utf8)
            let house: JSONValue = ["house-model": ["input_cost_per_token": 0, "output_cost_per_token": 0,
                                                    "input_cost_per_request": .number("0.01"), "litellm_provider": "openai"]]
            let submitter = try WfloEnvironment(store: store, settings: .init(pricing: try PricingTable(json: house, source: "house table"),
                                                                              environment: ["HOME": folder.path]))
            let submitting = submitter.runs(observer: SilentObserver())
            let runID = try await submitting.submit(try submitting.load(file: file.path), inputs: [:], budget: nil).run.id

            // What a spreading driver that died left: a's task held by a live helper mid-call, b's queued.
            let helper = RunOwner(pid: 2, host: "helper-host", token: "helper")
            let ids = try await store.enqueueStepTasks(["a", "b"].map {
                StepTaskRequest(runID: runID, stepID: $0, payload: ["step": .string($0)], at: Date())
            })
            let held = try #require(try await store.claimStepTask(runID: runID, owner: helper, lease: 3600))
            #expect(held.id == ids[0])
            let begun = try await store.fenced(stepTask: held).beginAttempt(
                AttemptStart(runID: runID, stepID: "a", stepType: .llm, number: 1, model: "house-model", reserve: Money(string: "0.01")!, at: Date()))
            guard case .started = begun else {
                Issue.record("the helper's attempt did not start: \(begun)")
                return
            }
            // And a request for a decision nobody can act on once the run has ended.
            _ = try await store.requestApproval(ApprovalRecord(id: "req-b", runID: runID, stepID: "b", message: "Send b?", details: .null,
                                                               worstCase: nil, settings: ApprovalSettings(approvers: []), requestedAt: Date()),
                                                stepType: .llm)

            let (environment, runs, _) = try Self.freeWorkflow(store, in: folder)
            let worker = WorkerService(store: store, runs: runs, settings: .init(concurrency: 1, pollInterval: 0.05))
            let working = Task { try await worker.run() }
            let clock = ContinuousClock()
            let started = clock.now
            while try await store.run(id: runID)?.status.isFinal != true, clock.now - started < .seconds(120) {
                try await Task.sleep(for: .milliseconds(50))
            }
            worker.stop()
            try await working.value

            let run = try #require(try await store.run(id: runID))
            #expect(run.status == .failed)
            #expect(run.error?.contains("a worker could not drive the run") == true, "\(run.error ?? "")")
            #expect(run.error?.contains("house-model") == true, "\(run.error ?? "")")
            #expect(try await store.stepTasks(runID: runID, ids: nil).map(\.status) == [.cancelled, .cancelled])
            #expect(try await store.claimStepTask(runID: nil, owner: RunOwner(pid: 3, host: "h", token: "late"), lease: 60) == nil)
            let journal = try await store.journal(runID: runID)
            #expect(journal.attempts.map(\.status) == [.unsettled])
            #expect(journal.ledger.reserved == Money(string: "0.01") && journal.ledger.committed == Money(string: "0.01"))
            let closed = try #require(try await store.approval(id: "req-b"))
            #expect(closed.status == .rejected && closed.decidedBy == "wflo (run failed)", "\(closed)")
            // The helper's answer comes too late: its task is no longer its own.
            #expect(try await store.completeStepTask(id: held.id, token: helper.token, outcome: ["text": "late"]) == false)
            try await environment.close()
            try await submitter.close()
        }
    }

    /// On PostgreSQL an idle worker is woken by the journal (LISTEN/NOTIFY): with both poll
    /// intervals at 10 minutes, a run submitted while the worker waits is claimed and finished,
    /// and so is a second one submitted after the first ended. Without the notification the
    /// worker would look again only when its listening wait gives up (30 s): each run must end
    /// within 20 s of its submission (under a second on a quiet machine).
    @Test(.enabled(if: TestPostgres.url != nil || TestPostgres.isRequired, "WFLO_TEST_POSTGRES_URL is unset: the PostgreSQL case is skipped"),
          .timeLimit(.minutes(5)))
    func anIdleWorkerOnPostgreSQLIsWokenBySubmittingARun() async throws {
        try await TestPostgres.withDatabase { url in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-app-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let store = try await JournalLocation.parse(url).open(creating: true)
            #expect(store.pushNotifications != nil)
            let (environment, runs, workflow) = try Self.freeWorkflow(store, in: folder)
            let worker = WorkerService(store: store, runs: runs, settings: .init(concurrency: 1, pollInterval: 600, pushedPollInterval: 600))
            let working = Task { try await worker.run() }
            for _ in 0..<2 {
                // The worker has looked, found nothing, and waits (its first look happens at once).
                try await Task.sleep(for: .milliseconds(500))
                let submitted = ContinuousClock.now
                let id = try await runs.submit(workflow, inputs: [:], budget: .zero).run.id
                while try await store.run(id: id)?.status.isFinal != true, ContinuousClock.now - submitted < .seconds(20) {
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(try await store.run(id: id)?.status == .completed, "not finished 20 s after its submission")
            }
            worker.stop()
            try await working.value
            try await environment.close()
        }
    }
}
