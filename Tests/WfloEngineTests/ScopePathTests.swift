import Foundation
import Testing
import WfloCore
import WfloEngine

/// Issue 17, "paths that skip the check" (LiteLLM's test console and passthrough endpoints): every
/// paid call of a run — an llm step, each for_each item — reserves through the same
/// `beginAttempt` that charges the budget scopes, so a scope's window holds exactly what the run
/// spent, and a scope with no room stops every paid call before any traffic while free steps run.
struct ScopePathTests {
    static let workflow = """
        name: paths
        inputs:
          topics: {type: array, default: [a, b, c]}
        steps:
          - id: outline
            type: llm
            model: test-gpt
            prompt: "Outline the topic"
            max_tokens: 50
          - id: items
            type: llm
            for_each: {items: "{{inputs.topics}}", item_var: topic, max_parallel: 2}
            model: test-gpt
            prompt: "Write about {{for_each.topic}}"
            max_tokens: 50
          - id: shape
            type: transform
            output: {n: 1}
        """

    @Test func everyPaidCallOfARunIsChargedToTheMatchingScopes() async throws {
        try await Harness.with { h in
            try await h.store.setBudgetScope(BudgetScope(name: "all", limit: Money(10), period: .day, createdAt: Date()))
            let result = try await h.run(Self.workflow, budget: Money(1))
            #expect(result.status == .completed)
            #expect(h.server.requestCount == 4)
            let window = try #require(try await h.store.budgetScopes(at: Date()).first?.window)
            #expect(window.spent == result.ledger.settled && window.reserved == .zero && !window.spent.isZero)
        }
    }

    @Test func aScopeWithNoRoomStopsEveryPaidCallBeforeAnyTraffic() async throws {
        try await Harness.with { h in
            try await h.store.setBudgetScope(BudgetScope(name: "none-left", limit: .zero, createdAt: Date()))
            let result = try await h.run(Self.workflow, budget: Money(1))
            #expect(result.status == .budgetExceeded)
            #expect(h.server.requestCount == 0)
            #expect(result.error?.contains("budget scope 'none-left'") == true, "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.attempts.isEmpty)
        }
    }
}
