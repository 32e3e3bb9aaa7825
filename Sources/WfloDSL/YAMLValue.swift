import Foundation
import WfloCore
import Yams

/// YAML to ``JSONValue``, keeping numbers as the text written (so `0.10` and `1.5e-07` stay exact).
///
/// Plain scalars take the type YAML resolves (integer, float, boolean, null); quoted scalars are
/// always strings. A number is kept as JSON writes numbers (`.5` becomes `0.5`, `+3` becomes
/// `3`); forms JSON has no number for (`0x1F`, `.inf`, `0123`) stay text.
public enum YAMLValue {
    /// Parses a YAML (or JSON) document into a value; an empty document is `null`.
    /// - Throws: ``WorkflowValidationError`` with the line and column of a syntax error in `file`.
    public static func parse(_ text: String, file: String) throws -> JSONValue {
        guard let node = try compose(text, file: file) else { return .null }
        return convert(node)
    }

    /// - Parameter step: see ``YAMLComposer/compose(_:step:)``; only for a text without aliases
    ///   (the expansion check below walks the tree, and streamed steps are not in it).
    static func compose(_ text: String, file: String, step: ((Node) -> Void)? = nil) throws(WorkflowValidationError) -> Node? {
        let node: Node?
        do {
            node = try YAMLComposer.compose(text, step: step)
        } catch {
            throw syntaxError(text, file: file, failure: error)
        }
        // A text without aliases fits (see expansionBudget).
        if let node, mayHaveAliases(text) { try checkExpansion(node, budget: expansionBudget(for: text), file: file) }
        return node
    }

    /// Whether `text` may hold an alias: one is written `*name`, so a text without `*` has none.
    static func mayHaveAliases(_ text: String) -> Bool {
        text.utf8.contains(UInt8(ascii: "*"))
    }

    /// The diagnostic for a text ``YAMLComposer`` stopped on. Yams reads the text again to say
    /// what is wrong in its words (its messages and places are what wflo has always shown);
    /// only if Yams found nothing wrong is the composer's own finding reported.
    static func syntaxError(_ text: String, file: String, failure: YAMLComposer.Failure) -> WorkflowValidationError {
        do {
            // Composed with no tag rules, as YAMLComposer composes (keys compare by their text).
            _ = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            var diagnostic = syntaxDiagnostic(error, file: file)
            if case .duplicatedKeysInMapping(let duplicates, let context) = error, let key = duplicates.first,
               let place = secondOccurrence(of: key, inBlockMappingAt: Mark(line: context.mark.line, column: context.mark.column), text: text) {
                diagnostic.location = SourceLocation(file: file, line: place.line, column: place.column)
            }
            return WorkflowValidationError(diagnostics: [diagnostic])
        } catch {
            return WorkflowValidationError(diagnostics: [Diagnostic(location: SourceLocation(file: file, line: 1, column: 1),
                                                                    message: "YAML: \(error)")])
        }
        return WorkflowValidationError(diagnostics: [Diagnostic(
            location: SourceLocation(file: file, line: failure.mark.line, column: failure.mark.column),
            message: "YAML syntax: \(failure.problem)")])
    }

    /// The most values (scalars, mappings, sequences, keys included) a document may hold once its
    /// aliases are expanded: 100,000 plus one per byte of text. A document without aliases
    /// always fits (every value takes at least one byte); a "billion laughs" of a few lines
    /// does not, and is refused before anything walks the expanded tree.
    static func expansionBudget(for text: String) -> Int { 100_000 + text.utf8.count }

    /// Counts the composed tree's values, aliases expanded, stopping at `budget`.
    /// - Throws: ``WorkflowValidationError`` at the anchored value whose copies went past the budget.
    static func checkExpansion(_ root: Node, budget: Int, file: String) throws(WorkflowValidationError) {
        var count = 0
        var stack: [Node] = [root]
        var lastMark = root.mark
        while let node = stack.popLast() {
            count += 1
            if let mark = node.mark { lastMark = mark }
            if count > budget {
                let location = SourceLocation(file: file, line: lastMark?.line ?? 1, column: lastMark?.column ?? 1)
                throw WorkflowValidationError(diagnostics: [Diagnostic(location: location, message:
                    "YAML aliases here expand to more than \(budget) values (an alias that repeats an alias, like a \"billion laughs\"); "
                    + "write the values out or use fewer nested aliases")])
            }
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping { stack.append(key); stack.append(value) }
            case .sequence(let sequence):
                stack.append(contentsOf: sequence)
            case .scalar:
                break
            }
        }
    }

    static func syntaxDiagnostic(_ error: YamlError, file: String) -> Diagnostic {
        func at(_ mark: Yams.Mark, _ message: String) -> Diagnostic {
            Diagnostic(location: SourceLocation(file: file, line: mark.line, column: mark.column), message: message)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) \($0.text)" } ?? problem
            return at(mark, "YAML syntax: \(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }
            return at(context.mark, "duplicate key\(keys.count == 1 ? "" : "s") \(keys.joined(separator: ", ")) in a mapping; each key may appear once")
        default:
            return Diagnostic(location: SourceLocation(file: file, line: 1, column: 1), message: "YAML: \(error)")
        }
    }

    /// Where `key` appears the second time among the keys of the block mapping whose first key is
    /// at `mark`, so a duplicate is reported at the repeat rather than at the mapping. Nil for a
    /// flow mapping or when the text does not show it plainly.
    static func secondOccurrence(of key: String, inBlockMappingAt mark: Mark, text: String) -> (line: Int, column: Int)? {
        // Lines end at LF, CRLF or CR (a CRLF is one Character, so splitting on "\n" would miss it).
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        let column = mark.column - 1
        guard mark.line >= 1, mark.line <= lines.count, column >= 0 else { return nil }
        var seen = 0
        for number in (mark.line - 1)..<lines.count {
            let line = Array(lines[number].unicodeScalars)
            let indentation = line.prefix { $0 == " " || $0 == "-" }.count
            if line.allSatisfy({ $0 == " " }) || line.dropFirst(indentation).first == "#" { continue }
            if number > mark.line - 1, indentation < column { break }
            guard line.count > column, indentation <= column || number == mark.line - 1 else { continue }
            let rest = String(String.UnicodeScalarView(line[column...]))
            if rest.hasPrefix(key), rest.dropFirst(key.count).drop(while: { $0 == " " }).first == ":" {
                seen += 1
                if seen == 2 { return (number + 1, column + 1) }
            }
        }
        return nil
    }

    /// Converts a composed node (its aliases are already the values they name).
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
        }
    }

    static func scalarValue(_ scalar: Node.Scalar) -> JSONValue {
        let text = scalar.string
        guard scalar.style == .plain else { return .string(text) }
        switch tagName(scalar) {
        case .null: return .null
        case .bool: return .bool(["true", "yes", "on"].contains(text.lowercased()))
        case .int, .float: return jsonNumber(text).map(JSONValue.number) ?? .string(text)
        default: return .string(text)
        }
    }

    /// The JSON lexeme for a YAML number, or nil when JSON cannot write it as one.
    static func jsonNumber(_ text: String) -> String? {
        // Most numbers are plain digits: those are their own JSON unless octal (`012`).
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return text.utf8.count > 1 && text.utf8.first == UInt8(ascii: "0") ? nil : text
        }
        var digits = text.utf8.contains(UInt8(ascii: "_")) ? text.replacingOccurrences(of: "_", with: "") : text
        guard Money.isDecimalLiteral(digits) else { return nil }
        var sign = ""
        if digits.hasPrefix("-") || digits.hasPrefix("+") {
            sign = digits.hasPrefix("-") ? "-" : ""
            digits.removeFirst()
        }
        if digits.hasPrefix(".") { digits = "0" + digits }
        if let dot = digits.firstIndex(of: "."), digits.index(after: dot) == digits.endIndex || !digits[digits.index(after: dot)].isNumber {
            digits.remove(at: dot)
        }
        // A leading zero before more digits is octal in YAML 1.1 and invalid in JSON.
        if digits.count > 1, digits.hasPrefix("0"), digits.dropFirst().first?.isNumber == true { return nil }
        return sign + digits
    }

    static func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && tagName(scalar) == .null
    }

    /// The scalar's tag as Yams' default resolver reads it (YAML 1.1: null, bool, int, float,
    /// timestamp, merge, value, else str). A plain scalar starting with a letter can only be one
    /// of the rules' words (bool, null); one of ASCII digits only is an int unless it has a
    /// leading zero; the rest that cannot start a non-string skip the regular expressions, and
    /// only what remains (signs, dots, leading zeros, dates, `~`, `<<`, `=`) goes through them.
    static func tagName(_ scalar: Node.Scalar) -> Tag.Name {
        if let tag = scalar.tag { return Tag.Name(rawValue: tag.name) }
        guard scalar.style == .plain else { return .str }
        let text = scalar.string
        guard let first = text.utf8.first else { return .null }
        switch first {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            if boolWords.contains(text) { return .bool }
            return nullWords.contains(text) ? .null : .str
        case UInt8(ascii: "1")...UInt8(ascii: "9") where text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }):
            return .int
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "~"), UInt8(ascii: "<"), UInt8(ascii: "="):
            return Resolver.default.resolveTag(of: Yams.Node.scalar(Yams.Node.Scalar(text)))
        default:
            return .str
        }
    }

    /// The words of Yams' default `bool` and `null` rules (the only ones a letter can start).
    static let boolWords: Set<String> = ["yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
                                         "on", "On", "ON", "off", "Off", "OFF"]
    static let nullWords: Set<String> = ["null", "Null", "NULL"]

    static func isNullNode(_ node: Node) -> Bool {
        if case .scalar(let scalar) = node { return isNull(scalar) }
        return false
    }
}
