import Foundation
import Testing
import WfloCore
import WfloTesting

/// Dead letters, retry, fork and gc (issue 21) as users meet them: real `wflo` processes on SQLite
/// and PostgreSQL, the model on a loopback `FakeLLMServer` whose request count says what was sent again.
@Suite(.timeLimit(.minutes(4)))
struct RecoveryCLITests {
    static let chain = """
        name: chain
        budget: 0.10
        inputs:
          topic: {type: string, default: tides}
        steps:
          - id: outline
            type: llm
            model: gpt-4o-mini
            prompt: "outline {{inputs.topic}}"
            max_tokens: 50
          - id: draft
            type: llm
            model: gpt-4o-mini
            depends_on: [outline]
            prompt: "draft {{steps.outline.output.text}}"
            max_tokens: 50
            retry: {maximum_attempts: 1}
          - id: polish
            type: llm
            model: gpt-4o-mini
            depends_on: [draft]
            prompt: "polish {{steps.draft.output.text}}"
            max_tokens: 50
        outputs:
          final: "{{steps.polish.output.text}}"
        """

    static func json(_ result: WfloProcess.Result) throws -> JSONValue {
        try JSONValue.parse(result.stdout)
    }

    @Test(arguments: TestJournal.all)
    func aDeadLetterIsListedRetriedAfterTheCauseIsFixedAndForkedPayingOnlyForWhatRunsAgain(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let file = directory.appendingPathComponent("chain.yaml")
            try Self.chain.write(to: file, atomically: true, encoding: .utf8)
            // The provider refuses the draft once (a 400 is not retried): the run fails at `draft`.
            server.on(promptContaining: "draft", .error(status: 400, body: #"{"error": {"message": "context too long"}}"#), times: 1)
            let failed = try await wflo.run(["run", file.path, "--json"])
            #expect(failed.status == 1, "\(failed.output)")
            let runID = try #require(try Self.json(failed)["run_id"]?.stringValue)
            #expect(server.requestCount == 2)

            // Dead letters: the run, its failing step and the reason.
            let letters = try await wflo.run(["runs", "--failed", "--since", "1h", "--workflow", "chain", "--json"])
            #expect(letters.status == 0, "\(letters.output)")
            let listed = try #require(try Self.json(letters).arrayValue)
            #expect(listed.count == 1 && listed.first?["run_id"] == .string(runID) && listed.first?["failed_step"] == "draft")
            #expect(listed.first?["reason"]?.stringValue?.contains("context too long") == true)
            let none = try await wflo.run(["runs", "--failed", "--workflow", "other", "--json"])
            #expect(try Self.json(none).arrayValue?.isEmpty == true)
            let misuse = try await wflo.run(["runs", "--since", "1d"])
            #expect(misuse.status == 2 && misuse.stderr.contains("--since and --workflow go with --failed"), "\(misuse.output)")

            // The dry run says what would run and its worst case; nothing is sent.
            let plan = try await wflo.run(["retry", runID, "--dry-run", "--json"])
            #expect(plan.status == 0, "\(plan.output)")
            let planned = try Self.json(plan)
            #expect(planned["steps"]?.arrayValue?.map { $0["step_id"] } == ["draft", "polish"])
            #expect(planned["reused_steps"] == ["outline"])
            let worst = try #require(planned["worst_case_usd"]?.stringValue.flatMap { Money(string: $0) })
            #expect(worst > .zero)
            #expect(server.requestCount == 2)

            let bulkPlan = try await wflo.run(["retry", "--failed", "--workflow", "chain", "--since", "1h", "--dry-run", "--json"])
            #expect(bulkPlan.status == 0, "\(bulkPlan.output)")
            #expect(try Self.json(bulkPlan).arrayValue?.map { $0["run_id"] } == [.string(runID)])
            let noRun = try await wflo.run(["retry"])
            #expect(noRun.status == 2 && noRun.stderr.contains("say which run"), "\(noRun.output)")

            // The cause is gone now: the retry of every failed run of the workflow runs draft and polish only, and completes.
            let retried = try await wflo.run(["retry", "--failed", "--workflow", "chain", "--json"])
            #expect(retried.status == 0, "\(retried.output)")
            #expect(try Self.json(retried).arrayValue?.map { $0["status"] } == ["completed"])
            #expect(try await wflo.run(["retry", "--failed"]).stdout.contains("No failed runs match."))
            #expect(server.requestCount == 4)
            #expect(server.requests().filter { $0.bodyText.contains("\"outline tides\"") }.count == 1, "outline was not sent again")
            let retryAgain = try await wflo.run(["retry", runID])
            #expect(retryAgain.status == 2 && retryAgain.stderr.contains("is completed, not failed"), "\(retryAgain.output)")

            // A fork from draft with another topic... reuses outline (not downstream) at $0 and runs draft and polish.
            let forkPlan = try await wflo.run(["fork", runID, "--from", "polish", "--dry-run", "--json"])
            #expect(forkPlan.status == 0, "\(forkPlan.output)")
            #expect(try Self.json(forkPlan)["steps"]?.arrayValue?.map { $0["step_id"] } == ["polish"])
            #expect(try Self.json(forkPlan)["reused_steps"] == ["outline", "draft"])
            let forked = try await wflo.run(["fork", runID, "--from", "draft", "--input", "topic=reefs", "--json"])
            #expect(forked.status == 0, "\(forked.output)")
            let forkJSON = try Self.json(forked)
            let forkID = try #require(forkJSON["run_id"]?.stringValue)
            #expect(forkID != runID && forkJSON["status"] == "completed")
            #expect(server.requestCount == 6, "only draft and polish reached the provider")
            let report = try Self.json(try await wflo.run(["report", forkID, "--format", "json"]))
            let steps = try #require(report["steps"]?.arrayValue)
            let outline = try #require(steps.first { $0["id"] == "outline" })
            #expect(outline["cost_usd"].flatMap { $0.stringValue.flatMap { Money(string: $0) } } == .zero)
            #expect(outline["status"] == "completed" && outline["reused_from"] == .string(runID))
            #expect(steps.first { $0["id"] == "draft" }?["reused_from"] == nil)
            let original = try Self.json(try await wflo.run(["report", runID, "--format", "json"]))
            let forkSpent = try #require(report["spent_usd"]?.stringValue.flatMap { Money(string: $0) })
            let originalSpent = try #require(original["spent_usd"]?.stringValue.flatMap { Money(string: $0) })
            #expect(forkSpent > .zero && forkSpent < originalSpent)

            let badFork = try await wflo.run(["fork", runID, "--from", "drafts"])
            #expect(badFork.status == 2 && badFork.stderr.contains("has no step 'drafts'"), "\(badFork.output)")
            let badItem = try await wflo.run(["fork", runID, "--from", "draft[2]"])
            #expect(badItem.status == 2 && badItem.stderr.contains("has no for_each items"), "\(badItem.output)")

            // gc keeps what reports across runs add up.
            let before = try Self.json(try await wflo.run(["report", "--since", "1d", "--format", "json"]))
            let dry = try await wflo.run(["gc", "--finished-before", "2099-01-01", "--dry-run", "--json"])
            #expect(dry.status == 0, "\(dry.output)")
            #expect(try Self.json(dry)["runs"] == 2)
            let collected = try await wflo.run(["gc", "--finished-before", "2099-01-01", "--json"])
            #expect(try Self.json(collected)["runs"] == 2 && (try Self.json(collected)["steps"]?.intValue ?? 0) >= 5)
            #expect(try Self.json(try await wflo.run(["gc", "--finished-before", "2099-01-01", "--json"]))["runs"] == 0)
            let after = try Self.json(try await wflo.run(["report", "--since", "1d", "--format", "json"]))
            #expect(after["totals"]?["spent_usd"] == before["totals"]?["spent_usd"] && after["totals"]?["spent_usd"] != nil)
            #expect(after["totals"]?["calls"] == before["totals"]?["calls"] && (before["totals"]?["calls"]?.intValue ?? 0) >= 5)
            #expect(after["runs"] == 2)
            let gone = try await wflo.run(["report", runID, "--format", "json"])
            #expect(gone.status == 0, "\(gone.output)")
            #expect(try Self.json(gone)["spent_usd"] == original["spent_usd"])
            #expect(try Self.json(gone)["steps"]?.arrayValue?.map { $0["status"] } == ["removed by gc", "removed by gc", "removed by gc"])
        }
    }

    /// `--from ID[INDEX]`: one item of a for_each runs again; the other items and the steps before it are reused.
    @Test func aForkFromOneItemRunsThatItemAndWhatDependsOnIt() async throws {
        try await CLITests.withServer { server, wflo, directory in
            let file = directory.appendingPathComponent("fan.yaml")
            try """
                name: fan
                budget: 0.10
                steps:
                  - id: seed
                    type: transform
                    output: ["a", "b", "c", "d"]
                  - id: each
                    type: llm
                    model: gpt-4o-mini
                    depends_on: [seed]
                    for_each: "{{steps.seed.output}}"
                    prompt: "about {{for_each.item}}"
                    max_tokens: 20
                  - id: sum
                    type: llm
                    model: gpt-4o-mini
                    depends_on: [each]
                    prompt: "sum {{steps.each.output.count}}"
                    max_tokens: 20
                """.write(to: file, atomically: true, encoding: .utf8)
            let first = try await wflo.run(["run", file.path, "--json"])
            #expect(first.status == 0, "\(first.output)")
            let runID = try #require(try Self.json(first)["run_id"]?.stringValue)
            #expect(server.requestCount == 5)
            let plan = try Self.json(try await wflo.run(["fork", runID, "--from", "each[2]", "--dry-run", "--json"]))
            #expect(plan["steps"]?.arrayValue?.map { $0["step_id"] } == ["each", "sum"])
            #expect(plan["reused_steps"] == ["seed"])
            let forked = try await wflo.run(["fork", runID, "--from", "each[2]", "--json"])
            #expect(forked.status == 0, "\(forked.output)")
            #expect(server.requestCount == 7, "item 2 and sum only")
            let sent = server.requests().suffix(2).map(\.bodyText)
            #expect(sent.first?.contains("about c") == true)
        }
    }
}
