import Foundation
import WfloCore
import Yams

/// Reads a workflow file into a ``WorkflowDefinition``, checking everything that can be
/// checked before running: fields and their types, step ids, dependencies and cycles, every
/// template reference, and (through `modelCheck`) that every model is priced. Every problem
/// is reported with file:line:column; all of them, not only the first.
public struct WorkflowParser: Sendable {
    private let modelCheck: (@Sendable (String) -> String?)?

    /// - Parameter modelCheck: returns nil when a model is priced, else the message to show.
    public init(modelCheck: (@Sendable (String) -> String?)? = nil) {
        self.modelCheck = modelCheck
    }

    /// Reads and validates the file at `path`; returns the definition and the text read.
    public func parse(fileAt path: String) throws(WorkflowValidationError) -> (WorkflowDefinition, source: String) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw WorkflowValidationError(diagnostics: [Diagnostic(location: SourceLocation(file: path, line: 1, column: 1),
                                                                   message: "cannot read the file (does it exist, and is it UTF-8?)")])
        }
        return (try parse(yaml: text, file: path), text)
    }

    /// Parses and validates workflow YAML; `file` names it in diagnostics.
    public func parse(yaml: String, file: String) throws(WorkflowValidationError) -> WorkflowDefinition {
        var reader = DefinitionReader(file: file, modelCheck: modelCheck)
        guard let root = try YAMLValue.compose(yaml, file: file) else {
            throw WorkflowValidationError(diagnostics: [Diagnostic(location: SourceLocation(file: file, line: 1, column: 1),
                                                                   message: "the file is empty: a workflow needs `name` and `steps`")])
        }
        let definition = reader.read(root)
        if !reader.diagnostics.isEmpty || definition == nil {
            let sorted = reader.diagnostics.sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) }
            throw WorkflowValidationError(diagnostics: sorted)
        }
        return definition!
    }
}

/// The reading pass: collects diagnostics as it goes.
struct DefinitionReader {
    let file: String
    let modelCheck: (@Sendable (String) -> String?)?
    var diagnostics: [Diagnostic] = []

    static let topLevelFields = ["name", "description", "budget", "inputs", "steps", "outputs", "pricing"]
    static let commonStepFields = ["id", "type", "depends_on", "retry", "timeout", "description"]
    static let llmFields = ["model", "provider", "base_url", "system", "prompt", "messages", "max_tokens", "temperature", "stop", "response_format"]
    static let transformFields = ["output"]
    static let retryFields = ["initial_interval", "backoff_coefficient", "maximum_interval", "maximum_attempts", "non_retryable_errors"]

    init(file: String, modelCheck: (@Sendable (String) -> String?)?) {
        self.file = file
        self.modelCheck = modelCheck
    }

    func location(_ node: Node?) -> SourceLocation {
        SourceLocation(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1)
    }

    mutating func error(_ node: Node?, _ message: String) {
        diagnostics.append(Diagnostic(location: location(node), message: message))
    }

    // MARK: mappings

    /// The mapping's entries by key, with the key nodes for locations; flags unknown keys.
    mutating func fields(_ node: Node, allowed: [String], context: String) -> [String: (key: Node, value: Node)] {
        guard case .mapping(let mapping) = node else {
            error(node, "\(context) must be a mapping of fields")
            return [:]
        }
        var result: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            let name = key.string ?? ""
            if !allowed.contains(name) {
                var message = "unknown field '\(name)' in \(context)"
                if let suggestion = Suggest.closest(to: name, in: allowed) { message += "; did you mean '\(suggestion)'?" }
                error(key, message)
                continue
            }
            result[name] = (key, value)
        }
        return result
    }

    mutating func string(_ node: Node, field: String) -> String? {
        guard case .scalar(let scalar) = node, Tag.Name(rawValue: scalar.tag.rawValue) != .null else {
            error(node, "'\(field)' must be text")
            return nil
        }
        return scalar.string
    }

    mutating func template(_ node: Node, field: String) -> Template? {
        guard let text = string(node, field: field) else { return nil }
        do {
            return try Template(text)
        } catch let problem as TemplateError {
            self.error(node, "'\(field)': \(problem.message)")
            return nil
        } catch {
            self.error(node, "'\(field)': \(error)")
            return nil
        }
    }

    mutating func templateValue(_ node: Node, field: String) -> TemplateValue? {
        switch node {
        case .scalar(let scalar):
            let value = YAMLValue.scalarValue(scalar)
            if case .string(let text) = value, text.contains("{{") {
                return template(node, field: field).map(TemplateValue.template)
            }
            return .literal(value)
        case .mapping(let mapping):
            var object: [String: TemplateValue] = [:]
            for (key, value) in mapping {
                guard let v = templateValue(value, field: "\(field).\(key.string ?? "")") else { return nil }
                object[key.string ?? ""] = v
            }
            return .object(object)
        case .sequence(let sequence):
            var items: [TemplateValue] = []
            for (i, value) in sequence.enumerated() {
                guard let v = templateValue(value, field: "\(field)[\(i)]") else { return nil }
                items.append(v)
            }
            return .array(items)
        case .alias:
            error(node, "'\(field)': YAML aliases are not supported")
            return nil
        }
    }

    mutating func positiveInt(_ node: Node, field: String) -> Int? {
        if case .scalar(let scalar) = node, scalar.style == .plain, let n = Int(scalar.string), n > 0 { return n }
        error(node, "'\(field)' must be a positive whole number")
        return nil
    }

    mutating func number(_ node: Node, field: String) -> Double? {
        if case .scalar(let scalar) = node, scalar.style == .plain, Money.isDecimalLiteral(scalar.string), let d = Double(scalar.string) { return d }
        error(node, "'\(field)' must be a number")
        return nil
    }

    /// Seconds, written as a number or `500ms`, `2s`, `1m`, `1h`.
    mutating func duration(_ node: Node, field: String) -> Double? {
        if case .scalar(let scalar) = node {
            let text = scalar.string.trimmingCharacters(in: .whitespaces)
            if Money.isDecimalLiteral(text), let value = Double(text), value >= 0 { return value }
            for (suffix, factor) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] where text.hasSuffix(suffix) {
                if let value = Double(text.dropLast(suffix.count)), value >= 0 { return value * factor }
            }
        }
        error(node, "'\(field)' must be a duration: seconds, or text such as 500ms, 2s, 1m, 1h")
        return nil
    }

    mutating func stringList(_ node: Node, field: String) -> [String]? {
        switch node {
        case .scalar: return string(node, field: field).map { [$0] }
        case .sequence(let sequence):
            var items: [String] = []
            for item in sequence {
                guard let s = string(item, field: field) else { return nil }
                items.append(s)
            }
            return items
        default:
            error(node, "'\(field)' must be text or a list of text")
            return nil
        }
    }

    // MARK: the workflow

    mutating func read(_ root: Node) -> WorkflowDefinition? {
        let top = fields(root, allowed: DefinitionReader.topLevelFields, context: "the workflow")
        guard case .mapping = root else { return nil }

        var name = ""
        if let entry = top["name"] { name = string(entry.value, field: "name") ?? "" } else { error(root, "missing required field 'name'") }
        let description = top["description"].flatMap { string($0.value, field: "description") }

        var budget: Money?
        if let entry = top["budget"] {
            if case .scalar(let scalar) = entry.value, let money = Money(string: scalar.string), !money.isNegative {
                budget = money
            } else {
                error(entry.value, "'budget' must be an amount of USD such as 0.50")
            }
        }

        let inputs = top["inputs"].map { readInputs($0.value) } ?? []
        let pricing = top["pricing"].map { YAMLValue.convert($0.value) }

        var steps: [StepDefinition] = []
        var stepNodes: [String: Node] = [:]
        if let entry = top["steps"] {
            if case .sequence(let sequence) = entry.value, sequence.count > 0 {
                for item in sequence {
                    guard let step = readStep(item) else { continue }
                    if stepNodes[step.id] != nil {
                        error(item, "duplicate step id '\(step.id)' (ids must be unique)")
                        continue
                    }
                    stepNodes[step.id] = item
                    steps.append(step)
                }
            } else {
                error(entry.value, "'steps' must be a non-empty list of steps")
            }
        } else {
            error(root, "missing required field 'steps'")
        }

        var outputs: [OutputDefinition] = []
        if let entry = top["outputs"] {
            if case .mapping(let mapping) = entry.value {
                for (key, value) in mapping {
                    let outputName = key.string ?? ""
                    if let v = templateValue(value, field: "outputs.\(outputName)") {
                        outputs.append(OutputDefinition(name: outputName, value: v))
                        checkReferences(v.templates, node: value, inputs: inputs, steps: stepNodes, selfID: nil)
                    }
                }
            } else {
                error(entry.value, "'outputs' must be a mapping of NAME: template")
            }
        }

        for step in steps {
            let node = stepNodes[step.id]
            for dependency in step.dependsOn where stepNodes[dependency] == nil {
                error(node, "step '\(step.id)' depends on unknown step '\(dependency)'")
            }
            checkStepTemplates(step, node: node, inputs: inputs, steps: stepNodes)
        }
        checkCycles(steps, nodes: stepNodes)

        return WorkflowDefinition(name: name, description: description, budget: budget, inputs: inputs, steps: steps,
                                  outputs: outputs, pricing: pricing)
    }

    mutating func readInputs(_ node: Node) -> [InputDefinition] {
        guard case .mapping(let mapping) = node else {
            error(node, "'inputs' must be a mapping of NAME: {type, default}")
            return []
        }
        var inputs: [InputDefinition] = []
        for (key, value) in mapping {
            let name = key.string ?? ""
            if case .mapping = value {
                let f = fields(value, allowed: ["type", "default", "description"], context: "input '\(name)'")
                var type = InputType.string
                if let t = f["type"] {
                    if let text = string(t.value, field: "type"), let parsed = InputType(rawValue: text) {
                        type = parsed
                    } else {
                        error(t.value, "input '\(name)': type must be one of \(InputType.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                }
                var defaultValue: JSONValue?
                if let d = f["default"] {
                    let v = YAMLValue.convert(d.value)
                    if let coerced = InputBinder.coerce(v, to: type) { defaultValue = coerced } else {
                        error(d.value, "input '\(name)': the default is not a \(type.rawValue)")
                    }
                }
                inputs.append(InputDefinition(name: name, type: type, defaultValue: defaultValue,
                                              description: f["description"].flatMap { string($0.value, field: "description") }))
            } else {
                let v = YAMLValue.convert(value)
                let type: InputType
                switch v {
                case .number(let n): type = Int(n) != nil ? .integer : .number
                case .bool: type = .boolean
                case .array: type = .array
                default: type = .string
                }
                inputs.append(InputDefinition(name: name, type: type, defaultValue: v.isNull ? nil : v))
            }
        }
        return inputs
    }

    mutating func readStep(_ node: Node) -> StepDefinition? {
        let all = DefinitionReader.commonStepFields + DefinitionReader.llmFields + DefinitionReader.transformFields
        let f = fields(node, allowed: all, context: "a step")
        guard case .mapping = node else { return nil }
        guard let idEntry = f["id"], let id = string(idEntry.value, field: "id") else {
            if f["id"] == nil { error(node, "missing required field 'id' in a step") }
            return nil
        }
        if id.isEmpty || !id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) || !id.allSatisfy(\.isASCII) {
            error(idEntry.value, "step id '\(id)' may use only letters, digits, '_' and '-'")
        }
        guard let typeEntry = f["type"] else {
            error(node, "step '\(id)': missing required field 'type' (one of \(StepType.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        guard let typeText = string(typeEntry.value, field: "type"), let type = StepType(rawValue: typeText) else {
            var message = "step '\(id)': unknown step type '\(typeEntry.value.string ?? "")' (one of \(StepType.allCases.map(\.rawValue).joined(separator: ", ")))"
            if let s = Suggest.closest(to: typeEntry.value.string ?? "", in: StepType.allCases.map(\.rawValue)) { message += "; did you mean '\(s)'?" }
            error(typeEntry.value, message)
            return nil
        }
        let own = type == .llm ? DefinitionReader.llmFields : DefinitionReader.transformFields
        for (name, entry) in f where !DefinitionReader.commonStepFields.contains(name) && !own.contains(name) {
            error(entry.key, "step '\(id)': field '\(name)' does not belong to a \(type.rawValue) step")
        }

        let dependsOn = f["depends_on"].flatMap { stringList($0.value, field: "depends_on") } ?? []
        let timeout = f["timeout"].flatMap { duration($0.value, field: "timeout") }
        let retry = f["retry"].flatMap { readRetry($0.value, stepID: id) }

        let kind: StepKind?
        switch type {
        case .llm: kind = readLLM(f, node: node, id: id)
        case .transform:
            if let output = f["output"] {
                kind = templateValue(output.value, field: "output").map { .transform(TransformStepDefinition(output: $0)) }
            } else {
                error(node, "step '\(id)': missing required field 'output' for a transform step")
                kind = nil
            }
        }
        guard let kind else { return nil }
        return StepDefinition(id: id, dependsOn: dependsOn, retry: retry, timeout: timeout, kind: kind, location: location(node))
    }

    mutating func readRetry(_ node: Node, stepID: String) -> RetryPolicy? {
        let f = fields(node, allowed: DefinitionReader.retryFields, context: "the retry policy of step '\(stepID)'")
        var policy = RetryPolicy.default
        if let v = f["initial_interval"], let d = duration(v.value, field: "initial_interval") { policy.initialInterval = d }
        if let v = f["maximum_interval"], let d = duration(v.value, field: "maximum_interval") { policy.maximumInterval = d }
        if let v = f["backoff_coefficient"], let d = number(v.value, field: "backoff_coefficient") {
            if d >= 1 { policy.backoffCoefficient = d } else { error(v.value, "'backoff_coefficient' must be at least 1") }
        }
        if let v = f["maximum_attempts"], let n = positiveInt(v.value, field: "maximum_attempts") { policy.maximumAttempts = n }
        if let v = f["non_retryable_errors"], let list = stringList(v.value, field: "non_retryable_errors") { policy.nonRetryableErrors = list }
        return policy
    }

    mutating func readLLM(_ f: [String: (key: Node, value: Node)], node: Node, id: String) -> StepKind? {
        var ok = true
        var model = ""
        if let m = f["model"], let text = string(m.value, field: "model") {
            model = text
            if let check = modelCheck, let problem = check(text) { error(m.value, "step '\(id)': \(problem)") }
        } else {
            if f["model"] == nil { error(node, "step '\(id)': missing required field 'model'") }
            ok = false
        }
        var maxTokens = 0
        if let m = f["max_tokens"] {
            if let n = positiveInt(m.value, field: "max_tokens") { maxTokens = n } else { ok = false }
        } else {
            error(node, "step '\(id)': missing required field 'max_tokens' (wflo always sends it: it bounds the cost)")
            ok = false
        }
        var provider: LLMProviderKind?
        if let p = f["provider"] {
            if let text = string(p.value, field: "provider"), let kind = LLMProviderKind(rawValue: text) { provider = kind } else {
                error(p.value, "step '\(id)': provider must be one of \(LLMProviderKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        let system = f["system"].flatMap { template($0.value, field: "system") }
        let prompt = f["prompt"].flatMap { template($0.value, field: "prompt") }
        var messages: [LLMMessageTemplate] = []
        if let m = f["messages"] {
            if case .sequence(let sequence) = m.value, !sequence.isEmpty {
                for item in sequence {
                    let mf = fields(item, allowed: ["role", "content"], context: "a message of step '\(id)'")
                    guard let role = mf["role"].flatMap({ string($0.value, field: "role") }),
                          let content = mf["content"].flatMap({ template($0.value, field: "content") }) else {
                        if mf["role"] == nil || mf["content"] == nil { error(item, "step '\(id)': each message needs 'role' and 'content'") }
                        continue
                    }
                    if !["system", "user", "assistant"].contains(role) {
                        error(mf["role"]?.value, "step '\(id)': message role must be system, user or assistant")
                    }
                    messages.append(LLMMessageTemplate(role: role, content: content))
                }
            } else {
                error(m.value, "step '\(id)': 'messages' must be a non-empty list of {role, content}")
            }
        }
        if f["prompt"] == nil && f["messages"] == nil {
            error(node, "step '\(id)': an llm step needs 'prompt' or 'messages'")
            ok = false
        }
        let temperature = f["temperature"].flatMap { number($0.value, field: "temperature") }
        let stop = f["stop"].flatMap { stringList($0.value, field: "stop") } ?? []
        var json = false
        if let r = f["response_format"] {
            switch YAMLValue.convert(r.value) {
            case .string("json"), .string("json_object"): json = true
            case .string("text"): json = false
            case let v where v["type"]?.stringValue == "json_object" || v["type"]?.stringValue == "json": json = true
            case let v where v["type"]?.stringValue == "text": json = false
            default: error(r.value, "step '\(id)': response_format must be json or text")
            }
        }
        guard ok else { return nil }
        return .llm(LLMStepDefinition(model: model, provider: provider, baseURL: f["base_url"].flatMap { string($0.value, field: "base_url") },
                                      system: system, prompt: prompt, messages: messages, maxTokens: maxTokens,
                                      temperature: temperature, stop: stop, jsonResponse: json))
    }

    // MARK: references and cycles

    mutating func checkStepTemplates(_ step: StepDefinition, node: Node?, inputs: [InputDefinition], steps: [String: Node]) {
        // Find each template's scalar node for a precise location.
        var scalars: [String: Node] = [:]
        func collect(_ n: Node) {
            switch n {
            case .scalar(let s): if s.string.contains("{{") { scalars[s.string] = n }
            case .mapping(let m): for (_, v) in m { collect(v) }
            case .sequence(let s): for v in s { collect(v) }
            case .alias: break
            }
        }
        if let node { collect(node) }
        for template in step.templates {
            checkReferences([template], node: scalars[template.source] ?? node, inputs: inputs, steps: steps, selfID: step.id)
        }
    }

    mutating func checkReferences(_ templates: [Template], node: Node?, inputs: [InputDefinition], steps: [String: Node], selfID: String?) {
        for template in templates {
            for path in template.references {
                let dotted = path.joined(separator: ".")
                switch path[0] {
                case "inputs":
                    if path.count < 2 || !inputs.contains(where: { $0.name == path[1] }) {
                        let declared = inputs.map(\.name)
                        var message = "{{\(dotted)}}: no input '\(path.count > 1 ? path[1] : "")' is declared"
                        if let s = Suggest.closest(to: path.count > 1 ? path[1] : "", in: declared) { message += "; did you mean '\(s)'?" }
                        else if !declared.isEmpty { message += " (inputs: \(declared.joined(separator: ", ")))" }
                        error(node, message)
                    }
                case "steps":
                    guard path.count >= 3, path[2] == "output" else {
                        error(node, "{{\(dotted)}}: write {{steps.ID.output}} or {{steps.ID.output.FIELD}}")
                        continue
                    }
                    if path[1] == selfID {
                        error(node, "{{\(dotted)}}: a step cannot use its own output")
                    } else if steps[path[1]] == nil {
                        var message = "{{\(dotted)}}: there is no step '\(path[1])'"
                        if let s = Suggest.closest(to: path[1], in: Array(steps.keys)) { message += "; did you mean '\(s)'?" }
                        error(node, message)
                    }
                case "secrets":
                    error(node, "{{\(dotted)}}: secrets are only for http steps; in a prompt or transform they would reach the model or the journal in clear")
                default:
                    error(node, "{{\(dotted)}}: unknown reference; write {{inputs.NAME}} or {{steps.ID.output.FIELD}}")
                }
            }
        }
    }

    mutating func checkCycles(_ steps: [StepDefinition], nodes: [String: Node]) {
        let edges = Dictionary(uniqueKeysWithValues: steps.map { ($0.id, $0.allDependencies.filter { nodes[$0] != nil }) })
        var state: [String: Int] = [:] // 1 visiting, 2 done
        var stack: [String] = []
        var reported = Set<String>()
        func visit(_ id: String) -> [String]? {
            if state[id] == 2 { return nil }
            if state[id] == 1 {
                let start = stack.firstIndex(of: id)!
                return Array(stack[start...]) + [id]
            }
            state[id] = 1
            stack.append(id)
            for next in edges[id] ?? [] {
                if let cycle = visit(next) { return cycle }
            }
            stack.removeLast()
            state[id] = 2
            return nil
        }
        for step in steps where state[step.id] == nil {
            stack = []
            if let cycle = visit(step.id) {
                let key = Set(cycle)
                let signature = key.sorted().joined(separator: ",")
                if !reported.contains(signature) {
                    reported.insert(signature)
                    // Dependencies point backwards; show the cycle in run order.
                    error(nodes[cycle[0]], "dependency cycle: \(cycle.reversed().joined(separator: " → "))")
                }
                for id in cycle { state[id] = 2 }
            }
        }
    }
}

/// "Did you mean …?"
enum Suggest {
    static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(word.lowercased(), $0.lowercased())) }.filter { $0.1 <= max(2, word.count / 3) }
        return scored.min { $0.1 < $1.1 }?.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
