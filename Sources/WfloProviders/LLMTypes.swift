import WfloCore

/// One message of a conversation.
public struct LLMMessage: Sendable, Hashable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
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

    public init(provider: LLMProviderKind, model: String, system: String? = nil, messages: [LLMMessage], maxTokens: Int,
                temperature: Double? = nil, stop: [String] = [], jsonResponse: Bool = false, baseURL: String? = nil) {
        self.provider = provider
        self.model = model
        self.system = system
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.stop = stop
        self.jsonResponse = jsonResponse
        self.baseURL = baseURL
    }
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

    public init(id: String, model: String, text: String, finishReason: String, usage: TokenUsage, json: JSONValue?) {
        self.id = id
        self.model = model
        self.text = text
        self.finishReason = finishReason
        self.usage = usage
        self.json = json
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
