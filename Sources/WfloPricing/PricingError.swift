/// Errors of the pricing engine. Every message names the model, field or file involved and,
/// where there is one, what to do about it.
///
/// Match on ``code`` (`error.code == .unknownModel`); new codes break no caller.
public struct PricingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, for programs.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The model is in no layer of the pricing table (after aliases and provider prefixes).
        public static let unknownModel = Code(rawValue: "unknown_model")
        /// The model is in the table but has no per-token price (priced per image, second, …).
        public static let notPricedPerToken = Code(rawValue: "not_priced_per_token")
        /// An entry of a table is malformed (a price that is not a number, …).
        public static let malformedEntry = Code(rawValue: "malformed_entry")
        /// A table file is missing, unreadable or not JSON.
        public static let unreadableTable = Code(rawValue: "unreadable_table")
        /// Token counts that cannot be priced (negative numbers).
        public static let invalidUsage = Code(rawValue: "invalid_usage")
        /// The request would incur a charge the table has no price for (web search without a search price).
        public static let unpricedUsage = Code(rawValue: "unpriced_usage")
    }

    public let code: Code
    /// A message a person can act on.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// How to price a model wflo does not know; shared by every message that needs it.
    static func howToPrice(_ model: String) -> String {
        """
        price it in a LiteLLM-format JSON file, e.g. {"\(model)": {"input_cost_per_token": 1e-06, \
        "output_cost_per_token": 2e-06, "litellm_provider": "openai", "max_output_tokens": 8192}}, \
        passed with --pricing FILE or WFLO_PRICING=FILE (colon-separated), or in a `pricing:` block of the workflow
        """
    }

    static func unknownModel(_ model: String) -> PricingError {
        PricingError(.unknownModel, """
            model '\(model)' is not in the pricing table, so wflo cannot know what a call costs and will not make it; \
            \(howToPrice(model))
            """)
    }

    static func notPricedPerToken(_ model: String, source: String) -> PricingError {
        PricingError(.notPricedPerToken, """
            model '\(model)' (from \(source)) has no per-token price (input_cost_per_token, output_cost_per_token \
            or tiered_pricing), so wflo cannot price its tokens; \(howToPrice(model))
            """)
    }
}
