/// Tokens of one LLM call, normalised the way LiteLLM normalises them.
///
/// - `inputTokens` counts *all* prompt tokens, cached and cache-written ones included
///   (OpenAI's `prompt_tokens`; for Anthropic `input_tokens + cache_creation_input_tokens +
///   cache_read_input_tokens`).
/// - `cachedInputTokens` of them were read from the provider's prompt cache.
/// - `cacheWriteTokens` / `cacheWrite1hTokens` of them were written to it (5-minute and 1-hour).
/// - `outputTokens` counts all completion tokens, `reasoningTokens` of which were reasoning.
public struct TokenUsage: Sendable, Hashable, Codable {
    public var inputTokens: Int
    public var cachedInputTokens: Int
    public var cacheWriteTokens: Int
    public var cacheWrite1hTokens: Int
    public var outputTokens: Int
    public var reasoningTokens: Int

    public init(inputTokens: Int = 0, cachedInputTokens: Int = 0, cacheWriteTokens: Int = 0,
                cacheWrite1hTokens: Int = 0, outputTokens: Int = 0, reasoningTokens: Int = 0) {
        self.inputTokens = inputTokens
        self.cachedInputTokens = cachedInputTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.cacheWrite1hTokens = cacheWrite1hTokens
        self.outputTokens = outputTokens
        self.reasoningTokens = reasoningTokens
    }

    public static let zero = TokenUsage()

    public static func + (a: TokenUsage, b: TokenUsage) -> TokenUsage {
        TokenUsage(inputTokens: a.inputTokens + b.inputTokens,
                   cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
                   cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
                   cacheWrite1hTokens: a.cacheWrite1hTokens + b.cacheWrite1hTokens,
                   outputTokens: a.outputTokens + b.outputTokens,
                   reasoningTokens: a.reasoningTokens + b.reasoningTokens)
    }

    public var json: JSONValue {
        ["input_tokens": .int(inputTokens), "cached_input_tokens": .int(cachedInputTokens),
         "cache_write_tokens": .int(cacheWriteTokens), "cache_write_1h_tokens": .int(cacheWrite1hTokens),
         "output_tokens": .int(outputTokens), "reasoning_tokens": .int(reasoningTokens)]
    }

    public init?(json: JSONValue) {
        guard case .object = json else { return nil }
        func n(_ k: String) -> Int { json[k]?.intValue ?? 0 }
        self.init(inputTokens: n("input_tokens"), cachedInputTokens: n("cached_input_tokens"),
                  cacheWriteTokens: n("cache_write_tokens"), cacheWrite1hTokens: n("cache_write_1h_tokens"),
                  outputTokens: n("output_tokens"), reasoningTokens: n("reasoning_tokens"))
    }
}
