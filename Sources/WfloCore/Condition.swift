import Foundation

/// A step's `if:` — a small boolean expression over template references:
///
/// ```
/// {{inputs.mode}} == 'full'
/// {{steps.check.output.json.score}} >= 0.8 && !{{steps.check.output.json.spam}}
/// 'urgent' in {{steps.classify.output.json.labels}}
/// ```
///
/// Operands are references (`{{inputs.NAME}}`, `{{steps.ID.output…}}`, `{{for_each.VAR}}`),
/// strings in single or double quotes, numbers, `true`, `false`, `null`, and parenthesised
/// expressions. Operators, loosest first: `||`, `&&`, `!`, then one comparison `==`, `!=`,
/// `<`, `<=`, `>`, `>=`, `in`, `not in`. `in` looks for an element in an array, a substring in
/// a string, a key in an object. A value alone is tested for truth: false, null, 0, "", [] and
/// {} are false, everything else true.
public struct Condition: Sendable, Hashable, Codable, CustomStringConvertible {
    public let source: String
    let root: Node

    indirect enum Node: Sendable, Hashable, Codable {
        case literal(JSONValue)
        case reference([String])
        case not(Node)
        case and(Node, Node)
        case or(Node, Node)
        case compare(Node, Operator, Node)
    }

    enum Operator: String, Sendable, Hashable, Codable {
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case inside = "in", notInside = "not in"
    }

    /// Parses `source`. Throws ``TemplateError`` with the offset of the problem.
    public init(_ source: String) throws {
        self.source = source
        var parser = ConditionParser(source)
        self.root = try parser.parseAll()
    }

    public var description: String { source }

    /// Every reference path, in order.
    public var references: [[String]] { Condition.references(root) }

    /// Whether it reads the item of its step's `for_each` (`{{for_each.…}}`): then it is decided
    /// for each item, not once for the step.
    public var readsForEachItem: Bool { references.contains { $0.first == "for_each" } }

    /// The references as a template (same text, same offsets), for reference checks.
    public var template: Template { (try? Template(source)) ?? Template(literal: source) }

    private static func references(_ node: Node) -> [[String]] {
        switch node {
        case .literal: return []
        case .reference(let path): return [path]
        case .not(let n): return references(n)
        case .and(let a, let b), .or(let a, let b), .compare(let a, _, let b): return references(a) + references(b)
        }
    }

    /// Evaluates with `resolve` giving the value at each reference path.
    /// - Throws: what `resolve` throws, or ``ConditionError`` for a comparison that makes no sense
    ///   (`<` between a number and a string, `in` on a number).
    public func evaluate(_ resolve: ([String]) throws -> JSONValue) throws -> Bool {
        Condition.isTrue(try Condition.value(root, resolve))
    }

    private static func value(_ node: Node, _ resolve: ([String]) throws -> JSONValue) throws -> JSONValue {
        switch node {
        case .literal(let v): return v
        case .reference(let path): return try resolve(path)
        case .not(let n): return .bool(!isTrue(try value(n, resolve)))
        case .and(let a, let b): return .bool(try isTrue(value(a, resolve)) && isTrue(value(b, resolve)))
        case .or(let a, let b): return .bool(try isTrue(value(a, resolve)) || isTrue(value(b, resolve)))
        case .compare(let a, let op, let b):
            return .bool(try compare(value(a, resolve), op, value(b, resolve)))
        }
    }

    /// Truth of a value: false, null, 0, "", [] and {} are false.
    public static func isTrue(_ value: JSONValue) -> Bool {
        switch value {
        case .null: return false
        case .bool(let b): return b
        case .number: return value.decimalValue.map { $0 != 0 } ?? true
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        }
    }

    /// Equality where numbers compare by value (`1 == 1.0`) and everything else structurally.
    public static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number, .number): return a.decimalValue == b.decimalValue
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { key, value in y[key].map { equal(value, $0) } ?? false }
        default: return a == b
        }
    }

    private static func compare(_ a: JSONValue, _ op: Operator, _ b: JSONValue) throws -> Bool {
        switch op {
        case .equal: return equal(a, b)
        case .notEqual: return !equal(a, b)
        case .inside, .notInside:
            let found: Bool
            switch b {
            case .array(let items): found = items.contains { equal($0, a) }
            case .string(let text):
                guard case .string(let needle) = a else {
                    throw ConditionError("'in' a string needs a string on its left, not \(kind(a))")
                }
                found = text.contains(needle)
            case .object(let object):
                guard case .string(let key) = a else { throw ConditionError("'in' an object needs a key (a string) on its left, not \(kind(a))") }
                found = object[key] != nil
            case .null: found = false
            default:
                throw ConditionError("'in' needs an array, a string or an object on its right, not \(kind(b))")
            }
            return op == .inside ? found : !found
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let order: ComparisonResult
            switch (a, b) {
            case (.number, .number):
                guard let x = a.decimalValue, let y = b.decimalValue else { throw ConditionError("cannot compare \(a.encoded()) with \(b.encoded())") }
                order = x < y ? .orderedAscending : (x > y ? .orderedDescending : .orderedSame)
            case (.string(let x), .string(let y)):
                order = x < y ? .orderedAscending : (x > y ? .orderedDescending : .orderedSame)
            default:
                throw ConditionError("'\(op.rawValue)' compares two numbers or two strings, not \(kind(a)) and \(kind(b))")
            }
            switch op {
            case .less: return order == .orderedAscending
            case .lessOrEqual: return order != .orderedDescending
            case .greater: return order == .orderedDescending
            default: return order != .orderedAscending
            }
        }
    }

    private static func kind(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return "the boolean \(b)"
        case .number(let n): return "the number \(n)"
        case .string(let s): return "the string '\(s.count > 40 ? String(s.prefix(40)) + "…" : s)'"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// A condition that could not be evaluated.
public struct ConditionError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Recursive descent over the characters of a condition.
private struct ConditionParser {
    let chars: [Character]
    var i = 0

    init(_ source: String) { chars = Array(source) }

    mutating func parseAll() throws -> Condition.Node {
        skipSpace()
        guard i < chars.count else { throw TemplateError(message: "the condition is empty", offset: 0) }
        let node = try parseOr()
        skipSpace()
        if i < chars.count {
            throw TemplateError(message: "unexpected '\(String(chars[i...].prefix(12)))' (join conditions with && or ||; quote strings: 'text')", offset: i)
        }
        return node
    }

    mutating func skipSpace() { while i < chars.count, chars[i].isWhitespace { i += 1 } }

    mutating func eat(_ token: String) -> Bool {
        skipSpace()
        let t = Array(token)
        guard i + t.count <= chars.count, Array(chars[i..<i + t.count]) == t else { return false }
        // A word operator must end at a word boundary (`in` is not the start of `index`).
        if token.first!.isLetter, i + t.count < chars.count, chars[i + t.count].isLetter || chars[i + t.count].isNumber || chars[i + t.count] == "_" {
            return false
        }
        i += t.count
        return true
    }

    mutating func parseOr() throws -> Condition.Node {
        var node = try parseAnd()
        while eat("||") { node = .or(node, try parseAnd()) }
        return node
    }

    mutating func parseAnd() throws -> Condition.Node {
        var node = try parseNot()
        while eat("&&") { node = .and(node, try parseNot()) }
        return node
    }

    mutating func parseNot() throws -> Condition.Node {
        skipSpace()
        if i < chars.count, chars[i] == "!", !(i + 1 < chars.count && chars[i + 1] == "=") {
            i += 1
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    mutating func parseComparison() throws -> Condition.Node {
        let left = try parsePrimary()
        for op in ["==", "!=", "<=", ">=", "<", ">"] where eat(op) {
            return .compare(left, Condition.Operator(rawValue: op)!, try parsePrimary())
        }
        let save = i
        if eat("not"), eat("in") { return .compare(left, .notInside, try parsePrimary()) }
        i = save
        if eat("in") { return .compare(left, .inside, try parsePrimary()) }
        return left
    }

    mutating func parsePrimary() throws -> Condition.Node {
        skipSpace()
        guard i < chars.count else {
            throw TemplateError(message: "the condition ends where a value was expected", offset: i)
        }
        let start = i
        let c = chars[i]
        if c == "(" {
            i += 1
            let node = try parseOr()
            guard eat(")") else { throw TemplateError(message: "'(' is not closed with ')'", offset: start) }
            return node
        }
        if c == "{", i + 1 < chars.count, chars[i + 1] == "{" {
            var j = i + 2
            while j + 1 < chars.count, !(chars[j] == "}" && chars[j + 1] == "}") { j += 1 }
            guard j + 1 < chars.count else { throw TemplateError(message: "'{{' is not closed with '}}'", offset: start) }
            let body = String(chars[(i + 2)..<j]).trimmingCharacters(in: .whitespaces)
            let path = body.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !body.isEmpty, !path.contains(where: { $0.isEmpty || $0.contains(where: \.isWhitespace) }) else {
                throw TemplateError(message: "'{{\(body)}}' is not a reference (write {{inputs.NAME}} or {{steps.ID.output.FIELD}})", offset: start)
            }
            i = j + 2
            return .reference(path)
        }
        if c == "'" || c == "\"" {
            var j = i + 1
            var text = ""
            while j < chars.count, chars[j] != c {
                if chars[j] == "\\", j + 1 < chars.count { j += 1 }
                text.append(chars[j])
                j += 1
            }
            guard j < chars.count else { throw TemplateError(message: "the string starting here is not closed with \(c)", offset: start) }
            i = j + 1
            return .literal(.string(text))
        }
        if c.isNumber || c == "-" || c == "." {
            var j = i + 1
            while j < chars.count, chars[j].isNumber || chars[j] == "." || chars[j] == "e" || chars[j] == "E" { j += 1 }
            let text = String(chars[i..<j])
            guard Decimal(string: text) != nil, text != "-", text != "." else {
                throw TemplateError(message: "'\(text)' is not a number", offset: start)
            }
            i = j
            return .literal(.number(text))
        }
        if c.isLetter {
            var j = i
            while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || chars[j] == "." { j += 1 }
            let word = String(chars[i..<j])
            switch word {
            case "true": i = j; return .literal(.bool(true))
            case "false": i = j; return .literal(.bool(false))
            case "null": i = j; return .literal(.null)
            default:
                throw TemplateError(message: "'\(word)' is neither a value nor a reference: quote text ('\(word)') or write a reference ({{inputs.\(word)}})", offset: start)
            }
        }
        throw TemplateError(message: "unexpected '\(c)' where a value was expected", offset: start)
    }
}
