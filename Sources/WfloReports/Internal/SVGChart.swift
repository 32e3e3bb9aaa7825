import Foundation
import WfloCore

/// Inline SVG charts for the HTML reports. Amounts are converted to `Double` only to place
/// pixels; every number printed on a chart comes from ``Money/dollars(decimals:)``.
enum SVGChart {
    static let width = 1000.0
    static let palette = ["#0969da", "#1a7f37", "#8250df", "#bf3989", "#bc4c00", "#0a7f86", "#9a6700", "#cf222e"]

    static func double(_ money: Money) -> Double {
        NSDecimalNumber(decimal: money.amount).doubleValue
    }

    static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    /// A label shortened to `limit` characters with an ellipsis (the full text is in the tooltip).
    static func clip(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    /// Horizontal bars, one per item, labelled on the left and valued on the right.
    /// - Parameter colors: one colour per item (e.g. by model, the same in every chart); the
    ///   palette in order when nil.
    static func horizontalBars(_ items: [(label: String, value: Money)], colors: [String]? = nil, accessibleName: String) -> String {
        guard !items.isEmpty else { return empty(accessibleName) }
        let labelWidth = 240.0, valueWidth = 120.0, rowHeight = 26.0, top = 8.0
        let barArea = width - labelWidth - valueWidth - 16
        let maximum = max(items.map { double($0.value) }.max() ?? 0, 0)
        let height = top * 2 + rowHeight * Double(items.count)
        var out = svgOpen(height: height, accessibleName: accessibleName)
        for (i, item) in items.enumerated() {
            let y = top + rowHeight * Double(i)
            let share = maximum > 0 ? max(double(item.value), 0) / maximum : 0
            let barWidth = max(share * barArea, item.value.isZero ? 0 : 1.5)
            let color = colors.flatMap { i < $0.count ? $0[i] : nil } ?? palette[i % palette.count]
            out += "<g><title>\(HTML.escape(item.label)): \(HTML.escape(item.value.dollars()))</title>"
            out += "<text x=\"\(format(labelWidth - 8))\" y=\"\(format(y + rowHeight / 2 + 4))\" text-anchor=\"end\">\(HTML.escape(clip(item.label, 34)))</text>"
            out += "<rect x=\"\(format(labelWidth))\" y=\"\(format(y + 4))\" width=\"\(format(barWidth))\" height=\"\(format(rowHeight - 8))\" rx=\"2\" fill=\"\(color)\"/>"
            out += "<text x=\"\(format(labelWidth + barWidth + 6))\" y=\"\(format(y + rowHeight / 2 + 4))\" class=\"muted\">\(HTML.escape(item.value.dollars()))</text></g>\n"
        }
        return out + "</svg>\n"
    }

    /// One row per step that ran: a bar from its start to its end on the run's clock (steps that
    /// overlap ran in parallel), coloured by how it ended, a tick at each retry, and a dashed span
    /// for each wait for a person.
    static func stepTimeline(_ steps: [RunReport.StepLine], approvals: [RunReport.ApprovalLine], start: Date, end: Date,
                             accessibleName: String) -> String {
        let ran = steps.filter { $0.startedAt != nil }
        guard !ran.isEmpty else { return empty(accessibleName) }
        let labelWidth = 200.0, right = 16.0, top = 8.0, rowHeight = 24.0, bottom = 40.0
        let plotWidth = width - labelWidth - right
        let last = max(ran.compactMap { ($0.endedAt ?? end).timeIntervalSince(start) }.max() ?? 0, 0.001)
        func x(_ date: Date) -> Double { labelWidth + max(0, min(date.timeIntervalSince(start), last)) / last * plotWidth }
        let colours = ["completed": "#1a7f37", "failed": "#cf222e", "skipped": "#8c959f", "rejected": "#bc4c00", "running": "#9a6700",
                       "waiting_approval": "#9a6700", "cancelled": "#8250df"]
        let height = top + rowHeight * Double(ran.count) + bottom
        var out = svgOpen(height: height, accessibleName: accessibleName)
        for (i, step) in ran.enumerated() {
            let y = top + rowHeight * Double(i)
            let from = x(step.startedAt!), to = max(x(step.endedAt ?? end), from + 2)
            let seconds = (step.endedAt ?? end).timeIntervalSince(step.startedAt!)
            out += "<g><title>\(HTML.escape("\(step.id): \(step.status), \(elapsed(seconds))\(step.retries > 0 ? ", \(step.retries) retr\(step.retries == 1 ? "y" : "ies")" : "")"))</title>"
            out += "<text x=\"\(format(labelWidth - 8))\" y=\"\(format(y + rowHeight / 2 + 4))\" text-anchor=\"end\">\(HTML.escape(clip(step.id, 28)))</text>"
            for approval in approvals where approval.stepID == step.id {
                let waitEnd = approval.decidedAt ?? end
                out += "<line x1=\"\(format(x(approval.requestedAt)))\" y1=\"\(format(y + rowHeight / 2))\" x2=\"\(format(x(waitEnd)))\" y2=\"\(format(y + rowHeight / 2))\" stroke=\"#9a6700\" stroke-width=\"2\" stroke-dasharray=\"3 3\"/>"
            }
            out += "<rect x=\"\(format(from))\" y=\"\(format(y + 5))\" width=\"\(format(to - from))\" height=\"\(format(rowHeight - 10))\" rx=\"2\" fill=\"\(colours[step.status] ?? palette[0])\"/>"
            for retry in step.retryStarts {
                out += "<line x1=\"\(format(x(retry)))\" y1=\"\(format(y + 2))\" x2=\"\(format(x(retry)))\" y2=\"\(format(y + rowHeight - 2))\" stroke=\"#24292f\" stroke-width=\"2\"/>"
            }
            out += "</g>\n"
        }
        let axisY = top + rowHeight * Double(ran.count)
        out += "<line x1=\"\(format(labelWidth))\" y1=\"\(format(axisY))\" x2=\"\(format(labelWidth + plotWidth))\" y2=\"\(format(axisY))\" class=\"axis\"/>\n"
        out += "<text x=\"\(format(labelWidth))\" y=\"\(format(axisY + 18))\" class=\"muted\">0 s</text>\n"
        out += "<text x=\"\(format(labelWidth + plotWidth))\" y=\"\(format(axisY + 18))\" text-anchor=\"end\" class=\"muted\">\(HTML.escape(elapsed(last)))</text>\n"
        out += "<text x=\"\(format(labelWidth + plotWidth / 2))\" y=\"\(format(axisY + 34))\" text-anchor=\"middle\" class=\"muted\">"
            + "time since the run started · green completed, red failed, grey skipped · black tick: a retry · dashed: waiting for a person</text>\n"
        return out + "</svg>\n"
    }

    /// Vertical bars over days (spend by day), with a money axis.
    static func dailyBars(_ days: [SpendReport.Day], accessibleName: String) -> String {
        guard !days.isEmpty else { return empty(accessibleName) }
        let left = 90.0, right = 16.0, top = 12.0, bottom = 40.0, plotHeight = 220.0
        let plotWidth = width - left - right
        let maximum = days.map { double($0.spent) }.max() ?? 0
        let axis = niceAxis(maximum)
        var out = svgOpen(height: top + plotHeight + bottom, accessibleName: accessibleName)
        out += yAxis(axis, left: left, top: top, plotWidth: plotWidth, plotHeight: plotHeight)
        let slot = plotWidth / Double(days.count)
        let barWidth = min(max(slot * 0.7, 1), 56)
        // At most ~12 date labels, whatever the window.
        let labelEvery = max(1, Int((Double(days.count) / 12).rounded(.up)))
        for (i, day) in days.enumerated() {
            let x = left + slot * Double(i) + (slot - barWidth) / 2
            let h = axis.top > 0 ? double(day.spent) / axis.top * plotHeight : 0
            let tip = "\(day.day): \(day.spent.dollars()), \(day.runs) run\(day.runs == 1 ? "" : "s")"
            out += "<g><title>\(HTML.escape(tip))</title><rect x=\"\(format(x))\" y=\"\(format(top + plotHeight - h))\" width=\"\(format(barWidth))\" height=\"\(format(h))\" fill=\"\(palette[0])\"/></g>\n"
            if i % labelEvery == 0 {
                out += "<text x=\"\(format(left + slot * (Double(i) + 0.5)))\" y=\"\(format(top + plotHeight + 18))\" text-anchor=\"middle\" class=\"muted\">\(HTML.escape(String(day.day.dropFirst(5))))</text>\n"
            }
        }
        out += "<text x=\"\(format(left + plotWidth / 2))\" y=\"\(format(top + plotHeight + 36))\" text-anchor=\"middle\" class=\"muted\">day (UTC) the run started</text>\n"
        return out + "</svg>\n"
    }

    /// One line per series over the same days (spend per budget scope per day), a dot on every
    /// day with spend, a legend above. Series beyond the palette are not drawn (callers pass the top ones).
    static func dailyLines(_ series: [(label: String, days: [SpendReport.Day])], accessibleName: String) -> String {
        let series = Array(series.prefix(palette.count))
        guard let dayCount = series.map(\.days.count).max(), dayCount > 0 else { return empty(accessibleName) }
        let left = 90.0, right = 16.0, legend = 24.0, top = 12.0 + legend, bottom = 40.0, plotHeight = 220.0
        let plotWidth = width - left - right
        let axis = niceAxis(series.flatMap { $0.days.map { double($0.spent) } }.max() ?? 0)
        let slot = plotWidth / Double(dayCount)
        func x(_ i: Int) -> Double { left + slot * (Double(i) + 0.5) }
        func y(_ value: Double) -> Double { top + plotHeight - (axis.top > 0 ? value / axis.top * plotHeight : 0) }
        var out = svgOpen(height: top + plotHeight + bottom, accessibleName: accessibleName)
        out += yAxis(axis, left: left, top: top, plotWidth: plotWidth, plotHeight: plotHeight)
        var legendX = left
        for (n, line) in series.enumerated() {
            let color = palette[n]
            out += "<rect x=\"\(format(legendX))\" y=\"6\" width=\"12\" height=\"12\" rx=\"2\" fill=\"\(color)\"/>"
            out += "<text x=\"\(format(legendX + 16))\" y=\"16\">\(HTML.escape(clip(line.label, 24)))</text>\n"
            legendX += 16 + 7.5 * Double(min(line.label.count, 24)) + 20
            let points = line.days.enumerated().map { (x($0.offset), y(double($0.element.spent))) }
            out += "<polyline points=\"\(points.map { "\(format($0.0)),\(format($0.1))" }.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\"/>\n"
            for (i, day) in line.days.enumerated() where !day.spent.isZero {
                let tip = "\(line.label) \(day.day): \(day.spent.dollars()), \(day.runs) run\(day.runs == 1 ? "" : "s")"
                out += "<g><title>\(HTML.escape(tip))</title><circle cx=\"\(format(x(i)))\" cy=\"\(format(y(double(day.spent))))\" r=\"3.5\" fill=\"\(color)\"/></g>\n"
            }
        }
        let labels = series.first { $0.days.count == dayCount }?.days ?? []
        let labelEvery = max(1, Int((Double(dayCount) / 12).rounded(.up)))
        for (i, day) in labels.enumerated() where i % labelEvery == 0 {
            out += "<text x=\"\(format(x(i)))\" y=\"\(format(top + plotHeight + 18))\" text-anchor=\"middle\" class=\"muted\">\(HTML.escape(String(day.day.dropFirst(5))))</text>\n"
        }
        out += "<text x=\"\(format(left + plotWidth / 2))\" y=\"\(format(top + plotHeight + 36))\" text-anchor=\"middle\" class=\"muted\">day (UTC) the run started</text>\n"
        return out + "</svg>\n"
    }

    /// Cumulative spend as a step line over the run's elapsed time, with the budget as a
    /// dashed line when there is one.
    static func cumulative(_ points: [RunReport.SpendPoint], start: Date, budget: Money?, accessibleName: String) -> String {
        guard !points.isEmpty else { return empty(accessibleName) }
        let left = 90.0, right = 24.0, top = 16.0, bottom = 40.0, plotHeight = 240.0
        let plotWidth = width - left - right
        let total = points.last.map { double($0.cumulative) } ?? 0
        // Scaled to what was spent, so a run that used 1% of its budget is not a flat line at $0;
        // the budget line is drawn when it is in range (spend at least a quarter of it).
        let budgetInRange = budget.map { total > 0 && double($0) <= total * 4 } ?? false
        let axis = niceAxis(budgetInRange ? max(total, budget.map(double) ?? 0) : total)
        let end = points.map { $0.at.timeIntervalSince(start) }.max() ?? 0
        // A run that took under a second (a replay) is drawn charge by charge, evenly spaced.
        let byOrder = end < 1
        func x(_ index: Int, _ date: Date) -> Double {
            byOrder ? left + Double(index + 1) / Double(points.count) * plotWidth
                    : left + max(0, date.timeIntervalSince(start)) / end * plotWidth
        }
        func y(_ value: Double) -> Double { top + plotHeight - (axis.top > 0 ? value / axis.top * plotHeight : 0) }
        var out = svgOpen(height: top + plotHeight + bottom, accessibleName: accessibleName)
        out += yAxis(axis, left: left, top: top, plotWidth: plotWidth, plotHeight: plotHeight)
        var path = "M\(format(left)),\(format(y(0)))"
        var dots = ""
        for (index, point) in points.enumerated() {
            let px = x(index, point.at), py = y(double(point.cumulative))
            path += " H\(format(px)) V\(format(py))"
            dots += "<g><title>\(HTML.escape("\(point.stepID): +\(point.charged.dollars()) → \(point.cumulative.dollars())"))</title><circle cx=\"\(format(px))\" cy=\"\(format(py))\" r=\"3.5\" fill=\"\(palette[0])\"/></g>\n"
        }
        path += " H\(format(left + plotWidth))"
        out += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(palette[0])\" stroke-width=\"2\"/>\n" + dots
        if let budget, !budgetInRange {
            let share = total > 0 ? String(format: " (%.1f%% of it spent)", total / max(double(budget), .leastNonzeroMagnitude) * 100) : ""
            out += "<text x=\"\(format(left + plotWidth - 4))\" y=\"\(format(top + 12))\" text-anchor=\"end\" fill=\"#cf222e\">budget \(HTML.escape(budget.dollars())) is off the scale\(share)</text>\n"
        } else if let budget {
            let by = y(double(budget))
            out += "<line x1=\"\(format(left))\" y1=\"\(format(by))\" x2=\"\(format(left + plotWidth))\" y2=\"\(format(by))\" stroke=\"#cf222e\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n"
            out += "<text x=\"\(format(left + plotWidth - 4))\" y=\"\(format(by - 6))\" text-anchor=\"end\" fill=\"#cf222e\">budget \(HTML.escape(budget.dollars()))</text>\n"
        }
        out += "<text x=\"\(format(left))\" y=\"\(format(top + plotHeight + 18))\" class=\"muted\">\(byOrder ? "start" : "0 s")</text>\n"
        out += "<text x=\"\(format(left + plotWidth))\" y=\"\(format(top + plotHeight + 18))\" text-anchor=\"end\" class=\"muted\">\(HTML.escape(byOrder ? "charge \(points.count)" : elapsed(end)))</text>\n"
        let caption = byOrder ? "charges in the order they landed (the run took under a second)" : "time since the run started"
        out += "<text x=\"\(format(left + plotWidth / 2))\" y=\"\(format(top + plotHeight + 36))\" text-anchor=\"middle\" class=\"muted\">\(caption)</text>\n"
        return out + "</svg>\n"
    }

    static func elapsed(_ seconds: Double) -> String {
        if seconds < 1 { return String(format: "%.0f ms", seconds * 1000) }
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        if seconds < 7_200 { return String(format: "%.1f min", seconds / 60) }
        return String(format: "%.1f h", seconds / 3_600)
    }

    /// An axis from 0 to a round number above `maximum`, in four steps.
    struct Axis {
        var top: Double
        var step: Double
        var decimals: Int
    }

    static func niceAxis(_ maximum: Double) -> Axis {
        guard maximum > 0, maximum.isFinite else { return Axis(top: 1, step: 0.25, decimals: 2) }
        let rough = maximum / 4
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let decimals = max(2, min(8, Int(-floor(log10(step))) + 1))
        return Axis(top: step * 4, step: step, decimals: decimals)
    }

    private static func yAxis(_ axis: Axis, left: Double, top: Double, plotWidth: Double, plotHeight: Double) -> String {
        var out = ""
        for i in 0...4 {
            let value = axis.step * Double(i)
            let y = top + plotHeight - value / axis.top * plotHeight
            out += "<line x1=\"\(format(left))\" y1=\"\(format(y))\" x2=\"\(format(left + plotWidth))\" y2=\"\(format(y))\" class=\"\(i == 0 ? "axis" : "grid")\"/>"
            out += "<text x=\"\(format(left - 8))\" y=\"\(format(y + 4))\" text-anchor=\"end\" class=\"muted\">$\(String(format: "%.\(axis.decimals)f", value))</text>\n"
        }
        return out
    }

    private static func svgOpen(height: Double, accessibleName: String) -> String {
        "<svg viewBox=\"0 0 \(format(width)) \(format(height))\" role=\"img\" aria-label=\"\(HTML.escape(accessibleName))\" preserveAspectRatio=\"xMinYMin meet\">\n"
    }

    private static func empty(_ accessibleName: String) -> String {
        svgOpen(height: 40, accessibleName: accessibleName)
            + "<text x=\"8\" y=\"24\" class=\"muted\">Nothing was charged.</text>\n</svg>\n"
    }
}
