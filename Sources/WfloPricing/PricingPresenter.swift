import WfloCore

/// Text and JSON for the `wflo pricing` commands, kept here so the CLI stays thin and the output
/// is tested.
///
/// Amounts are exact: text shows the full decimal with the currency (`0.00045 USD`), JSON carries
/// money as decimal strings (`"cost_usd": "0.00045"`), never floats. Rates are shown per token
/// and, for reading, per million tokens (an exact multiplication, not a rounding).
public enum PricingPresenter {
    /// `wflo pricing cost MODEL …`: the exact cost of a usage, with its parts.
    /// - Throws: ``PricingError`` for an unknown model (naming it and how to price it).
    public static func cost(table: PricingTable, model: String, usage: TokenUsage, json: Bool) throws -> String {
        let breakdown = try table.cost(model: model, usage: usage)
        let rates = breakdown.rates
        let plain = max(usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens - usage.cacheWrite1hTokens, 0)
        let text = max(usage.outputTokens - usage.reasoningTokens, 0)
        if json {
            var object: [String: JSONValue] = [
                "model": .string(breakdown.model),
                "currency": "USD",
                "cost_usd": .string(breakdown.total.description),
                "input_cost_usd": .string(breakdown.input.description),
                "cached_input_cost_usd": .string(breakdown.cachedInput.description),
                "cache_write_cost_usd": .string(breakdown.cacheWrite.description),
                "output_cost_usd": .string(breakdown.output.description),
                "reasoning_cost_usd": .string(breakdown.reasoning.description),
                "usage": usage.json,
                "rates_usd_per_token": [
                    "input": .string(rates.input.description), "cache_read": .string(rates.cacheRead.description),
                    "cache_write": .string(rates.cacheWrite.description), "cache_write_1h": .string(rates.cacheWrite1h.description),
                    "output": .string(rates.output.description), "reasoning": .string(rates.reasoning.description),
                ],
            ]
            if breakdown.model != model { object["requested_model"] = .string(model) }
            return JSONValue.object(object).encoded(sorted: true) + "\n"
        }
        var lines = ["\(breakdown.model): \(breakdown.total.description) USD (exact, not rounded)"]
        let parts: [(String, Int, Money, Money)] = [
            ("input", plain, rates.input, breakdown.input),
            ("cached input", usage.cachedInputTokens, rates.cacheRead, breakdown.cachedInput),
            ("cache write (5 min)", usage.cacheWriteTokens, rates.cacheWrite, rates.cacheWrite * usage.cacheWriteTokens),
            ("cache write (1 hour)", usage.cacheWrite1hTokens, rates.cacheWrite1h, rates.cacheWrite1h * usage.cacheWrite1hTokens),
            ("output", text, rates.output, breakdown.output),
            ("reasoning", usage.reasoningTokens, rates.reasoning, breakdown.reasoning),
        ]
        for (name, tokens, rate, amount) in parts where tokens > 0 {
            lines.append("  \(name): \(tokens) tokens × \(rate.description) USD = \(amount.description) USD")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `wflo pricing show MODEL`: rates, limits and the file the entry came from.
    /// - Throws: ``PricingError`` for an unknown model.
    public static func show(table: PricingTable, model: String, json: Bool) throws -> String {
        let price = try table.price(for: model)
        if json {
            return JSONValue.object(["model": .string(price.name), "source": .string(price.source), "entry": price.raw])
                .encoded(sorted: true) + "\n"
        }
        var lines = [price.name,
                     "  provider: \(price.provider ?? "-")",
                     "  mode: \(price.mode ?? "-")"]
        let rated: [(String, Money?)] = [
            ("input", price.inputCostPerToken), ("output", price.outputCostPerToken),
            ("cache read", price.cacheReadCostPerToken), ("cache write (5 min)", price.cacheWriteCostPerToken),
            ("cache write (1 hour)", price.cacheWrite1hCostPerToken), ("reasoning", price.reasoningCostPerToken),
        ]
        for (name, rate) in rated {
            if let rate { lines.append("  \(name): \(perToken(rate))") }
        }
        for threshold in price.thresholds {
            let first = threshold.tokens + (TokenRates.inclusiveThresholds(price) ? 0 : 1)
            let rates = TokenRates(price: price, promptTokens: first)
            lines.append("  prompt of \(first)+ tokens (whole request): input \(perToken(rates.input)), output \(perToken(rates.output))")
        }
        if let tiers = price.tieredPricing {
            lines.append("  tiered pricing (whole request at one tier): \(JSONValue.array(tiers).encoded())")
        }
        lines.append("  max input tokens: \(price.maxInputTokens.map(String.init) ?? "-")")
        lines.append("  max output tokens: \(price.maxOutputTokens.map(String.init) ?? "-")")
        if !price.pricesTokens { lines.append("  note: no per-token price; wflo refuses to call this model") }
        lines.append("  source: \(price.source)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `wflo pricing list [--provider P]`: every model (of one `litellm_provider`), sorted by name.
    /// - Throws: ``PricingError`` (`malformedEntry`) when an entry of the table is malformed.
    public static func list(table: PricingTable, provider: String?, json: Bool) throws -> String {
        let models = try table.models.filter { provider == nil || $0.provider == provider }
        func money(_ value: Money?) -> JSONValue { value.map { .string($0.description) } ?? .null }
        if json {
            return JSONValue.array(models.map { m in
                ["model": .string(m.name), "provider": m.provider.map(JSONValue.string) ?? .null,
                 "mode": m.mode.map(JSONValue.string) ?? .null,
                 "input_cost_per_token": money(m.inputCostPerToken), "output_cost_per_token": money(m.outputCostPerToken),
                 "max_input_tokens": m.maxInputTokens.map { .int($0) } ?? .null,
                 "max_output_tokens": m.maxOutputTokens.map { .int($0) } ?? .null]
            }).encoded(sorted: true) + "\n"
        }
        var rows = [["MODEL", "PROVIDER", "MODE", "INPUT USD/1M", "OUTPUT USD/1M"]]
        for m in models {
            rows.append([m.name, m.provider ?? "-", m.mode ?? "-",
                         m.inputCostPerToken.map { ($0 * 1_000_000).description } ?? "-",
                         m.outputCostPerToken.map { ($0 * 1_000_000).description } ?? "-"])
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var out = ""
        for row in rows {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }
            out += cells.joined(separator: "  ") + "\n"
        }
        out += "\(models.count) models" + (provider.map { " from provider '\($0)'" } ?? "") + "\n"
        return out
    }

    /// `2.5e-06` → `0.0000025 USD/token (2.5 USD/1M tokens)`.
    static func perToken(_ rate: Money) -> String {
        "\(rate.description) USD/token (\((rate * 1_000_000).description) USD/1M tokens)"
    }
}
