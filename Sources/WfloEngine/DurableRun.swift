import Foundation
import Synchronization
import WfloCore
import WfloPricing

/// How one step a program asked for ended, as the journal holds it.
public enum DurableStepEnd: Sendable, Hashable {
    case completed(JSONValue)
    /// Failed after its attempts (or threw, for a step run in the program); journaled.
    case failed(String)
    /// The budget refused its reservation: nothing was sent.
    case refused(String)
    /// A person rejected it (or its approval).
    case rejected(String)
    /// Its approval request (this id) is pending and this process does not wait for it.
    case waiting(String)
}

/// How a program's run ended: what it returned, or why it stopped.
public enum DurableRunEnd: Sendable {
    /// The program returned; the run's outputs are `{"result": VALUE}`.
    case completed(JSONValue)
    case failed(String)
    case budget(String)
    case rejected(String)
    /// Waiting for the decisions on these steps.
    case waiting([String])
}

/// A program asked, at a point it reached before, for a different step than the journal holds
/// there: replaying the journal into it would hand one step's result to another.
public struct DurableNondeterminism: Error, Sendable, CustomStringConvertible {
    public let description: String

    /// At call `call` the program asks for `asked`; the journal holds `journaled` there.
    init(runID: String, call: String, asked: String, journaled: String) {
        description = "non-determinism in run \(runID): at call \(call) the program now asks for step '\(asked)', but before it asked for step '\(journaled)' there; "
            + Self.advice
    }

    /// The program asks for `asked` at call `call`, but asked for it before at call `before`.
    init(runID: String, call: String, asked: String, before: String) {
        description = "non-determinism in run \(runID): at call \(call) the program now asks for step '\(asked)', which it asked for before at call \(before) "
            + "(a step id is used once per run); " + Self.advice
    }

    private static let advice = "a run is resumed by the same program taking the same path (give new step ids to new runs only)"
}

/// A run whose steps a program asks for one at a time, in its own order (WfloKit's durable
/// functions), instead of a scheduler walking a definition. Each engine step (llm, http,
/// approval, sleep) runs through the same ``StepRunner`` and attempt driver as a workflow file's:
/// reserved before the call, settled, cached, gated, journaled. Steps the program computes itself
/// are journaled with ``record(stepID:result:startedAt:)``.
///
/// A step that ended in the journal before this process took the run over is answered from it
/// (``journaledEnd(of:)``): never run or charged again.
public struct DurableRun: Sendable {
    public let runID: String
    public let inputs: JSONValue
    let runner: StepRunner
    /// Steps that had ended when this process took the run over, by journal id.
    private let ended: [String: DurableStepEnd]
    /// The step each call position asked for, as journaled (`durable_call` events).
    private let calls: [String: String]
    private let positions: [String: String]
    /// The steps asked for in this process, with their call positions.
    private let entered = Entered()

    private final class Entered: Sendable {
        let steps = Mutex<[String: String]>([:])
    }

    init(runID: String, inputs: JSONValue, runner: StepRunner, journal: RunJournal?) {
        self.runID = runID
        self.inputs = inputs
        self.runner = runner
        var ended: [String: DurableStepEnd] = [:]
        var calls: [String: String] = [:]
        var positions: [String: String] = [:]
        for step in journal?.steps ?? [] {
            switch step.status {
            case .completed: ended[step.stepID] = .completed(step.output ?? .null)
            case .failed: ended[step.stepID] = .failed(step.error ?? "failed")
            case .rejected: ended[step.stepID] = .rejected(step.error ?? "rejected")
            default: break
            }
        }
        for event in journal?.events ?? [] where event.kind == .durableCall {
            if let call = event.data["call"]?.stringValue, let step = event.stepID {
                calls[call] = step
                positions[step] = call
            }
        }
        self.ended = ended
        self.calls = calls
        self.positions = positions
    }

    /// The journal's clock.
    public var now: Date { runner.configuration.now() }

    /// How step `stepID` ended, when it ended before this process took the run over.
    public func journaledEnd(of stepID: String) -> DurableStepEnd? {
        ended[stepID]
    }

    /// Checks that call position `call` (the program's n-th call, `3`, or a child's, `fan[1]#0`)
    /// asks for the step it asked for before, and journals the pair the first time.
    /// - Throws: ``DurableNondeterminism`` naming both steps.
    public func enter(call: String, stepID: String) async throws {
        if let journaled = calls[call] {
            guard journaled == stepID else {
                throw DurableNondeterminism(runID: runID, call: call, asked: stepID, journaled: journaled)
            }
            if ended[stepID] != nil { runner.observer.observe(.stepReplayed(stepID: stepID)) }
            return
        }
        if let other = positions[stepID] {
            throw DurableNondeterminism(runID: runID, call: call, asked: stepID, before: other)
        }
        let before: String? = entered.steps.withLock { steps in
            if let other = steps[stepID] { return other }
            steps[stepID] = call
            return nil
        }
        if let before { throw DurableNondeterminism(runID: runID, call: call, asked: stepID, before: before) }
        try await runner.store.appendEvent(EventRecord(runID: runID, stepID: stepID, kind: .durableCall, data: ["call": .string(call)], at: now))
    }

    /// Runs an engine step (llm, http, approval, sleep) as a workflow file's step of that kind runs.
    /// Its text fields are rendered with the run's inputs and `{{secrets.NAME}}`.
    public func run(_ step: StepDefinition) async throws -> DurableStepEnd {
        if let end = ended[step.id] { return end }
        let scope = TemplateScope(inputs: inputs, steps: [:])
        switch try await runner.run(step, scope: scope, firstAttempt: runner.replay.nextAttempt[step.id] ?? 1) {
        case .completed(let output): return .completed(output)
        case .skipped(let record): return .completed(record)
        case .failed(let message): return .failed(message)
        case .refused(let message): return .refused(message)
        case .rejected(let message): return .rejected(message)
        case .waiting(let request): return .waiting(request)
        }
    }

    /// Journals a step the program computed itself: its result (any JSON), or the message of
    /// what it threw. Costs nothing; no attempt row.
    public func record(stepID: String, result: Result<JSONValue, DurableStepFailure>, startedAt: Date) async throws -> DurableStepEnd {
        let finished = now
        switch result {
        case .success(let output):
            try await runner.store.recordStep(StepRecord(runID: runID, stepID: stepID, type: .transform, status: .completed, output: output,
                                                         startedAt: startedAt, finishedAt: finished),
                                              event: EventRecord(runID: runID, stepID: stepID, kind: .stepCompleted, at: finished))
            runner.observer.observe(.stepCompleted(stepID: stepID, cost: .zero, usage: nil, seconds: finished.timeIntervalSince(startedAt)))
            return .completed(output)
        case .failure(let failure):
            try await runner.store.recordStep(StepRecord(runID: runID, stepID: stepID, type: .transform, status: .failed, error: failure.message,
                                                         startedAt: startedAt, finishedAt: finished),
                                              event: EventRecord(runID: runID, stepID: stepID, kind: .stepFailed,
                                                                 data: ["error": .string(failure.message)], at: finished))
            runner.observer.observe(.stepFailed(stepID: stepID, error: failure.message))
            return .failed(failure.message)
        }
    }

    /// Journals and announces a retry of a step the program computes, then waits for it, as the
    /// attempt driver does for calls (`policy`'s back-off with jitter, never past the run's deadline).
    /// - Returns: false when the policy gives no further attempt.
    public func retry(stepID: String, attempt: Int, policy: RetryPolicy, message: String) async throws -> Bool {
        guard attempt < policy.maximumAttempts else { return false }
        var final = false
        var text = message
        let delay = runner.driver.retryDelay(policy: policy, attempt: attempt, retryAfter: nil, final: &final, message: &text)
        if final { return false }
        try await runner.driver.scheduleRetry(stepID: stepID, attempt: attempt, message: text, delay: delay)
        return true
    }
}

/// What a step computed by the program threw, as journaled.
public struct DurableStepFailure: Error, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

extension Executor {
    /// Drives a run of `program` under the id `runID`: creates it, or takes over the run of that id
    /// (its finished steps answered from the journal). A run that already ended completed, cancelled
    /// or rejected is returned as it is, nothing run. `budget`, when given for a resumed run,
    /// replaces its budget.
    ///
    /// - Parameters:
    ///   - name: the workflow name runs are listed under.
    ///   - path: the journaled origin (`wflo resume` reads it to say where such a run resumes).
    /// - Throws: ``DurableNondeterminism`` (the run is journaled failed with its message first),
    ///   what `program` throws otherwise is its failure; journal errors as they come.
    public func runDurable(name: String, path: String, inputs: JSONValue, budget: Money?, runID: String,
                           program: @Sendable (DurableRun) async throws -> DurableRunEnd) async throws -> RunResult {
        let store = configuration.store
        let existing = try await store.run(id: runID)
        if let existing, existing.status == .completed || existing.status == .cancelled || existing.status == .rejected {
            return RunResult(runID: runID, status: existing.status, ledger: try await store.ledger(runID: runID), outputs: existing.outputs,
                             error: existing.error)
        }
        var run: RunRecord
        if let existing {
            guard existing.workflowName == name else {
                throw EngineError(.resume, "run \(runID) is a run of workflow '\(existing.workflowName)', not '\(name)'; use another run id")
            }
            run = existing
        } else {
            let now = configuration.now()
            run = RunRecord(id: runID, workflowName: name, workflowPath: path, workflowSource: "", inputs: inputs, budget: budget,
                            createdAt: now, updatedAt: now)
            try await store.createRun(run)
            try await store.appendEvent(Executor.startedEvent(run: run, definition: WorkflowDefinition(name: name, steps: []), mode: RunMode()))
            configuration.observer.observe(.runStarted(runID: runID, workflow: name, budget: budget))
        }
        let lease = try await RunLease.acquire(configuration, runID: runID)
        return try await lease.hold {
            var journal: RunJournal?
            var alerted = Set<Int>()
            if existing != nil {
                let unsettled = try await store.markInFlightUnsettled(runID: runID, at: configuration.now())
                if let budget, budget != run.budget {
                    run.budget = budget
                    try await store.updateRunBudget(id: runID, budget: budget, at: configuration.now())
                }
                let read = try await store.journal(runID: runID)
                journal = read
                alerted = Set(read.events.filter { $0.kind == .budgetAlert }.compactMap { $0.data["percent"]?.intValue })
                let done = read.steps.filter { $0.status == .completed }.count
                try await store.updateRun(id: runID, status: .running, outputs: nil, error: nil, at: configuration.now())
                try await store.appendEvent(EventRecord(runID: runID, stepID: nil, kind: .runResumed,
                                                        data: ["completed_steps": .int(done), "unsettled_attempts": .int(unsettled)],
                                                        at: configuration.now()))
                configuration.observer.observe(.runResumed(runID: runID, completedSteps: done, unsettledAttempts: unsettled))
            }
            let governor = BudgetGovernor(store: store, runID: runID, budget: run.budget, alreadyAlerted: alerted,
                                          observer: configuration.observer, now: configuration.now)
            let signal = RunSignal()
            let runner = StepRunner(configuration: configuration, pricing: configuration.pricing, governor: governor, runID: runID,
                                    policy: nil, gate: ApprovalGate(configuration: configuration, signal: signal),
                                    cacheNamespace: name, replay: journal.map { ReplayState(journal: $0) } ?? ReplayState())
            let session = DurableRun(runID: runID, inputs: run.inputs, runner: runner, journal: journal)
            let end: DurableRunEnd
            do {
                end = try await watched(program, session: session, signal: signal)
            } catch let error as DurableNondeterminism {
                _ = try await finishDurable(runID: runID, end: .failed(error.description))
                throw error
            }
            return try await finishDurable(runID: runID, end: end)
        }
    }

    /// Runs the program beside the watch for `wflo cancel`, as a workflow's scheduler runs: a
    /// cancel request stops what is in flight (a call, a wait for a decision, a sleep) and ends the run.
    private func watched(_ program: @Sendable (DurableRun) async throws -> DurableRunEnd, session: DurableRun,
                         signal: RunSignal) async throws -> DurableRunEnd {
        try await withoutActuallyEscaping(program) { program in
            try await withThrowingTaskGroup(of: DurableRunEnd?.self) { group in
                group.addTask { try await program(session) }
                group.addTask {
                    guard case .stopped(_, let reason)? = await watch(runID: session.runID, deadline: nil, timeout: nil) else { return nil }
                    return .failed(reason)
                }
                while let next = try await group.next() {
                    guard let end = next else { continue }
                    signal.stop()
                    group.cancelAll()
                    // Let the other task unwind; what it throws now is the cancellation.
                    while true {
                        do { if try await group.next() == nil { break } } catch { continue }
                    }
                    return end
                }
                throw CancellationError()
            }
        }
    }

    private func finishDurable(runID: String, end: DurableRunEnd) async throws -> RunResult {
        let store = configuration.store
        var status: RunStatus
        var error: String?
        var outputs: JSONValue?
        switch end {
        case .completed(let value):
            status = .completed
            outputs = ["result": value]
        case .failed(let message):
            status = .failed
            error = message
        case .budget(let message):
            status = .budgetExceeded
            error = message
        case .rejected(let message):
            status = .rejected
            error = message
        case .waiting(let steps):
            status = .waitingApproval
            error = "waiting for approval: " + steps.map { "'\($0)'" }.joined(separator: ", ")
                + "; decide with `wflo approve` or `wflo reject`, then run the program again with this run id"
        }
        if let request = try await store.cancelRequest(runID: runID), status != .completed {
            // Cut off mid-call: charged at the reservation, as a call in flight at a crash.
            _ = try await store.markInFlightUnsettled(runID: runID, at: configuration.now())
            try await closePendingApprovals(runID: runID, request: request)
            status = .cancelled
            error = request.message
        }
        let ledger = try await store.ledger(runID: runID)
        if status == .completed || status == .failed, let why = Executor.overrun(ledger) {
            status = .budgetExceeded
            error = why + (error.map { "; \($0)" } ?? "")
        }
        try await store.updateRun(id: runID, status: status, outputs: outputs, error: error, at: configuration.now())
        configuration.observer.observe(.runFinished(status: status))
        return RunResult(runID: runID, status: status, ledger: ledger, outputs: outputs, error: error)
    }
}
