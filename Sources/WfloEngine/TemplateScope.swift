import WfloCore

/// What templates of one step can see: the run's inputs and the outputs of finished steps.
struct TemplateScope: Sendable {
    var inputs: JSONValue
    var steps: [String: JSONValue]
    /// Set only while rendering an http step's request: `{{secrets.NAME}}` resolves from it.
    var secrets: SecretStore? = nil
    /// Set while a `for_each` item runs: `{{for_each.VAR}}` and `{{for_each.index}}`.
    var forEach: [String: JSONValue]? = nil
    /// Steps that were skipped: a reference below one of them reads null instead of failing.
    var skipped: Set<String> = []
    /// Set only while running an agent's tool call: `{{args.NAME}}` resolves from the call's arguments.
    var args: JSONValue? = nil

    func resolve(_ path: [String]) throws -> JSONValue {
        let dotted = path.joined(separator: ".")
        switch path.first {
        case "inputs":
            guard path.count >= 2, let value = inputs.value(at: path.dropFirst()) else {
                throw EngineError(.template, "{{\(dotted)}}: the run has no input '\(path.dropFirst().joined(separator: "."))'")
            }
            return value
        case "steps":
            if path.count == 3, path[2] == "status" {
                guard steps[path[1]] != nil else {
                    throw EngineError(.template, "{{\(dotted)}}: step '\(path[1])' has not finished")
                }
                return .string(skipped.contains(path[1]) ? StepStatus.skipped.rawValue : StepStatus.completed.rawValue)
            }
            guard path.count >= 3, path[2] == "output" else {
                throw EngineError(.template, "{{\(dotted)}}: write {{steps.ID.output}} or {{steps.ID.output.FIELD}}")
            }
            guard let output = steps[path[1]] else {
                throw EngineError(.template, "{{\(dotted)}}: step '\(path[1])' has not completed")
            }
            if skipped.contains(path[1]) { return output.value(at: path.dropFirst(3)) ?? .null }
            guard let value = output.value(at: path.dropFirst(3)) else {
                let fields = output.objectValue.map { $0.keys.sorted().joined(separator: ", ") } ?? "no fields"
                throw EngineError(.template, "{{\(dotted)}}: the output of step '\(path[1])' has no '\(path.dropFirst(3).joined(separator: "."))' (it has: \(fields))")
            }
            return value
        case "secrets":
            if let secrets, path.count == 2 { return .string(try secrets.value(path[1])) }
            throw EngineError(.template, "{{\(dotted)}}: secrets are only for http steps; a secret in a prompt or transform would be sent to the model or journaled in clear")
        case "for_each":
            guard let forEach, path.count >= 2, let item = forEach[path[1]] else {
                throw EngineError(.template, "{{\(dotted)}}: for_each references are only for the items of a step with for_each")
            }
            guard let value = item.value(at: path.dropFirst(2)) else {
                throw EngineError(.template, "{{\(dotted)}}: the item has no '\(path.dropFirst(2).joined(separator: "."))'")
            }
            return value
        case "args":
            guard let args, path.count >= 2 else {
                throw EngineError(.template, "{{\(dotted)}}: {{args.NAME}} is only for the fields of an agent's tools")
            }
            guard let value = args.value(at: path.dropFirst()) else {
                throw EngineError(.template, "{{\(dotted)}}: the call passed no argument '\(path.dropFirst().joined(separator: "."))'")
            }
            return value
        default:
            throw EngineError(.template, "{{\(dotted)}}: unknown reference (write {{inputs.NAME}} or {{steps.ID.output.FIELD}})")
        }
    }

    func render(_ template: Template) throws -> JSONValue { try template.render(resolve) }
    func evaluate(_ condition: Condition) throws -> Bool {
        do {
            return try condition.evaluate(resolve)
        } catch let error as ConditionError {
            throw EngineError(.template, "if: \(condition.source): \(error.message)")
        }
    }
    func renderText(_ template: Template) throws -> String { try template.renderText(resolve) }
    func render(_ value: TemplateValue) throws -> JSONValue { try value.render(resolve) }
}
