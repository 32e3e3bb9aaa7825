import Foundation
import WfloCore

/// The OpenAI and Anthropic wire formats as ``FakeLLMServer`` speaks them.
enum FakeWire {
    enum Format: Sendable {
        case openAI
        case anthropic
    }

    struct Response: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
    }

    /// What the connection handler does.
    indirect enum Action: Sendable {
        case respond(Response)
        case after(Duration, Action)
        case drop
        case hang
    }

    static func format(ofPath path: String) -> Format? {
        switch path {
        case FakeLLMServer.openAIPath: return .openAI
        case FakeLLMServer.anthropicPath: return .anthropic
        default: return nil
        }
    }

    // MARK: - Behaviors to actions

    static func action(for behavior: FakeLLMServer.Behavior, request: RecordedRequest, format: Format) -> Action {
        switch behavior {
        case let .reply(text, promptTokens, completionTokens, cachedTokens, cacheWrite5m, cacheWrite1h, reasoningTokens, finishReason, billable):
            let overrides = ReplyOverrides(text: text, promptTokens: promptTokens, completionTokens: completionTokens,
                                           cachedTokens: cachedTokens, cacheWrite5mTokens: cacheWrite5m,
                                           cacheWrite1hTokens: cacheWrite1h, reasoningTokens: reasoningTokens,
                                           finishReason: finishReason, billable: billable)
            return .respond(reply(to: request, format: format, overrides: overrides))
        case let .toolCalls(calls, text, promptTokens, completionTokens):
            let overrides = ReplyOverrides(text: text ?? "", promptTokens: promptTokens, completionTokens: completionTokens,
                                           cachedTokens: 0, cacheWrite5mTokens: 0, cacheWrite1hTokens: 0, reasoningTokens: 0,
                                           finishReason: nil, toolCalls: calls)
            return .respond(reply(to: request, format: format, overrides: overrides))
        case let .error(status, body, retryAfter):
            var headers = [("content-type", "application/json")]
            if let retryAfter { headers.append(("retry-after", retryAfter)) }
            if status == 429, format == .openAI {
                headers.append(("x-ratelimit-limit-requests", "500"))
                headers.append(("x-ratelimit-remaining-requests", "0"))
                headers.append(("x-ratelimit-reset-requests", "\(retryAfter ?? "1")s"))
            }
            headers.append(requestIDHeader(request, format: format))
            let text = body ?? defaultErrorBody(status: status, format: format, model: request.model)
            return .respond(Response(status: status, headers: headers, body: Array(text.utf8)))
        case let .delay(duration, then):
            return .after(duration, action(for: then, request: request, format: format))
        case .malformedJSON:
            let text = format == .openAI
                ? #"{"id": "chatcmpl-fake-\#(request.sequence)", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assis"#
                : #"{"id": "msg_fake_\#(request.sequence)", "type": "message", "content": [{"type": "text", "text": "Ech"#
            return .respond(Response(status: 200, headers: [("content-type", "application/json"), requestIDHeader(request, format: format)],
                                     body: Array(text.utf8)))
        case .dropConnection:
            return .drop
        case .hang:
            return .hang
        }
    }

    /// A request the server cannot route or read: answered like the real APIs would.
    static func rejection(for request: RecordedRequest, format: Format?, requiredAPIKey: String?) -> Response? {
        guard let format else {
            let body = openAIErrorBody(message: "Unknown request URL: \(request.method) \(request.path).", type: "invalid_request_error", code: "unknown_url")
            return Response(status: 404, headers: [("content-type", "application/json")], body: Array(body.utf8))
        }
        func error(_ status: Int, _ type: String, _ code: String?, _ message: String) -> Response {
            let body = format == .openAI ? openAIErrorBody(message: message, type: type, code: code)
                                         : anthropicErrorBody(type: type, message: message)
            return Response(status: status, headers: [("content-type", "application/json"), requestIDHeader(request, format: format)],
                            body: Array(body.utf8))
        }
        if request.method != "POST" {
            return error(405, "invalid_request_error", nil, "Method \(request.method) is not allowed on \(request.path).")
        }
        if let requiredAPIKey {
            let given = format == .openAI ? request.header("authorization") : request.header("x-api-key")
            let expected = format == .openAI ? "Bearer \(requiredAPIKey)" : requiredAPIKey
            if given != expected {
                return format == .openAI
                    ? error(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
                    : error(401, "authentication_error", nil, "invalid x-api-key")
            }
        }
        guard let json = request.json, json.objectValue != nil else {
            return error(400, "invalid_request_error", nil, "We could not parse the JSON body of your request.")
        }
        if json["model"]?.stringValue == nil {
            return error(400, "invalid_request_error", nil, "model: Field required")
        }
        if json["messages"]?.arrayValue == nil {
            return error(400, "invalid_request_error", nil, "messages: Field required")
        }
        if format == .anthropic {
            if request.header("anthropic-version") == nil {
                return error(400, "invalid_request_error", nil, "anthropic-version: header is required")
            }
            if json["max_tokens"]?.intValue == nil {
                return error(400, "invalid_request_error", nil, "max_tokens: Field required")
            }
        }
        return nil
    }

    // MARK: - Replies

    struct ReplyOverrides {
        var text: String?
        var promptTokens: Int?
        var completionTokens: Int?
        var cachedTokens: Int
        var cacheWrite5mTokens: Int
        var cacheWrite1hTokens: Int
        var reasoningTokens: Int
        var finishReason: String?
        var toolCalls: [FakeToolCall] = []
        var billable: FakeBillableUsage = .none
    }

    static func wantsJSON(_ request: RecordedRequest, format: Format) -> Bool {
        switch format {
        case .openAI:
            let type = request.json?["response_format"]?["type"]?.stringValue
            return type == "json_object" || type == "json_schema"
        case .anthropic:
            return text(of: request.json?["system"] ?? .null).contains("JSON")
        }
    }

    static func defaultAnswer(_ request: RecordedRequest, format: Format) -> String {
        let excerpt = String((request.lastUserMessage ?? "").prefix(40))
        if wantsJSON(request, format: format) {
            return JSONValue.object(["echo": .string(excerpt)]).encoded(sorted: true)
        }
        return "Echo: " + excerpt
    }

    static func reply(to request: RecordedRequest, format: Format, overrides: ReplyOverrides) -> Response {
        let json = request.json ?? .null
        var answer = overrides.text ?? defaultAnswer(request, format: format)
        var finish = format == .openAI ? "stop" : "end_turn"
        var stopSequence: JSONValue = .null
        // Stop sequences end the answer where they first occur, as the APIs do.
        let stops = (json[format == .openAI ? "stop" : "stop_sequences"]).map { value -> [String] in
            value.stringValue.map { [$0] } ?? (value.arrayValue ?? []).compactMap(\.stringValue)
        } ?? []
        if let hit = stops.compactMap({ stop in answer.range(of: stop).map { (stop, $0) } }).min(by: { $0.1.lowerBound < $1.1.lowerBound }) {
            answer = String(answer[..<hit.1.lowerBound])
            if format == .anthropic {
                finish = "stop_sequence"
                stopSequence = .string(hit.0)
            }
        }
        var words = answer.split(whereSeparator: \.isWhitespace)
        let maxTokens = json["max_completion_tokens"]?.intValue ?? json["max_tokens"]?.intValue
        if let maxTokens, words.count > maxTokens {
            words = Array(words.prefix(max(0, maxTokens)))
            answer = words.joined(separator: " ")
            finish = format == .openAI ? "length" : "max_tokens"
            stopSequence = .null
        }
        let calls = overrides.toolCalls.enumerated().map { index, call in
            (id: call.id ?? (format == .openAI ? "call_\(request.sequence)_\(index + 1)" : "toolu_\(request.sequence)_\(index + 1)"),
             name: call.name, arguments: call.arguments)
        }
        if !calls.isEmpty {
            finish = format == .openAI ? "tool_calls" : "tool_use"
            stopSequence = .null
            words += calls.flatMap { $0.arguments.encoded().split(whereSeparator: \.isWhitespace) }
        }
        if let override = overrides.finishReason { finish = override }
        let promptBytes = promptParts(of: request).reduce(0) { $0 + $1.utf8.count }
        let prompt = overrides.promptTokens ?? max(1, promptBytes / 4)
        let extra = overrides.billable
        let completion = overrides.completionTokens
            ?? (words.count + calls.count + overrides.reasoningTokens + extra.audioOutputTokens + extra.imageOutputTokens)
        let model = json["model"]?.stringValue ?? ""
        let body: JSONValue
        switch format {
        case .openAI:
            var message: [String: JSONValue] = ["role": "assistant", "content": .string(answer), "refusal": .null]
            if !calls.isEmpty {
                if answer.isEmpty { message["content"] = .null }
                message["tool_calls"] = .array(calls.map { call in
                    ["id": .string(call.id), "type": "function",
                     "function": ["name": .string(call.name), "arguments": .string(call.arguments.encoded(sorted: false))]]
                })
            }
            body = [
                "id": .string("chatcmpl-fake-\(request.sequence)"),
                "object": "chat.completion",
                "created": 1_735_689_600,
                "model": .string(model),
                "system_fingerprint": "fp_fake",
                "choices": [[
                    "index": 0,
                    "message": .object(message),
                    "logprobs": .null,
                    "finish_reason": .string(finish),
                ]],
                "usage": .object(openAIUsage(prompt: prompt, completion: completion, overrides: overrides)),
            ]
        case .anthropic:
            let cacheWrite = overrides.cacheWrite5mTokens + overrides.cacheWrite1hTokens
            body = [
                "id": .string("msg_fake_\(request.sequence)"),
                "type": "message",
                "role": "assistant",
                "model": .string(model),
                "content": .array((calls.isEmpty || !answer.isEmpty ? [["type": "text", "text": .string(answer)]] : [])
                    + calls.map { ["type": "tool_use", "id": .string($0.id), "name": .string($0.name), "input": $0.arguments] }),
                "stop_reason": .string(finish),
                "stop_sequence": stopSequence,
                "usage": [
                    "input_tokens": .int(max(0, prompt - overrides.cachedTokens - cacheWrite)),
                    "cache_creation_input_tokens": .int(cacheWrite),
                    "cache_read_input_tokens": .int(overrides.cachedTokens),
                    "cache_creation": ["ephemeral_5m_input_tokens": .int(overrides.cacheWrite5mTokens),
                                       "ephemeral_1h_input_tokens": .int(overrides.cacheWrite1hTokens)],
                    "output_tokens": .int(completion),
                    "server_tool_use": ["web_search_requests": .int(extra.webSearchRequests), "web_fetch_requests": 0],
                    "service_tier": "standard",
                ],
            ]
        }
        return Response(status: 200, headers: [("content-type", "application/json"), requestIDHeader(request, format: format)],
                        body: Array(body.encoded(sorted: false).utf8))
    }

    static func openAIUsage(prompt: Int, completion: Int, overrides: ReplyOverrides) -> [String: JSONValue] {
        let extra = overrides.billable
        var usage: [String: JSONValue] = [
            "prompt_tokens": .int(prompt),
            "completion_tokens": .int(completion),
            "total_tokens": .int(prompt + completion),
            "prompt_tokens_details": ["cached_tokens": .int(overrides.cachedTokens), "audio_tokens": .int(extra.audioInputTokens),
                                      "image_tokens": .int(extra.imageInputTokens)],
            "completion_tokens_details": ["reasoning_tokens": .int(overrides.reasoningTokens), "audio_tokens": .int(extra.audioOutputTokens),
                                          "image_tokens": .int(extra.imageOutputTokens),
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0],
        ]
        if extra.webSearchRequests > 0 { usage["num_search_queries"] = .int(extra.webSearchRequests) }
        return usage
    }

    // MARK: - Errors

    static func openAIErrorBody(message: String, type: String, code: String?) -> String {
        JSONValue.object(["error": ["message": .string(message), "type": .string(type), "param": .null,
                                    "code": code.map(JSONValue.string) ?? .null]]).encoded(sorted: false)
    }

    static func anthropicErrorBody(type: String, message: String) -> String {
        JSONValue.object(["type": "error", "error": ["type": .string(type), "message": .string(message)]]).encoded(sorted: false)
    }

    static func defaultErrorBody(status: Int, format: Format, model: String?) -> String {
        let model = model ?? "unknown"
        switch format {
        case .openAI:
            switch status {
            case 400: return openAIErrorBody(message: "Invalid request.", type: "invalid_request_error", code: nil)
            case 401: return openAIErrorBody(message: "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key")
            case 403: return openAIErrorBody(message: "You are not allowed to use this model.", type: "invalid_request_error", code: "model_not_allowed")
            case 404: return openAIErrorBody(message: "The model `\(model)` does not exist or you do not have access to it.",
                                             type: "invalid_request_error", code: "model_not_found")
            case 429: return openAIErrorBody(message: "Rate limit reached for \(model) on requests per min (RPM): Limit 500. Please try again later.",
                                             type: "requests", code: "rate_limit_exceeded")
            case 503: return openAIErrorBody(message: "The server is overloaded or not ready yet.", type: "server_error", code: nil)
            default: return openAIErrorBody(message: "The server had an error while processing your request.", type: "server_error", code: nil)
            }
        case .anthropic:
            switch status {
            case 400: return anthropicErrorBody(type: "invalid_request_error", message: "Invalid request.")
            case 401: return anthropicErrorBody(type: "authentication_error", message: "invalid x-api-key")
            case 403: return anthropicErrorBody(type: "permission_error", message: "Your API key does not have permission to use the specified resource.")
            case 404: return anthropicErrorBody(type: "not_found_error", message: "model: \(model)")
            case 413: return anthropicErrorBody(type: "request_too_large", message: "Request exceeds the maximum allowed number of bytes.")
            case 429: return anthropicErrorBody(type: "rate_limit_error", message: "Number of requests has exceeded your rate limit.")
            case 529: return anthropicErrorBody(type: "overloaded_error", message: "Overloaded")
            default: return anthropicErrorBody(type: "api_error", message: "Internal server error")
            }
        }
    }

    static func requestIDHeader(_ request: RecordedRequest, format: Format) -> (String, String) {
        format == .openAI ? ("x-request-id", "req_fake_\(request.sequence)") : ("request-id", "req_fake_\(request.sequence)")
    }

    /// The system text and every message's text (tool calls' arguments and tool results included).
    static func promptParts(of request: RecordedRequest) -> [String] {
        var parts: [String] = []
        if let system = request.json?["system"] { parts.append(text(of: system)) }
        for message in request.json?["messages"]?.arrayValue ?? [] {
            parts.append(text(of: message["content"] ?? .null))
            for call in message["tool_calls"]?.arrayValue ?? [] {
                parts.append((call["function"]?["name"]?.stringValue ?? "") + " " + (call["function"]?["arguments"]?.stringValue ?? ""))
            }
        }
        return parts
    }

    /// The text of a message content or system value: a string, or a list of blocks — `text`,
    /// a `tool_result`'s content, a `tool_use`'s name and input.
    static func text(of content: JSONValue) -> String {
        if let string = content.stringValue { return string }
        return (content.arrayValue ?? []).compactMap { block -> String? in
            switch block["type"]?.stringValue {
            case "tool_result": return text(of: block["content"] ?? .null)
            case "tool_use": return (block["name"]?.stringValue ?? "") + " " + (block["input"] ?? .null).encoded()
            default: return block["text"]?.stringValue
            }
        }.joined(separator: "\n")
    }
}
