import Foundation
import WfloCore

extension DefinitionReader {
    static let switchFields = ["value", "cases", "default"]
    static let sleepFields = ["duration", "until"]
    static let workflowFields = ["workflow", "inputs", "budget"]
    static let forEachFields = ["items", "item_var", "max_parallel", "fail_fast"]

    // MARK: if

    /// `if:` — a condition over references; its references are checked like any template's.
    mutating func readCondition(_ node: Node, stepID: String) -> Condition? {
        let written: String
        switch node {
        case .scalar(let scalar) where !YAMLValue.isNull(scalar):
            written = scalar.string
        default:
            error(node, "step '\(stepID)': 'if' must be a condition such as \"{{inputs.mode}} == 'full'\", not \(shown(node))")
            return nil
        }
        do {
            let condition = try Condition(written)
            sites.append(TemplateSite(template: condition.template, node: node))
            return condition
        } catch let problem as TemplateError {
            error(at: location(of: node, offset: problem.offset), "step '\(stepID)': 'if': \(problem.message)")
        } catch {
            self.error(node, "step '\(stepID)': 'if': \(error)")
        }
        return nil
    }

    // MARK: for_each

    /// `for_each: {items, item_var, max_parallel, fail_fast}`, or `for_each: "{{…}}"` for the items alone.
    mutating func readForEach(_ node: Node, stepID: String) -> ForEachSettings? {
        let context = "step '\(stepID)': 'for_each'"
        if case .scalar = node {
            return template(node, what: context).map { ForEachSettings(items: $0) }
        }
        guard case .mapping = node else {
            error(node, "\(context) must be a mapping {items, item_var, max_parallel, fail_fast} or the items' template, not \(shown(node))")
            return nil
        }
        let f = fields(node, allowed: Self.forEachFields, context: context)
        guard let itemsField = f["items"] else {
            error(node, "\(context) is missing 'items' (the array to iterate over, such as \"{{inputs.topics}}\")")
            return nil
        }
        guard let items = template(itemsField.value, what: "\(context): 'items'") else { return nil }
        if items.references.isEmpty {
            error(itemsField.value, "\(context): 'items' must be a reference to an array, such as \"{{inputs.topics}}\"; write a list as an input's default")
            return nil
        }
        var settings = ForEachSettings(items: items)
        var ok = true
        if let v = f["item_var"] {
            if let name = text(v.value, what: "\(context): 'item_var'") {
                if name.isEmpty || name == "index" || !name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }) {
                    error(v.value, "\(context): 'item_var' must be a name of letters, digits and '_' other than 'index' (it is used as {{for_each.NAME}}), not '\(name)'")
                    ok = false
                } else {
                    settings.itemVar = name
                }
            } else { ok = false }
        }
        if let v = f["max_parallel"] {
            if let n = positiveInt(v.value, what: "\(context): 'max_parallel'") { settings.maxParallel = n } else { ok = false }
        }
        if let v = f["fail_fast"] {
            if case .bool(let flag) = YAMLValue.convert(v.value) { settings.failFast = flag } else {
                error(v.value, "\(context): 'fail_fast' must be true or false, not \(shown(v.value))")
                ok = false
            }
        }
        return ok ? settings : nil
    }

    // MARK: switch

    mutating func readSwitch(_ f: [String: Field], node: Node, id: String) -> StepKind? {
        var ok = true
        var value: Template?
        if let v = f["value"] {
            value = template(v.value, what: "step '\(id)': 'value'")
            ok = ok && value != nil
        } else {
            error(node, "step '\(id)' is missing the required field 'value' (what to route on, such as \"{{steps.classify.output.text}}\")")
            ok = false
        }
        var cases: [SwitchStepDefinition.Case] = []
        if let c = f["cases"] {
            if case .mapping(let mapping) = c.value, !mapping.isEmpty {
                for (key, targets) in mapping {
                    guard case .scalar(let scalar) = key else {
                        error(key, "step '\(id)': each case must be a value such as bug or 3, not \(shown(key))")
                        ok = false
                        continue
                    }
                    if cases.contains(where: { $0.match == scalar.string }) {
                        error(key, "step '\(id)': the case '\(scalar.string)' is written twice")
                        ok = false
                    }
                    if let steps = readTargets(targets, what: "step '\(id)': case '\(scalar.string)'") {
                        cases.append(SwitchStepDefinition.Case(match: scalar.string, steps: steps))
                    } else { ok = false }
                }
            } else {
                error(c.value, "step '\(id)': 'cases' must be a mapping of VALUE: step id or list of step ids, not \(shown(c.value))")
                ok = false
            }
        } else {
            error(node, "step '\(id)' is missing the required field 'cases' (VALUE: step ids to run)")
            ok = false
        }
        var defaultSteps: [String]?
        if let d = f["default"] {
            defaultSteps = readTargets(d.value, what: "step '\(id)': 'default'")
            ok = ok && defaultSteps != nil
        }
        guard ok, let value else { return nil }
        return .switch(SwitchStepDefinition(value: value, cases: cases, defaultSteps: defaultSteps))
    }

    private mutating func readTargets(_ node: Node, what: String) -> [String]? {
        if case .sequence(let s) = node, s.isEmpty { return [] }
        guard let ids = textList(node, what: what) else { return nil }
        return ids
    }

    /// A for_each whose items are an input's default array refuses, as the run would, a list
    /// longer than ``ForEachSettings/maximumItems``: `validate` and `run` agree.
    mutating func checkForEachSizes(_ list: StepsReading, inputs: [InputDefinition]) {
        let defaults = Dictionary(inputs.map { ($0.name, $0.defaultValue) }, uniquingKeysWith: { first, _ in first })
        for draft in list.drafts {
            guard let settings = list.definition(of: draft)?.forEach, let name = settings.itemsInput,
                  case .array(let items)?? = defaults[name], let problem = ForEachSettings.itemCountProblem(items.count) else { continue }
            error(at: location(draft.mark), "step '\(draft.id)': \(problem); the items are the default of input '\(name)'")
        }
    }

    /// Checks what needs every step: switch targets exist, are not the switch, and only one switch routes to each.
    mutating func checkSwitches(_ list: StepsReading) {
        var routedBy: [String: String] = [:]
        for draft in list.drafts {
            guard case .switch(let s)? = list.definition(of: draft)?.kind else { continue }
            for target in s.targets {
                if target == draft.id {
                    error(at: location(draft.mark), "switch '\(draft.id)' routes to itself")
                } else if list.seen[target] == nil {
                    error(at: location(draft.mark), "switch '\(draft.id)' routes to unknown step '\(target)'" + Suggestion.phrase(for: target, in: list.drafts.map(\.id)))
                } else if let other = routedBy[target], other != draft.id {
                    error(at: location(draft.mark), "step '\(target)' is routed by two switches ('\(other)' and '\(draft.id)'); route it from one and use if: for more")
                } else {
                    routedBy[target] = draft.id
                }
            }
        }
    }

    // MARK: sleep

    mutating func readSleep(_ f: [String: Field], node: Node, id: String) -> StepKind? {
        switch (f["duration"], f["until"]) {
        case (let d?, nil):
            return duration(d.value, what: "step '\(id)': 'duration'", allowZero: true).map { .sleep(SleepStepDefinition(seconds: $0)) }
        case (nil, let u?):
            return template(u.value, what: "step '\(id)': 'until'").map { .sleep(SleepStepDefinition(until: $0)) }
        case (_?, let u?):
            error(u.key, "step '\(id)': write 'duration' or 'until', not both")
            return nil
        case (nil, nil):
            error(node, "step '\(id)' needs 'duration' (such as 10m) or 'until' (an ISO 8601 time such as 2026-12-01T09:00:00Z)")
            return nil
        }
    }

    // MARK: workflow

    mutating func readSubWorkflow(_ f: [String: Field], node: Node, id: String) -> StepKind? {
        guard let w = f["workflow"] else {
            error(node, "step '\(id)' is missing the required field 'workflow' (the path of a workflow file, relative to this one)")
            return nil
        }
        guard let written = text(w.value, what: "step '\(id)': 'workflow'") else { return nil }
        var inputs = TemplateValue.object([:])
        var ok = true
        if let i = f["inputs"] {
            if case .mapping = i.value, let value = templateValue(i.value) { inputs = value } else {
                if case .mapping = i.value {} else { error(i.value, "step '\(id)': 'inputs' must be a mapping of NAME: value") }
                ok = false
            }
        }
        var budget: Money?
        if let b = f["budget"] {
            if case .scalar(let scalar) = b.value, let money = Money(string: scalar.string), !money.isNegative { budget = money } else {
                error(b.value, "step '\(id)': 'budget' must be an amount in USD such as 0.10, not \(shown(b.value))")
                ok = false
            }
        }
        guard let child = readChild(written, node: w.value, stepID: id) else { return nil }
        if case .object(let given) = inputs {
            let declared = child.definition.inputs.map(\.name)
            for name in given.keys.sorted() where !declared.contains(name) {
                error(f["inputs"]?.value, "step '\(id)': workflow '\(written)' has no input '\(name)'"
                      + (declared.isEmpty ? " (it declares none)" : " (it declares: \(declared.joined(separator: ", ")))"))
                ok = false
            }
            for input in child.definition.inputs where input.isRequired && given[input.name] == nil {
                error(f["inputs"]?.value ?? node, "step '\(id)': workflow '\(written)' needs its input '\(input.name)' (it has no default): add it under 'inputs:'")
                ok = false
            }
        }
        guard ok else { return nil }
        return .workflow(SubWorkflowStepDefinition(path: written, resolvedPath: child.path, source: child.source, definition: child.definition,
                                                   inputs: inputs, budget: budget))
    }

    /// Reads and checks the child workflow file: found, not already being read (a cycle), not too deep.
    private mutating func readChild(_ written: String, node: Node, stepID: String) -> (definition: WorkflowDefinition, path: String, source: String)? {
        let base = (file as NSString).deletingLastPathComponent
        var candidates = [written.hasPrefix("/") ? written : (base.isEmpty ? written : base + "/" + written)]
        if !written.hasSuffix(".yaml") && !written.hasSuffix(".yml") {
            candidates += ["yaml", "yml"].map { candidates[0] + "." + $0 }
        }
        if let folder = children.folder, children.outsideFolder(candidates[0]) {
            error(node, "step '\(stepID)': the workflow '\(written)' (\(children.canonical(candidates[0]))) is outside the workflows folder \(children.canonical(folder)); the server reads workflow files only there")
            return nil
        }
        guard let path = candidates.first(where: { children.source($0) != nil }), let text = children.source(path) else {
            error(node, "step '\(stepID)': cannot read the workflow '\(written)' (looked for \(candidates.joined(separator: ", ")))")
            return nil
        }
        let canonical = children.canonical(path)
        if let at = ancestry.firstIndex(of: canonical) {
            let chain = (ancestry[at...] + [canonical]).map { ($0 as NSString).lastPathComponent }
            error(node, "step '\(stepID)': workflow cycle: \(chain.joined(separator: " → ")); a workflow cannot call itself")
            return nil
        }
        if ancestry.count >= SubWorkflowStepDefinition.maximumDepth {
            error(node, "step '\(stepID)': workflows nest at most \(SubWorkflowStepDefinition.maximumDepth) deep")
            return nil
        }
        guard let root = try? YAMLValue.compose(text, file: path) else {
            error(node, "step '\(stepID)': '\(written)' is not valid YAML (run wflo validate \(path))")
            return nil
        }
        var reader = DefinitionReader(file: path, source: SourceText(text), modelCheck: modelCheck, children: children,
                                      ancestry: ancestry + [canonical])
        let definition = reader.read(root)
        // The child's own problems, at their own file:line:col.
        for diagnostic in reader.diagnostics { error(at: diagnostic.location, diagnostic.message) }
        return definition.map { ($0, canonical, text) }
    }
}

/// Where the DSL reads sub-workflow files from: the disk, or (on resume) the texts journaled
/// when the run started, so a run finishes with the workflows it began with.
public struct WorkflowSources: Sendable {
    public var journaled: [String: String]
    /// When set, files are read from the disk only inside this folder (`wflo server --workflows-dir`):
    /// a sub-workflow outside it is refused, symlinks and `..` resolved first.
    public var folder: String?

    public init(journaled: [String: String] = [:], folder: String? = nil) {
        self.journaled = journaled
        self.folder = folder
    }

    /// Whether `path` (symlinks and `..` resolved) is `folder` or inside it.
    public static func isInside(_ path: String, folder: String) -> Bool {
        let sources = WorkflowSources()
        let inner = sources.canonical(path), outer = sources.canonical(folder)
        return outer == "/" || inner == outer || inner.hasPrefix(outer + "/")
    }

    func outsideFolder(_ path: String) -> Bool {
        guard let folder, journaled[canonical(path)] == nil else { return false }
        return !Self.isInside(path, folder: folder)
    }

    func source(_ path: String) -> String? {
        if let text = journaled[canonical(path)] { return text }
        if outsideFolder(path) { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
