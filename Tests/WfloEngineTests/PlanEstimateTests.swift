import Testing
import WfloCore
import WfloDSL
import WfloEngine

/// `wflo validate`'s plan: an agent's priced MCP tool calls count in its worst case.
@Suite struct PlanEstimateTests {
    static func agent(price: String, tools: String = "", forEach: String = "") -> String {
        """
        name: plan
        inputs:
          cities: {type: array, default: [a, b, c]}
          later: {type: array}
        steps:
          - id: researcher
            type: agent
            model: gpt-4o-mini
        \(forEach)
            task: "Find it."
            max_turns: 4
            max_tool_calls: 5
            max_tokens: 300
            tools:
              - mcp:
                  name: cities
                  command: ["python3", "server.py"]
        \(tools)
                  price_per_call: \(price)
        """
    }

    static func estimate(_ yaml: String) throws -> StepEstimate {
        let definition = try WorkflowParser().parse(yaml: yaml, file: "plan.yaml")
        let estimates = PlanEstimate.paidSteps(of: definition, pricing: shippedPricing)
        return try #require(estimates.first)
    }

    @Test func aFlatPriceIsChargedForEveryToolCallTheAgentMayMake() throws {
        let step = try Self.estimate(Self.agent(price: "0.01"))
        let perCall = try #require(step.perCall)
        #expect(step.calls == 4)
        #expect(step.perToolCall == Money(string: "0.01"))
        #expect(step.toolCalls == 5)
        #expect(step.total == perCall * 4 + Money(string: "0.05")!)
    }

    @Test func perToolPricesUseTheDearestToolTheAgentMayCall() throws {
        // Every tool listed or not: the default is the dearest.
        let any = try Self.estimate(Self.agent(price: "{search: 0.02, default: 0.03}"))
        #expect(any.perToolCall == Money(string: "0.03"))
        // Only `search` is allowed: its price, not the default's.
        let allowed = try Self.estimate(Self.agent(price: "{search: 0.02, default: 0.03}", tools: "          tools: [search]"))
        #expect(allowed.perToolCall == Money(string: "0.02"))
        // Free tools add nothing.
        let free = try Self.estimate(Self.agent(price: "{lookup: 0, default: 0.5}", tools: "          tools: [lookup]"))
        #expect(free.perToolCall == nil)
        #expect(free.total == free.perCall.map { $0 * 4 })
    }

    @Test func forEachItemsMultiplyToolCallsLikeModelCalls() throws {
        let step = try Self.estimate(Self.agent(price: "0.01", forEach: "    for_each: \"{{inputs.cities}}\""))
        #expect(step.calls == 12)
        #expect(step.toolCalls == 15)
        let unknown = try Self.estimate(Self.agent(price: "0.01", forEach: "    for_each: \"{{inputs.later}}\""))
        #expect(unknown.toolCalls == nil)
        #expect(unknown.total == nil)
    }
}
