import Foundation
import WfloCore
import WfloPricing
import WfloProviders
import Tracing

/// Runs workflows durably under a budget.
///
/// For each ready step: reserve its worst case (paid steps), run it, settle the exact cost, and
/// commit its result to the journal before any dependent step starts. Steps whose dependencies
/// are all done run in parallel. A crash at any point leaves a journal that ``resume(runID:definition:)``
/// continues from: completed steps are replayed from the journal, never re-run or re-charged;
/// an attempt that was in flight stays charged at its reservation, marked unsettled.
///
/// ## Topics
/// - ``start(definition:source:path:inputs:budget:runID:)``
/// - ``resume(runID:definition:budget:)``
public struct Executor: Sendable {
    public let configuration: ExecutorConfiguration

    public init(_ configuration: ExecutorConfiguration) {
        self.configuration = configuration
    }

    /// Makes a new run id: 16 lowercase hex digits (abbreviate to any unique prefix).
    public static func makeRunID() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))
    }

    /// Starts a new run and drives it to an end (completed, failed, budget exceeded, cancelled).
    ///
    /// - Parameters:
    ///   - budget: the budget in force (`--budget` or the file's); nil only for `--no-budget`.
    ///   - mode: how the run reaches the outside (cassette, cache, pricing files), journaled for
    ///     `resume` to continue the same way (``journaledMode(_:)``).
    /// - Throws: only when the journal cannot be written; step failures end the run instead.
    public func start(definition: WorkflowDefinition, source: String, path: String, inputs: JSONValue,
                      budget: Money?, runID: String? = nil, mode: RunMode = RunMode(), tags: [String: String] = [:]) async throws -> RunResult {
        let now = configuration.now()
        let concurrency = definition.concurrency?.evaluate(inputs: inputs)
        // A run under a concurrency key is created waiting (`queued`, no queue: this process drives it) until it has its slot.
        let run = RunRecord(id: runID ?? Executor.makeRunID(), workflowName: definition.name, workflowPath: path,
                            workflowSource: source, inputs: inputs, budget: budget, status: concurrency == nil ? .running : .queued,
                            createdAt: now, updatedAt: now, tags: definition.runTags(inputs: inputs, given: tags), concurrency: concurrency)
        // The root span wraps the whole run; its trace context is journaled so a resume continues the trace.
        return try await RunTelemetry.withRunSpan(workflow: definition.name, runID: run.id, budget: budget, parent: nil) { traceparent in
            try await configuration.store.createRun(run)
            try await configuration.store.appendEvent(Executor.startedEvent(run: run, definition: definition, mode: mode, traceparent: traceparent))
            configuration.observer.observe(.runStarted(runID: run.id, workflow: definition.name, budget: budget))
            let lease = try await RunLease.acquire(configuration, runID: run.id)
            return try await lease.hold {
                var driven = run
                if concurrency != nil {
                    if let ended = try await takeSlot(run: run, arriving: true) { return ended }
                    driven.status = .running
                    try await configuration.store.updateRun(id: run.id, status: .running, outputs: nil, error: nil, at: configuration.now())
                }
                return try await drive(run: driven, definition: definition, replay: ReplayState(), alerted: [])
            }
        }
    }

    /// How often a run waiting for its concurrency slot asks again.
    static let slotPollInterval: Double = 0.2

    /// Takes the run's concurrency slot (``ConcurrencyStore/takeConcurrencySlot(runID:arriving:at:)``),
    /// waiting while its key is full. With `arriving` (a new run) the key's `on_conflict` applies
    /// first: `skip` ends the run (its result is returned), `cancel_running` cancels the oldest runs
    /// through the path `wflo cancel` takes. A cancel requested while it waits lets it go on, to end
    /// `cancelled` at its first check. Nil: the run may be driven.
    func takeSlot(run: RunRecord, arriving: Bool) async throws -> RunResult? {
        let store = configuration.store
        var first = true
        while true {
            let outcome = try await store.takeConcurrencySlot(runID: run.id, arriving: arriving && first, at: configuration.now())
            if first, arriving, let concurrency = run.concurrency, concurrency.onConflict == .cancelRunning {
                await endCancelled(workflow: run.workflowName, key: concurrency.key)
            }
            first = false
            switch outcome {
            case .taken:
                return nil
            case .ended(let status, let reason):
                return RunResult(runID: run.id, status: status, ledger: try await store.ledger(runID: run.id), outputs: nil, error: reason)
            case .waiting:
                if try await store.cancelRequest(runID: run.id) != nil { return nil }
                try await Task.sleep(for: .milliseconds(Int64(Executor.slotPollInterval * 1000)))
            }
        }
    }

    /// Ends the runs of a concurrency key asked to cancel (`cancel_running`) that no process drives
    /// (queued, or waiting for an approval), as `wflo cancel` does; a driven one stops by itself.
    func endCancelled(workflow: String, key: String) async {
        // A worker's executor holds one run's claim: it cancels nothing else.
        guard configuration.heldClaim == nil,
              let occupants = try? await configuration.store.concurrencyOccupants(workflow: workflow, key: key) else { return }
        for victim in occupants where victim.cancelRequested {
            _ = try? await cancel(runID: victim.runID, by: ConcurrencyRule.cancelBy, reason: nil, wait: 0)
        }
    }

    /// Enqueues a new run for a worker to drive (`wflo submit`): the run, status `queued`, and its
    /// `run_started` event, written together; a worker continues it with ``resume(runID:definition:budget:)``.
    /// With an idempotency key already used, nothing is written and the first run is returned.
    ///
    /// - Parameter traceparent: a caller's W3C trace context (`wflo submit --traceparent`), journaled so
    ///   every process that drives the run hangs its root span under it: one trace, the caller's.
    public func enqueue(definition: WorkflowDefinition, source: String, path: String, inputs: JSONValue, budget: Money?,
                        queue: String, priority: Int, idempotencyKey: String?, mode: RunMode = RunMode(),
                        tags: [String: String] = [:], trigger: RunTrigger? = nil, traceparent: String? = nil) async throws -> EnqueueOutcome {
        let now = configuration.now()
        let run = RunRecord(id: Executor.makeRunID(), workflowName: definition.name, workflowPath: path, workflowSource: source,
                            inputs: inputs, budget: budget, status: .queued, createdAt: now, updatedAt: now,
                            tags: definition.runTags(inputs: inputs, given: tags), trigger: trigger,
                            concurrency: definition.concurrency?.evaluate(inputs: inputs))
        let started = Executor.startedEvent(run: run, definition: definition, mode: mode, traceparent: traceparent)
        let outcome = try await configuration.store.enqueueRun(EnqueueRequest(run: run, events: [started],
                                                                              queue: queue, priority: priority, idempotencyKey: idempotencyKey))
        // `cancel_running`: the runs it displaced that nobody drives end now (a driven one stops by itself).
        if case .enqueued(let written) = outcome, let concurrency = written.concurrency, concurrency.onConflict == .cancelRunning {
            await endCancelled(workflow: written.workflowName, key: concurrency.key)
        }
        return outcome
    }

    /// `run_started`: the budget, the sub-workflows' texts, the step order and the mode, for resume and reports.
    static func startedEvent(run: RunRecord, definition: WorkflowDefinition, mode: RunMode, traceparent: String? = nil) -> EventRecord {
        var data: [String: JSONValue] = ["budget_usd": run.budget.map { .string($0.description) } ?? .null]
        if let traceparent { data[RunTelemetry.traceparentKey] = .string(traceparent) }
        // Sub-workflow files as they are now: a resume runs the same children even if the files change.
        let children = definition.subWorkflowSources
        if !children.isEmpty { data[Executor.workflowSourcesKey] = .object(children.mapValues { .string($0) }) }
        data[Executor.stepOrderKey] = .array(definition.steps.map { .array([.string($0.id), .string($0.type.rawValue)]) })
        if !mode.isDefault { data[Executor.modeKey] = mode.json }
        return EventRecord(runID: run.id, stepID: nil, kind: .runStarted, data: .object(data), at: run.createdAt)
    }

    /// Where `run_started` keeps the sub-workflows' texts (resolved path → YAML).
    public static let workflowSourcesKey = "workflow_sources"

    /// The sub-workflow texts a run journaled when it started, for re-reading its definition on resume.
    public static func journaledWorkflowSources(_ journal: RunJournal) -> [String: String] {
        guard let started = journal.events.first(where: { $0.kind == .runStarted }),
              let sources = started.data[workflowSourcesKey]?.objectValue else { return [:] }
        return sources.compactMapValues(\.stringValue)
    }

    /// Where `run_started` keeps the workflow's steps in file order, each as `[id, type]`.
    public static let stepOrderKey = "step_order"

    /// The workflow's steps in file order as the run journaled them when it started, so `status` and
    /// `report` list a run's steps without reading its YAML again (a 100k-step file takes seconds to
    /// check). Nil for a run journaled before the order was kept.
    public static func journaledStepOrder(_ journal: RunJournal) -> [(id: String, type: String)]? {
        guard let started = journal.events.first(where: { $0.kind == .runStarted }),
              let steps = started.data[stepOrderKey]?.arrayValue else { return nil }
        var order: [(id: String, type: String)] = []
        order.reserveCapacity(steps.count)
        for step in steps {
            guard let pair = step.arrayValue, pair.count == 2, let id = pair[0].stringValue, let type = pair[1].stringValue else { return nil }
            order.append((id, type))
        }
        return order
    }

    /// Where `run_started` keeps the run's ``RunMode``.
    public static let modeKey = "mode"

    /// How the run was started (the defaults for a run journaled without a mode).
    public static func journaledMode(_ journal: RunJournal) -> RunMode {
        guard let started = journal.events.first(where: { $0.kind == .runStarted }),
              let mode = started.data[modeKey] else { return RunMode() }
        return RunMode(json: mode)
    }

    /// Continues a run from its journal (or starts a queued one).
    ///
    /// Completed and skipped steps are not run again; attempts that were in flight are marked
    /// unsettled and stay charged; a sleep keeps its journaled wake-up time; the remaining steps
    /// run. `budget`, when given, replaces the run's budget (to continue a run stopped by its budget).
    /// - Parameter journal: the run's whole journal (``RunStore/journal(runID:)``) when the caller
    ///   has just read it (to rebuild the workflow from it); nil reads it here.
    /// - Throws: ``EngineError`` when the run already completed or was cancelled.
    public func resume(runID: String, definition: WorkflowDefinition, budget: Money? = nil, journal read: RunJournal? = nil) async throws -> RunResult {
        let store = configuration.store
        let journal: RunJournal
        if let read, read.run.id == runID { journal = read } else { journal = try await store.journal(runID: runID) }
        if journal.run.status == .completed || journal.run.status == .cancelled || journal.run.status == .rejected {
            throw EngineError(.resume, "run \(runID) is \(journal.run.status.rawValue); there is nothing to resume")
        }
        // Refused while another live process drives the run: its attempts are not "in flight at a crash".
        let lease = try await RunLease.acquire(configuration, runID: runID)
        // The run's own trace goes on: the new root span is a child of the journaled one.
        let journaled = RunTelemetry.journaledTraceparent(journal)
        return try await lease.hold {
            // Its concurrency slot first (a worker's claim took it already; a retried run waits for one again).
            if journal.run.concurrency != nil, let ended = try await takeSlot(run: journal.run, arriving: false) { return ended }
            return try await RunTelemetry.withRunSpan(workflow: definition.name, runID: runID, budget: budget ?? journal.run.budget,
                                                      parent: journaled.map { RunTelemetry.context(traceparent: $0) }) { traceparent in
                try await continueRun(runID: runID, journal: journal, definition: definition, budget: budget,
                                      traceparent: journaled == nil ? traceparent : nil)
            }
        }
    }

    /// `traceparent`: the root span's, to journal when the run has none yet (it started untraced, or was queued).
    private func continueRun(runID: String, journal: RunJournal, definition: WorkflowDefinition, budget: Money?,
                             traceparent: String?) async throws -> RunResult {
        let store = configuration.store
        var journal = journal
        // A queued run's first start: no driver has sent anything for it yet.
        let unsettled = journal.run.status == .queued ? 0 : try await store.markInFlightUnsettled(runID: runID, at: configuration.now())
        if unsettled > 0 || budget != nil { journal = try await store.journal(runID: runID) }
        var run = journal.run
        if let budget, budget != run.budget {
            run.budget = budget
            try await store.updateRunBudget(id: runID, budget: budget, at: configuration.now())
        }
        let replay = ReplayState(journal: journal)
        let done = definition.steps.filter { replay.finished[$0.id] != nil }
        let alerted = Set(journal.events.filter { $0.kind == .budgetAlert }.compactMap { $0.data["percent"]?.intValue })
        try await store.updateRun(id: runID, status: .running, outputs: nil, error: nil, at: configuration.now())
        if journal.run.status == .queued {
            // A submitted run's first start: its `run_started` was journaled when it was enqueued, with no
            // trace unless the submitter gave one; this root span is the trace the run's resumes continue.
            if let traceparent {
                try await store.appendEvent(EventRecord(runID: runID, stepID: nil, kind: .runTraced,
                                                        data: [RunTelemetry.traceparentKey: .string(traceparent)], at: configuration.now()))
            }
            configuration.observer.observe(.runStarted(runID: runID, workflow: definition.name, budget: run.budget))
        } else {
            var data: [String: JSONValue] = ["completed_steps": .int(done.count), "unsettled_attempts": .int(unsettled)]
            if let traceparent { data[RunTelemetry.traceparentKey] = .string(traceparent) }
            try await store.appendEvent(EventRecord(runID: runID, stepID: nil, kind: .runResumed, data: .object(data),
                                                    at: configuration.now()))
            configuration.observer.observe(.runResumed(runID: runID, completedSteps: done.count, unsettledAttempts: unsettled))
        }
        for step in done { configuration.observer.observe(.stepReplayed(stepID: step.id)) }
        return try await drive(run: run, definition: definition, replay: replay, alerted: alerted)
    }

    /// Stops a run (`wflo cancel`). The request is journaled first; a process driving the run sees
    /// it within a fraction of a second, cancels what is in flight (HTTP requests, sandboxes,
    /// waits) and ends the run `cancelled`. When no process drives the run, it is ended here.
    /// Attempts that were in flight stay charged at their reservation (unsettled): a request
    /// cut off mid-way may still have been billed.
    ///
    /// - Parameter wait: seconds to wait for a live driver to stop.
    /// - Throws: ``EngineError`` when the run has already ended, or its driver did not stop in time.
    public func cancel(runID: String, by: String, reason: String?, wait: Double = 30) async throws -> RunResult {
        let store = configuration.store
        guard let run = try await store.run(id: runID) else { throw EngineError(.resume, "run \(runID) is not in the journal") }
        if run.status.isFinal {
            throw EngineError(.resume, "run \(runID) is already \(run.status.rawValue); there is nothing to cancel")
        }
        let request = try await store.requestCancel(runID: runID, by: by, reason: reason, at: configuration.now())
        // A live driver holding the run is the one expected refusal; a store error is reported as such.
        var free: RunLease?
        do {
            free = try await RunLease.acquire(configuration, runID: runID)
        } catch let error as EngineError where error.code == .runHeld {
            free = nil
        }
        if let lease = free {
            // Nobody drives it (it waits for an approval, or its process died): end it here.
            return try await lease.hold {
                try await end(runID: runID, status: .cancelled, error: request.message, closedBy: request.closer)
                return RunResult(runID: runID, status: .cancelled, ledger: try await store.ledger(runID: runID), outputs: nil, error: request.message)
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int64(wait * 1000))
        while clock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            if let current = try await store.run(id: runID), current.status.isFinal {
                return RunResult(runID: runID, status: current.status, ledger: try await store.ledger(runID: runID),
                                 outputs: current.outputs, error: current.error)
            }
        }
        throw EngineError(.notStopped, "the process driving run \(runID) has not stopped within \(DurationText.describe(wait)); the request is recorded and it stops at its next check")
    }

    /// Ends as `failed` a run this process holds but cannot drive (its journaled workflow does not
    /// load here), unless it has already ended, the way a cancel ends one: its step tasks end (a
    /// helper still holding one commits nothing more, and nothing claims the rest), calls left in
    /// flight by an earlier driver are charged at their reservation, and nobody is left asked to
    /// decide a step that can no longer run.
    public func fail(runID: String, message: String) async throws {
        guard let run = try await configuration.store.run(id: runID), !run.status.isFinal else { return }
        try await end(runID: runID, status: .failed, error: message, closedBy: (by: "wflo (run failed)", comment: message))
    }

    /// Ends a run that nothing continues (cancelled, past its timeout, not drivable here) as
    /// `status`: its step tasks end (their helpers' writes are refused from now on), calls in
    /// flight are charged at their reservation (a request cut off may still have been billed),
    /// its pending approval requests are closed by `closedBy` (nobody is left asked to decide a
    /// step that can no longer run), then its status is written.
    private func end(runID: String, status: RunStatus, error: String, closedBy: (by: String, comment: String)) async throws {
        let store = configuration.store
        try await store.cancelStepTasks(runID: runID)
        _ = try await store.markInFlightUnsettled(runID: runID, at: configuration.now())
        try await closePendingApprovals(runID: runID, by: closedBy.by, comment: closedBy.comment)
        try await store.updateRun(id: runID, status: status, outputs: nil, error: error, at: configuration.now())
    }

    // MARK: - Driving

    enum Ending: Sendable {
        case finished(WorkflowOutcome)
        /// Cancelled, or past the run's timeout: what is in flight was cancelled.
        case stopped(RunStatus, String)
    }

    private func drive(run: RunRecord, definition: WorkflowDefinition, replay: ReplayState, alerted: Set<Int>) async throws -> RunResult {
        let pricing: PricingTable
        do {
            pricing = try Executor.pricing(for: definition, base: configuration.pricing)
        } catch {
            return try await finish(run: run, definition: definition, outcome: nil, stop: .failed("\(error)"))
        }
        let governor = BudgetGovernor(store: configuration.store, runID: run.id, budget: run.budget, alreadyAlerted: alerted,
                                      observer: configuration.observer, now: configuration.now)
        let signal = RunSignal()
        let deadline = definition.timeout.map { run.createdAt.addingTimeInterval($0) }
        var runner = StepRunner(configuration: configuration, pricing: pricing, governor: governor, runID: run.id,
                                policy: definition.approvalPolicy, gate: ApprovalGate(configuration: configuration, signal: signal, notify: definition.notify),
                                cacheNamespace: definition.cacheNamespace ?? definition.name, replay: replay, deadline: deadline)
        if let spread = configuration.stepTasks {
            runner.spreading = StepTaskSpreading(root: definition, slots: StepTaskSlots(width: spread.width))
        }
        let scheduler = Scheduler(runner: runner, definition: definition, prefix: "", inputs: run.inputs)
        if configuration.stepTasks == nil, !replay.neverDriven {
            // Spread by an earlier driver, driven here without spreading: every step runs in this
            // process, so the tasks it left must not be run by a helper too (charged twice).
            // Cancelled, they are never claimed, and a helper holding one can write nothing more.
            _ = try await configuration.store.cancelStepTasks(runID: run.id)
        }

        // A resumed run may already be past its deadline or asked to cancel: then nothing starts.
        var ending: Ending
        if let stop = try await stopReason(runID: run.id, deadline: deadline, timeout: definition.timeout) {
            ending = stop
        } else {
            ending = try await watched(scheduler, signal: signal, runID: run.id, deadline: deadline, timeout: definition.timeout)
        }
        // Steps refused because a cancel was requested (BudgetGovernor) end the run cancelled,
        // even when the scheduler stopped before the watch saw the request.
        if case .finished(let outcome) = ending, outcome.stop != nil, let request = try await configuration.store.cancelRequest(runID: run.id) {
            ending = .stopped(.cancelled, request.message)
        }
        switch ending {
        case .finished(let outcome):
            return try await finish(run: run, definition: definition, outcome: outcome, stop: outcome.stop)
        case .stopped(let status, let reason):
            var closer = (by: "wflo (run timeout)", comment: reason)
            if status == .cancelled, let request = try await configuration.store.cancelRequest(runID: run.id) { closer = request.closer }
            try await end(runID: run.id, status: status, error: reason, closedBy: closer)
            configuration.observer.observe(.runFinished(status: status))
            return RunResult(runID: run.id, status: status, ledger: try await configuration.store.ledger(runID: run.id), outputs: nil, error: reason)
        }
    }

    /// Runs the scheduler beside the watch; whichever ends first decides. A stop cancels the
    /// scheduler's tasks and lets them unwind before returning. The caller has just found no
    /// reason to stop: the watch begins with its wait.
    private func watched(_ scheduler: Scheduler, signal: RunSignal, runID: String, deadline: Date?, timeout: Double?) async throws -> Ending {
        try await withThrowingTaskGroup(of: Ending?.self) { group in
            group.addTask { .finished(try await scheduler.run()) }
            group.addTask { await watch(runID: runID, deadline: deadline, timeout: timeout, justChecked: true) }
            while let next = try await group.next() {
                guard let ending = next else { continue }
                if case .stopped(_, let reason) = ending {
                    signal.stop()
                    configuration.observer.observe(.runStopping(reason: reason))
                    group.cancelAll()
                    // Let every cancelled task unwind; what they throw now is the cancellation.
                    while true {
                        do { if try await group.next() == nil { break } } catch { continue }
                    }
                    return ending
                }
                group.cancelAll()
                return ending
            }
            throw CancellationError()
        }
    }

    /// Returns when the run must stop (a cancel request, the run's deadline), or nil once cancelled
    /// itself. Looks again each time the configuration's ``JournalNotifications`` say a cancel
    /// request may have come, and at the deadline (on the configuration's clock).
    /// - Parameter justChecked: the caller has just looked (``stopReason(runID:deadline:timeout:)``)
    ///   and found none, so the first look is skipped: a request that came since wakes the wait at once
    ///   (notifications keep a cancel as "just arrived"; polling looks again after its interval).
    func watch(runID: String, deadline: Date?, timeout: Double?, justChecked: Bool = false) async -> Ending? {
        let notifications = configuration.journalNotifications
        var look = !justChecked
        while !Task.isCancelled {
            if look, let stop = try? await stopReason(runID: runID, deadline: deadline, timeout: timeout) { return stop }
            look = true
            try? await notifications.waitForCancel(runID: runID, until: deadline)
        }
        return nil
    }

    /// Why the run must stop now (its deadline passed, a cancel was requested), or nil.
    private func stopReason(runID: String, deadline: Date?, timeout: Double?) async throws -> Ending? {
        if let deadline, let timeout, configuration.now() >= deadline {
            return .stopped(.failed, "run timed out: the workflow's timeout of \(DurationText.describe(timeout)) (counted from the run's start) has passed")
        }
        if let request = try await configuration.store.cancelRequest(runID: runID) {
            return .stopped(.cancelled, request.message)
        }
        return nil
    }

    /// A cancelled run's open approval requests are closed as rejected by the cancel, so nobody is
    /// asked to decide a step that can no longer run (and a late `wflo approve` is told so).
    func closePendingApprovals(runID: String, request: CancelRequest) async throws {
        try await closePendingApprovals(runID: runID, by: request.closer.by, comment: request.closer.comment)
    }

    private func closePendingApprovals(runID: String, by: String, comment: String) async throws {
        for pending in try await configuration.store.approvals(runID: runID, status: .pending) {
            _ = try await configuration.store.decideApproval(ApprovalDecision(requestID: pending.id, verdict: .reject, by: by,
                                                                          comment: comment, at: configuration.now()))
        }
    }

    /// How often a driving process looks for `wflo cancel` (seconds).
    static let cancelPollInterval = 0.2

    /// Why a run whose steps all ran is still out of budget: spend above the budget (usage above a
    /// reservation), or a settlement that stopped the run (unpriced usage). Nil when neither.
    static func overrun(_ ledger: LedgerSnapshot) -> String? {
        if let reason = ledger.stopReason { return reason }
        guard let budget = ledger.budget, budget < ledger.committed else { return nil }
        return "\(AttemptFlag.usageExceededReservation): the provider reported usage above what was reserved; "
            + "spent \(ledger.committed.dollars()) of the budget \(budget.dollars()), so the run made no further paid call"
    }

    private func finish(run: RunRecord, definition: WorkflowDefinition, outcome: WorkflowOutcome?, stop: WorkflowStop?) async throws -> RunResult {
        let outputs = outcome?.outputs ?? [:]
        let waiting = outcome?.waiting ?? []
        let store = configuration.store
        var status: RunStatus
        var error: String?
        var runOutputs: JSONValue?
        switch stop {
        case .failed(let message):
            status = .failed
            error = message
        case .rejected(let message):
            status = .rejected
            error = message
        case .budget(let message):
            status = .budgetExceeded
            error = message
        case nil where !waiting.isEmpty:
            status = .waitingApproval
            error = "waiting for approval: " + waiting.sorted().map { "'\($0)'" }.joined(separator: ", ")
                + "; decide with `wflo approve` or `wflo reject`, then `wflo resume \(run.id)`"
        case nil:
            let scope = TemplateScope(inputs: run.inputs, steps: outputs, skipped: outcome?.skipped ?? [])
            do {
                var object: [String: JSONValue] = [:]
                for output in definition.outputs { object[output.name] = try scope.render(output.value) }
                runOutputs = .object(object)
                status = .completed
            } catch let problem {
                status = .failed
                error = "outputs: \(problem)"
            }
        }
        // Issue 22.7 / 25: a provider that reported more than was reserved, or usage the table cannot
        // price, ends the run out of budget even when no later call was refused.
        let ledger = try await store.ledger(runID: run.id)
        if status == .completed || status == .failed, let why = Executor.overrun(ledger) {
            status = .budgetExceeded
            error = why + (error.map { "; \($0)" } ?? "")
        }
        try await store.updateRun(id: run.id, status: status, outputs: runOutputs, error: error, at: configuration.now())
        configuration.observer.observe(.runFinished(status: status))
        return RunResult(runID: run.id, status: status, ledger: ledger, outputs: runOutputs, error: error)
    }
}

extension CancelRequest {
    /// Who closes a cancelled run's pending approval requests, and why.
    var closer: (by: String, comment: String) { ("wflo cancel (\(by))", "the run was cancelled") }
}
