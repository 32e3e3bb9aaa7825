import Foundation
import Testing
import WfloCore
import WfloDSL
@testable import WfloEngine
import WfloProviders
import WfloStore

/// Every paid or side-effecting call goes through one attempt driver: these are the rules the
/// four copies it replaced had drifted on.
@Suite(.timeLimit(.minutes(1)))
struct AttemptDriverTests {
    /// A sub-workflow's `budget:` holds every attempt under it, sandbox steps included: once its
    /// llm step has spent past it (the provider reported more than was reserved), the sandbox
    /// step that follows is refused before its program starts.
    @Test func aSandboxStepInsideASubWorkflowIsRefusedByTheSubBudget() async throws {
        try await Harness.with { h in
            let child = """
                name: child
                steps:
                  - {id: ask, type: llm, model: test-gpt, prompt: "Ask", max_tokens: 100}
                  - id: compute
                    type: sandbox
                    depends_on: [ask]
                    language: python
                    code: |
                      print("ran")
                """
            let parent = """
                name: parent
                budget: 0.50
                steps:
                  - id: sub
                    type: workflow
                    workflow: child.yaml
                    budget: 0.001
                """
            // 60,000 output tokens for max_tokens 100: $0.12001 settled under a sub-budget of $0.001.
            h.server.enqueue(.reply(promptTokens: 10, completionTokens: 60000))
            let result = try await ControlFlowTests().runFiles(h, parent: parent, child: child)
            #expect(result.status == .budgetExceeded)
            let journal = try await h.store.journal(runID: result.runID)
            let compute = try #require(journal.steps.first { $0.stepID == "sub/compute" })
            #expect(compute.status == .budgetExceeded)
            #expect(compute.error?.contains("does not fit the budget $0.001000 of workflow step 'sub'") == true, "\(compute.error ?? "")")
            #expect(journal.attempts.map(\.stepID) == ["sub/ask"])
        }
    }

    /// A cancellation that lands while a failed call waits for its retry (the back-off here
    /// returns without throwing) starts no further attempt — for an llm step and an agent turn
    /// alike: no reservation, no request.
    @Test(arguments: ["llm", "agent"])
    func noAttemptStartsAfterCancellation(kind: String) async throws {
        try await Harness.with { h in
            let yaml = kind == "llm"
                ? "name: w\nsteps:\n  - {id: ask, type: llm, model: test-gpt, prompt: \"Hi\", max_tokens: 20}\n"
                : """
                name: w
                steps:
                  - id: ask
                    type: agent
                    model: test-gpt
                    task: "Say hi."
                    max_turns: 2
                    max_tokens: 20
                    tools:
                      - name: ask_human
                """
            h.server.enqueue(.error(status: 503), .reply(text: "hi"))
            let configuration = ExecutorConfiguration(store: h.store, pricing: testPricing, llm: h.llm, observer: h.observer,
                                                      sleep: { _ in withUnsafeCurrentTask { $0?.cancel() } }, random: { 0.5 })
            let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
            let runID = Executor.makeRunID()
            // The run's task ends with the cancellation: what matters is what it did before.
            _ = try? await Executor(configuration).start(definition: definition, source: yaml, path: "test.yaml", inputs: [:],
                                                         budget: Money(string: "1"), runID: runID)
            #expect(h.server.requestCount == 1)
            let journal = try await h.store.journal(runID: runID)
            #expect(journal.attempts.count == 1, "\(journal.attempts.map { "\($0.stepID)#\($0.number)" })")
        }
    }
}
