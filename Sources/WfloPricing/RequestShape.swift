/// What wflo knows about a request before sending it: enough to bound its cost without a tokenizer.
public struct RequestShape: Sendable, Hashable {
    /// The exact bytes of the HTTP request body that will be sent (UTF-8 JSON).
    public var bodyBytes: Int
    /// Number of messages (the system prompt counted as one), for per-message framing overhead.
    public var messageCount: Int
    /// The `max_tokens` the request sends.
    public var maxTokens: Int
    /// Prompt tokens the provider adds that are not in the body, if the caller knows of any
    /// (for example the system prompt Anthropic adds when tools are offered, up to 346 tokens).
    public var providerOverheadTokens: Int
    /// The most searches a server-side web search tool the request enables may make (`max_uses`);
    /// nil when the request enables none.
    public var webSearchMaxUses: Int?
    /// The request's search context size (`low`, `medium`, `high`); nil: the provider's default.
    public var searchContextSize: String?

    public init(bodyBytes: Int, messageCount: Int, maxTokens: Int) {
        self.init(bodyBytes: bodyBytes, messageCount: messageCount, maxTokens: maxTokens, providerOverheadTokens: 0)
    }

    public init(bodyBytes: Int, messageCount: Int, maxTokens: Int, providerOverheadTokens: Int) {
        self.bodyBytes = bodyBytes
        self.messageCount = messageCount
        self.maxTokens = maxTokens
        self.providerOverheadTokens = providerOverheadTokens
    }
}
