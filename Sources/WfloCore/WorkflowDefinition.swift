import Foundation

/// A place in a workflow file, for error messages (`brief.yaml:12:5`).
public struct SourceLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A parsed, validated workflow: what the executor runs.
public struct WorkflowDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var description: String?
    /// The budget written in the file; `--budget` overrides it.
    public var budget: Money?
    public var inputs: [InputDefinition]
    public var steps: [StepDefinition]
    /// Named outputs of the run, in file order.
    public var outputs: [OutputDefinition]
    /// A `pricing:` block: extra or overriding entries in LiteLLM's format, keyed by model.
    public var pricing: JSONValue?
    /// Gates risky steps for a human decision (`approval_policy:`).
    public var approvalPolicy: ApprovalPolicy?
    /// `cache_namespace:`; cached answers are shared within a namespace. Default: the workflow's name.
    public var cacheNamespace: String?
    /// `egress:`: where http steps may connect (nil: public hosts only). The parser also copies it into each http step.
    public var egress: EgressPolicy?
    /// `circuit_breaker:`: when a failing host's circuit opens. The parser also copies it into each http step.
    public var circuitBreaker: CircuitBreakerSettings?
    /// `timeout:` of the whole run, in seconds from its start: past it, running steps are stopped and the run fails.
    public var timeout: Double?
    /// `tags:`: the run's tags, templates of its inputs (nil: none). Budget scopes select runs by tags.
    public var tags: [String: Template]?
    /// `notify:`: webhooks told of each new approval request of the run (besides the journal's, `wflo notify add`).
    public var notify: [String] = []
    /// `triggers:`: schedules and webhooks that start runs of the deployed workflow (`wflo deploy`).
    public var triggers: [TriggerDefinition] = []
    /// `concurrency:`: how many runs (per key) may go at once across processes; nil: no limit.
    public var concurrency: ConcurrencySettings?

    public init(name: String, description: String? = nil, budget: Money? = nil, inputs: [InputDefinition] = [],
                steps: [StepDefinition], outputs: [OutputDefinition] = [], pricing: JSONValue? = nil,
                approvalPolicy: ApprovalPolicy? = nil, cacheNamespace: String? = nil, egress: EgressPolicy? = nil,
                circuitBreaker: CircuitBreakerSettings? = nil, timeout: Double? = nil, tags: [String: Template]? = nil) {
        self.tags = tags
        self.name = name
        self.description = description
        self.budget = budget
        self.inputs = inputs
        self.steps = steps
        self.outputs = outputs
        self.pricing = pricing
        self.approvalPolicy = approvalPolicy
        self.cacheNamespace = cacheNamespace
        self.egress = egress
        self.circuitBreaker = circuitBreaker
        self.timeout = timeout
    }

    public func step(_ id: String) -> StepDefinition? { steps.first { $0.id == id } }

    /// The run's tags: the file's `tags:` rendered with the run's `inputs`, then `given` (`--tag`),
    /// which win over the file's.
    public func runTags(inputs: JSONValue, given: [String: String] = [:]) -> [String: String] {
        var result: [String: String] = [:]
        for (key, template) in tags ?? [:] {
            result[key] = template.renderText { path in
                guard path.count == 2, path[0] == "inputs" else { return .null }
                return inputs.objectValue?[path[1]] ?? .null
            }
        }
        return result.merging(given) { _, new in new }
    }

    /// For each step a `switch` routes to, the id of that switch: the step waits for it and runs
    /// only when its case is chosen.
    public var routes: [String: String] {
        var routes: [String: String] = [:]
        for step in steps {
            guard case .switch(let s) = step.kind else { continue }
            for target in s.targets where routes[target] == nil { routes[target] = step.id }
        }
        return routes
    }

    /// The steps `step` waits for: its own dependencies plus the switch that routes to it.
    /// `routes` is this workflow's ``routes``, worked out once by the caller for all its steps.
    public static func dependencies(of step: StepDefinition, routes: [String: String]) -> [String] {
        var ids = step.allDependencies
        if let router = routes[step.id], !ids.contains(router) { ids.append(router) }
        return ids
    }
}

public struct OutputDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var value: TemplateValue
    public init(name: String, value: TemplateValue) {
        self.name = name
        self.value = value
    }
}

public enum InputType: String, Sendable, Hashable, Codable, CaseIterable {
    case string, number, integer, boolean, array, object
}

public struct InputDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var type: InputType
    public var defaultValue: JSONValue?
    public var description: String?

    public init(name: String, type: InputType = .string, defaultValue: JSONValue? = nil, description: String? = nil) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.description = description
    }

    /// An input with no default must be given on the command line.
    public var isRequired: Bool { defaultValue == nil }
}

/// Temporal-shaped retry policy. Delay before attempt n+1 is
/// `min(initialInterval * backoffCoefficient^(n-1), maximumInterval)`, with jitter,
/// or the provider's `Retry-After` when it says one.
public struct RetryPolicy: Sendable, Hashable, Codable {
    public var initialInterval: Double
    public var backoffCoefficient: Double
    public var maximumInterval: Double
    /// Attempts in all, the first included. 1 means no retry.
    public var maximumAttempts: Int
    /// Error kinds never retried, in addition to the built-in rules.
    public var nonRetryableErrors: [CallErrorKind]

    /// The kinds of a failed call that `retry.non_retryable_errors` may name, as the docs and
    /// the journal spell them.
    public static let errorKinds: [String] = CallErrorKind.allCases.map(\.rawValue)

    /// Whether the workflow asked that a failure of `kind` is never retried.
    public func forbidsRetry(of kind: CallErrorKind) -> Bool { nonRetryableErrors.contains(kind) }

    public init(initialInterval: Double = 1, backoffCoefficient: Double = 2, maximumInterval: Double = 30,
                maximumAttempts: Int = 3, nonRetryableErrors: [CallErrorKind] = []) {
        self.initialInterval = initialInterval
        self.backoffCoefficient = backoffCoefficient
        self.maximumInterval = maximumInterval
        self.maximumAttempts = maximumAttempts
        self.nonRetryableErrors = nonRetryableErrors
    }

    public static let `default` = RetryPolicy()
    public static let none = RetryPolicy(maximumAttempts: 1)

    /// The delay before the attempt after `attempt` (1-based), before jitter.
    public func delay(after attempt: Int) -> Double {
        let raw = initialInterval * pow(backoffCoefficient, Double(max(0, attempt - 1)))
        return min(raw, maximumInterval)
    }

    /// What to do after failed attempt `attempt` (1-based): the one rule for every retry delay.
    ///
    /// The server's asked wait (`Retry-After`, in seconds) when it gave a usable one, else the
    /// back-off with ±20% jitter (`jitter` in 0..<1). The result is always finite, never negative
    /// and never above ``maximumInterval``. A server that asks for more than the run has left
    /// (`remaining` seconds before its deadline, nil without one) gets ``RetryWait/giveUp(_:)``:
    /// waiting could only end in the run's timeout, so the attempt is final.
    public func wait(after attempt: Int, asked: Double?, jitter: Double, remaining: Double?) -> RetryWait {
        let cap = maximumInterval.isFinite ? max(0, maximumInterval) : 0
        if let asked, !asked.isNaN, asked >= 0 {
            if let remaining, asked > remaining {
                return .giveUp("the server asked to wait \(RetryWait.describe(asked)) before retrying, longer than the \(RetryWait.describe(max(0, remaining))) the run has left before its timeout")
            }
            return .wait(min(asked, cap))
        }
        let base = delay(after: attempt)
        let jittered = base * (0.8 + 0.4 * min(max(jitter, 0), 1))
        return .wait(jittered.isFinite ? min(max(0, jittered), cap) : cap)
    }
}

/// The kind of a failed call: what the providers classify an error as (`ProviderError.Kind` is
/// this type) and what `retry.non_retryable_errors` names.
public enum CallErrorKind: String, Sendable, Hashable, Codable, CaseIterable {
    case rateLimited = "rate_limited"
    case quotaExceeded = "quota_exceeded"
    case overloaded
    case server
    case badRequest = "bad_request"
    case authentication
    case permission
    case notFound = "not_found"
    case requestTooLarge = "request_too_large"
    case timeout
    case connection
    case malformedResponse = "malformed_response"
    case notInCassette = "not_in_cassette"
    case missingAPIKey = "missing_api_key"
    /// A cassette file cannot be read, parsed or written.
    case cassette
}

/// The outcome of ``RetryPolicy/wait(after:asked:jitter:remaining:)``.
public enum RetryWait: Sendable, Hashable {
    /// Wait this many seconds (finite, 0 ... maximum_interval), then try again.
    case wait(Double)
    /// Do not retry: the reason, for the step's error.
    case giveUp(String)

    static func describe(_ seconds: Double) -> String {
        seconds > DurationText.maximum ? "more than 100 years" : DurationText.describe(seconds)
    }
}

public enum StepType: String, Sendable, Hashable, Codable, CaseIterable {
    case llm, transform, approval
    case http
    case `switch`, sleep, workflow
    case agent
    case sandbox
    /// A call of an MCP server's tool by an agent (`AGENT/TURN/TOOL`); not a step a workflow lists.
    case mcp
}

/// One step of a workflow.
///
/// Fields most steps leave unset (`retry`, `approval`, `if`, `for_each`) are kept together in
/// one shared box, so a step is 88 bytes rather than 224: a 100,000-step workflow's steps are
/// 9 MB, not 22 (issue 23). They read and write like plain fields, and encode as they always did.
public struct StepDefinition: Sendable, Hashable, Codable {
    public var id: String
    public var dependsOn: [String]
    /// `retry`, `approval`, `condition` and `forEach`; nil when all four are unset.
    private var box: RareBox?
    public var kind: StepKind
    public var location: SourceLocation?
    /// Seconds one attempt may take.
    public var timeout: Double?
    /// `risk: high` steps are gated when the workflow has an `approval_policy`.
    public var risk: StepRisk?
    /// `allow_failure: true`: a failure ends the step `completed` (its output says what failed)
    /// instead of failing the run.
    public var allowFailure: Bool

    /// The fields most steps leave unset.
    private struct Rare: Sendable, Hashable {
        var retry: RetryPolicy?
        var approval: ApprovalSettings?
        var condition: Condition?
        var forEach: ForEachSettings?
    }

    /// Never changed in place (a write makes a new box), so copies of a step may share it; equal
    /// when the fields it holds are.
    private final class RareBox: Sendable, Hashable {
        let fields: Rare
        init(_ fields: Rare) { self.fields = fields }
        static func == (a: RareBox, b: RareBox) -> Bool { a.fields == b.fields }
        func hash(into hasher: inout Hasher) { hasher.combine(fields) }
    }

    private var rare: Rare {
        get { box?.fields ?? Rare() }
        set { box = newValue == Rare() ? nil : RareBox(newValue) }
    }

    public var retry: RetryPolicy? {
        get { rare.retry }
        set { rare.retry = newValue }
    }
    /// `approval: required`: the step waits for a durable human decision before it runs.
    public var approval: ApprovalSettings? {
        get { rare.approval }
        set { rare.approval = newValue }
    }
    /// `if:`: the step runs only when this is true; otherwise it is journaled as skipped.
    public var condition: Condition? {
        get { rare.condition }
        set { rare.condition = newValue }
    }
    /// `for_each:`: the step runs once per item.
    public var forEach: ForEachSettings? {
        get { rare.forEach }
        set { rare.forEach = newValue }
    }

    public init(id: String, dependsOn: [String] = [], retry: RetryPolicy? = nil, timeout: Double? = nil,
                kind: StepKind, approval: ApprovalSettings? = nil, risk: StepRisk? = nil, condition: Condition? = nil,
                forEach: ForEachSettings? = nil, allowFailure: Bool = false, location: SourceLocation? = nil) {
        self.id = id
        self.dependsOn = dependsOn
        self.timeout = timeout
        self.kind = kind
        self.risk = risk
        self.allowFailure = allowFailure
        self.location = location
        self.rare = Rare(retry: retry, approval: approval, condition: condition, forEach: forEach)
    }

    // Coded as when each field was stored on its own (the same JSON, keys in the same order):
    // definitions built in Swift are journaled so.

    private enum CodingKeys: String, CodingKey {
        case id, dependsOn, retry, timeout, kind, approval, risk, condition, forEach, allowFailure, location
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try c.decode(String.self, forKey: .id),
                  dependsOn: try c.decode([String].self, forKey: .dependsOn),
                  retry: try c.decodeIfPresent(RetryPolicy.self, forKey: .retry),
                  timeout: try c.decodeIfPresent(Double.self, forKey: .timeout),
                  kind: try c.decode(StepKind.self, forKey: .kind),
                  approval: try c.decodeIfPresent(ApprovalSettings.self, forKey: .approval),
                  risk: try c.decodeIfPresent(StepRisk.self, forKey: .risk),
                  condition: try c.decodeIfPresent(Condition.self, forKey: .condition),
                  forEach: try c.decodeIfPresent(ForEachSettings.self, forKey: .forEach),
                  allowFailure: try c.decode(Bool.self, forKey: .allowFailure),
                  location: try c.decodeIfPresent(SourceLocation.self, forKey: .location))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(dependsOn, forKey: .dependsOn)
        try c.encodeIfPresent(retry, forKey: .retry)
        try c.encodeIfPresent(timeout, forKey: .timeout)
        try c.encode(kind, forKey: .kind)
        try c.encodeIfPresent(approval, forKey: .approval)
        try c.encodeIfPresent(risk, forKey: .risk)
        try c.encodeIfPresent(condition, forKey: .condition)
        try c.encodeIfPresent(forEach, forKey: .forEach)
        try c.encode(allowFailure, forKey: .allowFailure)
        try c.encodeIfPresent(location, forKey: .location)
    }

    public var type: StepType {
        switch kind {
        case .llm: return .llm
        case .transform: return .transform
        case .approval: return .approval
        case .http: return .http
        case .switch: return .switch
        case .sleep: return .sleep
        case .workflow: return .workflow
        case .agent: return .agent
        case .sandbox: return .sandbox
        case .mcp: return .mcp
        }
    }

    /// Every template in the step's fields.
    public var templates: [Template] {
        switch kind {
        case .llm(let l): return l.templates
        case .transform(let t): return t.output.templates
        case .approval(let a): return [a.message]
        case .http(let h): return h.templates
        case .switch(let s): return [s.value]
        case .sleep(let s): return s.until.map { [$0] } ?? []
        case .workflow(let w): return w.inputs.templates
        case .agent(let a): return a.templates
        case .sandbox(let s): return s.templates
        case .mcp: return []
        }
    }

    /// Steps this one needs finished first: `depends_on` plus every step its templates, its
    /// `if:` and its `for_each:` name.
    public var allDependencies: [String] {
        var ids = dependsOn
        var listed = Set(ids)
        // The condition's references come from its own parse: its text is not a template (a quoted
        // "{{" is a string there).
        let paths = (templates + [forEach?.items].compactMap { $0 }).flatMap(\.references) + (condition?.references ?? [])
        for id in paths.compactMap(Template.stepID(of:)) where listed.insert(id).inserted { ids.append(id) }
        return ids
    }
}

/// Indirect: the kinds' definitions differ in size (an http step's is ~180 bytes, a transform's 8),
/// and inline the largest set every step's size (a 100,000-step workflow held ~40 MB of padding,
/// twice while it was read). Boxed, a step copies its kind by reference.
public indirect enum StepKind: Sendable, Hashable, Codable {
    case llm(LLMStepDefinition)
    case transform(TransformStepDefinition)
    case approval(ApprovalStepDefinition)
    case http(HTTPStepDefinition)
    case `switch`(SwitchStepDefinition)
    case sleep(SleepStepDefinition)
    case workflow(SubWorkflowStepDefinition)
    case agent(AgentStepDefinition)
    case sandbox(SandboxStepDefinition)
    /// An agent's call of an MCP server's tool (built by the agent from the server's tool list).
    case mcp(MCPCallDefinition)

    /// The model a paid step calls, for people and the journal.
    public var model: String? {
        if case .llm(let llm) = self { return llm.model }
        if case .agent(let agent) = self { return agent.model }
        return nil
    }
}

public enum LLMProviderKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// OpenAI-compatible chat completions.
    case openai
    /// Anthropic messages.
    case anthropic
}

public struct LLMMessageTemplate: Sendable, Hashable, Codable {
    public var role: String
    public var content: Template
    public init(role: String, content: Template) {
        self.role = role
        self.content = content
    }
}

/// A server-side web search a call enables: each search is billed per query by the provider.
public struct WebSearchSettings: Sendable, Hashable, Codable {
    /// The most searches one call may make (Anthropic `max_uses`); what bounds its cost.
    public var maxUses: Int
    /// `low`, `medium` or `high` (OpenAI-format `search_context_size`); nil: the provider's default.
    public var contextSize: String?

    public static let contextSizes = ["low", "medium", "high"]

    public init(maxUses: Int, contextSize: String? = nil) {
        self.maxUses = maxUses
        self.contextSize = contextSize
    }
}

public struct LLMStepDefinition: Sendable, Hashable, Codable {
    public var model: String
    /// `openai` or `anthropic`; nil means: from the pricing table's `litellm_provider`.
    public var provider: LLMProviderKind?
    public var baseURL: String?
    public var system: Template?
    public var prompt: Template?
    public var messages: [LLMMessageTemplate]
    /// Always sent; clamped to the model's `max_output_tokens`.
    public var maxTokens: Int
    public var temperature: Double?
    public var stop: [String]
    /// Ask for a JSON object and parse the answer into `output.json`.
    public var jsonResponse: Bool
    /// `cache: true|false`; nil means the default policy (see ``usesCache``).
    public var cache: Bool?
    /// `cache_ttl`: seconds a cached answer stays servable; nil keeps it until cleared.
    public var cacheTTL: Double?
    /// `web_search:`: the provider's server-side web search tool, bounded by `max_uses` (reserved
    /// at the highest search fee × `max_uses` before the call). Nil: no search is enabled.
    public var webSearch: WebSearchSettings?

    public init(model: String, provider: LLMProviderKind? = nil, baseURL: String? = nil, system: Template? = nil,
                prompt: Template? = nil, messages: [LLMMessageTemplate] = [], maxTokens: Int,
                temperature: Double? = nil, stop: [String] = [], jsonResponse: Bool = false, cache: Bool? = nil,
                cacheTTL: Double? = nil, webSearch: WebSearchSettings? = nil) {
        self.webSearch = webSearch
        self.model = model
        self.provider = provider
        self.baseURL = baseURL
        self.system = system
        self.prompt = prompt
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.stop = stop
        self.jsonResponse = jsonResponse
        self.cache = cache
        self.cacheTTL = cacheTTL
    }

    public var templates: [Template] {
        [system, prompt].compactMap { $0 } + messages.map(\.content)
    }

    /// The cache policy, in one place: on by default for `temperature: 0` (the same request
    /// gives the same answer), opt-in otherwise with `cache: true`, off with `cache: false`.
    public var usesCache: Bool { cache ?? (temperature == 0) }
}

public struct TransformStepDefinition: Sendable, Hashable, Codable {
    /// The value the step outputs, built from templates.
    public var output: TemplateValue
    public init(output: TemplateValue) {
        self.output = output
    }
}
