import Foundation

/// Durations as people write them in workflows and on the command line: seconds as a number
/// (`1.5`) or with a unit: `500ms`, `2s`, `1m`, `1h`, `7d`. The one parser for all of them.
public enum DurationText {
    /// Seconds, or nil when `text` is not a duration (negative ones included).
    public static func seconds(_ text: String) -> Double? {
        let text = text.trimmingCharacters(in: .whitespaces)
        if Money.isDecimalLiteral(text) { return Double(text).flatMap(bounded) }
        for (suffix, factor) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)] where text.hasSuffix(suffix) {
            let number = String(text.dropLast(suffix.count)).trimmingCharacters(in: .whitespaces)
            if Money.isDecimalLiteral(number), let value = Double(number) { return bounded(value * factor) }
            return nil
        }
        return nil
    }

    /// The longest duration read: 100 years. Longer ones (and negative ones) are refused here, once,
    /// so no caller turns one into milliseconds past the integers' range.
    public static let maximum: Double = 100 * 366 * 86_400

    private static func bounded(_ value: Double) -> Double? {
        value.isFinite && value >= 0 && value <= maximum ? value : nil
    }

    /// A duration for people, in the units `seconds(_:)` reads: `200ms`, `1.5s`, `42s`, `3m20s`,
    /// `1h`, `2h5m`, `1d3h`. The one formatter every message and report uses.
    public static func describe(_ seconds: Double) -> String {
        let value = Swift.max(0, seconds)
        if value < 1 && value > 0 { return "\(Int((value * 1000).rounded()))ms" }
        if value < 60 {
            return value == value.rounded() ? "\(Int(value))s" : String(format: "%.1fs", value)
        }
        let whole = Int(value.rounded())
        func pair(_ big: Int, _ bigUnit: String, _ small: Int, _ smallUnit: String) -> String {
            small == 0 ? "\(big)\(bigUnit)" : "\(big)\(bigUnit)\(small)\(smallUnit)"
        }
        if whole < 3600 { return pair(whole / 60, "m", whole % 60, "s") }
        if whole < 86400 { return pair(whole / 3600, "h", whole % 3600 / 60, "m") }
        return pair(whole / 86400, "d", whole % 86400 / 3600, "h")
    }

    /// `seconds` with two decimals (`0.05`, `12.30`), exactly as `%.2f` writes it, without a
    /// formatter per line (`String(format:)` was a third of printing a 100,000-step run's
    /// progress, and a tenth of a 100,000-step report). The hundredths are rounded from the
    /// double's exact binary value, ties to even, as printf rounds (`0.005` is a little above
    /// 5/1000, so it shows `0.01`).
    public static func twoDecimals(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds < 1e12 else { return String(format: "%.2f", seconds) }
        guard seconds >= 1e-6 else { return seconds < 0 ? String(format: "%.2f", seconds) : "0.00" }
        // seconds = significand × 2^shift exactly, the significand below 2^53 (so × 100 fits).
        let significand = seconds.significandBitPattern | (1 << 52)
        let shift = Int(seconds.exponent) - 52
        let scaled = significand * 100
        let hundredths: UInt64
        if shift >= 0 {
            hundredths = scaled << UInt64(shift)
        } else if -shift >= 63 {
            hundredths = 0
        } else {
            let k = UInt64(-shift)
            let whole = scaled >> k
            let rest = scaled & ((1 << k) - 1)
            let half: UInt64 = 1 << (k - 1)
            hundredths = whole + (rest > half || (rest == half && whole & 1 == 1) ? 1 : 0)
        }
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }
}

/// Sizes as people write them in workflows and on the command line: `1048576`, `512KiB`,
/// `10MiB`, `1GiB`, `1MB` (= 1,000,000). The one parser for all of them.
public enum ByteCountText {
    /// Bytes, or nil when `text` is not a size above zero.
    public static func bytes(_ text: String) -> Int? {
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let n = Int(number), n > 0 else { return nil }
            return n.multipliedReportingOverflow(by: factor).overflow ? nil : n * factor
        }
        guard let n = Int(trimmed), n > 0 else { return nil }
        return n
    }
}
