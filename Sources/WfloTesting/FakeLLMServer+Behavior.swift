import WfloCore

extension FakeLLMServer {
    /// What the server does with one request. Queued with ``FakeLLMServer/enqueue(_:path:)`` or
    /// keyed by a prompt substring with ``FakeLLMServer/on(promptContaining:_:times:)``.
    ///
    /// Every behavior is rendered in the wire format of the path it answers: OpenAI chat
    /// completions on `/v1/chat/completions`, Anthropic messages on `/v1/messages`.
    public indirect enum Behavior: Sendable, Hashable {
        /// A successful answer. Every argument left `nil` or `0` takes the default the server
        /// derives from the request:
        /// - `text`: `"Echo: "` and the first 40 characters of the last user message (as a JSON
        ///   object `{"echo": …}` when JSON was asked for); cut to `max_tokens` words, with
        ///   `finish_reason: length` / `stop_reason: max_tokens`, when longer.
        /// - `promptTokens`: all prompt tokens, cached and cache-written included (UTF-8 bytes of
        ///   the system and message texts / 4, at least 1). Anthropic's `input_tokens` is this
        ///   minus `cachedTokens` and the cache writes, as the real API reports it.
        /// - `completionTokens`: words of the answer plus `reasoningTokens`.
        /// - `cachedTokens`: OpenAI `prompt_tokens_details.cached_tokens`, Anthropic
        ///   `cache_read_input_tokens`.
        /// - `cacheWrite5mTokens`, `cacheWrite1hTokens`: Anthropic `cache_creation` split (and
        ///   their sum as `cache_creation_input_tokens`).
        /// - `reasoningTokens`: OpenAI `completion_tokens_details.reasoning_tokens`.
        /// - `finishReason`: overrides the provider's finish or stop reason.
        /// - `billable`: usage billed beyond text tokens (audio and image tokens, web searches), in
        ///   each format's own fields (see ``FakeBillableUsage``).
        case reply(text: String? = nil, promptTokens: Int? = nil, completionTokens: Int? = nil,
                   cachedTokens: Int = 0, cacheWrite5mTokens: Int = 0, cacheWrite1hTokens: Int = 0,
                   reasoningTokens: Int = 0, finishReason: String? = nil, billable: FakeBillableUsage = .none)
        /// A successful answer that calls tools — several at once for parallel calls — in the
        /// path's native format: OpenAI `message.tool_calls` (arguments as a JSON string,
        /// `finish_reason: tool_calls`), Anthropic `tool_use` blocks (`stop_reason: tool_use`).
        /// `text` (default none) comes before the calls; usage defaults as for ``reply(text:promptTokens:completionTokens:cachedTokens:cacheWrite5mTokens:cacheWrite1hTokens:reasoningTokens:finishReason:)``,
        /// the calls' arguments counted as completion words.
        case toolCalls([FakeToolCall], text: String? = nil, promptTokens: Int? = nil, completionTokens: Int? = nil)
        /// An HTTP error. With `body` nil the server writes the provider's own error body for
        /// that status (OpenAI `{"error": {…}}`, Anthropic `{"type": "error", "error": {…}}`).
        /// `retryAfter` is sent as the `retry-after` header.
        case error(status: Int, body: String? = nil, retryAfter: String? = nil)
        /// Waits, then does `then` (a default reply unless told otherwise).
        case delay(Duration, then: Behavior = .reply())
        /// Status 200 with a body that is cut off mid-JSON.
        case malformedJSON
        /// Closes the connection without answering.
        case dropConnection
        /// Never answers; the connection closes when the server shuts down.
        case hang

        /// One tool call.
        public static func call(_ name: String, _ arguments: JSONValue = [:], id: String? = nil) -> Behavior {
            .toolCalls([FakeToolCall(name: name, arguments: arguments, id: id)])
        }

        /// 429 in the path's format (`rate_limit_exceeded` / `rate_limit_error`) with `retry-after`.
        public static func rateLimited(retryAfter: String = "1") -> Behavior {
            .error(status: 429, retryAfter: retryAfter)
        }

        /// OpenAI's exhausted quota: 429 with `code: insufficient_quota` (not worth a retry).
        public static var insufficientQuota: Behavior {
            openAIError(status: 429, message: "You exceeded your current quota, please check your plan and billing details.",
                        type: "insufficient_quota", code: "insufficient_quota")
        }

        /// Anthropic's 529 `overloaded_error`, with `retry-after`.
        public static func overloaded(retryAfter: String? = nil) -> Behavior {
            .error(status: 529, retryAfter: retryAfter)
        }

        /// An OpenAI error body: `{"error": {"message", "type", "param": null, "code"}}`.
        public static func openAIError(status: Int, message: String, type: String, code: String?,
                                       retryAfter: String? = nil) -> Behavior {
            .error(status: status, body: FakeWire.openAIErrorBody(message: message, type: type, code: code), retryAfter: retryAfter)
        }

        /// An Anthropic error body: `{"type": "error", "error": {"type", "message"}}`.
        public static func anthropicError(status: Int, type: String, message: String,
                                          retryAfter: String? = nil) -> Behavior {
            .error(status: status, body: FakeWire.anthropicErrorBody(type: type, message: message), retryAfter: retryAfter)
        }
    }
}

/// A tool call a scripted answer makes (see ``FakeLLMServer/Behavior/toolCalls(_:text:promptTokens:completionTokens:)``).
public struct FakeToolCall: Sendable, Hashable {
    public var name: String
    public var arguments: JSONValue
    /// The call's id; nil makes one from the request's sequence number and the call's position
    /// (`call_3_1` / `toolu_3_1`).
    public var id: String?

    public init(name: String, arguments: JSONValue = [:], id: String? = nil) {
        self.name = name
        self.arguments = arguments
        self.id = id
    }
}

/// Usage a scripted answer reports beyond text tokens, written in each wire format's own fields:
/// OpenAI `prompt_tokens_details.audio_tokens` / `image_tokens`, `completion_tokens_details.audio_tokens`
/// / `image_tokens` and Perplexity's `num_search_queries`; Anthropic
/// `server_tool_use.web_search_requests`. Audio and image counts are part of the prompt and
/// completion counts, as the providers report them.
public struct FakeBillableUsage: Sendable, Hashable {
    public var audioInputTokens: Int
    public var audioOutputTokens: Int
    public var imageInputTokens: Int
    public var imageOutputTokens: Int
    public var webSearchRequests: Int

    public static let none = FakeBillableUsage()

    public init(audioInputTokens: Int = 0, audioOutputTokens: Int = 0, imageInputTokens: Int = 0, imageOutputTokens: Int = 0,
                webSearchRequests: Int = 0) {
        self.audioInputTokens = audioInputTokens
        self.audioOutputTokens = audioOutputTokens
        self.imageInputTokens = imageInputTokens
        self.imageOutputTokens = imageOutputTokens
        self.webSearchRequests = webSearchRequests
    }
}
