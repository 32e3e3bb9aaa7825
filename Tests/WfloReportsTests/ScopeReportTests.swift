import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import WfloCore
import WfloReports

/// `wflo report --since D --by scope` and the per-scope spend over time of the HTML report: a run
/// counts in every budget scope whose match its tags satisfy.
@Suite(.timeLimit(.minutes(1)))
struct ScopeReportTests {
    static let now = Date.testNow
    static let day = 86_400.0

    /// Four runs on three days with tags: a (team=research, customer=acme), b (team=research),
    /// c (no tags), d (customer=acme, nothing spent).
    static func activity() async throws -> (TestJournal, RunsActivity) {
        let j = try TestJournal.make()
        try await j.run("a", at: now - 3_600)
        try await j.attempt("a", "outline", cost: "0.25", at: now - 3_600)
        try await j.attempt("a", "draft", model: "claude-haiku-4-5", cost: "0.0042", at: now - 3_500)
        try await j.run("b", at: now - 2 * day)
        try await j.attempt("b", "outline", cost: "1.5", at: now - 2 * day)
        try await j.run("c", at: now - 2 * day + 60)
        try await j.attempt("c", "outline", cost: "0.000001", at: now - 2 * day + 60)
        try await j.run("d", workflow: "triage", at: now - 4 * day)
        var activity = try await j.store.activity(since: now - 7 * day)
        let tags: [String: [String: String]] = ["a": ["team": "research", "customer": "acme"], "b": ["team": "research"],
                                                "d": ["customer": "acme"]]
        for i in activity.runs.indices { activity.runs[i].tags = tags[activity.runs[i].id] ?? [:] }
        return (j, activity)
    }

    static let research = BudgetScope(name: "research", limit: Money(50), period: .day, match: ["team": "research"], createdAt: now - 30 * day)
    static let acme = BudgetScope(name: "acme", limit: Money(200), period: .month, match: ["customer": "acme"], createdAt: now - 30 * day)
    static let everything = BudgetScope(name: "all-runs", limit: Money(1_000), createdAt: now - 30 * day)

    static func report(_ activity: RunsActivity, scopes: [BudgetScope]) -> SpendReport {
        SpendReport(runs: activity.runs, attempts: activity.attempts, since: now - 7 * day, until: now, grouping: .scope, scopes: scopes)
    }

    @Test func aRunCountsInEveryScopeItsTagsMatchAndUnscopedRunsAreGroupedApart() async throws {
        let (j, activity) = try await Self.activity()
        defer { j.remove() }
        let report = Self.report(activity, scopes: [Self.research, Self.acme])
        let groups = Dictionary(uniqueKeysWithValues: report.groups.map { ($0.key, $0) })
        #expect(Set(groups.keys) == ["research", "acme", SpendReport.noScope])
        #expect(groups["research"]?.spent == Money(string: "1.7542")!)
        #expect(groups["research"]?.runs == 2)
        #expect(groups["acme"]?.spent == Money(string: "0.2542")!)
        #expect(groups["acme"]?.runs == 2)  // d matched, and spent nothing
        #expect(groups[SpendReport.noScope]?.spent == Money(string: "0.000001")!)
        #expect(groups[SpendReport.noScope]?.runs == 1)
        #expect(report.totals.spent == Money(string: "1.754201")!)
        // Run a is in two scopes: the groups add up to more than the total, by exactly a's spend.
        #expect(report.groups.map(\.spent).sum() == report.totals.spent + Money(string: "0.2542")!)
        #expect(report.groups.first?.key == "research")  // most expensive first
    }

    @Test func aScopeWithoutMatchHoldsEveryRun() async throws {
        let (j, activity) = try await Self.activity()
        defer { j.remove() }
        let report = Self.report(activity, scopes: [Self.everything])
        #expect(report.groups.map(\.key) == ["all-runs"])
        #expect(report.groups.first?.spent == report.totals.spent)
        #expect(report.groups.first?.runs == 4)
    }

    @Test func eachScopeHasItsSpendPerDayOverTheWholeWindow() async throws {
        let (j, activity) = try await Self.activity()
        defer { j.remove() }
        let report = Self.report(activity, scopes: [Self.research, Self.acme])
        #expect(report.scopeSeries.map(\.scope) == ["acme", "research"])
        for series in report.scopeSeries {
            #expect(series.days.map(\.day) == report.days.map(\.day), "the series line up with the report's days")
            #expect(series.days.map(\.spent).sum() == series.spent)
        }
        let research = try #require(report.scopeSeries.last)
        #expect(research.days.filter { !$0.spent.isZero }.map(\.spent) == [Money(string: "1.5")!, Money(string: "0.2542")!])
        #expect(research.limit == Money(50) && research.period == .day)

        let json = report.json
        #expect(json["by"] == "scope")
        let scopes = try #require(json["scopes"]?.arrayValue)
        #expect(scopes.map { $0["scope"]?.stringValue } == ["acme", "research"])
        #expect(scopes.last?["spent_usd"] == "1.754200")
        #expect(scopes.last?["limit_usd"] == "50.000000")
        #expect(scopes.last?["period"] == "day")
    }

    @Test(arguments: [ReportFormat.table, .csv, .markdown])
    func everyFormatListsTheScopes(format: ReportFormat) async throws {
        let (j, activity) = try await Self.activity()
        defer { j.remove() }
        let text = Self.report(activity, scopes: [Self.research, Self.acme]).render(format)
        #expect(text.contains("research") && text.contains("acme") && text.contains(SpendReport.noScope))
        if format == .csv { #expect(text.contains("scope,research,,2,")) }
    }

    @Test func theHTMLReportDrawsSpendPerScopePerDay() async throws {
        let (j, activity) = try await Self.activity()
        defer { j.remove() }
        let hostile = BudgetScope(name: "<b>&x", limit: Money(5), match: ["team": "research"], createdAt: Self.now)
        for grouping in SpendReport.Grouping.allCases {
            let report = SpendReport(runs: activity.runs, attempts: activity.attempts, since: Self.now - 7 * Self.day, until: Self.now,
                                     grouping: grouping, scopes: [Self.research, Self.acme, hostile])
            let html = report.render(.html)
            // The daily chart, the groups' chart (not by day) and the scopes' lines.
            HTMLReportTests.expectSelfContainedAndEscaped(html, svgCount: grouping == .day ? 2 : 3)
            #expect(html.contains("Spend by budget scope per day"))
            #expect(html.contains("&lt;b&gt;&amp;x"))
            #expect(!html.contains("<b>&x"))
            #expect(html.components(separatedBy: "<polyline").count - 1 == 3)
            #expect(html.contains("1.500000 (\(SpendReportDay.utc(Self.now - 2 * Self.day)))"), "busiest day of research")
        }
        // Without scopes the page has no scope section.
        let plain = SpendReport(runs: activity.runs, attempts: activity.attempts, since: Self.now - 7 * Self.day, until: Self.now, grouping: .model)
        #expect(!plain.render(.html).contains("budget scope"))
    }
}

enum SpendReportDay {
    static func utc(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }
}
