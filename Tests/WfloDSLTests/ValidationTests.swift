import Testing
import WfloCore
import WfloDSL

/// A workflow with one mistake, and the one diagnostic it must give.
struct BadWorkflow: Sendable, CustomTestStringConvertible {
    let name: String
    let yaml: String
    let line: Int
    let column: Int
    let message: String
    var testDescription: String { name }
}

let pricedModels: @Sendable (String) -> String? = { model in
    ["gpt-4o-mini", "claude-sonnet-4-5"].contains(model)
        ? nil : "model '\(model)' is not in the pricing table; add it with --pricing FILE or a pricing: block"
}

@Suite struct ValidationTests {
    static let cases: [BadWorkflow] = [
        BadWorkflow(name: "unknown step type", yaml: """
            name: w
            steps:
              - id: a
                type: lmm
                prompt: hi
            """, line: 4, column: 11,
            message: "step 'a': unknown step type 'lmm'; the allowed types are llm, transform, approval, http, switch, sleep, workflow, agent, sandbox; did you mean 'llm'?"),
        BadWorkflow(name: "duplicate id", yaml: """
            name: w
            steps:
              - id: a
                type: transform
                output: 1
              - id: a
                type: transform
                output: 2
            """, line: 6, column: 9,
            message: "duplicate step id 'a': line 3 already uses it; step ids must be unique"),
        BadWorkflow(name: "dependency cycle", yaml: """
            name: w
            steps:
              - id: a
                type: transform
                depends_on: b
                output: 1
              - id: b
                type: transform
                output: "{{steps.a.output}}"
            """, line: 3, column: 5,
            message: "dependency cycle: a → b → a (through depends_on and {{steps.…}} references); a step cannot wait for its own result"),
        BadWorkflow(name: "unknown template reference", yaml: """
            name: w
            steps:
              - id: a
                type: llm
                model: gpt-4o-mini
                prompt: "Hi {{steps.nope.output.text}}"
                max_tokens: 10
            """, line: 6, column: 17,
            message: "{{steps.nope.output.text}}: there is no step 'nope'"),
        BadWorkflow(name: "unknown input", yaml: """
            name: w
            inputs:
              topic: tides
            steps:
              - id: a
                type: transform
                output: About {{inputs.tpic}}
            """, line: 7, column: 19,
            message: "{{inputs.tpic}}: the workflow declares no input 'tpic'; did you mean 'topic'?"),
        BadWorkflow(name: "missing required field", yaml: """
            name: w
            steps:
              - id: a
                type: llm
                model: gpt-4o-mini
                prompt: hi
            """, line: 3, column: 5,
            message: "step 'a' is missing the required field 'max_tokens' (wflo always sends it: it bounds the cost)"),
        BadWorkflow(name: "max_tokens zero", yaml: """
            name: w
            steps:
              - id: a
                type: llm
                model: gpt-4o-mini
                prompt: hi
                max_tokens: 0
            """, line: 7, column: 17,
            message: "step 'a': 'max_tokens' must be a positive whole number (it caps the answer and so the cost), not '0'"),
        BadWorkflow(name: "max_tokens fractional", yaml: """
            name: w
            steps:
              - id: a
                type: llm
                model: gpt-4o-mini
                prompt: hi
                max_tokens: 2.5
            """, line: 7, column: 17,
            message: "step 'a': 'max_tokens' must be a positive whole number (it caps the answer and so the cost), not '2.5'"),
        BadWorkflow(name: "unpriced model", yaml: """
            name: w
            steps:
              - id: a
                type: llm
                model: gpt-9
                prompt: hi
                max_tokens: 10
            """, line: 5, column: 12,
            message: "step 'a': model 'gpt-9' is not in the pricing table; add it with --pricing FILE or a pricing: block"),
        BadWorkflow(name: "unknown step field with suggestion", yaml: """
            name: w
            steps:
              - id: a
                type: llm
                model: gpt-4o-mini
                prompt: hi
                max_tokens: 10
                temperatur: 0.2
            """, line: 8, column: 5,
            message: "unknown field 'temperatur' in step 'a'; did you mean 'temperature'?"),
        BadWorkflow(name: "unknown top-level field with suggestion", yaml: """
            name: w
            descripton: typo
            steps:
              - id: a
                type: transform
                output: 1
            """, line: 2, column: 1,
            message: "unknown field 'descripton' in the workflow; did you mean 'description'?"),
        BadWorkflow(name: "field of the other step type", yaml: """
            name: w
            steps:
              - id: a
                type: transform
                output: 1
                model: gpt-4o-mini
            """, line: 6, column: 5,
            message: "step 'a': 'model' is a field of llm steps, not of transform steps"),
        BadWorkflow(name: "yaml syntax error", yaml: """
            name: w
            steps:
              - id: a
                type: [transform
                output: 1
            """, line: 5, column: 11,
            message: "YAML syntax: did not find expected ',' or ']' while parsing a flow sequence"),
        BadWorkflow(name: "depends_on unknown step", yaml: """
            name: w
            steps:
              - id: outline
                type: transform
                output: 1
              - id: b
                type: transform
                depends_on: [outlin]
                output: 2
            """, line: 8, column: 18,
            message: "step 'b' depends on unknown step 'outlin'; did you mean 'outline'?"),
        BadWorkflow(name: "step uses its own output", yaml: """
            name: w
            steps:
              - id: a
                type: transform
                output: {again: "{{steps.a.output}}"}
            """, line: 5, column: 22,
            message: "{{steps.a.output}}: step 'a' cannot use its own output"),
        BadWorkflow(name: "step reference without output", yaml: """
            name: w
            steps:
              - id: a
                type: transform
                output: 1
              - id: b
                type: transform
                output: "{{steps.a.text}}"
            """, line: 8, column: 14,
            message: "{{steps.a.text}}: a step reference starts with steps.ID.output, as in {{steps.a.output.text}} (or is {{steps.a.status}}: completed or skipped)"),
        BadWorkflow(name: "unknown reference root", yaml: """
            name: w
            steps:
              - id: a
                type: transform
                output: "{{env.HOME}}"
            """, line: 5, column: 14,
            message: "{{env.HOME}}: unknown reference 'env'; a template may use {{inputs.NAME}} or {{steps.ID.output…}}"),
        BadWorkflow(name: "unclosed template", yaml: """
            name: w
            steps:
              - id: a
                type: transform
                output: "x {{inputs.y"
            """, line: 5, column: 16,
            message: "template: '{{' is not closed with '}}'"),
        BadWorkflow(name: "invalid step id", yaml: """
            name: w
            steps:
              - id: "a b"
                type: transform
                output: 1
            """, line: 3, column: 9,
            message: "step id 'a b' may use only letters A–Z and a–z, digits, '_' and '-'"),
        BadWorkflow(name: "budget not an amount", yaml: """
            name: w
            budget: $5
            steps:
              - id: a
                type: transform
                output: 1
            """, line: 2, column: 9,
            message: "'budget' must be an amount in USD such as 0.50, not '$5'"),
        BadWorkflow(name: "missing name", yaml: """
            steps:
              - id: a
                type: transform
                output: 1
            """, line: 1, column: 1,
            message: "the workflow is missing the required field 'name'"),
        BadWorkflow(name: "empty steps", yaml: """
            name: w
            steps: []
            """, line: 2, column: 8,
            message: "'steps' must be a non-empty list of steps, each with 'id' and 'type'"),
        BadWorkflow(name: "neither prompt nor messages", yaml: """
            name: w
            steps:
              - id: a
                type: llm
                model: gpt-4o-mini
                max_tokens: 5
            """, line: 3, column: 5,
            message: "step 'a' needs 'prompt' (text) or 'messages' (a list of {role, content})"),
        BadWorkflow(name: "bad duration", yaml: """
            name: w
            steps:
              - id: a
                type: transform
                timeout: soon
                output: 1
            """, line: 5, column: 14,
            message: "step 'a': 'timeout' must be a duration above zero: seconds as a number, or text such as 500ms, 2s, 1m, 1h, 7d, at most 100 years; not 'soon'"),
        BadWorkflow(name: "unknown provider", yaml: """
            name: w
            steps:
              - id: a
                type: llm
                provider: opnai
                model: gpt-4o-mini
                prompt: hi
                max_tokens: 5
            """, line: 5, column: 15,
            message: "step 'a': unknown provider 'opnai'; the allowed providers are openai, anthropic; did you mean 'openai'?"),
        BadWorkflow(name: "unknown input type", yaml: """
            name: w
            inputs:
              n: {type: int}
            steps:
              - id: a
                type: transform
                output: 1
            """, line: 3, column: 13,
            message: "input 'n': unknown type 'int'; the allowed types are string, number, integer, boolean, array, object"),
        BadWorkflow(name: "duplicate yaml key", yaml: """
            name: w
            name: v
            steps:
              - id: a
                type: transform
                output: 1
            """, line: 2, column: 1,
            message: "duplicate key 'name' in a mapping; each key may appear once"),
        BadWorkflow(name: "duplicate yaml key in a step", yaml: """
            name: w
            steps:
              - id: a
                type: transform
                output: 1
                # a comment
                output: 2
            """, line: 7, column: 5,
            message: "duplicate key 'output' in a mapping; each key may appear once"),
    ]

    @Test(arguments: cases)
    func badWorkflowIsReportedAtTheOffendingNode(_ bad: BadWorkflow) {
        let found = diagnostics(bad.yaml, modelCheck: pricedModels)
        #expect(found.map(\.description) == ["w.yaml:\(bad.line):\(bad.column): error: \(bad.message)"])
    }

    /// Steps read as the file is composed (each step's tree dropped once read) say what steps
    /// read from the whole tree say: a `*` anywhere in the text turns the first way off.
    @Test(arguments: cases)
    func stepsReadAsTheFileIsComposedAreReportedAsFromTheWholeTree(_ bad: BadWorkflow) {
        let streamed = diagnostics(bad.yaml, modelCheck: pricedModels).map(\.description)
        let whole = diagnostics(bad.yaml + "\n# a * in a comment\n", modelCheck: pricedModels).map(\.description)
        #expect(streamed == whole)
    }

    @Test func everyProblemIsReportedAtOnceInFileOrder() {
        let yaml = """
        name: w
        inputs:
          topic: tides
        steps:
          - id: a
            type: llm
            model: gpt-9
            prompt: "{{inputs.topik}}"
            max_tokens: -1
          - id: a
            type: transform
            output: 1
          - id: c
            type: trnsform
            depends_on: [ghost]
        outputs:
          result: "{{steps.zzz.output}}"
        """
        let found = diagnostics(yaml, modelCheck: pricedModels)
        #expect(found.map(\.location.line) == [7, 8, 9, 10, 14, 15, 17])
        #expect(found.count == 7)
        #expect(found[0].message.contains("model 'gpt-9' is not in the pricing table"))
        #expect(found[1].message.contains("did you mean 'topic'?"))
        #expect(found[2].message.contains("'max_tokens' must be a positive whole number"))
        #expect(found[3].message.contains("duplicate step id 'a'"))
        #expect(found[4].message.contains("unknown step type 'trnsform'"))
        #expect(found[5].message.contains("unknown step 'ghost'"))
        #expect(found[6].message.contains("there is no step 'zzz'"))
    }

    @Test func cycleOfThreeStepsIsReportedOnceInRunOrder() {
        let yaml = """
        name: w
        steps:
          - id: a
            type: transform
            depends_on: c
            output: 1
          - id: b
            type: transform
            output: "{{steps.a.output}}"
          - id: c
            type: transform
            depends_on: b
            output: 3
          - id: d
            type: transform
            depends_on: [c]
            output: 4
        """
        let found = diagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.location.line == 3)
        #expect(found.first?.message.hasPrefix("dependency cycle: a → b → c → a") == true)
    }

    @Test func referenceToADownstreamStepIsACycle() {
        let yaml = """
        name: w
        steps:
          - id: first
            type: transform
            output: "{{steps.second.output}}"
          - id: second
            type: transform
            depends_on: first
            output: 2
        """
        let found = diagnostics(yaml)
        #expect(found.map(\.message).first?.hasPrefix("dependency cycle: first → second → first") == true)
        #expect(found.count == 1)
    }

    @Test func stepDependingOnItselfIsReported() {
        let yaml = """
        name: w
        steps:
          - id: a
            type: transform
            depends_on: a
            output: 1
        """
        #expect(diagnostics(yaml).map(\.description) == ["w.yaml:5:17: error: step 'a' depends on itself"])
    }

    @Test func secretsAreRefusedWhereTheyWouldLeak() {
        let yaml = """
        name: w
        steps:
          - id: a
            type: transform
            output: "Bearer {{secrets.API_TOKEN}}"
        """
        #expect(diagnostics(yaml).map(\.description) == [
            "w.yaml:5:21: error: {{secrets.API_TOKEN}}: secrets are only for http steps; in a prompt or a transform they would reach the model or the journal in clear",
        ])
    }

    @Test func referencesToAStepWithAnotherMistakeDoNotCascade() {
        let yaml = """
        name: w
        steps:
          - id: a
            type: llm
            model: gpt-4o-mini
            prompt: hi
          - id: b
            type: transform
            output: "{{steps.a.output.text}}"
        """
        let found = diagnostics(yaml)
        #expect(found.count == 1)
        #expect(found.first?.message.contains("'max_tokens'") == true)
    }

    @Test func emptyFileSaysWhatAWorkflowNeeds() {
        #expect(diagnostics("").map(\.description) == ["w.yaml:1:1: error: the file is empty: a workflow needs at least 'name' and 'steps'"])
    }

    @Test func templatePositionFallsBackToTheScalarForEscapedText() {
        let yaml = """
        name: w
        steps:
          - id: a
            type: transform
            output: "say \\"x\\" {{inputs.nope}}"
        """
        #expect(diagnostics(yaml).map(\.location.column) == [13])
    }

    @Test func secondReferenceInAScalarGetsItsOwnColumn() {
        let yaml = """
        name: w
        steps:
          - id: a
            type: transform
            output: '{{steps.x.output}} and {{steps.y.output}}'
        """
        #expect(diagnostics(yaml).map(\.location.column) == [14, 37])
    }
}
