import Testing
import WfloCore
import WfloDSL

@Suite struct AgentFieldTests {
    static let contract = """
        name: w
        budget: 0.50
        inputs:
          city: {default: Paris}
          port: {type: integer}
        egress:
          allow: ["127.0.0.1"]
        steps:
          - id: researcher
            type: agent
            model: gpt-4o-mini
            system: "You are a careful researcher."
            task: "Find the population of {{inputs.city}} and double it."
            max_turns: 6
            max_tokens: 300            # per model turn
            budget: 0.10
            fallback_models: [gpt-4.1-nano]
            tools:
              - name: fetch_page
                description: "Fetch a page of the city wiki"
                parameters: {type: object, properties: {path: {type: string}}, required: [path]}
                type: http
                method: GET
                url: "http://127.0.0.1:{{inputs.port}}/page/{{args.path}}"
              - name: save_note
                description: "Write a note"
                parameters: {type: object, properties: {text: {type: string}}, required: [text]}
                type: http
                method: POST
                url: "http://127.0.0.1:{{inputs.port}}/notes"
                json: {text: "{{args.text}}"}
                approval: required
              - name: ask_human
                approvers: [alice]
                timeout: 1h
        outputs:
          answer: "{{steps.researcher.output.text}}"
        """

    func problems(_ yaml: String) -> [String] {
        diagnostics(yaml).map(\.description)
    }

    /// The contract with one line of the researcher step replaced.
    func contract(replacing old: String, with new: String) -> String {
        let text = Self.contract.replacingOccurrences(of: old, with: new)
        precondition(text != Self.contract, "the contract has no '\(old)'")
        return text
    }

    @Test func theIssuesContractParsesWithToolsAsSteps() throws {
        let definition = try WorkflowParser().parse(yaml: Self.contract, file: "w.yaml")
        guard case .agent(let agent)? = definition.step("researcher")?.kind else {
            Issue.record("researcher is not an agent step")
            return
        }
        #expect(agent.model == "gpt-4o-mini")
        #expect(agent.maxTurns == 6)
        #expect(agent.maxTokens == 300)
        #expect(agent.maxToolCalls == AgentStepDefinition.defaultMaxToolCalls)
        #expect(agent.budget == Money(string: "0.10"))
        #expect(agent.fallbackModels == ["gpt-4.1-nano"])
        #expect(agent.tools.map(\.name) == ["fetch_page", "save_note", "ask_human", "finish"])
        guard case .step(let fetch)? = agent.tool("fetch_page")?.action, case .http(let http) = fetch.kind else {
            Issue.record("fetch_page is not an http tool")
            return
        }
        #expect(fetch.id == "fetch_page")
        #expect(http.url.references == [["inputs", "port"], ["args", "path"]])
        #expect(http.egress == EgressPolicy(allow: ["127.0.0.1"]), "the workflow's egress travels with the tool")
        guard case .step(let save)? = agent.tool("save_note")?.action else {
            Issue.record("save_note is not a step tool")
            return
        }
        #expect(save.approval == ApprovalSettings())
        #expect(save.httpMethod == "POST")
        guard case .askHuman(let settings)? = agent.tool("ask_human")?.action else {
            Issue.record("ask_human is not the built-in")
            return
        }
        #expect(settings.approvers == ["alice"])
        #expect(settings.timeout == 3600)
        #expect(agent.tool("finish")?.action == .finish)
        #expect(agent.tool("fetch_page")?.parameters["required"] == ["path"])
    }

    @Test func aToolsStepReferencesMakeTheAgentWait() throws {
        let definition = try WorkflowParser().parse(yaml: """
            name: w
            steps:
              - id: base
                type: transform
                output: "http://127.0.0.1:8080"
              - id: a
                type: agent
                model: m
                task: "go"
                max_tokens: 10
                tools:
                  - name: get
                    parameters: {type: object, properties: {p: {type: string}}}
                    type: http
                    url: "{{steps.base.output}}/{{args.p}}"
            """, file: "w.yaml")
        #expect(definition.step("a")?.allDependencies == ["base"])
    }

    @Test(arguments: [
        ("    task: \"Find the population of {{inputs.city}} and double it.\"\n", "",
         "w.yaml:9:5: error: step 'researcher' is missing the required field 'task'"),
        ("max_turns: 6", "max_turns: 0", "w.yaml:14:16: error: step 'researcher': 'max_turns' must be a positive whole number (model turns at most), not '0'"),
        ("max_tokens: 300", "max_tokens: lots", "w.yaml:15:17: error: step 'researcher': 'max_tokens' must be a positive whole number"),
        ("budget: 0.10", "budget: 0.90", "w.yaml:16:13: error: step 'researcher': 'budget' $0.900000 is above the workflow's budget $0.500000"),
        ("budget: 0.10", "budget: cheap", "w.yaml:16:13: error: step 'researcher': 'budget' must be an amount in USD above zero"),
        ("fallback_models: [gpt-4.1-nano]", "fallback_models: [gpt-4o-mini]", "step 'researcher': 'fallback_models' lists 'gpt-4o-mini' twice"),
        ("fallback_models: [gpt-4.1-nano]", "fallback_models: gpt-4.1-nano", "w.yaml:17:22: error: step 'researcher': 'fallback_models' must be a non-empty list of models"),
        ("{{args.path}}", "{{args.page}}", "w.yaml:24:53: error: {{args.page}}: the tool's 'parameters' declares no argument 'page'; did you mean 'path'?"),
        ("    task: \"Find", "    task: \"{{args.city}} Find", "{{args.city}}: {{args.NAME}} is only for the fields of an agent's tools"),
        ("        type: http\n        method: GET", "        method: GET", "w.yaml:19:9: error: tool 'fetch_page' of step 'researcher' is missing 'type'"),
        ("      - name: ask_human", "      - name: ask_human\n        type: http", "w.yaml:34:9: error: tool 'ask_human' of step 'researcher': 'ask_human' is a built-in tool and takes no 'type'"),
        ("      - name: save_note", "      - name: fetch_page", "step 'researcher': tool name 'fetch_page' is used twice (line 19 has it)"),
        ("      - name: save_note", "      - name: save note", "step 'researcher': tool name 'save note' may use only letters"),
        ("        type: http\n        method: GET", "        type: agent\n        method: GET", "tool 'fetch_page' of step 'researcher': a tool cannot be an agent step"),
        ("parameters: {type: object, properties: {path: {type: string}}, required: [path]}", "parameters: {type: string}",
         "tool 'fetch_page' of step 'researcher': 'parameters' must have type: object"),
        ("required: [path]}", "required: [pth]}", "'parameters.required' names 'pth', which 'parameters.properties' does not declare"),
        ("        method: GET\n", "        method: GET\n        depends_on: [x]\n", "a tool runs when the model calls it, so it takes no 'depends_on'"),
        ("        method: GET\n", "        method: FETCH\n", "step 'fetch_page': unknown HTTP method 'FETCH'"),
        ("    tools:", "    max_rounds: 3\n    tools:", "unknown field 'max_rounds' in step 'researcher'"),
    ])
    func reportsBadAgentFieldsWithTheirPlace(old: String, new: String, expected: String) {
        let found = problems(contract(replacing: old, with: new))
        #expect(found.contains { $0.contains(expected) }, "expected '\(expected)' in \(found)")
    }

    @Test func aMissingModelOrMaxTokensIsNamed() {
        let found = problems("""
            name: w
            steps:
              - id: a
                type: agent
                task: go
            """)
        #expect(found.contains("w.yaml:3:5: error: step 'a' is missing the required field 'model'"))
        #expect(found.contains { $0.hasPrefix("w.yaml:3:5: error: step 'a' is missing the required field 'max_tokens'") })
    }
}
