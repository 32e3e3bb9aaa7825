import Foundation
import Testing
import WfloCore
@testable import WfloDSL

/// Issue 22, items 5 and 6: line endings and aliases a hostile file may use.
@Suite(.timeLimit(.minutes(1)))
struct HostileYAMLTests {
    static let duplicateInStep = "name: w\nsteps:\n  - id: a\n    type: transform\n    output: 1\n    # a comment\n    output: 2\n"

    @Test(arguments: ["\r\n", "\r"])
    func aRepeatedKeyInAFileWithOtherLineEndingsIsReportedAtTheRepeat(ending: String) {
        let yaml = Self.duplicateInStep.replacingOccurrences(of: "\n", with: ending)
        let found = diagnostics(yaml)
        #expect(found.map(\.description) == ["w.yaml:7:5: error: duplicate key 'output' in a mapping; each key may appear once"])
    }

    @Test func aRepeatedTopLevelKeyWithCRLFIsReportedAtTheRepeat() {
        let found = diagnostics("name: w\r\nname: v\r\nsteps:\r\n  - {id: a, type: transform, output: 1}\r\n")
        #expect(found.map(\.description) == ["w.yaml:2:1: error: duplicate key 'name' in a mapping; each key may appear once"])
    }

    /// A "billion laughs": nine levels of ten aliases, 10^9 values from a few hundred bytes.
    static let laughs: String = {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...9 {
            let previous = "*a\(level - 1)"
            lines.append("a\(level): &a\(level) [" + Array(repeating: previous, count: 10).joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n") + "\n"
    }()

    @Test func anAliasBombInAWorkflowIsRefusedWithItsPlace() {
        let found = diagnostics("name: w\n" + Self.laughs + "steps:\n  - {id: a, type: transform, output: 1}\n")
        #expect(found.count == 1)
        #expect(found.first?.message.contains("aliases here expand to more than") == true, "\(found)")
        #expect((found.first?.location.line ?? 0) > 1)
    }

    @Test func anAliasBombAsInputValuesIsRefused() {
        do {
            _ = try YAMLValue.parse(Self.laughs, file: "inputs.yaml")
            Issue.record("an alias bomb was read")
        } catch let error as WorkflowValidationError {
            #expect(error.diagnostics.first?.description.hasPrefix("inputs.yaml:") == true)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func ordinaryAliasesStillWork() throws {
        let value = try YAMLValue.parse("base: &b {x: 1}\nother: *b\n", file: "w.yaml")
        #expect(value["other"]?["x"] == .number("1"))
    }
}
