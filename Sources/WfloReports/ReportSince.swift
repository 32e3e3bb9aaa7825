import Foundation

/// Reads the start of a report window (`--since`): a duration back from now or a date.
///
/// - `30m`, `12h`, `7d`, `2w`: minutes, hours, days or weeks before `now` (a positive whole number).
/// - `2026-11-01`: midnight UTC at the start of that day.
/// - `2026-11-01T08:30:00Z` (or with an offset such as `+02:00`): that instant.
///
/// ```swift
/// let since = try ReportSince.parse("7d", now: Date())
/// ```
public enum ReportSince {
    /// - Throws: ``ReportError`` `.invalidSince` naming the flag and the accepted forms.
    public static func parse(_ text: String, now: Date) throws -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let unit = trimmed.last, let seconds = unitSeconds[unit.lowercased()] {
            let digits = trimmed.dropLast()
            if !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) {
                guard let count = Int(digits), count > 0, count <= 100 * 365 * 24 * 60 else {
                    throw ReportError(.invalidSince, "--since '\(text)' must be a positive duration of at most 100 years (write --since 7d)")
                }
                return now.addingTimeInterval(-Double(count) * seconds)
            }
        }
        if let day = day(trimmed) { return day }
        if let instant = try? Date(trimmed, strategy: .iso8601) { return instant }
        throw ReportError(.invalidSince,
                          "--since '\(text)' is not a duration or a date; write a duration back from now (30m, 12h, 7d, 2w) or a UTC date (2026-11-01)")
    }

    private static let unitSeconds: [String: Double] = ["m": 60, "h": 3_600, "d": 86_400, "w": 604_800]

    /// `YYYY-MM-DD` at 00:00 UTC, when it is a real calendar day.
    private static func day(_ text: String) -> Date? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let year = Int(parts[0]), let month = Int(parts[1]), let dayOfMonth = Int(parts[2]) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: dayOfMonth)
        guard components.isValidDate(in: calendar), let date = calendar.date(from: components) else { return nil }
        return date
    }
}
