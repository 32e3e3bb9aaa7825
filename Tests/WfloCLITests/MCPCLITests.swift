import Foundation
import Testing
import WfloCore
import WfloTesting

/// Agents' MCP tools through the real `wflo` executable and real servers of the official Python
/// SDK: a SIGKILL mid-loop then `wflo resume`, `wflo approve`, `wflo mcp tools`, the example.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct MCPCLITests {
    static let example = WfloProcess.repositoryRoot.appendingPathComponent("Examples/mcp/workflow.yaml").path
    static let cassette = WfloProcess.repositoryRoot.appendingPathComponent("Examples/mcp/cassette.json").path

    static func workflow(python: String, server: String, notesURL: String, port: Int, extra: String = "") -> String {
        let venv = URL(fileURLWithPath: python).deletingLastPathComponent().deletingLastPathComponent().path
        return """
            name: mcp-cli
            budget: 0.10
            steps:
              - id: researcher
                type: agent
                model: gpt-4o-mini
                task: "Note the population of Paris."
                max_tokens: 200
                tools:
                  - mcp:
                      name: facts
                      command: ["\(python)", "\(server)/server.py"]
                      read_only: ["\(venv)", "\(server)"]
                      env: {NOTE_URL: "\(notesURL)"}
                      network: [\(port)]
            \(extra)
            outputs:
              answer: "{{steps.researcher.output.text}}"
            """
    }

    /// Killed right after the tool call's result is committed, then resumed: the server's tool
    /// ran once, the server's tree died with wflo, and the run finishes.
    @Test func resumeAfterKillMidLoopDoesNotCallTheToolAgain() async throws {
        let python = try await MCPTestServers.python()
        let folder = try MCPTestServers.writeServer()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await CLITests.withServer { server, wflo, directory in
            let service = try await FakeHTTPService.start()
            defer { Task { await service.shutdown() } }
            let path = directory.appendingPathComponent("mcp.yaml").path
            try Self.workflow(python: python, server: folder, notesURL: "\(service.baseURL)/anything/notes", port: service.port)
                .write(toFile: path, atomically: true, encoding: .utf8)
            server.enqueue(.call("notify", ["text": "Paris: 2102650"]), .reply(text: "Noted."))

            let crashed = try await wflo.run(["run", path], extraEnvironment: ["WFLO_FAULT_KILL_AT": "completed:researcher/1/notify"])
            #expect(crashed.killedBySignal && crashed.status == SIGKILL, "\(crashed.status) \(crashed.stderr)")
            #expect(service.requests().filter { $0.path == "/anything/notes" }.count == 1)
            // The launcher's parent-death signal took the server's whole tree down with wflo.
            try await Self.expectNoProcess(running: folder)

            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let runID = try #require(runs[0]?["run_id"]?.stringValue)
            let resumed = try await wflo.run(["resume", runID, "--json"])
            #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
            #expect(try JSONValue.parse(resumed.stdout)["outputs"]?["answer"] == "Noted.")
            #expect(service.requests().filter { $0.path == "/anything/notes" }.count == 1, "the tool was not called again")
            #expect(server.requests().last?.toolResults.first?.content == "sent, status 200")
            try await Self.expectNoProcess(running: folder)
        }
    }

    @Test func approvalRequiredHoldsTheCallUntilWfloApprove() async throws {
        let python = try await MCPTestServers.python()
        let folder = try MCPTestServers.writeServer()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await CLITests.withServer { server, wflo, directory in
            let service = try await FakeHTTPService.start()
            defer { Task { await service.shutdown() } }
            let path = directory.appendingPathComponent("mcp.yaml").path
            try Self.workflow(python: python, server: folder, notesURL: "\(service.baseURL)/anything/notes", port: service.port,
                              extra: "          approval: required")
                .write(toFile: path, atomically: true, encoding: .utf8)
            server.enqueue(.call("environment"), .call("notify", ["text": "hi"]), .reply(text: "done"))

            let first = try await wflo.run(["run", path, "--no-wait", "--json"])
            #expect(first.status == 4, "\(first.stdout)\(first.stderr)")
            let runID = try #require(try JSONValue.parse(first.stdout)["run_id"]?.stringValue)
            let approvals = try await wflo.run(["approvals"])
            #expect(approvals.stdout.contains("researcher/1/environment"), "\(approvals.output)")
            #expect(try await wflo.run(["approve", "\(runID.prefix(8))/researcher/1/environment"]).status == 0)
            let second = try await wflo.run(["resume", runID, "--no-wait", "--json"])
            #expect(second.status == 4, "the next call waits too: \(second.output)")
            #expect(service.requests().isEmpty, "notify has not run")
            #expect(try await wflo.run(["approve", "\(runID.prefix(8))/researcher/2/notify"]).status == 0)
            let done = try await wflo.run(["resume", runID, "--json"])
            #expect(done.status == 0, "\(done.output)")
            #expect(service.requests().count == 1)

            // wflo's own environment has OPENAI_API_KEY; the server saw only what the file gave it.
            let seen = try #require(server.requests()[1].toolResults.first?.content)
            let names = try JSONValue.parse(seen)["names"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(Set(names) == ["HOME", "LANG", "NOTE_URL", "PATH", "TMPDIR"], "\(names)")
        }
    }

    @Test func mcpToolsListsWhatTheServerOffersAndNamesWhatIsWrong() async throws {
        let python = try await MCPTestServers.python()
        let folder = try MCPTestServers.writeServer()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await CLITests.withServer { _, wflo, directory in
            let path = directory.appendingPathComponent("mcp.yaml").path
            try Self.workflow(python: python, server: folder, notesURL: "http://127.0.0.1:9/notes", port: 9,
                              extra: "          tools: [lookup, notify]\n          prefix: f_\n          price_per_call: {notify: 0.01}")
                .write(toFile: path, atomically: true, encoding: .utf8)
            let listed = try await wflo.run(["mcp", "tools", path, "researcher"])
            #expect(listed.status == 0, "\(listed.output)")
            #expect(listed.stdout.contains("facts/f_lookup") && listed.stdout.contains("The population of a city."), "\(listed.stdout)")
            #expect(listed.stdout.contains("arguments: city"))
            #expect(listed.stdout.contains("facts/f_notify") && listed.stdout.contains("$0.010000 per call"), "\(listed.stdout)")
            #expect(!listed.stdout.contains("hang"), "the allowlist leaves it out")

            let listedJSON = try await wflo.run(["mcp", "tools", path, "researcher", "--json"])
            #expect(listedJSON.status == 0, "\(listedJSON.output)")
            let json = try JSONValue.parse(listedJSON.stdout)
            #expect(json[0]?["parameters"]?["properties"]?["city"]?["type"] == "string")

            let missing = try await wflo.run(["mcp", "tools", path, "writer"])
            #expect(missing.status == 2 && missing.stderr.contains("has no step 'writer' (its agent steps: researcher)"), "\(missing.output)")
            try await Self.expectNoProcess(running: folder)
        }
    }

    @Test func theExampleRunsOfflineFromItsCassette() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-mcp-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let wflo = WfloProcess(environment: [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": directory.path,
            "WFLO_DB": directory.appendingPathComponent("wflo.db").path,
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        ])
        let run = try await wflo.run(["run", Self.example, "--replay", Self.cassette, "--json"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let outputs = try JSONValue.parse(run.stdout)["outputs"]
        #expect(outputs?["answer"]?.stringValue?.contains("2,102,650") == true, "\(run.stdout)")
        let runID = try #require(try JSONValue.parse(run.stdout)["run_id"]?.stringValue)
        let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
        let calls = report["steps"]?[0]?["agent"]?["turns"]?[0]?["tool_calls"]?.arrayValue ?? []
        #expect(calls.first?["type"] == "mcp", "\(report)")
    }

    /// No process whose command line names `path` is left (checked for a few seconds).
    static func expectNoProcess(running path: String) async throws {
        var left: [String] = []
        for _ in 0..<50 {
            left = []
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
                guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
                let command = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
                if command.contains(path) && !command.contains("wflo-sandbox-launcher") || command.contains(path + "/server.py") { left.append(entry + ": " + command) }
            }
            if left.isEmpty { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("processes outlived wflo: \(left)")
    }
}
