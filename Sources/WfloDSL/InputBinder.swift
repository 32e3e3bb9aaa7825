import Foundation
import WfloCore

/// Turns `--input NAME=VALUE` arguments and an `--input-file` object into the run's inputs.
///
/// Values from the file come first and `--input` arguments override them; declared defaults
/// fill what neither gives. Every value is checked against the input's declared type
/// (string, number, integer, boolean, array, object), converting where nothing is lost: the
/// text `3` becomes the integer 3, `true` the boolean true, `["a"]` an array.
public enum InputBinder {
    /// Binds the inputs of a run of `definition`.
    ///
    /// - Parameters:
    ///   - arguments: `NAME=VALUE` strings, as given to `--input`; the value is everything after
    ///     the first `=`.
    ///   - file: the parsed `--input-file` (an object of NAME: VALUE), or nil.
    /// - Returns: an object holding every declared input, and nothing else.
    /// - Throws: ``InputError`` naming the input: an unknown name (with a suggestion), a value
    ///   of the wrong type, a malformed argument, or a required input given no value.
    public static func bind(_ definition: WorkflowDefinition, arguments: [String], file: JSONValue?) throws -> JSONValue {
        let declared = Dictionary(definition.inputs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let names = definition.inputs.map(\.name)
        func lookup(_ name: String, source: String) throws -> InputDefinition {
            guard let input = declared[name] else {
                var message = "\(source): the workflow '\(definition.name)' has no input '\(name)'"
                let suggestion = Suggestion.phrase(for: name, in: names)
                if !suggestion.isEmpty {
                    message += suggestion
                } else {
                    message += names.isEmpty ? " (it takes no inputs)" : " (its inputs: \(names.joined(separator: ", ")))"
                }
                throw InputError(message: message)
            }
            return input
        }

        var given: [String: JSONValue] = [:]
        if let file {
            guard case .object(let object) = file else {
                throw InputError(message: "the input file must hold an object of NAME: VALUE pairs, such as {\"topic\": \"tides\"}")
            }
            for name in object.keys.sorted() {
                let input = try lookup(name, source: "the input file")
                let value = object[name]!
                guard let v = coerce(value, to: input.type) else {
                    throw InputError(message: "input '\(name)' in the input file must be \(article(input.type)) \(input.type.rawValue), "
                                     + "not \(value.encoded())" + hint(input.type))
                }
                given[name] = v
            }
        }
        for argument in arguments {
            guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex else {
                throw InputError(message: "--input '\(argument)' must be NAME=VALUE, such as --input topic=tides")
            }
            let name = String(argument[..<eq])
            let text = String(argument[argument.index(after: eq)...])
            let input = try lookup(name, source: "--input \(argument)")
            guard let v = parse(text, as: input.type) else {
                throw InputError(message: "--input \(argument): input '\(name)' is \(article(input.type)) \(input.type.rawValue)" + hint(input.type))
            }
            given[name] = v
        }

        var result: [String: JSONValue] = [:]
        for input in definition.inputs {
            guard let v = given[input.name] ?? input.defaultValue else {
                throw InputError(message: "input '\(input.name)' is required and has no default: pass --input \(input.name)=VALUE "
                                 + "(\(article(input.type)) \(input.type.rawValue)) or put it in --input-file")
            }
            result[input.name] = v
        }
        return .object(result)
    }

    static func article(_ type: InputType) -> String {
        type == .integer || type == .array || type == .object ? "an" : "a"
    }

    static func hint(_ type: InputType) -> String {
        switch type {
        case .integer: return " (write a whole number such as 3)"
        case .number: return " (write a number such as 0.5)"
        case .boolean: return " (write true or false)"
        case .array: return " (write a JSON array such as [\"a\",\"b\"])"
        case .object: return " (write a JSON object such as {\"k\":\"v\"})"
        case .string: return ""
        }
    }

    /// Command-line text as a value of `type`, or nil when it is not one.
    static func parse(_ text: String, as type: InputType) -> JSONValue? {
        switch type {
        case .string:
            return .string(text)
        case .integer:
            return Int(text.trimmingCharacters(in: .whitespaces)).map { .int($0) }
        case .number:
            return YAMLValue.jsonNumber(text.trimmingCharacters(in: .whitespaces)).map(JSONValue.number)
        case .boolean:
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "yes", "1": return .bool(true)
            case "false", "no", "0": return .bool(false)
            default: return nil
            }
        case .array, .object:
            guard let value = try? JSONValue.parse(text) else { return nil }
            return coerce(value, to: type)
        }
    }

    /// A value read from YAML or JSON, checked against `type` and converted where lossless
    /// (a number to a string, the text "3" to an integer). Nil when it does not fit.
    static func coerce(_ value: JSONValue, to type: InputType) -> JSONValue? {
        switch (type, value) {
        case (.string, .string): return value
        case (.string, .number(let n)): return .string(n)
        case (.string, .bool(let b)): return .string(b ? "true" : "false")
        case (.number, .number): return value
        case (.integer, .number): return value.intValue.map { .int($0) }
        case (.boolean, .bool): return value
        case (.array, .array), (.object, .object): return value
        case (_, .string(let s)) where type != .string: return parse(s, as: type)
        default: return nil
        }
    }
}
