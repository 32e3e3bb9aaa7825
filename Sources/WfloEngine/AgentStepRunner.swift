import Foundation
import WfloCore
import WfloPricing
import WfloProviders

/// Runs `agent` steps: the model is called turn after turn with the conversation so far and the
/// tools; each tool call it makes runs as a step of its own; the loop ends on a final answer
/// (text without tool calls, or `finish`), or on a limit, always with a status in the output.
///
/// Governance, in the loop:
/// - every turn reserves its worst case through the ``BudgetGovernor`` before any traffic,
///   recomputed from the exact bytes of the grown conversation; the agent's own `budget` is
///   checked first. When the current model's turn does not fit, the `fallback_models` are tried
///   in order (the switch is journaled as `agent_model_fallback`); when none fits the agent
///   stops `budget_exceeded` with the best answer so far in its output;
/// - every tool call is a step (`AGENT/TURN/TOOL`) run by ``StepRunner/run(_:scope:firstAttempt:)``:
///   the same approval gate (the tool's `approval:`/`risk:`, the workflow's `approval_policy`),
///   egress, secrets redaction and journal as any step. A rejected or failed call goes back to
///   the model as a tool error it can react to.
///
/// Durability: each turn is an attempt of the step `AGENT/TURN` whose output — the assistant
/// message with its tool calls — is committed with its cost in one transaction; each tool call's
/// result is committed by its own step. After a crash the loop rebuilds the conversation from
/// those records: a committed turn is not sent again and a finished tool call is not run again.
extension StepRunner {
    func runAgent(_ step: StepDefinition, _ agent: AgentStepDefinition, scope: TemplateScope) async throws -> StepOutcome {
        // The agent's budget holds every attempt under it, turns and paid tools alike, in the same
        // transaction as the run's (and any enclosing sub-workflow's) budget.
        let prefix = step.id + "/"  // every turn and tool call id starts so (AgentJournalID)
        if let budget = agent.budget, !limits.contains(where: { $0.prefix == prefix }) {
            var scoped = self
            scoped.limits.append(BudgetLimit(prefix: prefix, budget: budget, label: "agent '\(step.id)'"))
            return try await scoped.runAgent(step, agent, scope: scope)
        }
        // The agent's MCP servers live as long as its loop: whichever way the step ends (an
        // answer, a limit, a failure, a cancel), every server started is stopped with its tree.
        if !agent.mcpServers.isEmpty, mcp == nil {
            var scoped = self
            let pool = MCPServerPool(servers: agent.mcpServers, scope: scope, configuration: configuration.mcpEnvironment)
            scoped.mcp = pool
            do {
                let outcome = try await scoped.runAgent(step, agent, scope: scope)
                await pool.close()
                return outcome
            } catch {
                await pool.close()
                throw error
            }
        }
        var agent = agent
        let started = configuration.now()
        let system: String?
        let task: String
        do {
            system = try agent.system.map { try scope.renderText($0) }
            task = try scope.renderText(agent.task)
            for model in agent.models { _ = try agentProvider(agent, model: model) }
        } catch let error as EngineError {
            return try await recordFailure(step, message: error.message, model: agent.model, at: started)
        } catch let error as PricingError {
            return try await recordFailure(step, message: error.description, model: agent.model, at: started)
        }
        let details: [String: JSONValue] = [
            "type": "agent", "model": .string(agent.model), "task": .string(task),
            "tools": .array(agent.tools.map { .string($0.name) }), "max_turns": .int(agent.maxTurns),
        ]
        if let stopped = try await passGate(step, details: details, worstCase: agent.budget, preview: "Task: \(task)") { return stopped }
        try await configuration.store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .agent, status: .running,
                                              model: agent.model, startedAt: started),
                                   event: EventRecord(runID: runID, stepID: step.id, kind: .agentStarted,
                                                      data: ["model": .string(agent.model)], at: started))

        // Only a run taken over from the journal can hold this agent's earlier turns; a fresh one reads nothing.
        var loop = replay.isFresh ? AgentLoopState(agent: agent)
            : AgentLoopState(replaying: try await configuration.store.journal(runID: runID), agentID: step.id, agent: agent)
        loop.messages = [LLMMessage(role: "user", content: task)]
        while true {
            try Task.checkCancellation()
            let turn = loop.turns + 1
            let answer: AgentTurn
            if let recorded = loop.recordedTurns[turn] {
                answer = recorded
            } else {
                if let failure = try await listingMCPTools(&agent) {
                    return try await endAgent(step, agent, loop, status: nil, started: started, message: failure)
                }
                switch try await takeTurn(step, agent, turn: turn, system: system, loop: &loop) {
                case .answered(let fresh): answer = fresh
                case .refused(let message):
                    return try await endAgent(step, agent, loop, status: .budgetExceeded, started: started, message: message)
                case .failed(let message):
                    return try await endAgent(step, agent, loop, status: nil, started: started, message: message)
                }
            }
            loop.record(answer, models: agent.models)
            if answer.toolCalls.isEmpty {
                return try await endAgent(step, agent, loop, status: .completed, started: started, message: nil)
            }
            if turn >= agent.maxTurns, !answer.toolCalls.contains(where: { $0.name == "finish" }) {
                return try await endAgent(step, agent, loop, status: .maxTurns, started: started,
                                          message: "the agent took its max_turns (\(agent.maxTurns)) and its last turn still calls tools (they did not run); the best answer so far is in its output. Raise max_turns, or make the task smaller")
            }

            if answer.toolCalls.contains(where: { agent.tool($0.name) == nil }), let failure = try await listingMCPTools(&agent) {
                return try await endAgent(step, agent, loop, status: nil, started: started, message: failure)
            }
            let outcomes = try await callTools(step, agent, turn: turn, calls: answer.toolCalls, scope: scope, loop: &loop)
            var finish: JSONValue?
            for outcome in outcomes {
                switch outcome {
                case .waiting(let requestID): return .waiting(requestID)
                case .refused(let message):
                    return try await endAgent(step, agent, loop, status: .budgetExceeded, started: started, message: message)
                case .finished(let arguments): finish = arguments
                case .result: break
                }
            }
            if let finish {
                loop.result = finish
                loop.bestText = finish["answer"]?.stringValue ?? finish.encoded()
                return try await endAgent(step, agent, loop, status: .completed, started: started, message: nil)
            }
            if loop.limitHit {
                return try await endAgent(step, agent, loop, status: .maxToolCalls, started: started,
                                          message: "the model asked for more than max_tool_calls (\(agent.maxToolCalls)) tool calls; the calls past the limit did not run. Raise max_tool_calls, or make the task smaller")
            }
            for (call, outcome) in zip(answer.toolCalls, outcomes) {
                if case .result(let content, let isError) = outcome {
                    loop.messages.append(.toolResult(callID: call.id, content: content, isError: isError))
                }
            }
        }
    }

    /// Adds the agent's MCP servers' tools to its own (listing them, starting stdio servers, the
    /// first time). Returns why the agent cannot go on when a server cannot be listed.
    func listingMCPTools(_ agent: inout AgentStepDefinition) async throws -> String? {
        guard let mcp, !agent.mcpServers.isEmpty else { return nil }
        do {
            let own = agent.tools.filter { tool in
                if case .step(let definition) = tool.action, case .mcp = definition.kind { return false }
                return true
            }
            agent.tools = own + (try await mcp.tools(besides: own))
            return nil
        } catch let error as EngineError {
            return error.message
        }
    }

    // MARK: turns

    enum TurnOutcome {
        case answered(AgentTurn)
        case refused(String)
        case failed(String)
    }

    /// One model turn: the current model, else the fallbacks in order, whichever's worst case
    /// fits the agent's budget, the run's and any enclosing limit; then the call, with the step's retry policy.
    /// The agent's own budget is one of `limits`: the store refuses a turn that does not fit it in
    /// the same transaction as the run's budget, and the driver offers the next model.
    func takeTurn(_ step: StepDefinition, _ agent: AgentStepDefinition, turn: Int, system: String?,
                  loop: inout AgentLoopState) async throws -> TurnOutcome {
        let turnID = AgentJournalID.turn(agent: step.id, turn: turn)
        let policy = step.retry ?? .default
        let timeout = step.timeout ?? configuration.defaultLLMTimeout
        let models = agent.models
        let messages = loop.messages
        let plan = AttemptPlan<AgentTurn>(
            stepID: turnID, stepType: .llm, policy: policy, firstAttempt: loop.nextAttempt[turnID] ?? 1, paid: true,
            offerCount: models.count, firstOffer: loop.modelIndex,
            prepare: { [self] index in
                let model = models[index]
                let request: LLMRequest
                let worstCase: Money
                do {
                    (request, worstCase) = try prepareTurn(agent, model: model, system: system, messages: messages)
                } catch let error as EngineError {
                    throw AttemptUnprepared(message: error.message)
                } catch let error as PricingError {
                    throw AttemptUnprepared(message: error.description)
                }
                let span = AttemptSpanInfo.chat(model: model, provider: request.provider.rawValue, maxTokens: request.maxTokens,
                                                temperature: request.temperature)
                return AttemptOffer(model: model, worstCase: worstCase, span: span) { attempt in
                    let response: LLMResponse
                    do {
                        response = try await configuration.llm.complete(request, timeout: .milliseconds(Int64(timeout * 1000)))
                    } catch let error as ProviderError {
                        return .failed(AttemptFailure(error, policy: policy, attempt: attempt))
                    }
                    let settlement = Settlement.of(response.usage, model: model, reserved: worstCase, pricing: pricing, searchContextSize: nil)
                    let answer = AgentTurn(number: turn, model: model, text: response.text, toolCalls: response.toolCalls,
                                           finishReason: response.finishReason, usage: response.usage, cost: settlement.cost,
                                           responseModel: response.model)
                    var charge = AttemptCharge(cost: settlement.cost, usage: response.usage, fees: settlement.fees,
                                               flags: settlement.flags, output: answer.json)
                    charge.spanAttributes = AttemptSpanInfo.chatResponse(model: response.model, finishReason: response.finishReason,
                                                                         pricingSource: try? pricing.price(for: model).source)
                    return .settled(answer, charge)
                }
            },
            switched: { [self] from, to, refusals in
                let reason = refusals.map { "\($0.model ?? ""): \($0.message)" }.joined(separator: "; ")
                try await configuration.store.appendEvent(EventRecord(runID: runID, stepID: step.id, kind: .agentModelFallback,
                                                                      data: ["turn": .int(turn), "from": .string(models[from]),
                                                                             "to": .string(models[to]), "reason": .string(reason)],
                                                                      at: configuration.now()))
                observer.observe(.agentFallback(stepID: step.id, turn: turn, from: models[from], to: models[to], reason: reason))
            })
        let result = try await driver.drive(plan)
        loop.modelIndex = result.offer
        switch result.end {
        case .done(let answer):
            return .answered(answer)
        case .failed(let message):
            return .failed("turn \(turn): " + message)
        case .unprepared(let message):
            return .failed(message)
        case .refused(let refusals):
            return .refused("refused before turn \(turn): " + refusals.map { "\($0.model ?? ""): \($0.message)" }.joined(separator: "; "))
        }
    }

    /// The request of one turn on `model`, and its worst case priced from the exact bytes that
    /// will be sent plus the tool framing the provider adds.
    func prepareTurn(_ agent: AgentStepDefinition, model: String, system: String?, messages: [LLMMessage]) throws -> (LLMRequest, Money) {
        let price = try pricing.price(for: model)
        let provider = try agentProvider(agent, model: model)
        var maxTokens = agent.maxTokens
        if let limit = price.maxOutputTokens, limit > 0 { maxTokens = min(maxTokens, limit) }
        let tools = agent.tools.map { LLMTool(name: $0.name, description: $0.description, parameters: $0.parameters) }
        let request = LLMRequest(provider: provider, model: model, system: system, messages: messages, maxTokens: maxTokens,
                                 temperature: agent.temperature, baseURL: agent.baseURL, tools: tools)
        let shape = RequestShape(bodyBytes: configuration.llm.encodedBody(request).count, messageCount: request.framedMessageCount,
                                 maxTokens: maxTokens, providerOverheadTokens: request.toolOverheadTokens)
        return (request, try pricing.worstCase(model: model, request: shape).cost)
    }

    func agentProvider(_ agent: AgentStepDefinition, model: String) throws -> LLMProviderKind {
        let price = try pricing.price(for: model)
        return try StepRunner.provider(for: LLMStepDefinition(model: model, provider: agent.provider, baseURL: agent.baseURL,
                                                              maxTokens: agent.maxTokens), price: price)
    }


    // MARK: tools

    enum ToolOutcome: Sendable {
        /// What goes back to the model.
        case result(String, isError: Bool)
        /// `finish` with valid arguments.
        case finished(JSONValue)
        /// A gated call waits for a person and this process does not wait.
        case waiting(String)
        /// The budget refused the call.
        case refused(String)
    }

    /// Runs one turn's tool calls at once (parallel calls run in parallel), each under its own
    /// journal id; calls past `max_tool_calls` do not run. Outcomes are in the calls' order.
    func callTools(_ step: StepDefinition, _ agent: AgentStepDefinition, turn: Int, calls: [LLMToolCall], scope: TemplateScope,
                   loop: inout AgentLoopState) async throws -> [ToolOutcome] {
        var planned: [(index: Int, journalID: String, call: LLMToolCall)] = []
        var outcomes = [ToolOutcome](repeating: .result("", isError: false), count: calls.count)
        var occurrences: [String: Int] = [:]
        for (index, call) in calls.enumerated() {
            occurrences[call.name, default: 0] += 1
            guard loop.toolCalls < agent.maxToolCalls else {
                loop.limitHit = true
                outcomes[index] = .result("not run: the agent's max_tool_calls (\(agent.maxToolCalls)) is reached", isError: true)
                continue
            }
            loop.toolCalls += 1
            let name = AgentJournalID.isSafe(call.name) ? call.name : "unknown-tool"
            planned.append((index, AgentJournalID.toolCall(agent: step.id, turn: turn, tool: name, occurrence: occurrences[call.name]!), call))
        }
        let records = loop.recordedTools
        let nextAttempt = loop.nextAttempt
        try await withThrowingTaskGroup(of: (Int, ToolOutcome).self) { group in
            for (index, journalID, call) in planned {
                group.addTask {
                    (index, try await self.callTool(step, agent, call: call, journalID: journalID, record: records[journalID],
                                                    firstAttempt: nextAttempt[journalID] ?? 1, scope: scope))
                }
            }
            for try await (index, outcome) in group { outcomes[index] = outcome }
        }
        return outcomes
    }

    /// One call: checked against the tool's schema, then run (or its journaled result replayed).
    func callTool(_ step: StepDefinition, _ agent: AgentStepDefinition, call: LLMToolCall, journalID: String, record: StepRecord?,
                  firstAttempt: Int, scope: TemplateScope) async throws -> ToolOutcome {
        try Task.checkCancellation()
        guard let tool = agent.tool(call.name) else {
            return .result("there is no tool '\(call.name)'; the tools are: \(agent.tools.map(\.name).joined(separator: ", "))", isError: true)
        }
        guard let arguments = call.parsedArguments else {
            return .result("the arguments of '\(call.name)' are not valid JSON: \(call.arguments.prefix(200))", isError: true)
        }
        let problems = ToolArgumentCheck.problems(arguments, schema: tool.parameters)
        if !problems.isEmpty {
            return .result("the arguments of '\(call.name)' do not fit its parameters: " + problems.joined(separator: "; "), isError: true)
        }
        switch tool.action {
        case .finish:
            return .finished(arguments)
        case .askHuman(let settings):
            return try await askHuman(step, journalID: journalID, arguments: arguments, settings: settings, record: record)
        case .step(let definition):
            if let record, let replayed = Self.replayedResult(record, definition: definition) { return replayed }
            var toolStep = definition
            toolStep.id = journalID
            var toolScope = scope
            toolScope.args = arguments
            let outcome: StepOutcome
            let payload = StepTaskPayload(step: step.id, index: nil, scope: toolScope, firstAttempt: firstAttempt,
                                          cacheNamespace: cacheNamespace, deadline: deadline, tool: (call.name, call.id))
            if Executor(configuration).spreads(toolStep, runner: self), let spreading,
               Executor.taskStep(payload, in: spreading.root) != nil {
                // A call any worker may make (it opens the call's span where it runs); only for an agent
                // that is a step of the run's own workflow (not a for_each item), where a helper finds the tool.
                outcome = try await allowingFailure(toolStep, try await runAsStepTask(toolStep, payload: payload))
            } else {
                outcome = try await RunTelemetry.withStepSpan(toolStep, role: .tool(name: call.name, callID: call.id)) {
                    try await run(toolStep, scope: toolScope, firstAttempt: firstAttempt)
                }
            }
            switch outcome {
            case .completed(let output), .skipped(let output): return .result(Self.toolContent(output, definition: definition), isError: false)
            case .failed(let message): return .result("the tool failed: \(message)", isError: true)
            case .rejected(let message): return .result(Self.rejectionContent(message), isError: true)
            case .refused(let message): return .refused("tool call \(journalID) \(message)")
            case .waiting(let requestID): return .waiting(requestID)
            }
        }
    }

    /// The result of a call that ended before a crash or pause, as it was given to the model.
    static func replayedResult(_ record: StepRecord, definition: StepDefinition) -> ToolOutcome? {
        switch record.status {
        case .completed: return .result(toolContent(record.output ?? .null, definition: definition), isError: false)
        case .failed: return .result("the tool failed: \(record.error ?? "unknown error")", isError: true)
        case .rejected: return .result(rejectionContent(record.error ?? "rejected"), isError: true)
        default: return nil
        }
    }

    static func rejectionContent(_ message: String) -> String {
        "the call was not run: it was \(message). Do not call it again the same way; go on without it or try another approach"
    }

    /// `ask_human`: an approval request whose message is the question; the decision and the
    /// person's comment are the answer.
    func askHuman(_ step: StepDefinition, journalID: String, arguments: JSONValue, settings: ApprovalSettings,
                  record: StepRecord?) async throws -> ToolOutcome {
        if let record, record.status == .completed, let output = record.output { return .result(Self.humanAnswer(output), isError: false) }
        if let record, record.status == .failed { return .result(record.error ?? "nobody answered", isError: true) }
        let question = arguments["question"]?.stringValue ?? arguments.encoded()
        let request = ApprovalRecord(id: ApprovalRecord.makeID(), runID: runID, stepID: journalID,
                                     message: "Agent '\(step.id)' asks: \(question)\n(approve with --comment \"your answer\", or reject with --reason)",
                                     details: ["type": "ask_human", "agent": .string(step.id), "question": .string(question)],
                                     settings: settings, requestedAt: configuration.now())
        let decided: ApprovalRecord
        switch try await gate.decide(request, stepType: .approval) {
        case .waiting(let pending): return .waiting(pending.id)
        case .approved(let record), .rejected(let record): decided = record
        case .expired(let record):
            let message = "nobody answered before the deadline (request \(record.id))"
            try await configuration.store.recordStep(StepRecord(runID: runID, stepID: journalID, type: .approval, status: .failed,
                                                  output: record.output, error: message, startedAt: record.requestedAt, finishedAt: configuration.now()),
                                       event: EventRecord(runID: runID, stepID: journalID, kind: .stepFailed, data: ["error": .string(message)],
                                                          at: configuration.now()))
            return .result(message, isError: true)
        }
        let now = configuration.now()
        try await configuration.store.recordStep(StepRecord(runID: runID, stepID: journalID, type: .approval, status: .completed,
                                              output: decided.output, startedAt: decided.requestedAt, finishedAt: now),
                                   event: EventRecord(runID: runID, stepID: journalID, kind: .stepCompleted,
                                                      data: ["decision": .string(decided.status.rawValue)], at: now))
        return .result(Self.humanAnswer(decided.output), isError: false)
    }

    static func humanAnswer(_ decision: JSONValue) -> String {
        JSONValue.object(["approved": decision["approved"] ?? false, "answer": decision["comment"] ?? .null,
                          "by": decision["by"] ?? .null]).encoded()
    }

    /// What a tool's output tells the model: an http call's extracted fields (with the status),
    /// else its body; any other step's output as text (JSON when it is not a string). Cut to
    /// ``AgentStepDefinition/maxResultCharacters``.
    static func toolContent(_ output: JSONValue, definition: StepDefinition) -> String {
        var text: String
        if case .http(let http) = definition.kind {
            if http.extract.isEmpty {
                text = output["body"]?.stringValue ?? output.encoded()
            } else {
                var fields: [String: JSONValue] = ["status": output["status"] ?? .null]
                for extraction in http.extract { fields[extraction.name] = output[extraction.name] ?? .null }
                text = JSONValue.object(fields).encoded()
            }
        } else if case .sandbox = definition.kind {
            // What the program printed, and how it ended when it did not end well; not the timings,
            // which differ run to run (a replayed conversation must be the same bytes).
            text = output["stdout"]?.stringValue ?? ""
            if output["ok"]?.boolValue != true {
                var ending = "exit code \(output["exit_code"]?.interpolated ?? "none")"
                if let reason = output["killed_reason"]?.stringValue { ending += ", killed: \(reason)" }
                text += "\n[\(ending)]\n" + (output["stderr"]?.stringValue ?? "")
            }
            let files = output["files"]?.objectValue ?? [:]
            for name in files.keys.sorted() { text += "\n[file \(name)]\n" + (files[name]?.stringValue ?? "(not collected)") }
        } else if case .mcp = definition.kind {
            // What the tool returned; a tool's own failure is marked so the model sees it.
            text = output["content"]?.stringValue ?? ""
            if output["is_error"]?.boolValue == true { text = "[the tool reported an error]\n" + text }
        } else if case .llm = definition.kind {
            text = output["text"]?.stringValue ?? output.encoded()
        } else {
            text = output.stringValue ?? output.encoded()
        }
        let limit = AgentStepDefinition.maxResultCharacters
        if text.count > limit {
            text = String(text.prefix(limit)) + "\n[cut: \(text.count - limit) more characters]"
        }
        return text
    }

    // MARK: the end

    /// Journals how the loop ended. `status` nil means a turn failed: the step fails.
    func endAgent(_ step: StepDefinition, _ agent: AgentStepDefinition, _ loop: AgentLoopState, status: AgentStatus?,
                  started: Date, message: String?) async throws -> StepOutcome {
        let now = configuration.now()
        let output = loop.output(status: status ?? .failed, agent: agent)
        let model = agent.models[loop.modelIndex]
        switch status {
        case .completed?:
            try await configuration.store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .agent, status: .completed,
                                                  output: output, model: model, startedAt: started, finishedAt: now),
                                       event: EventRecord(runID: runID, stepID: step.id, kind: .stepCompleted,
                                                          data: ["turns": .int(loop.turns), "tool_calls": .int(loop.toolCalls),
                                                                 "cost_usd": .string(loop.cost.description)], at: now))
            configuration.observer.observe(.stepCompleted(stepID: step.id, cost: loop.cost, usage: loop.usage, seconds: now.timeIntervalSince(started)))
            return .completed(output)
        case .budgetExceeded?:
            let text = "\(message ?? "no turn fits the budget") (after \(loop.turns) turn\(loop.turns == 1 ? "" : "s"); the best answer so far is kept in the step's output)"
            try await configuration.store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .agent, status: .budgetExceeded,
                                                  output: output, error: text, model: model, startedAt: started, finishedAt: now),
                                       event: EventRecord(runID: runID, stepID: step.id, kind: .stepRefused,
                                                          data: ["error": .string(text), "turns": .int(loop.turns)], at: now))
            configuration.observer.observe(.stepRefused(stepID: step.id, message: text))
            return .refused(text)
        case .maxTurns?, .maxToolCalls?, .failed?, nil:
            let text = message ?? "the agent stopped"
            try await configuration.store.recordStep(StepRecord(runID: runID, stepID: step.id, type: .agent, status: .failed,
                                                  output: output, error: text, model: model, startedAt: started, finishedAt: now),
                                       event: EventRecord(runID: runID, stepID: step.id, kind: .stepFailed,
                                                          data: ["error": .string(text), "turns": .int(loop.turns)], at: now))
            configuration.observer.observe(.stepFailed(stepID: step.id, error: text))
            return .failed(text)
        }
    }
}

/// One model turn of an agent, as journaled in the output of its step `AGENT/TURN`.
struct AgentTurn: Sendable, Hashable {
    var number: Int
    /// The model asked (a name of the pricing table).
    var model: String
    var text: String
    var toolCalls: [LLMToolCall]
    var finishReason: String
    var usage: TokenUsage
    var cost: Money
    /// The model the provider says answered.
    var responseModel: String

    var json: JSONValue {
        [
            "turn": .int(number), "model": .string(model), "response_model": .string(responseModel), "text": .string(text),
            "finish_reason": .string(finishReason), "usage": usage.json, "cost_usd": .string(cost.description),
            "tool_calls": .array(toolCalls.map { ["id": .string($0.id), "name": .string($0.name), "arguments": .string($0.arguments)] }),
        ]
    }

    init(number: Int, model: String, text: String, toolCalls: [LLMToolCall], finishReason: String, usage: TokenUsage, cost: Money,
         responseModel: String) {
        self.number = number
        self.model = model
        self.text = text
        self.toolCalls = toolCalls
        self.finishReason = finishReason
        self.usage = usage
        self.cost = cost
        self.responseModel = responseModel
    }

    /// A turn read back from the journal; nil when the output is not one.
    init?(json: JSONValue) {
        guard let number = json["turn"]?.intValue, let model = json["model"]?.stringValue, let text = json["text"]?.stringValue,
              let calls = json["tool_calls"]?.arrayValue, let usage = json["usage"].flatMap(TokenUsage.init(json:)),
              let cost = json["cost_usd"]?.stringValue.flatMap({ Money(string: $0) }) else { return nil }
        self.number = number
        self.model = model
        self.text = text
        self.toolCalls = calls.compactMap { call in
            guard let id = call["id"]?.stringValue, let name = call["name"]?.stringValue, let arguments = call["arguments"]?.stringValue else { return nil }
            return LLMToolCall(id: id, name: name, arguments: arguments)
        }
        self.finishReason = json["finish_reason"]?.stringValue ?? ""
        self.usage = usage
        self.cost = cost
        self.responseModel = json["response_model"]?.stringValue ?? model
    }
}

/// The loop's state: the conversation, counters, and what the journal already holds.
struct AgentLoopState: Sendable {
    var messages: [LLMMessage] = []
    var turns = 0
    var toolCalls = 0
    var limitHit = false
    /// Index into the agent's models (the step's model, then its fallbacks) of the current one.
    var modelIndex = 0
    /// Model switches so far: `{turn, from, to}`.
    var fallbacks: [JSONValue] = []
    /// The model of the last turn (the step's model before the first).
    var lastModel: String
    var bestText = ""
    var result: JSONValue?
    var cost = Money.zero
    var usage = TokenUsage.zero
    var lastFinishReason = ""
    /// Committed turns by number (from the journal when resuming).
    let recordedTurns: [Int: AgentTurn]
    /// Journaled tool-call steps by id.
    let recordedTools: [String: StepRecord]
    /// The next attempt number of each turn or tool-call step that has attempts.
    let nextAttempt: [String: Int]

    /// A loop with nothing to replay (the run started in this process).
    init(agent: AgentStepDefinition) {
        recordedTurns = [:]
        recordedTools = [:]
        nextAttempt = [:]
        lastModel = agent.model
    }

    init(replaying journal: RunJournal, agentID: String, agent: AgentStepDefinition) {
        let prefix = agentID + "/"
        var turns: [Int: AgentTurn] = [:]
        var tools: [String: StepRecord] = [:]
        for record in journal.steps where record.stepID.hasPrefix(prefix) {
            if AgentJournalID.toolName(of: record.stepID, agent: agentID) != nil {
                tools[record.stepID] = record
            } else if record.status == .completed, let output = record.output, let turn = AgentTurn(json: output) {
                turns[turn.number] = turn
            }
        }
        var next: [String: Int] = [:]
        for attempt in journal.attempts where attempt.stepID.hasPrefix(prefix) {
            next[attempt.stepID] = max(next[attempt.stepID] ?? 1, attempt.number + 1)
        }
        recordedTurns = turns
        recordedTools = tools
        nextAttempt = next
        lastModel = agent.model
    }

    /// Adds a turn (fresh or replayed) to the conversation and the totals.
    mutating func record(_ turn: AgentTurn, models: [String]) {
        if turn.model != lastModel {
            fallbacks.append(["turn": .int(turn.number), "from": .string(lastModel), "to": .string(turn.model)])
            lastModel = turn.model
        }
        if let index = models.firstIndex(of: turn.model) { modelIndex = index }
        turns = turn.number
        messages.append(LLMMessage(role: "assistant", content: turn.text, toolCalls: turn.toolCalls))
        if !turn.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { bestText = turn.text }
        cost += turn.cost
        usage = usage + turn.usage
        lastFinishReason = turn.finishReason
    }

    func output(status: AgentStatus, agent: AgentStepDefinition) -> JSONValue {
        [
            "text": .string(bestText), "result": result ?? .null, "status": .string(status.rawValue),
            "turns": .int(turns), "tool_calls": .int(toolCalls), "model": .string(agent.models[modelIndex]),
            "fallbacks": .array(fallbacks), "cost_usd": .string(cost.description), "usage": usage.json,
            "finish_reason": .string(lastFinishReason),
        ]
    }
}
