import WfloCore

/// The exact cost of one call, by token category. `total` is their sum.
public struct CostBreakdown: Sendable, Hashable {
    /// Prompt tokens that were neither read from nor written to the cache.
    public var input: Money
    public var cachedInput: Money
    public var cacheWrite: Money
    /// Completion tokens other than reasoning.
    public var output: Money
    public var reasoning: Money
    /// The rates used.
    public var rates: TokenRates

    public var total: Money { input + cachedInput + cacheWrite + output + reasoning }
}

/// What a request may cost at most, before it is sent.
public struct WorstCaseEstimate: Sendable, Hashable {
    /// The bound on input tokens used.
    public var inputTokens: Int
    /// `max_tokens`, clamped to the model's `max_output_tokens`.
    public var outputTokens: Int
    /// Never below the true cost of the request.
    public var cost: Money
}

/// The shape of a request, enough to bound its cost without a tokenizer.
public struct RequestShape: Sendable, Hashable {
    /// The exact bytes of the HTTP request body that will be sent (UTF-8 JSON).
    public var bodyBytes: Int
    /// Messages, the system prompt counted as one: each adds framing tokens.
    public var messageCount: Int
    /// The `max_tokens` the request sends.
    public var maxTokens: Int

    public init(bodyBytes: Int, messageCount: Int, maxTokens: Int) {
        self.bodyBytes = bodyBytes
        self.messageCount = messageCount
        self.maxTokens = maxTokens
    }
}
