import Testing
import WfloCore
@testable import WfloPricing

@Suite struct TableTests {
    @Test func shippedTableHasEveryLiteLLMModel() throws {
        // 4,553 top-level keys: 4,551 models, `sample_spec` and `fallback_generalizations`.
        #expect(shippedTable.count == 4551)
        #expect(try shippedTable.models.filter { $0.mode == "chat" }.count == 3265)
        #expect(try shippedTable.models.map(\.name) == shippedTable.models.map(\.name).sorted())
        #expect((try? shippedTable.price(for: "sample_spec")) == nil)
    }

    @Test func pricesAreReadFromTheNumberTextExactly() throws {
        let t = try table(#"{"m": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": "6e-07", "litellm_provider": "openai"}}"#)
        let price = try t.price(for: "m")
        #expect(price.inputCostPerToken == Money(string: "0.00000015"))
        #expect(price.outputCostPerToken == Money(string: "0.0000006"))
    }

    @Test func unknownFieldsAreKept() throws {
        let t = try table(#"{"m": {"input_cost_per_token": 1e-06, "supports_teleportation": true, "search_context_cost_per_query": {"low": 0.01}}}"#)
        let price = try t.price(for: "m")
        #expect(price.raw["supports_teleportation"] == .bool(true))
        #expect(price.raw["search_context_cost_per_query"]?["low"] == .number("0.01"))
    }

    @Test(arguments: [
        (#"{"bad-model": {"input_cost_per_token": "cheap"}}"#, "input_cost_per_token"),
        (#"{"bad-model": {"output_cost_per_token": [1]}}"#, "output_cost_per_token"),
        (#"{"bad-model": {"cache_read_input_token_cost_above_200k_tokens": true}}"#, "cache_read_input_token_cost_above_200k_tokens"),
        (#"{"bad-model": {"max_output_tokens": 1.5}}"#, "max_output_tokens"),
        (#"{"bad-model": {"tiered_pricing": [{"input_cost_per_token": "x", "range": [0, 1]}]}}"#, "tiered_pricing[0].input_cost_per_token"),
        (#"{"bad-model": 3}"#, "not a JSON object"),
    ])
    func malformedEntryNamesTheModelAndTheField(text: String, field: String) throws {
        do {
            _ = try table(text, source: "mine.json")
            Issue.record("expected an error")
        } catch let error as PricingError {
            #expect(error.code == .malformedEntry)
            #expect(error.message.contains("bad-model"))
            #expect(error.message.contains(field))
            #expect(error.message.contains("mine.json"))
        }
    }

    @Test func overlayReplacesFieldsOfAModelAndAddsNewModels() throws {
        let base = try table(#"{"m": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "litellm_provider": "openai", "max_output_tokens": 100}}"#,
                             source: "base")
        let layered = try base.layered(with: JSONValue.parse(#"{"m": {"output_cost_per_token": 0}, "new": {"input_cost_per_token": 3e-06}}"#),
                                       source: "overlay")
        let m = try layered.price(for: "m")
        #expect(m.inputCostPerToken == money("0.000001"))
        #expect(m.outputCostPerToken == Money.zero)
        #expect(m.maxOutputTokens == 100)
        #expect(m.source == "overlay")
        #expect(try layered.price(for: "new").inputCostPerToken == money("0.000003"))
        #expect(layered.sources == ["base", "overlay"])
        #expect(try base.price(for: "m").outputCostPerToken == money("0.000002"))  // the original is unchanged
    }

    @Test(arguments: [
        ("openai/gpt-4o", "gpt-4o"),
        ("openai/openai/gpt-4o", "gpt-4o"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro"),
        ("gpt-4o-mini", "gpt-4o-mini"),
    ])
    func resolvesProviderPrefixesAsLiteLLMDoes(requested: String, entry: String) throws {
        #expect(try shippedTable.price(for: requested).name == entry)
    }

    @Test(arguments: ["gpt-17-ultra", "acme/gpt-4o", "anthropic/gpt-4o", ""])
    func unknownModelIsAnErrorThatSaysHowToPriceIt(model: String) throws {
        do {
            _ = try shippedTable.price(for: model)
            Issue.record("expected \(model) to be unknown")
        } catch let error as PricingError {
            #expect(error.code == .unknownModel)
            #expect(error.description.contains("'\(model)'"))
            #expect(error.description.contains("--pricing FILE"))
            #expect(error.description.contains("WFLO_PRICING"))
            #expect(error.description.contains("pricing:"))
        }
    }
}
