import Crypto
import Foundation
import WfloCore

/// The exact-match LLM response cache's rules: what goes into a key, and what may be stored.
///
/// The key is SHA-256 over the canonical JSON (keys sorted, numbers as written) of everything
/// that changes the answer: wire format, endpoint, model, system text, messages, max_tokens,
/// temperature, stop sequences, response format, plus the cache namespace and a format version.
/// API keys are never part of a request here, and credentials in an endpoint URL
/// (`https://user:secret@host`) are removed before hashing, so no secret reaches a key in clear.
public enum ResponseCache {
    /// Bumped when the key's contents change, so old entries stop matching instead of lying.
    static let keyVersion = 1

    /// The hex SHA-256 key of `request` sent to `baseURL` in `namespace`.
    public static func key(for request: LLMRequest, baseURL: String, namespace: String) -> String {
        var object: [String: JSONValue] = [
            "v": .int(keyVersion),
            "namespace": .string(namespace),
            "provider": .string(request.provider.rawValue),
            "base_url": .string(withoutCredentials(baseURL)),
            "model": .string(request.model),
            "max_tokens": .int(request.maxTokens),
            "messages": .array(request.messages.map { ["role": .string($0.role), "content": .string($0.content)] }),
            "stop": .array(request.stop.map(JSONValue.string)),
            "response_format": .string(request.jsonResponse ? "json_object" : "text"),
        ]
        object["system"] = request.system.map(JSONValue.string) ?? .null
        object["temperature"] = request.temperature.map { .number(String($0)) } ?? .null
        // A call that searches the web answers differently: never served for one that does not.
        if let search = request.webSearch {
            object["web_search"] = ["max_uses": .int(search.maxUses), "context_size": search.contextSize.map(JSONValue.string) ?? .null]
        }
        let canonical = JSONValue.object(object).encoded(sorted: true)
        return hex(SHA256.hash(data: Data(canonical.utf8)))
    }

    /// Whether an answer may be served again: a complete answer only, never one cut short by
    /// `max_tokens` (or refused by a content filter).
    public static func isCacheable(_ response: LLMResponse) -> Bool {
        ["stop", "end_turn", "stop_sequence"].contains(response.finishReason)
    }

    /// What is stored for a response.
    public static func encode(_ response: LLMResponse) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(response.id), "model": .string(response.model), "text": .string(response.text),
            "finish_reason": .string(response.finishReason), "usage": response.usage.json,
        ]
        object["json"] = response.json ?? .null
        return .object(object)
    }

    /// A stored response, or nil when the stored value is not one (then it is treated as a miss).
    public static func decode(_ value: JSONValue) -> LLMResponse? {
        guard let text = value["text"]?.stringValue, let finish = value["finish_reason"]?.stringValue,
              let usageJSON = value["usage"], let usage = TokenUsage(json: usageJSON) else { return nil }
        var json: JSONValue?
        if let stored = value["json"], stored != .null { json = stored }
        return LLMResponse(id: value["id"]?.stringValue ?? "", model: value["model"]?.stringValue ?? "", text: text,
                           finishReason: finish, usage: usage, json: json)
    }

    static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func withoutCredentials(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }
}

extension LLMClient {
    /// The endpoint `request` goes to.
    public func baseURL(for request: LLMRequest) -> String {
        if let base = request.baseURL { return base }
        switch request.provider {
        case .openai: return endpoints.openAIBaseURL
        case .anthropic: return endpoints.anthropicBaseURL
        }
    }
}
