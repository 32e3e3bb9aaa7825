import Foundation
import Testing
import WfloCore
@testable import WfloPricing

@Suite struct PresenterTests {
    static let usage = TokenUsage(inputTokens: 1000, outputTokens: 500)

    @Test func costTextShowsTheExactAmountInUSD() throws {
        let text = try PricingPresenter.cost(table: shippedTable, model: "gpt-4o-mini", usage: Self.usage, json: false)
        #expect(text.hasPrefix("gpt-4o-mini: 0.00045 USD (exact, not rounded)\n"))
        #expect(text.contains("input: 1000 tokens × 0.00000015 USD = 0.00015 USD"))
        #expect(text.contains("output: 500 tokens × 0.0000006 USD = 0.0003 USD"))
    }

    @Test func costJSONCarriesMoneyAsDecimalStrings() throws {
        let text = try PricingPresenter.cost(table: shippedTable, model: "gpt-4o-mini", usage: Self.usage, json: true)
        #expect(text.hasPrefix(#"{"cache_write_cost_usd":"0","#))
        let json = try JSONValue.parse(text)
        #expect(json["model"] == "gpt-4o-mini")
        #expect(json["cost_usd"] == "0.00045")
        #expect(json["currency"] == "USD")
        #expect(json["output_cost_usd"] == "0.0003")
        #expect(json["usage"]?["input_tokens"] == .int(1000))
        #expect(json["requested_model"] == nil)
    }

    @Test func costJSONNamesTheRequestedModelWhenAnAliasWasResolved() throws {
        let json = try JSONValue.parse(PricingPresenter.cost(table: shippedTable, model: "openai/gpt-4o-mini", usage: Self.usage, json: true))
        #expect(json["model"] == "gpt-4o-mini")
        #expect(json["requested_model"] == "openai/gpt-4o-mini")
    }

    @Test(arguments: [false, true])
    func unknownModelThrowsAnErrorNamingItAndTheOverride(json: Bool) {
        do {
            _ = try PricingPresenter.cost(table: shippedTable, model: "my-finetune", usage: Self.usage, json: json)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("'my-finetune'"))
            #expect("\(error)".contains("--pricing FILE"))
        }
    }

    @Test func showListsRatesLimitsAndSource() throws {
        let text = try PricingPresenter.show(table: shippedTable, model: "gemini/gemini-2.5-pro", json: false)
        #expect(text.contains("provider: gemini"))
        #expect(text.contains("input: 0.00000125 USD/token (1.25 USD/1M tokens)"))
        #expect(text.contains("prompt of 200001+ tokens (whole request): input 0.0000025 USD/token"))
        #expect(text.contains("max output tokens: 65536"))
        #expect(text.contains("source: ") && text.contains("model_prices_and_context_window.json"))
        let json = try JSONValue.parse(PricingPresenter.show(table: shippedTable, model: "gpt-4o", json: true))
        #expect(json["entry"]?["input_cost_per_token"] == .number("2.5e-06"))
    }

    @Test func listFiltersByProvider() throws {
        let t = try table(#"{"b": {"litellm_provider": "openai", "input_cost_per_token": 1e-06, "mode": "chat"},"#
                          + #""a": {"litellm_provider": "openai", "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05},"#
                          + #""c": {"litellm_provider": "anthropic", "input_cost_per_token": 3e-06}}"#)
        let text = try PricingPresenter.list(table: t, provider: "openai", json: false)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[1].split(separator: " ") == ["a", "openai", "-", "2.5", "10"])
        #expect(lines[2].hasPrefix("b "))
        #expect(lines[3] == "2 models from provider 'openai'")
        let json = try JSONValue.parse(try PricingPresenter.list(table: t, provider: "anthropic", json: true))
        #expect(json.arrayValue?.count == 1)
        #expect(json[0]?["input_cost_per_token"] == "0.000003")
    }
}
