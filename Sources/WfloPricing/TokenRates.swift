import Foundation
import WfloCore

/// The per-token rates that apply to one request, chosen the way LiteLLM 1.109 chooses them
/// (`generic_cost_per_token` → `_get_token_base_cost`, for standard calls: no service tier, no
/// batch, no regional uplift, no off-peak window; see `pricing/README.md`).
public struct TokenRates: Sendable, Hashable {
    /// Prompt tokens neither read from nor written to the cache.
    public var input: Money
    /// Completion tokens other than reasoning.
    public var output: Money
    /// Cache reads. Without a `cache_read_input_token_cost` LiteLLM bills them at the input rate
    /// (Fireworks AI: half the input rate).
    public var cacheRead: Money
    /// 5-minute cache writes; without a `cache_creation_input_token_cost`, the input rate.
    public var cacheWrite: Money
    /// 1-hour cache writes (`cache_creation_input_token_cost_above_1hr`); else the 5-minute write rate.
    public var cacheWrite1h: Money
    /// Reasoning tokens (`output_cost_per_reasoning_token`); else the output rate.
    public var reasoning: Money

    /// Fireworks AI bills cache reads at half the input rate when the table names no cache-read
    /// rate (LiteLLM's `FIREWORKS_AI_DEFAULT_CACHE_READ_RATE_RATIO`).
    static let fireworksCacheReadRatio = Decimal(string: "0.5")!

    /// The rates for a request whose prompt has `promptTokens` tokens (all of them, cached included).
    ///
    /// - A `tiered_pricing` list picks one tier by the prompt size (start < tokens ≤ end, else the
    ///   last tier) and bills every token of the request at it; rates the tier lacks fall back to
    ///   the tier's input rate (the model's output rate for output).
    /// - Otherwise each `*_above_{N}_tokens` rate replaces its base rate, for the whole request,
    ///   when the prompt is above N (at or above N for xAI), thresholds taken in ascending order.
    ///
    /// An explicit 0 is a real price; only a missing (or null) rate falls back.
    public init(price: ModelPrice, promptTokens: Int) {
        if let tier = TokenRates.tier(price: price, promptTokens: promptTokens),
           let tierInput = ModelPrice.money(tier["input_cost_per_token"]) {
            input = tierInput
            output = ModelPrice.money(tier["output_cost_per_token"]) ?? price.outputCostPerToken ?? .zero
            cacheRead = ModelPrice.money(tier["cache_read_input_token_cost"]) ?? tierInput
            cacheWrite = ModelPrice.money(tier["cache_creation_input_token_cost"]) ?? tierInput
            cacheWrite1h = ModelPrice.money(tier["cache_creation_input_token_cost_above_1hr"]) ?? cacheWrite
            reasoning = ModelPrice.money(tier["output_cost_per_reasoning_token"]) ?? ModelPrice.money(tier["output_cost_per_token"])
                ?? price.reasoningCostPerToken ?? output
            return
        }
        var input = price.inputCostPerToken ?? .zero
        var output = price.outputCostPerToken ?? .zero
        if output.isZero, let image = price.rate("output_cost_per_image_token") { output = image }
        var cacheWrite = price.cacheWriteCostPerToken
        var cacheRead = price.cacheReadCostPerToken
        if cacheRead == nil, price.provider == "fireworks_ai", let base = price.inputCostPerToken {
            cacheRead = base * TokenRates.fireworksCacheReadRatio
        }
        var write1hKey = "cache_creation_input_token_cost_above_1hr"
        let inclusive = TokenRates.inclusiveThresholds(price)
        for threshold in price.thresholds {
            let crossed = promptTokens > threshold.tokens || (inclusive && promptTokens == threshold.tokens)
            guard crossed else { continue }
            let suffix = "_above_\(threshold.text)_tokens"
            input = price.rate("input_cost_per_token" + suffix) ?? input
            output = price.rate("output_cost_per_token" + suffix) ?? output
            cacheWrite = price.rate("cache_creation_input_token_cost" + suffix) ?? cacheWrite
            cacheRead = price.rate("cache_read_input_token_cost" + suffix) ?? cacheRead
            if price.rate("cache_creation_input_token_cost_above_1hr" + suffix) != nil {
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

    /// xAI bills the long-context rate once the prompt reaches the threshold; others above it.
    static func inclusiveThresholds(_ price: ModelPrice) -> Bool { price.provider == "xai" }

    /// LiteLLM's `select_tier_for_input`: nil without tiers or for an empty prompt.
    static func tier(price: ModelPrice, promptTokens: Int) -> [String: JSONValue]? {
        guard promptTokens > 0, let tiers = price.tieredPricing else { return nil }
        let ranged: [(start: Decimal, end: Decimal, tier: [String: JSONValue])] = tiers.compactMap { item in
            guard let tier = item.objectValue, let range = tier["range"]?.arrayValue, range.count == 2,
                  let start = range[0].decimalValue, let end = range[1].decimalValue else { return nil }
            return (start, end, tier)
        }
        // A stable sort by start, as Python's `sorted`.
        let sorted = ranged.enumerated().sorted { ($0.element.start, $0.offset) < ($1.element.start, $1.offset) }.map(\.element)
        guard let last = sorted.last else { return nil }
        let tokens = Decimal(promptTokens)
        return sorted.first { $0.start < tokens && tokens <= $0.end }?.tier ?? last.tier
    }

    /// Prompt sizes at which the rates can change, ascending: 0, 1, each threshold and the next
    /// token, each tier bound and the next token. Between two consecutive points the rates are constant.
    static func breakpoints(price: ModelPrice) -> [Int] {
        var points: Set<Int> = [0, 1]
        for threshold in price.thresholds { points.formUnion([threshold.tokens, threshold.tokens + 1]) }
        for item in price.tieredPricing ?? [] {
            guard let range = item["range"]?.arrayValue, range.count == 2 else { continue }
            for bound in range {
                guard let value = bound.decimalValue, value >= 0, value < Decimal(Int32.max) else { continue }
                var down = Decimal()
                var copy = value
                NSDecimalRound(&down, &copy, 0, .down)
                let whole = NSDecimalNumber(decimal: down).intValue
                points.formUnion([whole, whole + 1])
            }
        }
        return points.sorted()
    }
}
