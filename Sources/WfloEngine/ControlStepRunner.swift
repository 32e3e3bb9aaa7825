import Foundation
import WfloCore
import WfloPricing

/// The control steps: skip records, `switch`, durable `sleep`, and sub-workflows.
extension StepRunner {
    /// Journals a step that does not run, with the reason, as `skipped`. Its dependents see
    /// `{{steps.ID.output.skipped}}` = true and `{{steps.ID.output.reason}}`.
    func recordSkip(_ step: StepDefinition, reason: String, at started: Date) async throws -> StepOutcome {
        let record: JSONValue = ["skipped": true, "reason": .string(reason)]
        try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: step.type, status: .skipped, output: record,
                                              model: step.kind.model, startedAt: started, finishedAt: started),
                                   event: EventRecord(runID: runID, stepID: step.id, kind: .stepSkipped, data: ["reason": .string(reason)], at: started))
        observer.observe(.stepSkipped(stepID: step.id, reason: reason))
        return .skipped(record)
    }

    /// Picks the case for the step's value. Output: `{value, case, chosen}`; the steps of the
    /// other cases are skipped by the scheduler.
    func runSwitch(_ step: StepDefinition, _ definition: SwitchStepDefinition, scope: TemplateScope) async throws -> StepOutcome {
        let started = configuration.now()
        let value: JSONValue
        do {
            value = try scope.render(definition.value)
        } catch let error as EngineError {
            return try await recordFailure(step, message: error.message, at: started)
        }
        guard let choice = definition.choose(value) else {
            let cases = definition.cases.map { "'\($0.match)'" }.joined(separator: ", ")
            return try await recordFailure(step, message: "no case matches the value '\(value.interpolated)' (cases: \(cases)) and there is no default", at: started)
        }
        let output: JSONValue = ["value": value, "case": .string(choice.label), "chosen": .array(choice.steps.map { .string($0) })]
        let now = configuration.now()
        try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .switch, status: .completed, output: output,
                                              startedAt: started, finishedAt: now),
                                   event: EventRecord(runID: runID, stepID: step.id, kind: .stepCompleted, data: ["case": .string(choice.label)], at: now))
        observer.observe(.stepCompleted(stepID: step.id, cost: .zero, usage: nil, seconds: now.timeIntervalSince(started)))
        return .completed(output)
    }

    /// Sleeps until the journaled wake-up time: the first start journals it, a restart reads it,
    /// so a run resumed after the deadline goes on at once and earlier steps are not run again.
    func runSleep(_ step: StepDefinition, _ definition: SleepStepDefinition, scope: TemplateScope) async throws -> StepOutcome {
        let started = configuration.now()
        let wake: Date
        if let known = replay.wakeAt[step.id] {
            wake = known
        } else {
            if let seconds = definition.seconds {
                wake = started.addingTimeInterval(seconds)
            } else if let until = definition.until {
                let text: String
                do {
                    text = try scope.renderText(until)
                } catch let error as EngineError {
                    return try await recordFailure(step, message: error.message, at: started)
                }
                guard let date = JournalTime.date(text.trimmingCharacters(in: .whitespaces)) else {
                    return try await recordFailure(step, message: "until: '\(text)' is not an ISO 8601 time such as 2026-12-01T09:00:00Z", at: started)
                }
                wake = date
            } else {
                return try await recordFailure(step, message: "a sleep needs 'duration' or 'until'", at: started)
            }
            try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .sleep, status: .running,
                                                  output: ["wake_at": .string(JournalTime.text(wake))], startedAt: started),
                                       event: EventRecord(runID: runID, stepID: step.id, kind: .sleepStarted,
                                                          data: ["wake_at": .string(JournalTime.text(wake))], at: started))
        }
        let remaining = wake.timeIntervalSince(configuration.now())
        if remaining > 0 {
            observer.observe(.stepSleeping(stepID: step.id, until: wake))
            try await configuration.sleep(remaining)
        }
        let now = configuration.now()
        let output: JSONValue = ["woke_at": .string(JournalTime.text(now)), "wake_at": .string(JournalTime.text(wake))]
        try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .sleep, status: .completed, output: output,
                                              finishedAt: now),
                                   event: EventRecord(runID: runID, stepID: step.id, kind: .stepCompleted, at: now))
        observer.observe(.stepCompleted(stepID: step.id, cost: .zero, usage: nil, seconds: max(0, remaining)))
        return .completed(output)
    }

    /// Runs a sub-workflow inside this run: its steps are journaled as `ID/CHILD`, charged to
    /// the run's budget and to the step's `budget:` (a limit within it), and resumed with the
    /// run. The output is the child's `outputs:` (or, when it declares none, its steps' outputs).
    func runSubWorkflow(_ step: StepDefinition, _ definition: SubWorkflowStepDefinition, scope: TemplateScope) async throws -> StepOutcome {
        let started = configuration.now()
        let child = definition.definition
        let inputs: JSONValue
        do {
            inputs = try StepRunner.bindChildInputs(child, given: try scope.render(definition.inputs), path: definition.path)
        } catch let error as EngineError {
            return try await recordFailure(step, message: error.message, at: started)
        }
        if depth + 1 > SubWorkflowStepDefinition.maximumDepth {
            return try await recordFailure(step, message: "workflows nest at most \(SubWorkflowStepDefinition.maximumDepth) deep", at: started)
        }
        let prefix = SubWorkflowStepDefinition.childID(step.id, "")
        if replay.finished.keys.first(where: { $0.hasPrefix(prefix) }) == nil {
            try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .workflow, status: .running, startedAt: started),
                                       event: EventRecord(runID: runID, stepID: step.id, kind: .workflowStarted,
                                                          data: ["workflow": .string(definition.path), "inputs": inputs], at: started))
        }
        var childRunner = self
        childRunner.depth = depth + 1
        if let budget = definition.budget {
            childRunner.limits.append(BudgetLimit(prefix: prefix, budget: budget, label: "workflow step '\(step.id)'"))
        }
        if let policy = child.approvalPolicy { childRunner = childRunner.with(policy: policy) }
        if let block = child.pricing {
            do {
                childRunner = childRunner.with(pricing: try pricing.layered(with: block, source: "workflow '\(definition.path)' pricing block"))
            } catch {
                return try await recordFailure(step, message: "workflow '\(definition.path)': \(error)", at: started)
            }
        }
        let outcome = try await Scheduler(runner: childRunner, definition: child, prefix: prefix, inputs: inputs,
                                          returnsEveryOutput: child.outputs.isEmpty).run()
        if !outcome.waiting.isEmpty { return .waiting(outcome.waiting[0]) }
        let now = configuration.now()
        switch outcome.stop {
        case .failed(let message)?:
            return try await recordFailure(step, message: "workflow '\(definition.path)': \(message)", at: started)
        case .rejected(let message)?:
            let text = "workflow '\(definition.path)': \(message)"
            try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .workflow, status: .rejected,
                                                  error: text, startedAt: started, finishedAt: now),
                                       event: EventRecord(runID: runID, stepID: step.id, kind: .stepRejected, data: ["error": .string(text)], at: now))
            observer.observe(.stepRejected(stepID: step.id, message: text))
            return .rejected(text)
        case .budget(let message)?:
            return try await recordRefusal(step, message: "(workflow '\(definition.path)'): \(message)", model: nil, worstCase: .zero, at: started)
        case nil:
            break
        }
        let childScope = TemplateScope(inputs: inputs, steps: outcome.outputs, skipped: outcome.skipped)
        var output: [String: JSONValue] = [:]
        if child.outputs.isEmpty {
            output = outcome.outputs
        } else {
            do {
                for declared in child.outputs { output[declared.name] = try childScope.render(declared.value) }
            } catch let error as EngineError {
                return try await recordFailure(step, message: "workflow '\(definition.path)' outputs: \(error.message)", at: started)
            }
        }
        try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .workflow, status: .completed,
                                              output: .object(output), startedAt: started, finishedAt: now),
                                   event: EventRecord(runID: runID, stepID: step.id, kind: .stepCompleted, at: now))
        observer.observe(.stepCompleted(stepID: step.id, cost: .zero, usage: nil, seconds: now.timeIntervalSince(started)))
        return .completed(.object(output))
    }

    /// The child's inputs: the values given (checked against the declared types), then defaults.
    static func bindChildInputs(_ child: WorkflowDefinition, given: JSONValue, path: String) throws -> JSONValue {
        let values = given.objectValue ?? [:]
        var bound: [String: JSONValue] = [:]
        for input in child.inputs {
            if let value = values[input.name], !value.isNull {
                guard let accepted = accept(input.type, value) else {
                    throw EngineError(.template, "workflow '\(path)': input '\(input.name)' must be a \(input.type.rawValue), not \(value.encoded())")
                }
                bound[input.name] = accepted
            } else if let value = input.defaultValue {
                bound[input.name] = value
            } else {
                throw EngineError(.template, "workflow '\(path)': input '\(input.name)' has no value and no default")
            }
        }
        return .object(bound)
    }

    /// The value as the input's type, or nil when it is not one.
    private static func accept(_ type: InputType, _ value: JSONValue) -> JSONValue? {
        switch (type, value) {
        case (.string, .string), (.number, .number), (.boolean, .bool), (.array, .array), (.object, .object): return value
        case (.integer, .number): return value.intValue != nil ? value : nil
        // Text from a template ("{{steps.x.output.text}}") may stand for a number or a flag.
        case (.number, .string(let s)) where Money.isDecimalLiteral(s.trimmingCharacters(in: .whitespaces)):
            let text = s.trimmingCharacters(in: .whitespaces)
            return JSONValue.isNumberLexeme(text) ? .number(text) : Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")).map(JSONValue.decimal)
        case (.integer, .string(let s)): return Int(s.trimmingCharacters(in: .whitespaces)).map { .int($0) }
        case (.boolean, .string(let s)) where s == "true" || s == "false": return .bool(s == "true")
        case (.string, .number(let n)): return .string(n)
        default: return nil
        }
    }

    /// This runner with a sub-workflow's own approval policy or pricing block.
    func with(policy: ApprovalPolicy? = nil, pricing: PricingTable? = nil) -> StepRunner {
        StepRunner(configuration: configuration, pricing: pricing ?? self.pricing, governor: governor, runID: runID, policy: policy ?? self.policy,
                   gate: gate, cacheNamespace: cacheNamespace, replay: replay, limits: limits, depth: depth, deadline: deadline)
    }
}
