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

    /// Text with nothing to escape is written whole, text with something to escape a character at
    /// a time: both read back the same (Foundation's parser is the referee), and a control
    /// character, a quote and a backslash are escaped wherever they sit in the text.
    @Test func writesTextWithAndWithoutEscapesAsFoundationReadsIt() throws {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["a", "Z", "0", " ", "é", "日本", "🚀", "\"", "\\", "\n", "\r", "\t", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}", "/", "\u{7F}"]
        for round in 0..<2_000 {
            let count = Int.random(in: 0...12, using: &generator)
            let text = (0..<count).map { _ in pieces.randomElement(using: &generator)! }.joined()
            let written = JSONValue.string(text).encoded()
            let read = try JSONSerialization.jsonObject(with: Data(written.utf8), options: [.fragmentsAllowed]) as? String
            #expect(read == text, "round \(round): \(written.debugDescription)")
            #expect(!written.dropFirst().dropLast().unicodeScalars.contains { $0.value < 0x20 }, "round \(round): a control character went out as is")
        }
        #expect(JSONValue.string("plain text, no escape").encoded() == #""plain text, no escape""#)
        #expect(JSONValue.string("a\"b\\c\nd").encoded() == #""a\"b\\c\nd""#)
    }

    /// Keys are ordered by their UTF-8 bytes (uppercase before lowercase, then non-ASCII).
    @Test func keysAreOrderedByTheirBytes() {
        let value: JSONValue = ["b": 1, "B": 2, "é": 3, "a": 4, "ab": 5, "": 6]
        #expect(value.encoded() == #"{"":6,"B":2,"a":4,"ab":5,"b":1,"é":3}"#)
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

/// Issue 22, item 1: the one JSON writer never writes a number JSON cannot read back.
@Suite struct JSONWriterNumberTests {
    @Test(arguments: [Double.infinity, -Double.infinity, Double.nan])
    func aNonFiniteDoubleIsNull(value: Double) throws {
        let text = JSONValue.object(["delay_seconds": .double(value)]).encoded()
        #expect(text == #"{"delay_seconds":null}"#)
        #expect(try JSONValue.parse(Data(text.utf8))["delay_seconds"] == .null)
    }

    @Test(arguments: ["inf", "nan", "-", "1e", "1.", ".5", "+3", "0x1F", "01", "1e30x", ""])
    func aNumberThatIsNotJSONIsWrittenAsNull(lexeme: String) throws {
        let text = JSONValue.array([.number(lexeme)]).encoded()
        #expect(text == "[null]")
        _ = try JSONValue.parse(Data(text.utf8))
    }

    @Test(arguments: ["0", "-0", "12", "-0.5", "1.5e-07", "1E+30", "10"])
    func aJSONNumberIsWrittenAsIs(lexeme: String) {
        #expect(JSONValue.array([.number(lexeme)]).encoded() == "[\(lexeme)]")
    }
}
