import Foundation
import WfloCore
import WfloDSL
import WfloEngine
import WfloPricing

/// Failure handling (issue 21): dead letters, retrying failed runs, forking a run from a step,
/// and removing old runs' details. The CLI and the server call this; the rules are here and in
/// core (``ForkRule``), the SQL in the stores (``RecoveryStore``).
public struct RecoveryService: Sendable {
    public let runs: RunService
    public var store: any JournalStore { runs.store }

    public init(runs: RunService) {
        self.runs = runs
    }

    // MARK: - Dead letters and retry

    /// Failed runs, newest first, with the step that failed first and why.
    public func deadLetters(since: Date?, workflow: String?, limit: Int = 100) async throws -> [DeadLetter] {
        try await store.failedRuns(since: since, workflow: workflow, limit: limit)
    }

    /// A dead letter as `wflo runs --failed --json` and `GET /v1/dead-letters` show it: the run, the
    /// step that failed first and why, when it started and failed (ISO 8601), its tags.
    public static func json(_ letter: DeadLetter) -> JSONValue {
        ["run_id": .string(letter.run.id), "workflow": .string(letter.run.workflowName), "status": .string(letter.run.status.rawValue),
         "failed_step": letter.failedStep.map(JSONValue.string) ?? .null, "reason": letter.reason.map(JSONValue.string) ?? .null,
         "created_at": .string(letter.run.createdAt.formatted(.iso8601)), "failed_at": .string(letter.run.updatedAt.formatted(.iso8601)),
         "tags": .object(letter.run.tags.mapValues { .string($0) })]
    }

    /// A step a retry or a fork would run, and its worst case when it is a paid step.
    public struct PlannedStep: Sendable, Hashable {
        public var stepID: String
        public var type: StepType
        /// Nil for a step that costs nothing (transform, http, …) or whose calls are counted only at run time.
        public var worstCase: Money?
        /// True for a paid step whose worst case cannot be bounded before it runs (a `for_each` over run-time items).
        public var unbounded: Bool
    }

    /// What continuing a run would do: the steps it runs, and their worst case in all (steps
    /// finished in the journal are replayed, never run or charged again).
    public struct Plan: Sendable, Hashable {
        public var runID: String
        public var workflow: String
        public var steps: [PlannedStep]
        /// Steps whose journaled results are used as they are.
        public var reused: [String]
        /// What the reused steps cost when they first ran (the fork does not pay it again).
        public var reusedCost: Money

        /// The sum of the bounded worst cases.
        public var worstCase: Money { steps.compactMap(\.worstCase).reduce(.zero, +) }
        /// Whether some paid step's worst case is not in ``worstCase``.
        public var unbounded: Bool { steps.contains(where: \.unbounded) }
    }

    /// The definition a run of a workflow file was started with (as ``RunService/resume(_:definition:budget:)`` reads it).
    func definition(of journal: RunJournal) throws -> WorkflowDefinition {
        let record = journal.run
        switch WorkflowOrigin(journaledPath: record.workflowPath) {
        case .file(let path):
            return try WorkflowLoader.parse(source: record.workflowSource, file: path, pricing: runs.pricing,
                                            sources: WorkflowSources(journaled: Executor.journaledWorkflowSources(journal)))
        case .swift:
            throw AppError(.invalidInput, "run \(record.id) was started from Swift (workflow '\(record.workflowName)'); retry or fork it there")
        case .durable(let name, let program):
            throw AppError(.invalidInput, "run \(record.id) is a durable function ('\(name)') of the program '\(program)'; run the program again with its run id")
        }
    }

    /// The steps of `definition` not in `finished` (journal ids of the run's own steps), with their worst cases.
    func planned(_ definition: WorkflowDefinition, skipping finished: Set<String>) -> [PlannedStep] {
        let estimates = Dictionary(PlanEstimate.paidSteps(of: definition, pricing: runs.pricing).map { ($0.stepID, $0) },
                                   uniquingKeysWith: { first, _ in first })
        return definition.steps.filter { !finished.contains($0.id) }.map { step in
            let estimate = estimates[step.id]
            return PlannedStep(stepID: step.id, type: step.type, worstCase: estimate?.total, unbounded: estimate != nil && estimate?.total == nil)
        }
    }

    /// What `wflo retry RUN` would run: the failed run's steps that did not finish.
    /// - Throws: ``AppError`` `.invalidInput` when the run did not fail.
    public func retryPlan(_ run: String) async throws -> Plan {
        let runID = try await runs.resolveRun(run)
        let journal = try await store.journal(runID: runID)
        guard journal.run.status == .failed else {
            throw AppError(.invalidInput, "run \(runID) is \(journal.run.status.rawValue), not failed: retry continues failed runs only"
                           + (journal.run.status.isFinal ? "" : " (wflo resume continues it)"))
        }
        let finished = Set(journal.steps.filter { $0.status == .completed || $0.status == .skipped }.map(\.stepID))
        let definition = try definition(of: journal)
        return Plan(runID: runID, workflow: journal.run.workflowName, steps: planned(definition, skipping: finished),
                    reused: definition.steps.map(\.id).filter { finished.contains($0) }, reusedCost: .zero)
    }

    /// Continues a failed run from its failed steps, as `wflo resume` does: completed steps are replayed,
    /// never run or charged again; failed ones run again, their attempts numbered on.
    public func retry(_ run: String, budget: Money?) async throws -> RunResult {
        let plan = try await retryPlan(run)
        return try await runs.resume(plan.runID, budget: budget)
    }

    // MARK: - Fork

    /// What `wflo fork RUN --from STEP` would do: a new run that reuses the results of every step
    /// not downstream of STEP and runs STEP and what depends on it.
    public struct Fork: Sendable {
        public var plan: Plan
        /// The journaled rows the new run starts with, copied from the run.
        public var reused: [StepRecord]
        public var source: RunJournal
        public var inputs: JSONValue
        public var from: String
    }

    /// The fork of `run` from `from` (`ID`, or `ID[INDEX]` for one item of a `for_each`).
    /// - Throws: ``AppError`` `.invalidInput` naming what is wrong: an unknown step, a step inside a
    ///   sub-workflow or an agent's loop (fork from the step that runs it), an item of a step that is not a `for_each`.
    public func forkPlan(_ run: String, from: String, inputs arguments: [String]) async throws -> Fork {
        let runID = try await runs.resolveRun(run)
        let journal = try await store.journal(runID: runID)
        let definition = try definition(of: journal)
        guard let (stepID, item) = ForkRule.target(from) else {
            throw AppError(.invalidInput, "--from '\(from)' must be a step id, or ID[INDEX] for one item of a for_each")
        }
        guard let step = definition.step(stepID) else {
            if stepID.contains("/") {
                let root = NestedStepID.root(of: stepID)
                throw AppError(.invalidInput, "--from '\(from)' is inside step '\(root)' (a sub-workflow or an agent's turn): fork from '\(root)' itself")
            }
            let names = definition.steps.map(\.id)
            throw AppError(.invalidInput, "--from '\(from)': workflow '\(definition.name)' has no step '\(stepID)' (its steps: \(names.prefix(12).joined(separator: ", "))\(names.count > 12 ? ", …" : ""))")
        }
        if item != nil && step.forEach == nil {
            throw AppError(.invalidInput, "--from '\(from)': step '\(stepID)' has no for_each items; fork from '\(stepID)'")
        }
        let inputs: JSONValue
        do {
            inputs = try InputBinder.bind(definition, arguments: arguments, file: journal.run.inputs)
        } catch let error as InputError {
            throw AppError(.invalidInput, error.message)
        }
        let downstream = Set(ForkRule.downstream(of: stepID, in: definition))
        let itemPrefix = item.map { ForEachSettings.itemID(stepID, $0) }
        let reused = journal.steps.filter { row in
            guard row.status == .completed || row.status == .skipped else { return false }
            let root = NestedStepID.root(of: row.stepID)
            if !downstream.contains(root) { return true }
            // One item again: the step's other items (and what they nested) are reused; the step itself runs, replaying them.
            guard let itemPrefix, root == stepID, row.stepID != stepID else { return false }
            return !(row.stepID == itemPrefix || row.stepID.hasPrefix(itemPrefix + "/") || row.stepID.hasPrefix(itemPrefix + "["))
        }
        let reusedRoots = Set(reused.map { NestedStepID.root(of: $0.stepID) }).subtracting(downstream)
        let finished = Set(reused.map(\.stepID))
        let reusedIDs = Set(reused.map(\.stepID))
        let reusedCost = journal.attempts.filter { reusedIDs.contains($0.stepID) }.compactMap(\.cost).reduce(.zero, +)
        let plan = Plan(runID: runID, workflow: journal.run.workflowName,
                        steps: planned(definition, skipping: finished),
                        reused: definition.steps.map(\.id).filter { reusedRoots.contains($0) }, reusedCost: reusedCost)
        return Fork(plan: plan, reused: reused, source: journal, inputs: inputs, from: from)
    }

    /// Starts the fork as a new run and drives it: the reused steps are journaled in the new run
    /// in one transaction with it (no attempts: $0), then it runs like a resumed run.
    /// - Returns: the new run's result.
    public func fork(_ fork: Fork, budget: Money?) async throws -> RunResult {
        let source = fork.source.run
        let now = Date()
        let newID = Executor.makeRunID()
        let run = RunRecord(id: newID, workflowName: source.workflowName, workflowPath: source.workflowPath, workflowSource: source.workflowSource,
                            inputs: fork.inputs, budget: budget ?? source.budget, status: .queued, createdAt: now, updatedAt: now, tags: source.tags,
                            // Its workflow's concurrency key over its own inputs: it waits for a slot like any new run.
                            concurrency: try definition(of: fork.source).concurrency?.evaluate(inputs: fork.inputs))
        var started = fork.source.events.first { $0.kind == .runStarted }?.data.objectValue ?? [:]
        started["budget_usd"] = run.budget.map { .string($0.description) } ?? .null
        let events = [
            EventRecord(runID: newID, stepID: nil, kind: .runStarted, data: .object(started), at: now),
            EventRecord(runID: newID, stepID: nil, kind: .runForked,
                        data: ["from_run": .string(source.id), "from_step": .string(fork.from),
                               "reused_steps": .array(fork.plan.reused.map { .string($0) }),
                               "reused_cost_usd": .string(fork.plan.reusedCost.exact())], at: now),
        ]
        try await store.createForkedRun(run, events: events, reused: fork.reused)
        return try await runs.resume(newID, budget: nil)
    }

    // MARK: - Garbage collection

    /// Removes (or with `dryRun` counts) the steps, events and approval requests of runs that
    /// ended before `before`; run rows and attempts stay, so spend reports across runs keep their totals.
    public func collect(finishedBefore before: Date, dryRun: Bool) async throws -> CollectionSummary {
        try await store.collectGarbage(finishedBefore: before, dryRun: dryRun, at: Date())
    }
}
