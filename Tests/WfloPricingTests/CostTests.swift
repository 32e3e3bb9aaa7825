import Testing
import WfloCore
@testable import WfloPricing

@Suite struct CostTests {
    @Test func pricesGpt4oMiniPlainUsageExactly() throws {
        let cost = try shippedTable.cost(model: "gpt-4o-mini", usage: TokenUsage(inputTokens: 1000, outputTokens: 500))
        #expect(cost.total == money("0.00045"))
        #expect(cost.total.description == "0.00045")
        #expect(cost.input == money("0.00015"))
        #expect(cost.output == money("0.0003"))
    }

    /// Anthropic-style usage: reads and both cache-write lifetimes, all part of `inputTokens`.
    @Test func billsCacheReadsAndFiveMinuteAndOneHourWritesAtTheirOwnRates() throws {
        let usage = TokenUsage(inputTokens: 10_000, cachedInputTokens: 4000, cacheWriteTokens: 1000,
                               cacheWrite1hTokens: 2000, outputTokens: 100)
        let cost = try shippedTable.cost(model: "claude-sonnet-4-5", usage: usage)
        // 3000 plain × 3e-06 + 4000 × 3e-07 + 1000 × 3.75e-06 + 2000 × 6e-06 + 100 × 1.5e-05
        #expect(cost.input == money("0.009"))
        #expect(cost.cachedInput == money("0.0012"))
        #expect(cost.cacheWrite == money("0.01575"))
        #expect(cost.output == money("0.0015"))
        #expect(cost.total == money("0.02745"))
    }

    @Test(arguments: [
        // (cache_read field, expected cost of 1000 cached of 1000 input tokens)
        (#""cache_read_input_token_cost": 5e-07,"#, "0.0005"),
        (#""cache_read_input_token_cost": 0,"#, "0"),        // an explicit 0 is a real price
        (#""cache_read_input_token_cost": null,"#, "0.002"),  // null is absent: the input rate
        ("", "0.002"),                                          // absent: the input rate, as LiteLLM does
    ])
    func cacheReadFallsBackToTheInputRateOnlyWhenAbsent(field: String, expected: String) throws {
        let t = try table(#"{"m": {\#(field) "input_cost_per_token": 2e-06, "output_cost_per_token": 1e-05, "litellm_provider": "openai"}}"#)
        let cost = try t.cost(model: "m", usage: TokenUsage(inputTokens: 1000, cachedInputTokens: 1000))
        #expect(cost.total == money(expected))
    }

    @Test func cacheWriteFallsBackToTheInputRateAndOneHourToTheFiveMinuteRate() throws {
        let t = try table(#"{"plain": {"input_cost_per_token": 2e-06, "output_cost_per_token": 0, "litellm_provider": "x"},"#
                          + #""five": {"input_cost_per_token": 2e-06, "cache_creation_input_token_cost": 3e-06, "litellm_provider": "x"}}"#)
        let usage = TokenUsage(inputTokens: 300, cacheWriteTokens: 100, cacheWrite1hTokens: 200)
        #expect(try t.cost(model: "plain", usage: usage).total == money("0.0006"))
        #expect(try t.cost(model: "five", usage: usage).total == money("0.0009"))
    }

    @Test func fireworksCachedTokensCostHalfTheInputRateWithoutACacheReadPrice() throws {
        let t = try table(#"{"fw": {"input_cost_per_token": 9e-07, "output_cost_per_token": 9e-07, "litellm_provider": "fireworks_ai"}}"#)
        let cost = try t.cost(model: "fw", usage: TokenUsage(inputTokens: 1000, cachedInputTokens: 1000))
        #expect(cost.cachedInput == money("0.00045"))
    }

    @Test func reasoningTokensAreBilledAtTheReasoningRateAndTheRestAtTheOutputRate() throws {
        let t = try table(#"{"r": {"input_cost_per_token": 1e-06, "output_cost_per_token": 4e-06, "output_cost_per_reasoning_token": 3.5e-06, "litellm_provider": "x"},"#
                          + #""o": {"input_cost_per_token": 1e-06, "output_cost_per_token": 4e-06, "litellm_provider": "x"}}"#)
        let usage = TokenUsage(inputTokens: 0, outputTokens: 1000, reasoningTokens: 600)
        let withRate = try t.cost(model: "r", usage: usage)
        #expect(withRate.output == money("0.0016"))
        #expect(withRate.reasoning == money("0.0021"))
        #expect(try t.cost(model: "o", usage: usage).total == money("0.004"))
    }

    static let longContext = #"""
        {"lc": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-07,
                "input_cost_per_token_above_200k_tokens": 2.5e-06, "output_cost_per_token_above_200k_tokens": 1.5e-05,
                "cache_read_input_token_cost_above_200k_tokens": 2.5e-07, "input_cost_per_token_above_200k_tokens_priority": 9,
                "litellm_provider": "gemini"},
         "grok": {"input_cost_per_token": 2e-06, "output_cost_per_token": 6e-06,
                  "input_cost_per_token_above_128k_tokens": 4e-06, "output_cost_per_token_above_128k_tokens": 1.2e-05,
                  "litellm_provider": "xai"}}
        """#

    @Test(arguments: [
        ("lc", 200_000, "0.26"),        // at the threshold: base rates (200000 × 1.25e-06 + 1000 × 1e-05)
        ("lc", 200_001, "0.5150025"),    // above it: the whole request repriced (200001 × 2.5e-06 + 1000 × 1.5e-05)
        ("grok", 127_999, "0.261998"),   // xAI: below the threshold
        ("grok", 128_000, "0.524"),      // xAI bills the long-context rate from the threshold on
    ])
    func longContextRatesRepriceTheWholeRequestAboveTheThreshold(model: String, input: Int, expected: String) throws {
        let t = try table(Self.longContext)
        #expect(try t.cost(model: model, usage: TokenUsage(inputTokens: input, outputTokens: 1000)).total == money(expected))
    }

    @Test func serviceTierAndBatchRatesAreNotStandardThresholds() throws {
        let price = try table(Self.longContext).price(for: "lc")
        #expect(price.thresholds.map(\.tokens) == [200_000])
    }

    static let tiered = #"""
        {"qwen": {"litellm_provider": "dashscope", "output_cost_per_token": 9,
                  "tiered_pricing": [{"input_cost_per_token": 5e-08, "output_cost_per_token": 4e-07, "range": [0, 256000.0]},
                                     {"input_cost_per_token": 2.5e-07, "output_cost_per_token": 2e-06, "range": [256000.0, 1000000.0]}]}}
        """#

    @Test(arguments: [
        (256_000, "0.0128004"),   // 256000 × 5e-08 + 1 × 4e-07: a request of exactly the range end stays in the lower tier
        (256_001, "0.06400225"),  // 256001 × 2.5e-07 + 1 × 2e-06
        (2_000_000, "0.500002"),  // above every range: the last tier
    ])
    func tieredPricingBillsTheWholeRequestAtOneTier(input: Int, expected: String) throws {
        let t = try table(Self.tiered)
        #expect(try t.cost(model: "qwen", usage: TokenUsage(inputTokens: input, outputTokens: 1)).total == money(expected))
    }

    @Test func aModelWithoutPerTokenPricesIsRefusedNotPricedAtZero() throws {
        let t = try table(#"{"img": {"output_cost_per_image": 0.04, "litellm_provider": "openai", "mode": "image_generation"}}"#)
        #expect(throws: PricingError.self) { try t.cost(model: "img", usage: TokenUsage(inputTokens: 10)) }
        do {
            _ = try t.cost(model: "img", usage: TokenUsage(inputTokens: 10))
        } catch let error as PricingError {
            #expect(error.code == .notPricedPerToken)
            #expect(error.message.contains("img"))
            #expect(error.message.contains("--pricing"))
        }
    }

    @Test func negativeTokenCountsAreRefused() throws {
        #expect(throws: PricingError.self) { try shippedTable.cost(model: "gpt-4o", usage: TokenUsage(inputTokens: -1)) }
    }
}
