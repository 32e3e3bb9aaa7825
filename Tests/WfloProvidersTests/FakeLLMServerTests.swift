import Foundation
import Testing
import WfloCore
import WfloHTTP
import WfloProviders
import WfloTesting

@Suite(.timeLimit(.minutes(1)))
struct FakeLLMServerTests {
    @Test func promptRuleAffectsOnlyMatchingRequests() async throws {
        try await withFakeProvider { server, client in
            server.on(promptContaining: "facts", .error(status: 500))
            let outline = try await client.complete(request(.openai, prompt: "Outline it"), timeout: .seconds(10))
            let facts = await providerError { _ = try await client.complete(request(.openai, prompt: "List facts"), timeout: .seconds(10)) }
            let again = await providerError { _ = try await client.complete(request(.anthropic, prompt: "More facts"), timeout: .seconds(10)) }
            #expect(outline.text == "Echo: Outline it")
            #expect(facts?.kind == .server)
            #expect(again?.kind == .server)
        }
    }

    @Test func promptRuleWithTimesIsUsedUp() async throws {
        try await withFakeProvider { server, client in
            server.on(promptContaining: "flaky", .error(status: 500), times: 1)
            let first = await providerError { _ = try await client.complete(request(.openai, prompt: "flaky"), timeout: .seconds(10)) }
            let second = try await client.complete(request(.openai, prompt: "flaky"), timeout: .seconds(10))
            #expect(first?.kind == .server)
            #expect(second.text == "Echo: flaky")
        }
    }

    @Test func pathQueueComesBeforeTheSharedQueueAndBothAreConsumedInOrder() async throws {
        try await withFakeProvider { server, client in
            server.enqueue(.reply(text: "shared one"), .reply(text: "shared two"))
            server.enqueue(.reply(text: "anthropic only"), path: FakeLLMServer.anthropicPath)
            let a = try await client.complete(request(.anthropic), timeout: .seconds(10))
            let b = try await client.complete(request(.anthropic), timeout: .seconds(10))
            let c = try await client.complete(request(.openai), timeout: .seconds(10))
            let d = try await client.complete(request(.openai), timeout: .seconds(10))
            #expect([a, b, c, d].map(\.text) == ["anthropic only", "shared one", "shared two", "Echo: Outline a brief on solid-state batteries"])
            #expect(server.requests().map(\.sequence) == [1, 2, 3, 4])
        }
    }

    @Test func shutdownEndsAHungRequestAndWakesWaiters() async throws {
        let server = try await FakeLLMServer.start()
        server.enqueue(.hang)
        let transport = AsyncHTTPTransport()
        let client = LLMClient(transport: transport, endpoints: ProviderEndpoints(openAIBaseURL: server.baseURLOpenAI, openAIKey: openAIKey))
        async let outcome = providerError { _ = try await client.complete(request(.openai), timeout: .seconds(30)) }
        await server.waitForRequests(1)
        #expect(server.requestCount == 1)
        await server.shutdown()
        let error = await outcome
        #expect(error?.kind == .connection)
        await server.waitForRequests(5) // returns at once after shutdown
        try await transport.shutdown()
    }

    @Test func unknownPathGets404AndIsStillRecorded() async throws {
        try await withFakeProvider { server, _ in
            let transport = AsyncHTTPTransport()
            let response = try await transport.send(HTTPExchange.Request(method: "POST", url: server.baseURLAnthropic + "/v1/embeddings?x=1",
                                                                         headers: [.init("content-type", "application/json")],
                                                                         body: Array("{}".utf8)), timeout: .seconds(10))
            try await transport.shutdown()
            #expect(response.status == 404)
            #expect(server.requests().map(\.path) == ["/v1/embeddings"])
        }
    }

    @Test func anthropicRequestWithoutMaxTokensIsRejectedLikeTheRealAPI() async throws {
        try await withFakeProvider { server, _ in
            let transport = AsyncHTTPTransport()
            let body = #"{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}"#
            let response = try await transport.send(HTTPExchange.Request(method: "POST", url: server.baseURLAnthropic + "/v1/messages",
                                                                         headers: [.init("anthropic-version", "2023-06-01")],
                                                                         body: Array(body.utf8)), timeout: .seconds(10))
            try await transport.shutdown()
            #expect(response.status == 400)
            let json = try JSONValue.parse(Data(response.body))
            #expect(json["error"]?["type"] == "invalid_request_error")
            #expect(json["error"]?["message"]?.stringValue?.contains("max_tokens") == true)
        }
    }

    @Test func recordedRequestExposesPromptAndModel() async throws {
        try await withFakeProvider { server, client in
            _ = try await client.complete(request(.anthropic, prompt: "Hello there", system: "Be kind."), timeout: .seconds(10))
            let recorded = try #require(server.requests(path: FakeLLMServer.anthropicPath).first)
            #expect(recorded.model == "claude-sonnet-4-5")
            #expect(recorded.promptText == "Be kind.\nHello there")
            #expect(recorded.lastUserMessage == "Hello there")
        }
    }

    @Test func anthropicStopSequenceEndsTheAnswer() async throws {
        try await withFakeProvider { _, client in
            var call = request(.anthropic, prompt: "one two three")
            call.stop = [" two"]
            let response = try await client.complete(call, timeout: .seconds(10))
            #expect(response.text == "Echo: one")
            #expect(response.finishReason == "stop_sequence")
        }
    }
}
