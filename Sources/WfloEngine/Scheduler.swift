import Foundation
import WfloCore

/// What the journal held when this process took a run over.
struct ReplayState: Sendable {
    /// Outputs of finished steps (completed, or skipped with their skip record), by journal id.
    var finished: [String: JSONValue] = [:]
    /// Journal ids of the skipped steps among ``finished``.
    var skipped: Set<String> = []
    /// The attempt number each step continues with.
    var nextAttempt: [String: Int] = [:]
    /// When each sleep that had started wakes up.
    var wakeAt: [String: Date] = [:]
    /// True when the run started in this process: the journal holds nothing to replay.
    let isFresh: Bool
    /// True when the journal was read before the run's first start (still `queued`): no driver
    /// has run it, so it has no attempt in flight and no step task.
    let neverDriven: Bool

    init() {
        isFresh = true
        neverDriven = true
    }

    init(journal: RunJournal) {
        isFresh = false
        neverDriven = journal.run.status == .queued
        for step in journal.steps {
            switch step.status {
            case .completed:
                finished[step.stepID] = step.output ?? .null
            case .skipped:
                finished[step.stepID] = step.output ?? .null
                skipped.insert(step.stepID)
            case .running where step.type == .sleep:
                if let text = step.output?["wake_at"]?.stringValue, let date = JournalTime.date(text) {
                    wakeAt[step.stepID] = date
                }
            default:
                break
            }
        }
        for attempt in journal.attempts {
            nextAttempt[attempt.stepID] = max(nextAttempt[attempt.stepID] ?? 1, attempt.number + 1)
        }
    }
}

/// Why a workflow stopped before all its steps finished.
enum WorkflowStop: Sendable {
    case failed(String)
    case rejected(String)
    case budget(String)
}

/// How one workflow's steps ended: the run's own, or a sub-workflow's.
struct WorkflowOutcome: Sendable {
    /// Outputs by the workflow's own step ids (skipped steps hold their skip record): of the
    /// steps the workflow's `outputs:` name, or of every step (``Scheduler/returnsEveryOutput``).
    var outputs: [String: JSONValue]
    var skipped: Set<String>
    var stop: WorkflowStop?
    /// Steps still waiting for a decision.
    var waiting: [String]
}

/// Runs the steps of one workflow as their dependencies finish: the run's own workflow, or a
/// sub-workflow's, whose steps are journaled under `prefix` (`enrich/`).
///
/// A step is ready when everything it waits for has finished. Then, in order: a step a switch
/// did not choose is skipped; a step with a skipped dependency is skipped unless its own `if:`
/// decides; a false `if:` skips it. Every skip is journaled with its reason. A `for_each` step
/// runs its items here, each journaled as `ID[INDEX]`; every other step goes to the ``StepRunner``,
/// or, when spreading (``ExecutorConfiguration/stepTasks``) and the step is a call any worker may
/// make (``Executor/spreads(_:runner:)``), to a step task whose outcome is read from the journal.
struct Scheduler: Sendable {
    let runner: StepRunner
    let definition: WorkflowDefinition
    /// Prepended to step ids in the journal ("" for the run's own workflow).
    let prefix: String
    let inputs: JSONValue
    /// True for a sub-workflow that declares no `outputs:`: its step's output is all of its
    /// steps' outputs. Otherwise an output is kept only while a step still to start reads it,
    /// or when the workflow's `outputs:` name its step (all are in the journal).
    var returnsEveryOutput = false

    private var configuration: ExecutorConfiguration { runner.configuration }
    private var replay: ReplayState { runner.replay }

    func run() async throws -> WorkflowOutcome {
        var outputs: [String: JSONValue] = [:]
        var skipped = Set<String>()
        for step in definition.steps {
            let journalID = prefix + step.id
            if let output = replay.finished[journalID] {
                outputs[step.id] = output
                if replay.skipped.contains(journalID) { skipped.insert(step.id) }
            }
        }
        var stop: WorkflowStop?
        var waiting: [String] = []

        let routes = definition.routes
        let steps = definition.steps
        let position = Dictionary(steps.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
        // By the step's position: what it waits for, how many of those have no output yet, and
        // the steps waiting for it. Arrays, not maps by id (three such maps were ~25 MB of a
        // 100,000-step run; a map of ids to whole step definitions was 63 MB before).
        var dependencies = [[String]](repeating: [], count: steps.count)
        var unmet = [Int](repeating: 0, count: steps.count)
        var dependents = [[Int]](repeating: [], count: steps.count)
        var readers = OutputReaders(count: steps.count, keeping: returnsEveryOutput ? nil : Set(definition.outputs.flatMap { output in
            output.value.templates.flatMap(\.references).compactMap { Template.stepID(of: $0).flatMap { position[$0] } }
        }))
        var ready = ReadyQueue<Int>()
        for (index, step) in steps.enumerated() where outputs[step.id] == nil {
            let needs = WorkflowDefinition.dependencies(of: step, routes: routes)
            dependencies[index] = needs
            var missing = 0
            for dependency in needs {
                guard let at = position[dependency] else { continue }
                readers.willRead(at)
                if outputs[dependency] == nil {
                    missing += 1
                    dependents[at].append(index)
                }
            }
            unmet[index] = missing
            if missing == 0 { ready.push(index, position: index) }
        }
        func release(_ index: Int) {
            for dependent in dependents[index] {
                unmet[dependent] -= 1
                if unmet[dependent] == 0 { ready.push(dependent, position: dependent) }
            }
        }
        /// Once the step at `index` has read what it waits for, outputs nothing else needs are let go.
        func forgetOutputs(readBy index: Int) {
            for unread in readers.haveRead(dependencies[index].compactMap { position[$0] }) { outputs[steps[unread].id] = nil }
        }
        func apply(_ outcome: StepOutcome, _ index: Int) {
            let id = steps[index].id
            switch outcome {
            case .completed(let output):
                outputs[id] = output
            case .skipped(let record):
                outputs[id] = record
                skipped.insert(id)
            case .failed(let message):
                if stop == nil { stop = .failed("step '\(prefix + id)' failed: \(message)") }
            case .rejected(let message):
                switch stop {
                case .budget?, .rejected?: break
                default: stop = .rejected("step '\(prefix + id)' was \(message)")
                }
            case .refused(let message):
                // A budget stop outranks a failure: the user must raise the budget either way.
                if case .budget = stop {} else { stop = .budget("step '\(prefix + id)' \(message)") }
            case .waiting:
                waiting.append(prefix + id)
            }
            if outputs[id] != nil { release(index) }
        }

        try await withThrowingTaskGroup(of: (Int, StepOutcome).self) { group in
            var running = 0
            while true {
                while stop == nil, let index = ready.popFirst() {
                    let step = steps[index]
                    var scope = TemplateScope(inputs: inputs, steps: [:])
                    for dependency in dependencies[index] {
                        scope.steps[dependency] = outputs[dependency]
                        if skipped.contains(dependency) { scope.skipped.insert(dependency) }
                    }
                    var journaled = step
                    journaled.id = prefix + step.id
                    let started = configuration.now()
                    // Skips and conditions are decided here, before anything is reserved or sent.
                    let reason: String?
                    do {
                        reason = try skipReason(step, dependencies: dependencies[index], scope: scope, routes: routes,
                                                outputs: outputs, skipped: skipped)
                    } catch let error as EngineError {
                        forgetOutputs(readBy: index)
                        apply(try await runner.allowingFailure(journaled, try await runner.recordFailure(journaled, message: error.message, at: started)), index)
                        continue
                    }
                    // From here the step reads only its scope.
                    forgetOutputs(readBy: index)
                    if let reason {
                        apply(try await runner.recordSkip(journaled, reason: reason, at: started), index)
                        continue
                    }
                    if step.forEach == nil, runner.gateSettings(journaled, worstCase: nil) == nil {
                        // Steps with nothing to wait for finish inline.
                        switch step.kind {
                        // Run here rather than through `StepRunner.run`, so `allow_failure` is applied here.
                        case .transform(let transform):
                            apply(try await RunTelemetry.withStepSpan(journaled) {
                                try await runner.allowingFailure(journaled, try await runner.runTransform(journaled, transform, scope: scope))
                            }, index)
                            continue
                        case .switch(let definition):
                            apply(try await RunTelemetry.withStepSpan(journaled) {
                                try await runner.allowingFailure(journaled, try await runner.runSwitch(journaled, definition, scope: scope))
                            }, index)
                            continue
                        default:
                            break
                        }
                    }
                    if running == 0, ready.isEmpty {
                        // The only step that can run until it ends (nothing else in flight or ready):
                        // run here rather than in a task of its own, which cost two thread hand-overs a step.
                        // (No other step can be waiting for a person, so a stop has nobody to tell.)
                        apply(try await execute(step, journaled: journaled, scope: scope), index)
                        continue
                    }
                    running += 1
                    group.addTask { [self] in (index, try await execute(step, journaled: journaled, scope: scope)) }
                }
                if running == 0 { break }
                guard let (finished, outcome) = try await group.next() else { break }
                running -= 1
                apply(outcome, finished)
                // Steps waiting for a person stop waiting once the run cannot complete anyway.
                if stop != nil { runner.gate.signal.stop() }
            }
        }
        return WorkflowOutcome(outputs: outputs, skipped: skipped, stop: stop, waiting: waiting)
    }

    /// Runs a step that does work: as a step task any worker may take when spreading, else here.
    private func execute(_ step: StepDefinition, journaled: StepDefinition, scope: TemplateScope) async throws -> StepOutcome {
        if step.forEach == nil, Executor(configuration).spreads(journaled, runner: runner) {
            // A branch any worker may run (it opens the step's span where it runs).
            return try await runSpreadStep(journaled, scope: scope)
        }
        return try await RunTelemetry.withStepSpan(journaled) {
            if let forEach = step.forEach {
                return try await runner.allowingFailure(journaled, try await runForEach(journaled, forEach, scope: scope))
            }
            return try await runner.run(journaled, scope: scope, firstAttempt: replay.nextAttempt[journaled.id] ?? 1)
        }
    }

    /// Why a ready step does not run, or nil when it runs.
    private func skipReason(_ step: StepDefinition, dependencies: [String], scope: TemplateScope, routes: [String: String],
                            outputs: [String: JSONValue], skipped: Set<String>) throws -> String? {
        if let router = routes[step.id] {
            if skipped.contains(router) { return "its switch '\(router)' was skipped" }
            let chosen = outputs[router]?["chosen"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if !chosen.contains(step.id) {
                let label = outputs[router]?["case"]?.stringValue ?? "another case"
                return "switch '\(router)' chose \(label == "default" ? "its default" : "case '\(label)'")"
            }
        }
        if let condition = step.condition {
            // One that reads the item is decided for each item (runForEach).
            if step.forEach != nil, condition.readsForEachItem { return nil }
            return try scope.evaluate(condition) ? nil : "if: \(condition.source) is false"
        }
        if !skipped.isEmpty, let dependency = dependencies.first(where: { skipped.contains($0) && $0 != routes[step.id] }) {
            return "it depends on '\(dependency)', which was skipped (add an if: to run it anyway)"
        }
        return nil
    }

    // MARK: for_each

    /// Runs `step` once per item, at most `max_parallel` at a time. Items finished before a
    /// restart are taken from the journal. Every item's cost goes through the budget governor
    /// on its own, so parallel items cannot pass the budget; the first refusal stops new items.
    private func runForEach(_ step: StepDefinition, _ settings: ForEachSettings, scope: TemplateScope) async throws -> StepOutcome {
        let started = configuration.now()
        let items: [JSONValue]
        do {
            switch try scope.render(settings.items) {
            case .array(let array): items = array
            case let other:
                let shown = other.encoded()
                return try await runner.recordFailure(step, message: "for_each items \(settings.items.source) must be an array, not \(shown.count > 80 ? String(shown.prefix(80)) + "…" : shown)", at: started)
            }
        } catch let error as EngineError {
            return try await runner.recordFailure(step, message: error.message, at: started)
        }
        if let problem = ForEachSettings.itemCountProblem(items.count) {
            return try await runner.recordFailure(step, message: problem, at: started)
        }
        try await configuration.store.recordStep(StepRecord(runID: runner.runID, stepID: step.id, type: step.type, status: .running,
                                                            model: step.kind.model, startedAt: started),
                                                 event: EventRecord(runID: runner.runID, stepID: step.id, kind: .forEachStarted,
                                                                    data: ["items": .int(items.count), "max_parallel": .int(settings.maxParallel)], at: started))

        var tally = ForEachTally(count: items.count, failFast: settings.failFast)
        let itemCondition = step.condition.flatMap { $0.readsForEachItem ? $0 : nil }
        if let spread = configuration.stepTasks, let spreading = runner.spreading, Executor(configuration).spreads(step, runner: runner) {
            try await runSpread(step, settings, items: items, scope: scope, itemCondition: itemCondition, tally: &tally,
                                spread: spread, spreading: spreading)
        } else {
            try await runLocally(step, settings, items: items, scope: scope, itemCondition: itemCondition, tally: &tally)
        }
        let results = tally.results
        let errors = tally.errors
        let skippedItems = tally.skippedItems
        let stopped = tally.stopped
        let waiting = tally.waiting
        let succeeded = items.count - errors.count - skippedItems
        switch stopped {
        case .failed(let message)?, .rejected(let message)?:
            return try await runner.recordFailure(step, message: message, model: step.kind.model, at: started,
                                                  data: ["succeeded": .int(results.filter { !$0.isNull }.count), "failed": .int(errors.count)])
        case .refused(let message)?:
            return try await runner.recordRefusal(step, message: message, model: step.kind.model, worstCase: .zero, at: started)
        default:
            break
        }
        if let waiting { return .waiting(waiting) }
        let output: JSONValue = [
            "items": .array(results),
            "count": .int(items.count),
            "succeeded": .int(succeeded),
            "failed": .int(errors.count),
            "skipped": .int(skippedItems),
            "errors": .array(errors.map { ["index": .int($0.index), "error": .string($0.message)] }),
        ]
        let now = configuration.now()
        try await configuration.store.recordStep(StepRecord(runID: runner.runID, stepID: step.id, type: step.type, status: .completed,
                                                            output: output, model: step.kind.model, startedAt: started, finishedAt: now),
                                                 event: EventRecord(runID: runner.runID, stepID: step.id, kind: .stepCompleted,
                                                                    data: ["succeeded": .int(succeeded), "failed": .int(errors.count),
                                                                           "skipped": .int(skippedItems)], at: now))
        configuration.observer.observe(.stepCompleted(stepID: step.id, cost: .zero, usage: nil, seconds: now.timeIntervalSince(started)))
        return .completed(output)
    }

    /// What a for_each item needs before it runs.
    private enum ItemPlan {
        /// Finished before a restart, or decided here (skipped, failed by its `if:`): counted, nothing to run.
        case counted
        case run(StepDefinition, TemplateScope)
    }

    /// The item `index` as it runs (its journal id `ID[INDEX]`, its scope), or why it does not:
    /// finished before a restart, or skipped or failed by an `if:` reading the item (journaled here).
    private func planItem(_ step: StepDefinition, _ settings: ForEachSettings, index: Int, items: [JSONValue], scope: TemplateScope,
                          itemCondition: Condition?, tally: inout ForEachTally) async throws -> ItemPlan {
        var item = step
        item.id = ForEachSettings.itemID(step.id, index)
        item.forEach = nil
        item.condition = nil
        // A failed item is counted in the step's `failed` and `errors`; `allow_failure`
        // applies to the step as a whole.
        item.allowFailure = false
        if replay.skipped.contains(item.id) {
            tally.skippedItems += 1
            return .counted
        }
        if let done = replay.finished[item.id] {
            tally.results[index] = done
            return .counted
        }
        var itemScope = scope
        itemScope.forEach = [settings.itemVar: items[index], "index": .int(index)]
        if let itemCondition {
            // Decided before the item reserves or sends anything; a skipped item is null in `items`.
            let outcome: StepOutcome?
            do {
                outcome = try itemScope.evaluate(itemCondition)
                    ? nil : try await runner.recordSkip(item, reason: "if: \(itemCondition.source) is false", at: configuration.now())
            } catch let error as EngineError {
                outcome = try await runner.recordFailure(item, message: error.message, at: configuration.now())
            }
            switch outcome {
            case nil:
                break
            case .skipped?:
                tally.skippedItems += 1
                return .counted
            case .failed(let message)?:
                tally.errors.append((index, message))
                if tally.failFast, tally.stopped == nil { tally.stopped = .failed("item \(index) failed: \(message)") }
                return .counted
            default:
                return .counted
            }
        }
        return .run(item, itemScope)
    }

    /// The items run in this process, at most `max_parallel` at a time.
    private func runLocally(_ step: StepDefinition, _ settings: ForEachSettings, items: [JSONValue], scope: TemplateScope,
                            itemCondition: Condition?, tally: inout ForEachTally) async throws {
        try await withThrowingTaskGroup(of: (Int, StepOutcome).self) { group in
            var next = 0
            var running = 0
            while true {
                while tally.stopped == nil, next < items.count, running < settings.maxParallel {
                    let index = next
                    next += 1
                    guard case .run(let item, let itemScope) = try await planItem(step, settings, index: index, items: items, scope: scope,
                                                                                  itemCondition: itemCondition, tally: &tally) else { continue }
                    running += 1
                    group.addTask { [runner, replay] in
                        (index, try await RunTelemetry.withStepSpan(item, role: .step(index: index)) {
                            try await runner.run(item, scope: itemScope, firstAttempt: replay.nextAttempt[item.id] ?? 1)
                        })
                    }
                }
                if running == 0 { break }
                guard let (index, outcome) = try await group.next() else { break }
                running -= 1
                tally.record(index, outcome)
            }
        }
    }

    /// The items as step tasks (``StepTaskSettings``): at most `max_parallel` in the journal at a
    /// time, executed by whichever worker claims them, this process included (up to
    /// ``StepTaskSettings/width`` of its own run's tasks at once); their outcomes are read from the journal.
    private func runSpread(_ step: StepDefinition, _ settings: ForEachSettings, items: [JSONValue], scope: TemplateScope,
                           itemCondition: Condition?, tally: inout ForEachTally, spread: StepTaskSettings,
                           spreading: StepTaskSpreading) async throws {
        var nextIndex = 0
        try await runner.spreadTasks(maxParallel: settings.maxParallel, width: min(settings.maxParallel, max(1, spread.width ?? settings.maxParallel)),
                                     spread: spread, spreading: spreading) {
            while tally.stopped == nil, nextIndex < items.count {
                let index = nextIndex
                nextIndex += 1
                guard case .run(let item, let itemScope) = try await planItem(step, settings, index: index, items: items, scope: scope,
                                                                              itemCondition: itemCondition, tally: &tally) else { continue }
                let payload = StepTaskPayload(step: step.id, index: index, scope: itemScope,
                                              firstAttempt: replay.nextAttempt[item.id] ?? 1, cacheNamespace: runner.cacheNamespace,
                                              deadline: runner.deadline)
                return (index, StepTaskRequest(runID: runner.runID, stepID: item.id, payload: payload.json, at: configuration.now()))
            }
            return nil
        } record: { index, outcome in
            tally.record(index, outcome)
        }
    }

    /// A ready `llm` or `http` step of the run's own workflow (a parallel branch) as one step task
    /// (``StepRunner/runAsStepTask(_:payload:)``), its `allow_failure` applied here.
    private func runSpreadStep(_ step: StepDefinition, scope: TemplateScope) async throws -> StepOutcome {
        let payload = StepTaskPayload(step: step.id, index: nil, scope: scope, firstAttempt: replay.nextAttempt[step.id] ?? 1,
                                      cacheNamespace: runner.cacheNamespace, deadline: runner.deadline)
        return try await runner.allowingFailure(step, try await runner.runAsStepTask(step, payload: payload))
    }
}

/// How the items of one for_each stand.
struct ForEachTally {
    var results: [JSONValue]
    var errors: [(index: Int, message: String)] = []
    var skippedItems = 0
    var stopped: StepOutcome?
    var waiting: String?
    let failFast: Bool

    init(count: Int, failFast: Bool) {
        results = [JSONValue](repeating: .null, count: count)
        self.failFast = failFast
    }

    /// Counts how item `index` ended; a failure under `fail_fast`, a rejection under it, or a
    /// budget refusal (whatever fail_fast says) starts no more items.
    mutating func record(_ index: Int, _ outcome: StepOutcome) {
        switch outcome {
        case .completed(let output), .skipped(let output):
            results[index] = output
        case .failed(let message):
            errors.append((index, message))
            if failFast, stopped == nil { stopped = .failed("item \(index) failed: \(message)") }
        case .rejected(let message):
            errors.append((index, message))
            if failFast, stopped == nil { stopped = .rejected("item \(index) \(message)") }
        case .refused(let message):
            // Out of budget: start no more items, whatever fail_fast says.
            if case .refused = stopped {} else { stopped = .refused("item \(index) \(message)") }
        case .waiting(let id):
            waiting = waiting ?? id
        }
    }
}

/// Times the journal writes in step outputs and reads back: ISO 8601 with milliseconds, UTC.
enum JournalTime {
    static func text(_ date: Date) -> String { formatter().string(from: date) }
    static func date(_ text: String) -> Date? {
        if let date = formatter().date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        return plain.date(from: text)
    }
    private static func formatter() -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
