import WfloCore

/// One model's entry of the pricing table, in LiteLLM's `model_prices_and_context_window.json` format.
///
/// Every field of the entry is kept in ``raw``, unknown ones included; the rates wflo bills are
/// read from it as exact ``Money`` parsed from the number's text, never through `Double`.
/// A missing or `null` rate is absent; an explicit `0` is a real (free) price.
public struct ModelPrice: Sendable, Hashable {
    /// The table key.
    public var name: String
    /// `litellm_provider`: `openai`, `anthropic`, …
    public var provider: String?
    /// `mode`: `chat`, `completion`, `responses`, `embedding`, …
    public var mode: String?
    /// `max_output_tokens` (or the older `max_tokens`): what one reply can have at most.
    public var maxOutputTokens: Int?
    /// `max_input_tokens`: the context window for the prompt.
    public var maxInputTokens: Int?
    /// The entry as written (after layering: the fields of every layer merged).
    public var raw: JSONValue
    /// Which file the entry, or its last override, came from.
    public var source: String

    /// The entry's fields; `raw` as a dictionary.
    let fields: [String: JSONValue]
    /// The rate fields (``isRateKey(_:)``) as exact amounts, parsed once when the entry is read:
    /// a call prices itself from here, not by parsing the table's text again.
    let rates: [String: Money]

    /// Validates an entry: every rate field must be a number (or a decimal string), token
    /// limits whole numbers.
    /// - Throws: ``PricingError`` (`malformedEntry`) naming the source, the model and the field.
    init(name: String, entry: JSONValue, source: String) throws {
        guard case .object(let object) = entry else {
            throw PricingError(.malformedEntry, "\(source): the entry for model '\(name)' is not a JSON object (found \(entry.encoded()))")
        }
        for (key, value) in object where ModelPrice.isRateKey(key) {
            switch value {
            case .null: continue
            case .number(let text), .string(let text):
                if let problem = Money.unitPriceProblem(text) {
                    throw PricingError(.malformedEntry, "\(source): model '\(name)', field '\(key)': \(problem)")
                }
            default:
                throw PricingError(.malformedEntry, "\(source): model '\(name)', field '\(key)': expected a number of USD per token, found \(value.encoded())")
            }
        }
        if let search = object[ModelPrice.searchFeeKey], !search.isNull {
            let sizes: [(String, JSONValue)] = search.objectValue.map { object in object.map { ($0.key, $0.value) } } ?? [("", search)]
            for (size, value) in sizes where !value.isNull {
                let field = size.isEmpty ? ModelPrice.searchFeeKey : "\(ModelPrice.searchFeeKey).\(size)"
                guard case .number(let text) = value else {
                    throw PricingError(.malformedEntry, "\(source): model '\(name)', field '\(field)': expected a number of USD per search, found \(value.encoded())")
                }
                if let problem = Money.unitPriceProblem(text) {
                    throw PricingError(.malformedEntry, "\(source): model '\(name)', field '\(field)': \(problem)")
                }
            }
        }
        for key in ["max_output_tokens", "max_input_tokens", "max_tokens"] {
            if let value = object[key], !value.isNull, value.intValue == nil {
                throw PricingError(.malformedEntry, "\(source): model '\(name)', field '\(key)': expected a whole number of tokens, found \(value.encoded())")
            }
        }
        if let tiers = object["tiered_pricing"], !tiers.isNull {
            guard let list = tiers.arrayValue else {
                throw PricingError(.malformedEntry, "\(source): model '\(name)', field 'tiered_pricing': expected a list of tiers, found \(tiers.encoded())")
            }
            for (index, tier) in list.enumerated() {
                for (key, value) in tier.objectValue ?? [:] where ModelPrice.isRateKey(key) {
                    if case .null = value { continue }
                    if case .number(let text) = value, Money.unitPriceProblem(text) == nil { continue }
                    if case .string(let text) = value, Money.unitPriceProblem(text) == nil { continue }
                    throw PricingError(.malformedEntry, "\(source): model '\(name)', field 'tiered_pricing[\(index)].\(key)': expected a number, found \(value.encoded())")
                }
            }
        }
        self.name = name
        self.raw = entry
        self.fields = object
        self.rates = object.reduce(into: [:]) { rates, field in
            if ModelPrice.isRateKey(field.key), let money = ModelPrice.money(field.value) { rates[field.key] = money }
        }
        self.thresholds = ModelPrice.thresholds(object)
        self.source = source
        self.provider = object["litellm_provider"]?.stringValue
        self.mode = object["mode"]?.stringValue
        self.maxOutputTokens = object["max_output_tokens"]?.intValue ?? object["max_tokens"]?.intValue
        self.maxInputTokens = object["max_input_tokens"]?.intValue
    }

    /// The per-token rate fields wflo bills (with their long-context, cache-lifetime, service-tier and
    /// batch variants): they must be numbers. Other fields are kept as written and never fatal.
    static func isRateKey(_ key: String) -> Bool {
        rateKeyPrefixes.contains { key.hasPrefix($0) }
    }

    static let rateKeyPrefixes = ["input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
                                  "cache_creation_input_token_cost", "output_cost_per_reasoning_token",
                                  "output_cost_per_image_token", "input_cost_per_audio_token", "output_cost_per_audio_token",
                                  "input_cost_per_image_token", "input_cost_per_request"]

    /// `search_context_cost_per_query`: USD per web search, by search context size.
    static let searchFeeKey = "search_context_cost_per_query"

    /// The fee for one web search at `size` (`low`, `medium`, `high`; nil: the provider's default,
    /// `low` for Perplexity as Perplexity and LiteLLM bill it, `medium` elsewhere). Nil when the
    /// table has no price for it.
    public func searchFee(size: String?) -> Money? {
        guard let value = fields[ModelPrice.searchFeeKey], !value.isNull else { return nil }
        if value.objectValue == nil { return ModelPrice.money(value) }
        let chosen = size ?? (provider == "perplexity" ? "low" : "medium")
        return ModelPrice.money(value["search_context_size_" + chosen])
    }

    /// The highest fee for one web search at any context size; nil when none is priced.
    public var highestSearchFee: Money? {
        guard let value = fields[ModelPrice.searchFeeKey], !value.isNull else { return nil }
        if let object = value.objectValue { return object.values.compactMap { ModelPrice.money($0) }.max() }
        return ModelPrice.money(value)
    }

    /// `input_cost_per_request`: a fee for every call, whatever its tokens.
    public var requestFee: Money? { rate("input_cost_per_request") }

    /// The rate in a field, exactly as written; nil when absent or null.
    public func rate(_ key: String) -> Money? {
        ModelPrice.isRateKey(key) ? rates[key] : ModelPrice.money(fields[key])
    }

    static func money(_ value: JSONValue?) -> Money? {
        switch value {
        case .number(let text)?: return Money(string: text)
        case .string(let text)?: return Money(string: text)
        default: return nil
        }
    }

    /// `input_cost_per_token`.
    public var inputCostPerToken: Money? { rate("input_cost_per_token") }
    /// `output_cost_per_token`.
    public var outputCostPerToken: Money? { rate("output_cost_per_token") }
    /// `cache_read_input_token_cost`.
    public var cacheReadCostPerToken: Money? { rate("cache_read_input_token_cost") }
    /// `cache_creation_input_token_cost` (5-minute cache writes).
    public var cacheWriteCostPerToken: Money? { rate("cache_creation_input_token_cost") }
    /// `cache_creation_input_token_cost_above_1hr` (1-hour cache writes).
    public var cacheWrite1hCostPerToken: Money? { rate("cache_creation_input_token_cost_above_1hr") }
    /// `output_cost_per_reasoning_token`.
    public var reasoningCostPerToken: Money? { rate("output_cost_per_reasoning_token") }
    /// `tiered_pricing`, when the entry has a non-empty list.
    public var tieredPricing: [JSONValue]? {
        guard let list = fields["tiered_pricing"]?.arrayValue, !list.isEmpty else { return nil }
        return list
    }

    /// True when the entry prices tokens (some entries price images, characters or seconds only).
    /// `cost` and `worstCase` refuse a model for which this is false.
    public var pricesTokens: Bool {
        inputCostPerToken != nil || outputCostPerToken != nil || rate("output_cost_per_image_token") != nil
            || tieredPricing != nil
    }

    /// Long-context thresholds (`*_above_{N}_tokens` rates with a value), ascending: the number of
    /// prompt tokens and the text the keys use (`200k`). Read once with the entry: every priced
    /// call asks for them several times (the worst case at each breakpoint, the cost).
    let thresholds: [Threshold]

    static func thresholds(_ fields: [String: JSONValue]) -> [Threshold] {
        var seen: [String: Int] = [:]
        for (key, value) in fields where !value.isNull {
            guard let text = ModelPrice.thresholdText(key), let tokens = ModelPrice.parseThreshold(text) else { continue }
            seen[text] = tokens
        }
        return seen.map { Threshold(tokens: $0.value, text: $0.key) }.sorted { ($0.tokens, $0.text) < ($1.tokens, $1.text) }
    }

    struct Threshold: Hashable {
        var tokens: Int
        var text: String
    }

    static let thresholdPrefixes = ["input_cost_per_token_above_", "output_cost_per_token_above_",
                                    "cache_read_input_token_cost_above_", "cache_creation_input_token_cost_above_"]

    /// The threshold text of a standard long-context key, as LiteLLM reads it:
    /// `input_cost_per_token_above_200k_tokens` → `200k`;
    /// `cache_creation_input_token_cost_above_1hr_above_200k_tokens` → `200k`.
    /// Keys for service tiers (`…_priority`) or batches (`…_batches`) give nil: wflo bills standard calls.
    static func thresholdText(_ key: String) -> String? {
        guard key.hasSuffix("_tokens"), thresholdPrefixes.contains(where: { key.hasPrefix($0) }),
              let range = key.range(of: "_above_", options: .backwards) else { return nil }
        let tail = key[range.upperBound...]
        guard let end = tail.range(of: "_tokens") else { return nil }
        return String(tail[..<end.lowerBound])
    }

    /// `128k` → 128000, `200` → 200.
    static func parseThreshold(_ text: String) -> Int? {
        if text.hasSuffix("k") { return Int(text.dropLast()).map { $0 * 1000 } }
        return Int(text)
    }
}
