import WfloCore

/// The exact cost of one call, by token category. ``total`` is their sum; nothing is rounded.
public struct CostBreakdown: Sendable, Hashable {
    /// The table entry that priced the call (the name after aliases and provider prefixes).
    public var model: String
    /// The usage priced.
    public var usage: TokenUsage
    /// Prompt tokens that were neither read from nor written to the cache.
    public var input: Money
    /// Prompt tokens read from the cache.
    public var cachedInput: Money
    /// Prompt tokens written to the cache, 5-minute and 1-hour writes together.
    public var cacheWrite: Money
    /// Completion tokens other than reasoning.
    public var output: Money
    /// Reasoning tokens.
    public var reasoning: Money
    /// The rates that applied (long-context tier already chosen).
    public var rates: TokenRates
    /// Audio and image tokens, prompt and completion (at their own rates, else the text rates).
    public var media: Money
    /// Billed per call rather than per token: the per-request fee and the web searches.
    public var fees: Money
    /// Usage fields reported non-zero for which the table has no price (`web_search_requests`):
    /// not in ``total``, so the cost is a lower bound; the engine marks the attempt `unpriced_usage`.
    public var unpriced: [String]

    public init(model: String, usage: TokenUsage, input: Money, cachedInput: Money, cacheWrite: Money,
                output: Money, reasoning: Money, rates: TokenRates, media: Money = .zero, fees: Money = .zero,
                unpriced: [String] = []) {
        self.media = media
        self.fees = fees
        self.unpriced = unpriced
        self.model = model
        self.usage = usage
        self.input = input
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.output = output
        self.reasoning = reasoning
        self.rates = rates
    }

    /// The exact total in USD.
    public var total: Money { input + cachedInput + cacheWrite + output + reasoning + media + fees }
    /// Everything billed for the prompt (input, cache reads, cache writes).
    public var promptCost: Money { input + cachedInput + cacheWrite }
    /// Everything billed for the completion (output and reasoning).
    public var completionCost: Money { output + reasoning }
    /// What cache reads saved against paying the input rate for them (negative if the cache costs more).
    public var cacheSavings: Money { rates.input * usage.cachedInputTokens - cachedInput }
}
