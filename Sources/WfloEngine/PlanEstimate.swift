import Foundation
import WfloCore
import WfloPricing

/// What can be known of a workflow's cost before it runs (`wflo validate`): each paid step's
/// worst case, priced as the governor prices it (input bounded from the request's bytes, output
/// by `max_tokens` clamped to the model's limit), from the step as written. Templates are not yet
/// filled, so the input part is a lower bound; the output part, usually most of it, is exact.
public struct StepEstimate: Sendable, Hashable {
    public var stepID: String
    public var type: StepType
    public var model: String
    /// One call's worst case; nil when the model cannot be priced (``problem`` says why).
    public var perCall: Money?
    /// Calls at most: an agent's `max_turns` times the `for_each` items; nil when the items are
    /// known only at run time.
    public var calls: Int?
    /// `max_tokens` as written, and the model's `max_output_tokens` when it is lower (wflo sends
    /// the model's limit then).
    public var maxTokens: Int
    public var modelLimit: Int?
    public var problem: String?
    public var location: SourceLocation?
    /// An agent's priced MCP tool calls: the highest `price_per_call` among the tools it may call
    /// (nil: its tools are free), and how many calls at most — `max_tool_calls` times the
    /// `for_each` items; nil when the items are known only at run time.
    public var perToolCall: Money? = nil
    public var toolCalls: Int? = nil

    /// The step's worst case in all — model calls plus priced tool calls —, when the number of
    /// calls is known.
    public var total: Money? {
        guard let perCall, let calls else { return nil }
        guard let perToolCall else { return perCall * calls }
        guard let toolCalls else { return nil }
        return perCall * calls + perToolCall * toolCalls
    }
}

public enum PlanEstimate {
    /// The paid steps (`llm` and `agent`, with or without `for_each`) of `definition`, in file order.
    public static func paidSteps(of definition: WorkflowDefinition, pricing: PricingTable) -> [StepEstimate] {
        definition.steps.compactMap { estimate($0, definition: definition, pricing: pricing) }
    }

    static func estimate(_ step: StepDefinition, definition: WorkflowDefinition, pricing: PricingTable) -> StepEstimate? {
        let model: String, maxTokens: Int, texts: [String], turns: Int
        switch step.kind {
        case .llm(let llm):
            model = llm.model
            maxTokens = llm.maxTokens
            texts = llm.templates.map(\.source)
            turns = 1
        case .agent(let agent):
            model = agent.model
            maxTokens = agent.maxTokens
            texts = agent.templates.map(\.source) + agent.tools.map { $0.name + $0.description + $0.parameters.encoded(sorted: true) }
            turns = agent.maxTurns
        default:
            return nil
        }
        var estimate = StepEstimate(stepID: step.id, type: step.type, model: model, perCall: nil, calls: nil, maxTokens: maxTokens,
                                    modelLimit: nil, problem: nil, location: step.location)
        let instances = step.forEach.map { itemCount($0.items, definition: definition) } ?? 1
        estimate.calls = instances.map { $0 * turns }
        if case .agent(let agent) = step.kind {
            estimate.perToolCall = agent.mcpServers.compactMap { $0.price.highest(allowed: $0.allowedTools) }.max()
            if estimate.perToolCall != nil { estimate.toolCalls = instances.map { $0 * agent.maxToolCalls } }
        }
        do {
            let price = try pricing.price(for: model)
            var sent = maxTokens
            if let limit = price.maxOutputTokens, limit > 0, limit < maxTokens {
                estimate.modelLimit = limit
                sent = limit
            }
            // The request as written: its texts plus the JSON framing of a chat body.
            let bytes = texts.reduce(model.utf8.count + 64) { $0 + $1.utf8.count + 32 }
            let shape = RequestShape(bodyBytes: bytes, messageCount: max(1, texts.count), maxTokens: sent)
            estimate.perCall = try pricing.worstCase(model: model, request: shape).cost
        } catch {
            estimate.problem = "\(error)"
        }
        return estimate
    }

    /// How many items a `for_each` has when its items come from literals and input defaults only.
    static func itemCount(_ items: Template, definition: WorkflowDefinition) -> Int? {
        struct Unknown: Error {}
        let value = try? items.render { path -> JSONValue in
            guard path.count >= 2, path[0] == "inputs",
                  var value = definition.inputs.first(where: { $0.name == path[1] })?.defaultValue else { throw Unknown() }
            for key in path.dropFirst(2) {
                guard let next = value[key] else { throw Unknown() }
                value = next
            }
            return value
        }
        return value?.arrayValue?.count
    }
}
