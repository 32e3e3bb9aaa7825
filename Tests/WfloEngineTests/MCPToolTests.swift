import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloHTTP
import WfloProviders
import WfloStore
import WfloTesting

/// Agents' MCP tools against real servers of the official Python SDK (stdio in the sandbox, and
/// Streamable HTTP), the loopback LLM server scripted with tool calls, a real SQLite journal.
struct MCPHarness {
    let agent: AgentHarness
    let python: String
    let serverFolder: String
    var secrets = SecretStore.empty

    static func with<T>(_ body: (MCPHarness) async throws -> T) async throws -> T {
        let python = try await MCPTestServers.python()
        let folder = try MCPTestServers.writeServer()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        return try await AgentHarness.with { agent in
            try await body(MCPHarness(agent: agent, python: python, serverFolder: folder))
        }
    }

    var venv: String { URL(fileURLWithPath: python).deletingLastPathComponent().deletingLastPathComponent().path }

    /// The server entry of a workflow: the test server over stdio with `extra` fields.
    func stdioServer(_ extra: String = "") -> String {
        """
              - mcp:
                  name: facts
                  command: ["\(python)", "\(serverFolder)/server.py"]
                  read_only: ["\(venv)", "\(serverFolder)"]
        \(extra)
        """
    }

    func workflow(servers: String, budget: String = "", agentExtra: String = "") -> String {
        """
        name: mcp
        \(budget)
        egress:
          allow: ["127.0.0.1"]
        pricing:
          test-gpt-cheap: {litellm_provider: openai, mode: chat, input_cost_per_token: 1e-07, output_cost_per_token: 2e-07}
        steps:
          - id: researcher
            type: agent
            model: test-gpt
            task: "Find the population of Paris."
            max_turns: 5
            max_tokens: 200
        \(agentExtra)
            tools:
        \(servers)
        outputs:
          answer: "{{steps.researcher.output.text}}"
        """
    }

    func executor(approvals: ApprovalWaitMode, cassette: MCPCassette? = nil) -> Executor {
        let endpoints = ProviderEndpoints(openAIBaseURL: agent.llmServer.baseURLOpenAI, openAIKey: "test-key",
                                          anthropicBaseURL: agent.llmServer.baseURLAnthropic, anthropicKey: "test-key")
        var configuration = ExecutorConfiguration(store: agent.store, pricing: testPricing,
                                                  llm: LLMClient(transport: agent.transport, endpoints: endpoints),
                                                  observer: agent.observer, sleep: { _ in }, random: { 0.5 }, approvals: approvals)
        configuration.http = agent.web
        configuration.secrets = secrets
        configuration.mcpCassette = cassette
        return Executor(configuration)
    }

    func run(_ yaml: String, budget: Money? = Money(string: "1"), approvals: ApprovalWaitMode = .wait(pollInterval: 0.02),
             cassette: MCPCassette? = nil) async throws -> RunResult {
        let definition = try WorkflowParser().parse(yaml: yaml, file: "mcp.yaml")
        return try await executor(approvals: approvals, cassette: cassette).start(definition: definition, source: yaml, path: "mcp.yaml",
                                                                                  inputs: .object([:]), budget: budget)
    }

    func resume(_ runID: String, _ yaml: String) async throws -> RunResult {
        let definition = try WorkflowParser().parse(yaml: yaml, file: "mcp.yaml")
        return try await executor(approvals: .wait(pollInterval: 0.02)).resume(runID: runID, definition: definition)
    }

    func step(_ runID: String, _ id: String) async throws -> StepRecord? {
        try await agent.store.journal(runID: runID).steps.first { $0.stepID == id }
    }

    func attempts(_ runID: String, _ id: String) async throws -> [AttemptRecord] {
        try await agent.store.journal(runID: runID).attempts.filter { $0.stepID == id }
    }
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct MCPToolTests {
    @Test func theAgentCallsAStdioServersToolOnceInsideTheSandbox() async throws {
        try await MCPHarness.with { h in
            h.agent.llmServer.enqueue(.call("lookup", ["city": "Paris"]), .reply(text: "Paris has 2102650 people."))
            let result = try await h.run(h.workflow(servers: h.stdioServer()))
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["answer"] == "Paris has 2102650 people.")

            let requests = h.agent.llmServer.requests()
            try #require(requests.count == 2)
            // tools/list became the model's tools, after the agent's own; finish stays offered.
            #expect(requests[0].offeredTools == ["finish", "lookup", "notify", "probe", "environment", "hang", "paid_search"])
            #expect(requests[1].toolResults.first?.content == "2102650")

            let call = try #require(try await h.step(result.runID, "researcher/1/lookup"))
            #expect(call.type == .mcp && call.status == .completed)
            #expect(call.output?["content"] == "2102650")
            #expect(call.output?["server"] == "facts")
            #expect(try await h.attempts(result.runID, "researcher/1/lookup").count == 1)
        }
    }

    @Test func theAllowlistAndThePrefixShapeWhatTheModelSees() async throws {
        try await MCPHarness.with { h in
            h.agent.llmServer.enqueue(.call("fs_lookup", ["city": "Lyon"]), .reply(text: "522250"))
            let result = try await h.run(h.workflow(servers: h.stdioServer("""
                          tools: [lookup]
                          prefix: fs_
                """)))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let requests = h.agent.llmServer.requests()
            #expect(requests.first?.offeredTools == ["finish", "fs_lookup"])
            #expect(requests.last?.toolResults.first?.content == "522250")
            #expect(try await h.step(result.runID, "researcher/1/fs_lookup")?.status == .completed)
        }
    }

    @Test func aToolMissingFromTheServerFailsTheAgentNamingIt() async throws {
        try await MCPHarness.with { h in
            let result = try await h.run(h.workflow(servers: h.stdioServer("""
                          tools: [lookup, delete_everything]
                """)))
            #expect(result.status == .failed)
            #expect(result.error?.contains("mcp server 'facts' offers no tool 'delete_everything' of its 'tools' allowlist") == true, "\(result.error ?? "")")
            #expect(h.agent.llmServer.requests().isEmpty, "no turn was taken")
        }
    }

    @Test func withTheNetworkOffTheServerReachesNothingOnLoopback() async throws {
        try await MCPHarness.with { h in
            let port = URLComponents(string: h.agent.service.baseURL)!.port!
            h.agent.llmServer.enqueue(.call("probe", ["port": .int(port)]), .reply(text: "done"))
            let result = try await h.run(h.workflow(servers: h.stdioServer()))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let content = try #require(try await h.step(result.runID, "researcher/1/probe")?.output?["content"]?.stringValue)
            #expect(content.hasPrefix("refused:"), "\(content)")
            #expect(h.agent.service.requests().isEmpty)
        }
    }

    @Test func theServerSeesOnlyTheEnvironmentItIsGivenAndTheSecretStaysOutOfTheJournal() async throws {
        setenv("WFLO_SECRET_MCP_NOT_GIVEN", "never-to-be-seen", 1)
        defer { unsetenv("WFLO_SECRET_MCP_NOT_GIVEN") }
        let harnessSecrets = SecretStore(environment: ["WFLO_SECRET_MCP_GIVEN": "s3cret-value-42", "WFLO_SECRET_MCP_NOT_GIVEN": "never-to-be-seen"],
                                         filePath: nil)
        try await MCPHarness.with { base in
            var h = base
            h.secrets = harnessSecrets
            h.agent.llmServer.enqueue(.call("environment"), .reply(text: "done"))
            let result = try await h.run(h.workflow(servers: h.stdioServer("""
                          env: {TOKEN: "{{secrets.MCP_GIVEN}}", LOG_LEVEL: info}
                """)))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let content = try #require(try await h.step(result.runID, "researcher/1/environment")?.output?["content"]?.stringValue)
            let seen = try JSONValue.parse(content)
            let names = Set(seen["names"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(names == ["HOME", "LANG", "LOG_LEVEL", "PATH", "TMPDIR", "TOKEN"], "\(names)")
            #expect(!names.contains { $0.hasPrefix("WFLO_SECRET_") || $0 == "OPENAI_API_KEY" })
            // The server got the value; the journal and the model got the mask.
            #expect(seen["token"] == "[secret:MCP_GIVEN]")
            let journal = try await h.agent.store.journal(runID: result.runID)
            for record in journal.steps {
                let text = record.output.map { $0.encoded() } ?? ""
                #expect(!text.contains("s3cret-value-42"), "step \(record.stepID)")
            }
            #expect(!h.agent.llmServer.requests().contains { $0.bodyText.contains("s3cret-value-42") })
        }
    }

    @Test func approvalRequiredHoldsTheCallUntilSomeoneApproves() async throws {
        try await MCPHarness.with { h in
            let port = URLComponents(string: h.agent.service.baseURL)!.port!
            let yaml = h.workflow(servers: h.stdioServer("""
                          env: {NOTE_URL: "\(h.agent.service.baseURL)/anything/notes"}
                          network: [\(port)]
                          approval: {notify: required}
                """))
            h.agent.llmServer.enqueue(.call("notify", ["text": "hello"]), .reply(text: "sent"))
            let held = try await h.run(yaml, approvals: .noWait)
            #expect(held.status == .waitingApproval, "\(held.error ?? "")")
            #expect(h.agent.service.requests().isEmpty, "nothing was sent before the decision")
            #expect(try await h.attempts(held.runID, "researcher/1/notify").isEmpty)

            let pending = try await h.agent.store.approvals(runID: held.runID, status: .pending)
            #expect(pending.map(\.stepID) == ["researcher/1/notify"])
            #expect(pending.first?.details["tool"] == "notify")
            _ = try await h.agent.store.decideApproval(ApprovalDecision(requestID: pending[0].id, verdict: .approve, by: "alice",
                                                                        comment: nil, at: Date()))
            let resumed = try await h.resume(held.runID, yaml)
            #expect(resumed.status == .completed, "\(resumed.error ?? "")")
            #expect(h.agent.service.requests().filter { $0.path == "/anything/notes" }.count == 1)
        }
    }

    @Test func aPricedToolIsReservedThenChargedAndOneThatDoesNotFitIsNeverCalled() async throws {
        try await MCPHarness.with { h in
            let port = URLComponents(string: h.agent.service.baseURL)!.port!
            func yaml(price: String) -> String {
                h.workflow(servers: h.stdioServer("""
                              env: {NOTE_URL: "\(h.agent.service.baseURL)/anything/notes"}
                              network: [\(port)]
                              price_per_call: {notify: \(price)}
                    """))
            }
            h.agent.llmServer.enqueue(.call("notify", ["text": "paid"]), .reply(text: "sent"))
            let paid = try await h.run(yaml(price: "0.002"))
            #expect(paid.status == .completed, "\(paid.error ?? "")")
            let attempts = try await h.attempts(paid.runID, "researcher/1/notify")
            #expect(attempts.map(\.reserved) == [Money(string: "0.002")!])
            #expect(attempts.map(\.cost) == [Money(string: "0.002")!])
            #expect(h.agent.service.requests().count == 1)

            // Over the budget: refused before any traffic, and the agent stops budget_exceeded.
            h.agent.llmServer.enqueue(.call("notify", ["text": "too dear"]))
            let refused = try await h.run(yaml(price: "5"))
            #expect(refused.status == .budgetExceeded, "\(refused.error ?? "")")
            #expect(try await h.step(refused.runID, "researcher/1/notify")?.status == .budgetExceeded)
            #expect(try await h.attempts(refused.runID, "researcher/1/notify").isEmpty)
            #expect(h.agent.service.requests().count == 1, "the refused call never reached the server's target")
        }
    }

    @Test func costFromServerChargesWhatTheServerReports() async throws {
        try await MCPHarness.with { h in
            h.agent.llmServer.enqueue(.call("paid_search", ["q": "batteries"]), .reply(text: "found"))
            let result = try await h.run(h.workflow(servers: h.stdioServer("""
                          price_per_call: 0.01
                          cost_from: server
                """)))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let attempts = try await h.attempts(result.runID, "researcher/1/paid_search")
            #expect(attempts.map(\.reserved) == [Money(string: "0.01")!])
            #expect(attempts.map(\.cost) == [Money(string: "0.0015")!])
        }
    }

    @Test func aHungServerIsKilledAtTheTimeoutAndStartedAgainForTheNextCall() async throws {
        try await MCPHarness.with { h in
            h.agent.llmServer.enqueue(.call("hang"), .call("lookup", ["city": "Paris"]), .reply(text: "done"))
            let clock = ContinuousClock()
            let started = clock.now
            let result = try await h.run(h.workflow(servers: h.stdioServer("""
                          timeout: 2s
                """)))
            #expect(clock.now - started < .seconds(30))
            #expect(result.status == .completed, "\(result.error ?? "")")
            let hung = try #require(try await h.step(result.runID, "researcher/1/hang"))
            #expect(hung.status == .failed)
            #expect(hung.error?.contains("did not answer tools/call within 2") == true, "\(hung.error ?? "")")
            // The model was told, and the next call went to a fresh server.
            #expect(h.agent.llmServer.requests()[1].toolResults.first?.content.contains("did not answer tools/call within 2") == true)
            #expect(try await h.step(result.runID, "researcher/2/lookup")?.output?["content"] == "2102650")
        }
    }

    @Test func theRunsTimeoutStopsTheAgentAndKillsItsServersWholeTree() async throws {
        try await MCPHarness.with { h in
            h.agent.llmServer.enqueue(.call("hang"))
            let clock = ContinuousClock()
            let started = clock.now
            let result = try await h.run(h.workflow(servers: h.stdioServer(), budget: "timeout: 4s"))
            #expect(result.status != .completed, "\(result.error ?? "")")
            #expect(clock.now - started < .seconds(40), "the call's own 60 s time-out did not hold the run")
            // Nothing of the server outlives the step: no process runs its script.
            var left: [String] = []
            for _ in 0..<50 {
                left = Self.processes(running: h.serverFolder + "/server.py")
                if left.isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(left.isEmpty, "\(left)")
        }
    }

    static func processes(running text: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard Int(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let command = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return command.contains(text) ? entry + ": " + command : nil
        }
    }

    @Test func aServerThatCannotStartFailsTheAgentWithItsLastStderrLines() async throws {
        try await MCPHarness.with { h in
            let result = try await h.run(h.workflow(servers: """
                      - mcp:
                          name: broken
                          command: ["\(h.python)", "-c", "import sys; print('config file /etc/x.yaml is missing', file=sys.stderr); sys.exit(3)"]
                          read_only: ["\(h.venv)"]
                """))
            #expect(result.status == .failed)
            let error = result.error ?? ""
            #expect(error.contains("mcp server 'broken'"), "\(error)")
            #expect(error.contains("config file /etc/x.yaml is missing"), "\(error)")
            #expect(error.contains("exited with status 3"), "\(error)")
        }
    }

    @Test func aCassetteRecordsTheServersAnswersAndReplaysThemWithoutStartingIt() async throws {
        try await MCPHarness.with { h in
            let cassettePath = h.agent.directory.appendingPathComponent("cassette.json").path
            let recorder = RecordingTransport(wrapping: h.agent.transport, path: cassettePath)
            h.agent.llmServer.enqueue(.call("lookup", ["city": "Paris"]), .reply(text: "2102650 people"))
            let recorded = try await h.run(h.workflow(servers: h.stdioServer()), cassette: .recording(recorder, redact: { $0 }))
            #expect(recorded.status == .completed, "\(recorded.error ?? "")")
            try recorder.save()
            let text = try String(contentsOfFile: cassettePath, encoding: .utf8)
            #expect(text.contains("mcp://facts/tools/list") && text.contains("mcp://facts/tools/call"))

            // Replayed: a command that cannot run proves the server is never started.
            h.agent.llmServer.enqueue(.call("lookup", ["city": "Paris"]), .reply(text: "2102650 people"))
            let replay = try ReplayTransport(path: cassettePath)
            let broken = h.workflow(servers: """
                      - mcp:
                          name: facts
                          command: ["/nonexistent/python", "server.py"]
                """)
            let replayed = try await h.run(broken, cassette: .replaying(replay, redact: { $0 }))
            #expect(replayed.status == .completed, "\(replayed.error ?? "")")
            let call = try await h.step(replayed.runID, "researcher/1/lookup")
            #expect(call?.output?["content"] == "2102650", "\(String(describing: call))")
        }
    }

    @Test(arguments: [false, true])
    func aStreamableHTTPServerIsCalledUnderTheEgressPolicy(jsonResponse: Bool) async throws {
        try await MCPHarness.with { h in
            let port = try MCPTestServers.freePort()
            var environment = ProcessInfo.processInfo.environment
            environment["JSON_RESPONSE"] = jsonResponse ? "1" : "0"
            let server = try SpawnedProcess(executable: h.python, arguments: ["\(h.serverFolder)/server.py", "http", String(port)],
                                            environment: environment)
            defer { server.send(SIGKILL) }
            try await waitForListener(port: port, server: server)
            let url = "http://127.0.0.1:\(port)/mcp"
            h.agent.llmServer.enqueue(.call("lookup", ["city": "Paris"]), .reply(text: "done"))
            let result = try await h.run(h.workflow(servers: """
                      - mcp:
                          name: remote
                          url: "\(url)"
                          headers: {X-Team: research}
                """))
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(try await h.step(result.runID, "researcher/1/lookup")?.output?["content"] == "2102650")

            // Outside the workflow's egress: refused before any connection.
            h.agent.llmServer.enqueue(.reply(text: "unused"))
            let refused = try await h.run(h.workflow(servers: """
                      - mcp:
                          name: remote
                          url: "\(url)"
                """).replacingOccurrences(of: "allow: [\"127.0.0.1\"]", with: "allow: [\"api.example.com\"]"))
            #expect(refused.status == .failed)
            #expect(refused.error?.contains("mcp server 'remote': egress refused") == true, "\(refused.error ?? "")")
        }
    }

    /// Waits until something accepts connections on the port (the server is up).
    func waitForListener(port: Int, server: SpawnedProcess) async throws {
        for _ in 0..<300 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if connected { return }
            guard server.isRunning else {
                let end = await server.finish()
                Issue.record("the MCP server exited: \(end.stderr.suffix(1500))")
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the MCP server did not listen on \(port) within 30 s")
    }

    @Test func aReportedCostIsReconciledAgainstTheReservation() {
        let call = MCPCallDefinition(server: "s", tool: "t", price: Money(string: "0.01"), costFromServer: true)
        let reported = MCPToolResult(json: ["content": [], "_meta": ["cost_usd": "0.02"]])
        #expect(call.charge(reported: reported.reportedCost) == (Money(string: "0.02")!, ["mcp_cost_above_reservation"]))
        let silent = MCPToolResult(json: ["content": []])
        #expect(call.charge(reported: silent.reportedCost) == (Money(string: "0.01")!, ["mcp_cost_not_reported"]))
        let fixed = MCPCallDefinition(server: "s", tool: "t", price: Money(string: "0.01"))
        #expect(fixed.charge(reported: Money(string: "9")) == (Money(string: "0.01")!, []))
    }
}
