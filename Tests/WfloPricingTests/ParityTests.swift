import Foundation
import Testing
import WfloCore
@testable import WfloPricing

/// Our costs against LiteLLM's `cost_per_token` on the same JSON, from the committed fixture
/// `Fixtures/litellm-parity.json` (regenerate with `scripts/pricing/make_parity_fixture.py`).
@Suite struct ParityTests {
    struct Case {
        var model: String
        var usage: TokenUsage
        var expected: String
    }

    static func fixture() throws -> (cases: [Case], refused: [String: String], sha256: String) {
        let url = repositoryRoot.appendingPathComponent("Tests/WfloPricingTests/Fixtures/litellm-parity.json")
        let json = try JSONValue.parse(Data(contentsOf: url))
        var cases: [Case] = []
        var refused: [String: String] = [:]
        for model in json["models"]?.arrayValue ?? [] {
            let name = model["m"]?.stringValue ?? ""
            if let why = model["x"]?.stringValue { refused[name] = why }
            for row in model["c"]?.arrayValue ?? [] {
                let n = (0..<6).map { row[$0]?.intValue ?? 0 }
                cases.append(Case(model: name,
                                  usage: TokenUsage(inputTokens: n[0], cachedInputTokens: n[1], cacheWriteTokens: n[2],
                                                    cacheWrite1hTokens: n[3], outputTokens: n[4], reasoningTokens: n[5]),
                                  expected: row[6]?.stringValue ?? ""))
            }
        }
        return (cases, refused, json["sha256"]?.stringValue ?? "")
    }

    /// LiteLLM behaviour wflo chooses not to copy, excluded by model name. Empty when none.
    static let knownQuirks: [String: String] = [:]

    @Test func costsEqualLiteLLMForEveryChatModelAndUsageMix() throws {
        let (cases, refused, _) = try Self.fixture()
        var compared = 0
        var notPricedPerToken = Set<String>()
        var mismatches: [String] = []
        for item in cases where Self.knownQuirks[item.model] == nil {
            guard let theirs = Double(item.expected) else {
                Issue.record("unreadable expected cost '\(item.expected)' for \(item.model)")
                continue
            }
            let ours: Money
            do {
                // `cost_per_token` leaves out per-request fees (BillableParityTests compares those).
                let breakdown = try shippedTable.cost(model: item.model, usage: item.usage)
                ours = breakdown.total - breakdown.fees
            } catch let error as PricingError where error.code == .notPricedPerToken {
                // wflo refuses a model it cannot price per token; LiteLLM bills it as $0 here.
                if theirs != 0 { mismatches.append("\(item.model): wflo refuses (no per-token price), LiteLLM says \(item.expected)") }
                notPricedPerToken.insert(item.model)
                continue
            }
            let oursDouble = NSDecimalNumber(decimal: ours.amount).doubleValue
            let difference = abs(oursDouble - theirs)
            if difference > 1e-9 * max(abs(theirs), 1e-12) {
                mismatches.append("\(item.model) \(item.usage.json.encoded()): wflo \(ours) vs LiteLLM \(item.expected)")
            }
            compared += 1
        }
        print("parity: compared \(compared) costs with LiteLLM's; \(notPricedPerToken.count) models without per-token prices refused; \(refused.count) models LiteLLM prices under another entry; \(Self.knownQuirks.count) quirks excluded")
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first ones:\n\(mismatches.prefix(40).joined(separator: "\n"))")
        #expect(compared > 15_000)
    }

    @Test func fixtureWasMadeFromTheShippedTable() throws {
        let (_, _, sha) = try Self.fixture()
        let source = try JSONValue.parse(Data(contentsOf: repositoryRoot.appendingPathComponent("pricing/SOURCE.json")))
        #expect(sha == source["sha256"]?.stringValue)
    }
}
