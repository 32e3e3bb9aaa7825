import Foundation
import WfloCore
import WfloProviders

/// What the alert deliverer posts for one budget alert, and where Slack gets its `text`.
///
/// The body is JSON with `scope`, `threshold`, `spent_usd`, `limit_usd`, `period_start`,
/// `resets_at` (money as exact decimal strings, times in ISO 8601 UTC, as in `wflo report`'s
/// JSON; `resets_at` is null for a scope with period `none`), plus `alert_id` so a receiver can
/// drop a repeat. A Slack incoming-webhook URL (host `hooks.slack.com`) also gets `text`, a
/// sentence Slack shows as the message.
///
/// ```swift
/// let body = AlertWebhook.body(for: alert, period: .day, slack: AlertWebhook.isSlack(url: webhook))
/// ```
public enum AlertWebhook {
    /// The hosts whose webhooks are Slack incoming webhooks.
    public static let slackHosts: Set<String> = ["hooks.slack.com"]

    /// Whether `url` is an incoming webhook of one of `hosts` (by its host alone, case-insensitively).
    public static func isSlack(url: String, hosts: Set<String> = slackHosts) -> Bool {
        guard let host = URL(string: url)?.host?.lowercased() else { return false }
        return hosts.contains(host)
    }

    /// The JSON body for `alert`; with `slack`, a readable `text` too.
    public static func body(for alert: AlertRecord, slack: Bool) -> JSONValue {
        var object: [String: JSONValue] = [
            "alert_id": .string(alert.id),
            "scope": .string(alert.scope),
            "threshold": .number(alert.thresholdText),
            "spent_usd": .string(alert.spent.exact()),
            "limit_usd": .string(alert.limit.exact()),
            "period_start": .string(iso(alert.periodStart)),
            "resets_at": alert.resetsAt.map { .string(iso($0)) } ?? .null,
        ]
        if slack { object["text"] = .string(text(for: alert)) }
        return .object(object)
    }

    /// "Budget scope research reached 80% of its limit: $40.01 of $50.00 committed since
    /// 2026-12-03T00:00:00Z; it resets at 2026-12-04T00:00:00Z."
    public static func text(for alert: AlertRecord) -> String {
        let percent = Money(alert.threshold * 100).description
        var text = "Budget scope \(alert.scope) reached \(percent)% of its limit: \(dollars(alert.spent)) of \(dollars(alert.limit)) committed"
        if let resets = alert.resetsAt {
            text += " since \(iso(alert.periodStart)); it resets at \(iso(resets))."
        } else {
            text += " (the limit never resets)."
        }
        return text
    }

    /// Cents for amounts of a cent or more, else the exact amount: `$40.01`, `$0.0042`.
    static func dollars(_ money: Money) -> String {
        money.amount >= Decimal(string: "0.01")! ? money.dollars(decimals: 2) : "$" + money.description
    }

    static func iso(_ date: Date) -> String { date.formatted(.iso8601) }

    /// The URL as it may be shown in errors and listings: scheme, host and port. The path of a
    /// webhook is often its secret (a Slack URL's is), so it is never shown.
    public static func origin(of url: String) -> String {
        guard let parts = URL(string: url), let scheme = parts.scheme, let host = parts.host else { return "(an unreadable URL)" }
        return "\(scheme)://\(host)" + (parts.port.map { ":\($0)" } ?? "")
    }
}

/// One POST of an outbox message (a budget alert, an approval notification) to its webhook.
enum OutboxPost {
    /// One deliverer's pass over an outbox: claims a batch, delivers it concurrently, and claims again
    /// until a claim comes back short (at most 10 claims, so a pass ends). `claim` returns nil when the
    /// journal cannot be read now (the next pass tries again).
    static func drain<Item: Sendable, Outcome: Sendable>(batch: Int, claim: () async -> [Item]?,
                                                         deliver: @escaping @Sendable (Item) async -> Outcome?) async -> [Outcome] {
        var outcomes: [Outcome] = []
        for _ in 0..<10 {
            guard !Task.isCancelled, let claimed = await claim(), !claimed.isEmpty else { break }
            outcomes += await withTaskGroup(of: Outcome?.self) { group in
                for item in claimed { group.addTask { await deliver(item) } }
                var done: [Outcome] = []
                for await outcome in group { if let outcome { done.append(outcome) } }
                return done
            }
            if claimed.count < batch { break }
        }
        return outcomes
    }

    enum Result: Sendable {
        /// Answered 2xx.
        case delivered
        /// Not delivered, and why, naming only the webhook's origin (its path is often its secret).
        case failed(String)
        /// Cut off (the task was cancelled) or an unexpected error: nothing is journaled, the claim ends with its lease.
        case abandoned
    }

    /// POSTs `body` as JSON to `webhook` with `userAgent`, bounded by `timeout`, reading at most 64 KiB of the answer.
    static func send(_ body: JSONValue, to webhook: String, userAgent: String, http: any HTTPStepTransport, timeout: Duration) async -> Result {
        let request = HTTPExchange.Request(method: "POST", url: webhook,
                                           headers: [HTTPExchange.Header("Content-Type", "application/json"),
                                                     HTTPExchange.Header("User-Agent", userAgent)],
                                           body: Array(body.encoded(sorted: true).utf8))
        let origin = AlertWebhook.origin(of: webhook)
        do {
            let response = try await http.send(request, timeout: timeout, maximumResponseBytes: 64 << 10)
            if (200..<300).contains(response.status) { return .delivered }
            let excerpt = String(decoding: response.body.prefix(200), as: UTF8.self)
                .replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
            return .failed("\(origin) answered HTTP \(response.status)" + (excerpt.isEmpty ? "" : ": \(excerpt)"))
        } catch is CancellationError {
            return .abandoned
        } catch let failure as ResponseTooLargeError {
            return .failed("\(origin) answered with more than \(failure.limit) bytes")
        } catch let failure as ProviderError {
            // The transport's message names the host (never the path); say which webhook.
            return .failed("webhook \(origin): \(failure.message)")
        } catch {
            return .abandoned
        }
    }
}
