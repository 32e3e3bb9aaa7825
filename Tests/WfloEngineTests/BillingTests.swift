import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloPricing
import WfloTesting

/// The shipped pricing table (the LiteLLM file under `pricing/`), for calls priced as users' are.
let shippedPricing: PricingTable = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let path = root.appendingPathComponent("pricing").appendingPathComponent(PricingTable.shippedFileName).path
    do { return try PricingTable.read(path: path) } catch { fatalError("cannot load the shipped table: \(error)") }
}()

/// Issue 25 (every billable part of a response charged and reserved) and issue 22.7 (usage above
/// the reservation), through the real executor, a real journal and the loopback fake provider.
@Suite(.timeLimit(.minutes(2))) struct BillingTests {
    func run(_ h: Harness, _ yaml: String, pricing: PricingTable, budget: Money? = nil) async throws -> RunResult {
        let definition = try WorkflowParser().parse(yaml: yaml, file: "test.yaml")
        let inputs = try InputBinder.bind(definition, arguments: [], file: nil)
        return try await h.executor(pricing: pricing).start(definition: definition, source: yaml, path: "test.yaml", inputs: inputs,
                                                            budget: budget ?? definition.budget)
    }

    @Test func anthropicWebSearchesAreReservedBeforeTheCallAndChargedExactly() async throws {
        try await Harness.with { h in
            // A prompt long enough that the 2,700 prompt tokens reported are within the bound its bytes give.
            let prompt = "Find this week's battery news. " + String(repeating: "context ", count: 350)
            let yaml = """
            name: search
            steps:
              - id: find
                type: llm
                model: claude-sonnet-4-5
                prompt: "\(prompt)"
                max_tokens: 1000
                web_search: {max_uses: 2}
            """
            h.server.enqueue(.reply(promptTokens: 2700, completionTokens: 1000, billable: FakeBillableUsage(webSearchRequests: 2)))
            let result = try await run(h, yaml, pricing: shippedPricing)
            #expect(result.status == .completed)
            let journal = try await h.store.journal(runID: result.runID)
            let attempt = try #require(journal.attempts.first)
            #expect(attempt.cost == Money(string: "0.0431"))
            #expect(attempt.fees == Money(string: "0.02"))
            #expect(attempt.usage?.webSearchRequests == 2)
            #expect(attempt.flags.isEmpty)
            // Held beforehand: the two searches at the highest fee on top of the tokens' worst case.
            #expect(attempt.reserved >= Money(string: "0.0431")!)
            let sent = try #require(h.server.requests().first?.json)
            let tool = try #require(sent["tools"]?.arrayValue?.first)
            #expect(tool["name"] == "web_search")
            #expect(tool["max_uses"] == 2)
            var shape = RequestShape(bodyBytes: sent.encoded(sorted: true).utf8.count, messageCount: 1, maxTokens: 1000)
            let withoutSearch = try shippedPricing.worstCase(model: "claude-sonnet-4-5", request: shape).cost
            shape.webSearchMaxUses = 2
            #expect(attempt.reserved == (try shippedPricing.worstCase(model: "claude-sonnet-4-5", request: shape).cost))
            #expect(attempt.reserved - withoutSearch == Money(string: "0.02"))
        }
    }

    @Test func aPerRequestFeeModelCannotPassItsBudgetWhenCalledUntilRefused() async throws {
        try await Harness.with { h in
            // Ten calls in a row to a model that costs $0.005 a request and almost nothing per token.
            var yaml = "name: fees\nsteps:\n"
            for i in 0..<10 {
                yaml += "  - id: s\(i)\n    type: llm\n    model: perplexity/pplx-7b-online\n    provider: openai\n"
                yaml += "    base_url: \(h.server.baseURLOpenAI)\n    prompt: \"Question \(i)\"\n    max_tokens: 50\n"
                if i > 0 { yaml += "    depends_on: [s\(i - 1)]\n" }
            }
            let budget = Money(string: "0.02")!
            let result = try await run(h, yaml, pricing: shippedPricing, budget: budget)
            #expect(result.status == .budgetExceeded)
            #expect(result.ledger.committed <= budget)
            // $0.005 + tokens each: three fit, the fourth would pass $0.02 and is refused unsent.
            #expect(h.server.requestCount == 3)
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.attempts.count == 3)
            for attempt in journal.attempts {
                #expect(attempt.fees == Money(string: "0.005"))
                #expect(attempt.reserved >= attempt.cost!)
            }
        }
    }

    @Test func unpricedBillableUsageStopsTheRunBeforeItsNextPaidCall() async throws {
        try await Harness.with { h in
            // gpt-3.5-turbo has no search price: a provider that reports searches anyway cannot be priced.
            let yaml = """
            name: unpriced
            steps:
              - {id: first, type: llm, model: gpt-3.5-turbo, prompt: "One", max_tokens: 50}
              - {id: second, type: llm, model: gpt-3.5-turbo, prompt: "Two", max_tokens: 50, depends_on: [first]}
            """
            h.server.enqueue(.reply(promptTokens: 100, completionTokens: 10, billable: FakeBillableUsage(webSearchRequests: 3)))
            let result = try await run(h, yaml, pricing: shippedPricing)
            #expect(h.server.requestCount == 1)
            #expect(result.status == .budgetExceeded)
            #expect(result.error?.contains("web_search_requests") == true)
            let journal = try await h.store.journal(runID: result.runID)
            let first = try #require(journal.attempts.first)
            #expect(first.flags == ["unpriced_usage:web_search_requests"])
            // Charged what is known: the tokens.
            #expect(first.cost == Money(string: "5e-07")! * 100 + Money(string: "1.5e-06")! * 10)
            #expect(journal.steps.first { $0.stepID == "second" }?.status == .budgetExceeded)
            #expect(journal.ledger.stopReason?.contains("web_search_requests") == true)
        }
    }

    @Test func usageAboveTheReservationIsChargedMarkedAndEndsTheRunOutOfBudget() async throws {
        try await Harness.with { h in
            let yaml = """
            name: over
            steps:
              - {id: first, type: llm, model: test-gpt, prompt: "One", max_tokens: 100}
              - {id: second, type: llm, model: test-gpt, prompt: "Two", max_tokens: 1, depends_on: [first]}
            """
            // The provider reports 60,000 output tokens for max_tokens 100.
            h.server.enqueue(.reply(promptTokens: 10, completionTokens: 60000))
            let budget = Money(string: "0.001")!
            let result = try await h.run(yaml, budget: budget)
            #expect(result.status == .budgetExceeded)
            #expect(h.server.requestCount == 1)
            let journal = try await h.store.journal(runID: result.runID)
            let first = try #require(journal.attempts.first)
            #expect(first.cost == Money(string: "0.12001"))
            #expect(first.flags == [AttemptFlag.usageExceededReservation])
            #expect(journal.steps.first { $0.stepID == "second" }?.status == .budgetExceeded)
            let alert = try #require(journal.events.first { $0.kind == .budgetAlert && $0.data["percent"] == 100 })
            #expect(alert.data["over_budget"] == true)
            #expect(alert.data["flag"] == .string(AttemptFlag.usageExceededReservation))
        }
    }

    @Test func aLastStepAboveItsReservationStillEndsTheRunOutOfBudget() async throws {
        try await Harness.with { h in
            let yaml = "name: over\nsteps:\n  - {id: only, type: llm, model: test-gpt, prompt: \"One\", max_tokens: 100}\n"
            h.server.enqueue(.reply(promptTokens: 10, completionTokens: 60000))
            let result = try await h.run(yaml, budget: Money(string: "0.001")!)
            #expect(result.status == .budgetExceeded)
            #expect(result.error?.contains(AttemptFlag.usageExceededReservation) == true)
            #expect(result.status.exitCode == 3)
            #expect(result.ledger.settled == Money(string: "0.12001"))
        }
    }
}
