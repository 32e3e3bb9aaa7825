import Foundation
import Testing
import WfloCore
import WfloProviders
import WfloTesting

@Suite(.timeLimit(.minutes(1)))
struct ToolCallingTests {
    static let weather = LLMTool(name: "get_weather", description: "Weather of a city",
                                 parameters: ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]])

    @Test(arguments: [LLMProviderKind.openai, .anthropic])
    func readsParallelToolCallsAndSendsTheResultsBackInTheNativeFormat(provider: LLMProviderKind) async throws {
        try await withFakeProvider { server, client in
            server.enqueue(.toolCalls([FakeToolCall(name: "get_weather", arguments: ["city": "Paris"]),
                                       FakeToolCall(name: "get_weather", arguments: ["city": "Lyon"])], text: "Checking both."))
            var first = request(provider, prompt: "Weather in Paris and Lyon?")
            first.tools = [Self.weather]
            let answer = try await client.complete(first, timeout: .seconds(10))
            #expect(answer.finishReason == (provider == .openai ? "tool_calls" : "tool_use"))
            #expect(answer.text == "Checking both.")
            #expect(answer.toolCalls.map(\.name) == ["get_weather", "get_weather"])
            #expect(answer.toolCalls.map { $0.parsedArguments?["city"] } == ["Paris", "Lyon"])
            #expect(answer.usage.outputTokens > 0)

            // Offered in the native shape.
            let sent = try #require(server.requests().first?.json)
            if provider == .openai {
                #expect(sent["tools"]?[0]?["type"] == "function")
                #expect(sent["tools"]?[0]?["function"]?["parameters"]?["required"] == ["city"])
            } else {
                #expect(sent["tools"]?[0]?["input_schema"]?["required"] == ["city"])
            }

            var second = first
            second.messages += [LLMMessage(role: "assistant", content: answer.text, toolCalls: answer.toolCalls),
                                .toolResult(callID: answer.toolCalls[0].id, content: "18°C"),
                                .toolResult(callID: answer.toolCalls[1].id, content: "no such station", isError: true)]
            _ = try await client.complete(second, timeout: .seconds(10))
            let body = try #require(server.requests().last?.json)
            let messages = try #require(body["messages"]?.arrayValue)
            if provider == .openai {
                // user, assistant with tool_calls (arguments as the model's JSON string), one tool message per call.
                #expect(messages.count == 4)
                #expect(messages[1]["tool_calls"]?[1]?["function"]?["arguments"]?.stringValue == answer.toolCalls[1].arguments)
                #expect(messages[1]["tool_calls"]?[0]?["type"] == "function")
                #expect(messages[2]["role"] == "tool" && messages[2]["tool_call_id"]?.stringValue == answer.toolCalls[0].id)
                #expect(messages[3]["tool_call_id"]?.stringValue == answer.toolCalls[1].id)
            } else {
                // user, assistant with text and tool_use blocks, ONE user message with both tool_result blocks.
                #expect(messages.count == 3)
                #expect(messages[1]["content"]?.arrayValue?.map { $0["type"]?.stringValue } == ["text", "tool_use", "tool_use"])
                #expect(messages[1]["content"]?[2]?["input"] == ["city": "Lyon"])
                #expect(messages[2]["role"] == "user")
                #expect(messages[2]["content"]?[0]?["tool_use_id"]?.stringValue == answer.toolCalls[0].id)
                #expect(messages[2]["content"]?[1]?["is_error"] == true)
                #expect(messages[2]["content"]?[0]?["is_error"] == nil)
            }
            #expect(server.requests().last?.toolResults.map(\.content) == ["18°C", "no such station"])
        }
    }

    @Test func theWorstCaseCountsTheProvidersToolFraming() {
        var plain = request(.anthropic)
        #expect(plain.toolOverheadTokens == 0)
        plain.tools = [Self.weather]
        #expect(plain.toolOverheadTokens == 530)
        var openAI = request(.openai)
        openAI.tools = [Self.weather, Self.weather]
        #expect(openAI.toolOverheadTokens == 48)
    }
}
