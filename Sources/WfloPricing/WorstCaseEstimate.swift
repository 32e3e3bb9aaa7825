import WfloCore

/// The most a request can cost, computed before it is sent: what the budget governor reserves.
public struct WorstCaseEstimate: Sendable, Hashable {
    /// The bound on prompt tokens used (body bytes + framing).
    public var inputTokens: Int
    /// `max_tokens`, clamped to the model's `max_output_tokens`.
    public var outputTokens: Int
    /// The highest per-token rate any prompt token can be billed at, for a prompt of at most ``inputTokens``.
    public var inputRate: Money
    /// The highest per-token rate any completion token can be billed at (output or reasoning).
    public var outputRate: Money
    /// The per-call charges held: the per-request fee and the most the request's searches can cost.
    public var fees: Money
    /// `inputRate × inputTokens + outputRate × outputTokens + fees`: never below the true cost of the
    /// request, for any split of its prompt into plain, cached and cache-written tokens.
    public var cost: Money

    public init(inputTokens: Int, outputTokens: Int, inputRate: Money, outputRate: Money, fees: Money = .zero) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.fees = fees
        self.cost = inputRate * inputTokens + outputRate * outputTokens + fees
    }
}
