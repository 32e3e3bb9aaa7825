import Foundation
import Testing
import WfloCore
import WfloStore

/// `wflo report` across runs (`--since`), its HTML output and its usage errors, as a user runs it:
/// the real executable on a real journal file.
@Suite(.timeLimit(.minutes(2)))
struct ReportAcrossRunsTests {
    /// A journal with three runs (two of `brief` an hour and two days ago — on different UTC days
    /// whatever the time of day — one of `triage` ten days ago), written through the store's API,
    /// and a `wflo` pointed at it.
    static func withJournal<T>(_ body: (WfloProcess, SQLiteJournalStore, URL) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("wflo.db").path
        let store = try SQLiteJournalStore(path: path)
        let now = Date()
        for (id, workflow, age) in [("aaa111", "brief", 3_600.0), ("bbb222", "brief", 2 * 86_400.0), ("ccc333", "triage", 10 * 86_400.0)] {
            let at = now.addingTimeInterval(-age)
            try await store.createRun(RunRecord(id: id, workflowName: workflow, workflowPath: "\(workflow).yaml", workflowSource: "name: \(workflow)\n",
                                                inputs: [:], budget: Money(string: "0.05")!, status: .completed, createdAt: at, updatedAt: at))
            for (n, (step, model, cost)) in [("outline", "gpt-4o-mini", "0.000123"), ("<draft>", "claude-haiku-4-5", "0.0042")].enumerated() {
                guard case .started(let attempt) = try await store.beginAttempt(AttemptStart(runID: id, stepID: step, stepType: .llm, number: 1,
                                                                                             model: model, reserve: Money(string: "0.01")!,
                                                                                             at: at.addingTimeInterval(Double(n)))) else {
                    throw StoreError(.database, "test attempt refused")
                }
                try await store.finishAttempt(AttemptFinish(attemptID: attempt, runID: id, stepID: step, succeeded: true, cost: Money(string: cost)!,
                                                            usage: TokenUsage(inputTokens: 100, outputTokens: 10), error: nil, stepStatus: .completed,
                                                            stepOutput: ["text": "ok"], at: at.addingTimeInterval(Double(n) + 0.5)))
            }
        }
        let wflo = WfloProcess(environment: [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": directory.path,
            "WFLO_DB": path,
        ])
        return try await body(wflo, store, directory)
    }

    static func ledgers(_ store: SQLiteJournalStore, _ runs: [String]) async throws -> Money {
        var total = Money.zero
        for run in runs { total += try await store.ledger(runID: run).committed }
        return total
    }

    @Test(arguments: ["model", "workflow", "day", "step"])
    func sinceReportsEveryGroupingWithTotalsEqualToTheLedgers(by: String) async throws {
        try await Self.withJournal { wflo, store, _ in
            let result = try await wflo.run(["report", "--since", "7d", "--by", by, "--format", "json"])
            #expect(result.status == 0, "\(result.stderr)")
            let json = try JSONValue.parse(result.stdout)
            #expect(json["by"]?.stringValue == by)
            #expect(json["runs"] == .int(2))
            let expected = try await Self.ledgers(store, ["aaa111", "bbb222"])
            #expect(json["totals"]?["spent_usd"]?.stringValue == expected.exact())
            let groups = try #require(json["groups"]?.arrayValue)
            #expect(groups.compactMap { $0["spent_usd"]?.stringValue.flatMap(Money.init(string:)) }.sum() == expected)
            let keys = Set(groups.compactMap { $0["key"]?.stringValue })
            switch by {
            case "model": #expect(keys == ["gpt-4o-mini", "claude-haiku-4-5"])
            case "workflow": #expect(keys == ["brief"])
            case "step": #expect(keys == ["outline", "<draft>"])
            default: #expect(keys.count == 2)
            }
        }
    }

    @Test func sinceAcceptsADateAndWorkflowFilters() async throws {
        try await Self.withJournal { wflo, store, _ in
            let all = try await wflo.run(["report", "--since", "2000-01-01", "--by", "workflow", "--format", "json"])
            #expect(all.status == 0, "\(all.stderr)")
            let json = try JSONValue.parse(all.stdout)
            #expect(json["runs"] == .int(3))
            #expect(json["totals"]?["spent_usd"]?.stringValue == (try await Self.ledgers(store, ["aaa111", "bbb222", "ccc333"])).exact())

            let triage = try await wflo.run(["report", "--since", "30d", "--workflow", "triage", "--format", "json"])
            #expect(triage.status == 0, "\(triage.stderr)")
            let t = try JSONValue.parse(triage.stdout)
            #expect(t["runs"] == .int(1))
            #expect(t["workflow"] == "triage")
            #expect(t["totals"]?["spent_usd"]?.stringValue == (try await Self.ledgers(store, ["ccc333"])).exact())
        }
    }

    @Test func tableCsvAndMarkdownCarryTheTotalsAndTheCacheSavingsColumn() async throws {
        try await Self.withJournal { wflo, _, _ in
            let table = try await wflo.run(["report", "--since", "7d"])
            #expect(table.status == 0, "\(table.stderr)")
            #expect(table.stdout.contains("cache saved (USD)"))
            #expect(table.stdout.contains("0.008646"))
            #expect(table.stdout.contains("Amounts in USD"))
            let csv = try await wflo.run(["report", "--since", "7d", "--format", "csv", "--by", "step"])
            #expect(csv.stdout.split(separator: "\n").count == 3)
            let markdown = try await wflo.run(["report", "--since", "7d", "--format", "markdown", "--top", "1"])
            #expect(markdown.stdout.contains("## Most expensive steps"))
        }
    }

    @Test func htmlGoesToTheOutputFileForOneRunAndAcrossRuns() async throws {
        try await Self.withJournal { wflo, _, directory in
            for (arguments, charts) in [(["report", "aaa1"], 4), (["report", "--since", "7d", "--by", "step"], 2)] {
                let file = directory.appendingPathComponent("report-\(charts).html")
                let result = try await wflo.run(arguments + ["--format", "html", "--output", file.path])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(result.stdout.isEmpty)
                let html = try String(contentsOf: file, encoding: .utf8)
                #expect(html.hasPrefix("<!DOCTYPE html>"))
                #expect(html.components(separatedBy: "<svg").count - 1 == charts)
                #expect(!html.contains("http://") && !html.contains("https://"))
                #expect(html.contains("&lt;draft&gt;"))
                #expect(!html.contains("<draft>"))
            }
            let stdout = try await wflo.run(["report", "aaa111", "--format", "html"])
            #expect(stdout.stdout.hasPrefix("<!DOCTYPE html>"))
        }
    }

    @Test(arguments: [
        ([], "give a run id (wflo report RUN) or a window"),
        (["aaa111", "--since", "7d"], "not both"),
        (["--since", "7x"], "--since '7x' is not a duration or a date"),
        (["--since", "0d"], "--since '0d' must be a positive duration"),
        (["--since", "2026-02-30"], "--since '2026-02-30'"),
        (["--since", "7d", "--by", "colour"], "--by 'colour' is not a grouping"),
        (["--since", "7d", "--top=-1"], "--top -1 must be zero or more"),
        (["--since", "7d", "--workflow", ""], "--workflow is empty"),
        (["aaa111", "--by", "model"], "--by applies to reports across runs"),
        (["aaa111", "--workflow", "brief"], "--workflow applies to reports across runs"),
        (["zzz"], "no run id starts with 'zzz'"),
    ])
    func usageMistakesExitTwoNamingTheFlag(arguments: [String], message: String) async throws {
        try await Self.withJournal { wflo, _, _ in
            let result = try await wflo.run(["report"] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }
}
