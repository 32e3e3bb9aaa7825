import WfloCore
import WfloPricing

/// What one answered call is charged, and what its settlement found: the one rule for llm steps
/// and agent turns alike.
struct Settlement: Sendable, Hashable {
    /// Every dimension the table prices (issue 25): tokens, audio and image tokens, request and search fees.
    var cost: Money
    /// The per-request and per-search part of ``cost``.
    var fees: Money
    /// ``AttemptFlag``s: `usage_exceeded_reservation` when the reported usage cost more than was
    /// reserved (charged anyway: the provider billed it), `unpriced_usage:FIELD` for usage the table
    /// cannot price (the run then starts no further attempt).
    var flags: [String]

    static func of(_ usage: TokenUsage, model: String, reserved: Money, pricing: PricingTable,
                   searchContextSize: String?) -> Settlement {
        guard let breakdown = try? pricing.cost(model: model, usage: usage, searchContextSize: searchContextSize) else {
            // Priced a moment ago, so this cannot happen unless the table is broken: keep the
            // budget safe by settling at the reservation.
            return Settlement(cost: reserved, fees: .zero, flags: [])
        }
        var flags: [String] = []
        if reserved < breakdown.total { flags.append(AttemptFlag.usageExceededReservation) }
        flags += breakdown.unpriced.map(AttemptFlag.unpricedUsage)
        return Settlement(cost: breakdown.total, fees: breakdown.fees, flags: flags)
    }
}
