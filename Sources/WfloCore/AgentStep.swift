import Foundation

/// An `agent` step: a model that calls tools, turn after turn, until it gives its final answer
/// — under the run's budget (each turn reserves its worst case first), its own `budget`,
/// `max_turns` and `max_tool_calls`, and the approval policy (each tool call passes the gate).
///
/// ```yaml
/// - id: researcher
///   type: agent
///   model: gpt-4o-mini
///   system: "You are a careful researcher."
///   task: "Find the population of {{inputs.city}} and double it."
///   max_turns: 6
///   max_tokens: 300            # per model turn
///   fallback_models: [gpt-4.1-nano]
///   tools:
///     - name: fetch_page
///       description: "Fetch a page of the city wiki"
///       parameters: {type: object, properties: {path: {type: string}}, required: [path]}
///       type: http
///       url: "http://127.0.0.1:{{inputs.port}}/page/{{args.path}}"
/// ```
///
/// The step's output: `text` (the final answer), `result` (the arguments of `finish`, or null),
/// `status`, `turns`, `tool_calls`, `model` (of the last turn), `cost_usd`, `usage`.
public struct AgentStepDefinition: Sendable, Hashable, Codable {
    public var model: String
    /// `openai` or `anthropic`; nil means: from the pricing table's `litellm_provider`.
    public var provider: LLMProviderKind?
    public var baseURL: String?
    public var system: Template?
    /// The first user message.
    public var task: Template
    /// Tools in the order the model is shown them (built-ins included).
    public var tools: [AgentTool]
    /// Model turns at most; the loop ends `max_turns` when the last one still calls tools.
    public var maxTurns: Int
    /// Tool calls at most over all turns.
    public var maxToolCalls: Int
    /// `max_tokens` of every turn (always sent; it bounds each turn's worst case).
    public var maxTokens: Int
    public var temperature: Double?
    /// What the agent's turns and tools may charge in all, within the run's budget.
    public var budget: Money?
    /// Cheaper models to continue on, in order, when the current model's next turn no longer fits.
    public var fallbackModels: [String]
    /// `tools: - mcp: {…}`: servers whose tools are listed when the agent starts and offered after `tools`.
    public var mcpServers: [MCPServerDefinition] = []

    public static let defaultMaxTurns = 10
    public static let defaultMaxToolCalls = 20
    /// A tool's result is cut to this many characters before it goes back to the model: a large
    /// page would otherwise make every later turn expensive.
    public static let maxResultCharacters = 16_000

    public init(model: String, provider: LLMProviderKind? = nil, baseURL: String? = nil, system: Template? = nil,
                task: Template, tools: [AgentTool] = [], maxTurns: Int = AgentStepDefinition.defaultMaxTurns,
                maxToolCalls: Int = AgentStepDefinition.defaultMaxToolCalls, maxTokens: Int, temperature: Double? = nil,
                budget: Money? = nil, fallbackModels: [String] = [], mcpServers: [MCPServerDefinition] = []) {
        self.model = model
        self.provider = provider
        self.baseURL = baseURL
        self.system = system
        self.task = task
        self.tools = tools
        self.maxTurns = maxTurns
        self.maxToolCalls = maxToolCalls
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.budget = budget
        self.fallbackModels = fallbackModels
        self.mcpServers = mcpServers
    }

    /// The templates rendered when the step starts, plus every tool's (a tool's `{{steps.…}}`
    /// references make the agent wait for those steps).
    public var templates: [Template] {
        [system, task].compactMap { $0 } + tools.flatMap(\.templates) + mcpServers.flatMap(\.templates)
    }

    /// The tool named `name`.
    public func tool(_ name: String) -> AgentTool? { tools.first { $0.name == name } }

    /// The models in the order the agent may use them.
    public var models: [String] { [model] + fallbackModels }
}

/// A tool an agent may call: a name, a description and a JSON Schema for its arguments, and
/// what a call does.
public struct AgentTool: Sendable, Hashable, Codable {
    public var name: String
    public var description: String
    /// A JSON Schema object for the arguments.
    public var parameters: JSONValue
    public var action: AgentToolAction

    public init(name: String, description: String, parameters: JSONValue, action: AgentToolAction) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.action = action
    }

    public var templates: [Template] {
        if case .step(let step) = action { return step.templates }
        return []
    }

    /// The built-in tools' names.
    public static let builtInNames = ["finish", "ask_human"]

    /// `finish` as offered when the workflow does not describe it.
    public static let defaultFinish = AgentTool(
        name: "finish", description: "Give your final answer and stop. Call it alone, once you are done.",
        parameters: ["type": "object", "properties": ["answer": ["type": "string", "description": "The final answer."]],
                     "required": ["answer"]],
        action: .finish)

    /// `ask_human` with the default schema.
    public static func askHuman(settings: ApprovalSettings, description: String? = nil, parameters: JSONValue? = nil) -> AgentTool {
        AgentTool(name: "ask_human",
                  description: description ?? "Ask a person a question and wait for the answer (they may also decline).",
                  parameters: parameters ?? ["type": "object",
                                             "properties": ["question": ["type": "string", "description": "What to ask."]],
                                             "required": ["question"]],
                  action: .askHuman(settings))
    }
}

/// What calling a tool does.
public indirect enum AgentToolAction: Sendable, Hashable, Codable {
    /// Runs a step built from the tool's fields (any step type), its templates rendered with
    /// `{{args.NAME}}` bound to the call's arguments. The step's `id` is the tool's name; each
    /// call runs as `AGENT/TURN/NAME` under the same gate, budget and journal as any step.
    case step(StepDefinition)
    /// Ends the loop: its arguments are the structured final answer.
    case finish
    /// Files an approval request with the question; the person's decision and comment are the result.
    case askHuman(ApprovalSettings)
}

/// How an agent's loop ended: its output's `status`.
public enum AgentStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// The model answered without calling a tool, or called `finish`.
    case completed
    /// The next turn fit neither the run's or agent's budget on any allowed model.
    case budgetExceeded = "budget_exceeded"
    /// `max_turns` turns were taken and the model still called tools.
    case maxTurns = "max_turns"
    /// The model asked for more tool calls than `max_tool_calls` allows.
    case maxToolCalls = "max_tool_calls"
    /// A turn failed (the provider's error, after the step's retries).
    case failed
}

/// The journal ids of an agent's turns and tool calls, nested under its step id: turn 3 of
/// `researcher` is `researcher/3`, its call of `fetch_page` is `researcher/3/fetch_page` (a
/// second call of the same tool in that turn `researcher/3/fetch_page#2`).
public enum AgentJournalID {
    public static func turn(agent: String, turn: Int) -> String { "\(agent)/\(turn)" }

    /// Whether a tool name the model wrote can be part of an id (letters, digits, '_', '-').
    public static func isSafe(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }
    }

    public static func toolCall(agent: String, turn: Int, tool: String, occurrence: Int) -> String {
        "\(agent)/\(turn)/\(tool)" + (occurrence > 1 ? "#\(occurrence)" : "")
    }

    /// The outermost of `agents` (journal ids of agent steps) that `stepID` is a turn or tool
    /// call of, at any depth (`sub/researcher/2/fetch_page` belongs to `sub/researcher`).
    public static func agent(of stepID: String, among agents: Set<String>) -> String? {
        if agents.isEmpty { return nil }
        var index = stepID.startIndex
        while let slash = stepID[index...].firstIndex(of: "/") {
            let candidate = String(stepID[..<slash])
            if agents.contains(candidate) { return candidate }
            index = stepID.index(after: slash)
        }
        return nil
    }

    /// The turn number of a turn or tool-call id of `agent`.
    public static func turnNumber(of stepID: String, agent: String) -> Int? {
        guard stepID.hasPrefix(agent + "/") else { return nil }
        return stepID.dropFirst(agent.count + 1).split(separator: "/").first.flatMap { Int($0) }
    }

    /// The tool name of a tool-call id of `agent`, nil for a turn.
    public static func toolName(of stepID: String, agent: String) -> String? {
        guard stepID.hasPrefix(agent + "/") else { return nil }
        let parts = stepID.dropFirst(agent.count + 1).split(separator: "/")
        guard parts.count >= 2 else { return nil }
        return String(parts[1].split(separator: "#").first ?? parts[1])
    }
}
