import Foundation
import WfloCore

/// Calls OpenAI-compatible chat completions and Anthropic messages over an ``HTTPTransport``.
///
/// ``encodedBody(_:)`` is the exact body ``complete(_:timeout:)`` sends, so the pricing engine
/// can bound a request's input tokens by its bytes before the call.
///
/// ```swift
/// let transport = AsyncHTTPTransport()
/// let client = LLMClient(transport: transport, endpoints: .fromEnvironment(ProcessInfo.processInfo.environment))
/// let answer = try await client.complete(LLMRequest(provider: .openai, model: "gpt-4o-mini",
///                                                   messages: [LLMMessage(role: "user", content: "Hi")],
///                                                   maxTokens: 100), timeout: .seconds(60))
/// try await transport.shutdown()
/// ```
///
/// API keys: when ``requiresAPIKey`` is true (the default, for the network) a request whose
/// provider has no key fails with ``ProviderError/Kind/missingAPIKey`` before any traffic. A
/// client over a ``ReplayTransport`` passes `requiresAPIKey: false`: a cassette needs no key.
/// Keys go only into the `Authorization` / `x-api-key` headers, never into the body.
public struct LLMClient: Sendable {
    public let transport: any HTTPTransport
    public let endpoints: ProviderEndpoints
    /// False for replay: a cassette needs no key.
    public let requiresAPIKey: Bool

    /// - Parameters:
    ///   - transport: the network, a recorder around it, or a replay of a cassette.
    ///   - endpoints: base URLs and keys, usually ``ProviderEndpoints/fromEnvironment(_:)``.
    ///   - requiresAPIKey: refuse requests without a key (true unless replaying).
    public init(transport: any HTTPTransport, endpoints: ProviderEndpoints, requiresAPIKey: Bool = true) {
        self.transport = transport
        self.endpoints = endpoints
        self.requiresAPIKey = requiresAPIKey
    }

    static let jsonInstruction = "Answer with one JSON object and nothing else."

    /// The request body, canonical JSON (sorted keys), byte for byte what is sent.
    public func encodedBody(_ request: LLMRequest) -> [UInt8] {
        Array(body(request).encoded(sorted: true).utf8)
    }

    func body(_ request: LLMRequest) -> JSONValue {
        var object: [String: JSONValue] = ["model": .string(request.model), "max_tokens": .int(request.maxTokens)]
        if let temperature = request.temperature { object["temperature"] = .double(temperature) }
        switch request.provider {
        case .openai:
            var messages: [JSONValue] = []
            if let system = request.system { messages.append(["role": "system", "content": .string(system)]) }
            messages += request.messages.map(LLMClient.openAIMessage)
            object["messages"] = .array(messages)
            if !request.stop.isEmpty { object["stop"] = .array(request.stop.map(JSONValue.string)) }
            if request.jsonResponse { object["response_format"] = ["type": "json_object"] }
            if !request.tools.isEmpty {
                object["tools"] = .array(request.tools.map { tool in
                    ["type": "function", "function": ["name": .string(tool.name), "description": .string(tool.description),
                                                      "parameters": tool.parameters]]
                })
            }
            if let search = request.webSearch {
                object["web_search_options"] = ["search_context_size": .string(search.contextSize ?? "medium")]
            }
        case .anthropic:
            var systemParts = request.system.map { [$0] } ?? []
            systemParts += request.messages.filter { $0.role == "system" }.map(\.content)
            if request.jsonResponse { systemParts.append(LLMClient.jsonInstruction) }
            if !systemParts.isEmpty { object["system"] = .string(systemParts.joined(separator: "\n\n")) }
            object["messages"] = .array(LLMClient.anthropicMessages(request.messages.filter { $0.role != "system" }))
            if !request.stop.isEmpty { object["stop_sequences"] = .array(request.stop.map(JSONValue.string)) }
            var tools: [JSONValue] = request.tools.map { tool in
                ["name": .string(tool.name), "description": .string(tool.description), "input_schema": tool.parameters]
            }
            if let search = request.webSearch {
                tools.append(["type": "web_search_20250305", "name": "web_search", "max_uses": .int(search.maxUses)])
            }
            if !tools.isEmpty { object["tools"] = .array(tools) }
        }
        return .object(object)
    }

    /// One chat-completions message: an assistant message carries its `tool_calls` (arguments as
    /// the JSON string the model wrote, content null when it said nothing), a `tool` message the
    /// `tool_call_id` it answers.
    static func openAIMessage(_ message: LLMMessage) -> JSONValue {
        if message.role == "tool" {
            return ["role": "tool", "tool_call_id": .string(message.toolCallID ?? ""), "content": .string(message.content)]
        }
        guard !message.toolCalls.isEmpty else {
            return ["role": .string(message.role), "content": .string(message.content)]
        }
        return ["role": .string(message.role), "content": message.content.isEmpty ? .null : .string(message.content),
                "tool_calls": .array(message.toolCalls.map { call in
                    ["id": .string(call.id), "type": "function",
                     "function": ["name": .string(call.name), "arguments": .string(call.arguments)]]
                })]
    }

    /// Anthropic messages: plain messages keep string content; an assistant message with tool
    /// calls becomes text and `tool_use` blocks; consecutive `tool` messages become one user
    /// message of `tool_result` blocks (Anthropic wants every result of a turn in the next user
    /// message).
    static func anthropicMessages(_ messages: [LLMMessage]) -> [JSONValue] {
        var out: [JSONValue] = []
        var results: [JSONValue] = []
        func flushResults() {
            if !results.isEmpty { out.append(["role": "user", "content": .array(results)]); results = [] }
        }
        for message in messages {
            if message.role == "tool" {
                var block: [String: JSONValue] = ["type": "tool_result", "tool_use_id": .string(message.toolCallID ?? ""),
                                                  "content": .string(message.content)]
                if message.isError { block["is_error"] = true }
                results.append(.object(block))
                continue
            }
            flushResults()
            if message.toolCalls.isEmpty {
                out.append(["role": .string(message.role), "content": .string(message.content)])
                continue
            }
            var blocks: [JSONValue] = []
            if !message.content.isEmpty { blocks.append(["type": "text", "text": .string(message.content)]) }
            for call in message.toolCalls {
                blocks.append(["type": "tool_use", "id": .string(call.id), "name": .string(call.name),
                               "input": call.parsedArguments ?? .object([:])])
            }
            out.append(["role": .string(message.role), "content": .array(blocks)])
        }
        flushResults()
        return out
    }

    /// Sends the request and reads the answer.
    /// - Throws: ``ProviderError``: the provider's error (with its message and `retry-after`),
    ///   a time-out or connection failure, a malformed response, or a missing API key (before
    ///   any traffic).
    /// - Parameter body: `request`'s body as ``encodedBody(_:)`` gives it, when the caller has it
    ///   already (the engine encodes it once, to price the bytes it sends); nil encodes it here.
    public func complete(_ request: LLMRequest, body: [UInt8]? = nil, timeout: Duration) async throws -> LLMResponse {
        let exchange = try httpRequest(request, body: body)
        let response = try await transport.send(exchange, timeout: timeout)
        guard (200..<300).contains(response.status) else {
            throw LLMClient.error(from: response, request: request)
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(Data(response.body))
        } catch {
            throw ProviderError(.malformedResponse, status: response.status, message: "the \(request.provider.rawValue) answer for model '\(request.model)' is not JSON (\(error))")
        }
        switch request.provider {
        case .openai: return try LLMClient.parseOpenAI(json, request: request)
        case .anthropic: return try LLMClient.parseAnthropic(json, request: request)
        }
    }

    func httpRequest(_ request: LLMRequest, body: [UInt8]? = nil) throws -> HTTPExchange.Request {
        var headers = [HTTPExchange.Header("content-type", "application/json")]
        let url: String
        switch request.provider {
        case .openai:
            let base = request.baseURL ?? endpoints.openAIBaseURL
            url = LLMClient.join(base, "chat/completions")
            if let key = endpoints.openAIKey {
                headers.append(.init("authorization", "Bearer \(key)"))
            } else if requiresAPIKey {
                throw ProviderError(.missingAPIKey, message: "OPENAI_API_KEY is not set: export it (and OPENAI_BASE_URL for another OpenAI-compatible endpoint), or use --replay FILE")
            }
        case .anthropic:
            let base = request.baseURL ?? endpoints.anthropicBaseURL
            url = LLMClient.join(base, base.hasSuffix("/v1") || base.hasSuffix("/v1/") ? "messages" : "v1/messages")
            headers.append(.init("anthropic-version", "2023-06-01"))
            if let key = endpoints.anthropicKey {
                headers.append(.init("x-api-key", key))
            } else if requiresAPIKey {
                throw ProviderError(.missingAPIKey, message: "ANTHROPIC_API_KEY is not set: export it (and ANTHROPIC_BASE_URL for another endpoint), or use --replay FILE")
            }
        }
        return HTTPExchange.Request(method: "POST", url: url, headers: headers, body: body ?? encodedBody(request))
    }

    static func join(_ base: String, _ path: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/" + path
    }

    // MARK: - Responses

    static func parseOpenAI(_ json: JSONValue, request: LLMRequest) throws -> LLMResponse {
        let jsonRequested = request.jsonResponse
        guard let choice = json["choices"]?[0], let message = choice["message"] else {
            throw ProviderError(.malformedResponse, message: "the OpenAI-compatible answer for model '\(request.model)' has no choices[0].message")
        }
        guard let usage = json["usage"] else {
            throw ProviderError(.malformedResponse, message: "the OpenAI-compatible answer for model '\(request.model)' has no usage: its cost cannot be known")
        }
        let text = message["content"]?.stringValue ?? ""
        var calls: [LLMToolCall] = []
        for (index, call) in (message["tool_calls"]?.arrayValue ?? []).enumerated() {
            guard let name = call["function"]?["name"]?.stringValue else {
                throw ProviderError(.malformedResponse, message: "the OpenAI-compatible answer for model '\(request.model)' has a tool call without function.name")
            }
            // Arguments are a JSON string; some compatible servers send the object itself.
            let arguments = call["function"]?["arguments"]
            calls.append(LLMToolCall(id: call["id"]?.stringValue ?? "call_\(index + 1)", name: name,
                                     arguments: arguments?.stringValue ?? arguments?.encoded(sorted: true) ?? "{}"))
        }
        let prompt = usage["prompt_tokens_details"], completion = usage["completion_tokens_details"]
        // Searches: Perplexity reports `num_search_queries` (in usage or beside it); a server-tool
        // count where a compatible server gives one; OpenAI reports none and bills one per request
        // that enables search (as LiteLLM counts it).
        let searches = usage["num_search_queries"]?.intValue ?? json["num_search_queries"]?.intValue
            ?? usage["server_tool_use"]?["web_search_requests"]?.intValue ?? (request.webSearch == nil ? 0 : 1)
        let tokens = TokenUsage(inputTokens: usage["prompt_tokens"]?.intValue ?? 0,
                                cachedInputTokens: prompt?["cached_tokens"]?.intValue ?? 0,
                                outputTokens: usage["completion_tokens"]?.intValue ?? 0,
                                reasoningTokens: completion?["reasoning_tokens"]?.intValue ?? 0,
                                audioInputTokens: prompt?["audio_tokens"]?.intValue ?? 0,
                                audioOutputTokens: completion?["audio_tokens"]?.intValue ?? 0,
                                imageInputTokens: prompt?["image_tokens"]?.intValue ?? 0,
                                imageOutputTokens: completion?["image_tokens"]?.intValue ?? 0,
                                webSearchRequests: searches)
        return LLMResponse(id: json["id"]?.stringValue ?? "", model: json["model"]?.stringValue ?? "", text: text,
                           finishReason: choice["finish_reason"]?.stringValue ?? "", usage: tokens,
                           json: jsonRequested ? parseAnswerJSON(text) : nil, toolCalls: calls)
    }

    static func parseAnthropic(_ json: JSONValue, request: LLMRequest) throws -> LLMResponse {
        let jsonRequested = request.jsonResponse
        guard let blocks = json["content"]?.arrayValue else {
            throw ProviderError(.malformedResponse, message: "the Anthropic answer for model '\(request.model)' has no content")
        }
        guard let usage = json["usage"] else {
            throw ProviderError(.malformedResponse, message: "the Anthropic answer for model '\(request.model)' has no usage: its cost cannot be known")
        }
        let text = blocks.filter { $0["type"]?.stringValue == "text" }.compactMap { $0["text"]?.stringValue }.joined()
        var calls: [LLMToolCall] = []
        for block in blocks where block["type"]?.stringValue == "tool_use" {
            guard let id = block["id"]?.stringValue, let name = block["name"]?.stringValue else {
                throw ProviderError(.malformedResponse, message: "the Anthropic answer for model '\(request.model)' has a tool_use block without id or name")
            }
            calls.append(LLMToolCall(id: id, name: name, arguments: (block["input"] ?? .object([:])).encoded(sorted: true)))
        }
        let input = usage["input_tokens"]?.intValue ?? 0
        let cacheRead = usage["cache_read_input_tokens"]?.intValue ?? 0
        let cacheCreation = usage["cache_creation_input_tokens"]?.intValue ?? 0
        var write5m = cacheCreation
        var write1h = 0
        if let split = usage["cache_creation"] {
            write5m = split["ephemeral_5m_input_tokens"]?.intValue ?? 0
            write1h = split["ephemeral_1h_input_tokens"]?.intValue ?? 0
            // Trust the total when the split does not add up to it.
            if write5m + write1h != cacheCreation { write5m = cacheCreation - write1h }
        }
        // Anthropic's input_tokens excludes cache reads and writes; wflo counts all prompt tokens.
        let tokens = TokenUsage(inputTokens: input + cacheRead + cacheCreation, cachedInputTokens: cacheRead,
                                cacheWriteTokens: write5m, cacheWrite1hTokens: write1h,
                                outputTokens: usage["output_tokens"]?.intValue ?? 0,
                                webSearchRequests: usage["server_tool_use"]?["web_search_requests"]?.intValue ?? 0)
        return LLMResponse(id: json["id"]?.stringValue ?? "", model: json["model"]?.stringValue ?? "", text: text,
                           finishReason: json["stop_reason"]?.stringValue ?? "", usage: tokens,
                           json: jsonRequested ? parseAnswerJSON(text) : nil, toolCalls: calls)
    }

    /// The answer as JSON, tolerating a Markdown code fence around it.
    static func parseAnswerJSON(_ text: String) -> JSONValue? {
        var body = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if body.hasPrefix("```") {
            body = String(body.drop(while: { $0 != "\n" }))
            if body.hasSuffix("```") { body = String(body.dropLast(3)) }
        }
        return try? JSONValue.parse(body)
    }

    static func error(from response: HTTPExchange.Response, request: LLMRequest) -> ProviderError {
        let provider = request.provider
        let json = try? JSONValue.parse(Data(response.body))
        let errorObject = json?["error"]
        let code = errorObject?["code"]?.stringValue ?? errorObject?["type"]?.stringValue
        var message = errorObject?["message"]?.stringValue
            ?? String(decoding: response.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if message.isEmpty { message = "no error message" }
        let name = provider == .openai ? "OpenAI-compatible endpoint" : "Anthropic"
        let kind = ProviderError.kind(status: response.status, code: code)
        let model = request.model
        return ProviderError(kind, status: response.status,
                             message: "\(name) error for model '\(model)': \(message)\(code.map { " (\($0))" } ?? "")",
                             retryAfter: retryAfter(response))
    }

    /// `retry-after-ms` (OpenAI), else `retry-after` (seconds or an HTTP date), in seconds: see ``RetryAfter``.
    static func retryAfter(_ response: HTTPExchange.Response) -> Double? {
        if let milliseconds = response.header("retry-after-ms").flatMap({ RetryAfter.milliseconds($0) }) {
            return milliseconds
        }
        return response.header("retry-after").flatMap { RetryAfter.seconds($0) }
    }

    /// `retry-after` in seconds, or an HTTP date.
    static func parseRetryAfter(_ value: String) -> Double? {
        RetryAfter.seconds(value)
    }
}
