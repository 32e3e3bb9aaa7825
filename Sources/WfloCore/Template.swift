import Foundation

/// A string with `{{ reference }}` placeholders, such as
/// `"Write the brief from {{steps.outline.output.text}}"`.
///
/// A reference is a dotted path: `inputs.NAME`, `steps.ID.output[.FIELD…]` (numbers index
/// arrays), `secrets.NAME` where a later issue provides secrets. Rendering asks a resolver
/// for each path; a template that is exactly one reference renders to the referenced value
/// itself (an object stays an object), anything else renders to text.
public struct Template: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Segment: Sendable, Hashable, Codable {
        case literal(String)
        /// A reference; `offset` is its position (in characters) in the source text.
        case reference(path: [String], offset: Int)
    }

    public let source: String
    public let segments: [Segment]

    /// Parses `source`. Throws ``TemplateError`` for an unclosed `{{` or an empty reference.
    public init(_ source: String) throws {
        self.source = source
        // Scanned as UTF-8 bytes: `{`, `}` and `.` are ASCII, so a byte match is a character
        // boundary, and a template costs one pass over its text (no Foundation search per brace).
        let utf8 = source.utf8
        var segments: [Segment] = []
        var literalStart = utf8.startIndex
        var searchFrom = utf8.startIndex
        while let open = Self.find(UInt8(ascii: "{"), in: utf8, from: searchFrom) {
            let afterOpen = utf8.index(open, offsetBy: 2)
            let offset = source.distance(from: source.startIndex, to: open)
            guard let close = Self.find(UInt8(ascii: "}"), in: utf8, from: afterOpen) else {
                throw TemplateError(message: "'{{' is not closed with '}}'", offset: offset)
            }
            let body = Self.trimmingSpaces(source[afterOpen..<close])
            let path = body.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !body.isEmpty, !path.contains(where: { $0.isEmpty || Self.hasWhitespace($0) }) else {
                throw TemplateError(message: "'{{\(body)}}' is not a reference (write {{inputs.NAME}} or {{steps.ID.output.FIELD}})", offset: offset)
            }
            if literalStart < open { segments.append(.literal(String(source[literalStart..<open]))) }
            segments.append(.reference(path: path, offset: offset))
            literalStart = utf8.index(close, offsetBy: 2)
            searchFrom = literalStart
        }
        if literalStart < utf8.endIndex { segments.append(.literal(String(source[literalStart...]))) }
        self.segments = segments
    }

    /// Whether `part` holds a white-space character; ASCII text is read as bytes (the common case:
    /// walking a path's characters was a tenth of reading a 100,000-step workflow).
    private static func hasWhitespace(_ part: String) -> Bool {
        var ascii = true
        for byte in part.utf8 {
            if byte >= 0x80 { ascii = false; break }
            if byte == 0x20 || (0x09...0x0D).contains(byte) { return true }
        }
        return ascii ? false : part.contains(where: { $0.isWhitespace })
    }

    /// Whether `text` holds a `{{`: the text is a template rather than a plain string.
    public static func hasPlaceholder(_ text: String) -> Bool {
        find(UInt8(ascii: "{"), in: text.utf8, from: text.utf8.startIndex) != nil
    }

    /// The index of the first of two `byte`s in a row at or after `start`.
    private static func find(_ byte: UInt8, in utf8: String.UTF8View, from start: String.Index) -> String.Index? {
        var index = start
        var previous: String.Index?
        while index < utf8.endIndex {
            if utf8[index] == byte {
                if let previous { return previous }
                previous = index
            } else {
                previous = nil
            }
            index = utf8.index(after: index)
        }
        return nil
    }

    /// `text` without the spaces and tabs around it (what `CharacterSet.whitespaces` holds: tab and
    /// the Unicode space separators).
    private static func trimmingSpaces(_ text: Substring) -> Substring {
        func isSpace(_ character: Character) -> Bool {
            character.unicodeScalars.count == 1 && character.unicodeScalars.allSatisfy {
                $0 == "\t" || $0.properties.generalCategory == .spaceSeparator
            }
        }
        var trimmed = text
        while let first = trimmed.first, isSpace(first) { trimmed = trimmed.dropFirst() }
        while let last = trimmed.last, isSpace(last) { trimmed = trimmed.dropLast() }
        return trimmed
    }

    /// A template with no placeholders.
    public init(literal: String) {
        self.source = literal
        self.segments = literal.isEmpty ? [] : [.literal(literal)]
    }

    public var description: String { source }

    /// Every reference path in order of appearance.
    public var references: [[String]] {
        segments.compactMap { if case .reference(let p, _) = $0 { return p } else { return nil } }
    }

    public var isConstant: Bool { references.isEmpty }

    /// The step a reference path names (`steps.ID.…`), nil for an input, a secret or anything else.
    public static func stepID(of path: [String]) -> String? { path.count >= 2 && path[0] == "steps" ? path[1] : nil }

    /// Renders with `resolve`, which returns the value at a path or throws.
    /// A template that is exactly one reference returns that value unchanged.
    public func render(_ resolve: ([String]) throws -> JSONValue) rethrows -> JSONValue {
        if segments.count == 1, case .reference(let path, _) = segments[0] {
            return try resolve(path)
        }
        return .string(try renderText(resolve))
    }

    /// Renders to text: strings as they are, other values as compact JSON.
    public func renderText(_ resolve: ([String]) throws -> JSONValue) rethrows -> String {
        var out = ""
        for segment in segments {
            switch segment {
            case .literal(let s): out += s
            case .reference(let path, _): out += try resolve(path).interpolated
            }
        }
        return out
    }
}

public struct TemplateError: Error, Sendable, CustomStringConvertible {
    public let message: String
    /// Character offset of the problem in the template's text.
    public let offset: Int
    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }
    public var description: String { message }
}

/// A JSON-shaped value whose strings may be templates: the `output:` of a transform step,
/// a request body. Rendering walks the tree and renders each template.
public indirect enum TemplateValue: Sendable, Hashable, Codable {
    case literal(JSONValue)
    case template(Template)
    case array([TemplateValue])
    case object([String: TemplateValue])

    public func render(_ resolve: ([String]) throws -> JSONValue) rethrows -> JSONValue {
        switch self {
        case .literal(let v): return v
        case .template(let t): return try t.render(resolve)
        case .array(let items): return .array(try items.map { try $0.render(resolve) })
        case .object(let o): return .object(try o.mapValues { try $0.render(resolve) })
        }
    }

    public var templates: [Template] {
        switch self {
        case .literal: return []
        case .template(let t): return [t]
        case .array(let items): return items.flatMap(\.templates)
        case .object(let o): return o.keys.sorted().flatMap { o[$0]!.templates }
        }
    }
}

extension JSONValue {
    /// The value at `path` below this one (object keys, or array indexes written as numbers).
    public func value(at path: some Collection<String>) -> JSONValue? {
        var current = self
        for component in path {
            switch current {
            case .object(let o):
                guard let next = o[component] else { return nil }
                current = next
            case .array(let a):
                guard let i = Int(component), a.indices.contains(i) else { return nil }
                current = a[i]
            default:
                return nil
            }
        }
        return current
    }
}
