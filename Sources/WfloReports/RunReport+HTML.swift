import Foundation
import WfloCore

extension RunReport {
    /// One self-contained HTML page: summary, charts (cost by step, cost by model, cumulative
    /// spend against the budget, the steps' timeline) and the tables. Inline CSS and SVG only: no script, nothing
    /// fetched. Step ids, model names and errors are escaped.
    func html() -> String {
        var body = "<h1>Run " + HTML.escape(runID) + "</h1>\n"
        body += "<p class=\"sub\">workflow " + HTML.escape(workflow) + " · " + HTML.escape(shownStatus)
            + " · started " + HTML.escape(RunReport.iso(createdAt)) + " · updated " + HTML.escape(RunReport.iso(updatedAt)) + "</p>\n"
        var tiles: [(String, String)] = [("spent (USD)", spent.dollars())]
        if let budget {
            tiles.append(("budget (USD)", budget.dollars()))
            tiles.append(("left (USD)", (budget - spent).dollars()))
            if let used = spent.percent(of: budget) { tiles.append(("budget used", RunReport.percentText(used))) }
        } else {
            tiles.append(("budget", "none"))
        }
        tiles += [("unsettled (USD)", unsettled.dollars()), ("attempts", String(totalAttempts)), ("retries", String(retries)),
                  ("failed attempts", "\(failedAttempts) · \(failedCost.dollars())")]
        if cacheHits > 0 { tiles.append(("cache hits · saved", "\(cacheHits) · \(cacheSavings.dollars())")) }
        if !fees.isZero { tiles.append(("fees (USD)", fees.dollars())) }
        if !approvals.isEmpty { tiles.append(("approvals · waited", "\(approvals.count) · \(DurationText.describe(approvalWaitSeconds))")) }
        body += HTML.tiles(tiles)
        if !unsettled.isZero {
            body += "<div class=\"warn\">Includes " + HTML.escape(unsettled.dollars())
                + " unsettled: attempts in flight when a process died, charged at their worst case.</div>\n"
        }
        if let error { body += "<div class=\"err\">" + HTML.escape(error) + "</div>\n" }
        if !flagNotes.isEmpty {
            body += "<div class=\"warn\">Flags: " + HTML.escape(flagNotes.joined(separator: "; ")) + " (" + HTML.escape(RunReport.flagsExplained) + ")</div>\n"
        }

        body += "<div class=\"charts\">\n"
        let charged = steps.filter { !$0.cost.isZero }.sorted { $0.cost > $1.cost }
        // A colour means a model, the same in both charts (grey: a step with no model).
        let colorOfModel = Dictionary(models.enumerated().map { ($1.model, SVGChart.palette[$0 % SVGChart.palette.count]) }) { first, _ in first }
        body += HTML.figure("Cost by step (colour: model)",
                            SVGChart.horizontalBars(charged.map { ($0.id, $0.cost) }, colors: charged.map { colorOfModel[$0.model ?? ""] ?? "#8c959f" },
                                                    accessibleName: "cost by step"))
        body += HTML.figure("Cost by model", SVGChart.horizontalBars(models.map { ($0.model, $0.cost) }, colors: models.map { colorOfModel[$0.model] ?? "#8c959f" },
                                                                     accessibleName: "cost by model"))
        body += HTML.figure(budget == nil ? "Cumulative spend (no budget)" : "Cumulative spend against the budget",
                            SVGChart.cumulative(timeline, start: createdAt, budget: budget, accessibleName: "cumulative spend"))
        body += HTML.figure("Step timeline", SVGChart.stepTimeline(steps, approvals: approvals, start: createdAt, end: updatedAt,
                                                                 accessibleName: "step timeline"))
        body += "</div>\n"

        body += "<h2>Steps</h2>\n"
        let total = totalUsage
        body += HTML.table(
            header: ["step", "type", "status", "model", "input", "cached", "output", "reasoning", "cost (USD)", "attempts", "retries", "failed (USD)", "time"],
            rows: steps.map { s in
                let shown = s.shown
                return [s.id, s.type, s.status + (s.unsettledAttempts > 0 ? " (unsettled)" : ""), s.model ?? "-",
                        String(shown.usage.inputTokens), String(shown.usage.cachedInputTokens), String(shown.usage.outputTokens),
                        String(shown.usage.reasoningTokens), shown.cost, String(shown.attempts), String(s.retries),
                        s.failedCost.formatted(decimals: 6), s.seconds.map { DurationText.twoDecimals($0) + "s" } ?? "-"]
            },
            numeric: Set(4...12),
            total: ["total", "", "", "", String(total.inputTokens), String(total.cachedInputTokens), String(total.outputTokens),
                    String(total.reasoningTokens), spent.formatted(decimals: 6), String(totalAttempts), String(retries),
                    failedCost.formatted(decimals: 6), ""])
        for s in steps {
            guard let agent = s.agent else { continue }
            // An agent's turns and tool calls (their cost is part of its row above).
            body += "<h2>Agent " + HTML.escape(s.id) + ": turns and tool calls</h2>\n"
            body += HTML.table(header: ["turn / tool call", "type", "status", "model", "input", "cached", "output", "reasoning", "cost (USD)", "attempts"],
                               rows: agent.tableRows.map { [$0[0].trimmingCharacters(in: .whitespaces), $0[1], $0[2], $0[3], $0[4], $0[5],
                                                            $0[7], $0[8], $0[9], $0[10]] },
                               numeric: Set(4...9))
        }
        let failures = steps.filter { $0.error != nil }
        if !failures.isEmpty {
            body += "<h2>Step errors</h2>\n"
            body += HTML.table(header: ["step", "error"], rows: failures.map { [$0.id, $0.error ?? ""] })
        }
        if !models.isEmpty {
            body += "<h2>Models</h2>\n"
            body += HTML.table(header: ["model", "calls", "input", "output", "cost (USD)"],
                               rows: models.map { [$0.model, String($0.calls), String($0.usage.inputTokens), String($0.usage.outputTokens), $0.cost.formatted(decimals: 6)] },
                               numeric: Set(1...4))
        }
        if !approvals.isEmpty {
            body += "<h2>Approvals</h2>\n"
            body += HTML.table(header: ["step", "request", "decision", "by", "waited", "comment"],
                               rows: approvals.map { [$0.stepID, $0.requestID, $0.status.rawValue, $0.decidedBy ?? "-",
                                                      DurationText.describe($0.waitedSeconds), $0.comment ?? ""] },
                               numeric: [4])
        }
        if !unsettledAttempts.isEmpty {
            body += "<h2>Unsettled attempts</h2>\n<p>Charged at their reservation: in flight when a process stopped, the outcome is unknown.</p>\n"
            body += HTML.table(header: ["step", "attempt", "status", "model", "reserved (USD)", "started"],
                               rows: unsettledAttempts.map { [$0.stepID, String($0.attempt), $0.status.rawValue, $0.model ?? "-",
                                                              $0.reserved.formatted(decimals: 6), RunReport.iso($0.startedAt)] },
                               numeric: [1, 4])
        }
        if steps.contains(where: { $0.subtotal != nil }) { body += "<p class=\"note\">" + HTML.escape(RunReport.subtotalNote) + "</p>\n" }
        body += "<p class=\"note\">Amounts in USD, rounded half-to-even to 6 decimals; <code>wflo report "
            + HTML.escape(runID) + " --format json</code> gives exact values. Generated by wflo from the run's journal.</p>"
        return HTML.document(title: "wflo report · \(workflow) · \(runID)", body: body)
    }
}
