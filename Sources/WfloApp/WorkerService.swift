import Foundation
import Synchronization
import WfloCore
import WfloEngine

/// `wflo worker`: claims queued runs and drives them, any number of workers on one journal.
///
/// Up to ``Settings/concurrency`` runs at once. Each claimed run is driven by a ``RunService``
/// whose executor holds the worker's claim (``ExecutorConfiguration/heldClaim``) and writes
/// through the fenced view (``RunQueueStore/fenced(runID:token:)``), so a worker that lost its
/// lease writes nothing. The lease is renewed every lease/3; when a renewal finds it lost, the run
/// is stopped at once (another worker continues it from the journal).
///
/// Budget alerts are delivered beside the claim loop by the ``RunService/alerts`` of `runs`, with
/// one last pass when the worker stops.
///
/// A gated step does not hold a slot: runs are driven with ``ApprovalWaitMode/noWait``, so a run
/// that needs a person ends `waiting_approval` and is released; once decided it is claimable again
/// and any worker continues it.
///
/// ``stop()`` (SIGTERM, SIGINT) stops claiming and lets the runs in hand finish for up to
/// ``Settings/grace`` seconds; then what is left is released and stopped, and another worker
/// continues it from the journal. The rules live here, not in a front end: the CLI and the server
/// run the same loop.
public final class WorkerService: Sendable {
    public struct Settings: Sendable, Hashable {
        /// The queues to claim from; empty: every queue.
        public var queues: [String]
        public var concurrency: Int
        /// Seconds a claim lasts unless renewed (by the store's clock).
        public var lease: Double
        /// Seconds between looks for work when none was found.
        public var pollInterval: Double
        /// Seconds between looks for work when none was found and the journal pushes notifications
        /// (PostgreSQL's LISTEN/NOTIFY): a run submitted or given back, or a decided approval, wakes
        /// the worker at once, so it looks on its own only for runs freed by a lease that ran out.
        public var pushedPollInterval: Double
        /// Seconds runs in hand may take to finish after ``WorkerService/stop()``.
        public var grace: Double
        /// Seconds between passes of the deployed workflows' schedule loop (``TriggerService``); nil: this worker fires no schedules.
        public var scheduleInterval: Double?
        /// `--spread-steps`: the runs this worker drives put their `llm`/`http` calls (for_each items, parallel
        /// branches) in the journal as step tasks, and a free slot of this worker executes any run's step tasks
        /// (``StepTaskSettings``); a run it drives executes up to ``concurrency`` of its own tasks at once. Off by default.
        public var spreadSteps = false

        public init(queues: [String] = [], concurrency: Int = 1, lease: Double = 30, pollInterval: Double = 0.1,
                    pushedPollInterval: Double = 1, grace: Double = 30, scheduleInterval: Double? = 0.5) {
            self.scheduleInterval = scheduleInterval
            self.queues = queues
            self.concurrency = concurrency
            self.lease = lease
            self.pollInterval = pollInterval
            self.pushedPollInterval = pushedPollInterval
            self.grace = grace
        }

        /// Seconds between renewals of a lease: a third of it, and at most 10 s, since the renewal is
        /// also the heartbeat by which `wflo cancel` and `wflo resume` on another machine see that
        /// the worker is alive (``RunDriver/staleAfter``: 30 s).
        public var renewalInterval: Double { min(lease, RunDriver.staleAfter) / 3 }

        /// What is wrong with these settings for a person to fix, or nil.
        public var problem: String? {
            if concurrency < 1 { return "--concurrency must be 1 or more (got \(concurrency))" }
            if !(lease >= 1) { return "--lease must be at least 1s (got \(DurationText.describe(lease)))" }
            for queue in queues { if let problem = QueueSettings.problem(name: queue) { return "--queue: " + problem } }
            return nil
        }
    }

    /// What a worker does, for its log (`--json-logs`: one JSON object per line).
    public enum Event: Sendable, Hashable {
        case started(owner: RunOwner, queues: [String], concurrency: Int, lease: Double)
        case claimed(runID: String, queue: String, status: RunStatus)
        /// A free slot executed another run's step task (`--spread-steps`); `done`: its outcome was recorded.
        case helped(runID: String, stepID: String, done: Bool)
        /// The run's driving ended with this status (and was given back if not final).
        case finished(runID: String, status: RunStatus)
        /// Given back without finishing: the worker is stopping, or driving it failed (`reason`).
        case released(runID: String, reason: String)
        /// A renewal found the lease gone: the run was stopped here and goes on elsewhere.
        case leaseLost(runID: String)
        /// Looking for work failed (the journal busy or unreachable); the worker keeps trying. Logged when the error changes.
        case claimFailed(error: String)
        /// The schedule loop could not fire a deployed workflow's schedule (logged when the problem changes).
        case scheduleProblem(String)
        case stopping
        case stopped

        public var json: JSONValue {
            switch self {
            case .started(let owner, let queues, let concurrency, let lease):
                return ["event": "started", "worker": .string(owner.description), "queues": .array(queues.map { .string($0) }),
                        "concurrency": .int(concurrency), "lease_seconds": .number(String(lease))]
            case .claimed(let runID, let queue, let status):
                return ["event": "claimed", "run_id": .string(runID), "queue": .string(queue), "status": .string(status.rawValue)]
            case .helped(let runID, let stepID, let done):
                return ["event": "helped", "run_id": .string(runID), "step_id": .string(stepID), "done": .bool(done)]
            case .finished(let runID, let status):
                return ["event": "finished", "run_id": .string(runID), "status": .string(status.rawValue)]
            case .released(let runID, let reason):
                return ["event": "released", "run_id": .string(runID), "reason": .string(reason)]
            case .leaseLost(let runID):
                return ["event": "lease_lost", "run_id": .string(runID)]
            case .claimFailed(let error):
                return ["event": "claim_failed", "error": .string(error)]
            case .scheduleProblem(let problem):
                return ["event": "schedule_problem", "error": .string(problem)]
            case .stopping: return ["event": "stopping"]
            case .stopped: return ["event": "stopped"]
            }
        }

        /// One line for people.
        public var line: String {
            switch self {
            case .started(let owner, let queues, let concurrency, let lease):
                return "worker \(owner) on \(queues.isEmpty ? "every queue" : queues.joined(separator: ", ")) · concurrency \(concurrency) · lease \(DurationText.describe(lease))"
            case .claimed(let runID, let queue, let status): return "claimed \(runID) (\(queue), \(status.rawValue))"
            case .helped(let runID, let stepID, let done):
                return done ? "ran step \(stepID) of \(runID)" : "gave up step \(stepID) of \(runID): its lease was lost, it goes on elsewhere"
            case .finished(let runID, let status): return "finished \(runID): \(status.rawValue)"
            case .released(let runID, let reason): return "released \(runID): \(reason)"
            case .leaseLost(let runID): return "lease lost on \(runID): stopped here, it goes on elsewhere"
            case .claimFailed(let error): return "cannot look for work (trying again): \(error)"
            case .scheduleProblem(let problem): return "schedule: \(problem)"
            case .stopping: return "stopping: no new claims; finishing the runs in hand"
            case .stopped: return "stopped"
            }
        }
    }

    private let store: any JournalStore
    private let runs: RunService
    private let settings: Settings
    private let log: @Sendable (Event) -> Void
    public let owner: RunOwner
    private let state = Mutex(State())
    /// Told when a run in hand ends or ``stop()`` is called: the claim loop, waiting at its
    /// concurrency, claims again at once instead of after its poll interval.
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    private struct State {
        var stopping = false
        /// The runs in hand by claim (a run given back may be claimed again before its entry goes):
        /// their ids and driving tasks, to stop them.
        var active: [Int: (runID: String, task: Task<Void, Never>)] = [:]
        var claims = 0
        /// Runs given back by ``finishOrRelease()``: their driving's end says nothing more.
        var releasedOnStop: Set<String> = []
        /// The workflows of the runs whose step tasks this worker executed, by run id (read from the journal once).
        var definitions: [String: WorkflowDefinition] = [:]
    }

    /// - Parameters:
    ///   - runs: the service whose executor's configuration each claimed run is driven with
    ///     (its store must be `store`).
    ///   - log: told of every claim, end, release and lost lease.
    public init(store: any JournalStore, runs: RunService, settings: Settings, owner: RunOwner = .current(),
                log: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.store = store
        self.runs = runs
        self.settings = settings
        self.owner = owner
        self.log = log
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Stops claiming; runs in hand get ``Settings/grace`` seconds to finish. Safe from any thread, more than once.
    public func stop() {
        state.withLock { $0.stopping = true }
        wake.yield()
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }
    private var activeCount: Int { state.withLock { $0.active.count } }

    /// Claims and drives runs until ``stop()`` (noticed at once), then
    /// finishes or releases what it holds.
    /// - Throws: ``AppError`` `.invalidInput` for unusable settings.
    public func run() async throws {
        if let problem = settings.problem { throw AppError(.invalidInput, problem) }
        log(.started(owner: owner, queues: settings.queues, concurrency: settings.concurrency, lease: settings.lease))
        // Budget alerts go out on the worker's loop (its runs are driven without a delivery of their own).
        let delivering = runs.alerts?.start()
        // Deployed schedules fire from every worker's loop; the journal makes each tick one run.
        let scheduling = settings.scheduleInterval.map { interval in
            Task { [runs, log] in
                await TriggerService(runs: runs).runScheduleLoop(interval: interval, isStopping: { self.isStopping },
                                                                 log: { log(.scheduleProblem($0)) })
            }
        }
        defer { scheduling?.cancel() }
        await withDiscardingTaskGroup { group in
            var lastFailure: String?
            var wakeup = wakeups.makeAsyncIterator()
            var mark: UInt64 = 0
            while !isStopping {
                if activeCount < settings.concurrency {
                    // Taken before the look: work announced while it runs ends the wait below at once.
                    mark = store.pushNotifications?.workMark() ?? 0
                    do {
                        if let lease = try await store.claimQueuedRun(queues: settings.queues, owner: owner, lease: settings.lease) {
                            log(.claimed(runID: lease.runID, queue: lease.queue, status: lease.status))
                            occupy(lease.runID, Task { await self.drive(lease) }, in: &group)
                            continue
                        }
                        if settings.spreadSteps,
                           let task = try await store.claimStepTask(runID: nil, owner: owner, lease: settings.lease) {
                            // A free slot with no run to claim helps with another run's ready steps.
                            occupy(task.runID, Task { await self.help(task) }, in: &group)
                            continue
                        }
                        lastFailure = nil
                    } catch {
                        // The journal was busy or unreachable: look again after the interval.
                        let text = "\(error)"
                        if text != lastFailure { log(.claimFailed(error: text)) }
                        lastFailure = text
                    }
                } else {
                    // Every slot is busy: nothing to claim until a run in hand ends (or stop()).
                    // A wake-up left from a run that ended while claiming is taken here at once.
                    _ = await wakeup.next()
                    continue
                }
                // Nothing to claim: look again when the journal announces work (PostgreSQL), after the
                // poll interval, or at once on stop().
                let timer = Task { [wake, settings, store, mark] in
                    if let push = store.pushNotifications {
                        try? await push.waitForWork(since: mark, until: Date().addingTimeInterval(settings.pushedPollInterval))
                    } else {
                        try? await Task.sleep(for: .milliseconds(Int64(settings.pollInterval * 1000)))
                    }
                    wake.yield()
                }
                _ = await wakeup.next()
                timer.cancel()
            }
            log(.stopping)
            await finishOrRelease()
        }
        await delivering?.finish()
        log(.stopped)
    }

    /// After ``stop()``: lets the runs in hand finish for the grace period, then releases each
    /// one still going (its writes are fenced from then on) and stops its driving.
    private func finishOrRelease() async {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int64(settings.grace * 1000))
        while activeCount > 0 && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let left = state.withLock { $0.active.values }
        for (runID, task) in left {
            // Released first: whatever the stopped driving still tries to write is refused.
            state.withLock { _ = $0.releasedOnStop.insert(runID) }
            _ = try? await store.releaseLease(runID: runID, token: owner.token)
            log(.released(runID: runID, reason: "the worker is stopping; another worker continues it from the journal"))
            task.cancel()
        }
    }

    /// Drives one claimed run under its lease, renewing it; gives the run back at the end unless the lease was lost.
    /// Holds a slot of ``Settings/concurrency`` for `work` on `runID` until it ends, then wakes the claim loop.
    private func occupy(_ runID: String, _ work: Task<Void, Never>, in group: inout DiscardingTaskGroup) {
        let claim = state.withLock { state -> Int in
            state.claims += 1
            state.active[state.claims] = (runID, work)
            return state.claims
        }
        group.addTask {
            await work.value
            self.state.withLock { _ = $0.active.removeValue(forKey: claim) }
            self.wake.yield()
        }
    }

    private func drive(_ lease: QueueLease) async {
        let fenced = store.fenced(runID: lease.runID, token: owner.token)
        var configuration = runs.executor.configuration
        configuration.store = fenced
        configuration.heldClaim = owner
        configuration.approvals = .noWait
        // Its own run's step tasks: as many at once as the worker's concurrency (other workers take the rest).
        if settings.spreadSteps { configuration.stepTasks = StepTaskSettings(lease: settings.lease, owner: owner, width: settings.concurrency) }
        let service = RunService(store: fenced, pricing: runs.pricing, executor: Executor(configuration), workflows: runs.workflows)
        let driving = Task { try await service.resume(runID: lease.runID, budget: nil) }
        let renewal = Task { await self.renew(lease, stopping: driving) }
        let outcome = await driving.result
        renewal.cancel()
        let lost = await renewal.value
        if state.withLock({ $0.releasedOnStop.contains(lease.runID) }) { return }
        if lost {
            log(.leaseLost(runID: lease.runID))
            return
        }
        switch outcome {
        case .success(let result):
            _ = try? await store.releaseLease(runID: lease.runID, token: owner.token)
            log(.finished(runID: lease.runID, status: result.status))
        case .failure(let error as StoreError) where error.code == .leaseLost:
            log(.leaseLost(runID: lease.runID))
        case .failure(let error) where error is AppError || error is EngineError:
            // This worker cannot drive the run at all (its journaled workflow does not load here,
            // say: a model this worker's pricing table lacks). Given back, it would be claimed again
            // and again: it ends failed, saying why, unless it has already ended.
            _ = try? await Executor(configuration).fail(runID: lease.runID, message: "a worker could not drive the run: \(error)")
            let status = (try? await store.run(id: lease.runID))?.status ?? .failed
            _ = try? await store.releaseLease(runID: lease.runID, token: owner.token)
            log(.finished(runID: lease.runID, status: status))
        case .failure(let error):
            // The journal failed (busy, unreachable): give the run back for a later claim.
            if (try? await store.releaseLease(runID: lease.runID, token: owner.token)) == true {
                log(.released(runID: lease.runID, reason: "\(error)"))
            }
        }
    }

    /// Executes another run's step task through the attempt driver, under the task's lease
    /// (``Executor/executeStepTask(_:definition:)``). A task whose run's workflow does not load here
    /// is given back for another worker.
    private func help(_ task: StepTaskLease) async {
        do {
            let definition = try await workflow(of: task.runID)
            var configuration = runs.executor.configuration
            configuration.approvals = .noWait
            configuration.stepTasks = StepTaskSettings(lease: settings.lease, owner: owner)
            let done = try await Executor(configuration).executeStepTask(task, definition: definition)
            log(.helped(runID: task.runID, stepID: task.stepID, done: done))
        } catch {
            _ = try? await store.releaseStepTask(id: task.id, token: owner.token)
            log(.released(runID: task.runID, reason: "step task \(task.stepID): \(error)"))
        }
    }

    /// The workflow of run `runID` as its driver runs it (its journaled source), parsed once per run.
    private func workflow(of runID: String) async throws -> WorkflowDefinition {
        if let known = state.withLock({ $0.definitions[runID] }) { return known }
        let definition = try await runs.journaledDefinition(runID: runID)
        state.withLock { state in
            if state.definitions.count >= 64 { state.definitions.removeAll() }
            state.definitions[runID] = definition
        }
        return definition
    }

    /// Renews the lease every lease/3 (at most 10 s apart) until cancelled. When the lease is found lost (or no
    /// renewal has succeeded for a whole lease), stops `driving` and returns true.
    private func renew(_ lease: QueueLease, stopping driving: Task<RunResult, any Error>) async -> Bool {
        let clock = ContinuousClock()
        var renewed = clock.now
        let interval = settings.renewalInterval
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
            if Task.isCancelled { return false }
            do {
                if try await store.renewLease(runID: lease.runID, token: owner.token, lease: settings.lease) {
                    renewed = clock.now
                    continue
                }
            } catch {
                // Not renewed this time; lost only once a whole lease passed without a renewal.
                if clock.now - renewed < .milliseconds(Int64(settings.lease * 1000)) { continue }
            }
            driving.cancel()
            return true
        }
        return false
    }
}
