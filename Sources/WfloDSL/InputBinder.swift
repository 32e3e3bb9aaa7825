import Foundation
import WfloCore

/// Errors binding a run's inputs; each names the input and says what to pass.
public struct InputError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Turns `--input NAME=VALUE` arguments and an `--input-file` object into the run's inputs:
/// defaults applied, values converted to the declared types, unknown and missing inputs refused.
public enum InputBinder {
    /// - Returns: an object holding every declared input.
    /// - Throws: ``InputError`` naming the input.
    public static func bind(_ definition: WorkflowDefinition, arguments: [String], file: JSONValue?) throws -> JSONValue {
        var given: [String: JSONValue] = [:]
        let declared = Dictionary(uniqueKeysWithValues: definition.inputs.map { ($0.name, $0) })
        func lookup(_ name: String) throws -> InputDefinition {
            guard let input = declared[name] else {
                let names = definition.inputs.map(\.name)
                throw InputError(message: "the workflow '\(definition.name)' has no input '\(name)'" +
                                 (names.isEmpty ? " (it takes none)" : " (its inputs: \(names.joined(separator: ", ")))"))
            }
            return input
        }
        if let file {
            guard case .object(let object) = file else { throw InputError(message: "the input file must hold an object of NAME: VALUE") }
            for (name, value) in object {
                let input = try lookup(name)
                guard let v = coerce(value, to: input.type) else {
                    throw InputError(message: "input '\(name)' in the input file must be a \(input.type.rawValue), not \(value.encoded())")
                }
                given[name] = v
            }
        }
        for argument in arguments {
            guard let eq = argument.firstIndex(of: "=") else {
                throw InputError(message: "--input '\(argument)' must be NAME=VALUE")
            }
            let name = String(argument[..<eq])
            let text = String(argument[argument.index(after: eq)...])
            let input = try lookup(name)
            guard let v = parse(text, as: input.type) else {
                throw InputError(message: "--input \(name)=\(text): '\(name)' is a \(input.type.rawValue)" + hint(input.type))
            }
            given[name] = v
        }
        var result: [String: JSONValue] = [:]
        for input in definition.inputs {
            if let v = given[input.name] ?? input.defaultValue {
                result[input.name] = v
            } else {
                throw InputError(message: "input '\(input.name)' is required: pass --input \(input.name)=VALUE (a \(input.type.rawValue))")
            }
        }
        return .object(result)
    }

    static func hint(_ type: InputType) -> String {
        switch type {
        case .integer: return " (write a whole number)"
        case .number: return " (write a number such as 0.5)"
        case .boolean: return " (write true or false)"
        case .array: return " (write a JSON array such as [\"a\",\"b\"])"
        case .object: return " (write a JSON object)"
        case .string: return ""
        }
    }

    /// Text from the command line as a value of `type`.
    static func parse(_ text: String, as type: InputType) -> JSONValue? {
        switch type {
        case .string: return .string(text)
        case .integer: return Int(text).map { .int($0) }
        case .number: return Money.isDecimalLiteral(text) ? .number(text.hasPrefix("+") ? String(text.dropFirst()) : text) : nil
        case .boolean:
            switch text.lowercased() {
            case "true", "yes", "1": return .bool(true)
            case "false", "no", "0": return .bool(false)
            default: return nil
            }
        case .array, .object:
            guard let value = try? JSONValue.parse(text) else { return nil }
            return coerce(value, to: type)
        }
    }

    /// A value read from YAML or JSON, checked (and where lossless, converted) to `type`.
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
