import Testing
import WfloCore
import WfloDSL

/// Issue 8's fields: if, for_each, switch, sleep, workflow, and the run's timeout — read, and
/// refused with the file, line and column when wrong.
@Suite struct ControlFieldTests {
    @Test func theContractWorkflowReads() throws {
        let definition = try WorkflowParser().parse(yaml: """
            name: w
            timeout: 1h
            inputs:
              topics: {type: array, default: ["a", "b"]}
              mode: {type: string, default: "short"}
            steps:
              - id: summaries
                type: llm
                for_each: {items: "{{inputs.topics}}", item_var: topic, max_parallel: 2}
                model: gpt-4o-mini
                prompt: "Summarize {{for_each.topic}} (item {{for_each.index}})"
                max_tokens: 50
              - id: long_form
                type: llm
                if: "{{inputs.mode}} == 'full' && {{steps.summaries.output.count}} > 1"
                model: gpt-4o-mini
                prompt: "Write the long form"
                max_tokens: 50
            """, file: "w.yaml")
        #expect(definition.timeout == 3600)
        let summaries = try #require(definition.step("summaries"))
        #expect(summaries.forEach == ForEachSettings(items: try Template("{{inputs.topics}}"), itemVar: "topic", maxParallel: 2))
        let long = try #require(definition.step("long_form"))
        #expect(long.condition?.source == "{{inputs.mode}} == 'full' && {{steps.summaries.output.count}} > 1")
        // A step named in an if: is waited for.
        #expect(long.allDependencies == ["summaries"])
    }

    @Test(arguments: [
        ("if: \"{{inputs.mode}} = 'full'\"", 6, 26, "step 'a': 'if': unexpected '= 'full''"),
        ("if: \"{{inputs.mode}} == full\"", 6, 29, "step 'a': 'if': 'full' is neither a value nor a reference"),
        ("if: \"{{inputs.nope}} == 'x'\"", 6, 10, "{{inputs.nope}}: the workflow declares no input 'nope'"),
        ("if: \"{{for_each.item}} == 'x'\"", 6, 10, "{{for_each.item}}: {{for_each.…}} is only for the fields and the 'if:' of a step with 'for_each:' (not for its items)"),
        ("for_each: {items: \"{{inputs.mode}}\", max_parallel: 0}", 6, 56, "step 'a': 'for_each': 'max_parallel' must be a positive whole number, not '0'"),
        ("for_each: {item_var: x}", 6, 15, "step 'a': 'for_each' is missing 'items'"),
        ("for_each: {items: \"{{inputs.mode}}\", item_var: index}", 6, 52, "step 'a': 'for_each': 'item_var' must be a name"),
    ])
    func badFieldsAreReportedWhereTheyAre(line: String, row: Int, column: Int, message: String) {
        let found = diagnostics("""
            name: w
            inputs: {mode: {type: string, default: "x"}}
            steps:
              - id: a
                type: transform
                \(line)
                output: 1
            """)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.location.line == row)
        #expect(found.first?.location.column == column, "\(found)")
        #expect(found.first?.message.contains(message) == true, "\(found)")
    }

    /// A condition is not a template: a quoted "{{" is a string, and the step still waits for the
    /// step its reference names.
    @Test func aConditionsDependenciesComeFromItsOwnParse() throws {
        let definition = try WorkflowParser().parse(yaml: """
            name: w
            steps:
              - {id: a, type: transform, output: "x"}
              - {id: b, type: transform, output: 1, if: "'{{' in {{steps.a.output}}"}
            """, file: "w.yaml")
        #expect(definition.step("b")?.allDependencies == ["a"])
    }

    @Test func aForEachItemReferenceMustNameTheItemVariable() {
        let found = diagnostics("""
            name: w
            inputs: {xs: {type: array, default: [1]}}
            steps:
              - id: a
                type: transform
                for_each: {items: "{{inputs.xs}}", item_var: x}
                output: "{{for_each.y}}"
            """)
        #expect(found.map(\.message) == ["{{for_each.y}}: write {{for_each.x}} for the item (its 'item_var') or {{for_each.index}} for its position"])
    }

    @Test func switchTargetsMustExistAndBeRoutedOnce() {
        let found = diagnostics("""
            name: w
            steps:
              - id: r1
                type: switch
                value: "x"
                cases: {x: [a, nope]}
              - id: r2
                type: switch
                value: "x"
                cases: {y: a}
              - id: a
                type: transform
                output: 1
            """)
        #expect(found.map(\.message).contains("switch 'r1' routes to unknown step 'nope'"))
        #expect(found.map(\.message).contains("step 'a' is routed by two switches ('r1' and 'r2'); route it from one and use if: for more"))
    }

    @Test func aSwitchTargetThatFeedsTheSwitchIsACycle() {
        let found = diagnostics("""
            name: w
            steps:
              - id: route
                type: switch
                value: "{{steps.a.output}}"
                cases: {x: a}
              - id: a
                type: transform
                output: 1
            """)
        #expect(found.contains { $0.message.hasPrefix("dependency cycle: route → a → route") }, "\(found)")
    }

    @Test func sleepNeedsOneOfDurationOrUntil() {
        #expect(diagnostics("name: w\nsteps:\n  - {id: s, type: sleep}\n").map(\.message)
                == ["step 's' needs 'duration' (such as 10m) or 'until' (an ISO 8601 time such as 2026-12-01T09:00:00Z)"])
        #expect(diagnostics("name: w\nsteps:\n  - {id: s, type: sleep, duration: soon}\n").first?.message
                .contains("'duration' must be a duration") == true)
        #expect(diagnostics("name: w\nsteps:\n  - {id: s, type: sleep, duration: 1s, for_each: \"{{inputs.x}}\"}\ninputs: {x: {type: array, default: []}}\n")
                .contains { $0.message.contains("'for_each' is for steps that do work") })
    }

    @Test func aMissingSubWorkflowFileIsNamed() {
        let found = diagnostics("name: w\nsteps:\n  - {id: s, type: workflow, workflow: nowhere.yaml}\n")
        #expect(found.first?.message.hasPrefix("step 's': cannot read the workflow 'nowhere.yaml'") == true, "\(found)")
    }
}
