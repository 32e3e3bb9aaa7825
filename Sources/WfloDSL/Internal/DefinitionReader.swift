import Foundation
import WfloCore

/// A template read from the file, with the scalar it was written in.
struct TemplateSite {
    var template: Template
    var node: Node
    /// True for the request fields of http steps, the only place `{{secrets.NAME}}` may appear.
    var allowsSecrets = false
    /// The `item_var` of the step's `for_each:`, when it has one: `{{for_each.NAME}}` and `{{for_each.index}}` may appear.
    var forEachVar: String? = nil
    /// True inside an agent's tool, where `{{args.NAME}}` is the call's argument.
    var allowsArgs = false
    /// The arguments the tool's `parameters` declares; nil when it declares no properties.
    var argNames: [String]? = nil
}

/// A step as far as it could be read: enough to check references and cycles even when one of
/// its fields is wrong, so one mistake does not hide the others.
///
/// A class: every check walks all the drafts, and a walk over structs this large copies each one
/// (a dozen retains a step); over references it is one.
///
/// It keeps places, not the step's mapping: the nodes it holds are scalars (its `depends_on`
/// items, its templates), so a step's composed tree is freed once the step is read
/// (``DefinitionReader/StepsReading``).
final class StepDraft {
    let id: String
    /// Where the step's mapping starts.
    let mark: Mark
    /// Where its id is written.
    let idMark: Mark
    /// Where its definition is in ``DefinitionReader/StepsReading/definitions``; nil when a
    /// field of the step was wrong (a diagnostic says which). The definitions are kept apart,
    /// in the array the workflow's definition takes over, not copied out of the drafts at the end.
    var definitionIndex: Int?
    /// Its templates and `depends_on` items, until what it waits for is resolved (then empty).
    var templates: [TemplateSite]
    var dependsOn: [(id: String, node: Node)]
    /// Once resolved: where the positions of the steps it waits for are in ``DefinitionReader/StepsReading/waitTargets``.
    var waits: Range<Int>?
    /// Where an agent's `budget:` is written (a budget above the workflow's is reported there).
    var budgetMark: Mark?

    init(id: String, mark: Mark, idMark: Mark, templates: [TemplateSite], dependsOn: [(id: String, node: Node)]) {
        self.id = id
        self.mark = mark
        self.idMark = idMark
        self.templates = templates
        self.dependsOn = dependsOn
    }
}

/// One pass over the composed YAML that builds the definition and collects diagnostics.
struct DefinitionReader {
    /// A mapping entry: its key node (for "unknown field" errors) and value node.
    struct Field {
        let key: Node
        let value: Node
    }

    static let topLevelFields = ["name", "description", "budget", "inputs", "steps", "outputs", "pricing", "approval_policy", "cache_namespace",
                                  "egress", "circuit_breaker", "timeout", "tags", "notify", "triggers", "concurrency"]
    static let commonStepFields = ["id", "type", "description", "depends_on", "retry", "timeout", "approval", "risk", "if", "for_each", "allow_failure"]
    static let llmFields = ["model", "provider", "base_url", "system", "prompt", "messages", "max_tokens",
                            "temperature", "stop", "response_format", "cache", "cache_ttl", "web_search"]
    static let transformFields = ["output"]
    static let approvalFields = ["message", "approvers", "on_timeout"]
    static let approvalSettingsFields = ["approvers", "timeout", "on_timeout"]
    static let approvalPolicyFields = ["cost_above", "risk_high", "approvers", "timeout", "on_timeout", "non_get_http"]
    static let httpFields = ["method", "url", "query", "headers", "body", "json", "expect_status", "extract",
                             "follow_redirects", "max_response_bytes", "idempotent", "fallback", "trace_context"]

    /// The fields only steps of `type` have.
    static func fields(of type: StepType) -> [String] {
        switch type {
        case .llm: return llmFields
        case .transform: return transformFields
        case .approval: return approvalFields
        case .http: return httpFields
        case .switch: return switchFields
        case .sleep: return sleepFields
        case .workflow: return workflowFields
        case .agent: return agentFields
        case .sandbox: return sandboxFields
        case .mcp: return []
        }
    }
    static let retryFields = ["initial_interval", "backoff_coefficient", "maximum_interval", "maximum_attempts",
                              "non_retryable_errors"]
    static let inputFields = ["type", "default", "description"]

    let file: String
    let source: SourceText
    let modelCheck: (@Sendable (String) -> String?)?
    private(set) var diagnostics: [Diagnostic] = []
    /// Templates met while reading the current step or output.
    var sites: [TemplateSite] = []
    /// Models the workflow's own `pricing:` block prices; `modelCheck` is not asked about them.
    var pricedInFile: Set<String> = []
    /// The steps read so far while the file is composed; nil when they are read from the composed tree.
    var steps: StepsReading?
    /// Where sub-workflow files are read from.
    let children: WorkflowSources
    /// Resolved paths of the workflows being read, outermost first (this one last): a cycle check.
    let ancestry: [String]

    init(file: String, source: SourceText, modelCheck: (@Sendable (String) -> String?)?, children: WorkflowSources = WorkflowSources(),
         ancestry: [String]? = nil) {
        self.file = file
        self.source = source
        self.modelCheck = modelCheck
        self.children = children
        self.ancestry = ancestry ?? [children.canonical(file)]
    }

    /// Diagnostics in file order (ties keep the order they were found in).
    var sortedDiagnostics: [Diagnostic] {
        diagnostics.enumerated().sorted { a, b in
            (a.element.location.line, a.element.location.column, a.offset)
                < (b.element.location.line, b.element.location.column, b.offset)
        }.map(\.element)
    }

    /// The steps' definitions in file order: the list's own array when every draft has its
    /// definition there in order (a valid workflow), so 100,000 of them are never in memory twice.
    static func definitions(of list: inout StepsReading) -> [StepDefinition] {
        if list.drafts.count == list.definitions.count,
           list.drafts.indices.allSatisfy({ list.drafts[$0].definitionIndex == $0 }) {
            defer { list.definitions = [] }
            return list.definitions
        }
        return list.drafts.compactMap { list.definition(of: $0) }
    }

    // MARK: reporting

    func location(_ node: Node?) -> SourceLocation {
        location(node?.mark)
    }

    func location(_ mark: Mark?) -> SourceLocation {
        SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func error(_ node: Node?, _ message: String) {
        diagnostics.append(Diagnostic(location: location(node), message: message))
    }

    mutating func error(at location: SourceLocation, _ message: String) {
        diagnostics.append(Diagnostic(location: location, message: message))
    }

    /// An error at the character `offset` characters into `node`'s text (found only when reported).
    mutating func error(_ node: Node, offset: Int, _ message: String) {
        error(at: location(of: node, offset: offset), message)
    }

    // MARK: the workflow

    mutating func read(_ root: Node) -> WorkflowDefinition? {
        guard case .mapping = root else {
            error(root, "a workflow must be a mapping with at least 'name' and 'steps'")
            return nil
        }
        let top = fields(root, allowed: Self.topLevelFields, context: "the workflow")

        var name: String?
        if let f = top["name"] {
            name = text(f.value, what: "'name'")
            if name?.isEmpty == true { error(f.value, "'name' must not be empty"); name = nil }
        } else {
            error(root, "the workflow is missing the required field 'name'")
        }
        let description = top["description"].flatMap { text($0.value, what: "'description'") }
        let budget = top["budget"].flatMap { readBudget($0.value) }
        let inputs = top["inputs"].map { readInputs($0.value) } ?? []
        let tags = top["tags"].flatMap { readTags($0.value, inputs: inputs) }
        let triggers = top["triggers"].map { readTriggers($0.value, inputs: inputs) } ?? []
        let concurrency = top["concurrency"].flatMap { readConcurrency($0.value, inputs: inputs) }
        let pricing = top["pricing"].flatMap { readPricing($0.value) }
        var policy = top["approval_policy"].flatMap { readApprovalPolicy($0.value) }
        if let p = policy, let node = top["approval_policy"]?.value { policy = readNonGetHTTP(node, into: p) }
        let notify = top["notify"].map { readNotify($0.value) } ?? []
        let egress = top["egress"].flatMap { readEgress($0.value) }
        let circuitBreaker = top["circuit_breaker"].flatMap { readCircuitBreaker($0.value) }
        var runTimeout: Double?
        if let t = top["timeout"] { runTimeout = duration(t.value, what: "'timeout' (of the whole run)", allowZero: false) }
        var cacheNamespace: String?
        if let f = top["cache_namespace"] {
            cacheNamespace = text(f.value, what: "'cache_namespace'")
            if cacheNamespace?.isEmpty == true { error(f.value, "'cache_namespace' must not be empty"); cacheNamespace = nil }
        }

        var list = StepsReading(defersModelChecks: false)
        if let f = top["steps"] {
            list = readSteps(f.value)
            stampHTTPSettings(&list, egress: egress, circuitBreaker: circuitBreaker)
            finishAgents(&list, workflowBudget: budget, egress: egress, circuitBreaker: circuitBreaker)
        } else {
            error(root, "the workflow is missing the required field 'steps' (a list of steps)")
        }

        var outputs: [OutputDefinition] = []
        var outputSites: [TemplateSite] = []
        if let f = top["outputs"] {
            if case .mapping(let mapping) = f.value {
                for (key, value) in mapping {
                    let outputName = key.string ?? ""
                    sites = []
                    if let v = templateValue(value) { outputs.append(OutputDefinition(name: outputName, value: v)) }
                    outputSites += sites
                }
            } else {
                error(f.value, "'outputs' must be a mapping of NAME: value (templates such as \"{{steps.ID.output.text}}\")")
            }
        }

        checkSwitches(list)
        checkForEachSizes(list, inputs: inputs)
        checkGraph(&list, inputs: inputs, outputSites: outputSites)

        guard let name, diagnostics.isEmpty else { return nil }
        var definition = WorkflowDefinition(name: name, description: description, budget: budget, inputs: inputs,
                                            steps: Self.definitions(of: &list), outputs: outputs, pricing: pricing,
                                            approvalPolicy: policy, cacheNamespace: cacheNamespace, egress: egress,
                                            circuitBreaker: circuitBreaker, timeout: runTimeout, tags: tags)
        definition.triggers = triggers
        definition.concurrency = concurrency
        definition.notify = notify
        return definition
    }

    /// `notify:`: one webhook URL or a list of them, told of each new approval request of the run.
    /// Literal http(s) URLs: a secret webhook belongs in the journal's hooks (`wflo notify add`), not in the file.
    mutating func readNotify(_ node: Node) -> [String] {
        let items: [Node]
        switch node {
        case .scalar: items = [node]
        case .sequence(let sequence): items = Array(sequence)
        default:
            error(node, "'notify' must be a webhook URL or a list of them (https://hooks.slack.com/services/…)")
            return []
        }
        var urls: [String] = []
        for item in items {
            guard let url = text(item, what: "'notify'") else { continue }
            if url.contains("{{") {
                error(item, "'notify' takes literal URLs; keep a secret webhook out of the file with `wflo notify add URL` (every run on the journal uses it)")
            } else if let problem = ApprovalNotification.problem(webhook: url) {
                error(item, "'notify': \(problem)")
            } else {
                urls.append(url)
            }
        }
        return urls
    }

    /// `tags:`: a mapping of KEY: text, each text a template that may use only the run's inputs
    /// (`customer: "{{inputs.customer}}"`), rendered when the run is created. Budget scopes select
    /// runs by these tags.
    mutating func readTags(_ node: Node, inputs: [InputDefinition]) -> [String: Template]? {
        guard case .mapping(let mapping) = node else {
            error(node, "'tags' must be a mapping of KEY: value, such as {team: research, customer: \"{{inputs.customer}}\"}")
            return nil
        }
        var tags: [String: Template] = [:]
        var ok = true
        for (key, value) in mapping {
            guard let name = key.string, !name.isEmpty else {
                error(key, "a tag's name must be non-empty text")
                ok = false
                continue
            }
            guard case .scalar(let scalar) = value, !YAMLValue.isNull(scalar) else {
                error(value, "tag '\(name)' must be text (or a template of inputs), not \(YAMLValue.isNullNode(value) ? "empty" : shown(value))")
                ok = false
                continue
            }
            let text = scalar.string
            let template: Template
            do {
                template = try Template(text)
            } catch let problem as TemplateError {
                error(at: location(of: value, offset: problem.offset), "template: \(problem.message)")
                ok = false
                continue
            } catch {
                self.error(value, "template: \(error)")
                ok = false
                continue
            }
            for path in template.references {
                guard path.count == 2, path[0] == "inputs" else {
                    error(value, "tag '\(name)' may use only the run's inputs ({{inputs.NAME}}), not {{\(path.joined(separator: "."))}}: tags are set when the run starts")
                    ok = false
                    continue
                }
                if !inputs.contains(where: { $0.name == path[1] }) {
                    error(value, "tag '\(name)' uses {{inputs.\(path[1])}}, but the workflow declares no input '\(path[1])' under 'inputs'")
                    ok = false
                }
            }
            tags[name] = template
        }
        return ok ? tags : nil
    }

    /// Budget from the scalar's text (never through `Double`), plain or quoted.
    mutating func readBudget(_ node: Node) -> Money? {
        if case .scalar(let scalar) = node, let money = Money(string: scalar.string), !money.isNegative {
            return money
        }
        error(node, "'budget' must be an amount in USD such as 0.50, not \(shown(node))")
        return nil
    }

    /// `pricing:` as JSON with numbers kept as written; each entry must be a mapping.
    mutating func readPricing(_ node: Node) -> JSONValue? {
        guard case .mapping(let mapping) = node else {
            error(node, "'pricing' must be a mapping of MODEL: {input_cost_per_token, output_cost_per_token, …}")
            return nil
        }
        var ok = true
        for (key, value) in mapping {
            guard case .mapping(let fields) = value else {
                error(value, "pricing for '\(key.string ?? "")' must be a mapping in LiteLLM's format, such as "
                    + "{input_cost_per_token: 1.5e-07, output_cost_per_token: 6.0e-07, litellm_provider: openai}")
                ok = false
                continue
            }
            ok = checkPrices(fields, model: key.string ?? "") && ok
        }
        guard ok else { return nil }
        pricedInFile = Set(mapping.compactMap(\.key.string))
        return YAMLValue.convert(node)
    }

    /// Every price of a `pricing:` entry (a field named `*cost*`, and the sizes of
    /// `search_context_cost_per_query`) must pass `Money.unitPriceProblem`: a finite, non-negative
    /// number no larger than `Money.maximumUnitPrice` (issue 22.4). Reported at the value's line.
    mutating func checkPrices(_ fields: Node.Mapping, model: String, prefix: String = "") -> Bool {
        var ok = true
        for (key, value) in fields {
            guard let name = key.string, name.contains("cost") || !prefix.isEmpty else { continue }
            switch value {
            case .mapping(let nested):
                ok = checkPrices(nested, model: model, prefix: prefix + name + ".") && ok
            case .scalar(let scalar):
                if scalar.style == .plain, scalar.string == "null" || scalar.string == "~" || scalar.string.isEmpty { continue }
                if let problem = Money.unitPriceProblem(scalar.string) {
                    error(value, "pricing for '\(model)', field '\(prefix + name)': \(problem); a price is USD per unit, such as 1.5e-07")
                    ok = false
                }
            case .sequence where name == "tiered_pricing":
                continue  // checked by the pricing table when the block is layered on it
            default:
                error(value, "pricing for '\(model)', field '\(prefix + name)' must be a number of USD, not \(shown(value))")
                ok = false
            }
        }
        return ok
    }

    /// The top-level steps read one by one (``readStepItem(_:)``), in file order. While the file
    /// is composed (``WorkflowParser/parse(yaml:file:)``) each step is read as its mapping ends
    /// and its tree is dropped then: a 100,000-step file is never whole in memory (it was 46 MB
    /// of `wflo validate`'s peak). ``readSteps(_:)`` takes them when ``read(_:)`` comes to `steps:`.
    struct StepsReading {
        /// True while the file is composed: its `pricing:` block may come after the steps, so a
        /// model the pricing table lacks is judged once the block is read.
        let defersModelChecks: Bool
        var drafts: [StepDraft] = []
        /// Each step's position in `drafts`, by id: a second step with that id is reported.
        var seen: [String: Int] = [:]
        /// The definitions of the drafts that have one (``StepDraft/definitionIndex``).
        var definitions: [StepDefinition] = []
        /// What the drafts wait for, as positions in `drafts`: each resolved draft's part is its ``StepDraft/waits``.
        var waitTargets: [Int] = []

        /// The positions of the steps the draft at `position` waits for (none until it is resolved).
        func waits(of position: Int) -> ArraySlice<Int> {
            waitTargets[drafts[position].waits ?? 0..<0]
        }

        func definition(of draft: StepDraft) -> StepDefinition? { draft.definitionIndex.map { definitions[$0] } }
        /// Items of the list read (a step that could not be drafted counts too).
        var items = 0
        /// Models named while `pricing:` was not read yet, with the top-level step naming them (in
        /// its own fields or an agent's tool): checked once the block is read.
        var namedModels: [(name: String, node: Node, id: String, draft: StepDraft?)] = []
    }

    /// Reads one item of the top-level `steps:` list into ``steps`` (a duplicate id is reported and dropped).
    mutating func readStepItem(_ item: Node) {
        guard steps != nil else { return }
        steps?.items += 1
        let named = steps?.namedModels.count ?? 0
        guard let (draft, definition) = readStep(item) else { return }
        for index in named..<(steps?.namedModels.count ?? named) { steps?.namedModels[index].draft = draft }
        if let first = steps?.seen[draft.id], let firstMark = steps?.drafts[first].idMark {
            error(at: location(draft.idMark), "duplicate step id '\(draft.id)': line \(firstMark.line) already uses it; step ids must be unique")
            return
        }
        guard var list = steps else { return }
        steps = nil  // moved out, so its arrays grow in place
        list.seen[draft.id] = list.drafts.count
        list.drafts.append(draft)
        if let definition {
            draft.definitionIndex = list.definitions.count
            list.definitions.append(definition)
        }
        // A step that names only steps read before it (a chain, a fan-in) is resolved now and its
        // templates dropped, rather than kept for the whole file (``checkGraph(_:inputs:outputSites:)``).
        if Self.waitsAreKnown(draft, seen: list.seen) { resolveWaits(of: draft, in: &list, inputs: []) }
        steps = list
    }

    /// The steps in file order; duplicates are reported and dropped. `node` is the `steps:`
    /// value; its items are read here unless they were read as the file was composed.
    mutating func readSteps(_ node: Node) -> StepsReading {
        guard case .sequence(let sequence) = node else {
            error(node, "'steps' must be a non-empty list of steps, each with 'id' and 'type'")
            return StepsReading(defersModelChecks: false)
        }
        if steps == nil {
            steps = StepsReading(defersModelChecks: false)
            steps?.drafts.reserveCapacity(sequence.count)
            steps?.seen.reserveCapacity(sequence.count)
            steps?.definitions.reserveCapacity(sequence.count)
            for item in sequence { readStepItem(item) }
        }
        guard let read = steps else { return StepsReading(defersModelChecks: false) }
        steps = nil
        if read.items == 0 { error(node, "'steps' must be a non-empty list of steps, each with 'id' and 'type'") }
        // `pricing:` is read now: a model neither it nor the table prices is reported (the table
        // asked once per name), and its step has no definition.
        if let check = modelCheck {
            var problems: [String: String?] = [:]
            for model in read.namedModels where !pricedInFile.contains(model.name) {
                let problem = problems[model.name] ?? check(model.name)
                problems[model.name] = problem
                guard let problem else { continue }
                error(model.node, "step '\(model.id)': \(problem)")
                model.draft?.definitionIndex = nil
            }
        }
        return read
    }

    // MARK: mappings and scalars

    /// The entries of a mapping by key; keys not in `allowed` are reported with a suggestion.
    mutating func fields(_ node: Node, allowed: [String], context: String) -> [String: Field] {
        guard case .mapping(let mapping) = node else {
            error(node, "\(context) must be a mapping of fields")
            return [:]
        }
        var result: [String: Field] = [:]
        for (key, value) in mapping {
            let name = key.string ?? ""
            guard allowed.contains(name) else {
                error(key, "unknown field '\(name)' in \(context)" + Suggestion.phrase(for: name, in: allowed))
                continue
            }
            result[name] = Field(key: key, value: value)
        }
        return result
    }

    /// How a node reads in a message: a scalar's text quoted, else its kind.
    func shown(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    /// A non-null scalar's text.
    mutating func text(_ node: Node, what: String) -> String? {
        guard case .scalar(let scalar) = node, !YAMLValue.isNull(scalar) else {
            error(node, "\(what) must be text, not \(YAMLValue.isNullNode(node) ? "empty" : shown(node))")
            return nil
        }
        return scalar.string
    }

    /// Text or a list of text.
    mutating func textList(_ node: Node, what: String) -> [String]? {
        switch node {
        case .scalar:
            return text(node, what: what).map { [$0] }
        case .sequence(let sequence):
            var items: [String] = []
            var ok = true
            for item in sequence {
                if let s = text(item, what: "each item of \(what)") { items.append(s) } else { ok = false }
            }
            return ok ? items : nil
        default:
            error(node, "\(what) must be text or a list of text, not \(shown(node))")
            return nil
        }
    }

    /// A whole number above zero, written plainly (`200`).
    mutating func positiveInt(_ node: Node, what: String, why: String = "") -> Int? {
        if case .scalar(let scalar) = node, scalar.style == .plain, let n = Int(scalar.string), n > 0 { return n }
        error(node, "\(what) must be a positive whole number\(why), not \(shown(node))")
        return nil
    }

    /// A plain decimal number (`0.7`, `2`).
    mutating func number(_ node: Node, what: String) -> Double? {
        if case .scalar(let scalar) = node, scalar.style == .plain, Money.isDecimalLiteral(scalar.string),
           let d = Double(scalar.string) {
            return d
        }
        error(node, "\(what) must be a number, not \(shown(node))")
        return nil
    }

    /// Seconds, written as a number (`1.5`) or with a unit: `500ms`, `2s`, `1m`, `1h`.
    mutating func duration(_ node: Node, what: String, allowZero: Bool) -> Double? {
        if case .scalar(let scalar) = node, let seconds = Self.seconds(scalar.string),
           seconds > 0 || (allowZero && seconds == 0) {
            return seconds
        }
        error(node, "\(what) must be a duration\(allowZero ? "" : " above zero"): seconds as a number, or text such as 500ms, 2s, 1m, 1h, 7d, at most 100 years; not \(shown(node))")
        return nil
    }

    static func seconds(_ text: String) -> Double? { DurationText.seconds(text) }

    // MARK: templates

    /// A template from a text scalar; recorded in ``sites`` for the reference check.
    mutating func template(_ node: Node, what: String) -> Template? {
        guard let string = text(node, what: what) else { return nil }
        return parseTemplate(string, node: node)
    }

    mutating func parseTemplate(_ string: String, node: Node) -> Template? {
        do {
            let template = try Template(string)
            sites.append(TemplateSite(template: template, node: node))
            return template
        } catch let problem as TemplateError {
            error(at: location(of: node, offset: problem.offset), "template: \(problem.message)")
        } catch {
            self.error(node, "template: \(error)")
        }
        return nil
    }

    /// Any YAML value; strings holding `{{` become templates, the rest stays as written.
    mutating func templateValue(_ node: Node) -> TemplateValue? {
        switch node {
        case .scalar(let scalar):
            let value = YAMLValue.scalarValue(scalar)
            if case .string(let string) = value, Template.hasPlaceholder(string) {
                return parseTemplate(string, node: node).map(TemplateValue.template)
            }
            return .literal(value)
        case .mapping(let mapping):
            var object = [String: TemplateValue](minimumCapacity: mapping.count)
            var ok = true
            for (key, value) in mapping {
                if let v = templateValue(value) { object[key.string ?? ""] = v } else { ok = false }
            }
            return ok ? .object(object) : nil
        case .sequence(let sequence):
            var items: [TemplateValue] = []
            items.reserveCapacity(sequence.count)
            var ok = true
            for value in sequence {
                if let v = templateValue(value) { items.append(v) } else { ok = false }
            }
            return ok ? .array(items) : nil
        }
    }

    /// Where the character `offset` characters into a scalar's text is in the file, or the
    /// scalar's own position when that cannot be told.
    func location(of node: Node, offset: Int) -> SourceLocation {
        if case .scalar(let scalar) = node, let position = source.position(in: scalar, offset: offset) {
            return SourceLocation(file: file, line: position.line, column: position.column)
        }
        return location(node)
    }
}
