import Foundation
import Testing
import WfloCore
import WfloTesting

/// The approval flow as people and scripts use it: real `wflo` processes sharing one SQLite
/// journal, a real loopback provider server, a real pseudo-terminal.
@Suite(.timeLimit(.minutes(2)))
struct ApprovalCLITests {
    static let publish = WfloProcess.repositoryRoot.appendingPathComponent("Examples/publish/workflow.yaml").path

    /// Polls `wflo approvals --json` until a pending request for `step` shows up. The wait is
    /// generous: the command-line pass runs every suite's processes at once on two cores, where a
    /// `wflo run` on a fresh PostgreSQL database took more than 30 s to ask (twice in one day).
    /// - Parameter run: the process expected to ask; when it ends first, that is the failure, with its output.
    static func pending(_ wflo: WfloProcess, step: String, seconds: Double = 90, run: SpawnedProcess? = nil) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(seconds)
        var last = ""
        while Date() < deadline {
            // Read before the list: a run that ended before it was read and is not in it never asked.
            let ended = run.map { !$0.isRunning } ?? false
            let list = try await wflo.run(["approvals", "--json"])
            if list.status == 0, let items = try JSONValue.parse(list.stdout).arrayValue,
               let item = items.first(where: { $0["step_id"]?.stringValue == step }) {
                return item
            }
            last = list.output
            if ended, let run {
                let end = await run.finish()
                throw CLIFailure("the run ended (status \(end.status)) before asking to approve \(step): \(end.stdout)\(end.stderr)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIFailure("no pending approval for \(step) within \(seconds)s; `wflo approvals --json` last said: \(last)")
    }

    struct CLIFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    func announcements(_ server: FakeLLMServer) -> Int {
        server.requests().filter { $0.lastUserMessage?.hasPrefix("Announce:") == true }.count
    }

    @Test(arguments: TestJournal.all)
    func aWaitingRunContinuesAfterApproveFromAnotherProcess(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, _ in
            let process = try wflo.start(["run", Self.publish])
            defer { process.send(SIGKILL) }  // A failed expectation must not leave the run waiting forever.
            let review = try await Self.pending(wflo, step: "review", run: process)
            for key in ["id", "run_id", "step_id", "status", "message", "worst_case_usd", "age_seconds"] {
                #expect(review[key] != nil, "approvals --json lacks \(key)")
            }
            #expect(review["status"] == "pending")
            let runID = try #require(review["run_id"]?.stringValue)
            let approved = try await wflo.run(["approve", try #require(review["id"]?.stringValue), "--comment", "ship it"])
            #expect(approved.status == 0, "\(approved.stderr)")
            #expect(announcements(server) == 0)

            let gate = try await Self.pending(wflo, step: "publish")
            #expect(gate["worst_case_usd"]?.stringValue.flatMap { Money(string: $0) }.map { $0 > .zero } == true)
            let shown = try await wflo.run(["approvals", "show", "\(runID.prefix(6))/publish"])
            #expect(shown.stdout.contains("[user]\nAnnounce: "), "\(shown.stdout)")
            let second = try await wflo.run(["approve", "\(runID.prefix(6))/publish"])
            #expect(second.status == 0, "\(second.stderr)")

            let result = await WfloProcess.finish(process)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.output.contains("waits for approval"))
            #expect(result.output.contains("wflo approve \(runID.prefix(8))/review"))
            #expect(result.output.contains("completed"))
            #expect(announcements(server) == 1)

            let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
            #expect(report["status"] == "completed")
            // It went on by itself at once: the journal's clock (the two wflo processes'), not
            // this test's, whose tasks can lag seconds behind while every suite runs.
            let decided = report["approvals"]?.arrayValue?.last { $0["step"] == "publish" }?["decided_at"]?.stringValue
            let ended = report["updated_at"]?.stringValue
            let seconds = try #require(decided.flatMap { try? Date($0, strategy: .iso8601) }).distance(
                to: try #require(ended.flatMap { try? Date($0, strategy: .iso8601) }))
            #expect(seconds < 5, "decided at \(decided ?? "?"), the run ended at \(ended ?? "?")")
        }
    }

    @Test(arguments: TestJournal.all)
    func rejectEndsTheRunWithExitFiveAndTheGatedStepNeverRuns(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, _ in
            let process = try wflo.start(["run", Self.publish, "--json"])
            defer { process.send(SIGKILL) }  // A failed expectation must not leave the run waiting forever.
            let review = try await Self.pending(wflo, step: "review", run: process)
            let runID = try #require(review["run_id"]?.stringValue)
            #expect(try await wflo.run(["approve", "\(runID)/review"]).status == 0)
            _ = try await Self.pending(wflo, step: "publish")
            let rejected = try await wflo.run(["reject", "\(runID.prefix(8))/publish", "--reason", "not today"])
            #expect(rejected.status == 0, "\(rejected.stderr)")

            let result = await WfloProcess.finish(process)
            #expect(result.status == 5)
            let json = try JSONValue.parse(result.stdout)
            #expect(json["status"] == "rejected")
            #expect(json["error"]?.stringValue?.contains("not today") == true)
            #expect(announcements(server) == 0)
            let again = try await wflo.run(["resume", runID])
            #expect(again.status == 2)
            #expect(again.stderr.contains("rejected"))
        }
    }

    @Test(arguments: TestJournal.all)
    func twoProcessesDecidingAtOnceRecordExactlyOneDecision(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { _, wflo, _ in
            let first = try await wflo.run(["run", Self.publish, "--no-wait", "--json"])
            #expect(first.status == 4)
            let review = try await Self.pending(wflo, step: "review")
            let id = try #require(review["id"]?.stringValue)
            let a = try wflo.start(["approve", id, "--as", "alice", "--comment", "from alice"])
            let b = try wflo.start(["reject", id, "--as", "bob", "--reason", "from bob"])
            let resultA = await WfloProcess.finish(a)
            let resultB = await WfloProcess.finish(b)
            #expect([resultA.status, resultB.status].sorted() == [0, 1], "\(resultA) \(resultB)")
            let loser = resultA.status == 1 ? resultA : resultB
            let winner = resultA.status == 1 ? "bob" : "alice"
            #expect(loser.stderr.contains("already"))
            #expect(loser.stderr.contains("by \(winner)"))
            let all = try JSONValue.parse(try await wflo.run(["approvals", "--all", "--json"]).stdout)
            #expect(all[0]?["decided_by"]?.stringValue == winner)
        }
    }

    @Test(arguments: TestJournal.all)
    func noWaitExitsFourThenResumeAfterTheDecisionsFinishesTheRun(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, _ in
            let first = try await wflo.run(["run", Self.publish, "--no-wait", "--json"])
            #expect(first.status == 4)
            let json = try JSONValue.parse(first.stdout)
            #expect(json["status"] == "waiting_approval")
            let runID = try #require(json["run_id"]?.stringValue)
            #expect(try await wflo.run(["approve", "\(runID.prefix(5))/review"]).status == 0)
            let second = try await wflo.run(["resume", runID, "--no-wait", "--json"])
            #expect(second.status == 4)
            #expect(try await wflo.run(["approve", "\(runID.prefix(5))/publish"]).status == 0)
            let third = try await wflo.run(["resume", runID, "--no-wait", "--json"])
            #expect(third.status == 0, "\(third.stderr)")
            #expect(try JSONValue.parse(third.stdout)["status"] == "completed")
            #expect(announcements(server) == 1)
            #expect(server.requests().filter { $0.lastUserMessage?.hasPrefix("Draft a two-sentence") == true }.count == 1)
        }
    }

    @Test(arguments: TestJournal.all)
    func resumingARunAnotherProcessIsStillDrivingIsRefused(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, _ in
            let process = try wflo.start(["run", Self.publish])
            defer { process.send(SIGKILL) }  // A failed expectation must not leave the run waiting forever.
            let review = try await Self.pending(wflo, step: "review", run: process)
            let runID = try #require(review["run_id"]?.stringValue)
            let second = try await wflo.run(["resume", runID])
            #expect(second.status == 2)
            #expect(second.stderr.contains("is being driven by process \(process.pid)"), "\(second.stderr)")
            #expect(try await wflo.run(["approve", "\(runID)/review"]).status == 0)
            _ = try await Self.pending(wflo, step: "publish")
            #expect(try await wflo.run(["approve", "\(runID)/publish"]).status == 0)
            let first = await WfloProcess.finish(process)
            #expect(first.status == 0, "\(first.stderr)")
            #expect(announcements(server) == 1)
        }
    }

    @Test func thePublishExampleRunsOfflineFromItsCassette() async throws {
        try await CLITests.withServer { server, wflo, _ in
            let cassette = WfloProcess.repositoryRoot.appendingPathComponent("Examples/publish/cassette.json").path
            let first = try await wflo.run(["run", Self.publish, "--replay", cassette, "--no-wait", "--json"])
            #expect(first.status == 4, "\(first.stderr)")
            let runID = try #require(try JSONValue.parse(first.stdout)["run_id"]?.stringValue)
            for gate in ["review", "publish"] {
                #expect(try await wflo.run(["approve", "\(runID)/\(gate)", "--comment", "ok"]).status == 0)
                _ = try await wflo.run(["resume", runID, "--replay", cassette, "--no-wait"])
            }
            let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
            #expect(report["status"] == "completed")
            #expect(report["spent_usd"] == "0.00004545")
            #expect(report["outputs"]?["announcement"]?.stringValue?.hasPrefix("Posted to #announcements") == true)
            #expect(server.requestCount == 0)
        }
    }

    @Test func interruptingAWaitingRunLeavesItWaitingWithExitFour() async throws {
        try await CLITests.withServer { _, wflo, _ in
            let process = try wflo.start(["run", Self.publish])
            defer { process.send(SIGKILL) }  // A failed expectation must not leave the run waiting forever.
            let review = try await Self.pending(wflo, step: "review", run: process)
            process.send(SIGINT)
            let result = await WfloProcess.finish(process)
            #expect(result.status == 4, "\(result.stdout)\(result.stderr)")
            #expect(result.output.contains("waiting_approval"))
            let runID = try #require(review["run_id"]?.stringValue)
            let status = try JSONValue.parse(try await wflo.run(["status", runID, "--json"]).stdout)
            #expect(status["status"] == "waiting_approval")
        }
    }

    @Test(arguments: TestJournal.all)
    func killedWhileWaitingThenDecidedThenResumedRunsTheGatedStepOnce(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, _ in
            let process = try wflo.start(["run", Self.publish])
            defer { process.send(SIGKILL) }  // A failed expectation must not leave the run waiting forever.
            let review = try await Self.pending(wflo, step: "review", run: process)
            let runID = try #require(review["run_id"]?.stringValue)
            #expect(try await wflo.run(["approve", "\(runID)/review"]).status == 0)
            _ = try await Self.pending(wflo, step: "publish")
            process.send(SIGKILL)
            let killed = await WfloProcess.finish(process)
            #expect(killed.killedBySignal)
            #expect(try await wflo.run(["approve", "\(runID)/publish", "--comment", "after the crash"]).status == 0)
            #expect(announcements(server) == 0)

            let resumed = try await wflo.run(["resume", runID, "--json"])
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(announcements(server) == 1)
            let again = try await wflo.run(["resume", runID])
            #expect(again.status == 2)
            #expect(announcements(server) == 1)
        }
    }

    @Test func theApproversListIsEnforced() async throws {
        try await CLITests.withServer { _, wflo, directory in
            let file = directory.appendingPathComponent("gated.yaml")
            try """
                name: gated
                budget: 0.01
                steps:
                  - id: deploy
                    type: approval
                    message: "Deploy to production?"
                    approvers: [alice]
                """.write(to: file, atomically: true, encoding: .utf8)
            #expect(try await wflo.run(["run", file.path, "--no-wait"]).status == 4)
            let request = try await Self.pending(wflo, step: "deploy")
            let id = try #require(request["id"]?.stringValue)
            let mallory = try await wflo.run(["approve", String(id.prefix(5)), "--as", "mallory"])
            #expect(mallory.status == 2)
            #expect(mallory.stderr.contains("mallory is not among the approvers"))
            let alice = try await wflo.run(["approve", id, "--as", "alice"])
            #expect(alice.status == 0, "\(alice.stderr)")
            let missing = try await wflo.run(["approve", "ffffffffffff"])
            #expect(missing.status == 2)
            #expect(missing.stderr.contains("wflo approvals"))
        }
    }

    /// A person at a terminal: starts the run, sees the request and the prompt, answers the
    /// first one there, approves the second from "another terminal", and sees the run finish.
    @Test func aPersonAtATerminalAnswersThePromptAndApprovesFromAnotherTerminal() async throws {
        try await CLITests.withServer { server, wflo, _ in
            let terminal = try PseudoTerminal(executable: WfloProcess.executable,
                                              arguments: ["run", Self.publish, "--interactive"],
                                              environment: wflo.environment, directory: WfloProcess.repositoryRoot)
            defer { terminal.process.send(SIGKILL) }  // A failed expectation must not leave the run waiting forever.
            #expect(await terminal.waitFor("approve review? [y/N/comment]"), "\(terminal.text)")
            #expect(terminal.text.contains("Publish this?"))
            terminal.type("y looks good")
            #expect(await terminal.waitFor("approve publish? [y/N/comment]"), "\(terminal.text)")
            #expect(terminal.text.contains("Prompt: Announce: "))
            let runID = try #require(try await Self.pending(wflo, step: "publish")["run_id"]?.stringValue)
            #expect(try await wflo.run(["approve", "\(runID)/publish", "--as", "second-terminal"]).status == 0)
            let status = await terminal.wait()
            #expect(status == 0, "\(terminal.text)")
            #expect(terminal.text.contains("review  approved by"))
            #expect(terminal.text.contains("looks good"))
            #expect(terminal.text.contains("publish  approved by second-terminal"))
            #expect(terminal.text.contains("completed"))
            #expect(announcements(server) == 1)
        }
    }
}
