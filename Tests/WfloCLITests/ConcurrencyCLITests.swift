import Foundation
import Testing
import WfloApp
import WfloCore
import WfloTesting

/// A workflow's `concurrency:` (issue 21) as users meet it: `wflo run` processes and `wflo worker`
/// processes sharing one journal (SQLite and PostgreSQL), each `on_conflict`, bad settings.
@Suite(.timeLimit(.minutes(5)))
struct ConcurrencyCLITests {
    /// One slot per customer; a nap long enough for a second process to arrive while it holds it.
    static func napper(_ onConflict: String, limit: Int = 1, nap: String = "3s") -> String {
        """
        name: napper
        budget: 0
        inputs:
          customer: {type: string}
        concurrency: {limit: \(limit), key: "{{inputs.customer}}", on_conflict: \(onConflict)}
        steps:
          - id: nap
            type: sleep
            duration: \(nap)
          - id: done
            type: transform
            depends_on: nap
            output: {customer: "{{inputs.customer}}"}

        """
    }

    static func write(_ text: String, _ directory: URL, _ name: String) throws -> String {
        let file = directory.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// The newest run not in `known`, read from the journal (no process spawned: a loaded machine
    /// starts a `wflo` in seconds, longer than the runs these tests watch).
    static func newestRun(_ wflo: WfloProcess, after known: Set<String> = []) async throws -> String? {
        try await newest(wflo, after: known)?.id
    }

    static func newest(_ wflo: WfloProcess, after known: Set<String> = []) async throws -> RunRecord? {
        // No journal yet: no run yet.
        guard let store = try? await WorkerCLITests.journal(wflo) else { return nil }
        let runs = try await store.listRuns(limit: 20)
        await store.close()
        return runs.first { !known.contains($0.id) }
    }

    /// Whether the newest run has started driving its steps (false while there is none yet).
    static func newestIsRunning(_ wflo: WfloProcess) async throws -> Bool {
        try await newest(wflo)?.status == .running
    }

    /// When the run started driving its steps (`run_running`) and when it ended, by the journal.
    static func span(_ store: any JournalStore, _ runID: String) async throws -> (start: Date, end: Date)? {
        let events = try await store.journal(runID: runID).events
        guard let start = events.first(where: { $0.kind == .runRunning })?.at,
              let end = events.last(where: { [.runCompleted, .runFailed, .runCancelled, .runBudgetExceeded, .runRejected].contains($0.kind) })?.at else { return nil }
        return (start, end)
    }

    /// The most spans open at one moment.
    static func peak(_ spans: [(start: Date, end: Date)]) -> Int {
        // Ends before starts at the same instant: a slot freed and taken at once is not an overlap.
        var marks: [(at: Date, step: Int)] = []
        for span in spans {
            marks.append((span.start, 1))
            marks.append((span.end, -1))
        }
        marks.sort { (a: (at: Date, step: Int), b: (at: Date, step: Int)) -> Bool in a.at == b.at ? a.step < b.step : a.at < b.at }
        var open = 0
        var most = 0
        for (_, step) in marks {
            open += step
            most = max(most, open)
        }
        return most
    }

    /// The first run holds acme's slot while it waits for a person (an approval): however slow the
    /// machine, the second waits until the first is approved and has ended.
    @Test func queueMakesASecondRunProcessWaitForTheSlotThenRun() async throws {
        try await CLITests.withServer { _, wflo, directory in
            // One workflow in two files: the first run asks a person first; the others only nap a moment.
            let gated = try Self.write(Self.napper("queue", nap: "1s").replacingOccurrences(of: """
                steps:
                  - id: nap
                """, with: """
                steps:
                  - id: review
                    type: approval
                    message: "Go on?"
                    timeout: 1h
                    on_timeout: reject
                  - id: nap
                    depends_on: review
                """), directory, "gated.yaml")
            let file = try Self.write(Self.napper("queue", nap: "1s"), directory, "queue.yaml")
            let first = try wflo.start(["run", gated, "--input", "customer=acme"])
            defer { first.send(SIGKILL) }  // A failed expectation must not leave it waiting.
            let review = try await ApprovalCLITests.pending(wflo, step: "review", seconds: 90)
            let firstID = try #require(review["run_id"]?.stringValue)
            let second = try wflo.start(["run", file, "--input", "customer=acme"])
            #expect(try await WorkerCLITests.eventually(90) { try await Self.newestRun(wflo, after: [firstID]) != nil })
            let secondID = try #require(try await Self.newestRun(wflo, after: [firstID]))
            // While the first holds the slot (waiting for its approval), the second waits, queued, and says for what.
            let waiting = try await wflo.run(["status", secondID])
            #expect(waiting.stdout.contains("queued"), "\(waiting.output)")
            #expect(waiting.stdout.contains("Waiting for a concurrency slot: key 'acme', limit 1, held by \(firstID.prefix(8))"), "\(waiting.output)")
            // Another customer is not held back: it runs to its end while acme's first still waits.
            let other = try await wflo.run(["run", file, "--input", "customer=globex", "--json"])
            #expect(other.status == 0, "\(other.output)")
            #expect(try await WorkerCLITests.status(wflo, secondID) == "queued")
            #expect(try await wflo.run(["approve", try #require(review["id"]?.stringValue)]).status == 0)
            let a = await WfloProcess.finish(first)
            let b = await WfloProcess.finish(second)
            #expect(a.status == 0 && b.status == 0, "\(a.output)\n\(b.output)")
            let store = try await WorkerCLITests.journal(wflo)
            let spanA = try #require(try await Self.span(store, firstID))
            let spanB = try #require(try await Self.span(store, secondID))
            #expect(spanB.start >= spanA.end, "the second started driving only once the first had ended")
            await store.close()
            let status = try JSONValue.parse(try await wflo.run(["status", secondID, "--json"]).stdout)
            #expect(status["concurrency"] == ["key": "acme", "limit": 1, "on_conflict": "queue"])
        }
    }

    @Test func skipEndsTheSecondRunAtOnceAndSaysWhyInStatusAndRuns() async throws {
        try await CLITests.withServer { _, wflo, directory in
            // A nap far longer than the test: under the command-line pass, 60 s once ran out before the cancel below.
            let file = try Self.write(Self.napper("skip", nap: "600s"), directory, "skip.yaml")
            let first = try wflo.start(["run", file, "--input", "customer=acme"])
            #expect(try await WorkerCLITests.eventually(90) { try await Self.newestIsRunning(wflo) })
            let firstID = try #require(try await Self.newestRun(wflo))
            let skipped = try await wflo.run(["run", file, "--input", "customer=acme", "--json"])
            #expect(skipped.status == RunStatus.cancelled.exitCode, "\(skipped.output)")
            let reason = "skipped: workflow 'napper' already has 1 run with concurrency key 'acme' (limit 1, on_conflict: skip)"
            let result = try JSONValue.parse(skipped.stdout)
            #expect(result["status"] == "cancelled")
            let skippedID = try #require(result["run_id"]?.stringValue)
            let status = try JSONValue.parse(try await wflo.run(["status", skippedID, "--json"]).stdout)
            #expect(status["status"] == "cancelled" && status["error"] == .string(reason))
            #expect(status["steps"]?.arrayValue?.allSatisfy { $0["status"] != "completed" } == true, "nothing of it ran")
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            let row = try #require(runs.arrayValue?.first { $0["run_id"]?.stringValue == skippedID })
            #expect(row["error"] == .string(reason))
            #expect(row["concurrency"] == ["key": "acme", "limit": 1, "on_conflict": "skip"])
            // The first was never disturbed: still running until a person cancels it.
            #expect(try await WorkerCLITests.status(wflo, firstID) == "running")
            #expect(try await wflo.run(["cancel", firstID]).status == 0)
            let a = await WfloProcess.finish(first)
            #expect(a.status == RunStatus.cancelled.exitCode, "\(a.output)")
        }
    }

    @Test func cancelRunningStopsTheRunningProcessAndTheNewRunCompletes() async throws {
        try await CLITests.withServer { _, wflo, directory in
            // Two files of one workflow (the key is the workflow's name and the evaluated key): a long nap, then a short one.
            let long = try Self.write(Self.napper("cancel_running", nap: "90s"), directory, "long.yaml")
            let short = try Self.write(Self.napper("cancel_running", nap: "1s"), directory, "short.yaml")
            let first = try wflo.start(["run", long, "--input", "customer=acme"])
            #expect(try await WorkerCLITests.eventually(90) { try await Self.newestIsRunning(wflo) })
            let firstID = try #require(try await Self.newestRun(wflo))
            let clock = ContinuousClock()
            let began = clock.now
            let second = try await wflo.run(["run", short, "--input", "customer=acme", "--json"])
            #expect(second.status == 0, "\(second.output)")
            let a = await WfloProcess.finish(first)
            #expect(a.status == RunStatus.cancelled.exitCode, "\(a.output)")
            #expect(clock.now - began < .seconds(80), "the first run was stopped, not waited for")
            let status = try JSONValue.parse(try await wflo.run(["status", firstID, "--json"]).stdout)
            #expect(status["status"] == "cancelled")
            let secondID = try #require(try JSONValue.parse(second.stdout)["run_id"]?.stringValue)
            #expect(status["error"]?.stringValue?.contains("cancel_running: the newer run \(secondID)") == true, "\(status)")
            let store = try await WorkerCLITests.journal(wflo)
            let spanA = try #require(try await Self.span(store, firstID))
            let spanB = try #require(try await Self.span(store, secondID))
            #expect(spanB.start >= spanA.end, "the new run started once the first had stopped")
            await store.close()
        }
    }

    @Test func aBadConcurrencyNamesItsFileAndLine() async throws {
        try await CLITests.withServer { _, wflo, directory in
            let file = try Self.write(Self.napper("drop"), directory, "bad.yaml")
            let bad = try await wflo.run(["run", file, "--input", "customer=acme"])
            #expect(bad.status == 2, "\(bad.output)")
            #expect(bad.stderr.contains("\(file):5:"), "\(bad.stderr)")
            #expect(bad.stderr.contains("'concurrency': 'on_conflict' must be queue, skip or cancel_running, not"), "\(bad.stderr)")
            let unknown = try Self.write(Self.napper("queue").replacingOccurrences(of: "inputs.customer}}\"", with: "inputs.client}}\""), directory, "unknown.yaml")
            let noInput = try await wflo.run(["submit", unknown, "--input", "customer=acme"])
            #expect(noInput.status == 2 && noInput.stderr.contains("\(unknown):5:"), "\(noInput.stderr)")
            #expect(noInput.stderr.contains("declares no input 'client'"), "\(noInput.stderr)")
        }
    }

    /// Separate `wflo worker` processes on one journal: runs of one key never hold more than its
    /// limit at once (by the journal's event times), while another key goes on beside them.
    @Test(arguments: TestJournal.all)
    func workerProcessesNeverExceedAKeysLimit(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { _, wflo, directory in
            let file = try Self.write(Self.napper("queue", limit: 2, nap: "1s"), directory, "napper.yaml")
            var runIDs: [String: [String]] = [:]
            for index in 0..<10 {
                let customer = index % 2 == 0 ? "acme" : "globex"
                runIDs[customer, default: []].append(try await WorkerCLITests.submit(wflo, [file, "--input", "customer=\(customer)"]))
            }
            let workers = try (0..<3).map { try WorkerCLITests.Worker(wflo, ["--concurrency", "4"], log: directory.appendingPathComponent("w\($0).log")) }
            let done = try await WorkerCLITests.eventually(120) { workers.flatMap { $0.events("finished") }.count >= 10 }
            #expect(done)
            for worker in workers { _ = await WorkerCLITests.stop(worker) }
            let store = try await WorkerCLITests.journal(wflo)
            var all: [(start: Date, end: Date)] = []
            for (customer, ids) in runIDs {
                var spans: [(start: Date, end: Date)] = []
                for id in ids {
                    #expect(try await store.run(id: id)?.status == .completed)
                    if let span = try await Self.span(store, id) { spans.append(span) }
                }
                #expect(spans.count == 5)
                #expect(Self.peak(spans) == 2, "\(customer): at most 2 at once, and 2 were")
                all += spans
            }
            #expect(Self.peak(all) > 2, "the two keys ran beside each other")
            await store.close()
        }
    }
}
