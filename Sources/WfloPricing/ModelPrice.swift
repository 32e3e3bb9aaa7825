import WfloCore

/// One model's entry of the pricing table, in LiteLLM's format.
///
/// Every field of the entry is kept in ``raw`` (unknown ones included); the rates wflo bills
/// are read from it as exact ``Money``.
public struct ModelPrice: Sendable, Hashable {
    /// The table key.
    public var name: String
    /// `litellm_provider`: `openai`, `anthropic`, …
    public var provider: String?
    public var mode: String?
    public var maxOutputTokens: Int?
    public var maxInputTokens: Int?
    /// The entry as written.
    public var raw: [String: JSONValue]
    /// Which file the entry (or its last override) came from.
    public var source: String

    /// Validates the entry: every `*cost*` field must be a number; token limits whole numbers.
    init(name: String, entry: JSONValue, source: String) throws {
        guard case .object(let object) = entry else {
            throw PricingError(.malformedEntry, "\(source): the entry for '\(name)' is not an object")
        }
        for (key, value) in object where ModelPrice.isRateKey(key) {
            switch value {
            case .number, .null: continue
            case .string(let s) where Money(string: s) != nil: continue
            default:
                throw PricingError(.malformedEntry, "\(source): model '\(name)', field '\(key)': expected a number, found \(value.encoded())")
            }
        }
        for key in ["max_output_tokens", "max_input_tokens", "max_tokens"] {
            if let value = object[key], !value.isNull, value.intValue == nil {
                throw PricingError(.malformedEntry, "\(source): model '\(name)', field '\(key)': expected a whole number, found \(value.encoded())")
            }
        }
        self.name = name
        self.raw = object
        self.source = source
        self.provider = object["litellm_provider"]?.stringValue
        self.mode = object["mode"]?.stringValue
        self.maxOutputTokens = object["max_output_tokens"]?.intValue ?? object["max_tokens"]?.intValue
        self.maxInputTokens = object["max_input_tokens"]?.intValue
    }

    static func isRateKey(_ key: String) -> Bool {
        key.hasPrefix("input_cost_per_token") || key.hasPrefix("output_cost_per_token") || key.hasPrefix("cache_read_input_token_cost")
            || key.hasPrefix("cache_creation_input_token_cost") || key.hasPrefix("output_cost_per_reasoning_token")
    }

    /// The rate in a field, exactly as written; nil when absent or null.
    public func rate(_ key: String) -> Money? {
        ModelPrice.money(raw[key])
    }

    static func money(_ value: JSONValue?) -> Money? {
        switch value {
        case .number(let text)?: return Money(string: text)
        case .string(let text)?: return Money(string: text)
        default: return nil
        }
    }

    public var inputCostPerToken: Money? { rate("input_cost_per_token") }
    public var outputCostPerToken: Money? { rate("output_cost_per_token") }
    public var cacheReadCostPerToken: Money? { rate("cache_read_input_token_cost") }
    public var cacheWriteCostPerToken: Money? { rate("cache_creation_input_token_cost") }
    public var cacheWrite1hCostPerToken: Money? { rate("cache_creation_input_token_cost_above_1hr") }
    public var reasoningCostPerToken: Money? { rate("output_cost_per_reasoning_token") }

    /// True when the entry prices tokens at all (some entries price images or seconds only).
    public var pricesTokens: Bool { inputCostPerToken != nil || outputCostPerToken != nil || raw["tiered_pricing"] != nil }

    /// Long-context thresholds (`*_above_{N}k_tokens`), ascending, each with its text form (`200k`).
    var thresholds: [(tokens: Int, text: String)] {
        var seen: [String: Int] = [:]
        for (key, value) in raw where !value.isNull {
            guard let (_, text) = ModelPrice.splitThresholdKey(key), let tokens = ModelPrice.parseThreshold(text) else { continue }
            seen[text] = tokens
        }
        return seen.map { (tokens: $0.value, text: $0.key) }.sorted { $0.tokens < $1.tokens }
    }

    static let thresholdPrefixes = ["input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost", "cache_creation_input_token_cost"]

    /// `input_cost_per_token_above_200k_tokens` → (`input_cost_per_token`, `200k`). Keys with a
    /// suffix after `_tokens` (service tiers, batches) are not standard rates and give nil.
    static func splitThresholdKey(_ key: String) -> (String, String)? {
        guard key.hasSuffix("_tokens"), let range = key.range(of: "_above_", options: .backwards) else { return nil }
        let prefix = String(key[key.startIndex..<range.lowerBound])
        guard thresholdPrefixes.contains(prefix) else { return nil }
        let text = String(key[range.upperBound..<key.index(key.endIndex, offsetBy: -7)])
        return (prefix, text)
    }

    /// `128k` → 128000, `200` → 200.
    static func parseThreshold(_ text: String) -> Int? {
        if text.hasSuffix("k") { return Int(text.dropLast()).map { $0 * 1000 } }
        return Int(text)
    }
}
