import Foundation
import Testing
import WfloCore
import WfloReports
import WfloStore

/// Spend across runs, from a real journal read through `SQLiteJournalStore.activity`.
@Suite(.timeLimit(.minutes(1)))
struct SpendReportTests {
    static let now = Date.testNow
    static let hour = 3_600.0
    static let day = 86_400.0

    /// Five runs over eleven days:
    /// - a (brief, now-1h, budget 0.10): outline gpt-4o-mini failed+retried, draft claude-haiku-4-5
    /// - b (brief, now-26h, budget 0.02): outline gpt-4o-mini, draft in flight when the process died
    /// - c (triage, now-2d, no budget): classify gpt-4o-mini, plus a transform
    /// - d (triage, now-3d, budget 0.01): no attempt at all (refused before any call)
    /// - old (brief, now-10d): outline gpt-4o-mini, outside a 7-day window
    static func journal() async throws -> TestJournal {
        let j = try TestJournal.make()
        let now = Self.now
        try await j.run("a", workflow: "brief", at: now - hour, budget: Money(string: "0.10")!)
        try await j.attempt("a", "outline", number: 1, cost: "0.0000021", succeeded: false, final: false, at: now - hour)
        try await j.attempt("a", "outline", number: 2, cost: "0.000123456789", at: now - hour + 10)
        try await j.attempt("a", "draft", model: "claude-haiku-4-5", cost: "0.0042", usage: TokenUsage(inputTokens: 900, outputTokens: 400),
                            at: now - hour + 20)
        try await j.run("b", workflow: "brief", at: now - 26 * hour, budget: Money(string: "0.02")!, status: .failed)
        try await j.attempt("b", "outline", cost: "0.000111", at: now - 26 * hour)
        try await j.attempt("b", "draft", model: "claude-haiku-4-5", reserve: "0.0175", cost: nil, at: now - 26 * hour + 5)
        _ = try await j.store.markInFlightUnsettled(runID: "b", at: now - 25 * hour)
        try await j.run("c", workflow: "triage", at: now - 2 * day, budget: nil)
        try await j.attempt("c", "classify", cost: "0.00003", usage: TokenUsage(inputTokens: 50, cachedInputTokens: 20, outputTokens: 3),
                            at: now - 2 * day)
        try await j.transform("c", "route", at: now - 2 * day + 1)
        try await j.run("d", workflow: "triage", at: now - 3 * day, budget: Money(string: "0.01")!, status: .budgetExceeded)
        try await j.run("old", workflow: "brief", at: now - 10 * day, budget: Money(string: "1")!)
        try await j.attempt("old", "outline", cost: "0.5", at: now - 10 * day)
        return j
    }

    static func report(_ j: TestJournal, since: String = "7d", workflow: String? = nil, by grouping: SpendReport.Grouping,
                       top: Int = 10) async throws -> SpendReport {
        let start = try ReportSince.parse(since, now: now)
        let activity = try await j.store.activity(since: start, workflow: workflow)
        return SpendReport(runs: activity.runs, attempts: activity.attempts, since: start, until: now, workflow: workflow,
                           grouping: grouping, topLimit: top)
    }

    @Test(arguments: SpendReport.Grouping.allCases)
    func groupsAddUpToTheTotalAndTheTotalToTheLedgers(grouping: SpendReport.Grouping) async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let report = try await Self.report(j, by: grouping)
        let ledgers = try await j.ledgerTotal(["a", "b", "c", "d"])
        #expect(report.totals.spent == ledgers)
        #expect(report.totals.spent.description == "0.021966556789")
        #expect(report.groups.map(\.spent).sum() == report.totals.spent)
        #expect(report.groups.map(\.unsettled).sum() == Money(string: "0.0175")!)
        #expect(report.groups.map(\.calls).reduce(0, +) == report.totals.calls)
        #expect(report.groups.map(\.attempts).reduce(0, +) == 6)
        #expect(report.groups.map(\.usage.inputTokens).reduce(0, +) == report.totals.usage.inputTokens)
        #expect(report.days.map(\.spent).sum() == report.totals.spent)

        let json = report.json
        #expect(json["totals"]?["spent_usd"]?.stringValue == ledgers.exact())
        let groupSum = try #require(json["groups"]?.arrayValue).compactMap { $0["spent_usd"]?.stringValue.flatMap(Money.init(string:)) }.sum()
        #expect(groupSum == ledgers)
        #expect(json["by"]?.stringValue == grouping.rawValue)
    }

    @Test func groupingByModelCountsCallsTokensAndRunsPerModel() async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let report = try await Self.report(j, by: .model)
        #expect(report.groups.map(\.key) == ["claude-haiku-4-5", "gpt-4o-mini"])
        let claude = report.groups[0], mini = report.groups[1]
        #expect(claude.spent == Money(string: "0.0217")!)
        #expect(claude.runs == 2)
        #expect(claude.calls == 2)
        #expect(claude.unsettled == Money(string: "0.0175")!)
        #expect(mini.spent == Money(string: "0.000266556789")!)
        #expect(mini.runs == 3)
        #expect(mini.attempts == 4)
        #expect(mini.calls == 4)
        #expect(mini.retries == 1)
        #expect(mini.failedAttempts == 1)
        #expect(mini.failedCost == Money(string: "0.0000021")!)
        #expect(mini.usage.inputTokens == 350)
        #expect(mini.usage.cachedInputTokens == 20)
        #expect(mini.budget == nil)
    }

    @Test func groupingByWorkflowCarriesBudgetUtilisationOfBudgetedRunsOnly() async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let report = try await Self.report(j, by: .workflow)
        #expect(report.groups.map(\.key) == ["brief", "triage"])
        let brief = report.groups[0], triage = report.groups[1]
        #expect(brief.runs == 2)
        #expect(brief.spent == Money(string: "0.021936556789")!)
        #expect(brief.budget?.budgetedRuns == 2)
        #expect(brief.budget?.budget == Money(string: "0.12")!)
        #expect(brief.budget?.peakRunID == "b")
        #expect(triage.runs == 2)
        // c has no budget: its spend is not part of triage's utilisation.
        #expect(triage.budget?.budgetedRuns == 1)
        #expect(triage.budget?.spent == .zero)
        #expect(triage.budget?.percent == 0)

        let budget = try #require(report.totals.budget)
        #expect(budget.budgetedRuns == 3)
        #expect(budget.budget == Money(string: "0.13")!)
        #expect(budget.spent == Money(string: "0.021936556789")!)
        #expect(budget.peakRunID == "b")
        #expect(report.json["budget"]?["utilisation_percent"] == "16.87")
        #expect(report.json["budget"]?["peak_utilisation_percent"] == "88.06")
    }

    @Test func groupingByDayUsesTheUTCDayEachRunStarted() async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let report = try await Self.report(j, by: .day)
        // now is 2026-11-03 12:00 UTC: a started 11:00 on the 3rd, b 10:00 on the 2nd, c on the 1st, d on 31 October.
        #expect(report.groups.map(\.key) == ["2026-10-31", "2026-11-01", "2026-11-02", "2026-11-03"])
        #expect(report.groups.map(\.runs) == [1, 1, 1, 1])
        #expect(report.groups[2].spent == Money(string: "0.017611")!)
        // The daily series covers the whole 7-day window, empty days included.
        #expect(report.days.first?.day == "2026-10-27")
        #expect(report.days.last?.day == "2026-11-03")
        #expect(report.days.count == 8)
        #expect(report.days.filter { !$0.spent.isZero }.map(\.day) == ["2026-11-01", "2026-11-02", "2026-11-03"])
        // A window too long to draw day by day starts at its first run.
        let long = try await Self.report(j, since: "2025-01-01", by: .day)
        #expect(long.days.first?.day == "2026-10-24")
    }

    @Test func groupingByStepKeysTheStepByItsWorkflow() async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let report = try await Self.report(j, by: .step)
        let keys = report.groups.map { "\($0.workflow ?? "?")/\($0.key)" }
        #expect(keys == ["brief/draft", "brief/outline", "triage/classify"])
        #expect(report.groups[0].runs == 2)
        #expect(report.groups[1].attempts == 3)
        #expect(report.groups[1].retries == 1)
    }

    @Test func groupingByStepAddsUpForEachItemsAndAnAgentsTurnsAndToolCalls() async throws {
        let j = try TestJournal.make()
        defer { j.remove() }
        for (run, offset) in [("r1", 2 * Self.hour), ("r2", Self.hour)] {
            let at = Self.now - offset
            try await j.run(run, workflow: "research", at: at)
            try await j.store.recordStep(StepRecord(runID: run, stepID: "researcher", type: .agent, status: .completed, startedAt: at, finishedAt: at),
                                         event: EventRecord(runID: run, stepID: "researcher", kind: .stepCompleted, at: at))
            try await j.attempt(run, "researcher/1", cost: "0.001", at: at)
            try await j.attempt(run, "researcher/1/fetch_page", model: nil, cost: "0", usage: nil, at: at + 1)
            try await j.attempt(run, "researcher/2", cost: "0.002", at: at + 2)
            try await j.attempt(run, "pages[0]/summarize", cost: "0.0001", at: at + 3)
            try await j.attempt(run, "pages[1]/summarize", cost: "0.0003", at: at + 4)
            try await j.attempt(run, "pages[10]/summarize", cost: "0.0002", at: at + 5)
        }
        let activity = try await j.store.activity(since: Self.now - Self.day)
        #expect(activity.agentSteps == ["r1": ["researcher"], "r2": ["researcher"]])
        let report = SpendReport(runs: activity.runs, attempts: activity.attempts, agentSteps: activity.agentSteps,
                                 since: Self.now - Self.day, until: Self.now, grouping: .step)
        #expect(report.groups.map(\.key) == ["researcher", "pages[]/summarize"])
        #expect(report.groups.map(\.spent) == [Money(string: "0.006")!, Money(string: "0.0012")!])
        #expect(report.groups.map(\.attempts) == [6, 6])
        #expect(report.groups.map(\.runs) == [2, 2])
        #expect(report.groups.map(\.spent).sum() == report.totals.spent)
        // The list of expensive steps names each agent once per run, and each item apart.
        #expect(report.topSteps.map(\.stepID) == ["researcher", "researcher", "pages[1]/summarize", "pages[1]/summarize",
                                                  "pages[10]/summarize", "pages[10]/summarize", "pages[0]/summarize", "pages[0]/summarize"])
        #expect(report.topSteps[0].cost == Money(string: "0.003")!)
        #expect(NestedStepID.asWritten("batch[2]/summaries[14]/llm") == "batch[]/summaries[]/llm")
        #expect(NestedStepID.asWritten("plain") == "plain")
    }

    @Test func sinceLeavesOutRunsStartedBeforeIt() async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let day = try await Self.report(j, since: "30h", by: .workflow)
        #expect(day.totals.runs == 2)
        #expect(day.totals.spent == (try await j.ledgerTotal(["a", "b"])))
        let all = try await Self.report(j, since: "2026-10-01", by: .workflow)
        #expect(all.totals.runs == 5)
        #expect(all.totals.spent == (try await j.ledgerTotal(["a", "b", "c", "d", "old"])))
        let none = try await Self.report(j, since: "30m", by: .model)
        #expect(none.totals.runs == 0)
        #expect(none.totals.spent == .zero)
        #expect(none.groups.isEmpty && none.days.isEmpty && none.topSteps.isEmpty)
        #expect(none.render(.table).contains("No runs started in this window"))
    }

    @Test func workflowFilterKeepsOnlyThatWorkflowsRuns() async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let triage = try await Self.report(j, workflow: "triage", by: .model)
        #expect(triage.totals.runs == 2)
        #expect(triage.groups.map(\.key) == ["gpt-4o-mini"])
        #expect(triage.totals.spent == (try await j.ledgerTotal(["c", "d"])))
        #expect(triage.json["workflow"] == "triage")
        let unknown = try await Self.report(j, workflow: "nope", by: .model)
        #expect(unknown.totals.runs == 0)
    }

    @Test func topStepsAreTheMostExpensiveFirstAndLimited() async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let report = try await Self.report(j, by: .model, top: 2)
        #expect(report.topSteps.map { "\($0.runID)/\($0.stepID)" } == ["b/draft", "a/draft"])
        #expect(report.topSteps[0].cost == Money(string: "0.0175")!)
        let all = try await Self.report(j, by: .model)
        #expect(all.topSteps.count == 5)
        #expect(all.topSteps.map(\.cost) == all.topSteps.map(\.cost).sorted(by: >))
    }

    @Test func cacheSavingsHasItsColumnAndIsZeroWhileNoCallIsServedFromACache() async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let report = try await Self.report(j, by: .model)
        #expect(report.totals.cacheSavings == .zero)
        #expect(report.json["totals"]?["cache_savings_usd"] == "0.000000")
        #expect(report.json["groups"]?[0]?["cache_savings_usd"] == "0.000000")
        #expect(report.render(.table).contains("cache saved (USD)"))
        #expect(report.render(.csv).split(separator: "\n").first?.contains("cache_savings_usd") == true)
    }

    @Test func everyFormatRendersTheGroupsAndTotals() async throws {
        let j = try await Self.journal()
        defer { j.remove() }
        let report = try await Self.report(j, by: .workflow)
        let table = report.render(.table)
        #expect(table.contains("by workflow"))
        #expect(table.contains("0.021967"))
        #expect(table.contains("Budget utilisation: 3 budgeted runs"))
        #expect(table.contains("Most expensive steps:"))
        let csv = report.render(.csv).split(separator: "\n")
        #expect(csv.count == 3)
        #expect(csv[1].hasPrefix("workflow,brief,,2,"))
        let markdown = report.render(.markdown)
        #expect(markdown.contains("| **total** |"))
        #expect(markdown.contains("|---|---:|"))
    }

    /// The read model is part of every journal store: an in-memory journal answers it too.
    @Test func anInMemoryJournalReadsItsActivity() async throws {
        let store = try SQLiteJournalStore.inMemory()
        try await store.createRun(RunRecord(id: "r1", workflowName: "brief", workflowPath: "brief.yaml", workflowSource: "", inputs: [:],
                                            budget: nil, createdAt: Date(timeIntervalSince1970: 10), updatedAt: Date(timeIntervalSince1970: 10)))
        #expect(try await store.activity(since: .distantPast).runs.map(\.id) == ["r1"])
    }
}
