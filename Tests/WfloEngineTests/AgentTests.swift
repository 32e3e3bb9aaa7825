import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloHTTP
import WfloPricing
import WfloProviders
import WfloReports
import WfloStore
import WfloTesting

/// The loopback LLM server scripted with tool calls, the loopback HTTP service the tools call,
/// real HTTP clients for both, a real SQLite journal and the executor.
struct AgentHarness {
    let llmServer: FakeLLMServer
    let service: FakeHTTPService
    let transport: AsyncHTTPTransport
    let web: AsyncHTTPStepTransport
    let store: SQLiteJournalStore
    let directory: URL
    let observer = RecordingObserver()

    static func with<T>(_ body: (AgentHarness) async throws -> T) async throws -> T {
        let llmServer = try await FakeLLMServer.start()
        let service = try await FakeHTTPService.start()
        return try await withHarness(folder: "wflo-agent", make: { directory in
            AgentHarness(llmServer: llmServer, service: service, transport: AsyncHTTPTransport(), web: AsyncHTTPStepTransport(),
                         store: try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path), directory: directory)
        }, close: { await $0.close() }, body)
    }

    func close() async {
        try? await transport.shutdown()
        try? await web.shutdown()
        await llmServer.shutdown()
        await service.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    func executor(approvals: ApprovalWaitMode) -> Executor {
        let endpoints = ProviderEndpoints(openAIBaseURL: llmServer.baseURLOpenAI, openAIKey: "test-key",
                                          anthropicBaseURL: llmServer.baseURLAnthropic, anthropicKey: "test-key")
        var configuration = ExecutorConfiguration(store: store, pricing: testPricing, llm: LLMClient(transport: transport, endpoints: endpoints),
                                                  observer: observer, sleep: { _ in }, random: { 0.5 }, approvals: approvals)
        configuration.http = web
        return Executor(configuration)
    }

    func run(_ yaml: String, budget: Money? = Money(string: "1"), approvals: ApprovalWaitMode = .wait(pollInterval: 0.02)) async throws -> RunResult {
        let definition = try WorkflowParser().parse(yaml: yaml, file: "agent.yaml")
        let inputs = try InputBinder.bind(definition, arguments: ["base=\(service.baseURL)"], file: nil)
        return try await executor(approvals: approvals).start(definition: definition, source: yaml, path: "agent.yaml", inputs: inputs,
                                                               budget: budget)
    }

    func resume(_ runID: String, _ yaml: String, approvals: ApprovalWaitMode = .wait(pollInterval: 0.02)) async throws -> RunResult {
        let definition = try WorkflowParser().parse(yaml: yaml, file: "agent.yaml")
        return try await executor(approvals: approvals).resume(runID: runID, definition: definition)
    }

    func output(_ runID: String, _ stepID: String = "researcher") async throws -> StepRecord? {
        try await store.journal(runID: runID).steps.first { $0.stepID == stepID }
    }

    /// Requests that reached the tool service's page route.
    var pageRequests: [FakeHTTPService.Request] { service.requests().filter { $0.path.hasPrefix("/anything/page") } }
}

/// A workflow with one agent on `model` (and `extra` lines added to the agent step).
func agentWorkflow(model: String, extra: String = "", maxTurns: Int = 6, maxTokens: Int = 200) -> String {
    """
    name: agent
    inputs:
      base: {type: string}
    egress:
      allow: ["127.0.0.1"]
    pricing:
      test-gpt-cheap: {litellm_provider: openai, mode: chat, input_cost_per_token: 1e-07, output_cost_per_token: 2e-07}
      test-claude-cheap: {litellm_provider: anthropic, mode: chat, input_cost_per_token: 3e-07, output_cost_per_token: 1.5e-06}
    steps:
      - id: researcher
        type: agent
        model: \(model)
        system: "You are a careful researcher."
        task: "Find the population of Paris and double it."
        max_turns: \(maxTurns)
        max_tokens: \(maxTokens)
    \(extra)
        tools:
          - name: fetch_page
            description: "Fetch a page of the city wiki"
            parameters: {type: object, properties: {path: {type: string}}, required: [path]}
            type: http
            url: "{{inputs.base}}/anything/page/{{args.path}}"
          - name: publish
            description: "Publish the answer"
            parameters: {type: object, properties: {text: {type: string}}, required: [text]}
            type: http
            method: POST
            url: "{{inputs.base}}/anything/publish"
            json: {text: "{{args.text}}"}
            approval: required
          - name: ask_human
    outputs:
      answer: "{{steps.researcher.output.text}}"
    """
}

/// Serialized: each case starts two loopback servers and two HTTP clients; run all at once on two
/// cores they starve the other suites' timing-sensitive tests.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AgentTests {
    static let formats = ["test-gpt", "test-claude"]

    @Test(arguments: formats)
    func loopsThroughToolCallsToAFinalAnswerWithGrowingReservations(model: String) async throws {
        try await AgentHarness.with { h in
            h.llmServer.enqueue(.call("fetch_page", ["path": "Paris"]),
                                .reply(text: "Paris has 2,102,650 people; doubled: 4,205,300."))
            let result = try await h.run(agentWorkflow(model: model))
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["answer"] == "Paris has 2,102,650 people; doubled: 4,205,300.")

            // The tool ran once, with the argument the model gave.
            #expect(h.pageRequests.map(\.path) == ["/anything/page/Paris"])
            // The second turn carried the call and its result in the provider's native format.
            let requests = h.llmServer.requests()
            #expect(requests.count == 2)
            #expect(requests[0].offeredTools == ["fetch_page", "publish", "ask_human", "finish"])
            let results = requests[1].toolResults
            #expect(results.count == 1)
            #expect(results.first?.callID == (model == "test-gpt" ? "call_1_1" : "toolu_1_1"))
            #expect(results.first?.content.contains("/anything/page/Paris") == true, "the page's body went back to the model")

            let journal = try await h.store.journal(runID: result.runID)
            let turns = journal.attempts.filter { $0.stepID.hasPrefix("researcher/") && !$0.stepID.dropFirst(11).contains("/") }
            #expect(turns.map(\.stepID) == ["researcher/1", "researcher/2"])
            // The reservation is recomputed from the grown conversation.
            #expect(turns[1].reserved > turns[0].reserved)
            #expect(journal.steps.first { $0.stepID == "researcher/1/fetch_page" }?.status == .completed)
            let output = try #require(try await h.output(result.runID)?.output)
            #expect(output["turns"] == 2)
            #expect(output["tool_calls"] == 1)
            #expect(output["status"] == "completed")
            let turnCost = turns.compactMap(\.cost).sum()
            #expect(output["cost_usd"]?.stringValue == turnCost.description)

            // The report nests turns and calls under the agent; its cost is the sum of its turns.
            let report = RunReport(journal: journal, plannedSteps: [("researcher", "agent")])
            #expect(report.steps.map(\.id) == ["researcher"])
            let line = try #require(report.steps.first)
            #expect(line.cost == turnCost)
            #expect(line.cost == report.spent)
            let agent = try #require(line.agent)
            #expect(agent.turns.map(\.cost) == turns.compactMap(\.cost))
            #expect(agent.turns[1].usage.inputTokens > agent.turns[0].usage.inputTokens, "tokens grow with the context")
            #expect(agent.turns[0].toolCalls.map(\.id) == ["researcher/1/fetch_page"])
            #expect(agent.tools.map(\.tool) == ["fetch_page"])
            let json = report.json
            #expect(json["steps"]?[0]?["agent"]?["turns"]?.arrayValue?.count == 2)
            #expect(json["steps"]?[0]?["cost_usd"]?.stringValue == turnCost.exact())
        }
    }

    @Test(arguments: formats)
    func runsParallelToolCallsAndAnswersEachByItsID(model: String) async throws {
        try await AgentHarness.with { h in
            h.llmServer.enqueue(.toolCalls([FakeToolCall(name: "fetch_page", arguments: ["path": "Paris"]),
                                            FakeToolCall(name: "fetch_page", arguments: ["path": "Lyon"])],
                                           text: "Looking up both."),
                                .reply(text: "Both found."))
            let result = try await h.run(agentWorkflow(model: model))
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(Set(h.pageRequests.map(\.path)) == ["/anything/page/Paris", "/anything/page/Lyon"])
            let results = try #require(h.llmServer.requests().last?.toolResults)
            let prefix = model == "test-gpt" ? "call_1_" : "toolu_1_"
            #expect(results.map(\.callID) == [prefix + "1", prefix + "2"])
            #expect(results[0].content.contains("/page/Paris") && results[1].content.contains("/page/Lyon"))
            let ids = try await h.store.journal(runID: result.runID).steps.map(\.stepID)
            #expect(ids.contains("researcher/1/fetch_page") && ids.contains("researcher/1/fetch_page#2"))
            #expect(try await h.output(result.runID)?.output?["tool_calls"] == 2)
        }
    }

    /// A gated tool: the run pauses (no waiting in this process), a person rejects, and the
    /// resumed run gives the rejection to the model as a tool error without repeating turn 1.
    @Test(arguments: formats)
    func feedsARejectedToolCallBackToTheModel(model: String) async throws {
        try await AgentHarness.with { h in
            let yaml = agentWorkflow(model: model)
            h.llmServer.enqueue(.call("publish", ["text": "4,205,300"]), .reply(text: "Not published; the answer is 4,205,300."))
            let paused = try await h.run(yaml, approvals: .noWait)
            #expect(paused.status == .waitingApproval)
            let request = try #require(try await h.store.approvals(runID: paused.runID, status: .pending).first)
            #expect(request.stepID == "researcher/1/publish")
            _ = try await h.store.decideApproval(ApprovalDecision(requestID: request.id, verdict: .reject, by: "alice",
                                                                  comment: "not before review", at: Date()))

            let result = try await h.resume(paused.runID, yaml, approvals: .noWait)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(h.service.requests().filter { $0.method == "POST" }.isEmpty, "the rejected call never ran")
            let requests = h.llmServer.requests()
            #expect(requests.count == 2, "turn 1 came from the journal, not the model")
            let feedback = try #require(requests.last?.toolResults.first)
            #expect(feedback.content.contains("rejected by alice: not before review"))
            if model == "test-claude" { #expect(feedback.isError) }
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.steps.first { $0.stepID == "researcher/1/publish" }?.status == .rejected)
        }
    }

    /// The budget fits turn 1 exactly; turn 2's worst case (a longer conversation) does not.
    @Test(arguments: formats)
    func stopsBudgetExceededMidLoopKeepingTheLastAnswer(model: String) async throws {
        try await AgentHarness.with { h in
            let yaml = agentWorkflow(model: model)
            h.llmServer.enqueue(.call("fetch_page", ["path": "Paris"]), .reply(text: "done"))
            let reference = try await h.run(yaml)
            let firstTurn = try #require(try await h.store.journal(runID: reference.runID).attempts.first { $0.stepID == "researcher/1" })
            let budget = firstTurn.reserved

            h.llmServer.enqueue(.toolCalls([FakeToolCall(name: "fetch_page", arguments: ["path": "Paris"])], text: "Draft: about 4.2 million."))
            let before = h.llmServer.requestCount
            let result = try await h.run(yaml, budget: budget)
            #expect(result.status == .budgetExceeded)
            #expect(result.ledger.committed <= budget)
            #expect(h.llmServer.requestCount == before + 1, "turn 2 was refused before any traffic")
            let record = try #require(try await h.output(result.runID))
            #expect(record.status == .budgetExceeded)
            #expect(record.output?["text"] == "Draft: about 4.2 million.")
            #expect(record.output?["status"] == "budget_exceeded")
            #expect(record.error?.contains("refused before turn 2") == true)
            #expect(result.error?.contains("best answer so far") == true)
        }
    }

    /// The run's budget fits turn 1 on the primary model; turn 2 only fits the cheaper fallback.
    @Test(arguments: formats)
    func fallsBackToACheaperModelWhenTheNextTurnDoesNotFit(model: String) async throws {
        try await AgentHarness.with { h in
            let cheap = model + "-cheap"
            let yaml = agentWorkflow(model: model, extra: "    fallback_models: [\(cheap)]")
            h.llmServer.enqueue(.call("fetch_page", ["path": "Paris"]), .reply(text: "done"))
            let reference = try await h.run(yaml)
            let budget = try #require(try await h.store.journal(runID: reference.runID).attempts.first { $0.stepID == "researcher/1" }).reserved

            h.llmServer.enqueue(.call("fetch_page", ["path": "Paris"]), .reply(text: "4,205,300"))
            let before = h.llmServer.requestCount
            let result = try await h.run(yaml, budget: budget)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.ledger.committed <= budget)
            let models = h.llmServer.requests().dropFirst(before).map(\.model)
            #expect(models == [model, cheap])
            let journal = try await h.store.journal(runID: result.runID)
            let fallback = try #require(journal.events.first { $0.kind == .agentModelFallback })
            #expect(fallback.data["from"]?.stringValue == model && fallback.data["to"]?.stringValue == cheap)
            #expect(fallback.data["turn"] == 2)
            // And the person watching is told, as it happens.
            #expect(h.observer.all.contains { if case .agentFallback(_, 2, model, cheap, _) = $0 { return true } else { return false } })
            let output = try #require(try await h.output(result.runID)?.output)
            #expect(output["model"]?.stringValue == cheap)
            #expect(output["fallbacks"]?[0]?["to"]?.stringValue == cheap)
            let report = RunReport(journal: journal, plannedSteps: [("researcher", "agent")])
            #expect(report.steps.first?.agent?.fallbacks.map(\.to) == [cheap])
            #expect(report.steps.first?.agent?.turns.map(\.model) == [model, cheap])
        }
    }

    @Test(arguments: formats)
    func endsAtMaxTurnsWithAClearStatusAndDoesNotRunTheLastCalls(model: String) async throws {
        try await AgentHarness.with { h in
            h.llmServer.enqueue(.call("fetch_page", ["path": "a"]), .toolCalls([FakeToolCall(name: "fetch_page", arguments: ["path": "b"])],
                                                                               text: "Still looking."))
            let result = try await h.run(agentWorkflow(model: model, maxTurns: 2))
            #expect(result.status == .failed)
            #expect(result.error?.contains("max_turns (2)") == true)
            #expect(h.llmServer.requestCount == 2)
            #expect(h.pageRequests.map(\.path) == ["/anything/page/a"], "the last turn's calls did not run")
            let record = try #require(try await h.output(result.runID))
            #expect(record.output?["status"] == "max_turns")
            #expect(record.output?["text"] == "Still looking.")
        }
    }

    @Test func takesAStructuredAnswerFromFinishAndFeedsBadArgumentsBack() async throws {
        try await AgentHarness.with { h in
            h.llmServer.enqueue(.call("fetch_page", [:]), .call("finish", ["answer": "4,205,300"]))
            let result = try await h.run(agentWorkflow(model: "test-gpt"))
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(h.pageRequests.isEmpty, "a call missing a required argument does not run")
            let feedback = try #require(h.llmServer.requests().last?.toolResults.first)
            #expect(feedback.content.contains("arguments lacks the required 'path'"))
            let output = try #require(try await h.output(result.runID)?.output)
            #expect(output["text"] == "4,205,300")
            #expect(output["result"] == ["answer": "4,205,300"])
        }
    }

    @Test func asksAHumanAndGivesTheAnswerToTheModel() async throws {
        try await AgentHarness.with { h in
            let yaml = agentWorkflow(model: "test-claude")
            h.llmServer.enqueue(.call("ask_human", ["question": "Which year?"]), .reply(text: "Using 2021."))
            let paused = try await h.run(yaml, approvals: .noWait)
            #expect(paused.status == .waitingApproval)
            let request = try #require(try await h.store.approvals(runID: paused.runID, status: .pending).first)
            #expect(request.message.contains("Which year?"))
            _ = try await h.store.decideApproval(ApprovalDecision(requestID: request.id, verdict: .approve, by: "bob",
                                                                  comment: "use 2021", at: Date()))
            let result = try await h.resume(paused.runID, yaml, approvals: .noWait)
            #expect(result.status == .completed, "\(result.error ?? "")")
            let answer = try #require(h.llmServer.requests().last?.toolResults.first?.content)
            #expect(answer.contains("\"answer\":\"use 2021\"") && answer.contains("\"approved\":true"))
        }
    }

    @Test func cancellationStopsTheLoopPromptly() async throws {
        try await AgentHarness.with { h in
            h.llmServer.enqueue(.call("fetch_page", ["path": "a"]), .hang)
            let task = Task { try await h.run(agentWorkflow(model: "test-gpt")) }
            await h.llmServer.waitForRequests(2)
            let clock = ContinuousClock()
            let start = clock.now
            task.cancel()
            _ = await task.result
            // Without cancellation the hung call would last the 120 s default LLM timeout.
            #expect(clock.now - start < .seconds(30))
            #expect(h.llmServer.requestCount == 2)
        }
    }
}
