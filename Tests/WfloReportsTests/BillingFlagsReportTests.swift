import Foundation
import Testing
import WfloCore
import WfloReports

/// Issue 25's fees and issue 22.7's flags are in every report format.
struct BillingFlagsReportTests {
    @Test func feesAndFlagsAppearInEveryFormat() async throws {
        let j = try TestJournal.make()
        defer { j.remove() }
        let t = Date.testNow
        try await j.run("r1", at: t, budget: Money(string: "0.001")!, status: .budgetExceeded)
        let outcome = try await j.store.beginAttempt(AttemptStart(runID: "r1", stepID: "search", stepType: .llm, number: 1,
                                                                  model: "claude-sonnet-4-5", reserve: Money(string: "0.0008")!, at: t))
        guard case .started(let id) = outcome else { throw StoreError(.database, "refused: \(outcome)") }
        try await j.store.finishAttempt(AttemptFinish(attemptID: id, runID: "r1", stepID: "search", succeeded: true,
                                                      cost: Money(string: "0.0431")!,
                                                      usage: TokenUsage(inputTokens: 2700, outputTokens: 1000, webSearchRequests: 2),
                                                      error: nil, stepStatus: .completed, stepOutput: ["text": "ok"], at: t.addingTimeInterval(1),
                                                      fees: Money(string: "0.02")!, flags: [AttemptFlag.usageExceededReservation]))
        let journal = try await j.store.journal(runID: "r1")
        #expect(journal.attempts.first?.fees == Money(string: "0.02"))
        #expect(journal.attempts.first?.flags == [AttemptFlag.usageExceededReservation])
        #expect(journal.attempts.first?.usage?.webSearchRequests == 2)
        let report = RunReport(journal: journal, plannedSteps: [("search", "llm")])
        #expect(report.fees == Money(string: "0.02"))

        let json = report.json
        #expect(json["totals"]?["fees_usd"] == "0.020000")
        #expect(json["steps"]?[0]?["fees_usd"] == "0.020000")
        #expect(json["steps"]?[0]?["flags"] == ["usage_exceeded_reservation"])
        #expect(json["steps"]?[0]?["web_search_requests"] == 2)
        for format in [ReportFormat.table, .markdown, .html] {
            #expect(report.render(format).contains("search: usage_exceeded_reservation"), "\(format) lacks the flag")
        }
        #expect(report.render(.table).contains("fees"))
        let csv = report.render(.csv).split(separator: "\n")
        #expect(csv.first?.hasSuffix(",fees_usd,flags,cache_hits,cache_saved_usd,part_of") == true)
        #expect(csv.last?.contains(",0.020000,usage_exceeded_reservation,") == true, "\(csv.last ?? "")")
    }
}
