import Foundation
import WfloCore

/// The per-token rates that apply to one request, chosen the way LiteLLM chooses them
/// (`generic_cost_per_token` / `_get_token_base_cost`, without service tiers or off-peak windows).
public struct TokenRates: Sendable, Hashable {
    public var input: Money
    public var output: Money
    /// Cache reads; LiteLLM falls back to the input rate when the table has none.
    public var cacheRead: Money
    /// 5-minute cache writes; falls back to the input rate.
    public var cacheWrite: Money
    /// 1-hour cache writes; falls back to the 5-minute write rate.
    public var cacheWrite1h: Money
    /// Reasoning tokens; falls back to the output rate.
    public var reasoning: Money

    /// The rates for a request whose prompt has `promptTokens` tokens (all of them, cached included).
    ///
    /// - A `tiered_pricing` list picks one tier by the prompt size (start < tokens ≤ end, else the
    ///   last tier) and bills every token of the request at it.
    /// - Otherwise `*_above_{N}_tokens` rates replace the base rates, for the whole request,
    ///   when the prompt is above N (at or above N for xAI, as LiteLLM does).
    /// An explicit 0 is a real price; only a missing rate falls back.
    public init(price: ModelPrice, promptTokens: Int) {
        let raw = price.raw
        if promptTokens > 0, let tier = TokenRates.tier(price: price, promptTokens: promptTokens),
           let tierInput = ModelPrice.money(tier["input_cost_per_token"]) {
            input = tierInput
            output = ModelPrice.money(tier["output_cost_per_token"]) ?? price.outputCostPerToken ?? .zero
            cacheRead = ModelPrice.money(tier["cache_read_input_token_cost"]) ?? tierInput
            cacheWrite = ModelPrice.money(tier["cache_creation_input_token_cost"]) ?? tierInput
            cacheWrite1h = price.rate("cache_creation_input_token_cost_above_1hr") ?? cacheWrite
            reasoning = ModelPrice.money(tier["output_cost_per_reasoning_token"]) ?? ModelPrice.money(tier["output_cost_per_token"])
                ?? price.reasoningCostPerToken ?? output
            return
        }
        var input = price.inputCostPerToken ?? .zero
        var output = price.outputCostPerToken ?? .zero
        if output.isZero, let image = price.rate("output_cost_per_image_token") { output = image }
        var cacheWrite = price.cacheWriteCostPerToken
        var cacheRead = price.cacheReadCostPerToken
        var write1hKey = "cache_creation_input_token_cost_above_1hr"
        let inclusive = price.provider == "xai"
        for threshold in price.thresholds {
            let crossed = promptTokens > threshold.tokens || (inclusive && promptTokens == threshold.tokens)
            guard crossed else { continue }
            let suffix = "_above_\(threshold.text)_tokens"
            input = price.rate("input_cost_per_token" + suffix) ?? input
            output = price.rate("output_cost_per_token" + suffix) ?? output
            cacheWrite = price.rate("cache_creation_input_token_cost" + suffix) ?? cacheWrite
            cacheRead = price.rate("cache_read_input_token_cost" + suffix) ?? cacheRead
            if raw["cache_creation_input_token_cost_above_1hr" + suffix] != nil {
                write1hKey = "cache_creation_input_token_cost_above_1hr" + suffix
            }
        }
        self.input = input
        self.output = output
        self.cacheRead = cacheRead ?? input
        self.cacheWrite = cacheWrite ?? input
        self.cacheWrite1h = price.rate(write1hKey) ?? self.cacheWrite
        self.reasoning = price.reasoningCostPerToken ?? output
    }

    /// LiteLLM's `select_tier_for_input`.
    static func tier(price: ModelPrice, promptTokens: Int) -> [String: JSONValue]? {
        guard let tiers = price.raw["tiered_pricing"]?.arrayValue, !tiers.isEmpty else { return nil }
        let ranged: [(start: Decimal, end: Decimal, tier: [String: JSONValue])] = tiers.compactMap { item in
            guard let tier = item.objectValue, let range = tier["range"]?.arrayValue, range.count == 2,
                  let start = range[0].decimalValue, let end = range[1].decimalValue else { return nil }
            return (start, end, tier)
        }.sorted { $0.start < $1.start }
        guard !ranged.isEmpty else { return nil }
        let tokens = Decimal(promptTokens)
        return ranged.first { $0.start < tokens && tokens <= $0.end }?.tier ?? ranged.last!.tier
    }

    /// Prompt sizes at which the rates can change: 1, each threshold + 1, each tier start + 1.
    static func breakpoints(price: ModelPrice) -> [Int] {
        var points = [1]
        points += price.thresholds.flatMap { [$0.tokens, $0.tokens + 1] }
        for item in price.raw["tiered_pricing"]?.arrayValue ?? [] {
            if let range = item["range"]?.arrayValue, range.count == 2 {
                for bound in range { if let v = bound.intValue ?? bound.doubleValue.map({ Int($0.rounded(.down)) }) { points.append(v + 1) } }
            }
        }
        return Array(Set(points.filter { $0 > 0 })).sorted()
    }
}
