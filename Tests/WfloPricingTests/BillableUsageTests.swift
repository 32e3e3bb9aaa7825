import Foundation
import Testing
import WfloCore
@testable import WfloPricing

/// Issue 25: every billable part of a response is charged, and reserved beforehand.
@Suite struct BillableUsageTests {
    @Test func anthropicWebSearchesAreChargedAtTheTablesPerQueryFee() throws {
        // 2,700 prompt and 1,000 completion tokens are $0.0231; two searches at $0.01 make $0.0431.
        let usage = TokenUsage(inputTokens: 2700, outputTokens: 1000, webSearchRequests: 2)
        let cost = try shippedTable.cost(model: "claude-sonnet-4-5", usage: usage)
        #expect(cost.total == money("0.0431"))
        #expect(cost.fees == money("0.02"))
        #expect(cost.unpriced.isEmpty)
        #expect(try shippedTable.cost(model: "claude-sonnet-4-5", usage: TokenUsage(inputTokens: 2700, outputTokens: 1000)).total == money("0.0231"))
    }

    @Test func searchFeeFollowsTheContextSizeAndTheProvidersDefault() throws {
        let usage = TokenUsage(inputTokens: 100, outputTokens: 100, webSearchRequests: 1)
        let tokens = money("0.0002")  // 200 tokens at $1/M
        // Perplexity bills `low` unless the request asks for more (as Perplexity and LiteLLM do).
        #expect(try shippedTable.cost(model: "perplexity/sonar", usage: usage).total == tokens + money("0.005"))
        #expect(try shippedTable.cost(model: "perplexity/sonar", usage: usage, searchContextSize: "high").total == tokens + money("0.012"))
    }

    @Test func perRequestFeeIsChargedOnEveryCall() throws {
        let cost = try shippedTable.cost(model: "perplexity/pplx-7b-online", usage: TokenUsage(inputTokens: 10, outputTokens: 100))
        #expect(cost.fees == money("0.005"))
        #expect(cost.total == money("0.005") + money("2.8e-07") * 100)
    }

    @Test func audioTokensAreChargedAtTheirOwnRates() throws {
        // 1,000 prompt tokens of which 400 audio; 500 completion tokens of which 200 audio.
        let usage = TokenUsage(inputTokens: 1000, outputTokens: 500, audioInputTokens: 400, audioOutputTokens: 200)
        let cost = try shippedTable.cost(model: "gpt-4o-audio-preview-2024-12-17", usage: usage)
        let expected = money("2.5e-06") * 600 + money("4e-05") * 400 + money("1e-05") * 300 + money("8e-05") * 200
        #expect(cost.total == expected)
        #expect(cost.media == money("4e-05") * 400 + money("8e-05") * 200)
    }

    @Test func imageTokensWithoutTheirOwnRateAreBilledAsTextTokensLikeLiteLLM() throws {
        let usage = TokenUsage(inputTokens: 1000, outputTokens: 100, imageInputTokens: 300)
        #expect(try shippedTable.cost(model: "gpt-3.5-turbo", usage: usage).total
                == (try shippedTable.cost(model: "gpt-3.5-turbo", usage: TokenUsage(inputTokens: 1000, outputTokens: 100)).total))
    }

    @Test func searchesTheTableCannotPriceAreListedNeverChargedAsZeroSilently() throws {
        let cost = try shippedTable.cost(model: "gpt-3.5-turbo", usage: TokenUsage(inputTokens: 100, outputTokens: 100, webSearchRequests: 3))
        #expect(cost.unpriced == ["web_search_requests"])
        #expect(cost.fees == .zero)
    }

    @Test func worstCaseReservesTheHighestSearchFeeTimesMaxUses() throws {
        var shape = RequestShape(bodyBytes: 200, messageCount: 1, maxTokens: 1000)
        let plain = try shippedTable.worstCase(model: "claude-sonnet-4-5", request: shape)
        shape.webSearchMaxUses = 2
        let searching = try shippedTable.worstCase(model: "claude-sonnet-4-5", request: shape)
        #expect(searching.cost - plain.cost == money("0.02"))
        #expect(searching.fees == money("0.02"))
        // The bound holds for the usage the issue measured.
        let usage = TokenUsage(inputTokens: min(2700, searching.inputTokens), outputTokens: 1000, webSearchRequests: 2)
        #expect(try shippedTable.cost(model: "claude-sonnet-4-5", usage: usage).total <= searching.cost)
    }

    @Test func worstCaseReservesThePerRequestFeeAndTheSearchOfAModelThatAlwaysSearches() throws {
        let shape = RequestShape(bodyBytes: 50, messageCount: 1, maxTokens: 100)
        #expect(try shippedTable.worstCase(model: "perplexity/pplx-7b-online", request: shape).fees == money("0.005"))
        // Perplexity's sonar searches on every call: the highest context-size fee is held.
        #expect(try shippedTable.worstCase(model: "perplexity/sonar", request: shape).fees == money("0.012"))
    }

    @Test func worstCaseRefusesASearchTheTableCannotPrice() throws {
        var shape = RequestShape(bodyBytes: 50, messageCount: 1, maxTokens: 100)
        shape.webSearchMaxUses = 1
        let error = try #require(throws: PricingError.self) { try shippedTable.worstCase(model: "gpt-3.5-turbo", request: shape) }
        #expect(error.code == .unpricedUsage)
        #expect(error.message.contains("search_context_cost_per_query"))
    }

    // Issue 22.4: prices are finite, non-negative and bounded, in every layer.
    @Test(arguments: ["-1e-06", "1e128", "1e126", "2000", "1e400"])
    func refusesAPriceThatIsNegativeHugeOrNotANumber(_ price: String) throws {
        let error = try #require(throws: PricingError.self) {
            try table(#"{"m": {"input_cost_per_token": \#(price), "output_cost_per_token": 1e-06}}"#, source: "pricing.json")
        }
        #expect(error.code == .malformedEntry)
        #expect(error.message.contains("pricing.json"))
        #expect(error.message.contains("input_cost_per_token"))
    }

    @Test func refusesANegativeSearchFee() throws {
        let error = try #require(throws: PricingError.self) {
            try table(#"{"m": {"input_cost_per_token": 1e-06, "search_context_cost_per_query": {"search_context_size_low": -5}}}"#)
        }
        #expect(error.message.contains("search_context_cost_per_query.search_context_size_low"))
    }

    @Test func everyShippedPriceIsWithinTheBound() throws {
        // Loading the shipped table applies the rule to each of its prices; this proves none is refused.
        #expect(shippedTable.count > 4000)
    }
}
