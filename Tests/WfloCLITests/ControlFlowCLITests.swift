import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// Issue 8 through the real `wflo` executable: the examples offline, `wflo cancel` from another
/// process, and kill -9 inside a for_each, inside a sub-workflow and during a durable sleep.
@Suite(.timeLimit(.minutes(3)))
struct ControlFlowCLITests {
    static func example(_ name: String) -> String {
        WfloProcess.repositoryRoot.appendingPathComponent("Examples/\(name)").path
    }

    @Test(arguments: [("triage", [String]()), ("batch", []), ("batch", ["--input", "language=French"]), ("sandbox", [])])
    func theExamplesRunOfflineFromTheirCassettes(name: String, extra: [String]) async throws {
        try await CLITests.withServer { server, wflo, _ in
            let run = try await wflo.run(["run", Self.example("\(name)/workflow.yaml"), "--replay", Self.example("\(name)/cassette.json"),
                                          "--json"] + extra)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let json = try JSONValue.parse(run.stdout)
            #expect(json["status"] == "completed")
            #expect(server.requestCount == 0)
            switch name {
            case "sandbox":
                // The model's program ran for real in the sandbox; its answer came from the cassette.
                #expect(json["outputs"]?["printed"] == "mean 11.70\nmedian 11.25\n")
                #expect(json["outputs"]?["summary"] == "5 prices, max 14.00\n")
                #expect(json["outputs"]?["exit_code"] == .int(0))
            case "triage":
                #expect(json["outputs"]?["kind"] == "bug")
                #expect(json["outputs"]?["reply"]?.stringValue?.hasPrefix("Thanks for the report") == true)
            default:
                #expect(json["outputs"]?["summary"] == "4 of 4 listings written")
                let translated = json["outputs"]?["listings"]?[3]?["translated"]
                #expect(extra.isEmpty ? translated == .null : translated?.stringValue?.hasPrefix("Traduction") == true)
            }
            let runID = try #require(json["run_id"]?.stringValue)
            let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
            let steps = report["steps"]?.arrayValue ?? []
            if name == "sandbox" {
                #expect(steps.first { $0["id"] == "run" }?["type"] == "sandbox")
            } else if name == "triage" {
                #expect(steps.first { $0["id"] == "feature_reply" }?["status"] == "skipped")
            } else {
                #expect(steps.contains { $0["id"] == "listings[3]/describe" })
                // The for_each row adds up its items and their steps; the total counts each once.
                let listings = try #require(steps.first { $0["id"] == "listings" })
                #expect(listings["cost_usd"] == "0.000000")
                #expect(listings["subtotal"]?["cost_usd"] == report["spent_usd"])
                #expect(listings["subtotal"]?["attempts"] == report["totals"]?["attempts"])
                #expect(listings["subtotal"]?["nested_steps"] == 12)
                // Each item describes, and translates too when a language is given.
                #expect(steps.first { $0["id"] == "listings[2]" }?["subtotal"]?["attempts"] == .int(extra.isEmpty ? 1 : 2))
                let spent = try #require(report["spent_usd"]?.stringValue.flatMap { Money(string: $0) })
                let table = try await wflo.run(["report", runID]).stdout
                #expect(table.contains("Σ \(spent.formatted(decimals: 6))"), "\(table)")
                #expect(table.contains("Σ: a for_each or workflow step's row adds up the rows nested under it"))
            }
        }
    }

    static let slow = """
        name: slow
        budget: 0.50
        steps:
          - id: first
            type: llm
            model: gpt-4o-mini
            prompt: "slow please"
            max_tokens: 20
          - id: second
            type: llm
            model: gpt-4o-mini
            prompt: "after {{steps.first.output.text}}"
            max_tokens: 20
        """

    @Test func cancelRefusesAnUnknownRunAndABadWaitClearly() async throws {
        try await CLITests.withServer { _, wflo, _ in
            // No journal yet: said so, and none is created by asking.
            let nothing = try await wflo.run(["cancel", "nosuchrun"])
            #expect(nothing.status == 2, "\(nothing.stdout)\(nothing.stderr)")
            #expect(nothing.stderr.contains("no journal at"), "\(nothing.stderr)")
            let card = WfloProcess.repositoryRoot.appendingPathComponent("Examples/transform/workflow.yaml").path
            #expect(try await wflo.run(["run", card, "--input", "recipient=Ada"]).status == 0)
            let unknown = try await wflo.run(["cancel", "nosuchrun"])
            #expect(unknown.status == 2, "\(unknown.stdout)\(unknown.stderr)")
            #expect(unknown.stderr.contains("nosuchrun"), "\(unknown.stderr)")
            for bad in ["inf", "nan", "-1"] {
                let refused = try await wflo.run(["cancel", "nosuchrun", "--wait", bad])
                #expect(refused.status == 2, "\(bad): \(refused.status) \(refused.stderr)")
                #expect(!refused.killedBySignal)
                #expect(refused.stderr.contains("--wait"), "\(bad): \(refused.stderr)")
            }
        }
    }

    @Test(arguments: TestJournal.all)
    func cancelFromAnotherTerminalStopsAnInFlightCall(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            server.on(promptContaining: "slow please", .hang)
            let file = directory.appendingPathComponent("slow.yaml").path
            try Self.slow.write(toFile: file, atomically: true, encoding: .utf8)
            let process = try wflo.start(["run", file])
            await server.waitForRequests(1)
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let runID = try #require(runs[0]?["run_id"]?.stringValue)
            let clock = ContinuousClock()
            let asked = clock.now
            let cancel = try await wflo.run(["cancel", String(runID.prefix(8)), "--reason", "wrong prompt"])
            let ran = await WfloProcess.finish(process)
            let took = clock.now - asked
            #expect(cancel.status == 0, "\(cancel.stdout)\(cancel.stderr)")
            #expect(cancel.stdout.contains("cancelled"))
            #expect(ran.status == 5, "\(ran.stdout)\(ran.stderr)")
            #expect(ran.output.contains("wrong prompt"))
            // The hung call would otherwise last the 120 s LLM timeout (loose: this test's own tasks
            // can resume seconds late while every suite runs on two cores).
            #expect(took < .seconds(30))
            #expect(server.requestCount == 1)
            let status = try JSONValue.parse(try await wflo.run(["status", runID, "--json"]).stdout)
            #expect(status["status"] == "cancelled")
            // The call cut off mid-way stays charged at its worst case.
            let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
            #expect(Money(string: report["unsettled_usd"]?.stringValue ?? "0")! > .zero)
            let resume = try await wflo.run(["resume", runID])
            #expect(resume.status == 2)
            #expect(resume.stderr.contains("cancelled"))
            let again = try await wflo.run(["cancel", runID])
            #expect(again.status == 2)
        }
    }

    @Test func cancelKillsARunningSandboxAndItsWholeTree() async throws {
        try await CLITests.withServer { _, wflo, directory in
            let marker = "wflo-cancel-\(UUID().uuidString)"
            let file = directory.appendingPathComponent("long.yaml").path
            try """
                name: long
                budget: 0
                steps:
                  - id: crunch
                    type: sandbox
                    command: [python3, -c, "import os, time; os.fork(); os.fork(); time.sleep(120)", "\(marker)"]
                    limits: {wall: 120s}
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let process = try wflo.start(["run", file])
            func survivors() -> Int {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
                return entries.filter { Int($0) != nil }.filter { pid in
                    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
                    return String(decoding: data, as: UTF8.self).contains(marker)
                }.count
            }
            for _ in 0..<100 where survivors() < 4 { try await Task.sleep(for: .milliseconds(100)) }
            #expect(survivors() >= 4, "the program and its three forks run (and the launcher, whose argv holds the marker)")
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let runID = try #require(runs[0]?["run_id"]?.stringValue)
            let cancel = try await wflo.run(["cancel", runID])
            let ran = await WfloProcess.finish(process)
            #expect(cancel.status == 0, "\(cancel.stdout)\(cancel.stderr)")
            #expect(ran.status == 5, "\(ran.stdout)\(ran.stderr)")
            #expect(survivors() == 0, "no process of the sandbox survives the cancel")
        }
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalLeavesAResumableRun(signal: Int32) async throws {
        try await CLITests.withServer { server, wflo, directory in
            server.on(promptContaining: "slow please", .hang, times: 1)
            let file = directory.appendingPathComponent("slow.yaml").path
            try Self.slow.write(toFile: file, atomically: true, encoding: .utf8)
            let process = try wflo.start(["run", file])
            await server.waitForRequests(1)
            process.send(signal)
            let stopped = await WfloProcess.finish(process)
            #expect(stopped.status == 130, "\(stopped.stdout)\(stopped.stderr)")
            #expect(stopped.output.contains("journal is intact"))
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let runID = try #require(runs[0]?["run_id"]?.stringValue)
            let resumed = try await wflo.run(["resume", runID, "--json"])
            #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
            #expect(try JSONValue.parse(resumed.stdout)["status"] == "completed")
            // The interrupted call stays charged at its worst case; it was made once more on resume.
            #expect(server.requests().filter { $0.lastUserMessage == "slow please" }.count == 2)
        }
    }

    static let items = """
        name: items
        budget: 0.50
        inputs:
          topics: {type: array, default: ["a", "b", "c", "d"]}
        steps:
          - id: summaries
            type: llm
            for_each: {items: "{{inputs.topics}}", item_var: topic, max_parallel: 1}
            model: gpt-4o-mini
            prompt: "Summarize {{for_each.topic}}"
            max_tokens: 20
        outputs:
          texts: "{{steps.summaries.output.items}}"
        """

    @Test func killedInsideAForEachResumesWithTheItemsNotYetDone() async throws {
        try await CLITests.withServer { server, wflo, directory in
            let file = directory.appendingPathComponent("items.yaml").path
            try Self.items.write(toFile: file, atomically: true, encoding: .utf8)
            let crashed = try await wflo.run(["run", file], extraEnvironment: ["WFLO_FAULT_KILL_AT": "completed:summaries[1]"])
            #expect(crashed.killedBySignal)
            #expect(server.requestCount == 2)
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let runID = try #require(runs[0]?["run_id"]?.stringValue)
            let resumed = try await wflo.run(["resume", runID, "--json"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let prompts = server.requests().compactMap(\.lastUserMessage)
            #expect(prompts == ["Summarize a", "Summarize b", "Summarize c", "Summarize d"])
            let texts = try JSONValue.parse(resumed.stdout)["outputs"]?["texts"]?.arrayValue?.compactMap { $0["text"]?.stringValue }
            #expect(texts == ["Echo: Summarize a", "Echo: Summarize b", "Echo: Summarize c", "Echo: Summarize d"])
        }
    }

    @Test func killedInsideASubWorkflowResumesItAndUsesTheJournaledChild() async throws {
        try await CLITests.withServer { server, wflo, directory in
            try """
                name: child
                inputs: {topic: {type: string}}
                steps:
                  - id: one
                    type: llm
                    model: gpt-4o-mini
                    prompt: "Child one {{inputs.topic}}"
                    max_tokens: 20
                  - id: two
                    type: llm
                    model: gpt-4o-mini
                    prompt: "Child two {{steps.one.output.text}}"
                    max_tokens: 20
                outputs: {last: "{{steps.two.output.text}}"}
                """.write(to: directory.appendingPathComponent("child.yaml"), atomically: true, encoding: .utf8)
            let parent = directory.appendingPathComponent("parent.yaml").path
            try """
                name: parent
                budget: 0.50
                steps:
                  - id: sub
                    type: workflow
                    workflow: child.yaml
                    inputs: {topic: "tides"}
                outputs: {last: "{{steps.sub.output.last}}"}
                """.write(toFile: parent, atomically: true, encoding: .utf8)
            let crashed = try await wflo.run(["run", parent], extraEnvironment: ["WFLO_FAULT_KILL_AT": "completed:sub/one"])
            #expect(crashed.killedBySignal)
            // Whatever the file says now, the run finishes with the child it started with.
            try "name: broken\n".write(to: directory.appendingPathComponent("child.yaml"), atomically: true, encoding: .utf8)
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let runID = try #require(runs[0]?["run_id"]?.stringValue)
            let resumed = try await wflo.run(["resume", runID, "--json"])
            #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
            #expect(try JSONValue.parse(resumed.stdout)["outputs"]?["last"] == "Echo: Child two Echo: Child one tides")
            #expect(server.requests().compactMap(\.lastUserMessage) == ["Child one tides", "Child two Echo: Child one tides"])
        }
    }

    @Test func aSleepSurvivesAKillAndResumeWaitsOnlyTheRest() async throws {
        try await CLITests.withServer { server, wflo, directory in
            let file = directory.appendingPathComponent("nap.yaml").path
            try """
                name: nap
                budget: 0.50
                steps:
                  - id: before
                    type: llm
                    model: gpt-4o-mini
                    prompt: "before the nap"
                    max_tokens: 20
                  - id: nap
                    type: sleep
                    depends_on: before
                    duration: 3s
                  - id: after
                    type: llm
                    depends_on: nap
                    model: gpt-4o-mini
                    prompt: "after the nap"
                    max_tokens: 20
                """.write(toFile: file, atomically: true, encoding: .utf8)
            let crashed = try await wflo.run(["run", file], extraEnvironment: ["WFLO_FAULT_KILL_AT": "sleeping:nap"])
            #expect(crashed.killedBySignal)
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let runID = try #require(runs[0]?["run_id"]?.stringValue)
            let resumed = try await wflo.run(["resume", runID])
            #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
            #expect(server.requests().compactMap(\.lastUserMessage) == ["before the nap", "after the nap"])
            // Timed by the journal (the wflo processes' clock), not by this test, whose tasks can lag
            // seconds behind while every suite runs: the resume woke at the deadline journaled before
            // the kill — at once if it came later — and did not sleep 3 s anew.
            let journal = try await SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path).journal(runID: runID)
            let nap = try #require(journal.steps.first { $0.stepID == "nap" }?.output)
            let format = ISO8601DateFormatter()
            format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let wake = try #require(nap["wake_at"]?.stringValue.flatMap { format.date(from: $0) })
            let woke = try #require(nap["woke_at"]?.stringValue.flatMap { format.date(from: $0) })
            let resumedAt = try #require(journal.events.last { $0.kind == .runResumed }?.at)
            #expect(woke >= wake, "woke \(woke) before its deadline \(wake)")
            #expect(woke.timeIntervalSince(max(wake, resumedAt)) < 2, "woke \(woke), deadline \(wake), resumed \(resumedAt)")
        }
    }
}
