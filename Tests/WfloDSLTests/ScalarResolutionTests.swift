import Foundation
import Testing
import WfloCore
@testable import WfloDSL

/// Plain scalars are resolved as Yams' default (YAML 1.1) resolver does, though the document is
/// composed without tag rules and only scalars whose first character could start a non-string
/// reach the regular expressions (issue 23: the rules ran on every key of a 100k-step file).
struct ScalarResolutionTests {
    static let cases: [(String, JSONValue)] = [
        ("yes", true), ("No", false), ("on", true), ("OFF", false), ("True", true), ("FALSE", false),
        ("~", nil), ("null", nil), ("Null", nil), ("", nil),
        ("12", .number("12")), ("-0.5", .number("-0.5")), (".5", .number("0.5")), ("+3", .number("3")), ("1_000", .number("1000")),
        ("1.5e-07", .number("1.5e-07")),
        ("0x1F", "0x1F"), (".inf", ".inf"), ("0123", "0123"), ("2001-12-14", "2001-12-14"), ("<<", "<<"), ("=", "="),
        ("abc", "abc"), ("0", .number("0")), ("7", .number("7")), ("1234567890", .number("1234567890")), ("12a", "12a"),
        ("y", "y"), ("n", "n"), ("NuLL", "NuLL"), ("oN", "oN"), ("yes please", "yes please"), ("-x", "-x"), ("-7", .number("-7")), ("1:20", "1:20"), ("Yesterday", "Yesterday"), ("nothing", "nothing"), ("true_story", "true_story"), ("one", "one"),
        ("\"yes\"", "yes"), ("'12'", "12"), ("!!str yes", "yes"), ("!!str 12", "12"), ("a{{inputs.x}}", "a{{inputs.x}}"),
    ]

    @Test(arguments: cases)
    func aPlainScalarTakesTheTypeYAMLGivesIt(text: String, expected: JSONValue) throws {
        let parsed = try YAMLValue.parse("v: \(text)\n", file: "s.yaml")
        #expect(parsed == ["v": expected], "\(text)")
    }

    @Test func aKeyWrittenAsANumberAndAsTextIsADuplicate() {
        // Both would be the key "1" of the JSON object, one silently lost; now it is refused.
        #expect(throws: WorkflowValidationError.self) { try YAMLValue.parse("1: a\n\"1\": b\n", file: "s.yaml") }
    }
}
