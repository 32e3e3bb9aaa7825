import Foundation
import WfloCore

extension DefinitionReader {
    static let agentFields = ["model", "provider", "base_url", "system", "task", "tools", "max_turns", "max_tool_calls",
                              "max_tokens", "temperature", "budget", "fallback_models"]
    /// Fields of a tool entry besides those of the step it runs.
    static let toolOwnFields = ["name", "description", "parameters"]
    static let finishToolFields = ["name", "description", "parameters"]
    static let askHumanToolFields = ["name", "description", "parameters", "approvers", "timeout", "on_timeout"]

    /// An `agent` step. Its tools are step definitions read by ``readStep(_:)`` (so a tool may be
    /// a step of any type, with the same checks and messages), or the built-ins `finish` and
    /// `ask_human`.
    mutating func readAgent(_ f: [String: Field], node: Node, id: String) -> StepKind? {
        var ok = true
        let call = readCallSettings(f, node: node, id: id, maxTokensWhy: " (it caps every turn's answer and so its cost)",
                                    maxTokensMissing: "sent with every turn: it bounds each turn's cost")
        ok = ok && call != nil
        let model = call?.model, maxTokens = call?.maxTokens ?? 0
        let provider = call?.provider, baseURL = call?.baseURL, temperature = call?.temperature
        var system: Template?
        if let s = f["system"] {
            system = template(s.value, what: "step '\(id)': 'system'")
            ok = ok && system != nil
        }
        var task: Template?
        if let t = f["task"] {
            task = template(t.value, what: "step '\(id)': 'task'")
            ok = ok && task != nil
        } else {
            error(node, "step '\(id)' is missing the required field 'task' (what the agent must do, e.g. \"Find the population of {{inputs.city}}\")")
            ok = false
        }
        var maxTurns = AgentStepDefinition.defaultMaxTurns
        if let m = f["max_turns"] {
            if let n = positiveInt(m.value, what: "step '\(id)': 'max_turns'", why: " (model turns at most)") { maxTurns = n } else { ok = false }
        }
        var maxToolCalls = AgentStepDefinition.defaultMaxToolCalls
        if let m = f["max_tool_calls"] {
            if let n = positiveInt(m.value, what: "step '\(id)': 'max_tool_calls'", why: " (tool calls at most, over all turns)") {
                maxToolCalls = n
            } else { ok = false }
        }
        var budget: Money?
        if let b = f["budget"] {
            if case .scalar(let scalar) = b.value, let money = Money(string: scalar.string), !money.isNegative, !money.isZero {
                budget = money
            } else {
                error(b.value, "step '\(id)': 'budget' must be an amount in USD above zero such as 0.05 (what the agent may spend in all), not \(shown(b.value))")
                ok = false
            }
        }
        var fallbacks: [String] = []
        if let fb = f["fallback_models"] {
            if case .sequence(let sequence) = fb.value, !sequence.isEmpty {
                for item in sequence {
                    guard let name = readPricedModel(Field(key: fb.key, value: item), id: id, what: "each item of 'fallback_models'") else {
                        ok = false
                        continue
                    }
                    if name == model || fallbacks.contains(name) {
                        error(item, "step '\(id)': 'fallback_models' lists '\(name)' twice (the step's 'model' counts): each model is tried once, in order")
                        ok = false
                    } else {
                        fallbacks.append(name)
                    }
                }
            } else {
                error(fb.value, "step '\(id)': 'fallback_models' must be a non-empty list of models, cheapest last (e.g. [gpt-4o-mini, gpt-4.1-nano]), not \(shown(fb.value))")
                ok = false
            }
        }
        var tools: [AgentTool] = []
        var servers: [MCPServerDefinition] = []
        if let t = f["tools"] {
            if let read = readTools(t.value, agentID: id) { (tools, servers) = read } else { ok = false }
        }
        if !tools.contains(where: { $0.name == "finish" }) { tools.append(.defaultFinish) }
        guard ok, let model, let task else { return nil }
        return .agent(AgentStepDefinition(model: model, provider: provider, baseURL: baseURL, system: system, task: task,
                                          tools: tools, maxTurns: maxTurns, maxToolCalls: maxToolCalls, maxTokens: maxTokens,
                                          temperature: temperature, budget: budget, fallbackModels: fallbacks, mcpServers: servers))
    }

    /// `tools:` — a list of tools, each a step definition with `name`, `description` and
    /// `parameters` (a JSON Schema), or a built-in.
    mutating func readTools(_ node: Node, agentID: String) -> (tools: [AgentTool], servers: [MCPServerDefinition])? {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            error(node, "step '\(agentID)': 'tools' must be a non-empty list of tools, each with 'name', 'description', 'parameters' and a step 'type' (or a built-in: finish, ask_human; or an MCP server: - mcp: {name, command | url})")
            return nil
        }
        var tools: [AgentTool] = []
        var servers: [MCPServerDefinition] = []
        var seen: [String: Node] = [:]
        var ok = true
        for item in sequence {
            if case .mapping(let mapping) = item, let mcp = mapping.first(where: { $0.key.string == "mcp" }) {
                if mapping.count > 1 {
                    error(item, "step '\(agentID)': an MCP server entry holds only 'mcp:' (its fields go under it, indented)")
                    ok = false
                    continue
                }
                guard let server = readMCPServer(mcp.value, agentID: agentID) else { ok = false; continue }
                if let first = seen["mcp:" + server.name] {
                    error(item, "step '\(agentID)': mcp server name '\(server.name)' is used twice (line \(first.mark?.line ?? 1) has it)")
                    ok = false
                    continue
                }
                seen["mcp:" + server.name] = item
                servers.append(server)
                continue
            }
            guard let tool = readTool(item, agentID: agentID) else { ok = false; continue }
            if let first = seen[tool.name] {
                error(item, "step '\(agentID)': tool name '\(tool.name)' is used twice (line \(first.mark?.line ?? 1) has it); tool names must be unique")
                ok = false
                continue
            }
            seen[tool.name] = item
            tools.append(tool)
        }
        return ok ? (tools, servers) : nil
    }

    private mutating func readTool(_ node: Node, agentID: String) -> AgentTool? {
        guard case .mapping(let mapping) = node else {
            error(node, "step '\(agentID)': each tool must be a mapping with 'name', 'description', 'parameters' and 'type', not \(shown(node))")
            return nil
        }
        guard let namePair = mapping.first(where: { $0.key.string == "name" }) else {
            error(node, "step '\(agentID)': a tool is missing the required field 'name' (what the model calls it: letters, digits, '_' and '-')")
            return nil
        }
        guard let name = text(namePair.value, what: "step '\(agentID)': a tool's 'name'") else { return nil }
        let context = "tool '\(name)' of step '\(agentID)'"
        guard (1...64).contains(name.count),
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }) else {
            error(namePair.value, "step '\(agentID)': tool name '\(name)' may use only letters A–Z and a–z, digits, '_' and '-' (at most 64), as the providers require")
            return nil
        }
        var ok = true
        var description = ""
        if let d = mapping.first(where: { $0.key.string == "description" }) {
            if let text = text(d.value, what: "\(context): 'description'") { description = text } else { ok = false }
        }
        var parameters: JSONValue?
        if let p = mapping.first(where: { $0.key.string == "parameters" }) {
            parameters = readToolParameters(p.value, context: context)
            ok = ok && parameters != nil
        }
        let typePair = mapping.first { $0.key.string == "type" }

        if AgentTool.builtInNames.contains(name) {
            if let typePair {
                error(typePair.key, "\(context): '\(name)' is a built-in tool and takes no 'type'; remove 'type', or give your tool another name")
                return nil
            }
            let allowed = name == "finish" ? Self.finishToolFields : Self.askHumanToolFields
            _ = fields(node, allowed: allowed, context: context)
            guard ok else { return nil }
            if name == "finish" {
                var finish = AgentTool.defaultFinish
                if !description.isEmpty { finish.description = description }
                if let parameters { finish.parameters = parameters }
                return finish
            }
            guard let settings = readApprovalSettings(node, allowed: Self.askHumanToolFields, context: context, reportUnknown: false) else {
                return nil
            }
            return AgentTool.askHuman(settings: settings, description: description.isEmpty ? nil : description, parameters: parameters)
        }

        guard let typePair else {
            error(node, "\(context) is missing 'type': the step a call runs (http, llm, transform, approval, …), or name a built-in (finish, ask_human)")
            return nil
        }
        if typePair.value.scalar?.string == StepType.agent.rawValue {
            error(typePair.value, "\(context): a tool cannot be an agent step; give the work to a second agent step that depends on this one")
            return nil
        }
        if let dependsOn = mapping.first(where: { $0.key.string == "depends_on" }) {
            error(dependsOn.key, "\(context): a tool runs when the model calls it, so it takes no 'depends_on' (its {{steps.…}} references make the agent wait instead)")
            return nil
        }
        if let id = mapping.first(where: { $0.key.string == "id" }) {
            error(id.key, "\(context): a tool's 'name' is its id; remove 'id'")
            return nil
        }
        // The tool's own fields out, `id: NAME` in: the rest is a step like any other.
        var pairs: [(key: Node, value: Node)] = [(Node.scalar(Node.Scalar("id", at: namePair.key.mark)), namePair.value)]
        for (key, value) in mapping where !Self.toolOwnFields.contains(key.string ?? "") || key.string == "description" {
            pairs.append((key, value))
        }
        let stepNode = Node.mapping(Node.Mapping(pairs, at: node.mark))
        let outer = sites
        guard let (_, definition) = readStep(stepNode) else { sites = outer; return nil }
        let argNames = parameters?["properties"]?.objectValue.map { Array($0.keys).sorted() }
        var own = sites
        for index in own.indices {
            own[index].allowsArgs = true
            own[index].argNames = argNames
        }
        sites = outer + own
        guard ok, let step = definition else { return nil }
        return AgentTool(name: name, description: description,
                         parameters: parameters ?? ["type": "object", "properties": .object([:])], action: .step(step))
    }

    /// `parameters:` — a JSON Schema object for the call's arguments.
    private mutating func readToolParameters(_ node: Node, context: String) -> JSONValue? {
        guard case .mapping = node else {
            error(node, "\(context): 'parameters' must be a JSON Schema mapping such as {type: object, properties: {path: {type: string}}, required: [path]}, not \(shown(node))")
            return nil
        }
        let schema = YAMLValue.convert(node)
        guard schema["type"]?.stringValue == "object" else {
            error(node, "\(context): 'parameters' must have type: object (the arguments are an object), as in {type: object, properties: {path: {type: string}}}")
            return nil
        }
        if let properties = schema["properties"], properties.objectValue == nil {
            error(node, "\(context): 'parameters.properties' must be a mapping of argument name to schema")
            return nil
        }
        if let required = schema["required"] {
            let names = required.arrayValue?.compactMap(\.stringValue)
            guard let names, names.count == required.arrayValue?.count else {
                error(node, "\(context): 'parameters.required' must be a list of argument names")
                return nil
            }
            let declared = schema["properties"]?.objectValue ?? [:]
            if let missing = names.first(where: { declared[$0] == nil }) {
                error(node, "\(context): 'parameters.required' names '\(missing)', which 'parameters.properties' does not declare")
                return nil
            }
        }
        return schema
    }

    /// What only the whole workflow tells about agents: an agent's `budget` may not pass the
    /// workflow's, and its http tools run under the workflow's `egress:` and `circuit_breaker:`
    /// like any http step.
    mutating func finishAgents(_ list: inout StepsReading, workflowBudget: Money?, egress: EgressPolicy?,
                               circuitBreaker: CircuitBreakerSettings?) {
        for draft in list.drafts {
            guard let index = draft.definitionIndex, case .agent(var agent) = list.definitions[index].kind else { continue }
            var definition = list.definitions[index]
            if let budget = agent.budget, let workflowBudget, budget > workflowBudget {
                error(at: location(draft.budgetMark ?? draft.mark), "step '\(definition.id)': 'budget' \(budget.dollars()) is above the workflow's budget \(workflowBudget.dollars()); an agent's budget is a share of the run's")
            }
            for t in agent.tools.indices {
                guard case .step(var step) = agent.tools[t].action, case .http(var http) = step.kind else { continue }
                http.egress = egress
                http.circuitBreaker = circuitBreaker ?? .default
                step.kind = .http(http)
                agent.tools[t].action = .step(step)
            }
            for s in agent.mcpServers.indices { agent.mcpServers[s].egress = egress }
            definition.kind = .agent(agent)
            list.definitions[index] = definition
        }
    }
}
