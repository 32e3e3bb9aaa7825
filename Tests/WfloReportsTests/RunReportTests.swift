import Foundation
import Testing
import WfloCore
import WfloReports
import WfloStore

/// The single-run report against a real journal: its numbers are the ledger's.
@Suite(.timeLimit(.minutes(1)))
struct RunReportTests {
    /// outline: failed (charged, a truncated answer) then succeeded · facts: succeeded ·
    /// draft: in flight when the process died · shape: a transform (no attempt).
    static func journalWithRetriesAndAnUnsettledAttempt() async throws -> (TestJournal, RunReport) {
        let j = try TestJournal.make()
        let t = Date.testNow
        try await j.run("r1", at: t, budget: Money(string: "0.05")!, status: .failed)
        try await j.attempt("r1", "outline", number: 1, reserve: "0.004", cost: "0.000123456789012345", succeeded: false, final: false, at: t)
        try await j.attempt("r1", "outline", number: 2, reserve: "0.004", cost: "0.000987654321", at: t.addingTimeInterval(2))
        try await j.attempt("r1", "facts", model: "claude-haiku-4-5", reserve: "0.006", cost: "0.0000375",
                            usage: TokenUsage(inputTokens: 30, cachedInputTokens: 10, outputTokens: 5), at: t.addingTimeInterval(4))
        try await j.attempt("r1", "draft", reserve: "0.0123", cost: nil, at: t.addingTimeInterval(6))
        #expect(try await j.store.markInFlightUnsettled(runID: "r1", at: t.addingTimeInterval(9)) == 1)
        try await j.transform("r1", "shape", at: t.addingTimeInterval(7))
        let report = RunReport(journal: try await j.store.journal(runID: "r1"),
                               plannedSteps: [("outline", "llm"), ("facts", "llm"), ("draft", "llm"), ("shape", "transform"), ("publish", "http")])
        return (j, report)
    }

    @Test func reportNumbersEqualTheLedgerToTheLastDigit() async throws {
        let (j, report) = try await Self.journalWithRetriesAndAnUnsettledAttempt()
        defer { j.remove() }
        let ledger = try await j.store.ledger(runID: "r1")
        #expect(report.spent == ledger.committed)
        #expect(report.settled == ledger.settled)
        #expect(report.unsettled == ledger.reserved)
        #expect(report.steps.map(\.cost).sum() == report.spent)
        #expect(report.models.map(\.cost).sum() == report.spent)
        #expect(report.spent.description == "0.013448611110012345")
        #expect(report.timeline.last?.cumulative == ledger.committed)

        let json = report.json
        #expect(json["spent_usd"]?.stringValue == ledger.committed.exact())
        #expect(json["totals"]?["cost_usd"]?.stringValue == ledger.committed.exact())
        let stepSum = try #require(json["steps"]?.arrayValue).compactMap { $0["cost_usd"]?.stringValue.flatMap(Money.init(string:)) }.sum()
        #expect(stepSum == ledger.committed)
    }

    @Test func retriesAndFailedAttemptsAreCountedWithWhatTheyCost() async throws {
        let (j, report) = try await Self.journalWithRetriesAndAnUnsettledAttempt()
        defer { j.remove() }
        let outline = try #require(report.steps.first { $0.id == "outline" })
        #expect(outline.attempts == 2)
        #expect(outline.retries == 1)
        #expect(outline.failedAttempts == 1)
        #expect(outline.failedCost == Money(string: "0.000123456789012345")!)
        #expect(report.retries == 1)
        #expect(report.failedAttempts == 1)
        #expect(report.failedCost == Money(string: "0.000123456789012345")!)
        #expect(report.totalAttempts == 4)
        #expect(report.steps.first { $0.id == "publish" }?.status == "pending")

        let totals = try #require(report.json["totals"])
        #expect(totals["retries"] == .int(1))
        #expect(totals["failed_attempts"] == .int(1))
        #expect(totals["failed_cost_usd"] == "0.000123456789012345")
        #expect(totals["attempts"] == .int(4))
        let outlineJSON = try #require(report.json["steps"]?.arrayValue?.first { $0["id"] == "outline" })
        #expect(outlineJSON["retries"] == .int(1))
        #expect(outlineJSON["failed_cost_usd"] == "0.000123456789012345")
    }

    @Test func unsettledAttemptsAreListedAtTheirReservation() async throws {
        let (j, report) = try await Self.journalWithRetriesAndAnUnsettledAttempt()
        defer { j.remove() }
        #expect(report.unsettledAttempts.count == 1)
        let draft = try #require(report.unsettledAttempts.first)
        #expect(draft.stepID == "draft")
        #expect(draft.status == .unsettled)
        #expect(draft.reserved == Money(string: "0.0123")!)
        #expect(report.steps.first { $0.id == "draft" }?.cost == Money(string: "0.0123")!)

        let listed = try #require(report.json["unsettled"]?.arrayValue)
        #expect(listed.count == 1)
        #expect(listed.first?["step"] == "draft")
        #expect(listed.first?["reserved_usd"] == "0.012300")
        #expect(listed.first?["status"] == "unsettled")
        #expect(report.json["totals"]?["unsettled_attempts"] == .int(1))

        let table = report.render(.table)
        #expect(table.contains("Unsettled attempts"))
        #expect(table.contains("0.012300"))
        #expect(table.contains("retries 1"))
        let markdown = report.render(.markdown)
        #expect(markdown.contains("## Unsettled attempts"))
        #expect(markdown.contains("| draft | 1 | unsettled |"))
    }

    /// A for_each over a sub-workflow with its own for_each: `batch[i]/pages[k]/read`.
    @Test func nestedRowsAddUpIntoEveryRowTheyAreNestedUnder() async throws {
        let j = try TestJournal.make()
        defer { j.remove() }
        let t = Date.testNow
        try await j.run("n1", at: t)
        try await j.attempt("n1", "batch[0]/pages[0]/read", cost: "0.001", at: t)
        try await j.attempt("n1", "batch[0]/pages[1]/read", cost: "0.002", at: t + 1)
        try await j.attempt("n1", "batch[1]/pages[0]/read", cost: "0.004", at: t + 2)
        try await j.attempt("n1", "batch[1]/sum", cost: "0.008", at: t + 3)
        try await j.attempt("n1", "after", cost: "0.016", at: t + 4)
        for id in ["batch", "batch[0]", "batch[1]", "batch[0]/pages", "batch[1]/pages", "batch[0]/pages[0]", "batch[0]/pages[1]", "batch[1]/pages[0]"] {
            try await j.transform("n1", id, at: t)
        }
        let report = RunReport(journal: try await j.store.journal(runID: "n1"), plannedSteps: [("batch", "workflow"), ("after", "llm")])
        func subtotal(_ id: String) -> String? { report.steps.first { $0.id == id }?.subtotal?.cost.description }
        #expect(subtotal("batch") == "0.015")
        #expect(subtotal("batch[0]") == "0.003")
        #expect(subtotal("batch[0]/pages") == "0.003")
        #expect(subtotal("batch[1]") == "0.012")
        #expect(subtotal("batch[1]/pages[0]") == "0.004")
        #expect(report.steps.first { $0.id == "batch[1]/pages[0]/read" }?.subtotal == nil, "a row with nothing nested has no subtotal")
        #expect(report.steps.first { $0.id == "after" }?.subtotal == nil)
        #expect(report.steps.first { $0.id == "batch" }?.subtotal?.attempts == 4)
        #expect(report.steps.first { $0.id == "batch" }?.subtotal?.nestedSteps == 11)
        // The totals still count each attempt once.
        #expect(report.steps.map(\.cost).sum() == report.spent)
        #expect(report.spent.description == "0.031")
    }

    @Test func jsonKeepsEveryExistingKeyAndOnlyAddsNewOnes() async throws {
        let (j, report) = try await Self.journalWithRetriesAndAnUnsettledAttempt()
        defer { j.remove() }
        let json = report.json
        let existing = ["run_id", "workflow", "status", "budget_usd", "spent_usd", "settled_usd", "unsettled_usd", "remaining_usd",
                        "created_at", "updated_at", "steps", "models", "totals"]
        for key in existing + ["unsettled"] { #expect(json[key] != nil, "report lacks \(key)") }
        for step in try #require(json["steps"]?.arrayValue) {
            for key in ["id", "type", "status", "model", "cost_usd", "attempts", "unsettled_attempts", "seconds", "input_tokens",
                        "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens", "reasoning_tokens",
                        "retries", "failed_attempts", "failed_cost_usd"] {
                #expect(step[key] != nil, "step lacks \(key)")
            }
        }
        for key in ["cost_usd", "input_tokens", "output_tokens", "attempts", "retries", "failed_attempts", "failed_cost_usd",
                    "unsettled_attempts", "unsettled_usd"] {
            #expect(json["totals"]?[key] != nil, "totals lack \(key)")
        }
    }

    @Test func csvKeepsItsColumnsAndAppendsTheRetryColumns() async throws {
        let (j, report) = try await Self.journalWithRetriesAndAnUnsettledAttempt()
        defer { j.remove() }
        let lines = report.render(.csv).split(separator: "\n")
        let original = "run_id,step,type,status,model,input_tokens,cached_input_tokens,cache_write_tokens,cache_write_1h_tokens,output_tokens,reasoning_tokens,cost_usd,attempts,unsettled_attempts,seconds"
        #expect(lines.first == Substring(original + ",retries,failed_attempts,failed_cost_usd,fees_usd,flags,cache_hits,cache_saved_usd,part_of"))
        let outline = try #require(lines.first { $0.hasPrefix("r1,outline,") })
        #expect(outline.hasSuffix(",1,1,0.000123456789012345,0.000000,,0,0.000000,"), "\(outline)")
    }

    @Test func tableColumnsLineUpAndMoneyHasSixDecimals() async throws {
        let (j, report) = try await Self.journalWithRetriesAndAnUnsettledAttempt()
        defer { j.remove() }
        let table = report.render(.table)
        let lines = table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("step ") })
        // The header, its rule and every row until the blank line have the cost column ending at the same place.
        let costEnd = try #require(lines[header].range(of: "cost (USD)")).upperBound.utf16Offset(in: lines[header])
        for line in lines[(header + 2)...].prefix(while: { !$0.isEmpty }) where !line.hasPrefix("─") {
            let prefix = String(line.prefix(costEnd))
            let lastWord = prefix.split(separator: " ").last.map(String.init) ?? ""
            #expect(lastWord.range(of: #"^-?\d+\.\d{6}$"#, options: .regularExpression) != nil, "cost column misaligned in: \(line)")
        }
        #expect(table.contains("Amounts in USD, rounded half-to-even to 6 decimals"))
    }
}
