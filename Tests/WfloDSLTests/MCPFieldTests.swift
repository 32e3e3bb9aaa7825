import Testing
import WfloCore
import WfloDSL

@Suite struct MCPFieldTests {
    static let contract = """
        name: w
        budget: 0.50
        egress:
          allow: ["mcp.example.com"]
        steps:
          - id: researcher
            type: agent
            model: gpt-4o-mini
            task: "Find it."
            max_tokens: 300
            tools:
              - mcp:
                  name: files
                  command: ["/opt/venv/bin/python", "/opt/servers/files.py"]
                  read_only: ["/opt/venv", "/opt/servers"]
                  env: {LOG_LEVEL: info, TOKEN: "{{secrets.FILES_TOKEN}}"}
                  network: off
                  tools: [read_file, search, write_file]
                  approval: {write_file: required}
                  price_per_call: {search: 0.01, default: 0.002}
                  prefix: fs_
                  timeout: 20s
                  retry: {maximum_attempts: 3}
                  limits: {memory: 256MiB}
              - mcp:
                  name: search
                  url: "https://mcp.example.com/mcp"
                  headers: {Authorization: "Bearer {{secrets.SEARCH_TOKEN}}"}
                  price_per_call: 0.003
                  cost_from: server
                  approval: required
        """

    func problems(_ yaml: String) -> [String] {
        diagnostics(yaml).map(\.description)
    }

    func contract(replacing old: String, with new: String) -> String {
        let text = Self.contract.replacingOccurrences(of: old, with: new)
        precondition(text != Self.contract, "the contract has no '\(old)'")
        return text
    }

    @Test func theIssuesContractParsesIntoServers() throws {
        let definition = try WorkflowParser().parse(yaml: Self.contract, file: "w.yaml")
        guard case .agent(let agent)? = definition.step("researcher")?.kind else {
            Issue.record("researcher is not an agent step")
            return
        }
        #expect(agent.mcpServers.map(\.name) == ["files", "search"])
        #expect(agent.tools.map(\.name) == ["finish"])
        let files = agent.mcpServers[0]
        guard case .stdio(let command) = files.transport else {
            Issue.record("files is not a stdio server")
            return
        }
        #expect(command.map(\.source) == ["/opt/venv/bin/python", "/opt/servers/files.py"])
        #expect(files.readOnly.map(\.source) == ["/opt/venv", "/opt/servers"])
        #expect(files.environment.map(\.name) == ["LOG_LEVEL", "TOKEN"])
        #expect(files.network == .off)
        #expect(files.allowedTools == ["read_file", "search", "write_file"])
        #expect(files.approval.settings(for: "write_file") != nil && files.approval.settings(for: "search") == nil)
        #expect(files.price.price(for: "search") == Money(string: "0.01"))
        #expect(files.price.price(for: "read_file") == Money(string: "0.002"))
        #expect(files.prefix == "fs_" && files.timeout == 20 && files.limits.memory == 256 << 20)
        // The call step carries the server's policy for that tool.
        let call = files.callStep(id: "researcher/1/fs_write_file", tool: "write_file")
        #expect(call.approval != nil && call.type == .mcp)
        #expect(call.retry?.maximumAttempts == 3 && call.timeout == 20)

        let search = agent.mcpServers[1]
        guard case .http(let url, let headers) = search.transport else {
            Issue.record("search is not an http server")
            return
        }
        #expect(url.source == "https://mcp.example.com/mcp")
        #expect(headers.map(\.name) == ["Authorization"])
        #expect(search.costFromServer && search.price == .flat(Money(string: "0.003")!))
        #expect(search.approval.settings(for: "anything") != nil)
        // The workflow's egress is stamped on the server.
        #expect(search.egress?.allow == ["mcp.example.com"])
    }

    @Test(arguments: [
        ("      - mcp:\n          name: files\n", "      - mcp:\n", "w.yaml:13:11: error: step 'researcher': an 'mcp' server is missing the required field 'name'"),
        ("          url: \"https://mcp.example.com/mcp\"\n", "", "mcp server 'search' of step 'researcher' is missing 'command' (argv of a stdio server"),
        ("          command: [\"/opt/venv/bin/python\", \"/opt/servers/files.py\"]", "          command: python server.py",
         "w.yaml:14:20: error: mcp server 'files' of step 'researcher': 'command' must be a non-empty list"),
        ("          network: off", "          network: [http]", "w.yaml:17:21: error: mcp server 'files' of step 'researcher': 'network' holds 'http', not a TCP port"),
        ("approval: {write_file: required}", "approval: {delete_file: required}",
         "w.yaml:19:22: error: mcp server 'files' of step 'researcher': 'approval' names tool 'delete_file', which 'tools' does not allow"),
        ("{search: 0.01, default: 0.002}", "{search: lots}", "mcp server 'files' of step 'researcher': 'price_per_call' of 'search' must be an amount in USD"),
        ("cost_from: server", "cost_from: meter", "'cost_from' must be server (the cost the server reports in the result's _meta) or price"),
        ("          price_per_call: 0.003\n", "", "'cost_from: server' needs a 'price_per_call'"),
        ("          headers: {Authorization", "          read_only: [/opt]\n          headers: {Authorization",
         "mcp server 'search' of step 'researcher': 'read_only' is for a stdio server ('command')"),
        ("read_only: [\"/opt/venv\", \"/opt/servers\"]", "read_only: [\"opt/venv\"]", "'read_only' holds 'opt/venv', not an absolute path"),
        ("          prefix: fs_", "          prefix: \"fs.\"", "'prefix' may use only letters, digits, '_' and '-'"),
        ("          tools: [read_file, search, write_file]", "          tools: []", "'tools' must be a non-empty list of the server's tool names"),
        ("          name: search", "          name: files", "step 'researcher': mcp server name 'files' is used twice"),
        ("          command: [\"/opt", "          url: \"https://x\"\n          command: [\"/opt", "give 'command' (a stdio server started in the sandbox) or 'url'"),
        ("{LOG_LEVEL: info,", "{LOG_LEVEL: \"{{secret.X}}\",", "unknown reference 'secret'"),
        ("          timeout: 20s", "          timout: 20s", "unknown field 'timout'"),
    ])
    func reportsBadServerFieldsWithTheirPlace(old: String, new: String, expected: String) {
        let found = problems(contract(replacing: old, with: new))
        #expect(found.contains { $0.contains(expected) }, "expected '\(expected)' in \(found)")
    }

    @Test func aSecretIsAllowedOnlyInAServersEnvAndHeaders() {
        let found = problems(contract(replacing: "task: \"Find it.\"", with: "task: \"Find {{secrets.FILES_TOKEN}}\""))
        #expect(found.contains { $0.contains("{{secrets.FILES_TOKEN}}: secrets are only for http steps") }, "\(found)")
        #expect(problems(Self.contract).isEmpty)
    }

    @Test func mcpIsNotAStepTypeOfItsOwn() {
        let found = problems("""
            name: w
            steps:
              - id: a
                type: mcp
            """)
        #expect(found.contains { $0.contains("step 'a': 'mcp' is not a step type; list an MCP server under an agent's tools") }, "\(found)")
    }
}
