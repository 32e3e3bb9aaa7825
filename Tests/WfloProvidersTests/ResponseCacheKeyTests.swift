import Testing
import WfloCore
import WfloProviders

/// Every field that changes the answer changes the key; nothing else does; no secret in clear.
@Suite struct ResponseCacheKeyTests {
    static let base = LLMRequest(provider: .openai, model: "gpt-4o-mini", system: "Be brief.",
                                 messages: [LLMMessage(role: "user", content: "Hi")], maxTokens: 50, temperature: 0,
                                 stop: ["END"], jsonResponse: false)
    static let url = "https://api.openai.com/v1"

    static func key(_ request: LLMRequest = base, url: String = url, namespace: String = "ns") -> String {
        ResponseCache.key(for: request, baseURL: url, namespace: namespace)
    }

    @Test func identicalRequestsShareAKey() {
        #expect(Self.key() == Self.key())
        #expect(Self.key().count == 64)
        #expect(Self.key().allSatisfy { $0.isHexDigit })
    }

    @Test(arguments: ["provider", "model", "system", "no system", "content", "role", "extra message", "max_tokens",
                      "temperature", "no temperature", "stop", "json", "base url", "namespace"])
    func changingOneFieldMisses(field: String) {
        var r = Self.base
        var url = Self.url
        var namespace = "ns"
        switch field {
        case "provider": r.provider = .anthropic
        case "model": r.model = "gpt-4o"
        case "system": r.system = "Be long."
        case "no system": r.system = nil
        case "content": r.messages[0].content = "Hi!"
        case "role": r.messages[0].role = "assistant"
        case "extra message": r.messages.append(LLMMessage(role: "user", content: ""))
        case "max_tokens": r.maxTokens = 51
        case "temperature": r.temperature = 0.1
        case "no temperature": r.temperature = nil
        case "stop": r.stop = []
        case "json": r.jsonResponse = true
        case "base url": url = "https://example.com/v1"
        default: namespace = "other"
        }
        #expect(Self.key(r, url: url, namespace: namespace) != Self.key(), "changing \(field) kept the key")
    }

    @Test func credentialsInTheEndpointNeverEnterTheKey() {
        #expect(Self.key(url: "https://user:s3cret@api.openai.com/v1") == Self.key())
    }

    @Test func onlyCompleteAnswersAreCacheable() {
        func response(_ finish: String) -> LLMResponse {
            LLMResponse(id: "1", model: "m", text: "t", finishReason: finish, usage: TokenUsage(inputTokens: 1, outputTokens: 1), json: nil)
        }
        #expect(ResponseCache.isCacheable(response("stop")))
        #expect(ResponseCache.isCacheable(response("end_turn")))
        #expect(!ResponseCache.isCacheable(response("length")))
        #expect(!ResponseCache.isCacheable(response("max_tokens")))
        #expect(!ResponseCache.isCacheable(response("content_filter")))
        let stored = ResponseCache.encode(response("stop"))
        #expect(ResponseCache.decode(stored) == response("stop"))
        #expect(ResponseCache.decode(["text": "x"]) == nil)
    }
}
