import WfloCore

/// The pricing table: LiteLLM's `model_prices_and_context_window.json` format, layered.
///
/// Prices are read from the JSON text as exact decimals and every cost is exact decimal
/// arithmetic (invariant 7, "money is exact"). Users add or override models with their own files
/// (`--pricing FILE`, `WFLO_PRICING`) or a workflow's `pricing:` block; a model in none of them is
/// refused (fail closed), never priced at $0.
///
/// ```swift
/// let table = try PricingTable.load(environment: ProcessInfo.processInfo.environment)
/// let cost = try table.cost(model: "gpt-4o-mini", usage: TokenUsage(inputTokens: 1000, outputTokens: 500))
/// print(cost.total)   // 0.00045
/// ```
///
/// ## Topics
/// - ``load(overlays:environment:)``
/// - ``layered(with:source:)``
/// - ``price(for:)``
/// - ``cost(model:usage:)``
/// - ``worstCase(model:request:)``
public struct PricingTable: Sendable {
    /// Decoded entries: those of tables given as JSON values and every model an overlay names.
    /// They win over ``lazyEntries``.
    var entries: [String: ModelPrice]
    /// The models of a table read from a file (the shipped table), decoded on first use.
    var lazyEntries: LazyEntries?
    /// Where the data came from, in layering order.
    public internal(set) var sources: [String]

    /// Top-level keys of LiteLLM's file that are not models: the documented example and the
    /// provider-routing rules (LiteLLM removes both when it loads the map).
    public static let metadataKeys: Set<String> = ["sample_spec", "fallback_generalizations"]

    /// Parses a LiteLLM-format table: a JSON object keyed by model name.
    ///
    /// Lenient: unknown fields are kept; `sample_spec` and `fallback_generalizations` are skipped.
    /// - Parameter source: names the table in messages and in ``ModelPrice/source``.
    /// - Throws: ``PricingError`` (`malformedEntry`) naming the model and the field of a malformed
    ///   entry (a rate that is not a number, a token limit that is not whole); `unreadableTable`
    ///   when `json` is not an object.
    public init(json: JSONValue, source: String) throws {
        entries = [:]
        sources = []
        try add(json, source: source)
    }

    /// This table with `overlay`'s entries layered on top: each field an overlay entry names
    /// replaces that field of the model (others are kept); a new model is added.
    /// Used for `--pricing FILE`, `WFLO_PRICING` and a workflow's `pricing:` block.
    /// - Throws: ``PricingError`` as ``init(json:source:)`` does; the table is unchanged then.
    public func layered(with overlay: JSONValue, source: String) throws -> PricingTable {
        var copy = self
        try copy.add(overlay, source: source)
        return copy
    }

    private mutating func add(_ json: JSONValue, source: String) throws {
        guard case .object(let object) = json else {
            throw PricingError(.unreadableTable, "\(source): a pricing table is a JSON object keyed by model name, found \(json.encoded().prefix(80))")
        }
        var merged: [String: ModelPrice] = [:]
        merged.reserveCapacity(object.count)
        for (name, entry) in object where !PricingTable.metadataKeys.contains(name) {
            var combined = entry
            if case .object(let fields) = entry, let existing = try self.entry(name) {
                var both = existing.fields
                for (key, value) in fields { both[key] = value }
                combined = .object(both)
            }
            merged[name] = try ModelPrice(name: name, entry: combined, source: source)
        }
        entries.merge(merged) { _, new in new }
        sources.append(source)
    }

    /// The entry named exactly `name` in any layer, decoding a file's entry on first use.
    /// - Throws: ``PricingError`` (`malformedEntry`) for a malformed entry, as loading the whole
    ///   table reports it.
    func entry(_ name: String) throws -> ModelPrice? {
        if let entry = entries[name] { return entry }
        return try lazyEntries?.entry(name)
    }

    /// Every model, sorted by name. Decodes every entry not yet decoded.
    /// - Throws: ``PricingError`` (`malformedEntry`) for the first malformed entry by name.
    public var models: [ModelPrice] {
        get throws { try modelNames.sorted().compactMap { try entry($0) } }
    }

    /// Every model's name, unsorted, without decoding any entry.
    public var modelNames: Set<String> {
        var names = Set(entries.keys)
        if let lazyEntries { names.formUnion(lazyEntries.names) }
        return names
    }

    /// The number of models.
    public var count: Int {
        guard let lazyEntries else { return entries.count }
        return lazyEntries.ranges.count + entries.keys.count { lazyEntries.ranges[$0] == nil }
    }

    /// The entry for `model`, resolved as LiteLLM resolves names:
    /// the exact key; else, for `provider/name`, the entry `name` when its `litellm_provider` is that
    /// provider (or a `provider-…` variant such as `vertex_ai-anthropic_models`), after collapsing a
    /// repeated prefix (`openai/openai/gpt-4o`). A prefix naming another provider is not stripped:
    /// `foo/gpt-4o` is unknown rather than priced as OpenAI's.
    /// - Throws: ``PricingError`` (`unknownModel`) naming the model and how to price it.
    public func price(for model: String) throws -> ModelPrice {
        if let entry = try entry(model) { return entry }
        var name = Substring(model)
        while let slash = name.firstIndex(of: "/") {
            let prefix = name[..<slash]
            let rest = name[name.index(after: slash)...]
            if rest.hasPrefix(prefix + "/") {  // openai/openai/gpt-4o
                name = rest
                if let entry = try entry(String(name)) { return entry }
                continue
            }
            if let entry = try entry(String(rest)), let provider = entry.provider,
               provider == prefix || provider.hasPrefix(prefix + "-") || provider.hasPrefix(prefix + "_") {
                return entry
            }
            break
        }
        throw PricingError.unknownModel(model)
    }

    /// The exact cost of one call's usage.
    ///
    /// `usage` is LiteLLM's normalised usage (see `TokenUsage`): prompt tokens that were neither
    /// cached nor cache-written are billed at the input rate, cache reads and writes (5-minute and
    /// 1-hour) at theirs, completion tokens other than reasoning at the output rate and reasoning
    /// tokens at the reasoning rate. The rates are those for a prompt of `usage.inputTokens` tokens
    /// (long-context tiers reprice the whole request), as LiteLLM's `cost_per_token` chooses them.
    /// - Throws: ``PricingError``: `unknownModel`; `notPricedPerToken` for a model the table prices
    ///   only per image, character or second; `invalidUsage` for negative counts.
    ///
    /// Beyond tokens (issue 25): audio and image tokens, which are part of the prompt or completion
    /// counts, at `input_cost_per_audio_token`, `output_cost_per_audio_token`,
    /// `input_cost_per_image_token`, `output_cost_per_image_token` (else at the text rate, as LiteLLM
    /// bills them); `input_cost_per_request` once per call; each web search at
    /// `search_context_cost_per_query` for `searchContextSize` (see ``ModelPrice/searchFee(size:)``).
    /// Searches the table has no price for are listed in ``CostBreakdown/unpriced``, never charged
    /// as $0 silently.
    public func cost(model: String, usage: TokenUsage, searchContextSize: String? = nil) throws -> CostBreakdown {
        let price = try priced(model)
        let counts = [usage.inputTokens, usage.cachedInputTokens, usage.cacheWriteTokens, usage.cacheWrite1hTokens,
                      usage.outputTokens, usage.reasoningTokens] + usage.extraCounts.map(\.value)
        guard counts.allSatisfy({ $0 >= 0 }) else {
            throw PricingError(.invalidUsage, "cannot price a negative token count for model '\(model)': \(usage.json.encoded())")
        }
        let rates = TokenRates(price: price, promptTokens: usage.inputTokens)
        // Cached and cache-written tokens are part of the prompt; the rest is billed at the input rate.
        let plain = max(usage.inputTokens - usage.cachedInputTokens - usage.cacheWriteTokens - usage.cacheWrite1hTokens
                        - usage.audioInputTokens - usage.imageInputTokens, 0)
        // Reasoning tokens are part of the output; like LiteLLM, all of them are billed even when a
        // provider reports more reasoning than output.
        let text = max(usage.outputTokens - usage.reasoningTokens - usage.audioOutputTokens - usage.imageOutputTokens, 0)
        let media = (price.rate("input_cost_per_audio_token") ?? rates.input) * usage.audioInputTokens
            + (price.rate("input_cost_per_image_token") ?? rates.input) * usage.imageInputTokens
            + (price.rate("output_cost_per_audio_token") ?? rates.output) * usage.audioOutputTokens
            + (price.rate("output_cost_per_image_token") ?? rates.output) * usage.imageOutputTokens
        var fees = price.requestFee ?? .zero
        var unpriced: [String] = []
        if usage.webSearchRequests > 0 {
            if let fee = price.searchFee(size: searchContextSize) {
                fees += fee * usage.webSearchRequests
            } else {
                unpriced.append("web_search_requests")
            }
        }
        return CostBreakdown(model: price.name, usage: usage,
                             input: rates.input * plain,
                             cachedInput: rates.cacheRead * usage.cachedInputTokens,
                             cacheWrite: rates.cacheWrite * usage.cacheWriteTokens + rates.cacheWrite1h * usage.cacheWrite1hTokens,
                             output: rates.output * text,
                             reasoning: rates.reasoning * usage.reasoningTokens,
                             rates: rates, media: media, fees: fees, unpriced: unpriced)
    }

    /// Framing tokens counted per message (role markers and separators: 3–4 with OpenAI's chat
    /// format). 8 leaves room; the body's JSON keys and punctuation already over-count.
    public static let framingTokensPerMessage = 8
    /// Tokens counted once per request (the reply's priming, a default system header).
    public static let framingTokensPerRequest = 32

    /// An upper bound of the cost of a request, before it is sent: what the budget governor reserves.
    ///
    /// Input: a BPE token covers at least one byte of the UTF-8 text, and JSON escaping only adds
    /// bytes, so the body's byte count bounds the prompt's text tokens; framing per message and per
    /// request (``framingTokensPerMessage``, ``framingTokensPerRequest``) and
    /// ``RequestShape/providerOverheadTokens`` are added. Output: `max_tokens` clamped to the model's
    /// `max_output_tokens`. Every input token is priced at the highest prompt rate (input, cache read,
    /// cache writes) and every output token at the highest completion rate (output, reasoning) that
    /// can apply to a prompt of at most the bound, long-context tiers included.
    ///
    /// Guarantee: for any usage with `inputTokens ≤ inputTokens(bound)` whose cached and
    /// cache-written tokens are part of it, and `outputTokens ≤ outputTokens(clamped)` whose reasoning
    /// is part of it, `cost(model:usage:).total ≤ estimate.cost`.
    /// - Throws: ``PricingError`` as ``cost(model:usage:)`` does.
    public func worstCase(model: String, request: RequestShape) throws -> WorstCaseEstimate {
        let price = try priced(model)
        let inputBound = max(request.bodyBytes, 0) + max(request.messageCount, 0) * PricingTable.framingTokensPerMessage
            + PricingTable.framingTokensPerRequest + max(request.providerOverheadTokens, 0)
        var outputTokens = max(request.maxTokens, 0)
        if let limit = price.maxOutputTokens, limit > 0 { outputTokens = min(outputTokens, limit) }
        var inputRate = Money.zero
        var outputRate = Money.zero
        for point in TokenRates.breakpoints(price: price) + [inputBound] where point <= inputBound {
            let rates = TokenRates(price: price, promptTokens: point)
            for rate in [rates.input, rates.cacheRead, rates.cacheWrite, rates.cacheWrite1h] { inputRate = Money.max(inputRate, rate) }
            for rate in [rates.output, rates.reasoning] { outputRate = Money.max(outputRate, rate) }
        }
        return WorstCaseEstimate(inputTokens: inputBound, outputTokens: outputTokens, inputRate: inputRate, outputRate: outputRate,
                                 fees: try worstCaseFees(price, request: request))
    }

    /// The per-call charges a request can incur: the per-request fee, always; for a request that
    /// enables web search, the highest search fee × its `max_uses`; for a model that searches on
    /// every call (Perplexity), the highest search fee once (× `max_uses` when given).
    /// - Throws: ``PricingError`` (`unpricedUsage`) when the request enables search and the table has
    ///   no search price for the model: what it would cost is unknown, so it is not sent.
    func worstCaseFees(_ price: ModelPrice, request: RequestShape) throws -> Money {
        var fees = price.requestFee ?? .zero
        let alwaysSearches = price.provider == "perplexity" && price.highestSearchFee != nil
        guard request.webSearchMaxUses != nil || alwaysSearches else { return fees }
        guard let fee = price.highestSearchFee else {
            throw PricingError(.unpricedUsage, """
                model '\(price.name)' has no search_context_cost_per_query in the pricing table (\(price.source)), so the \
                web searches this request enables cannot be priced and it is not sent; \(PricingError.howToPrice(price.name))
                """)
        }
        fees += fee * max(request.webSearchMaxUses ?? 1, 1)
        return fees
    }

    /// The entry for `model`, refusing one without per-token prices.
    func priced(_ model: String) throws -> ModelPrice {
        let price = try price(for: model)
        guard price.pricesTokens else { throw PricingError.notPricedPerToken(model, source: price.source) }
        return price
    }
}
