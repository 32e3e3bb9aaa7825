import Foundation
import Testing
import WfloCore
import WfloTesting

/// The agent step through the real `wflo` executable: the example offline from its cassette, and
/// real SIGKILLs mid-loop followed by `wflo resume`.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AgentCLITests {
    static let example = WfloProcess.repositoryRoot.appendingPathComponent("Examples/agent/workflow.yaml").path
    static let cassette = WfloProcess.repositoryRoot.appendingPathComponent("Examples/agent/cassette.json").path

    static let workflow = """
        name: agent-crash
        budget: 0.10
        inputs:
          port: {type: integer}
        egress:
          allow: ["127.0.0.1"]
        steps:
          - id: researcher
            type: agent
            model: gpt-4o-mini
            task: "Find the population of Paris and double it."
            max_tokens: 200
            tools:
              - name: fetch_page
                description: "Fetch a page"
                parameters: {type: object, properties: {path: {type: string}}, required: [path]}
                type: http
                url: "http://127.0.0.1:{{inputs.port}}/anything/page/{{args.path}}"
        outputs:
          answer: "{{steps.researcher.output.text}}"
        """

    @Test func theExampleRunsOfflineFromItsCassetteWithTheNoteApproved() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-agent-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // No keys and no reachable endpoints: everything comes from the cassette.
        let wflo = WfloProcess(environment: [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": directory.path,
            "WFLO_DB": directory.appendingPathComponent("wflo.db").path,
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        ])
        let first = try await wflo.run(["run", Self.example, "--replay", Self.cassette, "--no-wait", "--json"])
        #expect(first.status == 4, "\(first.stdout)\(first.stderr)")
        let runID = try #require(try JSONValue.parse(first.stdout)["run_id"]?.stringValue)
        let approve = try await wflo.run(["approve", "\(runID.prefix(8))/researcher/3/save_note", "--comment", "fine"])
        #expect(approve.status == 0, "\(approve.stderr)")
        let resumed = try await wflo.run(["resume", runID, "--replay", Self.cassette, "--json"])
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        let outputs = try JSONValue.parse(resumed.stdout)["outputs"]
        #expect(outputs?["answer"]?.stringValue?.contains("4,205,300") == true)
        #expect(outputs?["turns"] == 4)

        let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
        let step = try #require(report["steps"]?[0])
        #expect(step["id"] == "researcher")
        let turns = try #require(step["agent"]?["turns"]?.arrayValue)
        #expect(turns.count == 4)
        let sum = turns.compactMap { $0["cost_usd"]?.stringValue.flatMap { Money(string: $0) } }.sum()
        #expect(step["cost_usd"]?.stringValue.flatMap { Money(string: $0) } == sum, "the agent's cost is the sum of its turns")
        #expect(report["spent_usd"]?.stringValue.flatMap { Money(string: $0) } == sum)
        #expect(turns[0]["tool_calls"]?[0]?["tool"] == "fetch_page")
        #expect(turns[1]["tool_calls"]?[0]?["tool"] == "compute")
        #expect(turns[2]["tool_calls"]?[0]?["tool"] == "save_note")
        #expect((turns[3]["input_tokens"]?.intValue ?? 0) > (turns[0]["input_tokens"]?.intValue ?? 0))
        // The sandbox ran the model's Python for real (not from the cassette), contained.
        #expect(turns[1]["tool_calls"]?[0]?["id"] == "researcher/2/compute")
        #expect(turns[1]["tool_calls"]?[0]?["status"] == "completed")
        #expect(turns[1]["tool_calls"]?[0]?["type"] == "sandbox")

        // The turns and tool calls are in every format, not only JSON.
        let csv = try await wflo.run(["report", runID, "--format", "csv"]).stdout.split(separator: "\n")
        let turnRows = csv.filter { $0.contains(",researcher/turn ") }
        #expect(turnRows.count == 4, "\(csv)")
        #expect(turnRows.allSatisfy { $0.hasSuffix(",researcher") }, "turn rows are part_of the agent")
        #expect(csv.contains { $0.contains(",researcher/2/compute,sandbox,completed,") }, "\(csv)")
        let markdown = try await wflo.run(["report", runID, "--format", "md"]).stdout
        #expect(markdown.contains("turn 4") && markdown.contains("save_note"), "\(markdown)")
        let html = try await wflo.run(["report", runID, "--format", "html"]).stdout
        #expect(html.contains("Agent researcher: turns and tool calls") && html.contains("→ save_note"), "HTML lacks the agent's turns")
    }

    /// Killed right after a commit (the turn, or the tool call after it), then resumed: the tool
    /// ran once, turn 1 was sent once, and the run finishes.
    @Test(arguments: ["completed:researcher/1", "completed:researcher/1/fetch_page"])
    func resumeAfterKillMidLoopRunsTheToolOnceAndRepeatsNoPaidTurn(point: String) async throws {
        try await CLITests.withServer { server, wflo, directory in
            let service = try await FakeHTTPService.start()
            defer { Task { await service.shutdown() } }
            let path = directory.appendingPathComponent("agent.yaml").path
            try Self.workflow.write(toFile: path, atomically: true, encoding: .utf8)
            server.enqueue(.call("fetch_page", ["path": "Paris"]), .reply(text: "Paris: 2,102,650; doubled 4,205,300."))

            let crashed = try await wflo.run(["run", path, "--input", "port=\(service.port)"], extraEnvironment: ["WFLO_FAULT_KILL_AT": point])
            #expect(crashed.killedBySignal && crashed.status == SIGKILL, "\(point): \(crashed.status) \(crashed.stderr)")
            #expect(server.requestCount == 1)
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let runID = try #require(runs[0]?["run_id"]?.stringValue)

            let resumed = try await wflo.run(["resume", runID, "--json"])
            #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
            #expect(try JSONValue.parse(resumed.stdout)["outputs"]?["answer"] == "Paris: 2,102,650; doubled 4,205,300.")
            #expect(service.requests().filter { $0.path == "/anything/page/Paris" }.count == 1, "the tool ran once")
            #expect(server.requestCount == 2, "turn 1 came from the journal; only turn 2 was sent")
            let second = try #require(server.requests().last)
            #expect(second.toolResults.first?.content.contains("/anything/page/Paris") == true)
        }
    }
}
