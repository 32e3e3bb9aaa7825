import WfloCore

/// One message of a conversation.
///
/// Besides `system`, `user` and `assistant` text, a conversation with tools holds assistant
/// messages that call tools (``toolCalls``) and `tool` messages that answer one call each
/// (``toolCallID``). ``LLMClient`` writes them in each provider's native format: OpenAI
/// `tool_calls` and `role: tool` messages; Anthropic `tool_use` blocks and `tool_result` blocks
/// in a user message (consecutive tool messages become one user message, as Anthropic requires).
public struct LLMMessage: Sendable, Hashable {
    /// `system`, `user`, `assistant` or `tool`.
    public var role: String
    public var content: String
    /// For an assistant message: the tools it calls, in order (several at once: parallel calls).
    public var toolCalls: [LLMToolCall]
    /// For a `tool` message: the id of the call it answers.
    public var toolCallID: String?
    /// For a `tool` message: the result is an error the model should react to (Anthropic `is_error`).
    public var isError: Bool

    public init(role: String, content: String, toolCalls: [LLMToolCall] = [], toolCallID: String? = nil, isError: Bool = false) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
        self.isError = isError
    }

    /// The answer to one tool call.
    public static func toolResult(callID: String, content: String, isError: Bool = false) -> LLMMessage {
        LLMMessage(role: "tool", content: content, toolCallID: callID, isError: isError)
    }
}

/// A tool the model may call: its name, what it does, and a JSON Schema for its arguments.
public struct LLMTool: Sendable, Hashable {
    public var name: String
    public var description: String
    /// A JSON Schema object (`{"type": "object", "properties": {…}, "required": […]}`).
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// One tool call the model asked for.
public struct LLMToolCall: Sendable, Hashable {
    /// The provider's id for the call (`call_…`, `toolu_…`); the result must name it.
    public var id: String
    public var name: String
    /// The arguments as JSON text, exactly as the provider sent them (OpenAI sends a string;
    /// Anthropic an object, kept here as its canonical JSON text).
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    /// The arguments parsed, or nil when they are not JSON (a model can write broken JSON).
    public var parsedArguments: JSONValue? { try? JSONValue.parse(arguments) }
}

/// A chat request in wflo's terms; ``LLMClient`` writes it in the provider's wire format.
public struct LLMRequest: Sendable, Hashable {
    public var provider: LLMProviderKind
    public var model: String
    public var system: String?
    public var messages: [LLMMessage]
    /// Always sent: it bounds the output the budget governor reserves for.
    public var maxTokens: Int
    public var temperature: Double?
    public var stop: [String]
    /// OpenAI: `response_format: json_object`; Anthropic: an instruction to answer with JSON only.
    public var jsonResponse: Bool
    /// Overrides the endpoint's base URL for this request.
    public var baseURL: String?
    /// Tools offered to the model (empty: none, and no `tools` field is sent).
    public var tools: [LLMTool]
    /// The provider's server-side web search: Anthropic's `web_search` tool with `max_uses`, or
    /// OpenAI-format `web_search_options`. Nil: none.
    public var webSearch: WebSearchSettings?

    public init(provider: LLMProviderKind, model: String, system: String? = nil, messages: [LLMMessage], maxTokens: Int,
                temperature: Double? = nil, stop: [String] = [], jsonResponse: Bool = false, baseURL: String? = nil,
                tools: [LLMTool] = [], webSearch: WebSearchSettings? = nil) {
        self.webSearch = webSearch
        self.provider = provider
        self.model = model
        self.system = system
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.stop = stop
        self.jsonResponse = jsonResponse
        self.baseURL = baseURL
        self.tools = tools
    }

    /// Prompt tokens a provider adds to a request with tools that are not in its body: the
    /// tool-use system prompt Anthropic documents (264 to 530 tokens depending on the model; the
    /// largest is taken), or the framing OpenAI renders the function definitions in. Zero
    /// without tools. What the worst-case estimate adds to the body's bytes.
    public var toolOverheadTokens: Int {
        guard !tools.isEmpty else { return 0 }
        switch provider {
        case .anthropic: return 530
        case .openai: return 32 + 8 * tools.count
        }
    }

    /// Messages the provider counts framing for: the system prompt and every message.
    public var framedMessageCount: Int { messages.count + (system == nil ? 0 : 1) }
}

/// A provider's answer, with usage normalised (see `TokenUsage`).
public struct LLMResponse: Sendable, Hashable {
    public var id: String
    public var model: String
    public var text: String
    /// The provider's own value: `stop`, `length`, `end_turn`, `max_tokens`, …
    public var finishReason: String
    public var usage: TokenUsage
    /// The text parsed as JSON when JSON was asked for and the text is JSON.
    public var json: JSONValue?
    /// The tools the model calls, in order (`finish_reason: tool_calls` / `stop_reason: tool_use`).
    public var toolCalls: [LLMToolCall]

    public init(id: String, model: String, text: String, finishReason: String, usage: TokenUsage, json: JSONValue?,
                toolCalls: [LLMToolCall] = []) {
        self.id = id
        self.model = model
        self.text = text
        self.finishReason = finishReason
        self.usage = usage
        self.json = json
        self.toolCalls = toolCalls
    }
}

/// Where the providers are and the keys to call them, from the environment.
public struct ProviderEndpoints: Sendable, Hashable {
    public var openAIBaseURL: String
    public var openAIKey: String?
    public var anthropicBaseURL: String
    public var anthropicKey: String?

    public init(openAIBaseURL: String = "https://api.openai.com/v1", openAIKey: String? = nil,
                anthropicBaseURL: String = "https://api.anthropic.com", anthropicKey: String? = nil) {
        self.openAIBaseURL = openAIBaseURL
        self.openAIKey = openAIKey
        self.anthropicBaseURL = anthropicBaseURL
        self.anthropicKey = anthropicKey
    }

    /// `OPENAI_BASE_URL`, `OPENAI_API_KEY`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY`.
    public static func fromEnvironment(_ env: [String: String]) -> ProviderEndpoints {
        func value(_ key: String) -> String? { env[key].flatMap { $0.isEmpty ? nil : $0 } }
        var endpoints = ProviderEndpoints(openAIKey: value("OPENAI_API_KEY"), anthropicKey: value("ANTHROPIC_API_KEY"))
        if let base = value("OPENAI_BASE_URL") { endpoints.openAIBaseURL = base }
        if let base = value("ANTHROPIC_BASE_URL") { endpoints.anthropicBaseURL = base }
        return endpoints
    }
}
