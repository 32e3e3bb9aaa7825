import WfloCore

/// Checks a tool call's arguments against the tool's JSON Schema before anything runs, so a
/// model's mistake comes back to it as a tool error it can fix rather than as a broken request.
///
/// The subset checked is what tool schemas use: `type` (object, array, string, number, integer,
/// boolean, null, or a list of them), `required`, `properties` (recursively), `items` and `enum`.
/// Other keywords are accepted without a check.
enum ToolArgumentCheck {
    /// What is wrong with `value` as `schema` describes it, one line each; empty when it fits.
    static func problems(_ value: JSONValue, schema: JSONValue, at path: String = "arguments") -> [String] {
        var found: [String] = []
        if let expected = types(schema), !expected.contains(where: { matches(value, type: $0) }) {
            return ["\(path) must be \(expected.joined(separator: " or ")), not \(kind(of: value))"]
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(value) {
            found.append("\(path) must be one of \(allowed.map { $0.encoded() }.joined(separator: ", ")), not \(value.encoded())")
        }
        if case .object(let object) = value {
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[name] == nil {
                found.append("\(path) lacks the required '\(name)'")
            }
            for (name, propertySchema) in (schema["properties"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                if let property = object[name] { found += problems(property, schema: propertySchema, at: "\(path).\(name)") }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (index, item) in items.enumerated() { found += problems(item, schema: itemSchema, at: "\(path)[\(index)]") }
        }
        return found
    }

    private static func types(_ schema: JSONValue) -> [String]? {
        if let one = schema["type"]?.stringValue { return [one] }
        return schema["type"]?.arrayValue?.compactMap(\.stringValue)
    }

    private static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number):
            return true
        case ("integer", .number(let text)):
            return Int(text) != nil || (Double(text).map { $0 == $0.rounded() } ?? false)
        default:
            return false
        }
    }

    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
