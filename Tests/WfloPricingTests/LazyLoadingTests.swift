import Foundation
import Testing
import WfloCore
@testable import WfloPricing

/// A table read from a file decodes an entry when it is used: commands that call no model pay for
/// no entry, and an entry gets the same checks and messages as when the whole table is decoded.
@Suite struct LazyLoadingTests {
    /// The table a file with `text` gives, through the lazy path `read(path:)` takes.
    func lazyTable(_ text: String, source: String = "mine.json") throws -> PricingTable {
        try PricingTable(data: Data(text.utf8), source: source)
    }

    func error(_ body: () throws -> Any?) -> PricingError? {
        do { _ = try body(); return nil } catch { return error as? PricingError }
    }

    @Test func readingTheShippedTableDecodesNoEntryUntilAModelIsPriced() throws {
        let path = repositoryRoot.appendingPathComponent("pricing").appendingPathComponent(PricingTable.shippedFileName).path
        let t = try PricingTable.read(path: path)
        #expect(t.lazyEntries?.decodeCount == 0)
        #expect(t.count == 4551)
        #expect(t.modelNames.count == 4551 && !t.modelNames.contains("sample_spec"))
        _ = try t.cost(model: "gpt-4o-mini", usage: TokenUsage(inputTokens: 1000, outputTokens: 500))
        _ = try t.price(for: "gpt-4o-mini")
        #expect(t.lazyEntries?.decodeCount == 1)
        // Every entry decodes to what the eager load gives.
        let eager = try PricingTable(json: PricingTable.parseFile(path), source: path)
        #expect(try t.models == eager.models)
    }

    @Test(arguments: [
        (#"{"bad-model": {"input_cost_per_token": "cheap"}, "good": {"input_cost_per_token": 1e-06}}"#),
        (#"{"good": {"input_cost_per_token": 1e-06}, "bad-model": {"output_cost_per_token": [1]}}"#),
        (#"{"bad-model": {"input_cost_per_token": 1001}, "good": {"input_cost_per_token": 1e-06}}"#),
        (#"{"bad-model": {"input_cost_per_token": -1e-06}, "good": {"input_cost_per_token": 1e-06}}"#),
        (#"{"bad-model": {"max_output_tokens": 1.5}, "good": {"input_cost_per_token": 1e-06}}"#),
        (#"{"bad-model": {"tiered_pricing": [{"input_cost_per_token": "x", "range": [0, 1]}]}, "good": {"input_cost_per_token": 1e-06}}"#),
        (#"{"bad-model": 3, "good": {"input_cost_per_token": 1e-06}}"#),
    ])
    func anUnusedMalformedEntryDoesNotStopAnotherModelAndUsingItFailsAsBefore(text: String) throws {
        // Given a table whose entry 'bad-model' is malformed
        let eagerError = error { try table(text, source: "mine.json") }
        #expect(eagerError?.code == .malformedEntry)
        let t = try lazyTable(text)
        // When another model is priced, it is
        #expect(try t.price(for: "good").inputCostPerToken == money("0.000001"))
        #expect(t.lazyEntries?.decodeCount == 1)
        // Then using the malformed one fails with the very error the eager load gives, every time
        #expect(error { try t.price(for: "bad-model") } == eagerError)
        #expect(error { try t.cost(model: "bad-model", usage: TokenUsage(inputTokens: 1, outputTokens: 1)) } == eagerError)
        #expect(error { try t.models } == eagerError)
        #expect(error { try t.layered(with: JSONValue.parse(#"{"bad-model": {"output_cost_per_token": 1e-06}}"#), source: "o") } == eagerError)
    }

    @Test func anEntryThatIsNotValidJSONIsReportedWithTheWholeFilesPosition() throws {
        let text = "{\"good\": {\"input_cost_per_token\": 1e-06},\n \"bad-model\": {\"input_cost_per_token\": 1.2.3}}"
        let eagerError = error { try PricingTable.parseData(Data(text.utf8), path: "mine.json") }
        #expect(eagerError?.code == .unreadableTable)
        let t = try lazyTable(text)
        #expect(try t.price(for: "good").inputCostPerToken == money("0.000001"))
        #expect(error { try t.price(for: "bad-model") } == eagerError)
    }

    @Test(arguments: ["{\"a\": {}", "[1, 2]", "{\"a\" {}}", "{\"a\": {}} x", "", "{\"a\": \"unterminated}"])
    func aFileWhoseTopLevelIsBrokenFailsAtLoadAsBefore(text: String) throws {
        let eagerError = error { try PricingTable(json: PricingTable.parseData(Data(text.utf8), path: "mine.json"), source: "mine.json") }
        #expect(eagerError?.code == .unreadableTable)
        #expect(error { try lazyTable(text) } == eagerError)
    }

    @Test func escapedAndRepeatedKeysResolveAsTheParserReadsThem() throws {
        let text = #"{"a\u0062": {"input_cost_per_token": 1e-06}, "x": {"input_cost_per_token": 1e-06}, "x": {"input_cost_per_token": 2e-06}, "sample_spec": {"input_cost_per_token": "ignored"}}"#
        let t = try lazyTable(text)
        let eager = try table(text, source: "mine.json")
        #expect(try t.models == eager.models)
        #expect(try t.price(for: "ab").inputCostPerToken == money("0.000001"))
        #expect(try t.price(for: "x").inputCostPerToken == money("0.000002"))
        #expect(t.count == eager.count && t.count == 2)
    }

    @Test func anOverlayLayersFieldByFieldOnALazyEntry() throws {
        let t = try lazyTable(#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "litellm_provider": "openai"}, "n": {"input_cost_per_token": 5e-06}}"#,
                              source: "shipped")
        let layered = try t.layered(with: JSONValue.parse(#"{"m": {"output_cost_per_token": 3e-06}, "new": {"input_cost_per_token": 4e-06}}"#), source: "overlay")
        let m = try layered.price(for: "m")
        #expect(m.inputCostPerToken == money("0.000001") && m.outputCostPerToken == money("0.000003"))
        #expect(m.provider == "openai" && m.source == "overlay")
        #expect(try layered.price(for: "openai/m") == m)
        #expect(try layered.price(for: "n").source == "shipped")
        #expect(try layered.price(for: "new").inputCostPerToken == money("0.000004"))
        #expect(layered.count == 3)
        #expect(t.count == 2)
        // An overlay's own malformed field is refused when it is layered, naming the overlay.
        let bad = error { try t.layered(with: JSONValue.parse(#"{"n": {"output_cost_per_token": "x"}}"#), source: "overlay") }
        #expect(bad?.code == .malformedEntry && bad?.message.contains("overlay") == true)
        // A model in no layer is refused.
        #expect(error { try layered.price(for: "missing") }?.code == .unknownModel)
    }
}
