import Foundation
import WfloCore

/// One request as ``FakeLLMServer`` received it, recorded before it was answered (so a request
/// that hangs, is dropped or fails is recorded too).
public struct RecordedRequest: Sendable, Hashable {
    /// Arrival order, from 1.
    public var sequence: Int
    public var method: String
    /// The URL path without the query, e.g. `/v1/chat/completions`.
    public var path: String
    /// Header names in lower case; repeated headers joined with `", "`.
    public var headers: [String: String]
    public var bodyText: String
    /// The body parsed with `JSONValue.parse` (exact numbers), nil when it is not JSON.
    public var json: JSONValue?

    public init(sequence: Int, method: String, path: String, headers: [String: String], bodyText: String) {
        self.sequence = sequence
        self.method = method
        self.path = path
        self.headers = headers
        self.bodyText = bodyText
        self.json = try? JSONValue.parse(bodyText)
    }

    /// A header's value, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers[name.lowercased()]
    }

    /// The `model` field of the body.
    public var model: String? {
        json?["model"]?.stringValue
    }

    /// The system prompt and every message's text, joined by newlines: what
    /// ``FakeLLMServer/on(promptContaining:_:times:)`` matches against.
    public var promptText: String {
        FakeWire.promptParts(of: self).joined(separator: "\n")
    }

    /// The text of the last message whose role is `user`.
    public var lastUserMessage: String? {
        (json?["messages"]?.arrayValue ?? []).last { $0["role"]?.stringValue == "user" }
            .map { FakeWire.text(of: $0["content"] ?? .null) }
    }

    /// The names of the tools the request offers, in order (either format).
    public var offeredTools: [String] {
        (json?["tools"]?.arrayValue ?? []).compactMap { $0["function"]?["name"]?.stringValue ?? $0["name"]?.stringValue }
    }

    /// Every tool result the request carries, in order: OpenAI `role: tool` messages and
    /// Anthropic `tool_result` blocks, with the call id they answer and whether they are errors.
    public var toolResults: [(callID: String, content: String, isError: Bool)] {
        var results: [(String, String, Bool)] = []
        for message in json?["messages"]?.arrayValue ?? [] {
            if message["role"]?.stringValue == "tool" {
                results.append((message["tool_call_id"]?.stringValue ?? "", FakeWire.text(of: message["content"] ?? .null), false))
            }
            for block in message["content"]?.arrayValue ?? [] where block["type"]?.stringValue == "tool_result" {
                results.append((block["tool_use_id"]?.stringValue ?? "", FakeWire.text(of: block["content"] ?? .null),
                                block["is_error"]?.boolValue ?? false))
            }
        }
        return results
    }
}
