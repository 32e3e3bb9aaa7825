import Foundation
import WfloCore
import WfloDSL
import WfloEngine
import WfloHTTP
import WfloPricing
import WfloProviders

/// `wflo mcp tools FILE STEP`: what an agent step's MCP servers offer, for writing workflows.
/// Stdio servers are started in the sandbox exactly as a run starts them (and stopped after);
/// Streamable HTTP servers are reached under the workflow's and the user's egress policy.
public enum MCPToolService {
    /// - Parameters:
    ///   - inputs: `--input NAME=VALUE` arguments, for templates in the servers' fields.
    /// - Throws: ``AppError`` `.invalidInput` (no such agent step, no MCP servers, a bad input),
    ///   `.configuration` (a server that cannot start, be reached or listed, with why).
    public static func tools(path: String, stepID: String, inputs: [String], pricing: PricingTable,
                             environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> [MCPListedTool] {
        let (definition, _) = try WorkflowLoader.load(path: path, pricing: pricing)
        guard let step = definition.steps.first(where: { $0.id == stepID }) else {
            throw AppError(.invalidInput, "\(path) has no step '\(stepID)' (its agent steps: \(agentIDs(definition).joined(separator: ", ")))")
        }
        guard case .agent(let agent) = step.kind else {
            throw AppError(.invalidInput, "step '\(stepID)' is a \(step.type.rawValue) step, not an agent (its agent steps: \(agentIDs(definition).joined(separator: ", ")))")
        }
        guard !agent.mcpServers.isEmpty else {
            throw AppError(.invalidInput, "agent '\(stepID)' lists no MCP server under its tools (- mcp: {name, command | url})")
        }
        let bound: JSONValue
        do {
            bound = try InputBinder.bind(definition, arguments: inputs, file: nil)
        } catch {
            throw AppError(.invalidInput, "\(error)")
        }
        let userEgress: UserEgressPolicy?
        do {
            userEgress = try EgressFile.load(environment: environment)
                .map { UserEgressPolicy(policy: $0, file: EgressFile.location(environment: environment).path) }
        } catch {
            throw AppError(.configuration, error.description)
        }
        let http = AsyncHTTPStepTransport()
        let secrets = SecretStore(environment: environment, filePath: SecretStore.defaultPath(environment: environment))
        let mcp = MCPEnvironment(http: http, secrets: secrets, userEgress: userEgress)
        do {
            let tools = try await MCPToolListing.tools(of: agent, inputs: bound, environment: mcp)
            try? await http.shutdown()
            return tools
        } catch let error as EngineError {
            try? await http.shutdown()
            throw AppError(.configuration, error.message)
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private static func agentIDs(_ definition: WorkflowDefinition) -> [String] {
        let ids = definition.steps.filter { $0.type == .agent }.map(\.id)
        return ids.isEmpty ? ["none"] : ids
    }
}
