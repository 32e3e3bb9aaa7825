import Foundation

/// A JSON value that keeps numbers as the text they were written with.
///
/// Foundation's decoders read numbers through `Double`, which loses the exactness money needs
/// (`1.5e-07` is not a binary fraction). `JSONValue` keeps the number's lexeme, so a price is
/// turned into ``Money`` from the digits in the file. Objects keep no key order; ``encoded(sorted:)``
/// writes keys sorted, which makes the text canonical (cache keys, cassette matching).
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number, as its JSON lexeme (`12`, `-0.5`, `1.5e-07`).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }
    public static func decimal(_ value: Decimal) -> JSONValue { .number(Money.plainString(value)) }
    /// A number from a `Double`; JSON has no infinity or NaN, so a non-finite value is `null`.
    public static func double(_ value: Double) -> JSONValue {
        guard value.isFinite else { return .null }
        if value == value.rounded(), abs(value) < 1e15 { return .number(String(Int64(value))) }
        return .number(String(value))
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public subscript(index: Int) -> JSONValue? {
        if case .array(let array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The number as an integer, when it is one (no fraction; an exponent is allowed: `1e3`).
    public var intValue: Int? {
        guard case .number(let text) = self else { return nil }
        if let i = Int(text) { return i }
        guard let d = Decimal(string: text), d == d.rounded0, let i = Int(exactly: NSDecimalNumber(decimal: d).int64Value) else { return nil }
        return Decimal(i) == d ? i : nil
    }

    public var decimalValue: Decimal? {
        guard case .number(let text) = self else { return nil }
        return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }

    public var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The value as text for a template: strings as they are, null as empty, the rest as JSON.
    public var interpolated: String {
        switch self {
        case .string(let s): return s
        case .null: return ""
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        default: return encoded(sorted: true)
        }
    }

    /// Compact JSON text. With `sorted`, object keys are in byte order: the same value gives
    /// the same text, byte for byte.
    ///
    /// The one JSON writer (journal, cassettes, reports): its output always parses. A
    /// ``number(_:)`` whose text is not a JSON number (`inf`, `nan`, `1e`) is written as `null`,
    /// so no non-finite or malformed number can ever reach the journal.
    public func encoded(sorted: Bool = true, pretty: Bool = false) -> String {
        var out = ""
        write(to: &out, sorted: sorted, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, sorted: Bool, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += JSONValue.isNumberLexeme(n) ? n : "null"
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                item.write(to: &out, sorted: sorted, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "]"
        case .object(let object):
            if object.isEmpty { out += "{}"; return }
            out += "{"
            // By UTF-8 bytes, compared in place (an array per comparison was most of a small object's encoding).
            let keys = sorted ? object.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) : Array(object.keys)
            for (i, key) in keys.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                JSONValue.writeString(key, to: &out)
                out += pretty ? ": " : ":"
                object[key]!.write(to: &out, sorted: sorted, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    /// Whether `text` is a number in JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    public static func isNumberLexeme(_ text: String) -> Bool {
        var bytes = text.utf8[...]
        func digits() -> Int {
            var count = 0
            while let byte = bytes.first, byte >= 48, byte <= 57 { bytes.removeFirst(); count += 1 }
            return count
        }
        if bytes.first == UInt8(ascii: "-") { bytes.removeFirst() }
        if bytes.first == UInt8(ascii: "0") {
            bytes.removeFirst()
        } else if digits() == 0 {
            return false
        }
        if bytes.first == UInt8(ascii: ".") {
            bytes.removeFirst()
            if digits() == 0 { return false }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes.removeFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes.removeFirst() }
            if digits() == 0 { return false }
        }
        return bytes.isEmpty
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        // Most text needs no escape: appended whole (a scalar at a time was most of the journal's JSON writing).
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

extension Decimal {
    fileprivate var rounded0: Decimal {
        var value = self
        var result = Decimal()
        NSDecimalRound(&result, &value, 0, .plain)
        return result
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: Codable {
    /// Decoding through `Codable` reads numbers via Foundation (fine for everything but money);
    /// use ``JSONValue/parse(_:)`` on the text where exact numbers matter.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .number(String(i)) }
        else if let d = try? c.decode(Decimal.self) { self = .decimal(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if let i = Int(n) { try c.encode(i) } else { try c.encode(Decimal(string: n) ?? 0) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}
