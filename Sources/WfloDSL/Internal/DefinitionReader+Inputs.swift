import WfloCore

extension DefinitionReader {
    /// `inputs:`: NAME: {type, default, description}, or NAME: default (the type follows the value).
    mutating func readInputs(_ node: Node) -> [InputDefinition] {
        guard case .mapping(let mapping) = node else {
            error(node, "'inputs' must be a mapping of NAME: {type, default, description}")
            return []
        }
        var inputs: [InputDefinition] = []
        for (key, value) in mapping {
            let name = key.string ?? ""
            if name.isEmpty || !name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }) {
                error(key, "input name '\(name)' may use only letters A–Z and a–z, digits, '_' and '-'")
                continue
            }
            guard case .mapping = value else {
                inputs.append(bareInput(name, value))
                continue
            }
            let context = "input '\(name)'"
            let f = fields(value, allowed: Self.inputFields, context: context)
            var type = InputType.string
            if let t = f["type"], let written = text(t.value, what: "\(context): 'type'") {
                if let parsed = InputType(rawValue: written) { type = parsed } else {
                    let allowed = InputType.allCases.map(\.rawValue)
                    error(t.value, "\(context): unknown type '\(written)'; the allowed types are "
                          + allowed.joined(separator: ", ") + Suggestion.phrase(for: written, in: allowed))
                }
            }
            var defaultValue: JSONValue?
            if let d = f["default"] {
                let v = YAMLValue.convert(d.value)
                if v.isNull {
                    defaultValue = nil
                } else if let coerced = InputBinder.coerce(v, to: type) {
                    defaultValue = coerced
                } else {
                    error(d.value, "\(context): the default \(shown(d.value)) is not a \(type.rawValue)")
                }
            }
            let description = f["description"].flatMap { text($0.value, what: "\(context): 'description'") }
            inputs.append(InputDefinition(name: name, type: type, defaultValue: defaultValue, description: description))
        }
        return inputs
    }

    /// `name: value`: the value is the default; empty means a required string.
    private func bareInput(_ name: String, _ value: Node) -> InputDefinition {
        let v = YAMLValue.convert(value)
        let type: InputType
        switch v {
        case .number(let n): type = Int(n) != nil ? .integer : .number
        case .bool: type = .boolean
        case .array: type = .array
        case .object: type = .object
        case .string, .null: type = .string
        }
        // Spelled out: a bare `nil` here would be JSONValue's nil literal, `.null`.
        let defaultValue: JSONValue? = v.isNull ? Optional.none : v
        return InputDefinition(name: name, type: type, defaultValue: defaultValue)
    }
}
