import Foundation
import Testing
import WfloCore
import WfloApp
import WfloTesting

/// `wflo submit`, `wflo worker` and `wflo queue` as users run them: real worker processes sharing
/// one journal, paid calls to the fake provider over loopback, kill -9 and SIGTERM.
@Suite(.timeLimit(.minutes(5)))
struct WorkerCLITests {
    /// SQLite, and PostgreSQL when a test server is given (``TestJournal/all``).
    static let journals = TestJournal.all

    /// The journal the test's `wflo` uses, opened in the test to read what the workers wrote.
    static func journal(_ wflo: WfloProcess) async throws -> any JournalStore {
        try await JournalLocation.resolve(option: nil, environment: wflo.environment).open(creating: false)
    }

    /// A `wflo worker` whose stdout and stderr go to a file the test reads while it runs.
    final class Worker: Sendable {
        let process: SpawnedProcess
        let log: URL

        init(_ wflo: WfloProcess, _ arguments: [String], log: URL, extraEnvironment: [String: String] = [:]) throws {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let descriptor = open(log.path, O_WRONLY | O_APPEND | O_CLOEXEC)
            defer { close(descriptor) }
            self.log = log
            process = try SpawnedProcess(executable: WfloProcess.executable.path, arguments: ["worker", "--json-logs"] + arguments,
                                         environment: wflo.environment.merging(extraEnvironment) { _, new in new },
                                         directory: WfloProcess.repositoryRoot.path,
                                         output: .descriptor(descriptor))
        }

        /// The JSON lines logged so far (anything else — an error — is kept as a string).
        var events: [JSONValue] {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map { line in (try? JSONValue.parse(String(line))) ?? .string(String(line)) }
        }

        func events(_ kind: String) -> [JSONValue] { events.filter { $0["event"]?.stringValue == kind } }

        /// The last lines of its log: what a failed expectation about its exit shows.
        var tail: String {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").suffix(20).joined(separator: "\n")
        }
    }

    static func submit(_ wflo: WfloProcess, _ arguments: [String]) async throws -> String {
        let result = try await wflo.run(["submit"] + arguments + ["--json"])
        #expect(result.status == 0, "\(result.output)")
        let json = try JSONValue.parse(result.stdout)
        #expect(json["status"] == "queued")
        return try #require(json["run_id"]?.stringValue)
    }

    static func status(_ wflo: WfloProcess, _ runID: String) async throws -> String {
        try JSONValue.parse(try await wflo.run(["status", runID, "--json"]).stdout)["status"]?.stringValue ?? ""
    }

    /// Waits until `condition` holds, checking every 100 ms, at most `seconds`.
    static func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// Stops `worker` and expects it to exit 0; otherwise says how it ended (a signal's death, or
    /// killed after 40 s) and the end of its log (empty: it had not started when told to stop).
    static func expectCleanStop(_ worker: Worker, sourceLocation: Testing.SourceLocation = #_sourceLocation) async {
        let ended = await stop(worker)
        #expect(ended.status == 0, "ended with \(ended.killedBySignal ? "signal" : "status") \(ended.status); log: \(worker.tail)",
                sourceLocation: sourceLocation)
    }

    static func stop(_ worker: Worker) async -> SpawnedProcess.Termination {
        worker.process.send(SIGTERM)
        if let ended = await worker.process.wait(seconds: 40) { return ended }
        worker.process.send(SIGKILL)
        return await worker.process.finish()
    }

    static func settled(_ wflo: WfloProcess, _ runID: String) async throws -> (settled: Money, unsettled: Money, status: String) {
        let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
        return (Money(string: report["settled_usd"]?.stringValue ?? "")!, Money(string: report["unsettled_usd"]?.stringValue ?? "")!,
                report["status"]?.stringValue ?? "")
    }

    @Test(arguments: WorkerCLITests.journals)
    func twentyRunsOnTwoWorkersEachCompleteOnceAndNoCallIsSentTwice(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            // One uninterrupted run in-process: what each queued run must settle at.
            let reference = try JSONValue.parse(try await wflo.run(["run", CLITests.brief, "--json"]).stdout)
            let perRun = try #require(Money(string: reference["settled_usd"]?.stringValue ?? ""))
            let before = server.requestCount
            var runIDs: [String] = []
            for _ in 0..<20 { runIDs.append(try await Self.submit(wflo, [CLITests.brief, "--budget", "0.10"])) }
            #expect(try await Self.status(wflo, runIDs[0]) == "queued")

            let workers = try (0..<2).map { try Worker(wflo, ["--concurrency", "4", "--lease", "10s"], log: directory.appendingPathComponent("w\($0).log")) }
            let done = try await Self.eventually(120) {
                workers.flatMap { $0.events("finished") }.count >= 20
            }
            #expect(done)
            for worker in workers {
                let ended = await Self.stop(worker)
                #expect(ended.status == 0 && !ended.killedBySignal, "\(worker.events)")
            }
            let finished = workers.flatMap { $0.events("finished") }
            #expect(finished.count == 20)
            #expect(Set(finished.compactMap { $0["run_id"]?.stringValue }) == Set(runIDs))
            #expect(finished.allSatisfy { $0["status"] == "completed" })
            #expect(workers.allSatisfy { !$0.events("claimed").isEmpty }, "both workers took runs")
            #expect(workers.flatMap { $0.events("lease_lost") }.isEmpty)
            // Three paid steps per run, each sent once.
            #expect(server.requestCount - before == 60)
            let store = try await Self.journal(wflo)
            var total = Money.zero
            for runID in runIDs {
                let journal = try await store.journal(runID: runID)
                #expect(journal.run.status == .completed)
                #expect(journal.events.filter { $0.kind == .runCompleted }.count == 1)
                #expect(journal.attempts.count == 3 && journal.attempts.allSatisfy { $0.status == .succeeded })
                // The ledger is the sum of the attempts' charges, and each run cost what the reference did.
                #expect(journal.run.budget == Money(string: "0.10"))
                let ledger = try await store.ledger(runID: runID)
                #expect(ledger.settled == journal.attempts.map(\.charged).sum() && ledger.reserved == .zero)
                #expect(ledger.settled == perRun)
                total += ledger.settled
            }
            #expect(total == perRun * 20)
        }
    }

    @Test(arguments: WorkerCLITests.journals)
    func aKilledWorkersRunIsContinuedByAnotherAfterTheLeaseWithNothingChargedTwice(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let reference = try JSONValue.parse(try await wflo.run(["run", CLITests.brief, "--json"]).stdout)
            let perRun = try #require(Money(string: reference["settled_usd"]?.stringValue ?? ""))
            let before = server.requestCount
            server.on(promptContaining: "Write the brief", .hang, times: 1)
            let runID = try await Self.submit(wflo, [CLITests.brief])
            let first = try Worker(wflo, ["--lease", "4s"], log: directory.appendingPathComponent("a.log"))
            await server.waitForRequests(before + 3)
            let second = try Worker(wflo, ["--lease", "4s"], log: directory.appendingPathComponent("b.log"))
            try await Task.sleep(for: .milliseconds(300))
            #expect(second.events("claimed").isEmpty, "the run is held by the first worker's live lease")
            first.process.send(SIGKILL)
            let killedAt = ContinuousClock.now
            #expect(await first.process.finish().killedBySignal)

            #expect(try await Self.eventually(20) { !second.events("claimed").isEmpty })
            let resumedAfter = ContinuousClock.now - killedAt
            // The lease was last renewed at most lease/3 before the kill, so the run cannot resume sooner than
            // 2.67 s after it, and does about when the lease runs out (the upper bound allows for a loaded machine).
            #expect(resumedAfter > .milliseconds(2600) && resumedAfter < .seconds(10), "resumed after \(resumedAfter)")
            #expect(try await Self.eventually(30) { second.events("finished").count == 1 })
            #expect(second.events("finished").first?["status"] == "completed")
            #expect(await Self.stop(second).status == 0, "\(second.tail)")

            let ledger = try await Self.settled(wflo, runID)
            #expect(ledger.status == "completed")
            #expect(ledger.settled == perRun)
            // The call in flight at the kill stays charged at its reservation (unsettled); nothing completed was sent again.
            #expect(ledger.unsettled > .zero)
            let requests = server.requests().dropFirst(before)
            #expect(requests.filter { $0.lastUserMessage?.hasPrefix("Outline a brief") == true }.count == 1)
            #expect(requests.filter { $0.lastUserMessage?.hasPrefix("List three facts") == true }.count == 1)
            #expect(requests.filter { $0.lastUserMessage?.hasPrefix("Write the brief") == true }.count == 2)
            print("worker failover: run resumed \(resumedAfter) after kill -9 with a 4 s lease")
        }
    }

    @Test(arguments: WorkerCLITests.journals)
    func aWorkerThatWakesUpAfterLosingItsLeaseWritesNothing(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            // The answer to its last call comes 15 s after the call: long after the stall began, even
            // when a loaded suite wakes this test seconds after the call arrived (at 6 s it once did not).
            server.on(promptContaining: "Write the brief", .delay(.seconds(15)), times: 1)
            let runID = try await Self.submit(wflo, [CLITests.brief])
            let stalled = try Worker(wflo, ["--lease", "3s"], log: directory.appendingPathComponent("stalled.log"))
            await server.waitForRequests(3)
            // Stalled mid-call (a long GC pause, a VM frozen, a partition): its lease runs out.
            stalled.process.send(SIGSTOP)
            let stoppedAt = ContinuousClock.now
            #expect(stalled.events("finished").isEmpty, "the run ended before the stall: \(stalled.events)")
            let other = try Worker(wflo, ["--lease", "3s"], log: directory.appendingPathComponent("other.log"))
            #expect(try await Self.eventually(20) { other.events("finished").count == 1 }, "stalled: \(stalled.events) other: \(other.events)")
            #expect(other.events("finished").first?["status"] == "completed")
            let store = try await Self.journal(wflo)
            let finished = try await store.journal(runID: runID)
            // The answer has been sent to the stalled worker by now, and waits in its socket.
            try await Task.sleep(until: stoppedAt + .seconds(16))

            // It wakes up with the answer to its call in hand: nothing it tries to write lands.
            stalled.process.send(SIGCONT)
            #expect(try await Self.eventually(10) { stalled.events("lease_lost").count == 1 }, "\(stalled.events)")
            try await Task.sleep(for: .milliseconds(500))
            #expect(stalled.events("finished").isEmpty)
            #expect(try await store.journal(runID: runID) == finished)
            #expect(finished.events.filter { $0.kind == .runCompleted }.count == 1)
            for worker in [stalled, other] { await Self.expectCleanStop(worker) }
            #expect(try await store.journal(runID: runID) == finished)
            #expect(server.requestCount == 4)
        }
    }

    @Test(arguments: WorkerCLITests.journals)
    func sigtermFinishesTheRunInHandOrGivesItBackForAnotherWorker(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            // Within the grace period: the run finishes here, then the worker exits 0.
            server.on(promptContaining: "Write the brief", .delay(.milliseconds(800)), times: 1)
            let finishing = try await Self.submit(wflo, [CLITests.brief])
            let patient = try Worker(wflo, ["--grace", "20s"], log: directory.appendingPathComponent("patient.log"))
            await server.waitForRequests(3)
            let stopped = await Self.stop(patient)
            #expect(stopped.status == 0 && !stopped.killedBySignal)
            #expect(patient.events("finished").first?["status"] == "completed")
            #expect(try await Self.status(wflo, finishing) == "completed")

            // Past the grace period: the run is given back and another worker continues it at once.
            server.on(promptContaining: "Write the brief", .hang, times: 1)
            let handedOver = try await Self.submit(wflo, [CLITests.brief])
            let hasty = try Worker(wflo, ["--grace", "1s", "--lease", "30s"], log: directory.appendingPathComponent("hasty.log"))
            await server.waitForRequests(6)
            let quit = await Self.stop(hasty)
            #expect(quit.status == 0 && !quit.killedBySignal, "\(hasty.events)")
            #expect(hasty.events("released").first?["run_id"]?.stringValue == handedOver)
            #expect(hasty.events("finished").isEmpty)
            // Given back, it waits for the next worker: shown queued (not interrupted: nobody needs to resume it).
            #expect(try await Self.status(wflo, handedOver) == "queued")
            let shown = try await wflo.run(["status", handedOver])
            #expect(shown.stdout.contains("Waiting on queue 'default' for a worker"), "\(shown.stdout)")
            let next = try Worker(wflo, ["--lease", "30s"], log: directory.appendingPathComponent("next.log"))
            // Released, not expired: claimed without waiting out the 30 s lease.
            #expect(try await Self.eventually(15) { next.events("finished").count == 1 })
            #expect(next.events("finished").first?["status"] == "completed")
            #expect(await Self.stop(next).status == 0, "\(next.tail)")
            #expect(try await Self.settled(wflo, handedOver).status == "completed")
        }
    }

    @Test(arguments: WorkerCLITests.journals)
    func anIdempotencyKeyReturnsTheSameRunAndAQueuedRunIsCancelledWithoutAWorker(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, _ in
            let first = try await Self.submit(wflo, [CLITests.brief, "--idempotency-key", "order-42", "--priority", "3"])
            let again = try await wflo.run(["submit", CLITests.brief, "--idempotency-key", "order-42", "--json"])
            #expect(again.status == 0)
            #expect(try JSONValue.parse(again.stdout) == ["run_id": .string(first), "status": "queued", "existing": true])
            let runs = try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout)
            #expect(runs.arrayValue?.count == 1)
            #expect(runs[0]?["status"] == "queued")
            let queues = try JSONValue.parse(try await wflo.run(["queue", "--json"]).stdout)
            #expect(queues == [["name": "default", "concurrency": .null, "queued": 1, "running": 0]])

            let cancelled = try await wflo.run(["cancel", first, "--reason", "not needed"])
            #expect(cancelled.status == 0, "\(cancelled.output)")
            #expect(try await Self.status(wflo, first) == "cancelled")
            #expect(server.requestCount == 0)

            // A workflow with errors is refused like `wflo run` refuses it, naming file and line; nothing is queued.
            let bad = try await wflo.run(["submit", WfloProcess.repositoryRoot.appendingPathComponent("Package.swift").path])
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("Package.swift:"))
            let badQueue = try await wflo.run(["submit", CLITests.brief, "--queue", "no spaces"])
            #expect(badQueue.status == 2 && badQueue.stderr.contains("no spaces"))
            #expect(try JSONValue.parse(try await wflo.run(["runs", "--json"]).stdout).arrayValue?.count == 1)
        }
    }

    @Test(arguments: WorkerCLITests.journals)
    func cancellingARunAWorkerDrivesStopsItThere(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            server.on(promptContaining: "Write the brief", .hang, times: 1)
            let runID = try await Self.submit(wflo, [CLITests.brief])
            let worker = try Worker(wflo, [], log: directory.appendingPathComponent("w.log"))
            await server.waitForRequests(3)
            let cancelled = try await wflo.run(["cancel", runID, "--reason", "changed my mind", "--wait", "10"])
            #expect(cancelled.status == 0, "\(cancelled.output)")
            #expect(try await Self.eventually(10) { worker.events("finished").count == 1 })
            #expect(worker.events("finished").first?["status"] == "cancelled")
            #expect(try await Self.status(wflo, runID) == "cancelled")
            // Given back and final: no worker takes it again.
            try await Task.sleep(for: .milliseconds(500))
            #expect(worker.events("claimed").count == 1)
            await Self.expectCleanStop(worker)
            #expect(server.requestCount == 3)
        }
    }

    @Test(arguments: WorkerCLITests.journals)
    func aRunAWorkerCannotLoadEndsFailedSayingWhyInsteadOfBeingClaimedAgainAndAgain(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            // Submitted where a pricing file prices `house-model`; the worker has no such file.
            let pricing = directory.appendingPathComponent("house.json")
            try JSONValue.object(["house-model": ["input_cost_per_token": .number("1.5e-07"), "output_cost_per_token": .number("6.0e-07"),
                                                  "litellm_provider": "openai", "max_output_tokens": 4096]])
                .encoded().write(to: pricing, atomically: true, encoding: .utf8)
            let workflow = directory.appendingPathComponent("house.yaml")
            try """
                name: house
                budget: 0.10
                steps:
                  - id: ask
                    type: llm
                    model: house-model
                    prompt: "Say hi"
                    max_tokens: 50
                """.write(to: workflow, atomically: true, encoding: .utf8)
            let submitted = try await wflo.run(["submit", workflow.path, "--json"], extraEnvironment: ["WFLO_PRICING": pricing.path])
            #expect(submitted.status == 0, "\(submitted.output)")
            let runID = try #require(try JSONValue.parse(submitted.stdout)["run_id"]?.stringValue)

            let worker = try Worker(wflo, [], log: directory.appendingPathComponent("w.log"))
            #expect(try await Self.eventually(60) { worker.events("finished").count == 1 })
            try await Task.sleep(for: .milliseconds(500))
            #expect(worker.events("claimed").count == 1)
            #expect(worker.events("finished").first?["status"] == "failed")
            await Self.expectCleanStop(worker)
            let status = try JSONValue.parse(try await wflo.run(["status", runID, "--json"]).stdout)
            #expect(status["status"] == "failed")
            #expect(status["error"]?.stringValue?.contains("house-model") == true, "\(status)")
            #expect(server.requestCount == 0)
        }
    }

    /// A SIGTERM while the worker is still starting (here: waiting for another process's lock on
    /// the journal) stops it as gracefully as one later: it starts, stops and exits 0, where the
    /// signal's default used to kill it (exit 143, nothing logged). The signal is sent once SIGTERM
    /// no longer has its default action in the worker (its handler is in place), which must happen
    /// while the lock is held, and the lock is released after it.
    /// Whether process `pid` no longer leaves SIGTERM to its default action (bit 15 of `SigIgn` or
    /// `SigCgt` in /proc: ignored, or caught by libdispatch for the worker's signal source).
    static func handlesSIGTERM(_ pid: pid_t) -> Bool {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let bit = UInt64(1) << UInt64(SIGTERM - 1)
        return status.split(separator: "\n").contains { line in
            guard line.hasPrefix("SigIgn:") || line.hasPrefix("SigCgt:"),
                  let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
            return mask & bit != 0
        }
    }

    @Test
    func aSigtermWhileTheWorkerStartsStopsItGracefully() async throws {
        try await CLITests.withServer { _, wflo, directory in
            let journal = directory.appendingPathComponent("held.db").path
            let held = directory.appendingPathComponent("held").path
            // The holder keeps its lock until the test closes its stdin (however slowly the worker starts).
            var ends: [Int32] = [0, 0]
            #expect(pipe(&ends) == 0)
            let holder = try SpawnedProcess(executable: "/usr/bin/python3", arguments: ["-c", """
                import sqlite3, sys
                c = sqlite3.connect(\(JSONValue.string(journal).encoded()), isolation_level=None)
                c.execute("CREATE TABLE held (x)")
                c.execute("BEGIN EXCLUSIVE")
                open(\(JSONValue.string(held).encoded()), "w").close()
                sys.stdin.read()
                c.execute("ROLLBACK")
                """], environment: [:], standardInput: ends[0])
            close(ends[0])
            var released = false
            func release() {
                if !released { close(ends[1]) }
                released = true
            }
            defer { release() }
            #expect(try await Self.eventually(60) { FileManager.default.fileExists(atPath: held) }, "Python's sqlite3 did not take the lock")
            let worker = try Worker(wflo, ["--db", journal], log: directory.appendingPathComponent("w.log"))
            let pid = worker.process.pid
            // Its journal cannot be opened yet: a handler in place now was installed before the journal.
            let handled = try await Self.eventually(60) { Self.handlesSIGTERM(pid) }
            #expect(handled, "the worker did not handle SIGTERM while it waited for its journal")
            #expect(worker.events.isEmpty, "the worker started before it was told to stop: \(worker.tail)")
            worker.process.send(SIGTERM)
            release()
            let ended = await worker.process.wait(seconds: 60)
            let how = ended.map { ($0.killedBySignal ? "signal " : "status ") + String($0.status) } ?? "still running after 60 s"
            #expect(ended?.status == 0 && ended?.killedBySignal == false, "ended with \(how); log: \(worker.tail)")
            #expect(worker.events.compactMap { $0["event"]?.stringValue } == ["started", "stopping", "stopped"], "\(worker.tail)")
            if ended == nil { worker.process.send(SIGKILL) }
            _ = await holder.finish()
        }
    }

    @Test(arguments: WorkerCLITests.journals)
    func aQueueWithConcurrencyOneNeverRunsTwoOfItsRunsAtOnce(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let set = try await wflo.run(["queue", "set", "serial", "--concurrency", "1"])
            #expect(set.status == 0, "\(set.output)")
            server.on(promptContaining: "Write the brief", .delay(.milliseconds(300)))
            var runIDs: [String] = []
            for _ in 0..<4 { runIDs.append(try await Self.submit(wflo, [CLITests.brief, "--queue", "serial"])) }
            let workers = try (0..<2).map { try Worker(wflo, ["--queue", "serial", "--concurrency", "2"], log: directory.appendingPathComponent("s\($0).log")) }
            #expect(try await Self.eventually(90) { workers.flatMap { $0.events("finished") }.count == 4 })
            for worker in workers { await Self.expectCleanStop(worker) }

            // From the journal: each run's time from being started to completed; no two overlap.
            let store = try await Self.journal(wflo)
            var spans: [(Date, Date)] = []
            for runID in runIDs {
                let events = try await store.journal(runID: runID).events
                let started = try #require(events.first { $0.kind == .runRunning }?.at)
                let completed = try #require(events.first { $0.kind == .runCompleted }?.at)
                spans.append((started, completed))
            }
            spans.sort { $0.0 < $1.0 }
            for (earlier, later) in zip(spans, spans.dropFirst()) {
                #expect(earlier.1 <= later.0, "two runs of the serial queue overlapped")
            }
            let queues = try JSONValue.parse(try await wflo.run(["queue", "--json"]).stdout)
            #expect(queues == [["name": "serial", "concurrency": 1, "queued": 0, "running": 0]])
        }
    }

    @Test(arguments: WorkerCLITests.journals)
    func anApprovalInAQueuedRunDecidedWithApproveIsContinuedByAWorker(journal: TestJournal) async throws {
        try await CLITests.withServer(journal: journal) { server, wflo, directory in
            let publish = WfloProcess.repositoryRoot.appendingPathComponent("Examples/publish/workflow.yaml").path
            let runID = try await Self.submit(wflo, [publish])
            let worker = try Worker(wflo, ["--concurrency", "2"], log: directory.appendingPathComponent("w.log"))
            // The worker does not hold a slot for a person: the run is given back waiting.
            #expect(try await Self.eventually(20) { worker.events("finished").count == 1 })
            #expect(worker.events("finished").first?["status"] == "waiting_approval")
            #expect(try await Self.status(wflo, runID) == "waiting_approval")

            let approved = try await wflo.run(["approve", "\(runID)/review", "--as", "ana"])
            #expect(approved.status == 0, "\(approved.output)")
            // Continued by the worker up to the gate on `publish`, then given back again.
            #expect(try await Self.eventually(20) { worker.events("finished").count == 2 })
            #expect(worker.events("finished").last?["status"] == "waiting_approval")
            let second = try await wflo.run(["approve", "\(runID)/publish", "--as", "ana"])
            #expect(second.status == 0, "\(second.output)")
            #expect(try await Self.eventually(20) { worker.events("finished").count == 3 })
            #expect(worker.events("finished").last?["status"] == "completed")
            await Self.expectCleanStop(worker)
            #expect(try await Self.status(wflo, runID) == "completed")
            // Two paid steps, each sent once.
            #expect(server.requestCount == 2)
        }
    }
}
