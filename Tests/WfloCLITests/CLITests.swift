import Foundation
import Testing
import WfloCore
import WfloTesting

/// The `wflo` executable as a user runs it: real process, real SQLite file, real loopback HTTP.
@Suite(.timeLimit(.minutes(2)))
struct CLITests {
    static let brief = WfloProcess.repositoryRoot.appendingPathComponent("Examples/brief/workflow.yaml").path

    /// Runs `body` with a fake provider and `wflo` pointed at a new journal: a SQLite file in a
    /// fresh HOME, or (``TestJournal/postgres``) a new database on the test PostgreSQL server.
    static func withServer<T>(journal: TestJournal = .sqlite, _ body: (FakeLLMServer, WfloProcess, URL) async throws -> T) async throws -> T {
        switch journal {
        case .sqlite:
            return try await withServer(database: nil, body)
        case .postgres:
            return try await TestPostgres.withDatabase { url in try await withServer(database: url, body) }
        }
    }

    private static func withServer<T>(database: String?, _ body: (FakeLLMServer, WfloProcess, URL) async throws -> T) async throws -> T {
        let server = try await FakeLLMServer.start()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let wflo = WfloProcess(environment: [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": directory.path,
            "WFLO_DB": database ?? directory.appendingPathComponent("wflo.db").path,
            "OPENAI_BASE_URL": server.baseURLOpenAI, "OPENAI_API_KEY": "sk-test",
            "ANTHROPIC_BASE_URL": server.baseURLAnthropic, "ANTHROPIC_API_KEY": "sk-ant-test",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let result = try await body(server, wflo, directory)
            await wflo.killLeftovers()
            await server.shutdown()
            return result
        } catch {
            await wflo.killLeftovers()
            await server.shutdown()
            throw error
        }
    }

    @Test(arguments: TestJournal.all)
    func runPrintsTheJSONContractAndTheReportHasEveryStep(journal: TestJournal) async throws {
        try await Self.withServer(journal: journal) { server, wflo, _ in
            let run = try await wflo.run(["run", Self.brief, "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            let json = try JSONValue.parse(run.stdout)
            let runID = try #require(json["run_id"]?.stringValue)
            #expect(json["status"] == "completed")
            #expect(json["budget_usd"] == "0.100000")
            let spent = try #require(json["spent_usd"]?.stringValue.flatMap { Money(string: $0) })
            #expect(spent > .zero && spent < Money(string: "0.1")!)
            #expect(json["outputs"]?["brief"]?.stringValue?.isEmpty == false)
            #expect(server.requestCount == 3)

            let report = try await wflo.run(["report", String(runID.prefix(6)), "--format", "json"])
            #expect(report.status == 0, "\(report.stderr)")
            let r = try JSONValue.parse(report.stdout)
            #expect(r["run_id"]?.stringValue == runID)
            #expect(r["spent_usd"] == json["spent_usd"])
            let steps = try #require(r["steps"]?.arrayValue)
            #expect(steps.map { $0["id"]?.stringValue } == ["outline", "facts", "draft"])
            for step in steps {
                for key in ["id", "type", "status", "model", "cost_usd", "attempts", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens"] {
                    #expect(step[key] != nil, "step lacks \(key)")
                }
                #expect(step["cost_usd"]?.stringValue.flatMap { Money(string: $0) } != nil)
            }
            for format in ["table", "csv", "markdown"] {
                let other = try await wflo.run(["report", runID, "--format", format])
                #expect(other.status == 0)
                #expect(other.stdout.contains("draft"))
            }
        }
    }

    @Test(arguments: TestJournal.all)
    func aRunThatCannotAffordItsNextCallExitsThreeAndSendsNothing(journal: TestJournal) async throws {
        try await Self.withServer(journal: journal) { server, wflo, _ in
            let run = try await wflo.run(["run", Self.brief, "--budget", "0.00001"])
            #expect(run.status == 3)
            #expect(run.output.contains("budget_exceeded"))
            #expect(run.output.contains("does not fit the budget $0.000010"))
            #expect(server.requestCount == 0)
        }
    }

    @Test(arguments: TestJournal.all)
    func aRunStoppedByItsBudgetContinuesWithALargerOneWithoutRepeatingCalls(journal: TestJournal) async throws {
        try await Self.withServer(journal: journal) { server, wflo, _ in
            // Enough for the two small calls, not for the draft's worst case.
            let stopped = try await wflo.run(["run", Self.brief, "--budget", "0.001", "--json"])
            #expect(stopped.status == 3)
            let json = try JSONValue.parse(stopped.stdout)
            #expect(json["status"] == "budget_exceeded")
            let runID = try #require(json["run_id"]?.stringValue)
            #expect(server.requestCount == 2)
            let resumed = try await wflo.run(["resume", runID, "--budget", "0.10", "--json"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(try JSONValue.parse(resumed.stdout)["budget_usd"] == "0.100000")
            #expect(server.requestCount == 3)
        }
    }

    @Test func aWorkflowWithNoBudgetIsRefusedUnlessNoBudgetIsExplicit() async throws {
        try await Self.withServer { server, wflo, directory in
            let file = directory.appendingPathComponent("nobudget.yaml")
            try "name: x\nsteps:\n  - {id: a, type: llm, model: gpt-4o-mini, prompt: hi, max_tokens: 5}\n".write(to: file, atomically: true, encoding: .utf8)
            let refused = try await wflo.run(["run", file.path])
            #expect(refused.status == 2)
            #expect(refused.stderr.contains("--no-budget"))
            #expect(server.requestCount == 0)
            let allowed = try await wflo.run(["run", file.path, "--no-budget"])
            #expect(allowed.status == 0, "\(allowed.stderr)")
        }
    }

    @Test func validateNamesFileLineAndColumnOfEveryProblem() async throws {
        try await Self.withServer { _, wflo, directory in
            let file = directory.appendingPathComponent("bad.yaml")
            try """
                name: bad
                steps:
                  - id: a
                    type: lml
                  - id: b
                    type: llm
                    model: no-such-model
                    prompt: "{{inputs.nope}}"
                    max_tokens: 10
                """.write(to: file, atomically: true, encoding: .utf8)
            let result = try await wflo.run(["validate", file.path])
            #expect(result.status == 2)
            #expect(result.stderr.contains("bad.yaml:4:11: error:"))
            #expect(result.stderr.contains("did you mean 'llm'"))
            #expect(result.stderr.contains("bad.yaml:7:12: error:"))
            #expect(result.stderr.contains("no-such-model"))
            #expect(result.stderr.contains("bad.yaml:8:14: error:"))
            let good = try await wflo.run(["validate", Self.brief])
            #expect(good.status == 0)
        }
    }

    @Test func theShippedCassetteRunsTheDemoWithNoNetwork() async throws {
        try await Self.withServer { server, wflo, _ in
            let cassette = WfloProcess.repositoryRoot.appendingPathComponent("Examples/brief/cassette.json").path
            let run = try await wflo.run(["run", Self.brief, "--replay", cassette, "--json"],
                                         extraEnvironment: ["OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"])
            #expect(run.status == 0, "\(run.stderr)")
            let json = try JSONValue.parse(run.stdout)
            #expect(json["status"] == "completed")
            #expect(json["outputs"]?["brief"]?.stringValue?.contains("Solid-state batteries") == true)
            #expect(server.requestCount == 0)
            // A request the cassette lacks fails clearly.
            let other = try await wflo.run(["run", Self.brief, "--replay", cassette, "--input", "topic=tea"])
            #expect(other.status == 1)
            #expect(other.output.contains("has no recorded answer"))
        }
    }

    @Test(arguments: TestJournal.all)
    func runIDsResolveFromAUniquePrefixAndUnknownOnesSayHowToList(journal: TestJournal) async throws {
        try await Self.withServer(journal: journal) { _, wflo, _ in
            let run = try await wflo.run(["run", Self.brief, "--json"])
            let runID = try #require(try JSONValue.parse(run.stdout)["run_id"]?.stringValue)
            let missing = try await wflo.run(["status", "zzzz"])
            #expect(missing.status == 2)
            #expect(missing.stderr.contains("wflo runs"))
            let status = try await wflo.run(["status", String(runID.prefix(4)), "--json"])
            #expect(try JSONValue.parse(status.stdout)["run_id"]?.stringValue == runID)
            let runs = try await wflo.run(["runs", "--json"])
            #expect(try JSONValue.parse(runs.stdout)[0]?["run_id"]?.stringValue == runID)
        }
    }
}
