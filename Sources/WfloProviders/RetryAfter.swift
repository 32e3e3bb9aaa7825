import Foundation

/// The one reader of a server's `Retry-After` (and OpenAI's `retry-after-ms`), for llm and http
/// steps alike. Defensive: only delta-seconds written as digits (`120`, `0.5`) or an HTTP-date
/// are read; `inf`, `nan`, `1e30`, negative numbers and anything else are ignored (the retry
/// policy's back-off applies). The result is finite and non-negative; it may be very large
/// (a date in 2099) — the retry policy caps it (``RetryPolicy/wait(after:asked:jitter:remaining:)``).
public enum RetryAfter {
    /// Seconds to wait from `value` (delta-seconds or an HTTP-date, measured from `now`), or nil.
    public static func seconds(_ value: String, now: Date = Date()) -> Double? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = delta(trimmed, scale: 1) { return seconds }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        let seconds = date.timeIntervalSince(now)
        return seconds.isFinite ? max(0, seconds) : nil
    }

    /// `retry-after-ms`: milliseconds as digits, in seconds, or nil.
    public static func milliseconds(_ value: String) -> Double? {
        delta(value.trimmingCharacters(in: .whitespaces), scale: 0.001)
    }

    /// `digits[.digits]` times `scale`; a number too long for a Double counts as the largest finite one.
    private static func delta(_ text: String, scale: Double) -> Double? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.utf8.allSatisfy({ (48...57).contains($0) }),
              parts.count == 1 || (!parts[1].isEmpty && parts[1].utf8.allSatisfy({ (48...57).contains($0) })),
              let number = Double(text) else { return nil }
        let seconds = number * scale
        return seconds.isFinite ? seconds : .greatestFiniteMagnitude
    }
}
