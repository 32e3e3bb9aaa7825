import Foundation
import Synchronization
import WfloCore
import WfloPricing

/// How a run's driver spreads its ready steps over workers (issue 16), when set on the
/// configuration (``ExecutorConfiguration/stepTasks``): nil, every step runs in the driving process.
///
/// With it, the `llm` and `http` calls of the run's own workflow (outside sub-workflows, approval
/// gates and policies) go to the journal as step tasks (``StepTaskStore``): each item of a
/// `for_each` of them (at most `max_parallel` at a time), each such step that becomes ready
/// (parallel branches: every ready one at once), and each call of an agent (a step of the run's
/// own workflow) to one of its `llm`/`http` step tools. Any worker with a free slot claims one and
/// executes it through the same attempt driver (``Executor/executeStepTask(_:definition:)``),
/// writing only while it holds the task's lease; the driver drains its own run's tasks too (so a
/// lone worker still runs every call) and learns of the others' results from the journal, before
/// anything that depends on them starts.
public struct StepTaskSettings: Sendable, Hashable {
    /// Seconds a task's lease lasts unless renewed (every third of it), by the store's clock.
    public var lease: Double
    /// Seconds between the driver's looks at its tasks' results.
    public var pollInterval: Double
    /// Who claims tasks in this process (a worker's own owner, so the journal says which worker ran each step).
    public var owner: RunOwner
    /// The most of its own run's tasks the driver executes at once, across all its for_each steps and
    /// branches (nil: no limit but each for_each's `max_parallel`); the rest wait for other workers,
    /// or for these to end.
    public var width: Int?

    public init(lease: Double = 30, pollInterval: Double = 0.02, owner: RunOwner = .current(), width: Int? = nil) {
        self.lease = lease
        self.pollInterval = pollInterval
        self.owner = owner
        self.width = width
    }
}

/// The driver's share of its own run's step tasks: at most ``StepTaskSettings/width`` executed in
/// this process at once, whichever for_each, branch or tool call of the run enqueued them; and how
/// many loops wait for their tasks' outcomes, so that together they read the journal about once a
/// poll interval however many branches wait (each looks every `interval × watchers`).
final class StepTaskSlots: Sendable {
    private let free: Mutex<Int>
    private let watching = Mutex(0)

    init(width: Int?) { free = Mutex(max(1, width ?? Int.max)) }

    /// Counts a waiting loop in, until its ``unwatch()``.
    func watch() { watching.withLock { $0 += 1 } }
    func unwatch() { watching.withLock { $0 -= 1 } }
    /// The loops waiting now (at least 1).
    var watchers: Int { watching.withLock { max(1, $0) } }

    /// Takes a slot; false when none is free.
    func take() -> Bool {
        free.withLock { free in
            guard free > 0 else { return false }
            free -= 1
            return true
        }
    }

    func give() { free.withLock { $0 += 1 } }
}

/// How a run's top-level runner spreads (set by the driver when ``ExecutorConfiguration/stepTasks``
/// is): the workflow its own drained tasks are looked up in, and its share of them.
struct StepTaskSpreading: Sendable {
    let root: WorkflowDefinition
    let slots: StepTaskSlots
}

/// What a step task carries: everything the step's templates see, and where it sits.
struct StepTaskPayload: Sendable {
    /// The step's id in the run's workflow (a for_each step's; the task's own id is the item's).
    var step: String
    /// The item's index in its for_each; nil for a step of its own (a branch, a tool call).
    var index: Int?
    /// For an agent's tool call: the tool's name (``step`` is the agent's id) and the call's id.
    var tool: (name: String, callID: String)?
    var scope: TemplateScope
    var firstAttempt: Int
    var cacheNamespace: String
    var deadline: Date?

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "step": .string(step), "first_attempt": .int(firstAttempt), "cache_namespace": .string(cacheNamespace),
            "inputs": scope.inputs, "steps": .object(scope.steps), "skipped": .array(scope.skipped.sorted().map { .string($0) }),
        ]
        if let index { object["index"] = .int(index) }
        if let tool { object["tool"] = ["name": .string(tool.name), "call_id": .string(tool.callID)] }
        if let args = scope.args { object["args"] = args }
        if let forEach = scope.forEach { object["for_each"] = .object(forEach) }
        if let deadline { object["deadline"] = .double(deadline.timeIntervalSince1970) }
        return .object(object)
    }

    init(step: String, index: Int?, scope: TemplateScope, firstAttempt: Int, cacheNamespace: String, deadline: Date?,
         tool: (name: String, callID: String)? = nil) {
        self.step = step
        self.index = index
        self.tool = tool
        self.scope = scope
        self.firstAttempt = firstAttempt
        self.cacheNamespace = cacheNamespace
        self.deadline = deadline
    }

    init?(json: JSONValue) {
        guard let step = json["step"]?.stringValue, let first = json["first_attempt"]?.intValue,
              let namespace = json["cache_namespace"]?.stringValue, let steps = json["steps"]?.objectValue else { return nil }
        var scope = TemplateScope(inputs: json["inputs"] ?? .null, steps: steps)
        scope.skipped = Set(json["skipped"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        scope.forEach = json["for_each"]?.objectValue
        scope.args = json["args"]
        var tool: (name: String, callID: String)?
        if let call = json["tool"] {
            guard let name = call["name"]?.stringValue, let callID = call["call_id"]?.stringValue else { return nil }
            tool = (name, callID)
        }
        self.init(step: step, index: json["index"]?.intValue, scope: scope, firstAttempt: first, cacheNamespace: namespace,
                  deadline: json["deadline"]?.doubleValue.map { Date(timeIntervalSince1970: $0) }, tool: tool)
    }
}

extension Executor {
    /// Whether `step` (a branch, an agent's tool call) or its items (a for_each) go to step tasks:
    /// spreading is on, the step is an `llm` or `http` call of the run's own workflow, with no
    /// approval to pass, no enclosing budget (a sub-workflow's or an agent's) and no MCP servers
    /// (those stay with the driver).
    func spreads(_ step: StepDefinition, runner: StepRunner) -> Bool {
        guard configuration.stepTasks != nil, runner.spreading != nil, runner.depth == 0, runner.limits.isEmpty, runner.policy == nil, runner.mcp == nil,
              step.approval == nil else { return false }
        switch step.kind {
        case .llm, .http: return true
        default: return false
        }
    }

    /// The price table a run of `definition` charges with: the configuration's, under the workflow's `pricing:` block.
    static func pricing(for definition: WorkflowDefinition, base: PricingTable) throws -> PricingTable {
        try definition.pricing.map { try base.layered(with: $0, source: "workflow '\(definition.name)' pricing block") } ?? base
    }

    /// Executes a claimed step task of a run of `definition`: through the attempt driver, with
    /// every write fenced by the task's lease (renewed every third of
    /// ``StepTaskSettings/lease``; when a renewal finds it lost, the step is stopped), then
    /// completes the task with the step's outcome. A step the journal already has (a helper died
    /// after journaling it) is answered from the journal: never called or charged twice.
    ///
    /// - Returns: false when the lease was lost (nothing more was written; the task goes on elsewhere).
    /// - Throws: journal errors; `CancellationError` when cancelled (the task's attempt, if any, is
    ///   left in flight, for the claim that takes the task next, or the run's end, to settle).
    public func executeStepTask(_ lease: StepTaskLease, definition: WorkflowDefinition) async throws -> Bool {
        let settings = configuration.stepTasks ?? StepTaskSettings()
        let store = configuration.store
        let work = Task { try await self.performStepTask(lease, definition: definition) }
        let renewal = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int64(settings.lease / 3 * 1000)))
                if Task.isCancelled { return }
                if (try? await store.renewStepTask(id: lease.id, token: lease.owner.token, lease: settings.lease)) == false {
                    work.cancel()
                    return
                }
            }
        }
        defer { renewal.cancel() }
        let outcome: StepTaskOutcome
        do {
            outcome = try await withTaskCancellationHandler { try await work.value } onCancel: { work.cancel() }
        } catch let error as StoreError where error.code == .leaseLost {
            return false
        } catch is CancellationError where !Task.isCancelled {
            // Stopped by a lost renewal.
            return false
        }
        return try await store.completeStepTask(id: lease.id, token: lease.owner.token, outcome: outcome.json)
    }

    private func performStepTask(_ lease: StepTaskLease, definition: WorkflowDefinition) async throws -> StepTaskOutcome {
        guard let payload = StepTaskPayload(json: lease.payload) else {
            return .failed("step task \(lease.id) of run \(lease.runID) holds a payload this wflo cannot read; resume the run with the wflo that started it")
        }
        guard let base = Self.taskStep(payload, in: definition) else {
            let named = payload.tool.map { "tool '\($0.name)' of agent '\(payload.step)'" } ?? "step '\(payload.step)'"
            return .failed("step task \(lease.id) names \(named), which workflow '\(definition.name)' does not have")
        }
        let fenced = configuration.store.fenced(stepTask: lease)
        if lease.claims > 1 {
            // Taken over from a helper that stopped: what it journaled stands.
            let journal = try await fenced.journal(runID: lease.runID)
            if let step = journal.steps.first(where: { $0.stepID == lease.stepID }) {
                if step.status == .completed { return .completed(step.output ?? .null) }
                if step.status == .skipped { return .skipped(step.output ?? .null) }
            }
        }
        guard let run = try await fenced.run(id: lease.runID) else {
            throw StoreError(.notFound, "run \(lease.runID) of step task \(lease.id) is not in \(fenced.journalLocation)")
        }
        // The driver decided the step's `if:` before enqueueing it and applies its `allow_failure`
        // to the outcome (for an item, to the for_each as a whole).
        var item = base
        item.id = lease.stepID
        item.forEach = nil
        item.condition = nil
        item.allowFailure = false
        var helping = configuration
        helping.store = fenced
        helping.approvals = .noWait
        helping.heldClaim = nil
        let pricing: PricingTable
        do {
            pricing = try Executor.pricing(for: definition, base: configuration.pricing)
        } catch {
            return .failed("\(error)")
        }
        // Alerts are the driver's to raise (once each): it reads the ledger as results come in.
        let governor = BudgetGovernor(store: fenced, runID: run.id, budget: run.budget,
                                      alreadyAlerted: Set(BudgetGovernor.alertThresholds + [100]), observer: helping.observer, now: helping.now)
        let runner = StepRunner(configuration: helping, pricing: pricing, governor: governor, runID: run.id, policy: nil,
                                gate: ApprovalGate(configuration: helping, signal: RunSignal()), cacheNamespace: payload.cacheNamespace,
                                replay: ReplayState(), deadline: payload.deadline)
        let role: RunTelemetry.StepRole = payload.tool.map { .tool(name: $0.name, callID: $0.callID) } ?? .step(index: payload.index)
        let outcome = try await RunTelemetry.withStepSpan(item, role: role) {
            try await runner.run(item, scope: payload.scope, firstAttempt: max(payload.firstAttempt, lease.nextAttempt))
        }
        switch outcome {
        case .completed(let output): return .completed(output)
        case .skipped(let record): return .skipped(record)
        case .failed(let message): return .failed(message)
        case .refused(let message): return .refused(message)
        case .rejected(let message): return .rejected(message)
        case .waiting(let request):
            // Not reached: a step with a gate is never a task.
            return .failed("step '\(item.id)' waits for approval \(request), which a step task cannot; run it without spreading")
        }
    }
}

extension Executor {
    /// The definition a task's payload names: a step of the run's own workflow, or a step tool of one of its agents.
    static func taskStep(_ payload: StepTaskPayload, in definition: WorkflowDefinition) -> StepDefinition? {
        guard let step = definition.steps.first(where: { $0.id == payload.step }) else { return nil }
        guard let tool = payload.tool else { return step }
        guard case .agent(let agent) = step.kind, case .step(let toolStep)? = agent.tool(tool.name)?.action else { return nil }
        return toolStep
    }
}

/// What the driver's loop over its step tasks waits for.
private enum SpreadEvent: Sendable {
    /// A task of the run executed here ended (or none was left to claim).
    case drained
    /// Time to look at the tasks' results.
    case tick
}

extension StepRunner {
    /// `step` (a branch of the run's own workflow, or an agent's tool call) as one step task:
    /// executed by whichever worker claims it, this process included; its outcome is read from the
    /// journal, where the step's result was committed first. Only for a runner that spreads
    /// (``Executor/spreads(_:runner:)``).
    func runAsStepTask(_ step: StepDefinition, payload: StepTaskPayload) async throws -> StepOutcome {
        guard let spread = configuration.stepTasks, let spreading else {
            return .failed("step '\(step.id)' was sent to a step task by a driver that does not spread")
        }
        var request: StepTaskRequest? = StepTaskRequest(runID: runID, stepID: step.id, payload: payload.json, at: configuration.now())
        var outcome: StepOutcome?
        try await spreadTasks(maxParallel: 1, width: 1, spread: spread, spreading: spreading) {
            defer { request = nil }
            return request.map { (0, $0) }
        } record: { _, ended in
            outcome = ended
        }
        return outcome ?? .failed("step '\(step.id)' ended with no outcome from its step task")
    }

    /// Step tasks of this run, enqueued as `next` gives them (with a key for `record`) while fewer
    /// than `maxParallel` are outstanding, until it gives nil; executed by whichever worker claims
    /// them, this process included (up to `width` at once here, and only in a free slot of the run's
    /// ``StepTaskSpreading/slots``); each outcome, read from the journal, goes to `record`.
    func spreadTasks(maxParallel: Int, width: Int, spread: StepTaskSettings, spreading: StepTaskSpreading,
                     next: () async throws -> (key: Int, request: StepTaskRequest)?,
                     record: (Int, StepOutcome) async throws -> Void) async throws {
        let store = configuration.store
        let owner = configuration.heldClaim ?? spread.owner
        let claim = StepTaskSettings(lease: spread.lease, pollInterval: spread.pollInterval, owner: owner, width: spread.width)
        var helping = configuration
        helping.stepTasks = claim
        let drainer = Executor(helping)
        let runID = runID
        let root = spreading.root
        let slots = spreading.slots
        slots.watch()
        defer { slots.unwatch() }
        try await withThrowingTaskGroup(of: SpreadEvent.self) { group in
            var exhausted = false
            // Enqueued and not yet done: task id → key.
            var outstanding: [Int64: Int] = [:]
            var draining = 0
            var claimable = 0
            var ticking = false
            while true {
                var requests: [(key: Int, request: StepTaskRequest)] = []
                while !exhausted, outstanding.count + requests.count < maxParallel {
                    guard let request = try await next() else {
                        exhausted = true
                        break
                    }
                    requests.append(request)
                }
                if !requests.isEmpty {
                    let ids = try await store.enqueueStepTasks(requests.map(\.request))
                    for (id, request) in zip(ids, requests) { outstanding[id] = request.key }
                    claimable += requests.count
                }
                // This process drains its own run's tasks as well (any of them, in a free slot): a lone
                // worker runs every call.
                while draining < width, claimable > 0, slots.take() {
                    draining += 1
                    claimable -= 1
                    group.addTask {
                        defer { slots.give() }
                        if let lease = try await store.claimStepTask(runID: runID, owner: owner, lease: claim.lease) {
                            _ = try await drainer.executeStepTask(lease, definition: root)
                        }
                        return .drained
                    }
                }
                if outstanding.isEmpty && draining == 0 { break }
                if !ticking {
                    ticking = true
                    let interval = claim.pollInterval * Double(slots.watchers)
                    group.addTask {
                        try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                        return .tick
                    }
                }
                switch try await group.next() {
                case .drained?: draining -= 1
                case .tick?: ticking = false
                case nil: break
                }
                if outstanding.isEmpty { continue }
                // The results, from the journal, whoever ran them.
                var settled = false
                claimable = 0
                for task in try await store.stepTasks(runID: runID, ids: Array(outstanding.keys)) {
                    switch task.status {
                    case .done:
                        guard let key = outstanding.removeValue(forKey: task.id) else { continue }
                        let outcome = task.outcome.flatMap(StepTaskOutcome.init(json:))
                            ?? .failed("step task \(task.id) ended with no outcome this wflo reads")
                        try await record(key, StepOutcome(outcome))
                        settled = true
                    case .cancelled:
                        // The run was cancelled: its watch stops this loop.
                        guard let key = outstanding.removeValue(forKey: task.id) else { continue }
                        try await record(key, .failed("its step task was cancelled"))
                    case .queued:
                        claimable += 1
                    case .claimed:
                        if !QueueClaimRule.isLive(leaseExpiresAt: task.leaseExpiresAt, now: Date()) { claimable += 1 }
                    }
                }
                if settled { try await governor.checkAlerts(try await store.ledger(runID: runID)) }
            }
        }
    }
}

extension StepOutcome {
    init(_ outcome: StepTaskOutcome) {
        switch outcome {
        case .completed(let output): self = .completed(output)
        case .skipped(let record): self = .skipped(record)
        case .failed(let message): self = .failed(message)
        case .refused(let message): self = .refused(message)
        case .rejected(let message): self = .rejected(message)
        }
    }
}
