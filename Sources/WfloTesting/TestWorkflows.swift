/// Workflow texts more than one test target runs.
public enum TestWorkflows {
    /// `count` parallel `llm` branches `b0`…, each a flat $0.01 call ("Say bN"), and a `final`
    /// transform that depends on them all and joins their answers with " | ".
    public static func parallelBranches(_ count: Int, budget: String = "5") -> String {
        var yaml = """
            name: branches
            budget: \(budget)
            pricing:
              flat-fee-model: {input_cost_per_token: 0, output_cost_per_token: 0, input_cost_per_request: 0.01, litellm_provider: openai}
            steps:

            """
        for index in 0..<count {
            yaml += """
                  - id: b\(index)
                    type: llm
                    model: flat-fee-model
                    prompt: "Say b\(index)"
                    max_tokens: 5

                """
        }
        yaml += """
              - id: final
                type: transform
                depends_on: [\((0..<count).map { "b\($0)" }.joined(separator: ", "))]
                output: "\((0..<count).map { "{{steps.b\($0).output.text}}" }.joined(separator: " | "))"

            """
        return yaml
    }
}
