import Synchronization
import Testing
import WfloCore
import WfloDSL

@Suite struct StepFieldTests {
    func parse(_ yaml: String) throws -> WorkflowDefinition {
        try WorkflowParser().parse(yaml: yaml, file: "w.yaml")
    }

    func llm(_ step: StepDefinition?) -> LLMStepDefinition? {
        if case .llm(let l) = step?.kind { return l }
        return nil
    }

    @Test func retryPolicyReadsDurationsInEveryForm() throws {
        let definition = try parse("""
        name: w
        steps:
          - id: a
            type: transform
            timeout: 1m
            retry:
              initial_interval: 500ms
              backoff_coefficient: 1.5
              maximum_interval: "2s"
              maximum_attempts: 5
              non_retryable_errors: [bad_request]
            output: 1
          - id: b
            type: transform
            timeout: 2.5
            retry: {maximum_attempts: 1}
            output: 2
        """)
        let a = try #require(definition.step("a"))
        #expect(a.timeout == 60)
        #expect(a.retry == RetryPolicy(initialInterval: 0.5, backoffCoefficient: 1.5, maximumInterval: 2, maximumAttempts: 5,
                                       nonRetryableErrors: [.badRequest]))
        #expect(definition.step("b")?.timeout == 2.5)
        #expect(definition.step("b")?.retry == RetryPolicy(maximumAttempts: 1))
    }

    @Test func unknownRetryFieldIsReportedWithSuggestion() {
        let found = diagnostics("""
        name: w
        steps:
          - id: a
            type: transform
            retry: {max_attempts: 3}
            output: 1
        """)
        #expect(found.map(\.description) == [
            "w.yaml:5:13: error: unknown field 'max_attempts' in the retry policy of step 'a'; did you mean 'maximum_attempts'?",
        ])
    }

    /// `non_retryable_errors` is checked against the documented kinds when the file is read:
    /// a Swift case name or a typo would otherwise silently retry what the user excluded.
    @Test func nonRetryableErrorsMustNameKnownKinds() throws {
        let found = diagnostics("""
        name: w
        steps:
          - id: a
            type: transform
            retry: {non_retryable_errors: [rate_limited, malformedResponse]}
            output: 1
        """)
        #expect(found.count == 1)
        let message = try #require(found.first?.description)
        #expect(message.hasPrefix("w.yaml:5:50: error: the retry policy of step 'a': 'non_retryable_errors' lists 'malformedResponse', which is not an error kind; did you mean 'malformed_response'?"), "\(message)")
        let definition = try WorkflowParser().parse(yaml: """
        name: w
        steps:
          - {id: a, type: transform, output: 1, retry: {non_retryable_errors: timeout}}
        """, file: "w.yaml")
        #expect(definition.step("a")?.retry?.nonRetryableErrors == [.timeout])
    }

    @Test func llmFieldsAreAllRead() throws {
        let definition = try parse("""
        name: w
        steps:
          - id: a
            type: llm
            provider: anthropic
            base_url: http://127.0.0.1:8080
            model: claude-sonnet-4-5
            messages:
              - {role: system, content: Be terse.}
              - {role: user, content: "Hi {{inputs.who}}"}
            max_tokens: 64
            temperature: 0.2
            stop: END
            response_format: json
        inputs:
          who: you
        """)
        let l = try #require(llm(definition.step("a")))
        #expect(l.provider == .anthropic)
        #expect(l.baseURL == "http://127.0.0.1:8080")
        #expect(l.messages == [LLMMessageTemplate(role: "system", content: template("Be terse.")),
                               LLMMessageTemplate(role: "user", content: template("Hi {{inputs.who}}"))])
        #expect(l.prompt == nil)
        #expect(l.temperature == 0.2)
        #expect(l.stop == ["END"])
        #expect(l.jsonResponse)
    }

    @Test(arguments: [
        ("json", true), ("text", false), ("{type: json_object}", true), ("{type: text}", false), ("json_object", true),
    ])
    func responseFormatIsReadInItsAcceptedForms(written: String, json: Bool) throws {
        let definition = try parse("""
        name: w
        steps:
          - id: a
            type: llm
            model: m
            prompt: p
            max_tokens: 1
            stop: [x, y]
            response_format: \(written)
        """)
        #expect(llm(definition.steps.first)?.jsonResponse == json)
        #expect(llm(definition.steps.first)?.stop == ["x", "y"])
    }

    @Test func dependsOnTakesASingleId() throws {
        let definition = try parse("""
        name: w
        steps:
          - id: a
            type: transform
            output: 1
          - id: b
            type: transform
            depends_on: a
            output: 2
        """)
        #expect(definition.step("b")?.dependsOn == ["a"])
    }

    @Test(arguments: ["budget: 0.10", "budget: \"0.10\"", "budget: '0.10'"])
    func budgetIsReadFromTheScalarTextExactly(line: String) throws {
        let definition = try parse("name: w\n\(line)\nsteps:\n  - {id: a, type: transform, output: 1}\n")
        #expect(definition.budget == Money(string: "0.1"))
    }

    @Test func budgetWithManyDecimalsStaysExact() throws {
        let definition = try parse("name: w\nbudget: 0.1234567890123456789\nsteps:\n  - {id: a, type: transform, output: 1}\n")
        #expect(definition.budget?.description == "0.1234567890123456789")
    }

    @Test func pricingBlockKeepsNumbersAsWritten() throws {
        let definition = try parse("""
        name: w
        pricing:
          my-model:
            input_cost_per_token: 1.5e-07
            output_cost_per_token: 0.0000006
            litellm_provider: openai
            max_output_tokens: 4096
        steps:
          - {id: a, type: transform, output: 1}
        """)
        #expect(definition.pricing == ["my-model": [
            "input_cost_per_token": .number("1.5e-07"),
            "output_cost_per_token": .number("0.0000006"),
            "litellm_provider": "openai",
            "max_output_tokens": 4096,
        ]])
    }

    @Test func transformOutputKeepsLiteralsAndMakesTemplatesOfPlaceholders() throws {
        let definition = try parse("""
        name: w
        inputs:
          n: 1
        steps:
          - id: a
            type: transform
            output:
              price: 0.10
              flag: yes
              quoted: "0.10"
              none: null
              list: ["{{inputs.n}}", plain]
        outputs:
          whole: "{{steps.a.output}}"
          fixed: 42
        """)
        guard case .transform(let t) = definition.steps.first?.kind else {
            Issue.record("not a transform step")
            return
        }
        #expect(t.output == .object([
            "price": .literal(.number("0.10")),
            "flag": .literal(true),
            "quoted": .literal("0.10"),
            "none": .literal(.null),
            "list": .array([.template(template("{{inputs.n}}")), .literal("plain")]),
        ]))
        #expect(definition.outputs == [
            OutputDefinition(name: "whole", value: .template(template("{{steps.a.output}}"))),
            OutputDefinition(name: "fixed", value: .literal(42)),
        ])
    }

    @Test(arguments: [("1.5", "1.5"), (".5", "0.5"), ("-0.5", "-0.5"), ("+3", "3"), ("5.", "5"), ("1_000", "1000"), ("1e3", "1e3")])
    func yamlNumbersBecomeJSONNumberText(written: String, json: String) throws {
        #expect(try YAMLValue.parse("v: \(written)", file: "x.yaml") == ["v": .number(json)])
    }

    @Test(arguments: ["0x1F", ".inf", "0123", "-.5"])
    func yamlNumbersJSONCannotWriteStayText(written: String) throws {
        #expect(try YAMLValue.parse("v: \(written)", file: "x.yaml") == ["v": .string(written)])
    }

    @Test func yamlSyntaxErrorInAnInputFileNamesTheFile() {
        #expect {
            _ = try YAMLValue.parse("a: [1, 2", file: "in.yaml")
        } throws: { error in
            "\(error)".hasPrefix("in.yaml:2:1: error: YAML syntax: did not find expected ',' or ']'")
        }
    }

    @Test func stepLocationIsTheStepsFirstKey() throws {
        let definition = try parse("""
        name: w
        steps:
          -   id: a
              type: transform
              output: 1
        """)
        #expect(definition.steps.first?.location == SourceLocation(file: "w.yaml", line: 3, column: 7))
    }
}

@Suite struct PricingBlockTests {
    @Test func modelPricedByTheWorkflowsOwnBlockIsNotCheckedAgainstTheTable() {
        let yaml = """
        name: w
        pricing:
          house-model: {input_cost_per_token: 1e-06, output_cost_per_token: 2e-06, litellm_provider: openai}
        steps:
          - id: a
            type: llm
            model: house-model
            prompt: hi
            max_tokens: 5
          - id: b
            type: llm
            model: other-model
            prompt: hi
            max_tokens: 5
        """
        let found = diagnostics(yaml, modelCheck: { "model '\($0)' is not in the pricing table" })
        #expect(found.map(\.description) == ["w.yaml:12:12: error: step 'b': model 'other-model' is not in the pricing table"])
    }

    /// Steps are read as the file is composed, before a `pricing:` block written after them: a
    /// model the block prices is still not checked against the table, one it does not price is
    /// reported where it is named (here in an agent's tool), as when the steps are read from the whole tree.
    @Test func aPricingBlockAfterTheStepsPricesTheirModelsToo() throws {
        let yaml = """
        name: w
        steps:
          - id: a
            type: llm
            model: house-model
            prompt: hi
            max_tokens: 5
          - id: b
            type: agent
            model: house-model
            task: "Find it."
            max_tokens: 50
            tools:
              - name: ask
                description: "Ask another model"
                parameters: {type: object, properties: {q: {type: string}}}
                type: llm
                model: other-model
                prompt: "{{args.q}}"
                max_tokens: 5
        pricing:
          house-model: {input_cost_per_token: 1e-06, output_cost_per_token: 2e-06, litellm_provider: openai}
        """
        let check: @Sendable (String) -> String? = { "model '\($0)' is not in the pricing table" }
        let found = diagnostics(yaml, modelCheck: check)
        #expect(found.map(\.description) == ["w.yaml:18:16: error: step 'ask': model 'other-model' is not in the pricing table"])
        // Read from the whole tree (a `*` in the text turns reading as composed off): the same.
        #expect(diagnostics(yaml + "\n# a * in a comment\n", modelCheck: check).map(\.description) == found.map(\.description))

        // The table is never asked about a model the file prices, and about another once per name
        // (its answer for a model it lacks searches thousands of names for the closest one).
        let asked = Mutex<[String]>([])
        let counting: @Sendable (String) -> String? = { model in
            asked.withLock { $0.append(model) }
            return "model '\(model)' is not in the pricing table"
        }
        let twice = yaml.replacingOccurrences(of: "  - id: b\n", with: """
                  - id: c
                    type: llm
                    model: other-model
                    prompt: hi
                    max_tokens: 5
                  - id: b

                """)
        #expect(diagnostics(twice, modelCheck: counting).map(\.location.line) == [10, 23])
        #expect(asked.withLock { $0 } == ["other-model"])

        let fine = yaml.replacingOccurrences(of: "model: other-model", with: "model: house-model")
        let definition = try WorkflowParser(modelCheck: check).parse(yaml: fine, file: "w.yaml")
        #expect(definition.steps.map(\.id) == ["a", "b"])
        #expect(definition.pricing?["house-model"] != nil)
    }
}
