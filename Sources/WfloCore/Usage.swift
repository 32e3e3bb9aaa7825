/// Tokens of one LLM call, normalised the way LiteLLM normalises them.
///
/// - `inputTokens` counts *all* prompt tokens, cached and cache-written ones included
///   (OpenAI's `prompt_tokens`; for Anthropic `input_tokens + cache_creation_input_tokens +
///   cache_read_input_tokens`).
/// - `cachedInputTokens` of them were read from the provider's prompt cache.
/// - `cacheWriteTokens` / `cacheWrite1hTokens` of them were written to it (5-minute and 1-hour).
/// - `outputTokens` counts all completion tokens, `reasoningTokens` of which were reasoning.
/// - `audioInputTokens` / `imageInputTokens` of the prompt tokens were audio or image (OpenAI
///   `prompt_tokens_details.audio_tokens` / `image_tokens`); `audioOutputTokens` / `imageOutputTokens`
///   of the completion tokens likewise (`completion_tokens_details`).
/// - `webSearchRequests`: searches a server-side tool made (Anthropic `server_tool_use.web_search_requests`,
///   Perplexity `num_search_queries`), each billed at the table's `search_context_cost_per_query`.
public struct TokenUsage: Sendable, Hashable, Codable {
    public var inputTokens: Int
    public var cachedInputTokens: Int
    public var cacheWriteTokens: Int
    public var cacheWrite1hTokens: Int
    public var outputTokens: Int
    public var reasoningTokens: Int
    public var audioInputTokens: Int
    public var audioOutputTokens: Int
    public var imageInputTokens: Int
    public var imageOutputTokens: Int
    public var webSearchRequests: Int

    public init(inputTokens: Int = 0, cachedInputTokens: Int = 0, cacheWriteTokens: Int = 0,
                cacheWrite1hTokens: Int = 0, outputTokens: Int = 0, reasoningTokens: Int = 0,
                audioInputTokens: Int = 0, audioOutputTokens: Int = 0, imageInputTokens: Int = 0,
                imageOutputTokens: Int = 0, webSearchRequests: Int = 0) {
        self.audioInputTokens = audioInputTokens
        self.audioOutputTokens = audioOutputTokens
        self.imageInputTokens = imageInputTokens
        self.imageOutputTokens = imageOutputTokens
        self.webSearchRequests = webSearchRequests
        self.inputTokens = inputTokens
        self.cachedInputTokens = cachedInputTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.cacheWrite1hTokens = cacheWrite1hTokens
        self.outputTokens = outputTokens
        self.reasoningTokens = reasoningTokens
    }

    public static let zero = TokenUsage()

    enum CodingKeys: String, CodingKey {
        case inputTokens, cachedInputTokens, cacheWriteTokens, cacheWrite1hTokens, outputTokens, reasoningTokens,
             audioInputTokens, audioOutputTokens, imageInputTokens, imageOutputTokens, webSearchRequests
    }

    /// Reads usage written before the audio, image and search counts existed (they read as 0).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func n(_ key: CodingKeys) throws -> Int { try c.decodeIfPresent(Int.self, forKey: key) ?? 0 }
        self.init(inputTokens: try n(.inputTokens), cachedInputTokens: try n(.cachedInputTokens),
                  cacheWriteTokens: try n(.cacheWriteTokens), cacheWrite1hTokens: try n(.cacheWrite1hTokens),
                  outputTokens: try n(.outputTokens), reasoningTokens: try n(.reasoningTokens),
                  audioInputTokens: try n(.audioInputTokens), audioOutputTokens: try n(.audioOutputTokens),
                  imageInputTokens: try n(.imageInputTokens), imageOutputTokens: try n(.imageOutputTokens),
                  webSearchRequests: try n(.webSearchRequests))
    }

    public static func + (a: TokenUsage, b: TokenUsage) -> TokenUsage {
        TokenUsage(inputTokens: a.inputTokens + b.inputTokens,
                   cachedInputTokens: a.cachedInputTokens + b.cachedInputTokens,
                   cacheWriteTokens: a.cacheWriteTokens + b.cacheWriteTokens,
                   cacheWrite1hTokens: a.cacheWrite1hTokens + b.cacheWrite1hTokens,
                   outputTokens: a.outputTokens + b.outputTokens,
                   reasoningTokens: a.reasoningTokens + b.reasoningTokens,
                   audioInputTokens: a.audioInputTokens + b.audioInputTokens,
                   audioOutputTokens: a.audioOutputTokens + b.audioOutputTokens,
                   imageInputTokens: a.imageInputTokens + b.imageInputTokens,
                   imageOutputTokens: a.imageOutputTokens + b.imageOutputTokens,
                   webSearchRequests: a.webSearchRequests + b.webSearchRequests)
    }

    /// The billable counts beyond text tokens, by their JSON key: written only when non-zero, so
    /// usage without them reads as before.
    public var extraCounts: [(key: String, value: Int)] {
        [("audio_input_tokens", audioInputTokens), ("audio_output_tokens", audioOutputTokens),
         ("image_input_tokens", imageInputTokens), ("image_output_tokens", imageOutputTokens),
         ("web_search_requests", webSearchRequests)]
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "input_tokens": .int(inputTokens), "cached_input_tokens": .int(cachedInputTokens),
            "cache_write_tokens": .int(cacheWriteTokens), "cache_write_1h_tokens": .int(cacheWrite1hTokens),
            "output_tokens": .int(outputTokens), "reasoning_tokens": .int(reasoningTokens)]
        for (key, value) in extraCounts where value != 0 { object[key] = .int(value) }
        return .object(object)
    }

    public init?(json: JSONValue) {
        guard case .object = json else { return nil }
        func n(_ k: String) -> Int { json[k]?.intValue ?? 0 }
        self.init(inputTokens: n("input_tokens"), cachedInputTokens: n("cached_input_tokens"),
                  cacheWriteTokens: n("cache_write_tokens"), cacheWrite1hTokens: n("cache_write_1h_tokens"),
                  outputTokens: n("output_tokens"), reasoningTokens: n("reasoning_tokens"),
                  audioInputTokens: n("audio_input_tokens"), audioOutputTokens: n("audio_output_tokens"),
                  imageInputTokens: n("image_input_tokens"), imageOutputTokens: n("image_output_tokens"),
                  webSearchRequests: n("web_search_requests"))
    }
}
