import Foundation
import WfloCore
import WfloHTTP
import WfloProviders
import WfloTesting

let openAIKey = "sk-test-OPENAI-secret-123"
let anthropicKey = "sk-ant-test-ANTHROPIC-secret-456"

/// Starts a fake server and a real network client pointed at it (over `transport`, shut down
/// afterwards with the server).
func withFakeProvider<T>(requiredAPIKey: String? = nil, keys: Bool = true, transport: AsyncHTTPTransport = AsyncHTTPTransport(),
                         _ body: (FakeLLMServer, LLMClient) async throws -> T) async throws -> T {
    let server = try await FakeLLMServer.start(requiredAPIKey: requiredAPIKey)
    let endpoints = ProviderEndpoints(openAIBaseURL: server.baseURLOpenAI, openAIKey: keys ? openAIKey : nil,
                                      anthropicBaseURL: server.baseURLAnthropic, anthropicKey: keys ? anthropicKey : nil)
    let client = LLMClient(transport: transport, endpoints: endpoints)
    do {
        let result = try await body(server, client)
        try await transport.shutdown()
        await server.shutdown()
        return result
    } catch {
        try? await transport.shutdown()
        await server.shutdown()
        throw error
    }
}

func request(_ provider: LLMProviderKind, prompt: String = "Outline a brief on solid-state batteries",
             system: String? = nil, maxTokens: Int = 200, json: Bool = false) -> LLMRequest {
    LLMRequest(provider: provider, model: provider == .openai ? "gpt-4o-mini" : "claude-sonnet-4-5", system: system,
               messages: [LLMMessage(role: "user", content: prompt)], maxTokens: maxTokens, jsonResponse: json)
}

func path(_ provider: LLMProviderKind) -> String {
    provider == .openai ? FakeLLMServer.openAIPath : FakeLLMServer.anthropicPath
}

/// Runs `body` and returns the ProviderError it threw (nil when it threw none or another error).
func providerError(_ body: () async throws -> Void) async -> ProviderError? {
    do {
        try await body()
        return nil
    } catch let error as ProviderError {
        return error
    } catch {
        return nil
    }
}

func temporaryFile(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("wflo-\(UUID().uuidString)-\(name)").path
}
