import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import WfloCore
import WfloReports
import WfloStore

/// The HTML reports are one self-contained, well-formed page with escaped user text.
@Suite(.timeLimit(.minutes(1)))
struct HTMLReportTests {
    static let hostileStep = "<script>alert('x')</script>"
    static let hostileModel = "m&<img src=x onerror=alert(1)>"

    static func hostileJournal() async throws -> TestJournal {
        let j = try TestJournal.make()
        let t = Date.testNow
        try await j.run("r<1>", workflow: "w\"&<b>", at: t, budget: Money(string: "0.02")!, status: .failed)
        try await j.attempt("r<1>", hostileStep, model: hostileModel, cost: "0.0031", at: t)
        try await j.attempt("r<1>", "plain", number: 1, cost: "0.0002", succeeded: false, final: false, at: t.addingTimeInterval(3))
        try await j.attempt("r<1>", "plain", number: 2, cost: "0.0007", at: t.addingTimeInterval(5))
        try await j.attempt("r<1>", "late", reserve: "0.004", cost: nil, at: t.addingTimeInterval(8))
        _ = try await j.store.markInFlightUnsettled(runID: "r<1>", at: t.addingTimeInterval(9))
        try await j.store.updateRun(id: "r<1>", status: .failed, outputs: nil, error: "provider said <b>\"no\"</b> & stopped",
                                    at: t.addingTimeInterval(10))
        return j
    }

    static func expectSelfContainedAndEscaped(_ html: String, svgCount: Int) {
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 == svgCount)
        #expect(!html.contains("http://"))
        #expect(!html.contains("https://"))
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("<img"))
        #expect(!html.contains("<link"))
        #expect(!html.contains("<iframe"))
        #expect(!html.contains("@import"))
        #expect(!html.contains("url("))
        // Well-formed: a strict XML parser reads the whole page.
        let parser = XMLParser(data: Data(html.utf8))
        #expect(parser.parse(), "not well-formed: \(String(describing: parser.parserError)) at line \(parser.lineNumber)")
    }

    @Test func runReportIsOnePageWithFourChartsAndEscapedUserText() async throws {
        let j = try await Self.hostileJournal()
        defer { j.remove() }
        let report = RunReport(journal: try await j.store.journal(runID: "r<1>"))
        let html = report.render(.html)
        Self.expectSelfContainedAndEscaped(html, svgCount: 4)
        // The timeline: one row per step, the retried step with its retry.
        #expect(html.contains("Step timeline"))
        #expect(html.contains("plain: completed,") && html.contains(", 1 retry</title>"), "\(html)")
        // Bar colours mean models: plain and late (both gpt-4o-mini) share one, the other model has another.
        func barColor(_ label: String) -> String? {
            guard let title = html.range(of: "<title>\(label): $"),
                  let fill = html.range(of: "fill=\"", range: title.upperBound..<html.endIndex) else { return nil }
            return String(html[fill.upperBound...].prefix(7))
        }
        let plain = try #require(barColor("plain")), late = try #require(barColor("late"))
        #expect(plain == late)
        #expect(barColor("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") != plain)
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        #expect(html.contains("<td class=\"wrap\">m&amp;&lt;img src=x onerror=alert(1)&gt;</td>"))
        #expect(html.contains("provider said &lt;b&gt;&quot;no&quot;&lt;/b&gt; &amp; stopped"))
        #expect(html.contains("w&quot;&amp;&lt;b&gt;"))
        #expect(html.contains("budget $0.020000"))
        #expect(html.contains("Unsettled attempts"))
        #expect(html.contains(report.spent.formatted(decimals: 6)))
    }

    /// A run that spent a small part of its budget is drawn at the scale of its spend, not as a
    /// flat line at $0 under a budget line far above.
    @Test func cumulativeSpendIsScaledToWhatWasSpent() async throws {
        let j = try TestJournal.make()
        defer { j.remove() }
        let t = Date.testNow
        try await j.run("r2", workflow: "w", at: t, budget: Money(string: "10")!, status: .completed)
        try await j.attempt("r2", "a", model: "m", cost: "0.003", at: t)
        try await j.attempt("r2", "b", model: "m", cost: "0.005", at: t.addingTimeInterval(2))
        let html = RunReport(journal: try await j.store.journal(runID: "r2")).render(.html)
        Self.expectSelfContainedAndEscaped(html, svgCount: 4)
        #expect(html.contains("budget $10.000000 is off the scale (0.1% of it spent)"), "\(html)")
        #expect(!html.contains("stroke-dasharray=\"6 4\""), "no budget line drawn at the bottom of the chart")
        // The axis tops out just above the spend ($0.008), not at the budget.
        #expect(!html.contains(">$10.00<"))
        #expect(html.range(of: #">\$0\.0(080|100)<"#, options: .regularExpression) != nil, "\(html)")
    }

    @Test func spendReportIsOnePageWithTheDailyChartAndTheGroupsChart() async throws {
        let j = try await Self.hostileJournal()
        defer { j.remove() }
        for grouping in SpendReport.Grouping.allCases {
            let activity = try await j.store.activity(since: Date.testNow.addingTimeInterval(-7 * 86_400))
            let report = SpendReport(runs: activity.runs, attempts: activity.attempts, since: Date.testNow.addingTimeInterval(-7 * 86_400),
                                     until: Date.testNow.addingTimeInterval(60), grouping: grouping)
            let html = report.render(.html)
            // By day, the daily chart is the groups' chart; otherwise a second chart shows the groups.
            Self.expectSelfContainedAndEscaped(html, svgCount: grouping == .day ? 1 : 2)
            #expect(html.contains("Spend by day"))
            #expect(html.contains("cache savings (USD)"))
            #expect(html.contains(report.totals.spent.formatted(decimals: 6)))
            if grouping == .step { #expect(html.contains("&lt;script&gt;")) }
        }
    }

    @Test func anEmptyWindowStillRendersAValidPage() {
        let report = SpendReport(runs: [], attempts: [], since: Date.testNow.addingTimeInterval(-3_600), until: Date.testNow,
                                 workflow: "<none>", grouping: .day)
        let html = report.render(.html)
        Self.expectSelfContainedAndEscaped(html, svgCount: 1)
        #expect(html.contains("No runs started in this window for workflow &lt;none&gt;"))
    }
}
