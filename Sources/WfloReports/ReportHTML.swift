import Foundation
import WfloCore

/// The reports' HTML pieces for pages built elsewhere (the server's dashboard): the same
/// escaping, styles, tiles, tables and charts as `wflo report --format html`, so both look alike.
public enum ReportHTML {
    /// Escapes text for element content and attribute values.
    public static func escape(_ text: String) -> String { HTML.escape(text) }
    /// The reports' stylesheet.
    public static var css: String { HTML.css }
    /// Summary tiles (label, value), escaped here.
    public static func tiles(_ items: [(String, String)]) -> String { HTML.tiles(items) }
    /// A table, every cell escaped here; `numeric` columns right-aligned.
    public static func table(header: [String], rows: [[String]], numeric: Set<Int> = []) -> String {
        HTML.table(header: header, rows: rows, numeric: numeric)
    }
}

extension RunReport {
    /// The run page's charts: cumulative spend against the budget (at most `maxPoints` points,
    /// evenly picked, the last always kept) and the timeline of `steps` (a page of them) with
    /// retries and waits for people.
    public func dashboardCharts(steps shown: [StepLine], maxPoints: Int = 400) -> String {
        var points = timeline
        if points.count > maxPoints, maxPoints > 1 {
            let stride = Double(points.count - 1) / Double(maxPoints - 1)
            points = (0..<maxPoints).map { timeline[Int((Double($0) * stride).rounded())] }
        }
        var out = "<div class=\"charts\">\n"
        out += HTML.figure(budget == nil ? "Cumulative spend (no budget)" : "Cumulative spend against the budget",
                           SVGChart.cumulative(points, start: createdAt, budget: budget, accessibleName: "cumulative spend"))
        let shownIDs = Set(shown.map(\.id))
        out += HTML.figure("Step timeline", SVGChart.stepTimeline(shown, approvals: approvals.filter { shownIDs.contains($0.stepID) },
                                                                 start: createdAt, end: updatedAt, accessibleName: "step timeline"))
        return out + "</div>\n"
    }
}

extension SpendReport {
    /// The HTML report's body (tiles, charts, tables) without the page around it.
    public var htmlBody: String { htmlContent() }
}
