import Foundation
import WfloCore

/// The pricing table: LiteLLM's `model_prices_and_context_window.json` format, layered.
///
/// Prices are read from the JSON text as exact decimals. Users add or override models with
/// their own files (`--pricing FILE`, `WFLO_PRICING`) or a workflow's `pricing:` block; a model
/// in none of them is refused (fail closed), never priced at $0.
///
/// ## Topics
/// - ``load(overlays:environment:)``
/// - ``cost(model:usage:)``
/// - ``worstCase(model:request:)``
public struct PricingTable: Sendable {
    private var entries: [String: ModelPrice]
    /// Where the data came from, in layering order.
    public private(set) var sources: [String]

    /// The file name of the shipped table inside `pricing/`.
    public static let shippedFileName = "model_prices_and_context_window.json"

    /// Parses a table (an object keyed by model name; `sample_spec` is skipped).
    /// - Throws: ``PricingError`` naming the model and field of a malformed entry.
    public init(json: JSONValue, source: String) throws {
        entries = [:]
        sources = []
        try add(json, source: source)
    }

    /// This table with `overlay`'s entries layered on top: fields of an existing model are
    /// replaced one by one, new models are added.
    public func layered(with overlay: JSONValue, source: String) throws -> PricingTable {
        var copy = self
        try copy.add(overlay, source: source)
        return copy
    }

    private mutating func add(_ json: JSONValue, source: String) throws {
        guard case .object(let object) = json else {
            throw PricingError(.unreadableTable, "\(source): a pricing table is a JSON object keyed by model name")
        }
        for (name, entry) in object where name != "sample_spec" {
            var merged = entry
            if let existing = entries[name], case .object(let fields) = entry {
                var combined = existing.raw
                for (key, value) in fields { combined[key] = value }
                merged = .object(combined)
            }
            entries[name] = try ModelPrice(name: name, entry: merged, source: source)
        }
        sources.append(source)
    }

    /// Reads a table file (JSON).
    public static func read(path: String) throws -> PricingTable {
        try PricingTable(json: parseFile(path), source: path)
    }

    static func parseFile(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PricingError(.unreadableTable, "cannot read the pricing file \(path)")
        }
        do {
            return try JSONValue.parse(data)
        } catch {
            throw PricingError(.unreadableTable, "the pricing file \(path) is not valid JSON: \(error)")
        }
    }

    /// The shipped table, then `WFLO_PRICING` files (colon-separated), then `overlays`.
    ///
    /// The shipped table is `WFLO_PRICING_TABLE` when set, else `pricing/model_prices_and_context_window.json`
    /// found by walking up from the executable's folder, then from the current folder.
    public static func load(overlays: [String] = [], environment: [String: String]) throws -> PricingTable {
        guard let shipped = environment["WFLO_PRICING_TABLE"].flatMap({ $0.isEmpty ? nil : $0 }) ?? locateShippedTable() else {
            throw PricingError(.unreadableTable, "cannot find pricing/\(shippedFileName) (looked above the wflo executable and the current folder); set WFLO_PRICING_TABLE to its path")
        }
        var table = try read(path: shipped)
        let extra = (environment["WFLO_PRICING"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        for path in extra + overlays {
            table = try table.layered(with: parseFile(path), source: path)
        }
        return table
    }

    static func locateShippedTable() -> String? {
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        let starts = [executable, URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        for start in starts {
            var folder = start.standardizedFileURL
            for _ in 0..<8 {
                let candidate = folder.appendingPathComponent("pricing").appendingPathComponent(shippedFileName).path
                if FileManager.default.fileExists(atPath: candidate) { return candidate }
                let parent = folder.deletingLastPathComponent()
                if parent.path == folder.path { break }
                folder = parent
            }
        }
        return nil
    }

    /// Every model, sorted by name.
    public var models: [ModelPrice] { entries.values.sorted { $0.name < $1.name } }

    /// The entry for `model`: the exact key, else without a provider prefix
    /// (`openai/gpt-4o` → `gpt-4o` when that entry's provider is `openai`).
    /// - Throws: ``PricingError`` (`unknown_model`) saying how to price it.
    public func price(for model: String) throws -> ModelPrice {
        if let entry = entries[model] { return entry }
        if let slash = model.firstIndex(of: "/") {
            let prefix = String(model[..<slash])
            let rest = String(model[model.index(after: slash)...])
            if let entry = entries[rest], entry.provider == prefix || (entry.provider ?? "").hasPrefix(prefix) {
                return entry
            }
        }
        if let entry = entries[model.lowercased()] { return entry }
        throw PricingError.unknown(model)
    }

    /// The exact cost of one call.
    public func cost(model: String, usage: TokenUsage) throws -> CostBreakdown {
        PricingTable.cost(price: try price(for: model), usage: usage)
    }

    static func cost(price: ModelPrice, usage: TokenUsage) -> CostBreakdown {
        let rates = TokenRates(price: price, promptTokens: usage.inputTokens)
        let cacheWrites = usage.cacheWriteTokens + usage.cacheWrite1hTokens
        // Cached and cache-written tokens are part of the prompt; the rest is billed at the input rate.
        let plain = max(usage.inputTokens - usage.cachedInputTokens - cacheWrites, 0)
        let reasoning = min(usage.reasoningTokens, usage.outputTokens)
        return CostBreakdown(input: rates.input * plain,
                             cachedInput: rates.cacheRead * usage.cachedInputTokens,
                             cacheWrite: rates.cacheWrite * usage.cacheWriteTokens + rates.cacheWrite1h * usage.cacheWrite1hTokens,
                             output: rates.output * (usage.outputTokens - reasoning),
                             reasoning: rates.reasoning * reasoning,
                             rates: rates)
    }

    /// Framing tokens counted per message (role markers, separators). Providers use 3–4;
    /// 8 leaves room, and the body bytes already over-count (JSON keys and punctuation).
    public static let framingTokensPerMessage = 8
    /// Tokens counted once per request (the reply's priming).
    public static let framingTokensPerRequest = 16

    /// An upper bound of a request's cost, before it is sent.
    ///
    /// Input: a BPE token is at least one byte of UTF-8 text, so the body's byte count bounds the
    /// prompt's tokens; framing per message is added. Output: `max_tokens` clamped to the model's
    /// `max_output_tokens`. Each is priced at the highest rate that could apply to a prompt of at
    /// most that many tokens (long-context tiers, cache writes and reasoning included), so the
    /// estimate is never below the true cost.
    public func worstCase(model: String, request: RequestShape) throws -> WorstCaseEstimate {
        let price = try price(for: model)
        let inputBound = request.bodyBytes + request.messageCount * PricingTable.framingTokensPerMessage + PricingTable.framingTokensPerRequest
        var outputTokens = max(request.maxTokens, 0)
        if let limit = price.maxOutputTokens, limit > 0 { outputTokens = min(outputTokens, limit) }
        var inputRate = Money.zero
        var outputRate = Money.zero
        for point in TokenRates.breakpoints(price: price) + [inputBound] where point <= inputBound {
            let rates = TokenRates(price: price, promptTokens: point)
            inputRate = [inputRate, rates.input, rates.cacheRead, rates.cacheWrite, rates.cacheWrite1h].max()!
            outputRate = [outputRate, rates.output, rates.reasoning].max()!
        }
        return WorstCaseEstimate(inputTokens: inputBound, outputTokens: outputTokens,
                                 cost: inputRate * inputBound + outputRate * outputTokens)
    }
}
