import WfloCore

/// Text and JSON for the `wflo pricing` commands. Money in JSON is a decimal string.
public enum PricingPresenter {
    /// `wflo pricing cost`: the exact cost of a usage, with its parts.
    public static func cost(table: PricingTable, model: String, usage: TokenUsage, json: Bool) throws -> String {
        let price = try table.price(for: model)
        let breakdown = try table.cost(model: model, usage: usage)
        if json {
            let object: JSONValue = [
                "model": .string(price.name),
                "requested_model": .string(model),
                "cost_usd": .string(breakdown.total.description),
                "input_cost_usd": .string(breakdown.input.description),
                "cached_input_cost_usd": .string(breakdown.cachedInput.description),
                "cache_write_cost_usd": .string(breakdown.cacheWrite.description),
                "output_cost_usd": .string(breakdown.output.description),
                "reasoning_cost_usd": .string(breakdown.reasoning.description),
                "usage": usage.json,
            ]
            return object.encoded(sorted: true, pretty: true) + "\n"
        }
        var lines = ["\(price.name): \(breakdown.total.description) USD (exact)"]
        let parts: [(String, Money, Int, Money)] = [
            ("input", breakdown.input, max(usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens - usage.cacheWrite1hTokens, 0), breakdown.rates.input),
            ("cached input", breakdown.cachedInput, usage.cachedInputTokens, breakdown.rates.cacheRead),
            ("cache write", breakdown.cacheWrite, usage.cacheWriteTokens + usage.cacheWrite1hTokens, breakdown.rates.cacheWrite),
            ("output", breakdown.output, usage.outputTokens - min(usage.reasoningTokens, usage.outputTokens), breakdown.rates.output),
            ("reasoning", breakdown.reasoning, min(usage.reasoningTokens, usage.outputTokens), breakdown.rates.reasoning),
        ]
        for (name, amount, tokens, rate) in parts where tokens > 0 {
            lines.append("  \(name): \(tokens) tokens × \(rate.description) = \(amount.description) USD")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `wflo pricing show`: rates, limits and where they came from.
    public static func show(table: PricingTable, model: String, json: Bool) throws -> String {
        let price = try table.price(for: model)
        if json { return JSONValue.object(price.raw.merging(["model": .string(price.name), "source": .string(price.source)]) { a, _ in a }).encoded(sorted: true, pretty: true) + "\n" }
        var lines = ["\(price.name)", "  provider: \(price.provider ?? "-")", "  mode: \(price.mode ?? "-")"]
        func per1M(_ money: Money?) -> String { money.map { "\(($0 * 1_000_000).description) USD / 1M tokens" } ?? "-" }
        lines.append("  input: \(per1M(price.inputCostPerToken))")
        lines.append("  output: \(per1M(price.outputCostPerToken))")
        if let r = price.cacheReadCostPerToken { lines.append("  cache read: \(per1M(r))") }
        if let r = price.cacheWriteCostPerToken { lines.append("  cache write (5 min): \(per1M(r))") }
        if let r = price.cacheWrite1hCostPerToken { lines.append("  cache write (1 hour): \(per1M(r))") }
        if let r = price.reasoningCostPerToken { lines.append("  reasoning: \(per1M(r))") }
        for threshold in price.thresholds {
            let rates = TokenRates(price: price, promptTokens: threshold.tokens + 1)
            lines.append("  above \(threshold.text) prompt tokens: input \(per1M(rates.input)), output \(per1M(rates.output))")
        }
        if price.raw["tiered_pricing"] != nil { lines.append("  tiered pricing: \(price.raw["tiered_pricing"]!.encoded())") }
        lines.append("  max input tokens: \(price.maxInputTokens.map(String.init) ?? "-")")
        lines.append("  max output tokens: \(price.maxOutputTokens.map(String.init) ?? "-")")
        lines.append("  source: \(price.source)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `wflo pricing list`.
    public static func list(table: PricingTable, provider: String?, json: Bool) -> String {
        let models = table.models.filter { provider == nil || $0.provider == provider }
        if json {
            return JSONValue.array(models.map { m in
                ["model": .string(m.name), "provider": m.provider.map(JSONValue.string) ?? .null, "mode": m.mode.map(JSONValue.string) ?? .null,
                 "input_cost_per_token": m.inputCostPerToken.map { .string($0.description) } ?? .null,
                 "output_cost_per_token": m.outputCostPerToken.map { .string($0.description) } ?? .null,
                 "max_output_tokens": m.maxOutputTokens.map { .int($0) } ?? .null]
            }).encoded(sorted: true, pretty: true) + "\n"
        }
        var out = ""
        for m in models {
            let input = m.inputCostPerToken.map { ($0 * 1_000_000).description } ?? "-"
            let output = m.outputCostPerToken.map { ($0 * 1_000_000).description } ?? "-"
            out += "\(m.name)\t\(m.provider ?? "-")\t\(m.mode ?? "-")\tin \(input)\tout \(output) USD/1M\n"
        }
        out += "\(models.count) models\n"
        return out
    }
}
