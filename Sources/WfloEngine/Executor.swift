import Foundation
import WfloCore
import WfloPricing
import WfloProviders

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

    /// Starts a new run and drives it to an end (completed, failed, budget exceeded).
    ///
    /// - Parameters:
    ///   - budget: the budget in force (`--budget` or the file's); nil only for `--no-budget`.
    /// - Throws: only when the journal cannot be written; step failures end the run instead.
    public func start(definition: WorkflowDefinition, source: String, path: String, inputs: JSONValue,
                      budget: Money?, runID: String? = nil) async throws -> RunResult {
        let now = configuration.now()
        let run = RunRecord(id: runID ?? Executor.makeRunID(), workflowName: definition.name, workflowPath: path,
                            workflowSource: source, inputs: inputs, budget: budget, createdAt: now, updatedAt: now)
        try await configuration.store.createRun(run)
        try await configuration.store.appendEvent(EventRecord(runID: run.id, stepID: nil, kind: "run_started",
                                                              data: ["budget_usd": budget.map { .string($0.description) } ?? .null], at: now))
        configuration.observer.observe(.runStarted(runID: run.id, workflow: definition.name, budget: budget))
        let lease = try await RunLease.acquire(store: configuration.store, runID: run.id, now: now)
        return try await lease.hold {
            try await drive(run: run, definition: definition, completed: [:], nextAttempt: [:], alerted: [])
        }
    }

    /// Continues a run from its journal.
    ///
    /// Completed steps are not run again; attempts that were in flight are marked unsettled and
    /// stay charged; the remaining steps run. `budget`, when given, replaces the run's budget
    /// (to continue a run stopped by its budget).
    /// - Throws: ``EngineError`` when the run already completed or was cancelled.
    public func resume(runID: String, definition: WorkflowDefinition, budget: Money? = nil) async throws -> RunResult {
        let store = configuration.store
        let journal = try await store.journal(runID: runID)
        if journal.run.status == .completed || journal.run.status == .cancelled || journal.run.status == .rejected {
            throw EngineError(.resume, "run \(runID) is \(journal.run.status.rawValue); there is nothing to resume")
        }
        // Refused while another live process drives the run: its attempts are not "in flight at a crash".
        let lease = try await RunLease.acquire(store: store, runID: runID, now: configuration.now())
        return try await lease.hold {
            try await continueRun(runID: runID, journal: journal, definition: definition, budget: budget)
        }
    }

    private func continueRun(runID: String, journal: RunJournal, definition: WorkflowDefinition, budget: Money?) async throws -> RunResult {
        let store = configuration.store
        var journal = journal
        let unsettled = try await store.markInFlightUnsettled(runID: runID, at: configuration.now())
        if unsettled > 0 || budget != nil { journal = try await store.journal(runID: runID) }
        var run = journal.run
        if let budget, budget != run.budget {
            run.budget = budget
            try await store.updateRunBudget(id: runID, budget: budget, at: configuration.now())
        }
        var completed: [String: JSONValue] = [:]
        for step in journal.steps where step.status == .completed {
            completed[step.stepID] = step.output ?? .null
        }
        var nextAttempt: [String: Int] = [:]
        for attempt in journal.attempts {
            nextAttempt[attempt.stepID] = max(nextAttempt[attempt.stepID] ?? 1, attempt.number + 1)
        }
        let alerted = Set(journal.events.filter { $0.kind == "budget_alert" }.compactMap { $0.data["percent"]?.intValue })
        try await store.updateRun(id: runID, status: .running, outputs: nil, error: nil, at: configuration.now())
        try await store.appendEvent(EventRecord(runID: runID, stepID: nil, kind: "run_resumed",
                                                data: ["completed_steps": .int(completed.count), "unsettled_attempts": .int(unsettled)],
                                                at: configuration.now()))
        configuration.observer.observe(.runResumed(runID: runID, completedSteps: completed.count, unsettledAttempts: unsettled))
        for step in definition.steps where completed[step.id] != nil {
            configuration.observer.observe(.stepReplayed(stepID: step.id))
        }
        return try await drive(run: run, definition: definition, completed: completed, nextAttempt: nextAttempt, alerted: alerted)
    }

    // MARK: - Scheduling

    private enum Stop: Sendable {
        case failed(String)
        case rejected(String)
        case budget(String)
    }

    private func drive(run: RunRecord, definition: WorkflowDefinition, completed: [String: JSONValue],
                       nextAttempt: [String: Int], alerted: Set<Int>) async throws -> RunResult {
        let pricing: PricingTable
        do {
            pricing = try definition.pricing.map { try configuration.pricing.layered(with: $0, source: "workflow '\(definition.name)' pricing block") }
                ?? configuration.pricing
        } catch {
            return try await finish(run: run, definition: definition, outputs: completed, stop: .failed("\(error)"))
        }
        let governor = BudgetGovernor(store: configuration.store, runID: run.id, budget: run.budget, alreadyAlerted: alerted,
                                      observer: configuration.observer, now: configuration.now)
        let signal = RunSignal()
        let runner = StepRunner(configuration: configuration, pricing: pricing, governor: governor, runID: run.id,
                                policy: definition.approvalPolicy, gate: ApprovalGate(configuration: configuration, signal: signal),
                                cacheNamespace: definition.cacheNamespace ?? definition.name)
        let scope = TemplateScope(inputs: run.inputs, steps: [:])

        var outputs = completed
        var stop: Stop?
        var waiting: [String] = []

        // Each step's dependencies are worked out once; a step becomes ready when its count of
        // unfinished dependencies reaches zero. Ready steps start in file order.
        let position = Dictionary(definition.steps.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
        let byID = Dictionary(definition.steps.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var dependencies: [String: [String]] = [:]
        var unmet: [String: Int] = [:]
        var dependents: [String: [String]] = [:]
        var ready: [StepDefinition] = []
        for step in definition.steps where completed[step.id] == nil {
            let needs = step.allDependencies
            dependencies[step.id] = needs
            let missing = needs.filter { outputs[$0] == nil }
            unmet[step.id] = missing.count
            for dependency in missing { dependents[dependency, default: []].append(step.id) }
            if missing.isEmpty { ready.append(step) }
        }
        func release(_ id: String) {
            for dependent in dependents[id] ?? [] {
                unmet[dependent, default: 0] -= 1
                guard unmet[dependent] == 0, let step = byID[dependent] else { continue }
                let index = ready.firstIndex { (position[$0.id] ?? 0) > (position[dependent] ?? 0) } ?? ready.endIndex
                ready.insert(step, at: index)
            }
        }

        try await withThrowingTaskGroup(of: (String, StepOutcome).self) { group in
            var running = 0
            while true {
                // Start every ready step; transforms finish inline.
                while stop == nil, !ready.isEmpty {
                    let step = ready.removeFirst()
                    var stepScope = scope
                    for dependency in dependencies[step.id] ?? [] { stepScope.steps[dependency] = outputs[dependency] }
                    if case .transform(let transform) = step.kind, runner.gateSettings(step, worstCase: nil) == nil {
                        let outcome = try await runner.runTransform(step, transform, scope: stepScope)
                        Executor.apply(outcome, stepID: step.id, outputs: &outputs, stop: &stop, waiting: &waiting)
                        if outputs[step.id] != nil { release(step.id) }
                    } else {
                        let first = nextAttempt[step.id] ?? 1
                        running += 1
                        group.addTask { (step.id, try await runner.run(step, scope: stepScope, firstAttempt: first)) }
                    }
                }
                if running == 0 { break }
                guard let (id, outcome) = try await group.next() else { break }
                running -= 1
                Executor.apply(outcome, stepID: id, outputs: &outputs, stop: &stop, waiting: &waiting)
                if outputs[id] != nil { release(id) }
                // Steps waiting for a person stop waiting once the run cannot complete anyway.
                if stop != nil { signal.stop() }
            }
        }
        return try await finish(run: run, definition: definition, outputs: outputs, stop: stop, waiting: waiting)
    }

    private static func apply(_ outcome: StepOutcome, stepID: String, outputs: inout [String: JSONValue], stop: inout Stop?,
                              waiting: inout [String]) {
        switch outcome {
        case .completed(let output):
            outputs[stepID] = output
        case .failed(let message):
            if stop == nil { stop = .failed("step '\(stepID)' failed: \(message)") }
        case .rejected(let message):
            switch stop {
            case .budget?, .rejected?: break
            default: stop = .rejected("step '\(stepID)' was \(message)")
            }
        case .refused(let message):
            // A budget stop outranks a failure: the user must raise the budget either way.
            if case .budget = stop {} else { stop = .budget("step '\(stepID)' \(message)") }
        case .waiting:
            waiting.append(stepID)
        }
    }

    private func finish(run: RunRecord, definition: WorkflowDefinition, outputs: [String: JSONValue], stop: Stop?,
                        waiting: [String] = []) async throws -> RunResult {
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
            let scope = TemplateScope(inputs: run.inputs, steps: outputs)
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
        try await store.updateRun(id: run.id, status: status, outputs: runOutputs, error: error, at: configuration.now())
        configuration.observer.observe(.runFinished(status: status))
        let ledger = try await store.ledger(runID: run.id)
        return RunResult(runID: run.id, status: status, ledger: ledger, outputs: runOutputs, error: error)
    }
}
