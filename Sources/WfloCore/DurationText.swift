import Foundation

/// Durations as people write them in workflows and on the command line: seconds as a number
/// (`1.5`) or with a unit: `500ms`, `2s`, `1m`, `1h`, `7d`. The one parser for all of them.
public enum DurationText {
    /// Seconds, or nil when `text` is not a duration (negative ones included).
    public static func seconds(_ text: String) -> Double? {
        let text = text.trimmingCharacters(in: .whitespaces)
        if Money.isDecimalLiteral(text) { return Double(text).flatMap { $0 >= 0 ? $0 : nil } }
        for (suffix, factor) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)] where text.hasSuffix(suffix) {
            let number = String(text.dropLast(suffix.count)).trimmingCharacters(in: .whitespaces)
            if Money.isDecimalLiteral(number), let value = Double(number), value >= 0 { return value * factor }
            return nil
        }
        return nil
    }
}
