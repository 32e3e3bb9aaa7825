import Foundation
import Testing
import WfloCore
import WfloTesting
#if canImport(Glibc)
import Glibc
#endif

/// wflo as a person installs and uses it: errors are one line and an exit code, never a crash;
/// the journal is private; output streams and exit codes mean what the help says.
@Suite(.timeLimit(.minutes(2)))
struct ProductCLITests {
    static let cassette = WfloProcess.repositoryRoot.appendingPathComponent("Examples/brief/cassette.json").path

    /// A fresh HOME with no journal, no network and no keys.
    static func offline<T>(_ body: (WfloProcess, URL) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-product-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let wflo = WfloProcess(environment: [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": directory.path,
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        ])
        return try await body(wflo, directory)
    }

    @Test func aMissingOrBrokenCassetteIsOneLineAndExitTwoOnRunAndResume() async throws {
        try await Self.offline { wflo, directory in
            let broken = directory.appendingPathComponent("broken.json")
            try "not json at all".write(to: broken, atomically: true, encoding: .utf8)
            let db = directory.appendingPathComponent("j.db").path
            for cassette in ["/no/such.json", broken.path] {
                let run = try await wflo.run(["run", CLITests.brief, "--replay", cassette, "--db", db])
                #expect(run.status == 2 && !run.killedBySignal, "\(run.status) \(run.stderr)")
                #expect(!run.stderr.contains("Fatal error"), "\(run.stderr)")
                #expect(run.stderr.hasPrefix("error: ") && run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
                #expect(run.stderr.contains(cassette))
            }
            // Same on resume, with a run that exists.
            let done = try await wflo.run(["run", CLITests.brief, "--replay", Self.cassette, "--db", db, "--json"])
            #expect(done.status == 0, "\(done.stderr)")
            let runID = try #require(try JSONValue.parse(done.stdout)["run_id"]?.stringValue)
            let resumed = try await wflo.run(["resume", runID, "--replay", "/no/such.json", "--db", db])
            #expect(resumed.status == 2 && !resumed.stderr.contains("Fatal error"), "\(resumed.status) \(resumed.stderr)")
        }
    }

    /// `wflo run … | head -1`: the reader goes away; the run must still finish and settle.
    @Test func aClosedOutputDoesNotStopOrCorruptTheRun() async throws {
        try await Self.offline { wflo, directory in
            let db = directory.appendingPathComponent("j.db").path
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            close(ends[0])  // Nobody will ever read: every write gets EPIPE.
            let process = try SpawnedProcess(executable: WfloProcess.executable.path,
                                             arguments: ["run", CLITests.brief, "--replay", Self.cassette, "--db", db],
                                             environment: wflo.environment, directory: WfloProcess.repositoryRoot.path,
                                             output: .descriptor(ends[1]))
            close(ends[1])
            let ended = await process.finish()
            #expect(!ended.killedBySignal && ended.status == 0, "\(ended.status) signal: \(ended.killedBySignal)")
            let runs = try await wflo.run(["runs", "--json", "--db", db])
            let run = try #require(try JSONValue.parse(runs.stdout)[0])
            #expect(run["status"] == "completed")
            let runID = try #require(run["run_id"]?.stringValue)
            let status = try await wflo.run(["status", runID, "--json", "--db", db])
            #expect(try JSONValue.parse(status.stdout)["status"] == "completed")
        }
    }

    @Test func progressGoesToStandardErrorAndTheResultToStandardOutput() async throws {
        try await Self.offline { wflo, directory in
            let run = try await wflo.run(["run", CLITests.brief, "--replay", Self.cassette, "--db", directory.appendingPathComponent("j.db").path])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stderr.contains("  ▶ outline") && run.stderr.contains("  ✓ draft"), "\(run.stderr)")
            #expect(!run.stdout.contains("▶") && !run.stdout.contains("✓"), "\(run.stdout)")
            #expect(run.stdout.contains(" completed · spent $") && run.stdout.contains("Outputs:\n  brief: "), "\(run.stdout)")
        }
    }

    @Test(arguments: [
        (["run"], "Missing expected argument"),
        (["frobnicate"], "Unexpected argument 'frobnicate'"),
        (["reject", "abc"], "--reason"),
        (["report", "abc", "--format", "pdf"], "--format"),
        (["run", CLITests.brief, "--budget", "-1"], "a budget must be 0 or more"),
        (["resume", "abc", "--budget", "-0.5"], "a budget must be 0 or more"),
        (["run", CLITests.brief, "--record", "a.json", "--replay", "b.json"], "cannot be used together"),
        (["run", CLITests.brief, "--spread-width", "2"], "--spread-width needs --spread-steps"),
        (["run", CLITests.brief, "--spread-steps", "--spread-width", "0"], "--spread-width must be 1 or more"),
    ])
    func everyUsageErrorExitsTwo(arguments: [String], message: String) async throws {
        try await Self.offline { wflo, _ in
            let result = try await wflo.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    @Test func markdownIsAlsoSpelledMd() async throws {
        try await Self.offline { wflo, directory in
            let db = directory.appendingPathComponent("j.db").path
            let run = try await wflo.run(["run", CLITests.brief, "--replay", Self.cassette, "--db", db, "--json"])
            let runID = try #require(try JSONValue.parse(run.stdout)["run_id"]?.stringValue)
            let md = try await wflo.run(["report", runID, "--format", "md", "--db", db])
            let markdown = try await wflo.run(["report", runID, "--format", "markdown", "--db", db])
            #expect(md.status == 0, "\(md.stderr)")
            #expect(md.stdout == markdown.stdout && md.stdout.contains("| draft"), "\(md.stdout)")
        }
    }

    @Test func theJournalIsPrivateAndReadingCommandsCreateNone() async throws {
        try await Self.offline { wflo, home in
            let folder = home.appendingPathComponent(".wflo")
            for arguments in [["report", "abc"], ["status", "abc"], ["runs"], ["approvals"], ["cache", "stats"], ["resume", "abc"],
                              ["cancel", "abc"], ["approve", "abc"]] {
                let result = try await wflo.run(arguments)
                #expect(!FileManager.default.fileExists(atPath: folder.path), "\(arguments) created \(folder.path)")
                if arguments == ["runs"] || arguments == ["approvals"] {
                    #expect(result.status == 0, "\(arguments): \(result.stderr)")
                } else {
                    #expect(result.status == 2 && result.stderr.contains("no journal at \(folder.path)/wflo.db"), "\(arguments): \(result.stderr)")
                }
            }
            let run = try await wflo.run(["run", CLITests.brief, "--replay", Self.cassette])
            #expect(run.status == 0, "\(run.stderr)")
            func mode(_ path: String) throws -> Int {
                try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            }
            #expect(try mode(folder.path) == 0o700)
            let journal = folder.appendingPathComponent("wflo.db").path
            #expect(try mode(journal) == 0o600)
            for sidecar in [journal + "-wal", journal + "-shm"] where FileManager.default.fileExists(atPath: sidecar) {
                #expect(try mode(sidecar) & 0o077 == 0, "\(sidecar)")
            }
        }
    }

    /// `wflo run … --replay CASSETTE --no-wait`, approve, then the `wflo resume RUN` wflo
    /// printed: the resume replays the same cassette; it does not go live.
    @Test func resumeContinuesFromTheCassetteTheRunStartedWith() async throws {
        try await Self.offline { wflo, directory in
            let db = directory.appendingPathComponent("j.db").path
            let publish = WfloProcess.repositoryRoot.appendingPathComponent("Examples/publish/workflow.yaml").path
            let cassette = WfloProcess.repositoryRoot.appendingPathComponent("Examples/publish/cassette.json").path
            var result = try await wflo.run(["run", publish, "--replay", "Examples/publish/cassette.json", "--no-wait", "--no-cache", "--db", db])
            #expect(result.status == 4, "\(result.output)")
            let runID = try #require(result.stdout.split(separator: " ").first { $0.count == 16 }.map(String.init))
            // The hint says how the run continues.
            #expect(result.stdout.contains("then: wflo resume \(runID.prefix(8)) --db \(db) --replay \(cassette) --no-cache"), "\(result.stdout)")
            for step in ["review", "publish"] {
                let approved = try await wflo.run(["approve", "\(runID)/\(step)", "--db", db])
                #expect(approved.status == 0, "\(approved.stderr)")
                result = try await wflo.run(["resume", runID, "--no-wait", "--db", db])
                if result.status != 4 { break }
            }
            #expect(result.status == 0, "\(result.output)")
            let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json", "--db", db]).stdout)
            #expect(report["status"] == "completed")
            #expect(report["outputs"]?["announcement"]?.stringValue?.isEmpty == false)
        }
    }

    /// The layout scripts/install.sh makes (PREFIX/bin/wflo, PREFIX/share/wflo/pricing/) runs
    /// from an empty folder far from the repository, and says where its prices come from.
    @Test func anInstalledBinaryFindsItsPricingTableFromAnyFolder() async throws {
        try await Self.offline { wflo, directory in
            let prefix = directory.appendingPathComponent("prefix")
            let bin = prefix.appendingPathComponent("bin"), share = prefix.appendingPathComponent("share/wflo/pricing")
            let empty = directory.appendingPathComponent("empty")
            for folder in [bin, share, empty] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
            try FileManager.default.copyItem(at: WfloProcess.executable, to: bin.appendingPathComponent("wflo"))
            for file in ["model_prices_and_context_window.json", "SOURCE.json"] {
                try FileManager.default.copyItem(at: WfloProcess.repositoryRoot.appendingPathComponent("pricing/\(file)"),
                                                 to: share.appendingPathComponent(file))
            }
            let workflow = empty.appendingPathComponent("t.yaml")
            try "name: t\nsteps:\n  - {id: a, type: transform, output: \"{{inputs.x}}!\"}\ninputs:\n  x: {type: string, default: hi}\noutputs:\n  y: \"{{steps.a.output}}\"\n"
                .write(to: workflow, atomically: true, encoding: .utf8)
            func installed(_ arguments: [String]) async throws -> WfloProcess.Result {
                let process = try SpawnedProcess(executable: bin.appendingPathComponent("wflo").path, arguments: arguments,
                                                 environment: wflo.environment, directory: empty.path)
                return await WfloProcess.finish(process)
            }
            let validate = try await installed(["validate", "t.yaml"])
            #expect(validate.status == 0, "\(validate.output)")
            let run = try await installed(["run", "t.yaml", "--no-budget", "--db", directory.appendingPathComponent("j.db").path])
            #expect(run.status == 0, "\(run.output)")
            #expect(run.stdout.contains("y: hi!"), "\(run.stdout)")
            let version = try await installed(["--version"])
            #expect(version.status == 0)
            #expect(version.stdout.hasPrefix("wflo "), "\(version.stdout)")
            #expect(version.stdout.contains("pricing: \(share.path)/model_prices_and_context_window.json (litellm "), "\(version.stdout)")
        }
    }

    @Test func sandboxCheckFailsAndSaysHowToBuildAMissingLauncher() async throws {
        try await Self.offline { wflo, _ in
            let check = try await wflo.run(["sandbox", "check"], extraEnvironment: ["WFLO_SANDBOX_LAUNCHER": "/nonexistent/launcher"])
            #expect(check.status == 1, "\(check.output)")
            #expect(check.stderr.contains("swift build --product wflo-sandbox-launcher"), "\(check.stderr)")
            let json = try await wflo.run(["sandbox", "check", "--json"], extraEnvironment: ["WFLO_SANDBOX_LAUNCHER": "/nonexistent/launcher"])
            #expect(json.status == 1)
        }
    }

    /// A run blocked on a person shows `waiting_approval` while its driver waits; a run whose
    /// driver was killed shows `interrupted` (not `running`) in runs, status and reports.
    @Test func statusTellsWaitingForAPersonFromADeadDriver() async throws {
        try await CLITests.withServer { server, wflo, _ in
            func shown(_ runID: String) async throws -> [String?] {
                let status = try await wflo.run(["status", runID, "--json"])
                let report = try await wflo.run(["report", runID, "--format", "json"])
                let runs = try await wflo.run(["runs", "--json"])
                let listed = try JSONValue.parse(runs.stdout).arrayValue?.first { $0["run_id"]?.stringValue == runID }
                return [try JSONValue.parse(status.stdout)["status"]?.stringValue, try JSONValue.parse(report.stdout)["status"]?.stringValue,
                        listed?["status"]?.stringValue]
            }
            let waiting = try wflo.start(["run", ApprovalCLITests.publish])
            let request = try await ApprovalCLITests.pending(wflo, step: "review")
            let waitingRun = try #require(request["run_id"]?.stringValue)
            #expect(try await shown(waitingRun) == ["waiting_approval", "waiting_approval", "waiting_approval"])
            waiting.send(SIGKILL)
            _ = await WfloProcess.finish(waiting)
            #expect(try await shown(waitingRun) == ["interrupted", "interrupted", "interrupted"])
            let table = try await wflo.run(["status", waitingRun])
            #expect(table.stdout.contains("Continue with: wflo resume \(waitingRun.prefix(8))"), "\(table.stdout)")

            server.on(promptContaining: "Write the brief", .hang, times: 1)
            let hung = try wflo.start(["run", CLITests.brief])
            await server.waitForRequests(4)
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let hungRun = try #require(runs[0]?["run_id"]?.stringValue)
            #expect(try await shown(hungRun) == ["running", "running", "running"])
            hung.send(SIGKILL)
            _ = await WfloProcess.finish(hung)
            #expect(try await shown(hungRun) == ["interrupted", "interrupted", "interrupted"])
        }
    }

    /// validate shows what run would reserve and refuse, before any money moves.
    @Test func validateShowsWorstCasesLimitsAndMissingKeys() async throws {
        try await Self.offline { wflo, directory in
            let file = directory.appendingPathComponent("w.yaml")
            try """
                name: w
                budget: 0.50
                inputs:
                  topics: {type: array, default: [a, b, c]}
                steps:
                  - id: many
                    type: llm
                    for_each: {items: "{{inputs.topics}}"}
                    model: gpt-4o-mini
                    prompt: "Summarize {{for_each.item}}"
                    max_tokens: 100
                  - id: long
                    type: llm
                    model: gpt-4o-mini
                    prompt: "Write a book"
                    max_tokens: 100000
                  - id: helper
                    type: agent
                    model: gpt-4o-mini
                    task: "Answer"
                    max_turns: 4
                    max_tokens: 50
                    tools:
                      - {name: echo, description: "echo", parameters: {type: object}, type: transform, output: "{{args.x}}"}
                  - id: call
                    type: http
                    url: "https://example.com/?t={{secrets.TOKEN}}"
                """.write(to: file, atomically: true, encoding: .utf8)
            let result = try await wflo.run(["validate", file.path])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout.contains("valid · 4 steps (3 paid) · budget $0.500000"), "\(result.stdout)")
            #expect(result.stdout.contains("3 calls") && result.stdout.contains("4 calls"), "\(result.stdout)")
            #expect(result.stdout.contains("total worst case $"), "\(result.stdout)")
            #expect(result.stderr.contains("\(file.path):12:5: warning: step 'long': max_tokens 100000 is above gpt-4o-mini's limit of 16384 output tokens; wflo sends max_tokens 16384"), "\(result.stderr)")
            #expect(result.stderr.contains("OPENAI_API_KEY is not set: steps many, long, helper"), "\(result.stderr)")
            #expect(result.stderr.contains("secret TOKEN is not set"), "\(result.stderr)")

            // A step whose one call cannot fit the budget is refused by run: validate says so and exits 2.
            try String(try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "budget: 0.50", with: "budget: 0.001"))
                .write(to: file, atomically: true, encoding: .utf8)
            let refused = try await wflo.run(["validate", file.path])
            #expect(refused.status == 2, "\(refused.output)")
            #expect(refused.stderr.contains("\(file.path):12:5: error: step 'long': one call's worst case $"), "\(refused.stderr)")

            // An unknown model gets the closest priced name.
            let typo = directory.appendingPathComponent("typo.yaml")
            try "name: t\nbudget: 1\nsteps:\n  - {id: a, type: llm, model: gpt-4o-mnii, prompt: hi, max_tokens: 5}\n"
                .write(to: typo, atomically: true, encoding: .utf8)
            let unknown = try await wflo.run(["validate", typo.path])
            #expect(unknown.status == 2)
            #expect(unknown.stderr.contains("did you mean 'gpt-4o-mini'?"), "\(unknown.stderr)")
        }
    }
}
