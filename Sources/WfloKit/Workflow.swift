import Foundation
import WfloCore

/// A workflow built in Swift: the same definition a YAML file gives, run by the same engine
/// with the same guarantees (budget reserved before every call, every result journaled,
/// resume after a crash, approvals).
///
/// ```swift
/// let brief = try Workflow("brief", inputs: [InputDefinition(name: "topic", defaultValue: "tides")],
///                          outputs: ["brief": "{{steps.draft.output.text}}"]) {
///     Step.llm("outline", model: "gpt-4o-mini", prompt: "Outline a brief on {{inputs.topic}}", maxTokens: 200)
///     Step.llm("facts", model: "gpt-4o-mini", prompt: "List three facts about {{inputs.topic}}", maxTokens: 200)
///     Step.llm("draft", model: "claude-sonnet-4-5", system: "Be brief.",
///              prompt: "Write the brief from {{steps.outline.output.text}} and {{steps.facts.output.text}}", maxTokens: 300)
/// }
/// let result = try await runtime.run(brief, budget: Money(string: "0.10"))
/// ```
///
/// Steps wait for the steps their templates name (`{{steps.ID.output…}}`), their `if:` names
/// and their `dependsOn`; steps with nothing to wait for run in parallel.
public struct Workflow: Sendable {
    public let definition: WorkflowDefinition

    /// - Throws: ``WorkflowError`` for a duplicate id, a reference to a step or input that does
    ///   not exist, or a dependency cycle.
    public init(_ name: String, description: String? = nil, budget: Money? = nil, inputs: [InputDefinition] = [],
                outputs: [String: String] = [:], timeout: Double? = nil, approvalPolicy: ApprovalPolicy? = nil,
                @StepsBuilder steps: () throws -> [StepDefinition]) throws {
        let built = try steps()
        var outputDefinitions: [OutputDefinition] = []
        for name in outputs.keys.sorted() {
            outputDefinitions.append(OutputDefinition(name: name, value: .template(try Step.template(outputs[name]!, "output '\(name)'"))))
        }
        let definition = WorkflowDefinition(name: name, description: description, budget: budget, inputs: inputs, steps: built,
                                            outputs: outputDefinitions, approvalPolicy: approvalPolicy, timeout: timeout)
        try Workflow.check(definition)
        self.definition = definition
    }

    /// What the YAML reader checks of the graph, for definitions built in code.
    static func check(_ definition: WorkflowDefinition) throws {
        var seen = Set<String>()
        for step in definition.steps {
            guard seen.insert(step.id).inserted else { throw WorkflowError("duplicate step id '\(step.id)'") }
        }
        let inputs = Set(definition.inputs.map(\.name))
        func checkReferences(_ templates: [Template], condition: Condition? = nil, in owner: String) throws {
            for path in templates.flatMap(\.references) + (condition?.references ?? []) {
                switch path.first {
                case "steps" where path.count >= 2 && !seen.contains(path[1]):
                    throw WorkflowError("\(owner): {{\(path.joined(separator: "."))}} names no step '\(path[1])'")
                case "inputs" where path.count >= 2 && !inputs.contains(path[1]):
                    throw WorkflowError("\(owner): {{\(path.joined(separator: "."))}} names no input '\(path[1])'")
                default: break
                }
            }
        }
        for step in definition.steps {
            try checkReferences(step.templates + [step.forEach?.items].compactMap { $0 }, condition: step.condition, in: "step '\(step.id)'")
            for dependency in step.dependsOn where !seen.contains(dependency) {
                throw WorkflowError("step '\(step.id)' depends on unknown step '\(dependency)'")
            }
        }
        try checkReferences(definition.outputs.flatMap(\.value.templates), in: "outputs")
        if let cycle = DependencyGraph(definition).cycles().first {
            throw WorkflowError("dependency cycle: \(cycle.joined(separator: " → "))")
        }
    }
}

/// A workflow built in code that cannot run as written.
public struct WorkflowError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Collects the steps written in a ``Workflow`` body.
@resultBuilder
public enum StepsBuilder {
    public static func buildExpression(_ step: StepDefinition) -> [StepDefinition] { [step] }
    public static func buildExpression(_ steps: [StepDefinition]) -> [StepDefinition] { steps }
    public static func buildBlock(_ parts: [StepDefinition]...) -> [StepDefinition] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [StepDefinition]?) -> [StepDefinition] { part ?? [] }
    public static func buildEither(first: [StepDefinition]) -> [StepDefinition] { first }
    public static func buildEither(second: [StepDefinition]) -> [StepDefinition] { second }
    public static func buildArray(_ parts: [[StepDefinition]]) -> [StepDefinition] { parts.flatMap { $0 } }
}

/// Typed steps for ``Workflow``. Text arguments are templates: `{{inputs.NAME}}`,
/// `{{steps.ID.output.FIELD}}`, `{{for_each.VAR}}`.
public enum Step {
    /// A model call. `maxTokens` is always sent: it bounds the cost.
    public static func llm(_ id: String, model: String, system: String? = nil, prompt: String, maxTokens: Int,
                           temperature: Double? = nil, json: Bool = false, provider: LLMProviderKind? = nil,
                           dependsOn: [String] = [], if condition: String? = nil, forEach: ForEach? = nil,
                           retry: RetryPolicy? = nil, approval: ApprovalSettings? = nil) throws -> StepDefinition {
        let definition = LLMStepDefinition(model: model, provider: provider, system: try system.map { try template($0, "step '\(id)' system") },
                                           prompt: try template(prompt, "step '\(id)' prompt"), maxTokens: maxTokens,
                                           temperature: temperature, jsonResponse: json)
        return try step(id, .llm(definition), dependsOn: dependsOn, condition: condition, forEach: forEach, retry: retry, approval: approval)
    }

    /// A value built from templates; costs nothing.
    public static func transform(_ id: String, output: String, dependsOn: [String] = [], if condition: String? = nil,
                                 forEach: ForEach? = nil) throws -> StepDefinition {
        let value: TemplateValue = output.contains("{{") ? .template(try template(output, "step '\(id)' output")) : .literal(.string(output))
        return try step(id, .transform(TransformStepDefinition(output: value)), dependsOn: dependsOn, condition: condition, forEach: forEach)
    }

    /// An HTTP request, as `http:` in YAML. The url, query and headers may use `{{secrets.NAME}}`
    /// (never journaled in clear); `extract` maps output fields to JSON pointers or dotted paths
    /// into the response. `egress` says where the step may connect: nil allows public hosts only,
    /// as a file without `egress:` does; the user's egress file applies on top either way.
    public static func http(_ id: String, method: String = "GET", url: String, query: [String: String] = [:],
                            headers: [String: String] = [:], expectStatus: [Int] = [], extract: [String: String] = [:],
                            egress: EgressPolicy? = nil, dependsOn: [String] = [], if condition: String? = nil,
                            retry: RetryPolicy? = nil, approval: ApprovalSettings? = nil) throws -> StepDefinition {
        func fields(_ pairs: [String: String], _ what: String) throws -> [HTTPField] {
            try pairs.keys.sorted().map { HTTPField(name: $0, value: try template(pairs[$0]!, "step '\(id)' \(what) '\($0)'")) }
        }
        let definition = HTTPStepDefinition(method: method, url: try template(url, "step '\(id)' url"), query: try fields(query, "query"),
                                            headers: try fields(headers, "header"), expectStatus: expectStatus,
                                            extract: extract.keys.sorted().map { HTTPExtraction(name: $0, path: extract[$0]!) },
                                            egress: egress)
        return try step(id, .http(definition), dependsOn: dependsOn, condition: condition, retry: retry, approval: approval)
    }

    /// Waits for a person's decision (`wflo approve` / `wflo reject`).
    public static func approval(_ id: String, message: String, settings: ApprovalSettings = ApprovalSettings(),
                                dependsOn: [String] = [], if condition: String? = nil) throws -> StepDefinition {
        try step(id, .approval(ApprovalStepDefinition(message: try template(message, "step '\(id)' message"), settings: settings)),
                 dependsOn: dependsOn, condition: condition)
    }

    /// Routes on `value` to the steps of one case; the others are skipped.
    public static func `switch`(_ id: String, on value: String, cases: KeyValuePairs<String, [String]>, default defaultSteps: [String]? = nil,
                                dependsOn: [String] = []) throws -> StepDefinition {
        let definition = SwitchStepDefinition(value: try template(value, "step '\(id)' value"),
                                              cases: cases.map { SwitchStepDefinition.Case(match: $0.key, steps: $0.value) },
                                              defaultSteps: defaultSteps)
        return try step(id, .switch(definition), dependsOn: dependsOn)
    }

    /// Waits durably: the wake-up time is journaled, so a restart waits only the rest.
    public static func sleep(_ id: String, seconds: Double, dependsOn: [String] = []) throws -> StepDefinition {
        try step(id, .sleep(SleepStepDefinition(seconds: seconds)), dependsOn: dependsOn)
    }

    /// `for_each:` settings: `items` is a template naming an array.
    public struct ForEach: Sendable {
        public var items: String
        public var itemVar: String
        public var maxParallel: Int
        public var failFast: Bool
        public init(_ items: String, as itemVar: String = "item", maxParallel: Int = ForEachSettings.defaultMaxParallel, failFast: Bool = true) {
            self.items = items
            self.itemVar = itemVar
            self.maxParallel = maxParallel
            self.failFast = failFast
        }
    }

    static func template(_ text: String, _ what: String) throws -> Template {
        do {
            return try Template(text)
        } catch {
            throw WorkflowError("\(what): \(error)")
        }
    }

    private static func step(_ id: String, _ kind: StepKind, dependsOn: [String], condition: String?, forEach: ForEach? = nil,
                             retry: RetryPolicy? = nil, approval: ApprovalSettings? = nil) throws -> StepDefinition {
        var parsedCondition: Condition?
        if let condition {
            do { parsedCondition = try Condition(condition) } catch { throw WorkflowError("step '\(id)' if: \(error)") }
        }
        let settings = try forEach.map {
            ForEachSettings(items: try template($0.items, "step '\(id)' for_each"), itemVar: $0.itemVar, maxParallel: max(1, $0.maxParallel),
                            failFast: $0.failFast)
        }
        return StepDefinition(id: id, dependsOn: dependsOn, retry: retry, kind: kind, approval: approval, condition: parsedCondition,
                              forEach: settings)
    }

    private static func step(_ id: String, _ kind: StepKind, dependsOn: [String]) throws -> StepDefinition {
        try step(id, kind, dependsOn: dependsOn, condition: nil)
    }
}
