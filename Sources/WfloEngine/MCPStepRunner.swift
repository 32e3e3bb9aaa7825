import Foundation
import WfloCore
import WfloProviders

/// Runs an agent's call of an MCP server's tool (`AGENT/TURN/TOOL`, kind ``StepKind/mcp(_:)``)
/// through the one attempt driver: the approval gate (the server's `approval:`, the workflow's
/// policy), the reservation of `price_per_call` against the run's, the agent's and every
/// enclosing budget before anything is sent, the call, the settlement (the price, or the cost
/// the server reports with `cost_from: server`), the journal. Replayed on resume like any tool
/// call: a journaled result is never asked for again.
extension StepRunner {
    func runMCP(_ step: StepDefinition, _ call: MCPCallDefinition, scope: TemplateScope, firstAttempt: Int) async throws -> StepOutcome {
        let started = configuration.now()
        guard let pool = mcp else {
            return try await recordFailure(step, message: "an MCP tool call runs only inside its agent's loop", at: started)
        }
        let redactor = configuration.secrets.redactor
        let arguments = scope.args ?? .object([:])
        let shownArguments = redactor.redact(arguments)
        var details: [String: JSONValue] = ["type": "mcp", "server": .string(call.server), "tool": .string(call.tool),
                                            "arguments": shownArguments]
        if let price = call.price { details["price_usd"] = .string(price.description) }
        let gate = GateRequest(details: details, worstCase: call.price,
                               preview: "MCP tool \(call.server).\(call.tool) with \(shownArguments.encoded(sorted: true))")
        // A tool may act on the world: retried only when the step says so.
        let policy = step.retry ?? .none
        let timeout = step.timeout ?? MCPServerDefinition.defaultTimeout
        let reserved = call.price ?? .zero
        let offer = AttemptOffer<StepOutcome>(model: nil, worstCase: reserved) { attempt in
            let result: MCPToolResult
            do {
                result = try await pool.call(server: call.server, tool: call.tool, arguments: arguments, timeout: timeout)
            } catch let error as MCPError {
                let suffix = attempt > 1 ? " (after \(attempt) attempts)" : ""
                switch error.kind {
                case .server, .malformed:
                    return .failed(AttemptFailure(message: "mcp \(call.server).\(call.tool): \(error.message)", retryable: false))
                case .timeout, .connection:
                    // The request may have reached the server: a paid call stays charged at its price.
                    return .failed(AttemptFailure(message: "mcp \(call.server).\(call.tool): \(error.message)", retryable: true,
                                                  unanswered: call.price != nil, finalSuffix: suffix))
                }
            } catch let error as ProviderError {
                return .failed(AttemptFailure(message: "mcp \(call.server).\(call.tool): \(error.description)", retryable: false))
            } catch let error as EngineError {
                return .failed(AttemptFailure(message: error.message, retryable: false))
            }
            let charge = call.charge(reported: result.reportedCost)
            var fields: [String: JSONValue] = ["server": .string(call.server), "tool": .string(call.tool), "content": .string(result.text),
                                               "is_error": .bool(result.isError), "cost_usd": .string(charge.cost.description)]
            if let structured = result.structured { fields["structured"] = structured }
            let output = redactor.redact(JSONValue.object(fields))
            return .settled(.completed(output), AttemptCharge(cost: charge.cost, flags: charge.flags, output: output))
        }
        return try await driver.runStep(step, startedAt: started, gate: gate) {
            .attempts(AttemptPlan(stepID: step.id, stepType: .mcp, policy: policy, firstAttempt: firstAttempt, paid: call.price != nil,
                                  offer: offer))
        }
    }
}
