import Foundation
import Testing
import WfloCore
@testable import WfloPricing

@Suite struct WorstCaseTests {
    /// A chat-completions body as providers send it: the bytes the estimate is given.
    static func body(_ messages: [String], maxTokens: Int) -> Data {
        let value: JSONValue = ["model": "gpt-4o", "max_tokens": .int(maxTokens),
                                "messages": .array(messages.enumerated().map { index, text in
                                    ["role": index == 0 ? "system" : "user", "content": .string(text)]
                                })]
        return Data(value.encoded().utf8)
    }

    static let adversarial: [(String, [String])] = [
        ("emoji with joiners and skin tones", [String(repeating: "👩‍👩‍👧‍👦👍🏽🏳️‍🌈", count: 500)]),
        ("CJK and Hangul", [String(repeating: "汉字漢字かなカナ한국어", count: 800)]),
        ("long whitespace runs", [String(repeating: " ", count: 20_000), String(repeating: "\n\t ", count: 5000)]),
        ("JSON inside JSON", [String(repeating: #"{"a":[1,2,{"b":"\"x\""}],"c":null}\\"#, count: 400)]),
        ("control characters", [String(repeating: "\u{0001}\u{0007}\u{001F}\r", count: 1000)]),
        ("combining marks and RTL", [String(repeating: "e\u{301}\u{302}\u{303} مرحبا שלום \u{200F}", count: 500)]),
        ("many tiny messages", Array(repeating: "", count: 300)),
        ("mixed", ["You are terse.", "Summarise: 🚀 火箭 rocket \"quoted\" \\ back", String(repeating: "a", count: 10_000)]),
    ]

    /// No tokenizer yields more tokens than the text has UTF-8 bytes (a byte-level BPE token covers at
    /// least one byte), plus the chat format's framing (OpenAI documents 3 per message and 3 per reply).
    @Test(arguments: adversarial.map(\.0))
    func inputBoundCoversEveryByteOfAdversarialText(name: String) throws {
        let messages = Self.adversarial.first { $0.0 == name }!.1
        let body = Self.body(messages, maxTokens: 256)
        let textBytes = messages.reduce(0) { $0 + $1.utf8.count }
        #expect(body.count >= textBytes, "JSON escaping never removes bytes")
        let estimate = try shippedTable.worstCase(model: "gpt-4o",
                                                  request: RequestShape(bodyBytes: body.count, messageCount: messages.count, maxTokens: 256))
        let mostTokensPossible = textBytes + 4 * messages.count + 3
        #expect(estimate.inputTokens >= mostTokensPossible)
        let priced = try shippedTable.cost(model: "gpt-4o", usage: TokenUsage(inputTokens: mostTokensPossible, outputTokens: 256))
        #expect(estimate.cost >= priced.total)
    }

    @Test func outputIsMaxTokensClampedToTheModelsLimit() throws {
        let estimate = try shippedTable.worstCase(model: "gpt-4o", request: RequestShape(bodyBytes: 100, messageCount: 1, maxTokens: 1_000_000))
        #expect(estimate.outputTokens == 16_384)
        let small = try shippedTable.worstCase(model: "gpt-4o", request: RequestShape(bodyBytes: 100, messageCount: 1, maxTokens: 50))
        #expect(small.outputTokens == 50)
        #expect(small.inputTokens == 100 + PricingTable.framingTokensPerMessage + PricingTable.framingTokensPerRequest)
        // 140 × 2.5e-06 (input, the highest prompt rate) + 50 × 1e-05
        #expect(small.cost == money("0.00085"))
    }

    @Test(arguments: [(1000, "0.00000125", "0.00001"), (250_000, "0.0000025", "0.000015")])
    func longContextRatesCountOnlyWhenTheBoundPassesTheThreshold(bodyBytes: Int, input: String, output: String) throws {
        let t = try table(CostTests.longContext)
        let estimate = try t.worstCase(model: "lc", request: RequestShape(bodyBytes: bodyBytes, messageCount: 2, maxTokens: 100))
        #expect(estimate.inputRate == money(input))
        #expect(estimate.outputRate == money(output))
    }

    @Test func theHighestRateOfAnyTierBelowTheBoundIsUsed() throws {
        // The first tier's output rate is higher than the second's: a short prompt could be billed at it.
        let t = try table(#"{"odd": {"litellm_provider": "x", "tiered_pricing": [{"input_cost_per_token": 1e-06, "output_cost_per_token": 8e-06, "range": [0, 1000]},"#
                          + #"{"input_cost_per_token": 2e-06, "output_cost_per_token": 4e-06, "range": [1000, 100000]}]}}"#)
        let estimate = try t.worstCase(model: "odd", request: RequestShape(bodyBytes: 5000, messageCount: 1, maxTokens: 10))
        #expect(estimate.inputRate == money("0.000002"))
        #expect(estimate.outputRate == money("0.000008"))
    }

    @Test func providerOverheadIsAddedToTheBound() throws {
        let shape = RequestShape(bodyBytes: 10, messageCount: 0, maxTokens: 1, providerOverheadTokens: 346)
        #expect(try shippedTable.worstCase(model: "gpt-4o", request: shape).inputTokens == 10 + PricingTable.framingTokensPerRequest + 346)
    }

    @Test func unknownModelIsRefusedBeforeAnyEstimate() {
        #expect(throws: PricingError.self) {
            try shippedTable.worstCase(model: "no-such-model", request: RequestShape(bodyBytes: 1, messageCount: 1, maxTokens: 1))
        }
    }

    /// For every usage the request could produce, the estimate covers its cost: random models of the
    /// shipped table (long-context and tiered ones over-represented), request shapes and usages.
    @Test func estimateIsNeverBelowTheCostOfAnyUsageWithinTheBounds() throws {
        var random = SeededGenerator(seed: 0x5EED_2026)
        let all = try shippedTable.models.filter(\.pricesTokens)
        let tricky = all.filter { !$0.thresholds.isEmpty || $0.tieredPricing != nil || $0.reasoningCostPerToken != nil || $0.cacheWrite1hCostPerToken != nil }
        #expect(tricky.count > 100)
        var checked = 0
        for round in 0..<4000 {
            let price = round % 2 == 0 ? tricky.randomElement(using: &random)! : all.randomElement(using: &random)!
            let bodyBytes = [Int.random(in: 0...2000, using: &random), Int.random(in: 0...1_200_000, using: &random)][round % 4 == 0 ? 1 : 0]
            let shape = RequestShape(bodyBytes: bodyBytes, messageCount: Int.random(in: 0...20, using: &random),
                                     maxTokens: Int.random(in: 0...200_000, using: &random))
            let estimate = try shippedTable.worstCase(model: price.name, request: shape)
            for _ in 0..<5 {
                let input = Bool.random(using: &random) ? estimate.inputTokens : Int.random(in: 0...estimate.inputTokens, using: &random)
                let cached = Int.random(in: 0...input, using: &random)
                let write = Int.random(in: 0...(input - cached), using: &random)
                let write1h = Int.random(in: 0...(input - cached - write), using: &random)
                let output = Bool.random(using: &random) ? estimate.outputTokens : Int.random(in: 0...estimate.outputTokens, using: &random)
                let reasoning = Int.random(in: 0...output, using: &random)
                let usage = TokenUsage(inputTokens: input, cachedInputTokens: cached, cacheWriteTokens: write,
                                       cacheWrite1hTokens: write1h, outputTokens: output, reasoningTokens: reasoning)
                let cost = try shippedTable.cost(model: price.name, usage: usage).total
                #expect(cost <= estimate.cost, "\(price.name) \(usage.json.encoded()) costs \(cost) > estimate \(estimate.cost)")
                checked += 1
            }
        }
        #expect(checked == 20_000)
    }
}
