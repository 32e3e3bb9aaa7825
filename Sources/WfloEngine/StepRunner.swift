import Foundation
import WfloCore
import WfloPricing
import WfloProviders

enum StepOutcome: Sendable {
    case completed(JSONValue)
    case failed(String)
    /// Refused by the budget governor; no call was made.
    case refused(String)
    /// A person or deadline said no; the step never ran.
    case rejected(String)
    /// Its approval request is still pending and this process is not waiting for it.
    case waiting(String)
    /// Not run (a false `if:`, a skipped dependency, a switch that chose another case); the
    /// value is what the journal holds for it: `{skipped: true, reason}`.
    case skipped(JSONValue)
}

/// Runs one step: renders its templates, reserves, calls, settles, journals.
struct StepRunner: Sendable {
    let configuration: ExecutorConfiguration
    let pricing: PricingTable
    let governor: BudgetGovernor
    let runID: String
    let policy: ApprovalPolicy?
    let gate: ApprovalGate
    /// Cached answers are shared within this namespace (the workflow's `cache_namespace`, else its name).
    let cacheNamespace: String
    /// What the journal held when this process took the run over: finished steps are not run again.
    let replay: ReplayState
    /// Budgets within the run's that this runner's attempts must also fit (sub-workflows' `budget:`).
    var limits: [BudgetLimit] = []
    /// How deep in sub-workflows this runner's steps are (0: the run's own workflow).
    var depth = 0
    /// When the run's `timeout:` ends it (nil without one): no retry waits past it.
    var deadline: Date? = nil
    /// The MCP servers of the agent whose loop this runner drives (nil outside one).
    var mcp: MCPServerPool? = nil
    /// Set on the run's top-level runner when its calls go to step tasks (``ExecutorConfiguration/stepTasks``).
    var spreading: StepTaskSpreading? = nil

    var store: any JournalStore { configuration.store }
    var observer: any RunObserver { configuration.observer }

    // MARK: transform

    /// A transform has no side effect and costs nothing: its result is journaled in one
    /// transaction, with no attempt row.
    func runTransform(_ step: StepDefinition, _ transform: TransformStepDefinition, scope: TemplateScope) async throws -> StepOutcome {
        let started = configuration.now()
        do {
            let output = try scope.render(transform.output)
            let finished = configuration.now()
            try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .transform, status: .completed,
                                                  output: output, startedAt: started, finishedAt: finished),
                                       event: EventRecord(runID: runID, stepID: step.id, kind: .stepCompleted, at: finished))
            observer.observe(.stepCompleted(stepID: step.id, cost: .zero, usage: nil, seconds: finished.timeIntervalSince(started)))
            return .completed(output)
        } catch let error as EngineError {
            return try await recordFailure(step, message: error.message, at: started)
        }
    }

    /// Journals a step that failed before any attempt (nothing was sent), with its event.
    func recordFailure(_ step: StepDefinition, message: String, model: String? = nil, at started: Date,
                       data: [String: JSONValue] = [:]) async throws -> StepOutcome {
        let now = configuration.now()
        var eventData = data
        eventData["error"] = .string(message)
        try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: step.type, status: .failed, error: message,
                                              model: model, startedAt: started, finishedAt: now),
                                   event: EventRecord(runID: runID, stepID: step.id, kind: .stepFailed, data: .object(eventData), at: now))
        observer.observe(.stepFailed(stepID: step.id, error: message))
        return .failed(message)
    }

    /// Journals a step the budget governor refused: no call was made.
    func recordRefusal(_ step: StepDefinition, message: String, model: String?, worstCase: Money, at started: Date) async throws -> StepOutcome {
        let now = configuration.now()
        try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: step.type, status: .budgetExceeded,
                                              error: message, model: model, startedAt: started, finishedAt: now),
                                   event: EventRecord(runID: runID, stepID: step.id, kind: .stepRefused,
                                                      data: ["error": .string(message), "worst_case_usd": .string(worstCase.description)],
                                                      at: now))
        observer.observe(.stepRefused(stepID: step.id, message: message))
        return .refused(message)
    }

    // MARK: llm

    /// Runs a step of any type, behind its approval gate when it has one.
    func run(_ step: StepDefinition, scope: TemplateScope, firstAttempt: Int) async throws -> StepOutcome {
        try await allowingFailure(step, try await runKind(step, scope: scope, firstAttempt: firstAttempt))
    }

    private func runKind(_ step: StepDefinition, scope: TemplateScope, firstAttempt: Int) async throws -> StepOutcome {
        switch step.kind {
        case .llm(let definition):
            return try await runLLM(step, definition, scope: scope, firstAttempt: firstAttempt)
        case .transform(let transform):
            if let stopped = try await passGate(step, details: ["type": "transform"], worstCase: nil) { return stopped }
            return try await runTransform(step, transform, scope: scope)
        case .approval(let approval):
            return try await runApproval(step, approval, scope: scope)
        case .http(let http):
            return try await runHTTP(step, http, scope: scope, firstAttempt: firstAttempt)
        case .switch(let definition):
            if let stopped = try await passGate(step, details: ["type": "switch"], worstCase: nil) { return stopped }
            return try await runSwitch(step, definition, scope: scope)
        case .sleep(let definition):
            if let stopped = try await passGate(step, details: ["type": "sleep"], worstCase: nil) { return stopped }
            return try await runSleep(step, definition, scope: scope)
        case .workflow(let definition):
            if let stopped = try await passGate(step, details: ["type": "workflow", "workflow": .string(definition.path)], worstCase: nil) {
                return stopped
            }
            return try await runSubWorkflow(step, definition, scope: scope)
        case .agent(let agent):
            return try await runAgent(step, agent, scope: scope)
        case .sandbox(let sandbox):
            return try await runSandbox(step, sandbox, scope: scope, firstAttempt: firstAttempt)
        case .mcp(let call):
            return try await runMCP(step, call, scope: scope, firstAttempt: firstAttempt)
        }
    }

    /// `allow_failure: true`: a failed step ends `completed` with `{failed: true, error}` as its
    /// output (journaled over the failure), so the run goes on and later steps can branch on it.
    func allowingFailure(_ step: StepDefinition, _ outcome: StepOutcome) async throws -> StepOutcome {
        guard step.allowFailure, case .failed(let message) = outcome else { return outcome }
        let now = configuration.now()
        let output: JSONValue = ["failed": true, "error": .string(message)]
        try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: step.type, status: .completed, output: output,
                                              error: message, model: step.kind.model, finishedAt: now),
                                   event: EventRecord(runID: runID, stepID: step.id, kind: .stepFailureAllowed,
                                                      data: ["error": .string(message)], at: now))
        observer.observe(.stepCompleted(stepID: step.id, cost: .zero, usage: nil, seconds: 0))
        return .completed(output)
    }

    /// Whether the step must wait for a person, with the settings and the reason. Steps marked
    /// `approval:` always; others when the workflow's policy says so.
    func gateSettings(_ step: StepDefinition, worstCase: Money?) -> (settings: ApprovalSettings, reason: String)? {
        if let settings = step.approval { return (settings, "the step says approval: required") }
        if let policy, let reason = policy.reason(risk: step.risk, worstCase: worstCase, httpMethod: step.httpMethod) { return (policy.settings, reason) }
        return nil
    }

    /// Holds a gated step until its approval is committed. Returns nil when the step may run,
    /// else how it ends (rejected, expired, still waiting), already journaled.
    func passGate(_ step: StepDefinition, details: [String: JSONValue], worstCase: Money?, preview: String? = nil) async throws -> StepOutcome? {
        guard let (settings, reason) = gateSettings(step, worstCase: worstCase) else { return nil }
        let label = step.type.rawValue + (step.kind.model.map { ", \($0)" } ?? "")
        var shown = details
        shown["reason"] = .string(reason)
        if let worstCase { shown["worst_case_usd"] = .string(worstCase.description) }
        var message = "Run step '\(step.id)' (\(label))? It needs approval: \(reason)."
        if let preview {
            message += "\n" + (preview.count > 600 ? String(preview.prefix(600)) + "… (wflo approvals show has all of it)" : preview)
        }
        let request = ApprovalRecord(id: ApprovalRecord.makeID(), runID: runID, stepID: step.id,
                                     message: message,
                                     details: .object(shown), worstCase: worstCase, settings: settings, requestedAt: configuration.now())
        switch try await gate.decide(request, stepType: step.type) {
        case .approved:
            return nil
        case .waiting(let record):
            return .waiting(record.id)
        case .rejected(let record):
            return try await recordDecisionEnd(step, record: record, status: .rejected, output: nil)
        case .expired(let record):
            return try await recordDecisionEnd(step, record: record, status: .failed, output: nil)
        }
    }

    /// An `approval` step: its output is the decision.
    func runApproval(_ step: StepDefinition, _ approval: ApprovalStepDefinition, scope: TemplateScope) async throws -> StepOutcome {
        let started = configuration.now()
        let message: String
        do {
            message = try scope.renderText(approval.message)
        } catch let error as EngineError {
            return try await recordFailure(step, message: error.message, at: started)
        }
        let request = ApprovalRecord(id: ApprovalRecord.makeID(), runID: runID, stepID: step.id, message: message,
                                     details: ["type": "approval"], settings: approval.settings, requestedAt: started)
        switch try await gate.decide(request, stepType: .approval) {
        case .approved(let record):
            let now = configuration.now()
            try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .approval, status: .completed,
                                                  output: record.output, startedAt: started, finishedAt: now),
                                       event: EventRecord(runID: runID, stepID: step.id, kind: .stepCompleted,
                                                          data: ["approved_by": .string(record.decidedBy ?? "")], at: now))
            observer.observe(.stepCompleted(stepID: step.id, cost: .zero, usage: nil, seconds: now.timeIntervalSince(record.requestedAt)))
            return .completed(record.output)
        case .waiting(let record):
            return .waiting(record.id)
        case .rejected(let record):
            return try await recordDecisionEnd(step, record: record, status: .rejected, output: record.output)
        case .expired(let record):
            return try await recordDecisionEnd(step, record: record, status: .failed, output: record.output)
        }
    }

    /// Journals a step that a decision stopped: rejected, or failed because nobody decided in time.
    private func recordDecisionEnd(_ step: StepDefinition, record: ApprovalRecord, status: StepStatus, output: JSONValue?) async throws -> StepOutcome {
        let now = configuration.now()
        let why = record.comment.map { ": \($0)" } ?? ""
        let message = status == .rejected
            ? "rejected by \(record.decidedBy ?? "someone")\(why)"
            : "approval request \(record.id) expired\(why)"
        try await store.recordStep(StepRecord(runID: runID, stepID: step.id, type: step.type, status: status, output: output,
                                              error: message, model: step.kind.model, startedAt: record.requestedAt, finishedAt: now),
                                   event: EventRecord(runID: runID, stepID: step.id, kind: status == .rejected ? .stepRejected : .stepFailed,
                                                      data: ["error": .string(message), "request_id": .string(record.id)], at: now))
        if status == .rejected {
            observer.observe(.stepRejected(stepID: step.id, message: message))
            return .rejected(message)
        }
        observer.observe(.stepFailed(stepID: step.id, error: message))
        return .failed(message)
    }

    func runLLM(_ step: StepDefinition, _ definition: LLMStepDefinition, scope: TemplateScope, firstAttempt: Int) async throws -> StepOutcome {
        let started = configuration.now()
        let prepared: PreparedCall
        do {
            prepared = try prepare(definition, scope: scope)
        } catch let error as EngineError {
            return try await recordFailure(step, message: error.message, model: definition.model, at: started)
        } catch let error as PricingError {
            return try await recordFailure(step, message: error.description, model: definition.model, at: started)
        }

        let worstCase = prepared.worstCase.cost
        // What a person deciding is shown: only made for a step that needs a decision.
        var gate: GateRequest?
        if gateSettings(step, worstCase: worstCase) != nil {
            var details: [String: JSONValue] = [
                "type": "llm", "model": .string(definition.model), "provider": .string(prepared.request.provider.rawValue),
                "max_tokens": .int(prepared.request.maxTokens),
                "messages": .array(prepared.request.messages.map { ["role": .string($0.role), "content": .string($0.content)] }),
            ]
            if let system = prepared.request.system { details["system"] = .string(system) }
            let preview = prepared.request.messages.last.map { "Prompt: \($0.content)" }
            gate = GateRequest(details: details, worstCase: worstCase, preview: preview)
        }
        return try await driver.runStep(step, startedAt: started, gate: gate) {
            let cacheKey: String?
            if configuration.cacheEnabled && definition.usesCache {
                let key = ResponseCache.key(for: prepared.request, baseURL: configuration.llm.baseURL(for: prepared.request), namespace: cacheNamespace)
                if let served = try await serveFromCache(step, definition, key: key, attempt: firstAttempt) { return .answered(served) }
                cacheKey = key
            } else {
                cacheKey = nil
            }
            let policy = step.retry ?? .default
            let timeout = step.timeout ?? configuration.defaultLLMTimeout
            let span = AttemptSpanInfo.chat(model: definition.model, provider: prepared.request.provider.rawValue,
                                            maxTokens: prepared.request.maxTokens, temperature: prepared.request.temperature)
            let call = AttemptOffer<StepOutcome>(model: definition.model, worstCase: worstCase, span: span) { [self] attempt in
                let response: LLMResponse
                do {
                    response = try await configuration.llm.complete(prepared.request, body: prepared.body,
                                                                    timeout: .milliseconds(Int64(timeout * 1000)))
                } catch let error as ProviderError {
                    return .failed(AttemptFailure(error, policy: policy, attempt: attempt))
                }
                let settlement = Settlement.of(response.usage, model: definition.model, reserved: worstCase,
                                               pricing: pricing, searchContextSize: definition.webSearch?.contextSize)
                var output = StepRunner.output(of: response, cost: settlement.cost, jsonRequested: definition.jsonResponse)
                if !settlement.flags.isEmpty, case .object(var object) = output {
                    object["flags"] = .array(settlement.flags.map { .string($0) })
                    output = .object(object)
                }
                var charge = AttemptCharge(cost: settlement.cost, usage: response.usage, fees: settlement.fees, flags: settlement.flags,
                                           output: output)
                charge.spanAttributes = AttemptSpanInfo.chatResponse(model: response.model, finishReason: response.finishReason,
                                                                     pricingSource: try? pricing.price(for: definition.model).source)
                if let cacheKey, ResponseCache.isCacheable(response) {
                    charge.afterSettlement = { now in
                        try await store.storeResponse(CacheEntry(key: cacheKey, namespace: cacheNamespace, model: definition.model,
                                                                 response: ResponseCache.encode(response), createdAt: now,
                                                                 expiresAt: definition.cacheTTL.map { now.addingTimeInterval($0) }))
                    }
                }
                return .settled(.completed(output), charge)
            }
            return .attempts(AttemptPlan(stepID: step.id, stepType: .llm, policy: policy, firstAttempt: firstAttempt, paid: true, offer: call))
        }
    }

    /// Serves the step from the LLM response cache when a live answer is stored under `key`:
    /// no call, no reservation, $0 charged; journaled as a hit with what it saved at the table's
    /// current prices. Returns nil on a miss.
    func serveFromCache(_ step: StepDefinition, _ definition: LLMStepDefinition, key: String, attempt: Int) async throws -> StepOutcome? {
        let now = configuration.now()
        guard let stored = try await store.cachedResponse(key: key, at: now), let response = ResponseCache.decode(stored) else { return nil }
        let saved = (try? pricing.cost(model: definition.model, usage: response.usage).total) ?? .zero
        var output = StepRunner.output(of: response, cost: .zero, jsonRequested: definition.jsonResponse)
        if case .object(var object) = output {
            object["cache_hit"] = true
            object["saved_usd"] = .string(saved.description)
            output = .object(object)
        }
        try await store.recordCacheHit(CacheHitRecord(key: key, runID: runID, stepID: step.id, stepType: .llm,
                                                      number: attempt, model: definition.model, usage: response.usage,
                                                      saved: saved, output: output, at: now))
        observer.observe(.stepCacheHit(stepID: step.id, saved: saved))
        RunTelemetry.cacheHit(saved: saved)
        return .completed(output)
    }

    struct PreparedCall: Sendable {
        var request: LLMRequest
        var worstCase: WorstCaseEstimate
        /// The request's body: the bytes priced are the bytes sent.
        var body: [UInt8]
    }

    /// Renders the request and prices its worst case from the exact bytes that will be sent.
    func prepare(_ definition: LLMStepDefinition, scope: TemplateScope) throws -> PreparedCall {
        let price = try pricing.price(for: definition.model)
        let provider = try StepRunner.provider(for: definition, price: price)
        var messages: [LLMMessage] = []
        for message in definition.messages {
            messages.append(LLMMessage(role: message.role, content: try scope.renderText(message.content)))
        }
        if let prompt = definition.prompt {
            messages.append(LLMMessage(role: "user", content: try scope.renderText(prompt)))
        }
        let system = try definition.system.map { try scope.renderText($0) }
        var maxTokens = definition.maxTokens
        if let limit = price.maxOutputTokens, limit > 0 { maxTokens = min(maxTokens, limit) }
        let request = LLMRequest(provider: provider, model: definition.model, system: system, messages: messages,
                                 maxTokens: maxTokens, temperature: definition.temperature, stop: definition.stop,
                                 jsonResponse: definition.jsonResponse, baseURL: definition.baseURL, webSearch: definition.webSearch)
        let body = configuration.llm.encodedBody(request)
        var shape = RequestShape(bodyBytes: body.count, messageCount: messages.count + (system == nil ? 0 : 1), maxTokens: maxTokens)
        shape.webSearchMaxUses = definition.webSearch?.maxUses
        shape.searchContextSize = definition.webSearch?.contextSize
        return PreparedCall(request: request, worstCase: try pricing.worstCase(model: definition.model, request: shape), body: body)
    }

    /// The wire format for a step: its `provider:`, else the table's `litellm_provider`.
    static func provider(for definition: LLMStepDefinition, price: ModelPrice) throws -> LLMProviderKind {
        if let provider = definition.provider { return provider }
        switch price.provider ?? "" {
        case "anthropic": return .anthropic
        case "openai", "text-completion-openai": return .openai
        case let other:
            if definition.baseURL != nil { return .openai }
            throw EngineError(.configuration, "model '\(definition.model)' is served by '\(other)', which wflo does not call directly; set `provider: openai` and `base_url:` for an OpenAI-compatible endpoint, or `provider: anthropic`")
        }
    }

    static func output(of response: LLMResponse, cost: Money, jsonRequested: Bool) -> JSONValue {
        var object: [String: JSONValue] = [
            "text": .string(response.text),
            "finish_reason": .string(response.finishReason),
            "model": .string(response.model),
            "usage": response.usage.json,
            "cost_usd": .string(cost.description),
            "cache_hit": false,
        ]
        if jsonRequested { object["json"] = response.json ?? .null }
        return .object(object)
    }
}
