import Foundation
import Testing
import WfloCore
import WfloHTTP
import WfloProviders
import WfloTesting

@Suite(.timeLimit(.minutes(1)))
struct CassetteTests {
    /// Records `calls` against a fresh fake server (which is shut down afterwards) and returns
    /// the cassette path and the live answers.
    func record(_ calls: [LLMRequest], script: (FakeLLMServer) -> Void = { _ in }) async throws -> (String, [Result<LLMResponse, ProviderError>]) {
        let cassette = temporaryFile("cassette.json")
        let server = try await FakeLLMServer.start()
        script(server)
        let network = AsyncHTTPTransport()
        let recorder = RecordingTransport(wrapping: network, path: cassette)
        let client = LLMClient(transport: recorder, endpoints: ProviderEndpoints(
            openAIBaseURL: server.baseURLOpenAI, openAIKey: openAIKey,
            anthropicBaseURL: server.baseURLAnthropic, anthropicKey: anthropicKey))
        var answers: [Result<LLMResponse, ProviderError>] = []
        for call in calls {
            do {
                answers.append(.success(try await client.complete(call, timeout: .seconds(10))))
            } catch let error as ProviderError {
                answers.append(.failure(error))
            }
        }
        try recorder.save()
        try await network.shutdown()
        await server.shutdown()
        return (cassette, answers)
    }

    func replayClient(_ cassette: String) throws -> LLMClient {
        // Default endpoints (the real providers' hosts) and no keys: replay needs neither.
        LLMClient(transport: try ReplayTransport(path: cassette), endpoints: ProviderEndpoints(), requiresAPIKey: false)
    }

    @Test func replayAnswersLikeTheRecordingWithTheServerGone() async throws {
        let calls = [request(.openai, system: "Be brief."), request(.anthropic, prompt: "Write the brief", json: true)]
        let (cassette, live) = try await record(calls) { server in
            server.enqueue(.reply(promptTokens: 1200, completionTokens: 300, cachedTokens: 1024, reasoningTokens: 128),
                           path: FakeLLMServer.openAIPath)
            server.enqueue(.reply(text: #"{"brief": 1.10}"#, cachedTokens: 2, cacheWrite1hTokens: 1), path: FakeLLMServer.anthropicPath)
        }
        defer { try? FileManager.default.removeItem(atPath: cassette) }
        let client = try replayClient(cassette)
        for (call, recorded) in zip(calls, live) {
            let replayed = try await client.complete(call, timeout: .seconds(1))
            #expect(replayed == (try recorded.get()))
        }
        // Exact numbers survive the file: 1.10 keeps its digits.
        let answer = try await client.complete(calls[1], timeout: .seconds(1))
        #expect(answer.json == ["brief": .number("1.10")])
    }

    @Test func replayServesTheSameExchangeMoreThanOnce() async throws {
        let call = request(.openai)
        let (cassette, live) = try await record([call])
        defer { try? FileManager.default.removeItem(atPath: cassette) }
        let client = try replayClient(cassette)
        for _ in 0..<3 {
            #expect(try await client.complete(call, timeout: .seconds(1)) == (try live[0].get()))
        }
    }

    @Test func repeatedRequestReplaysItsAnswersInRecordedOrder() async throws {
        let call = request(.anthropic)
        let (cassette, live) = try await record([call, call]) { server in
            server.enqueue(.rateLimited(retryAfter: "4"))
        }
        defer { try? FileManager.default.removeItem(atPath: cassette) }
        #expect((try? live[0].get()) == nil)
        let client = try replayClient(cassette)
        let first = await providerError { _ = try await client.complete(call, timeout: .seconds(1)) }
        #expect(first?.kind == .rateLimited)
        #expect(first?.retryAfter == 4)
        #expect(try await client.complete(call, timeout: .seconds(1)) == (try live[1].get()))
        #expect(try await client.complete(call, timeout: .seconds(1)) == (try live[1].get()))
    }

    @Test func requestMissingFromTheCassetteFailsNamingTheModel() async throws {
        let (cassette, _) = try await record([request(.openai)])
        defer { try? FileManager.default.removeItem(atPath: cassette) }
        let client = try replayClient(cassette)
        var other = request(.openai, prompt: "A different prompt")
        other.model = "gpt-4.1"
        let error = await providerError { _ = try await client.complete(other, timeout: .seconds(1)) }
        #expect(error?.kind == .notInCassette)
        #expect(error?.isRetryable == false)
        #expect(error?.message.contains("gpt-4.1") == true)
        #expect(error?.message.contains("/v1/chat/completions") == true)
    }

    @Test func cassetteNeverContainsKeysOrAuthHeaders() async throws {
        let (cassette, _) = try await record([request(.openai), request(.anthropic)])
        defer { try? FileManager.default.removeItem(atPath: cassette) }
        let bytes = try #require(FileManager.default.contents(atPath: cassette))
        let text = String(decoding: bytes, as: UTF8.self).lowercased()
        #expect(!text.isEmpty)
        for secret in [openAIKey, anthropicKey, "secret", "authorization", "x-api-key", "bearer"] {
            #expect(!text.contains(secret.lowercased()), "the cassette contains \(secret)")
        }
    }

    @Test func replayMatchesBodiesByCanonicalJSONNotKeyOrder() async throws {
        let cassette = temporaryFile("hand.json")
        defer { try? FileManager.default.removeItem(atPath: cassette) }
        let file = #"""
        {"version": 1, "exchanges": [{
          "request": {"method": "POST", "url": "https://proxy.example/openai/v1/chat/completions",
                      "body": {"json": {"b": 2, "a": [1, 2.50]}}},
          "response": {"status": 200, "headers": {"content-type": "application/json"}, "body": {"text": "ok"}}}]}
        """#
        try Data(file.utf8).write(to: URL(fileURLWithPath: cassette))
        let replay = try ReplayTransport(path: cassette)
        let response = try await replay.send(HTTPExchange.Request(method: "POST", url: "http://127.0.0.1:9/v1/chat/completions",
                                                                  headers: [], body: Array(#"{"a":[1,2.50],"b":2}"#.utf8)),
                                             timeout: .seconds(1))
        #expect(response.status == 200)
        #expect(response.body == Array("ok".utf8))
    }

    @Test(arguments: ["not json", #"{"version": 2, "exchanges": []}"#])
    func unreadableCassetteIsRefusedNamingTheFile(content: String) throws {
        let cassette = temporaryFile("bad.json")
        defer { try? FileManager.default.removeItem(atPath: cassette) }
        try Data(content.utf8).write(to: URL(fileURLWithPath: cassette))
        let error = #expect(throws: ProviderError.self) { _ = try ReplayTransport(path: cassette) }
        #expect(error?.kind == .cassette)
        #expect(error?.message.contains(cassette) == true)
    }

    @Test func missingCassetteFileIsRefused() {
        #expect(throws: ProviderError.self) { _ = try ReplayTransport(path: "/nonexistent/cassette.json") }
    }
}
