import Foundation
import WfloCore

extension RunReport {
    /// Renders the report. Tables, Markdown and HTML round money to 6 decimals (half-to-even)
    /// and say so; JSON and CSV carry exact decimal strings. HTML is one self-contained
    /// document (inline CSS and SVG, no scripts, nothing fetched) with every user-supplied
    /// text escaped.
    public func render(_ format: ReportFormat) -> String {
        switch format {
        case .table: return table()
        case .json: return json.encoded(sorted: true, pretty: true) + "\n"
        case .csv: return csv()
        case .markdown: return markdown()
        case .html: return html()
        }
    }

    /// The report as JSON; money as exact decimal strings in USD.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "run_id": .string(runID),
            "workflow": .string(workflow),
            "status": .string(shownStatus),
            "budget_usd": budget.map { .string($0.exact()) } ?? .null,
            "spent_usd": .string(spent.exact()),
            "settled_usd": .string(settled.exact()),
            "unsettled_usd": .string(unsettled.exact()),
            "remaining_usd": remaining.map { .string($0.exact()) } ?? .null,
            "created_at": .string(RunReport.iso(createdAt)),
            "updated_at": .string(RunReport.iso(updatedAt)),
            "steps": .array(steps.map(\.json)),
            "models": .array(models.map { m in
                ["model": .string(m.model), "calls": .int(m.calls), "cost_usd": .string(m.cost.exact())].adding(m.usage.json)
            }),
            "totals": ["cost_usd": .string(spent.exact()), "attempts": .int(totalAttempts), "retries": .int(retries),
                       "failed_attempts": .int(failedAttempts), "failed_cost_usd": .string(failedCost.exact()),
                       "unsettled_attempts": .int(unsettledAttempts.count), "unsettled_usd": .string(unsettled.exact()),
                       "cache_hits": .int(cacheHits), "cache_savings_usd": .string(cacheSavings.exact()),
                       "fees_usd": .string(fees.exact()),
                       "approvals": .int(approvals.count), "approval_wait_seconds": .double(approvalWaitSeconds)]
                .adding(totalUsage.json),
            "approvals": .array(approvals.map { a in
                ["step": .string(a.stepID), "request_id": .string(a.requestID), "status": .string(a.status.rawValue),
                 "decided_by": a.decidedBy.map { .string($0) } ?? .null, "comment": a.comment.map { .string($0) } ?? .null,
                 "requested_at": .string(RunReport.iso(a.requestedAt)),
                 "decided_at": a.decidedAt.map { .string(RunReport.iso($0)) } ?? .null,
                 "waited_seconds": .double(a.waitedSeconds)]
            }),
            "unsettled": .array(unsettledAttempts.map { u in
                ["step": .string(u.stepID), "attempt": .int(u.attempt), "status": .string(u.status.rawValue),
                 "model": u.model.map { .string($0) } ?? .null, "reserved_usd": .string(u.reserved.exact()),
                 "started_at": .string(RunReport.iso(u.startedAt))]
            }),
        ]
        if let outputs { object["outputs"] = outputs }
        if let error { object["error"] = .string(error) }
        return .object(object)
    }

    static func iso(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    private func table() -> String {
        var out = "Run \(runID) · \(workflow) · \(shownStatus)\n"
        if let budget {
            let used = spent.percent(of: budget).map { " (\(RunReport.percentText($0)) used)" } ?? ""
            out += "Budget \(budget.dollars()) · spent \(spent.dollars())\(used) · left \((budget - spent).dollars())\n"
        } else {
            out += "No budget · spent \(spent.dollars())\n"
        }
        if !unsettled.isZero {
            out += "Includes \(unsettled.dollars()) unsettled: attempts in flight when a process died, charged at their worst case.\n"
        }
        out += "Attempts \(totalAttempts) · retries \(retries) · failed attempts \(failedAttempts) costing \(failedCost.dollars())\n"
        if cacheHits > 0 {
            out += "Cache hits \(cacheHits) · saved \(cacheSavings.dollars()) (not charged)\n"
        }
        out += "\n"
        let header = ["step", "type", "status", "model", "input", "cached", "cache write", "output", "reasoning", "fees", "cost (USD)", "attempts", "time"]
        var rows = steps.flatMap { s -> [[String]] in
            let shown = s.shown
            return [[s.id, s.type, s.status + (s.unsettledAttempts > 0 ? " (unsettled)" : "") + (s.reusedFrom != nil ? " (reused)" : ""), s.model ?? "-",
                     String(shown.usage.inputTokens), String(shown.usage.cachedInputTokens),
                     String(shown.usage.cacheWriteTokens + shown.usage.cacheWrite1hTokens), String(shown.usage.outputTokens),
                     String(shown.usage.reasoningTokens), s.fees.formatted(decimals: 6), shown.cost, String(shown.attempts),
                     s.seconds.map { DurationText.twoDecimals($0) + "s" } ?? "-"]] + (s.agent?.tableRows ?? [])
        }
        let total = totalUsage
        rows.append(["total", "", "", "", String(total.inputTokens), String(total.cachedInputTokens),
                     String(total.cacheWriteTokens + total.cacheWrite1hTokens), String(total.outputTokens),
                     String(total.reasoningTokens), fees.formatted(decimals: 6), spent.formatted(decimals: 6), String(steps.map(\.attempts).reduce(0, +)), ""])
        out += TextTable(header: header, rows: rows, rightAligned: Set(4...11)).render(separatorBefore: rows.count - 1)
        if !models.isEmpty {
            out += "\n"
            out += TextTable(header: ["model", "calls", "input", "output", "cost (USD)"],
                             rows: models.map { [$0.model, String($0.calls), String($0.usage.inputTokens), String($0.usage.outputTokens), $0.cost.formatted(decimals: 6)] },
                             rightAligned: Set(1...4)).render(separatorBefore: nil)
        }
        if !unsettledAttempts.isEmpty {
            out += "\nUnsettled attempts (charged at their reservation; the outcome is unknown):\n"
            out += TextTable(header: ["step", "attempt", "status", "model", "reserved (USD)", "started"],
                             rows: unsettledAttempts.map { [$0.stepID, String($0.attempt), $0.status.rawValue, $0.model ?? "-",
                                                            $0.reserved.formatted(decimals: 6), RunReport.iso($0.startedAt)] },
                             rightAligned: [1, 4]).render(separatorBefore: nil)
        }
        if !approvals.isEmpty {
            out += "\nApprovals (waited \(DurationText.describe(approvalWaitSeconds)) in all):\n"
            out += TextTable(header: ["step", "request", "decision", "by", "waited", "comment"],
                             rows: approvals.map { [$0.stepID, $0.requestID, $0.status.rawValue, $0.decidedBy ?? "-",
                                                    DurationText.describe($0.waitedSeconds), $0.comment ?? ""] },
                             rightAligned: [4]).render(separatorBefore: nil)
        }
        for s in steps {
            guard let agent = s.agent else { continue }
            out += "\nAgent \(s.id): \(agent.turns.count) turn\(agent.turns.count == 1 ? "" : "s") \(agent.turnsCost.dollars())"
            out += agent.tools.isEmpty ? "" : " · tools " + agent.tools.map { "\($0.tool) ×\($0.calls) \($0.cost.dollars())" }.joined(separator: ", ")
            out += agent.fallbacks.isEmpty ? "" : " · fell back " + agent.fallbacks.map { "\($0.from) → \($0.to) at turn \($0.turn)" }.joined(separator: ", ")
            out += "\n"
        }
        if let error { out += "\nerror: \(error)\n" }
        if !flagNotes.isEmpty { out += "\nFlags: " + flagNotes.joined(separator: "; ") + "\n(" + RunReport.flagsExplained + ")\n" }
        if steps.contains(where: { $0.subtotal != nil }) { out += "\n" + RunReport.subtotalNote + "\n" }
        out += "\nAmounts in USD, rounded half-to-even to 6 decimals; --format json gives exact values.\n"
        return out
    }

    static let subtotalNote = "Σ: a for_each or workflow step's row adds up the rows nested under it (tokens, cost, attempts); the total counts each attempt once."

    static func percentText(_ value: Decimal) -> String {
        let v = NSDecimalNumber(decimal: value).doubleValue
        return String(format: "%.1f%%", v)
    }

    private func csv() -> String {
        var lines = ["run_id,step,type,status,model,input_tokens,cached_input_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,attempts,unsettled_attempts,seconds,retries,failed_attempts,failed_cost_usd,fees_usd,flags,cache_hits,cache_saved_usd,part_of"]
        for s in steps {
            let fields = [runID, s.id, s.type, s.status, s.model ?? "", String(s.usage.inputTokens), String(s.usage.cachedInputTokens),
                          String(s.usage.cacheWriteTokens), String(s.usage.cacheWrite1hTokens), String(s.usage.outputTokens),
                          String(s.usage.reasoningTokens), s.cost.exact(), String(s.attempts), String(s.unsettledAttempts),
                          s.seconds.map { String(format: "%.3f", $0) } ?? "",
                          String(s.retries), String(s.failedAttempts), s.failedCost.exact(), s.fees.exact(), s.flags.joined(separator: " "),
                          String(s.cacheHits), s.saved.exact(), ""]
            lines.append(fields.map(RunReport.csvField).joined(separator: ","))
            // An agent's turns and tool calls as rows of their own, `part_of` the agent (their cost
            // is already in the agent's row: sum only rows with an empty part_of).
            for turn in s.agent?.turns ?? [] {
                let u = turn.usage
                lines.append([runID, "\(s.id)/turn \(turn.number)", "llm", turn.status, turn.model ?? "", String(u.inputTokens), String(u.cachedInputTokens),
                              String(u.cacheWriteTokens), String(u.cacheWrite1hTokens), String(u.outputTokens), String(u.reasoningTokens),
                              turn.cost.exact(), String(turn.attempts), String(turn.unsettledAttempts), "", "", "", "", "", "", "", "", s.id]
                    .map(RunReport.csvField).joined(separator: ","))
                for call in turn.toolCalls {
                    lines.append([runID, call.id, call.type, call.status, "", "", "", "", "", "", "", call.cost.exact(), "", "", "", "", "", "", "", "", "", "", s.id]
                        .map(RunReport.csvField).joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private func markdown() -> String {
        var out = "# Run `\(runID)` — \(workflow)\n\n"
        out += "- Status: **\(shownStatus)**\n"
        out += "- Budget: \(budget.map { $0.dollars() } ?? "none") · Spent: \(spent.dollars())"
        if let remaining { out += " · Left: \(remaining.dollars())" }
        out += "\n"
        if !unsettled.isZero { out += "- Unsettled (charged at worst case): \(unsettled.dollars())\n" }
        out += "- Attempts: \(totalAttempts) · Retries: \(retries) · Failed attempts: \(failedAttempts) costing \(failedCost.dollars())\n"
        if cacheHits > 0 { out += "- Cache hits: \(cacheHits) · saved \(cacheSavings.dollars()) (not charged)\n" }
        if !approvals.isEmpty {
            out += "- Approvals: " + approvals.map { "`\(RunReport.markdownCell($0.stepID))` \($0.status.rawValue) by \(RunReport.markdownCell($0.decidedBy ?? "-")) after \(DurationText.describe($0.waitedSeconds))" }.joined(separator: "; ") + "\n"
        }
        if let error { out += "- Error: \(RunReport.markdownCell(error))\n" }
        if !flagNotes.isEmpty { out += "- Flags: \(RunReport.markdownCell(flagNotes.joined(separator: "; "))) (\(RunReport.flagsExplained))\n" }
        if !fees.isZero { out += "- Fees (per request and per search, part of the cost): \(fees.dollars())\n" }
        out += "\n| step | type | status | model | input | cached | output | reasoning | cost (USD) | attempts |\n"
        out += "|---|---|---|---|---:|---:|---:|---:|---:|---:|\n"
        for s in steps {
            let shown = s.shown
            out += "| \(RunReport.markdownCell(s.id)) | \(s.type) | \(s.status) | \(s.model ?? "-") | \(shown.usage.inputTokens) | \(shown.usage.cachedInputTokens) | \(shown.usage.outputTokens) | \(shown.usage.reasoningTokens) | \(shown.cost) | \(shown.attempts) |\n"
            // An agent's turns and tool calls, under it (their cost is part of its row).
            for row in s.agent?.tableRows ?? [] {
                let cells = [row[0].replacingOccurrences(of: "  ", with: "&nbsp;&nbsp;"), row[1], row[2], row[3], row[4], row[5], row[7], row[8], row[9], row[10]]
                out += "| " + cells.map { RunReport.markdownCell($0.isEmpty ? " " : $0) }.joined(separator: " | ") + " |\n"
            }
        }
        out += "| **total** | | | | \(totalUsage.inputTokens) | \(totalUsage.cachedInputTokens) | \(totalUsage.outputTokens) | \(totalUsage.reasoningTokens) | **\(spent.formatted(decimals: 6))** | |\n"
        if !unsettledAttempts.isEmpty {
            out += "\n## Unsettled attempts\n\nCharged at their reservation: in flight when a process stopped, the outcome is unknown.\n\n"
            out += "| step | attempt | status | model | reserved (USD) | started |\n|---|---:|---|---|---:|---|\n"
            for u in unsettledAttempts {
                out += "| \(RunReport.markdownCell(u.stepID)) | \(u.attempt) | \(u.status.rawValue) | \(RunReport.markdownCell(u.model ?? "-")) | \(u.reserved.formatted(decimals: 6)) | \(RunReport.iso(u.startedAt)) |\n"
            }
        }
        if steps.contains(where: { $0.subtotal != nil }) { out += "\n" + RunReport.subtotalNote + "\n" }
        out += "\nAmounts in USD, rounded half-to-even to 6 decimals.\n"
        return out
    }

    static func markdownCell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}

extension RunReport.StepLine {
    /// What a row shows: its subtotal (cost marked `Σ`) when steps are nested under it, else its own line.
    /// The cost a row shows, the same in every format and in `wflo status`: the subtotal
    /// (`Σ …`) of a step with steps nested under it, else its own.
    public var shownCost: String { shown.cost }

    var shown: (usage: TokenUsage, cost: String, attempts: Int) {
        guard let subtotal else { return (usage, cost.formatted(decimals: 6), attempts) }
        return (subtotal.usage, "Σ " + subtotal.cost.formatted(decimals: 6), subtotal.attempts)
    }

    var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id), "type": .string(type), "status": .string(status),
            "model": model.map { .string($0) } ?? .null,
            "cost_usd": .string(cost.exact()),
            "attempts": .int(attempts),
            "unsettled_attempts": .int(unsettledAttempts),
            "seconds": seconds.map { .double($0) } ?? .null,
            "retries": .int(retries),
            "failed_attempts": .int(failedAttempts),
            "failed_cost_usd": .string(failedCost.exact()),
            "cache_hits": .int(cacheHits),
            "saved_usd": .string(saved.exact()),
            "fees_usd": .string(fees.exact()),
        ]
        if !flags.isEmpty { object["flags"] = .array(flags.map { .string($0) }) }
        if let reusedFrom { object["reused_from"] = .string(reusedFrom) }
        if let error { object["error"] = .string(error) }
        if let agent { object["agent"] = agent.json }
        if let subtotal {
            object["subtotal"] = ["cost_usd": .string(subtotal.cost.exact()), "attempts": .int(subtotal.attempts),
                                  "nested_steps": .int(subtotal.nestedSteps)].adding(subtotal.usage.json)
        }
        return JSONValue.object(object).adding(usage.json)
    }
}

extension JSONValue {
    func adding(_ other: JSONValue) -> JSONValue {
        guard case .object(var a) = self, case .object(let b) = other else { return self }
        for (k, v) in b { a[k] = v }
        return .object(a)
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    func adding(_ other: JSONValue) -> JSONValue {
        JSONValue.object(self).adding(other)
    }
}
