import Foundation
import Testing
import WfloCore
@testable import WfloDSL

/// Issue 22.4 (a `pricing:` block cannot switch the budget off) and issue 25's `web_search:`.
struct PricingPricesAndWebSearchTests {
    static func workflow(price: String) -> String {
        """
        name: w
        pricing:
          my-model:
            input_cost_per_token: 1e-06
            output_cost_per_token: \(price)
            litellm_provider: openai
        steps:
          - {id: a, type: llm, model: my-model, prompt: hi, max_tokens: 10}
        """
    }

    @Test(arguments: ["-1e-06", "1e128", "1e126", "1e125", "5000", ".inf", "nan", "\"-3\""])
    func refusesAPriceThatIsNegativeUnboundedOrNotANumberAtItsLine(price: String) throws {
        let found = diagnostics(PricingPricesAndWebSearchTests.workflow(price: price))
        let problem = try #require(found.first)
        #expect(problem.location.file == "w.yaml")
        #expect(problem.location.line == 5)
        #expect(problem.message.contains("my-model"))
        #expect(problem.message.contains("output_cost_per_token"))
    }

    @Test func acceptsOrdinaryPricesAndNestedSearchFees() {
        #expect(diagnostics(PricingPricesAndWebSearchTests.workflow(price: "2e-06")).isEmpty)
        let nested = PricingPricesAndWebSearchTests.workflow(price: "2e-06").replacingOccurrences(
            of: "    litellm_provider: openai", with: "    litellm_provider: openai\n    search_context_cost_per_query: {search_context_size_low: -1}")
        let problem = diagnostics(nested).first
        #expect(problem?.location.line == 7)
        #expect(problem?.message.contains("search_context_cost_per_query.search_context_size_low") == true)
    }

    @Test func webSearchNeedsMaxUsesBecauseItBoundsTheCost() throws {
        let yaml = """
        name: w
        steps:
          - id: a
            type: llm
            model: m
            prompt: hi
            max_tokens: 10
            web_search: {context_size: high}
        """
        let problem = try #require(diagnostics(yaml).first)
        #expect(problem.location.line == 8)
        #expect(problem.message.contains("max_uses"))
        let ok = yaml.replacingOccurrences(of: "{context_size: high}", with: "{max_uses: 3, context_size: high}")
        let definition = try WorkflowParser().parse(yaml: ok, file: "w.yaml")
        guard case .llm(let llm) = definition.steps.first?.kind else {
            Issue.record("not an llm step")
            return
        }
        #expect(llm.webSearch == WebSearchSettings(maxUses: 3, contextSize: "high"))
    }
}
