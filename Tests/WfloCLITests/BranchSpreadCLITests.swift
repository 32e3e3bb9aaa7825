import Foundation
import Testing
import WfloCore
import WfloApp
import WfloTesting

/// A run's parallel branches executed by any `--spread-steps` worker (issue 16), as users run it:
/// real worker processes (and `wflo run --spread-steps`) on one journal, paid calls to the fake
/// provider over loopback, kill -9 of a worker mid-branch.
@Suite(.timeLimit(.minutes(5)))
struct BranchSpreadCLITests {
    typealias Worker = WorkerCLITests.Worker

    /// What the final step of ``TestWorkflows/parallelBranches(_:budget:)`` says when every branch answered.
    static func finalOutput(_ count: Int) -> JSONValue {
        .string((0..<count).map { "Echo: Say b\($0)" }.joined(separator: " | "))
    }

    static func write(_ count: Int, in directory: URL) throws -> String {
        try BudgetScopeCLITests.write(TestWorkflows.parallelBranches(count), in: directory, name: "branches.yaml")
    }

    @Test(arguments: TestJournal.all)
    func twoWorkersRunTheParallelBranchesOfOneRunEachOnceAndTheFinalStepSeesThemAll(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let path = try Self.write(8, in: directory)
            server.on(promptContaining: "Say", .delay(.milliseconds(300)))
            let before = server.requestCount
            let workers = try (0..<2).map {
                try Worker(wflo, ["--spread-steps", "--concurrency", "3", "--lease", "30s"], log: directory.appendingPathComponent("w\($0).log"))
            }
            // Both look for work before the run exists (on a loaded machine one could start after the other ran every branch).
            // A 30 s lease: in a full CLI pass this test has taken 70–84 s, and a step task whose 10 s lease lapsed there was
            // claimed again with its call in flight (sent twice, charged unsettled: right for a lapse, not what this test is about).
            #expect(try await WorkerCLITests.eventually(60) { workers.allSatisfy { !$0.events("started").isEmpty } })
            let runID = try await WorkerCLITests.submit(wflo, [path])
            #expect(try await WorkerCLITests.eventually(90) { workers.flatMap { $0.events("finished") }.count == 1 })
            // A helper marks its task done after it journals the step's result, which is what the driver
            // waits for: the last mark can land just after the run ends. Stopped once every task is done.
            _ = try await WorkerCLITests.eventually(30) { try await SpreadCLITests.tasks(wflo, runID).allSatisfy { $0.status == .done } }
            for worker in workers { #expect(await WorkerCLITests.stop(worker).status == 0, "\(worker.events)") }
            #expect(workers.flatMap { $0.events("finished") }.first?["status"] == "completed")

            // Every branch sent once, and both workers ran some: the journal says which.
            let prompts = SpreadCLITests.prompts(server, after: before)
            let tasks = try await SpreadCLITests.tasks(wflo, runID)
            #expect(prompts.sorted() == (0..<8).map { "Say b\($0)" }, "\(tasks.map { ($0.stepID, $0.claims, $0.owner?.pid ?? 0) }); \(workers.map(\.events))")
            #expect(Set(tasks.map(\.stepID)) == Set((0..<8).map { "b\($0)" }))
            #expect(tasks.allSatisfy { $0.status == .done }, "\(tasks.map { ($0.stepID, $0.status, $0.claims) }); \(workers.map(\.events))")
            let ranBy = Dictionary(grouping: tasks, by: { $0.owner?.pid ?? 0 }).mapValues(\.count)
            #expect(Set(ranBy.keys) == Set(workers.map(\.process.pid)), "branches per worker pid: \(ranBy); \(workers.map(\.events))")

            // The final step started after every branch's result was in the journal, and read them all.
            let run = try await WorkerCLITests.journal(wflo).journal(runID: runID)
            #expect(run.steps.first { $0.stepID == "final" }?.output == Self.finalOutput(8))
            #expect(run.attempts.count == 8 && run.attempts.allSatisfy { $0.status == .succeeded })
            #expect(run.ledger.settled == Money(string: "0.08") && run.ledger.reserved == .zero)
            print("spread branches: per worker \(ranBy.values.sorted())")
        }
    }

    @Test(arguments: TestJournal.all)
    func aBudgetForFiveOfTwelveBranchesSendsExactlyFiveWhoeverRunsThem(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let path = try Self.write(12, in: directory)
            server.on(promptContaining: "Say", .delay(.milliseconds(200)))
            let before = server.requestCount
            let workers = try (0..<2).map {
                try Worker(wflo, ["--spread-steps", "--concurrency", "4", "--lease", "10s"], log: directory.appendingPathComponent("w\($0).log"))
            }
            #expect(try await WorkerCLITests.eventually(60) { workers.allSatisfy { !$0.events("started").isEmpty } })
            let runID = try await WorkerCLITests.submit(wflo, [path, "--budget", "0.055"])
            #expect(try await WorkerCLITests.eventually(90) { workers.flatMap { $0.events("finished") }.count == 1 })
            for worker in workers { #expect(await WorkerCLITests.stop(worker).status == 0, "\(worker.events)") }
            #expect(workers.flatMap { $0.events("finished") }.first?["status"] == "budget_exceeded")
            #expect(SpreadCLITests.prompts(server, after: before).count == 5)
            let run = try await WorkerCLITests.journal(wflo).journal(runID: runID)
            #expect(run.attempts.count == 5)
            #expect(run.ledger.settled == Money(string: "0.05") && run.ledger.reserved == .zero)
            #expect(run.ledger.committed <= Money(string: "0.055")!)
            #expect(!run.steps.contains { $0.stepID == "final" && $0.status == .completed })
        }
    }

    @Test(arguments: TestJournal.all)
    func aWorkerKilledMidBranchLosesItsTaskAndTheRunCompletesWithNothingChargedTwice(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let path = try Self.write(8, in: directory)
            // The first call for branch b3 never answers; the one after the takeover does.
            server.on(promptContaining: "Say b3", .hang, times: 1)
            server.on(promptContaining: "Say", .delay(.milliseconds(200)))
            let before = server.requestCount
            // One slot each: the driver executes one branch at a time, the other worker one more.
            let workers = try (0..<2).map {
                try Worker(wflo, ["--spread-steps", "--concurrency", "1", "--lease", "6s"], log: directory.appendingPathComponent("w\($0).log"))
            }
            #expect(try await WorkerCLITests.eventually(60) { workers.allSatisfy { !$0.events("started").isEmpty } })
            let runID = try await WorkerCLITests.submit(wflo, [path])
            // Kill -9 whichever worker holds b3's task while its call hangs.
            let (killed, survivor) = try await SpreadCLITests.killHolder(of: "b3", sending: "Say b3", among: workers, wflo, runID, server, after: before)

            // b3 was sent again (its first call stays charged at its reservation, unsettled); every other branch once.
            let prompts = SpreadCLITests.prompts(server, after: before)
            #expect(prompts.filter { $0 == "Say b3" }.count == 2)
            for index in [0, 1, 2, 4, 5, 6, 7] { #expect(prompts.filter { $0 == "Say b\(index)" }.count == 1, "branch \(index)") }
            let ledger = try await WorkerCLITests.settled(wflo, runID)
            let run = try await WorkerCLITests.journal(wflo).journal(runID: runID)
            let diagnosis = "killed \(killed.process.pid) (driver: \(!killed.events("claimed").isEmpty)); attempts \(run.attempts.map { ($0.stepID, $0.number, $0.status) }); tasks \(try await SpreadCLITests.tasks(wflo, runID).map { ($0.stepID, $0.claims, $0.owner?.pid ?? 0) }); survivor \(survivor.events)"
            #expect(ledger.status == "completed")
            #expect(ledger.settled == Money(string: "0.08"))
            #expect(ledger.unsettled == Money(string: "0.01"), "\(diagnosis)")
            for index in 0..<8 {
                let statuses = run.attempts.filter { $0.stepID == "b\(index)" }.map(\.status)
                #expect(statuses.filter { $0 == .succeeded }.count == 1 && statuses.count == (index == 3 ? 2 : 1), "branch \(index): \(statuses)")
            }
            #expect(run.steps.first { $0.stepID == "final" }?.output == Self.finalOutput(8))
            let task = try #require(try await SpreadCLITests.tasks(wflo, runID).first { $0.stepID == "b3" })
            #expect(task.status == .done && task.claims >= 2 && task.owner?.pid == survivor.process.pid)
        }
    }

    @Test(arguments: TestJournal.all)
    func aRunDrivenByWfloRunWithSpreadStepsIsHelpedByAWorker(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let path = try Self.write(8, in: directory)
            server.on(promptContaining: "Say", .delay(.milliseconds(300)))
            let before = server.requestCount
            let worker = try Worker(wflo, ["--spread-steps", "--concurrency", "3", "--lease", "10s"], log: directory.appendingPathComponent("w.log"))
            #expect(try await WorkerCLITests.eventually(60) { !worker.events("started").isEmpty })
            // `wflo run` drives the run in its own process, one of its branches at a time; the worker takes others.
            let running = try wflo.start(["run", path, "--spread-steps", "--spread-width", "1", "--json"])
            let ended = await WfloProcess.finish(running)
            #expect(ended.status == 0, "\(ended.output)")
            #expect(await WorkerCLITests.stop(worker).status == 0, "\(worker.events)")
            let result = try JSONValue.parse(ended.stdout)
            let runID = try #require(result["run_id"]?.stringValue)
            #expect(result["status"] == "completed")

            #expect(SpreadCLITests.prompts(server, after: before).sorted() == (0..<8).map { "Say b\($0)" })
            let tasks = try await SpreadCLITests.tasks(wflo, runID)
            #expect(tasks.count == 8 && tasks.allSatisfy { $0.status == .done })
            let ranBy = Dictionary(grouping: tasks, by: { $0.owner?.pid ?? 0 }).mapValues(\.count)
            #expect(Set(ranBy.keys) == [running.pid, worker.process.pid], "branches per pid: \(ranBy)")
            #expect(!worker.events("helped").isEmpty)
            let run = try await WorkerCLITests.journal(wflo).journal(runID: runID)
            #expect(run.steps.first { $0.stepID == "final" }?.output == Self.finalOutput(8))
            #expect(run.ledger.settled == Money(string: "0.08") && run.ledger.reserved == .zero)
        }
    }
}
