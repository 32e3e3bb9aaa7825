import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloTesting

/// Spreading a run's parallel branches (issue 16) in one process, on a real SQLite journal and the
/// loopback provider: the driver (``ExecutorConfiguration/stepTasks``) and a helper that claims any
/// run's step tasks (``Executor/executeStepTask(_:definition:)``) as a `--spread-steps` worker does.
@Suite(.timeLimit(.minutes(2)))
struct BranchSpreadTests {
    static let driver = RunOwner(pid: 1, host: "driver-host", token: "driver")
    static let helper = RunOwner(pid: 2, host: "helper-host", token: "helper")

    /// Runs `yaml` driven with spreading (`width` of its tasks at once here) while `helpers` loops
    /// claim step tasks of any run until the run ends.
    static func runSpread(_ harness: Harness, _ yaml: String, width: Int, helpers: Int) async throws -> RunResult {
        try await runSpread(harness.executor().configuration, yaml, inputs: .object([:]), width: width, helpers: helpers)
    }

    static func runSpread(_ configuration: ExecutorConfiguration, _ yaml: String, inputs: JSONValue, width: Int,
                          helpers: Int) async throws -> RunResult {
        let definition = try WorkflowParser().parse(yaml: yaml, file: "branches.yaml")
        var driving = configuration
        driving.stepTasks = StepTaskSettings(lease: 10, owner: driver, width: width)
        var helping = configuration
        helping.approvals = .noWait
        helping.stepTasks = StepTaskSettings(lease: 10, owner: helper)
        let store = configuration.store
        let loops = (0..<helpers).map { _ in
            Task { [helping] in
                while !Task.isCancelled {
                    if let lease = try await store.claimStepTask(runID: nil, owner: helper, lease: 10) {
                        _ = try await Executor(helping).executeStepTask(lease, definition: definition)
                    } else {
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
            }
        }
        defer { for loop in loops { loop.cancel() } }
        return try await Executor(driving).start(definition: definition, source: yaml, path: "branches.yaml", inputs: inputs,
                                                 budget: definition.budget)
    }

    @Test
    func parallelBranchesRunOnceEachOnBothExecutorsAndTheDependentStepSeesEveryOutput() async throws {
        try await Harness.with { harness in
            harness.server.on(promptContaining: "Say", .delay(.milliseconds(200)))
            let result = try await Self.runSpread(harness, TestWorkflows.parallelBranches(8), width: 2, helpers: 3)
            #expect(result.status == .completed, "\(result.error ?? "")")

            // Every branch sent once.
            let prompts = harness.server.requests().compactMap(\.lastUserMessage)
            #expect(prompts.sorted() == (0..<8).map { "Say b\($0)" })
            // Each branch was a step task, done, and both the driver and the helper ran some.
            let tasks = try await harness.store.stepTasks(runID: result.runID, ids: nil)
            #expect(Set(tasks.map(\.stepID)) == Set((0..<8).map { "b\($0)" }))
            #expect(tasks.allSatisfy { $0.status == .done })
            let ranBy = Dictionary(grouping: tasks, by: { $0.owner?.token ?? "" }).mapValues(\.count)
            #expect(Set(ranBy.keys) == ["driver", "helper"], "branches per owner: \(ranBy)")
            #expect((ranBy["driver"] ?? 0) <= 8 && (ranBy["driver"] ?? 0) >= 1)

            // The final step read every branch's output from the journal.
            let journal = try await harness.store.journal(runID: result.runID)
            let final = try #require(journal.steps.first { $0.stepID == "final" }?.output?.stringValue)
            #expect(final == (0..<8).map { "Echo: Say b\($0)" }.joined(separator: " | "))
            #expect(journal.attempts.count == 8 && journal.attempts.allSatisfy { $0.status == .succeeded })
            #expect(journal.ledger.settled == Money(string: "0.08") && journal.ledger.reserved == .zero)
        }
    }

    @Test
    func aBudgetForFiveOfTwelveBranchesSendsExactlyFiveWhoeverRunsThem() async throws {
        try await Harness.with { harness in
            harness.server.on(promptContaining: "Say", .delay(.milliseconds(100)))
            let result = try await Self.runSpread(harness, TestWorkflows.parallelBranches(12, budget: "0.055"), width: 2, helpers: 4)
            #expect(result.status == .budgetExceeded)
            #expect(harness.server.requestCount == 5)
            let journal = try await harness.store.journal(runID: result.runID)
            #expect(journal.attempts.count == 5)
            #expect(journal.ledger.settled == Money(string: "0.05") && journal.ledger.reserved == .zero)
            #expect(journal.ledger.committed <= Money(string: "0.055")!)
            #expect(!journal.steps.contains { $0.stepID == "final" && $0.status == .completed })
        }
    }

    @Test
    func aFailingBranchWithAllowFailureIsCompletedByTheDriverAndTheRunGoesOn() async throws {
        try await Harness.with { harness in
            harness.server.on(promptContaining: "Say b1", .error(status: 400, body: "{\"error\": {\"message\": \"bad request\"}}"))
            let yaml = """
                name: branches
                budget: 5
                pricing:
                  flat-fee-model: {input_cost_per_token: 0, output_cost_per_token: 0, input_cost_per_request: 0.01, litellm_provider: openai}
                steps:
                  - id: b0
                    type: llm
                    model: flat-fee-model
                    prompt: "Say b0"
                    max_tokens: 5
                  - id: b1
                    type: llm
                    model: flat-fee-model
                    prompt: "Say b1"
                    max_tokens: 5
                    allow_failure: true
                  - id: final
                    type: transform
                    depends_on: [b0, b1]
                    output: "{{steps.b0.output.text}} / {{steps.b1.output.error}}"
                """
            let result = try await Self.runSpread(harness, yaml, width: 1, helpers: 1)
            #expect(result.status == .completed, "\(result.error ?? "")")
            let journal = try await harness.store.journal(runID: result.runID)
            let b1 = try #require(journal.steps.first { $0.stepID == "b1" })
            #expect(b1.status == .completed && b1.output?["failed"] == true)
            #expect(try await harness.store.stepTasks(runID: result.runID, ids: nil).count == 2)
            let final = try #require(journal.steps.first { $0.stepID == "final" }?.output?.stringValue)
            #expect(final.hasPrefix("Echo: Say b0 / "))
        }
    }

    @Test
    func aCancelWhileTheDriverAndAHelperHoldBranchesEndsEveryTaskAndChargesBothCallsAtTheirReservation() async throws {
        try await Harness.with { harness in
            // Never answered: however slow the machine, both calls are in flight when the cancel comes
            // (a 3 s answer came first once under the whole suite's load, and was settled).
            harness.server.on(promptContaining: "Say", .hang)
            let running = Task { try await Self.runSpread(harness, TestWorkflows.parallelBranches(2), width: 1, helpers: 1) }
            await harness.server.waitForRequests(2)
            let runID = try #require(try await harness.store.listRuns(limit: 1).first?.id)
            let cancelled = try await harness.executor().cancel(runID: runID, by: "tester", reason: "enough")
            #expect(cancelled.status == .cancelled)
            #expect(try await running.value.status == .cancelled)
            let tasks = try await harness.store.stepTasks(runID: runID, ids: nil)
            #expect(tasks.map(\.status) == [.cancelled, .cancelled], "\(tasks.map { ($0.stepID, $0.owner?.token, $0.status) })")
            let journal = try await harness.store.journal(runID: runID)
            #expect(journal.attempts.map(\.status) == [.unsettled, .unsettled])
            #expect(try await harness.store.claimStepTask(runID: nil, owner: Self.helper, lease: 10) == nil)
        }
    }

    @Test
    func aResumeWithoutSpreadingCancelsTheTasksAnEarlierDriverLeftSoNoHelperRunsThemToo() async throws {
        try await Harness.with { harness in
            let yaml = """
                name: gated
                budget: 5
                pricing:
                  flat-fee-model: {input_cost_per_token: 0, output_cost_per_token: 0, input_cost_per_request: 0.01, litellm_provider: openai}
                steps:
                  - id: ask
                    type: approval
                    message: "Go?"
                  - id: b0
                    type: llm
                    depends_on: [ask]
                    model: flat-fee-model
                    prompt: "Say b0"
                    max_tokens: 5
                """
            let definition = try WorkflowParser().parse(yaml: yaml, file: "gated.yaml")
            let first = try await harness.executor(approvals: .noWait).start(definition: definition, source: yaml, path: "gated.yaml",
                                                                             inputs: .object([:]), budget: definition.budget)
            #expect(first.status == .waitingApproval)
            // A spreading driver that died after enqueueing b0 left its task queued.
            let payload: JSONValue = ["step": "b0", "first_attempt": 1, "cache_namespace": "gated", "inputs": [:], "steps": [:]]
            let ids = try await harness.store.enqueueStepTasks([StepTaskRequest(runID: first.runID, stepID: "b0", payload: payload, at: Date())])
            let request = try #require(try await harness.store.approvals(runID: first.runID, status: .pending).first)
            _ = try await harness.store.decideApproval(ApprovalDecision(requestID: request.id, verdict: .approve, by: "alice", comment: nil, at: Date()))

            // Resumed by a driver that does not spread: it runs b0 itself, and the left task can never be claimed.
            let resumed = try await harness.executor().resume(runID: first.runID, definition: definition)
            #expect(resumed.status == .completed, "\(resumed.error ?? "")")
            #expect(harness.server.requests().compactMap(\.lastUserMessage) == ["Say b0"])
            #expect(try await harness.store.stepTasks(runID: first.runID, ids: ids).map(\.status) == [.cancelled])
            #expect(try await harness.store.claimStepTask(runID: nil, owner: Self.helper, lease: 10) == nil)
        }
    }

    @Test
    func anAgentsParallelToolCallsAreStepTasksAnyExecutorRunsAndEachResultGoesBackToTheModel() async throws {
        try await AgentHarness.with { h in
            let yaml = """
                name: agent-spread
                budget: 1
                inputs:
                  base: {type: string}
                egress:
                  allow: ["127.0.0.1"]
                steps:
                  - id: researcher
                    type: agent
                    model: test-gpt
                    task: "Fetch four pages."
                    max_turns: 3
                    max_tokens: 200
                    tools:
                      - name: slow_fetch
                        description: "Fetch a page slowly"
                        parameters: {type: object, properties: {page: {type: string}}, required: [page]}
                        type: http
                        url: "{{inputs.base}}/delay/0.3?page={{args.page}}"
                outputs:
                  answer: "{{steps.researcher.output.text}}"
                """
            h.llmServer.enqueue(.toolCalls((0..<4).map { FakeToolCall(name: "slow_fetch", arguments: ["page": .string("p\($0)")]) }),
                                .reply(text: "All four fetched."))
            let result = try await Self.runSpread(h.executor(approvals: .noWait).configuration, yaml,
                                                  inputs: ["base": .string(h.service.baseURL)], width: 1, helpers: 3)
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["answer"] == "All four fetched.")

            // Each call made once, as a step task; the driver and the helper both made some.
            let pages = h.service.requests().filter { $0.path.hasPrefix("/delay") }.map(\.uri)
            #expect(pages.sorted() == (0..<4).map { "/delay/0.3?page=p\($0)" })
            let tasks = try await h.store.stepTasks(runID: result.runID, ids: nil)
            #expect(Set(tasks.map(\.stepID)) == ["researcher/1/slow_fetch", "researcher/1/slow_fetch#2", "researcher/1/slow_fetch#3",
                                                 "researcher/1/slow_fetch#4"])
            #expect(tasks.allSatisfy { $0.status == .done })
            #expect(Set(tasks.compactMap(\.owner?.token)) == ["driver", "helper"], "\(tasks.map { ($0.stepID, $0.owner?.token ?? "") })")
            // Every result went back to the model, each under its call's id.
            let results = try #require(h.llmServer.requests().last?.toolResults)
            #expect(results.map(\.callID) == (1...4).map { "call_1_\($0)" })
            for (index, result) in results.enumerated() { #expect(result.content.contains("page=p\(index)"), "\(result.content)") }
            #expect(try await h.output(result.runID)?.output?["tool_calls"] == 4)
        }
    }
}
