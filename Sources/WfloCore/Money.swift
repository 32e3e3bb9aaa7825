import Foundation

/// An exact amount of US dollars.
///
/// `Money` wraps `Decimal` (38 significant digits) and is never built from a `Double`:
/// prices are parsed from the JSON *text* of the pricing table, token counts are integers,
/// and every sum and product is exact. Rounding happens only in ``formatted(decimals:)``,
/// when a person reads the number (banker's rounding, said in the reports).
///
/// In JSON, money is a decimal string (`"0.00045"`), never a float.
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The exact amount in USD.
    public let amount: Decimal

    public static let zero = Money(Decimal(0))

    public init(_ amount: Decimal) {
        self.amount = amount
    }

    public init(_ integer: Int) {
        self.amount = Decimal(integer)
    }

    /// Parses a decimal number written as JSON writes numbers (`0.5`, `1.5e-07`, `3`).
    /// Returns nil for anything else, including a number followed by other characters.
    /// Returns nil for anything else, including a number followed by other characters, and for a
    /// number `Decimal` cannot hold exactly (NaN, or a magnitude it would silently turn into 0 or NaN):
    /// a `Money` is always a finite number.
    public init?(string: String) {
        // Most money the journal and the pricing table hold is a short plain decimal ("0.000012"):
        // read its digits directly. Foundation's parser (a locale and a scanner per call) was a
        // large part of every journal read that shows money.
        if let plain = Money.plainDecimal(string) {
            self.amount = plain
            return
        }
        let trimmed = string.trimmingCharacters(in: .whitespaces)
        guard Money.isDecimalLiteral(trimmed), let value = Decimal(string: trimmed, locale: Locale(identifier: "en_US_POSIX")),
              Money.isFinite(value), Money.magnitudeIsKept(literal: trimmed, parsed: value) else {
            return nil
        }
        self.amount = value
    }

    /// The value of `text` when it is an optional `-`, then at most 19 characters of digits with at
    /// most one `.` between digits (no exponent, no spaces, no `+`); nil for anything else, which
    /// the general parser then reads. The same value `Decimal(string:)` gives, built exactly from
    /// the digits (a zero is plain zero: `Decimal` has no negative zero, its sign bit on 0 means NaN).
    static func plainDecimal(_ text: String) -> Decimal? {
        var utf8 = text.utf8[...]
        let negative = utf8.first == UInt8(ascii: "-")
        if negative { utf8 = utf8.dropFirst() }
        guard !utf8.isEmpty, utf8.count <= 19 else { return nil }
        var significand: UInt64 = 0
        var digits = 0
        var fraction = 0
        var point = false
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                significand = significand * 10 + UInt64(byte - UInt8(ascii: "0"))
                digits += 1
                if point { fraction += 1 }
            case UInt8(ascii: ".") where !point && digits > 0:
                point = true
            default:
                return nil
            }
        }
        guard digits > 0, !point || fraction > 0 else { return nil }
        if significand == 0 { return Decimal(0) }
        return Decimal(sign: negative ? .minus : .plus, exponent: -fraction, significand: Decimal(significand))
    }

    /// False for `Decimal`'s NaN, the only non-finite value it has (arithmetic that overflows yields it).
    public static func isFinite(_ value: Decimal) -> Bool { !value.isNaN }

    /// True when this amount is a number (not NaN). Every `Money` built from text is; one that came from
    /// overflowing arithmetic may not be, and every check that compares money must refuse it.
    public var isFinite: Bool { !amount.isNaN }

    /// `Decimal(string:)` turns huge exponents into 0 (`1e200`) without saying so: a literal whose
    /// digits are not all zero must not parse to zero.
    static func magnitudeIsKept(literal: String, parsed: Decimal) -> Bool {
        guard parsed.isZero else { return true }
        let mantissa = literal.prefix { $0 != "e" && $0 != "E" }
        return !mantissa.contains { $0 >= "1" && $0 <= "9" }
    }

    /// True when `text` is a plain decimal number (an optional sign, digits, an optional
    /// fraction and an optional exponent), the JSON grammar with a leading `+` allowed.
    public static func isDecimalLiteral(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        func digits() -> Int {
            var n = 0
            while let b = bytes.first, b >= 0x30, b <= 0x39 { bytes = bytes.dropFirst(); n += 1 }
            return n
        }
        var mantissaDigits = digits()
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            mantissaDigits += digits()
        }
        guard mantissaDigits > 0 else { return false }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.amount < rhs.amount }
    public static func + (lhs: Money, rhs: Money) -> Money { Money(lhs.amount + rhs.amount) }
    public static func - (lhs: Money, rhs: Money) -> Money { Money(lhs.amount - rhs.amount) }
    public static func += (lhs: inout Money, rhs: Money) { lhs = lhs + rhs }
    public static func -= (lhs: inout Money, rhs: Money) { lhs = lhs - rhs }
    /// A per-unit price times a count of units (tokens, requests).
    public static func * (lhs: Money, rhs: Int) -> Money { Money(lhs.amount * Decimal(rhs)) }
    public static func * (lhs: Money, rhs: Decimal) -> Money { Money(lhs.amount * rhs) }

    public var isZero: Bool { amount.isZero }
    public var isNegative: Bool { amount < 0 }

    /// The exact value as a plain decimal string with no exponent (`0.00045`).
    public var description: String {
        Money.plainString(amount)
    }

    /// The value rounded half-to-even to `decimals` places, padded with zeros
    /// (`formatted(decimals: 6)` of 0.00045 is `0.000450`). For people only.
    public func formatted(decimals: Int) -> String {
        // Zero is most of a big run's lines (transforms, cache hits): no rounding, no Decimal text.
        if amount.isZero { return decimals > 0 ? "0." + String(repeating: "0", count: decimals) : "0" }
        var value = amount
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, decimals, .bankers)
        var text = Money.plainString(rounded)
        if decimals > 0 {
            // Digits and one ASCII ".": read as bytes (String's `contains` went through Foundation).
            let utf8 = text.utf8
            let fraction = utf8.firstIndex(of: UInt8(ascii: ".")).map { utf8.distance(from: $0, to: utf8.endIndex) - 1 }
            if fraction == nil { text += "." }
            if (fraction ?? 0) < decimals { text += String(repeating: "0", count: decimals - (fraction ?? 0)) }
        }
        return text
    }

    /// The exact value padded with zeros to at least `minimumDecimals` places, never rounded
    /// (`0.00045` → `0.000450`; `0.0000375` stays `0.0000375`). What JSON and CSV carry.
    public func exact(minimumDecimals: Int = 6) -> String {
        var text = description
        let fraction = text.firstIndex(of: ".").map { text.distance(from: $0, to: text.endIndex) - 1 } ?? -1
        if fraction < 0 { text += minimumDecimals > 0 ? "." : "" }
        let have = Swift.max(fraction, 0)
        if have < minimumDecimals { text += String(repeating: "0", count: minimumDecimals - have) }
        return text
    }

    /// `$0.000450` style, with a fixed number of decimals.
    public func dollars(decimals: Int = 6) -> String {
        let text = formatted(decimals: decimals)
        return text.hasPrefix("-") ? "-$" + text.dropFirst() : "$" + text
    }

    static func plainString(_ value: Decimal) -> String {
        if let text = digitsText(value) { return text }
        // Decimal's description never uses an exponent and uses "." regardless of locale.
        let text = value.description
        return text == "-0" ? "0" : text
    }

    /// The text `Decimal.description` gives, written from the significand's digits when they fit
    /// in 64 bits (all money a run handles): Foundation's description took ~1 µs, about ten of
    /// them a paid call (journal cells, events, metrics). Nil for zero, NaN and wider significands.
    static func digitsText(_ value: Decimal) -> String? {
        if value.isNaN || value.isZero { return nil }
        let significand = value.significand
        let integer = NSDecimalNumber(decimal: significand).uint64Value
        guard Decimal(integer) == significand else { return nil }
        var text = String(integer)
        let exponent = value.exponent
        if exponent > 0 {
            text += String(repeating: "0", count: exponent)
        } else if exponent < 0 {
            let count = text.utf8.count
            if -exponent >= count {
                text = "0." + String(repeating: "0", count: -exponent - count) + text
            } else {
                text.insert(".", at: text.index(text.startIndex, offsetBy: count + exponent))
            }
        }
        return value.sign == .minus ? "-" + text : text
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Money(string: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a decimal amount of money")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Money {
    /// The most a pricing table may charge for one unit (a token, a request, a search, an image): far
    /// above any real price, low enough that a price times any token count stays exact.
    public static let maximumUnitPrice = Money(1_000)

    /// Why `text` is not an acceptable unit price (a number, not negative, at most
    /// ``maximumUnitPrice``), or nil when it is. The one rule for every price in every table layer:
    /// the shipped file, `--pricing` files, `WFLO_PRICING` and a workflow's `pricing:` block.
    public static func unitPriceProblem(_ text: String) -> String? {
        guard let price = Money(string: text) else {
            return "'\(text)' is not a finite decimal number of USD"
        }
        if price.isNegative { return "a price cannot be negative (found \(text))" }
        if maximumUnitPrice < price { return "\(text) USD for one unit is above the \(maximumUnitPrice.description) USD wflo accepts" }
        return nil
    }

    /// Share of `total` as a percentage, for people (e.g. budget used). Nil when total is zero.
    public func percent(of total: Money) -> Decimal? {
        guard !total.isZero else { return nil }
        return amount / total.amount * 100
    }

    public static func max(_ a: Money, _ b: Money) -> Money { a < b ? b : a }
    public static func min(_ a: Money, _ b: Money) -> Money { a < b ? a : b }
}

extension Sequence where Element == Money {
    public func sum() -> Money { reduce(Money.zero, +) }
}
