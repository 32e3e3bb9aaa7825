import Foundation
import Testing
import WfloCore
@testable import WfloPricing

/// Issue 25: wflo's cost of responses that carry web searches, audio and image tokens, or come from
/// a model with a per-request fee, against LiteLLM's `completion_cost` on the same JSON (the
/// fixture's `billable` cases, written by `scripts/pricing/make_parity_fixture.py`).
///
/// Where wflo differs on purpose:
/// - `input_cost_per_request`: LiteLLM's `completion_cost` leaves it out; wflo charges it on every
///   call (it is what the provider bills), so wflo = LiteLLM + the fee.
@Suite struct BillableParityTests {
    struct Case {
        var model: String
        var kind: String
        var usage: TokenUsage
        var expected: String
    }

    static func cases() throws -> [Case] {
        let url = repositoryRoot.appendingPathComponent("Tests/WfloPricingTests/Fixtures/litellm-parity.json")
        let json = try JSONValue.parse(Data(contentsOf: url))
        return (json["billable"]?.arrayValue ?? []).map { item in
            let u = item["u"] ?? .null
            func n(_ key: String) -> Int { u[key]?.intValue ?? 0 }
            return Case(model: item["m"]?.stringValue ?? "", kind: item["k"]?.stringValue ?? "",
                        usage: TokenUsage(inputTokens: n("input"), outputTokens: n("output"), audioInputTokens: n("audio_in"),
                                          audioOutputTokens: n("audio_out"), imageInputTokens: n("image_in"),
                                          webSearchRequests: n("searches")),
                        expected: item["c"]?.stringValue ?? "")
        }
    }

    @Test func costsEqualLiteLLMsCompletionCostExceptWhereWfloDiffersOnPurpose() throws {
        let cases = try Self.cases()
        // Every kind is covered, the case the issue measured among them.
        #expect(Set(cases.map(\.kind)) == ["search", "audio", "image", "request"])
        #expect(cases.contains { $0.model == "claude-sonnet-4-5" && $0.kind == "search" && $0.expected == "0.0431" })
        var mismatches: [String] = []
        for item in cases {
            guard let theirs = Double(item.expected) else {
                Issue.record("unreadable expected cost '\(item.expected)' for \(item.model)")
                continue
            }
            let breakdown = try shippedTable.cost(model: item.model, usage: item.usage)
            #expect(breakdown.unpriced.isEmpty, "\(item.model): \(breakdown.unpriced)")
            var ours = breakdown.total
            if item.kind == "request" {
                let fee = try #require(try shippedTable.price(for: item.model).requestFee)
                #expect(breakdown.fees == fee)
                ours -= fee  // LiteLLM leaves the per-request fee out
            }
            let oursDouble = NSDecimalNumber(decimal: ours.amount).doubleValue
            if abs(oursDouble - theirs) > 1e-9 * max(abs(theirs), 1e-12) {
                mismatches.append("\(item.model) [\(item.kind)] \(item.usage.json.encoded()): wflo \(ours) vs LiteLLM \(item.expected)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(cases.count) differ:\n\(mismatches.prefix(30).joined(separator: "\n"))")
    }
}
