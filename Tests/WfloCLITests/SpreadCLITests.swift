import Foundation
import Testing
import WfloCore
import WfloApp
import WfloTesting

/// `wflo worker --spread-steps` (issue 16): a run's for_each items executed by any worker, as
/// users run it: real worker processes on one journal, paid calls to the fake provider over
/// loopback, kill -9 of a worker mid-item.
@Suite(.timeLimit(.minutes(5)))
struct SpreadCLITests {
    typealias Worker = WorkerCLITests.Worker

    /// A for_each of `llm` calls at a flat $0.01 a call (its worst case too), all items at once.
    static let fanOut = """
        name: fan-out
        budget: 5
        inputs:
          topics: {type: array, default: [a]}
        pricing:
          flat-fee-model: {input_cost_per_token: 0, output_cost_per_token: 0, input_cost_per_request: 0.01, litellm_provider: openai}
        steps:
          - id: calls
            type: llm
            for_each: {items: "{{inputs.topics}}", item_var: topic, max_parallel: 50}
            model: flat-fee-model
            prompt: "Say {{for_each.topic}}"
            max_tokens: 5
        """

    /// Each item's task in the journal: who ran it (its done claim's worker pid) and how often it was claimed.
    /// Kills with SIGKILL whichever of `workers` holds `stepID`'s task once its call (`prompt`) is at
    /// the server, then waits for the other to finish the run completed and stop cleanly.
    static func killHolder(of stepID: String, sending prompt: String, among workers: [WorkerCLITests.Worker], _ wflo: WfloProcess,
                           _ runID: String, _ server: FakeLLMServer, after before: Int) async throws -> (killed: WorkerCLITests.Worker, survivor: WorkerCLITests.Worker) {
        var holder: pid_t?
        #expect(try await WorkerCLITests.eventually(60) {
            holder = try await tasks(wflo, runID).first { $0.stepID == stepID && $0.status == .claimed }?.owner?.pid
            return holder != nil && prompts(server, after: before).contains(prompt)
        })
        let killed = try #require(workers.first { $0.process.pid == holder })
        let survivor = try #require(workers.first { $0.process.pid != holder })
        killed.process.send(SIGKILL)
        #expect(await killed.process.finish().killedBySignal)
        #expect(try await WorkerCLITests.eventually(90) { survivor.events("finished").count == 1 })
        #expect(survivor.events("finished").first?["status"] == "completed", "\(survivor.events)")
        #expect(await WorkerCLITests.stop(survivor).status == 0, "\(survivor.tail)")
        return (killed, survivor)
    }

    /// The run's step tasks, read through a journal opened and closed here: the tests poll this, and
    /// each PostgreSQL journal left open kept its connections (hundreds over a test run, beside the
    /// workers' own on the same server).
    static func tasks(_ wflo: WfloProcess, _ runID: String) async throws -> [StepTaskRecord] {
        let store = try await WorkerCLITests.journal(wflo)
        do {
            let tasks = try await store.stepTasks(runID: runID, ids: nil)
            await store.close()
            return tasks
        } catch {
            await store.close()
            throw error
        }
    }

    static func prompts(_ server: FakeLLMServer, after before: Int) -> [String] {
        server.requests().dropFirst(before).compactMap(\.lastUserMessage)
    }

    @Test(arguments: TestJournal.all)
    func twoWorkersBothExecuteItemsOfOneRunEachItemOnceAndSpendIsTheSum(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let path = try BudgetScopeCLITests.write(Self.fanOut, in: directory)
            server.on(promptContaining: "Say", .delay(.milliseconds(300)))
            let before = server.requestCount
            // Both workers are up before the run is submitted: on a loaded machine a worker still starting
            // when the other has run all 16 items (about 2 s) would leave nothing to show. A 30 s lease, so a
            // starved process does not let a task lapse mid-call (see BranchSpreadCLITests).
            let workers = try (0..<2).map {
                try Worker(wflo, ["--spread-steps", "--concurrency", "3", "--lease", "30s"], log: directory.appendingPathComponent("w\($0).log"))
            }
            #expect(try await WorkerCLITests.eventually(60) { workers.allSatisfy { !$0.events("started").isEmpty } })
            let runID = try await WorkerCLITests.submit(wflo, [path, "--input", BudgetScopeCLITests.topics(16)])
            #expect(try await WorkerCLITests.eventually(90) { workers.flatMap { $0.events("finished") }.count == 1 })
            for worker in workers { #expect(await WorkerCLITests.stop(worker).status == 0, "\(worker.events)") }
            #expect(workers.flatMap { $0.events("finished") }.first?["status"] == "completed")

            // Every item ran exactly once, and both workers ran some: the journal says which.
            let prompts = Self.prompts(server, after: before)
            #expect(prompts.count == 16)
            #expect(Set(prompts) == Set((0..<16).map { "Say t\($0)" }))
            let tasks = try await Self.tasks(wflo, runID)
            // (A task may be claimed again when a loaded machine lets a lease lapse: the claim then answers the
            // step from the journal, never sending it again, as the prompt count above shows.)
            #expect(tasks.count == 16 && tasks.allSatisfy { $0.status == .done })
            let ranBy = Dictionary(grouping: tasks, by: { $0.owner?.pid ?? 0 }).mapValues(\.count)
            #expect(Set(ranBy.keys) == Set(workers.map(\.process.pid)), "items per worker pid: \(ranBy)")
            #expect(!workers[0].events("helped").isEmpty || !workers[1].events("helped").isEmpty)

            // Spend is the sum of the items' charges: 16 calls at $0.01.
            let store = try await WorkerCLITests.journal(wflo)
            let run = try await store.journal(runID: runID)
            #expect(run.attempts.count == 16 && run.attempts.allSatisfy { $0.status == .succeeded })
            #expect(run.ledger.settled == Money(string: "0.16") && run.ledger.reserved == .zero)
            #expect(run.steps.first { $0.stepID == "calls" }?.output?["succeeded"] == 16)
            print("spread: items per worker \(ranBy.values.sorted())")
        }
    }

    @Test(arguments: TestJournal.all)
    func aBudgetForPartOfTheItemsIsNeverExceededWhoeverRunsThem(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let path = try BudgetScopeCLITests.write(Self.fanOut, in: directory)
            server.on(promptContaining: "Say", .delay(.milliseconds(200)))
            let before = server.requestCount
            // Room for 5 of the 12 calls: the reservations, whichever worker makes them, admit exactly 5.
            let workers = try (0..<2).map {
                try Worker(wflo, ["--spread-steps", "--concurrency", "4", "--lease", "10s"], log: directory.appendingPathComponent("w\($0).log"))
            }
            // Both started (and handle SIGTERM) before the run can end: on a loaded machine one may start late.
            #expect(try await WorkerCLITests.eventually(60) { workers.allSatisfy { !$0.events("started").isEmpty } })
            let runID = try await WorkerCLITests.submit(wflo, [path, "--budget", "0.055", "--input", BudgetScopeCLITests.topics(12)])
            #expect(try await WorkerCLITests.eventually(90) { workers.flatMap { $0.events("finished") }.count == 1 })
            for worker in workers { #expect(await WorkerCLITests.stop(worker).status == 0, "\(worker.events)") }
            #expect(workers.flatMap { $0.events("finished") }.first?["status"] == "budget_exceeded")
            #expect(Self.prompts(server, after: before).count == 5)
            let run = try await WorkerCLITests.journal(wflo).journal(runID: runID)
            #expect(run.attempts.count == 5)
            #expect(run.ledger.settled == Money(string: "0.05") && run.ledger.reserved == .zero)
            #expect(run.ledger.committed <= Money(string: "0.055")!)
        }
    }

    @Test(arguments: TestJournal.all)
    func aWorkerKilledMidItemLosesItsTaskAndTheRunCompletesWithNothingChargedTwice(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let path = try BudgetScopeCLITests.write(Self.fanOut, in: directory)
            // The first call for item 3 never answers; the one after the takeover does.
            server.on(promptContaining: "Say t3", .hang, times: 1)
            server.on(promptContaining: "Say", .delay(.milliseconds(200)))
            let before = server.requestCount
            let runID = try await WorkerCLITests.submit(wflo, [path, "--input", BudgetScopeCLITests.topics(8)])
            // One slot each: the driver executes one of its items at a time, the other worker one more, so the
            // worker killed below holds item 3 alone.
            let workers = try (0..<2).map {
                try Worker(wflo, ["--spread-steps", "--concurrency", "1", "--lease", "6s"], log: directory.appendingPathComponent("w\($0).log"))
            }
            // Kill -9 whichever worker holds item 3's task while its call hangs.
            let survivor = try await Self.killHolder(of: "calls[3]", sending: "Say t3", among: workers, wflo, runID, server, after: before).survivor

            // Item 3 was sent again (its first call may have been billed: charged at its reservation, unsettled);
            // every other item once, whoever ran it.
            let prompts = Self.prompts(server, after: before)
            #expect(prompts.filter { $0 == "Say t3" }.count == 2)
            for index in [0, 1, 2, 4, 5, 6, 7] { #expect(prompts.filter { $0 == "Say t\(index)" }.count == 1, "item \(index)") }
            let ledger = try await WorkerCLITests.settled(wflo, runID)
            #expect(ledger.status == "completed")
            #expect(ledger.settled == Money(string: "0.08"))
            #expect(ledger.unsettled == Money(string: "0.01"))
            // Per item: one settled attempt; item 3's lost one stays unsettled.
            let attempts = try await WorkerCLITests.journal(wflo).journal(runID: runID).attempts
            for index in 0..<8 {
                let statuses = attempts.filter { $0.stepID == "calls[\(index)]" }.map(\.status)
                #expect(statuses.filter { $0 == .succeeded }.count == 1 && statuses.count == (index == 3 ? 2 : 1), "item \(index): \(statuses)")
            }
            let task = try #require(try await Self.tasks(wflo, runID).first { $0.stepID == "calls[3]" })
            #expect(task.status == .done && task.claims >= 2 && task.owner?.pid == survivor.process.pid)
        }
    }

    @Test(arguments: TestJournal.all)
    func cancellingTheRunStopsEveryWorkersItemsAndNothingMoreIsSent(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let path = try BudgetScopeCLITests.write(Self.fanOut, in: directory)
            server.on(promptContaining: "Say", .hang)
            let before = server.requestCount
            let runID = try await WorkerCLITests.submit(wflo, [path, "--input", BudgetScopeCLITests.topics(6)])
            let workers = try (0..<2).map {
                try Worker(wflo, ["--spread-steps", "--concurrency", "3", "--lease", "10s"], log: directory.appendingPathComponent("w\($0).log"))
            }
            // Both workers' slots hold an item whose call hangs.
            #expect(try await WorkerCLITests.eventually(60) { server.requestCount - before == 6 })
            let holders = Set(try await Self.tasks(wflo, runID).compactMap(\.owner?.pid))
            #expect(holders == Set(workers.map(\.process.pid)), "items held by \(holders)")
            let cancel = try await wflo.run(["cancel", runID])
            #expect(cancel.status == 0, "\(cancel.output)")
            #expect(try await WorkerCLITests.status(wflo, runID) == "cancelled")
            #expect(try await Self.tasks(wflo, runID).allSatisfy { $0.status == .cancelled })
            // The helper's item stops at its next renewal (lease/3), writing nothing more.
            #expect(try await WorkerCLITests.eventually(20) {
                workers.flatMap { $0.events("helped") }.filter { $0["done"] == false }.count >= 1
            })
            try await Task.sleep(for: .seconds(1))
            #expect(server.requestCount - before == 6)
            for worker in workers { #expect(await WorkerCLITests.stop(worker).status == 0, "\(worker.events)") }
            // The six calls cut off mid-way stay charged at their reservation, nothing settled.
            let ledger = try await WorkerCLITests.settled(wflo, runID)
            #expect(ledger.settled == .zero && ledger.unsettled == Money(string: "0.06"))
            #expect(try await WorkerCLITests.journal(wflo).journal(runID: runID).attempts.allSatisfy { $0.status == .unsettled })
        }
    }
}
