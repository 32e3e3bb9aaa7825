import Foundation
import WfloCore

extension AlertRecord {
    /// Where an alert is in its delivery, as `wflo alerts` shows it.
    public enum DeliveryState: String, Sendable, Hashable {
        /// Not tried yet.
        case pending
        /// Tried and failed; tried again at ``AlertRecord/nextAttemptAt``.
        case retrying
        /// Answered 2xx.
        case delivered
        /// Failed its last attempt (``AlertRetryPolicy/maximumAttempts``): never tried again.
        case dead
        /// The scope had no webhook: recorded only.
        case recorded
    }

    public var deliveryState: DeliveryState {
        if deliveredAt != nil { return .delivered }
        if webhook == nil { return .recorded }
        if AlertRetryPolicy.isDead(nextAttemptAt: nextAttemptAt) { return .dead }
        return attempts > 0 ? .retrying : .pending
    }

    /// The alert for `wflo alerts --json`: money exact, times ISO 8601 UTC; the webhook by its
    /// origin only (its path is often its secret).
    public var listingJSON: JSONValue {
        func time(_ date: Date?) -> JSONValue { date.map { .string($0.formatted(.iso8601)) } ?? .null }
        return [
            "id": .string(id),
            "scope": .string(scope),
            "threshold": .number(thresholdText),
            "spent_usd": .string(spent.exact()),
            "limit_usd": .string(limit.exact()),
            "period_start": time(periodStart),
            "resets_at": time(resetsAt),
            "webhook": webhook.map { .string(AlertWebhook.origin(of: $0)) } ?? .null,
            "state": .string(deliveryState.rawValue),
            "attempts": .int(attempts),
            "created_at": time(createdAt),
            "delivered_at": time(deliveredAt),
            "next_attempt_at": deliveryState == .retrying || deliveryState == .pending ? time(nextAttemptAt ?? createdAt) : .null,
            "last_error": lastError.map { .string($0) } ?? .null,
        ]
    }
}
