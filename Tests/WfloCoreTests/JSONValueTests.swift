import Foundation
import Testing
import WfloCore

struct JSONValueTests {
    @Test func keepsNumberLexemes() throws {
        let value = try JSONValue.parse(#"{"a": 1.5e-07, "b": [0, -2, 3.25], "c": 10000000000000000000000}"#)
        #expect(value["a"] == .number("1.5e-07"))
        #expect(value["b"]?[2] == .number("3.25"))
        #expect(value["c"] == .number("10000000000000000000000"))
    }

    @Test func canonicalEncodingSortsKeysAndIsStable() throws {
        let a = try JSONValue.parse(#"{"b": 1, "a": {"y": true, "x": null}}"#)
        let b = try JSONValue.parse(#"{"a": {"x": null, "y": true}, "b": 1}"#)
        #expect(a.encoded() == #"{"a":{"x":null,"y":true},"b":1}"#)
        #expect(a.encoded() == b.encoded())
    }

    @Test(arguments: [
        "\"caf\\u00e9 \\ud83d\\ude00 \\n\\t\\\"q\\\"\"",
        "\"日本語のテキスト 🚀\"",
    ])
    func roundTripsStrings(text: String) throws {
        let value = try JSONValue.parse(text)
        #expect(try JSONValue.parse(value.encoded()) == value)
    }

    @Test(arguments: [
        ("{\"a\": }", 1, 7),
        ("[1, 2,\n 3 4]", 2, 4),
        ("{\"a\": 01}", 1, 8),
        ("\"unterminated", 1, 14),
        ("[1] x", 1, 5),
        ("", 1, 1),
    ])
    func reportsWhereTextIsBroken(text: String, line: Int, column: Int) {
        #expect {
            try JSONValue.parse(text)
        } throws: { error in
            guard let e = error as? JSONParseError else { return false }
            return e.line == line && e.column == column
        }
    }

    @Test func readsPathsThroughObjectsAndArrays() throws {
        let value = try JSONValue.parse(#"{"items": [{"name": "x"}, {"name": "y"}]}"#)
        #expect(value.value(at: ["items", "1", "name"]) == "y")
        #expect(value.value(at: ["items", "5"]) == nil)
        #expect(value.value(at: ["items", "0", "name", "deeper"]) == nil)
    }

    @Test func integerValuesAreExactOrNil() {
        #expect(JSONValue.number("12").intValue == 12)
        #expect(JSONValue.number("1e3").intValue == 1000)
        #expect(JSONValue.number("1.5").intValue == nil)
    }
}
