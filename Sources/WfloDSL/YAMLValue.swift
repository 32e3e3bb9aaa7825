import Foundation
import WfloCore
import Yams

/// YAML to ``JSONValue``, keeping numbers as the text written (so `0.10` stays exact).
public enum YAMLValue {
    /// Parses a YAML (or JSON) document into a value.
    /// - Throws: ``WorkflowValidationError`` with the line and column of a syntax error.
    public static func parse(_ text: String, file: String) throws -> JSONValue {
        guard let node = try compose(text, file: file) else { return .null }
        return convert(node)
    }

    static func compose(_ text: String, file: String) throws(WorkflowValidationError) -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw WorkflowValidationError(diagnostics: [syntaxDiagnostic(error, file: file)])
        } catch {
            throw WorkflowValidationError(diagnostics: [Diagnostic(location: SourceLocation(file: file, line: 1, column: 1), message: "\(error)")])
        }
    }

    static func syntaxDiagnostic(_ error: YamlError, file: String) -> Diagnostic {
        func at(_ mark: Mark, _ problem: String, _ context: YamlError.Context?) -> Diagnostic {
            let detail = context.map { "\(problem) \($0.text)" } ?? problem
            return Diagnostic(location: SourceLocation(file: file, line: mark.line, column: mark.column), message: "YAML syntax: \(detail)")
        }
        switch error {
        case .scanner(let context, let problem, let mark, _): return at(mark, problem, context)
        case .parser(let context, let problem, let mark, _): return at(mark, problem, context)
        case .composer(let context, let problem, let mark, _): return at(mark, problem, context)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(location: SourceLocation(file: file, line: context.mark.line, column: context.mark.column),
                              message: "duplicate keys in a mapping: \(duplicates.joined(separator: ", "))")
        default:
            return Diagnostic(location: SourceLocation(file: file, line: 1, column: 1), message: "YAML: \(error)")
        }
    }

    /// Converts a node: plain scalars by their resolved tag (int, float, bool, null), quoted
    /// ones as strings; numbers keep their text.
    static func convert(_ node: Node) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            return scalarValue(scalar)
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = convert(value) }
            return .object(object)
        case .sequence(let sequence):
            return .array(sequence.map(convert))
        case .alias:
            return .null
        }
    }

    static func scalarValue(_ scalar: Node.Scalar) -> JSONValue {
        let text = scalar.string
        guard scalar.style == .plain else { return .string(text) }
        switch Tag.Name(rawValue: scalar.tag.rawValue) {
        case .null: return .null
        case .bool: return .bool(["true", "yes", "on", "y"].contains(text.lowercased()))
        case .int, .float:
            let cleaned = text.replacingOccurrences(of: "_", with: "")
            if Money.isDecimalLiteral(cleaned) {
                return .number(cleaned.hasPrefix("+") ? String(cleaned.dropFirst()) : cleaned)
            }
            return .string(text)
        default: return .string(text)
        }
    }
}
