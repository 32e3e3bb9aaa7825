import Foundation
import Testing
import WfloCore
import WfloKit
import WfloTesting

/// Durable functions end to end: the real `wflo-durable-example` executable as a child process,
/// a real SQLite journal, the fake LLM server over loopback, the real `wflo` for approvals and reports.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DurableExampleTests {
    static func binary(_ name: String) throws -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [exe, exe.deletingLastPathComponent(), exe.deletingLastPathComponent().deletingLastPathComponent()]
            .map { $0.appendingPathComponent(name) }
        return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }, "no \(name) built next to the tests").path
    }

    /// The journal the programs share: a SQLite file, or a database of its own on the test
    /// PostgreSQL server (when one is given: `WFLO_TEST_POSTGRES_URL`).
    enum Journal: String, CustomTestStringConvertible, Sendable {
        case sqlite = "SQLite"
        case postgres = "PostgreSQL"
        var testDescription: String { rawValue }
        static var all: [Journal] { TestPostgres.url != nil || TestPostgres.isRequired ? [.sqlite, .postgres] : [.sqlite] }
    }

    /// A folder with its own journal and HOME, the fake server, and how to start both programs there.
    struct Bench {
        let folder: URL
        let server: FakeLLMServer
        /// A PostgreSQL URL, else nil for the folder's SQLite file.
        var database: String? = nil
        var journal: String { database ?? folder.appendingPathComponent("wflo.db").path }
        var countFile: String { folder.appendingPathComponent("count.txt").path }

        var environment: [String: String] {
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("WFLO_") && !$0.key.hasPrefix("OPENAI_") && !$0.key.hasPrefix("ANTHROPIC_") }
            environment["HOME"] = folder.path
            environment["WFLO_DB"] = journal
            environment["OPENAI_BASE_URL"] = server.baseURLOpenAI
            environment["OPENAI_API_KEY"] = "sk-test"
            environment["WFLO_EXAMPLE_COUNT_FILE"] = countFile
            return environment
        }

        func start(_ arguments: [String], extra: [String: String] = [:]) throws -> SpawnedProcess {
            try SpawnedProcess(executable: try DurableExampleTests.binary("wflo-durable-example"), arguments: arguments,
                               environment: environment.merging(extra) { _, new in new })
        }

        func example(_ arguments: [String], extra: [String: String] = [:]) async throws -> SpawnedProcess.Termination {
            try await start(arguments, extra: extra).finish()
        }

        func wflo(_ arguments: [String]) async throws -> SpawnedProcess.Termination {
            try await SpawnedProcess(executable: try DurableExampleTests.binary("wflo"), arguments: arguments, environment: environment).finish()
        }

        /// `wflo report RUN --format json`: the ledger and outputs every front end reads.
        func report(_ runID: String) async throws -> JSONValue {
            let ended = try await wflo(["report", runID, "--format", "json"])
            #expect(ended.status == 0, "\(ended.stderr)")
            return try JSONValue.parse(ended.stdout)
        }

        /// How many times each step closure ran (the example appends its id to the count file).
        func closureRuns() -> [String: Int] {
            let text = (try? String(contentsOfFile: countFile, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").reduce(into: [:]) { $0[String($1), default: 0] += 1 }
        }

        /// Requests the server received, by the start of their prompt.
        func requests(_ prefix: String) -> Int {
            server.requests().filter { $0.lastUserMessage?.hasPrefix(prefix) == true }.count
        }
    }

    static func withBench<T>(journal: Journal = .sqlite, _ body: (Bench) async throws -> T) async throws -> T {
        switch journal {
        case .sqlite: return try await withBench(database: nil, body)
        case .postgres: return try await TestPostgres.withDatabase { url in try await withBench(database: url, body) }
        }
    }

    private static func withBench<T>(database: String?, _ body: (Bench) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-durable-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let server = try await FakeLLMServer.start()
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            let result = try await body(Bench(folder: folder, server: server, database: database))
            await server.shutdown()
            return result
        } catch {
            await server.shutdown()
            throw error
        }
    }

    /// A time the journal wrote in a step's output (ISO 8601 with milliseconds).
    static func time(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// The result line the example prints (sorted JSON) after its status line.
    static func resultLine(_ stdout: String) -> String {
        stdout.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? ""
    }

    static let arguments = ["--cool-down", "0.3", "--max-parallel", "1"]
    static let prompts = ["Summarize this support ticket", "Draft a two-sentence reply about account", "Draft a two-sentence reply about question"]

    struct Reference: Sendable {
        var result: String
        var settled: String
        var unsettled: String
        var outputs: JSONValue
    }

    static func reference() async throws -> Reference {
        try await withBench { bench in
            let run = try await bench.example(["--run-id", "ref"] + arguments)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let report = try await bench.report("ref")
            return Reference(result: resultLine(run.stdout), settled: report["settled_usd"]?.stringValue ?? "",
                             unsettled: report["unsettled_usd"]?.stringValue ?? "", outputs: report["outputs"] ?? .null)
        }
    }

    /// Every commit point of the program: the process SIGKILLs itself right after it (the
    /// `WFLO_FAULT_KILL_AT` hook), then runs again with the same id. The second run finishes
    /// with the uninterrupted run's result and ledger; no completed step's closure ran twice, and
    /// no request reached the provider twice. Children run one at a time here (`--max-parallel 1`),
    /// so no sibling call is in flight at the kill.
    @Test(arguments: Journal.all, ["completed:summarize", "completed:classify", "completed:reply[0]/draft", "completed:reply[1]/draft",
                      "sleeping:cool-down", "completed:cool-down", "completed:compose", "started:reply[1]/draft"])
    func killedAtACommitPointTheSameRunIDFinishesItWithTheSameLedger(journal: Journal, point: String) async throws {
        let reference = try await Self.reference()
        #expect(reference.result.contains("\"labels\":[\"account\",\"question\"]"), "\(reference.result)")
        try await Self.withBench(journal: journal) { bench in
            let crashed = try await bench.example(["--run-id", "t-42"] + Self.arguments, extra: ["WFLO_FAULT_KILL_AT": point])
            #expect(crashed.killedBySignal && crashed.status == SIGKILL, "\(point): \(crashed.status) \(crashed.stdout)\(crashed.stderr)")

            let rerun = try await bench.example(["--run-id", "t-42"] + Self.arguments)
            #expect(rerun.status == 0, "\(point): \(rerun.stdout)\(rerun.stderr)")
            #expect(Self.resultLine(rerun.stdout) == reference.result, "\(point)")

            let report = try await bench.report("t-42")
            #expect(report["status"]?.stringValue == "completed")
            #expect(report["outputs"] == reference.outputs)
            #expect(report["settled_usd"]?.stringValue == reference.settled, "\(point)")
            if point.hasPrefix("started:") {
                // Killed after the reservation, before the request: it stays charged at its reservation (unsettled).
                #expect(report["unsettled_usd"]?.stringValue != reference.unsettled, "\(point)")
            } else {
                #expect(report["unsettled_usd"]?.stringValue == reference.unsettled, "\(point)")
            }
            #expect(bench.closureRuns() == ["classify": 1, "compose": 1], "\(point): \(bench.closureRuns())")
            for prompt in Self.prompts {
                #expect(bench.requests(prompt) == 1, "\(point): '\(prompt)' was sent \(bench.requests(prompt)) times")
            }
            #expect(bench.server.requestCount == 3)

            // A third run with the id of a completed run answers from the journal: nothing runs.
            let again = try await bench.example(["--run-id", "t-42"] + Self.arguments)
            #expect(again.status == 0)
            #expect(Self.resultLine(again.stdout) == reference.result)
            #expect(bench.server.requestCount == 3)
            #expect(bench.closureRuns() == ["classify": 1, "compose": 1])
        }
    }

    /// The first call's worst case does not fit: refused before any request, exit 3, and the run
    /// is `budget_exceeded` in the journal the CLI reads.
    @Test func aBudgetTooSmallForTheFirstCallRefusesItBeforeAnyRequest() async throws {
        try await Self.withBench { bench in
            let run = try await bench.example(["--run-id", "poor", "--budget", "0.00001"])
            #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
            #expect(run.stderr.contains("step 'summarize'"), "\(run.stderr)")
            #expect(bench.server.requestCount == 0)
            #expect(bench.closureRuns().isEmpty)
            let report = try await bench.report("poor")
            #expect(report["status"]?.stringValue == "budget_exceeded")
            #expect(report["settled_usd"]?.stringValue.flatMap { Money(string: $0) } == .zero)

            // The same id with a budget that fits goes on; the refused call is made once.
            let more = try await bench.example(["--run-id", "poor", "--budget", "0.50"] + Self.arguments)
            #expect(more.status == 0, "\(more.stdout)\(more.stderr)")
            #expect(bench.server.requestCount == 3)
        }
    }

    /// A refund waits for a person: `wflo approve RUN/STEP` from another process and the waiting
    /// program continues to its end. The run is listed by `wflo runs`, and `wflo resume` says
    /// that only its program can continue it.
    @Test(arguments: Journal.all)
    func anApprovalFromTheCLIContinuesTheWaitingProgram(journal: Journal) async throws {
        try await Self.withBench(journal: journal) { bench in
            let program = try bench.start(["--run-id", "refund-7", "--ticket", "refund", "--cool-down", "0"])
            var approved: SpawnedProcess.Termination?
            for _ in 0..<300 where approved?.status != 0 {
                try await Task.sleep(for: .milliseconds(100))
                approved = try await bench.wflo(["approve", "refund-7/refund-ok", "--as", "tester", "--comment", "duplicate charge"])
            }
            #expect(approved?.status == 0, "\(approved?.stderr ?? "")")
            if approved?.status != 0 { program.send(SIGKILL) }
            let ended = await program.finish()
            #expect(ended.status == 0, "\(ended.stdout)\(ended.stderr)")
            let result = try JSONValue.parse(Self.resultLine(ended.stdout))
            #expect(result["refundApproved"] == true)
            #expect(result["labels"] == ["billing", "refund"])
            #expect(bench.server.requestCount == 3)

            let runs = try await bench.wflo(["runs"])
            #expect(runs.stdout.contains("refund-7") && runs.stdout.contains("triage"), "\(runs.stdout)")
            let status = try await bench.wflo(["status", "refund-7"])
            #expect(status.status == 0 && status.stdout.contains("refund-ok"), "\(status.stdout)\(status.stderr)")
            let resume = try await bench.wflo(["resume", "refund-7"])
            #expect(resume.status != 0)
            #expect(resume.stderr.contains("must be resumed by its program") && resume.stderr.contains("wflo-durable-example"), "\(resume.stderr)")
        }
    }

    /// The wait for a decision is durable: the program is killed while it waits, the person
    /// approves meanwhile, and the program run again with the id reads the decision and finishes —
    /// no second request, nothing before the approval run or sent again.
    @Test func aDecisionMadeWhileTheProgramWasDownIsReadWhenItRunsAgain() async throws {
        try await Self.withBench { bench in
            let program = try bench.start(["--run-id", "refund-9", "--ticket", "refund", "--cool-down", "0"])
            var pending = false
            for _ in 0..<300 where !pending {
                try await Task.sleep(for: .milliseconds(100))
                pending = try await bench.wflo(["approvals", "list"]).stdout.contains("refund-ok")
            }
            #expect(pending)
            program.send(SIGKILL)
            #expect(await program.finish().killedBySignal)
            let approved = try await bench.wflo(["approve", "refund-9/refund-ok", "--as", "tester"])
            #expect(approved.status == 0, "\(approved.stdout)\(approved.stderr)")

            let rerun = try await bench.example(["--run-id", "refund-9", "--ticket", "refund", "--cool-down", "0"])
            #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
            #expect(try JSONValue.parse(Self.resultLine(rerun.stdout))["refundApproved"] == true)
            #expect(bench.requests("Summarize this support ticket") == 1)
            #expect(bench.server.requestCount == 3)
            #expect(bench.closureRuns() == ["classify": 1, "compose": 1])
            let listed = try JSONValue.parse(try await bench.wflo(["approvals", "list", "--run", "refund-9", "--all", "--json"]).stdout)
            #expect(listed.arrayValue?.count == 1, "one request: \(listed)")
        }
    }

    /// `wflo cancel` from another terminal stops a program waiting for a decision: the run ends
    /// `cancelled`, its request is closed, and a rerun with the id runs nothing.
    @Test(arguments: Journal.all)
    func aCancelFromTheCLIStopsTheProgramWaitingForADecision(journal: Journal) async throws {
        try await Self.withBench(journal: journal) { bench in
            let program = try bench.start(["--run-id", "refund-8", "--ticket", "refund", "--cool-down", "0"])
            var pending = false
            for _ in 0..<300 where !pending {
                try await Task.sleep(for: .milliseconds(100))
                pending = try await bench.wflo(["approvals", "list"]).stdout.contains("refund-ok")
            }
            #expect(pending)
            if !pending { program.send(SIGKILL) }
            let cancel = try await bench.wflo(["cancel", "refund-8", "--reason", "customer withdrew"])
            #expect(cancel.status == 0, "\(cancel.stdout)\(cancel.stderr)")
            let ended = await program.finish()
            #expect(ended.status == 5, "\(ended.stdout)\(ended.stderr)")
            #expect(ended.stdout.contains("run refund-8 cancelled"), "\(ended.stdout)")
            let report = try await bench.report("refund-8")
            #expect(report["status"]?.stringValue == "cancelled")
            let again = try await bench.example(["--run-id", "refund-8", "--ticket", "refund", "--cool-down", "0"])
            #expect(again.status == 5)
            #expect(bench.server.requestCount == 1)
            #expect(bench.closureRuns() == ["classify": 1])
        }
    }

    /// A sleep keeps its journaled wake-up time across a kill: the next run wakes at the same time,
    /// it does not start the sleep over.
    @Test func aSleepKilledMidWayWakesAtItsJournaledTime() async throws {
        try await Self.withBench { bench in
            let crashed = try await bench.example(["--run-id", "nap", "--cool-down", "10"], extra: ["WFLO_FAULT_KILL_AT": "sleeping:cool-down"])
            #expect(crashed.killedBySignal)
            let status = try await bench.wflo(["status", "nap"])
            #expect(status.stdout.contains("interrupted") && status.stdout.contains("running the program 'wflo-durable-example' again with the run id nap"),
                    "\(status.stdout)\(status.stderr)")
            let reader = try WfloRuntime(journal: bench.journal, environment: ["HOME": bench.folder.path])
            let before = try await reader.store.journal(runID: "nap").steps.first { $0.stepID == "cool-down" }
            let wake = try #require(before?.output?["wake_at"]?.stringValue.flatMap { Self.time($0) })
            try await Task.sleep(for: .seconds(3))

            let rerun = try await bench.example(["--run-id", "nap", "--cool-down", "10"])
            #expect(rerun.status == 0, "\(rerun.stdout)\(rerun.stderr)")
            let journal = try await reader.store.journal(runID: "nap")
            try await reader.shutdown()
            let after = journal.steps.first { $0.stepID == "cool-down" }
            #expect(after?.status == .completed)
            #expect(after?.output?["wake_at"]?.stringValue.flatMap { Self.time($0) } == wake)
            let woke = try #require(after?.output?["woke_at"]?.stringValue.flatMap { Self.time($0) })
            let resumed = try #require(journal.events.last { $0.kind == .runResumed }?.at)
            // A sleep started over by the rerun would wake 10 s after it took the run over; the
            // journaled wake-up is about 7 s after that (the rest is room for a loaded machine).
            #expect(woke >= wake)
            #expect(woke.timeIntervalSince(resumed) < 9.5, "woke \(woke.timeIntervalSince(resumed)) s after the rerun took the run over")
        }
    }

    /// Offline: no OPENAI_BASE_URL, so the calls are answered by Examples/swift-durable/cassette.json.
    @Test func theExampleRunsOfflineFromItsCassette() async throws {
        try await Self.withBench { bench in
            var environment = bench.environment
            environment["OPENAI_BASE_URL"] = nil
            environment["OPENAI_API_KEY"] = nil
            let ended = try await SpawnedProcess(executable: try Self.binary("wflo-durable-example"), arguments: ["--run-id", "offline", "--cool-down", "0"],
                                                 environment: environment).finish()
            #expect(ended.status == 0, "\(ended.stdout)\(ended.stderr)")
            #expect(ended.stdout.contains("run offline completed"), "\(ended.stdout)")
            #expect(ended.stdout.contains("Settings → Profile → Email"), "\(ended.stdout)")
            #expect(bench.server.requestCount == 0)
        }
    }
}
