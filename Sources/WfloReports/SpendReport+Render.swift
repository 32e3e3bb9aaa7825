import Foundation
import WfloCore

extension SpendReport {
    /// Renders the report. Tables, Markdown and HTML round money to 6 decimals (half-to-even)
    /// and say so; JSON and CSV carry exact decimal strings (keys in `docs/report-json.md`).
    public func render(_ format: ReportFormat) -> String {
        switch format {
        case .table: return table()
        case .json: return json.encoded(sorted: true, pretty: true) + "\n"
        case .csv: return csv()
        case .markdown: return markdown()
        case .html: return html()
        }
    }

    /// The report as JSON; money as exact decimal strings in USD, percentages as decimal
    /// strings rounded half-to-even to 2 places.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "currency": "USD",
            "since": .string(RunReport.iso(since)),
            "until": .string(RunReport.iso(until)),
            "workflow": workflow.map { .string($0) } ?? .null,
            "by": .string(grouping.rawValue),
            "runs": .int(totals.runs),
            "runs_by_status": .object(runsByStatus.mapValues { .int($0) }),
            "totals": totals.json(total: totals.spent),
            "groups": .array(groups.map { $0.json(total: totals.spent) }),
            "top_steps": .array(topSteps.map(\.json)),
            "days": .array(days.map(\.json)),
            "scopes": .array(scopeSeries.map { series in
                ["scope": .string(series.scope), "limit_usd": .string(series.limit.exact()), "period": .string(series.period.rawValue),
                 "runs": .int(series.runs), "spent_usd": .string(series.spent.exact()), "days": .array(series.days.map(\.json))]
            }),
        ]
        object["budget"] = (totals.budget ?? .empty).json
        return .object(object)
    }

    /// A percentage for JSON: a decimal string rounded half-to-even to 2 places, or null.
    static func percentJSON(_ value: Decimal?) -> JSONValue {
        value.map { .string(Money($0).formatted(decimals: 2)) } ?? .null
    }

    var header: String {
        "Spend since \(RunReport.iso(since)) until \(RunReport.iso(until)) · "
            + (workflow.map { "workflow \($0)" } ?? "all workflows") + " · by \(grouping.rawValue)"
    }

    var statusText: String {
        runsByStatus.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    var budgetText: String {
        let budget = totals.budget ?? .empty
        guard budget.budgetedRuns > 0 else { return "No run in the window had a budget" }
        var text = "Budget utilisation: \(budget.budgetedRuns) budgeted run\(budget.budgetedRuns == 1 ? "" : "s") spent \(budget.spent.dollars()) of \(budget.budget.dollars())"
        if let percent = budget.percent { text += " (\(RunReport.percentText(percent)))" }
        if let peak = budget.peakPercent, let run = budget.peakRunID { text += "; peak \(RunReport.percentText(peak)) (run \(run))" }
        return text
    }

    /// The column headers naming a group: the key, and the workflow when grouped by step.
    var keyHeader: [String] { grouping == .step ? ["step", "workflow"] : [grouping.rawValue] }

    func keyCells(_ group: Group) -> [String] {
        grouping == .step ? [group.key, group.workflow ?? ""] : [group.key]
    }

    /// The grouped table's rows as text, money rounded to 6 decimals; the totals row last.
    func groupRows() -> (header: [String], rows: [[String]], numeric: Set<Int>) {
        let runLevel = grouping == .workflow || grouping == .day || grouping == .scope
        var header = keyHeader + ["runs", "calls", "input", "output", "cost (USD)", "share", "cache saved (USD)"]
        if runLevel { header.append("budget used") }
        func cells(_ g: Group) -> [String] {
            var row = [String(g.runs), String(g.calls), String(g.usage.inputTokens), String(g.usage.outputTokens),
                       g.spent.formatted(decimals: 6),
                       g.spent.percent(of: totals.spent).map(RunReport.percentText) ?? "-",
                       g.cacheSavings.formatted(decimals: 6)]
            if runLevel { row.append(g.budget?.percent.map(RunReport.percentText) ?? "-") }
            return row
        }
        var rows = groups.map { keyCells($0) + cells($0) }
        rows.append((grouping == .step ? ["total", ""] : ["total"]) + cells(totals))
        return (header, rows, Set(keyHeader.count..<header.count))
    }

    func topRows() -> (header: [String], rows: [[String]], numeric: Set<Int>) {
        (["run", "workflow", "step", "model", "attempts", "cost (USD)"],
         topSteps.map { [$0.runID, $0.workflow, $0.stepID, $0.model ?? "-", String($0.attempts), $0.cost.formatted(decimals: 6)] },
         [4, 5])
    }

    private func table() -> String {
        var out = header + "\n"
        out += "Runs \(totals.runs)" + (totals.runs > 0 ? " (\(statusText))" : "") + " · spent \(totals.spent.dollars())"
            + " · unsettled \(totals.unsettled.dollars()) · cache savings \(totals.cacheSavings.dollars())\n"
        out += budgetText + "\n"
        out += "Calls \(totals.calls) · attempts \(totals.attempts) · retries \(totals.retries) · failed attempts \(totals.failedAttempts) costing \(totals.failedCost.dollars())\n"
        let u = totals.usage
        out += "Tokens: input \(u.inputTokens) · cached \(u.cachedInputTokens) · cache write \(u.cacheWriteTokens + u.cacheWrite1hTokens) · output \(u.outputTokens) · reasoning \(u.reasoningTokens)\n"
        guard totals.runs > 0 else {
            return out + "\nNo runs started in this window" + (workflow.map { " for workflow \($0)" } ?? "") + "; `wflo runs` lists the runs.\n"
        }
        out += "\n"
        let g = groupRows()
        out += TextTable(header: g.header, rows: g.rows, rightAligned: g.numeric).render(separatorBefore: g.rows.count - 1)
        if !topSteps.isEmpty {
            out += "\nMost expensive steps:\n"
            let t = topRows()
            out += TextTable(header: t.header, rows: t.rows, rightAligned: t.numeric).render(separatorBefore: nil)
        }
        if grouping == .scope { out += "\n" + SpendReport.scopeNote + "\n" }
        out += "\nAmounts in USD, rounded half-to-even to 6 decimals; days in UTC; --format json gives exact values.\n"
        return out
    }

    private func csv() -> String {
        var lines = ["by,key,workflow,runs,calls,attempts,retries,failed_attempts,failed_cost_usd,input_tokens,cached_input_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,spent_usd,unsettled_usd,cache_savings_usd,budget_usd,budget_utilisation_percent"]
        for g in groups {
            let u = g.usage
            let fields = [grouping.rawValue, g.key, g.workflow ?? "", String(g.runs), String(g.calls), String(g.attempts), String(g.retries),
                          String(g.failedAttempts), g.failedCost.exact(), String(u.inputTokens), String(u.cachedInputTokens),
                          String(u.cacheWriteTokens), String(u.cacheWrite1hTokens), String(u.outputTokens), String(u.reasoningTokens),
                          g.spent.exact(), g.unsettled.exact(), g.cacheSavings.exact(),
                          g.budget.map { $0.budget.exact() } ?? "", g.budget?.percent.map { Money($0).formatted(decimals: 2) } ?? ""]
            lines.append(fields.map(RunReport.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func markdown() -> String {
        var out = "# Spend by \(grouping.rawValue)\n\n"
        out += "- Window: \(RunReport.iso(since)) to \(RunReport.iso(until))" + (workflow.map { " · workflow `\(RunReport.markdownCell($0))`" } ?? " · all workflows") + "\n"
        out += "- Runs: \(totals.runs)" + (totals.runs > 0 ? " (\(statusText))" : "") + "\n"
        out += "- Spent: **\(totals.spent.dollars())** · Unsettled: \(totals.unsettled.dollars()) · Cache savings: \(totals.cacheSavings.dollars())\n"
        out += "- \(budgetText)\n"
        out += "- Calls: \(totals.calls) · Attempts: \(totals.attempts) · Retries: \(totals.retries) · Failed attempts: \(totals.failedAttempts) costing \(totals.failedCost.dollars())\n"
        let g = groupRows()
        out += "\n" + SpendReport.markdownTable(g.header, g.rows, g.numeric, boldLast: true)
        if !topSteps.isEmpty {
            let t = topRows()
            out += "\n## Most expensive steps\n\n" + SpendReport.markdownTable(t.header, t.rows, t.numeric, boldLast: false)
        }
        if grouping == .scope { out += "\n" + SpendReport.scopeNote + "\n" }
        out += "\nAmounts in USD, rounded half-to-even to 6 decimals; days in UTC.\n"
        return out
    }

    static func markdownTable(_ header: [String], _ rows: [[String]], _ numeric: Set<Int>, boldLast: Bool) -> String {
        var out = "| " + header.joined(separator: " | ") + " |\n"
        out += "|" + header.indices.map { numeric.contains($0) ? "---:" : "---" }.joined(separator: "|") + "|\n"
        for (i, row) in rows.enumerated() {
            let bold = boldLast && i == rows.count - 1
            out += "| " + row.map { cell in
                let text = RunReport.markdownCell(cell)
                return bold && !text.isEmpty ? "**\(text)**" : text
            }.joined(separator: " | ") + " |\n"
        }
        return out
    }

    private func html() -> String {
        HTML.document(title: "wflo spend by \(grouping.rawValue)", body: htmlContent())
    }

    func htmlContent() -> String {
        var body = "<h1>Spend by " + HTML.escape(grouping.rawValue) + "</h1>\n"
        body += "<p class=\"sub\">" + HTML.escape(RunReport.iso(since)) + " to " + HTML.escape(RunReport.iso(until)) + " · "
            + HTML.escape(workflow.map { "workflow \($0)" } ?? "all workflows") + "</p>\n"
        let budget = totals.budget ?? .empty
        body += HTML.tiles([
            ("spent (USD)", totals.spent.dollars()), ("runs", String(totals.runs)), ("calls", String(totals.calls)),
            ("tokens in / out", "\(totals.usage.inputTokens) / \(totals.usage.outputTokens)"),
            ("budget used", budget.percent.map(RunReport.percentText) ?? "-"),
            ("unsettled (USD)", totals.unsettled.dollars()), ("cache savings (USD)", totals.cacheSavings.dollars()),
            ("retries", "\(totals.retries) · failed \(totals.failedCost.dollars())"),
        ])
        body += "<p>" + HTML.escape(budgetText) + (totals.runs > 0 ? ". Runs: " + HTML.escape(statusText) + "." : "") + "</p>\n"
        if totals.runs == 0 {
            body += "<div class=\"warn\">No runs started in this window" + HTML.escape(workflow.map { " for workflow \($0)" } ?? "") + ".</div>\n"
        }
        body += "<div class=\"charts\">\n"
        body += HTML.figure("Spend by day", SVGChart.dailyBars(days, accessibleName: "spend by day"))
        // Grouped by day, the daily chart above already is the chart of the groups.
        if grouping != .day {
            let shown = groups.filter { !$0.spent.isZero }.prefix(20)
            let caption = "Spend by \(grouping.rawValue)" + (groups.count > shown.count ? " (top \(shown.count) of \(groups.count))" : "")
            body += HTML.figure(caption, SVGChart.horizontalBars(shown.map { g in
                (grouping == .step ? "\(g.workflow ?? "") / \(g.key)" : g.key, g.spent)
            }, accessibleName: "spend by \(grouping.rawValue)"))
        }
        if !scopeSeries.isEmpty {
            let shown = scopeSeries.sorted { $0.spent != $1.spent ? $0.spent > $1.spent : $0.scope < $1.scope }.prefix(SVGChart.palette.count)
            let caption = "Spend by budget scope per day" + (scopeSeries.count > shown.count ? " (top \(shown.count) of \(scopeSeries.count))" : "")
            body += HTML.figure(caption, SVGChart.dailyLines(shown.map { ($0.scope, $0.days) }, accessibleName: "spend by budget scope per day"))
        }
        body += "</div>\n"
        if !scopeSeries.isEmpty {
            body += "<h2>Budget scopes</h2>\n"
            body += HTML.table(header: ["scope", "limit (USD)", "period", "runs", "spent in window (USD)", "busiest day (USD)"],
                               rows: scopeSeries.map { series in
                                   let busiest = series.days.max { $0.spent < $1.spent }
                                   return [series.scope, series.limit.formatted(decimals: 6), series.period.rawValue, String(series.runs),
                                           series.spent.formatted(decimals: 6),
                                           busiest.map { $0.spent.isZero ? "-" : "\($0.spent.formatted(decimals: 6)) (\($0.day))" } ?? "-"]
                               }, numeric: [1, 3, 4, 5])
            body += "<p class=\"note\">" + HTML.escape(SpendReport.scopeNote) + "</p>\n"
        }
        let g = groupRows()
        body += "<h2>By " + HTML.escape(grouping.rawValue) + "</h2>\n"
        body += HTML.table(header: g.header, rows: Array(g.rows.dropLast()), numeric: g.numeric, total: g.rows.last)
        if !topSteps.isEmpty {
            let t = topRows()
            body += "<h2>Most expensive steps</h2>\n" + HTML.table(header: t.header, rows: t.rows, numeric: t.numeric)
        }
        body += "<p class=\"note\">Amounts in USD, rounded half-to-even to 6 decimals; days in UTC; <code>--format json</code> gives exact values. Generated by wflo from the journal.</p>"
        return body
    }
}

extension SpendReport {
    /// How runs are counted in scopes, said under every report that shows them.
    static let scopeNote = "A run counts in every budget scope whose --match its tags satisfy (the scopes as they are now), so scopes can add up to more than the total; `wflo budgets` shows each scope's current window."
}

extension SpendReport.Day {
    var json: JSONValue { ["day": .string(day), "runs": .int(runs), "spent_usd": .string(spent.exact())] }
}

extension SpendReport.Group {
    func json(total: Money) -> JSONValue {
        JSONValue.object([
            "key": .string(key),
            "workflow": workflow.map { .string($0) } ?? .null,
            "runs": .int(runs),
            "calls": .int(calls),
            "attempts": .int(attempts),
            "retries": .int(retries),
            "failed_attempts": .int(failedAttempts),
            "failed_cost_usd": .string(failedCost.exact()),
            "spent_usd": .string(spent.exact()),
            "unsettled_usd": .string(unsettled.exact()),
            "cache_savings_usd": .string(cacheSavings.exact()),
            "cache_hits": .int(cacheHits),
            "share_percent": SpendReport.percentJSON(spent.percent(of: total)),
            "budget": budget?.json ?? .null,
        ]).adding(usage.json)
    }
}

extension SpendReport.BudgetUse {
    var json: JSONValue {
        [
            "budgeted_runs": .int(budgetedRuns),
            "budget_usd": .string(budget.exact()),
            "spent_usd": .string(spent.exact()),
            "utilisation_percent": SpendReport.percentJSON(percent),
            "peak_run_id": peakRunID.map { .string($0) } ?? .null,
            "peak_utilisation_percent": SpendReport.percentJSON(peakPercent),
        ]
    }
}

extension SpendReport.StepCost {
    var json: JSONValue {
        JSONValue.object([
            "run_id": .string(runID),
            "workflow": .string(workflow),
            "step": .string(stepID),
            "model": model.map { .string($0) } ?? .null,
            "attempts": .int(attempts),
            "cost_usd": .string(cost.exact()),
        ]).adding(usage.json)
    }
}
