import Foundation
import Testing
import WfloCore
import WfloHTTP
import WfloProviders
import WfloTesting

@Suite(.timeLimit(.minutes(1)))
struct LLMClientTests {
    @Test func openAIAnswerEchoesPromptWithUsageFromTheWire() async throws {
        try await withFakeProvider { server, client in
            let response = try await client.complete(request(.openai, system: "Be brief."), timeout: .seconds(10))
            #expect(response.text == "Echo: Outline a brief on solid-state batteries")
            #expect(response.finishReason == "stop")
            #expect(response.id == "chatcmpl-fake-1")
            #expect(response.model == "gpt-4o-mini")
            let promptBytes = "Be brief.".utf8.count + "Outline a brief on solid-state batteries".utf8.count
            #expect(response.usage == TokenUsage(inputTokens: promptBytes / 4, outputTokens: 7))
            #expect(response.json == nil)
            #expect(server.requestCount == 1)
        }
    }

    @Test func anthropicAnswerEchoesPromptWithEndTurn() async throws {
        try await withFakeProvider { _, client in
            let response = try await client.complete(request(.anthropic, prompt: "Write the brief"), timeout: .seconds(10))
            #expect(response.text == "Echo: Write the brief")
            #expect(response.finishReason == "end_turn")
            #expect(response.id == "msg_fake_1")
            #expect(response.usage == TokenUsage(inputTokens: 3, outputTokens: 4))
        }
    }

    @Test func openAIUsageKeepsCachedAndReasoningTokens() async throws {
        try await withFakeProvider { server, client in
            server.enqueue(.reply(promptTokens: 1200, completionTokens: 300, cachedTokens: 1024, reasoningTokens: 128))
            let response = try await client.complete(request(.openai), timeout: .seconds(10))
            #expect(response.usage == TokenUsage(inputTokens: 1200, cachedInputTokens: 1024, outputTokens: 300, reasoningTokens: 128))
        }
    }

    @Test(arguments: [(1000, 0), (0, 700), (600, 400)])
    func anthropicInputTokensIncludeCacheReadsAndWrites(write5m: Int, write1h: Int) async throws {
        try await withFakeProvider { server, client in
            // The server reports input_tokens = 5050 - 4000 - writes, as Anthropic does.
            server.enqueue(.reply(promptTokens: 5050, completionTokens: 200, cachedTokens: 4000,
                                  cacheWrite5mTokens: write5m, cacheWrite1hTokens: write1h))
            let response = try await client.complete(request(.anthropic), timeout: .seconds(10))
            #expect(response.usage == TokenUsage(inputTokens: 5050, cachedInputTokens: 4000, cacheWriteTokens: write5m,
                                                 cacheWrite1hTokens: write1h, outputTokens: 200))
        }
    }

    @Test(arguments: LLMProviderKind.allCases)
    func jsonResponseIsParsed(provider: LLMProviderKind) async throws {
        try await withFakeProvider { server, client in
            let response = try await client.complete(request(provider, prompt: "Give facts", json: true), timeout: .seconds(10))
            #expect(response.json == ["echo": "Give facts"])
            let sent = try #require(server.requests().first?.json)
            switch provider {
            case .openai: #expect(sent["response_format"] == ["type": "json_object"])
            case .anthropic: #expect(sent["system"]?.stringValue?.contains("JSON") == true)
            }
        }
    }

    @Test func jsonResponseThatIsNotJSONLeavesJSONNil() async throws {
        try await withFakeProvider { server, client in
            server.enqueue(.reply(text: "sorry, no"))
            let response = try await client.complete(request(.openai, json: true), timeout: .seconds(10))
            #expect(response.text == "sorry, no")
            #expect(response.json == nil)
        }
    }

    @Test(arguments: [(LLMProviderKind.openai, "length"), (.anthropic, "max_tokens")])
    func answerLongerThanMaxTokensIsCut(provider: LLMProviderKind, reason: String) async throws {
        try await withFakeProvider { _, client in
            let response = try await client.complete(request(provider, maxTokens: 2), timeout: .seconds(10))
            #expect(response.text == "Echo: Outline")
            #expect(response.finishReason == reason)
            #expect(response.usage.outputTokens == 2)
        }
    }

    @Test func openAIRequestCarriesBearerKeyAndMaxTokensAndTheEncodedBody() async throws {
        try await withFakeProvider { server, client in
            var call = request(.openai, system: "Be brief.")
            call.temperature = 0.2
            call.stop = ["\n\n"]
            _ = try await client.complete(call, timeout: .seconds(10))
            let sent = try #require(server.requests().first)
            #expect(sent.path == "/v1/chat/completions")
            #expect(sent.method == "POST")
            #expect(sent.header("authorization") == "Bearer \(openAIKey)")
            #expect(sent.header("content-type") == "application/json")
            #expect(sent.header("x-api-key") == nil)
            #expect(Array(sent.bodyText.utf8) == client.encodedBody(call))
            #expect(sent.json?["max_tokens"] == 200)
            #expect(sent.json?["temperature"] == .number("0.2"))
            #expect(sent.json?["stop"] == ["\n\n"])
            #expect(sent.json?["messages"] == [["role": "system", "content": "Be brief."],
                                               ["role": "user", "content": "Outline a brief on solid-state batteries"]])
        }
    }

    @Test func anthropicRequestCarriesKeyVersionAndTopLevelSystem() async throws {
        try await withFakeProvider { server, client in
            var call = request(.anthropic, system: "Be brief.", maxTokens: 300)
            call.stop = ["\n\nHuman:"]
            _ = try await client.complete(call, timeout: .seconds(10))
            let sent = try #require(server.requests().first)
            #expect(sent.path == "/v1/messages")
            #expect(sent.header("x-api-key") == anthropicKey)
            #expect(sent.header("anthropic-version") == "2023-06-01")
            #expect(sent.header("authorization") == nil)
            #expect(Array(sent.bodyText.utf8) == client.encodedBody(call))
            #expect(sent.json?["max_tokens"] == 300)
            #expect(sent.json?["system"] == "Be brief.")
            #expect(sent.json?["stop_sequences"] == ["\n\nHuman:"])
            #expect(sent.json?["messages"] == [["role": "user", "content": "Outline a brief on solid-state batteries"]])
        }
    }

    @Test(arguments: ["", "/v1", "/v1/"])
    func anthropicBaseURLWithOrWithoutV1ReachesMessages(suffix: String) async throws {
        try await withFakeProvider { server, client in
            var call = request(.anthropic)
            call.baseURL = server.baseURLAnthropic + suffix
            _ = try await client.complete(call, timeout: .seconds(10))
            #expect(server.requests().map(\.path) == ["/v1/messages"])
        }
    }

    @Test func requestBaseURLOverridesTheEndpoint() async throws {
        let server = try await FakeLLMServer.start()
        let transport = AsyncHTTPTransport()
        let client = LLMClient(transport: transport, endpoints: ProviderEndpoints(openAIBaseURL: "http://127.0.0.1:1/v1", openAIKey: openAIKey))
        var call = request(.openai)
        call.baseURL = server.baseURLOpenAI
        let response = try await client.complete(call, timeout: .seconds(10))
        #expect(response.finishReason == "stop")
        #expect(server.requestCount == 1)
        try await transport.shutdown()
        await server.shutdown()
    }

    @Test(arguments: LLMProviderKind.allCases)
    func missingAPIKeyFailsBeforeAnyTraffic(provider: LLMProviderKind) async throws {
        try await withFakeProvider(keys: false) { server, client in
            let error = await providerError { _ = try await client.complete(request(provider), timeout: .seconds(10)) }
            #expect(error?.kind == .missingAPIKey)
            #expect(error?.isRetryable == false)
            #expect(error?.message.contains(provider == .openai ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY") == true)
            #expect(server.requestCount == 0)
        }
    }

    @Test func encodedBodyIsStableAndAlwaysHasMaxTokens() {
        let client = LLMClient(transport: ReplayTransportStub(), endpoints: ProviderEndpoints())
        let call = request(.anthropic, maxTokens: 17)
        #expect(client.encodedBody(call) == client.encodedBody(call))
        let body = try? JSONValue.parse(Data(client.encodedBody(call)))
        #expect(body?["max_tokens"] == 17)
    }

    @Test func endpointsComeFromTheEnvironmentWithDefaults() {
        let defaults = ProviderEndpoints.fromEnvironment([:])
        #expect(defaults.openAIBaseURL == "https://api.openai.com/v1")
        #expect(defaults.anthropicBaseURL == "https://api.anthropic.com")
        #expect(defaults.openAIKey == nil && defaults.anthropicKey == nil)
        let set = ProviderEndpoints.fromEnvironment(["OPENAI_BASE_URL": "http://x/v1", "OPENAI_API_KEY": "k1",
                                                     "ANTHROPIC_BASE_URL": "http://y", "ANTHROPIC_API_KEY": ""])
        #expect(set.openAIBaseURL == "http://x/v1")
        #expect(set.openAIKey == "k1")
        #expect(set.anthropicBaseURL == "http://y")
        #expect(set.anthropicKey == nil)
    }
}

/// A transport that must never be called.
struct ReplayTransportStub: HTTPTransport {
    func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        Issue.record("no request expected")
        throw ProviderError(.connection, message: "stub")
    }
}
