/// Errors of the pricing engine; each names the model, field or file.
public struct PricingError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case unknownModel = "unknown_model"
        case malformedEntry = "malformed_entry"
        case unreadableTable = "unreadable_table"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func unknown(_ model: String) -> PricingError {
        PricingError(.unknownModel, """
            model '\(model)' is not in the pricing table, so its cost cannot be known and wflo will not call it. \
            Price it in a LiteLLM-format file ({"\(model)": {"input_cost_per_token": …, "output_cost_per_token": …, \
            "litellm_provider": "openai", "max_output_tokens": …}}) passed with --pricing FILE or WFLO_PRICING=FILE, \
            or in a `pricing:` block of the workflow
            """)
    }
}
