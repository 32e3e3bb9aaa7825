import Foundation
import Testing
@testable import WfloCore

struct MoneyTests {
    @Test(arguments: [
        ("1.5e-07", "0.00000015"),
        ("0.00000015", "0.00000015"),
        ("3", "3"),
        ("-0.5", "-0.5"),
        ("2.5E-9", "0.0000000025"),
        ("1e2", "100"),
    ])
    func parsesDecimalTextExactly(text: String, expected: String) {
        #expect(Money(string: text)?.description == expected)
    }

    @Test(arguments: ["", "abc", "1.2.3", "12abc", ".", "1e", "--1", "0x10", "NaN"])
    func rejectsWhatIsNotADecimalNumber(text: String) {
        #expect(Money(string: text) == nil)
    }

    /// The direct reading of plain decimals gives what Foundation's parser gives, value and text,
    /// and leaves everything else (exponents, spaces, `+`, long or malformed text) to it.
    @Test func plainDecimalsReadDirectlyAgreeWithTheGeneralParser() {
        var texts = ["0", "-0", "0.0", "0.000", "-0.00", "7", "007", "0.10", "-0.5", "123456789012345678", "1234567890.12345678",
                     "0.00000000000000001", "999999999999999999", "9999999999999999999", "-999999999999999999", "0.000012", "12.50"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let whole = String(UInt64.random(in: 0...999_999, using: &generator))
            let fraction = String(UInt64.random(in: 0...999_999_999, using: &generator))
            let zeros = String(repeating: "0", count: Int.random(in: 0...3, using: &generator))
            texts.append((Bool.random(using: &generator) ? "-" : "") + whole + "." + zeros + fraction)
        }
        for text in texts {
            let direct = Money.plainDecimal(text)
            let general = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
            #expect(direct == general, "\(text)")
            #expect(direct?.description == general?.description, "\(text)")
            #expect(direct?.isNaN == false, "\(text)")
        }
        for text in ["", "-", ".5", "5.", "1e2", "+1", " 1", "1 ", "1.2.3", "12345678901234567890", "--1", "1-"] {
            #expect(Money.plainDecimal(text) == nil, "\(text)")
        }
        #expect(Money(string: " 0.5 ")?.description == "0.5" && Money(string: "+1")?.description == "1")
    }

    /// Money's text written from the significand's digits is Foundation's `Decimal.description`,
    /// for parsed amounts and for what arithmetic makes of them (sums, products, differences),
    /// and wider significands, zero and NaN are left to Foundation.
    @Test func textWrittenFromDigitsIsFoundationsText() throws {
        var values = try ["0.000123", "0.500", "10", "100.00", "1e5", "-0.0001", "123456789012345678901234567890", "18446744073709551615",
                          "18446744073709551616", "-18446744073709551615.5", "1e-30", "99999999999999999999e-10", "0", "-0"]
            .map { try #require(Decimal(string: $0)) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let a = try #require(Decimal(string: "\(Int64.random(in: -10_000_000...10_000_000, using: &generator))e\(Int.random(in: -20...5, using: &generator))"))
            let b = try #require(Decimal(string: "0.\(UInt32.random(in: 0...999_999, using: &generator))"))
            values += [a, b, a + b, a - b, a * b, a * Decimal(Int.random(in: 1...100_000, using: &generator))]
        }
        var written = 0
        for value in values {
            let foundation = value.description == "-0" ? "0" : value.description
            if let text = Money.digitsText(value) {
                written += 1
                #expect(text == foundation, "\(value.significand)e\(value.exponent)")
            }
            #expect(Money.plainString(value) == foundation)
        }
        #expect(written > values.count * 9 / 10)
        #expect(Money.digitsText(Decimal(string: "18446744073709551616")!) == nil && Money.digitsText(.nan) == nil)
    }

    @Test func multipliesPricesByTokensWithoutBinaryError() {
        // 0.1 + 0.2 is the classic float failure; the same digits here add exactly.
        #expect(Money(string: "0.1")! + Money(string: "0.2")! == Money(string: "0.3")!)
        let input = Money(string: "1.5e-07")! * 1000
        let output = Money(string: "6e-07")! * 500
        #expect((input + output).description == "0.00045")
    }

    @Test func roundsOnlyForPeopleHalfToEven() {
        #expect(Money(string: "0.0000125")!.formatted(decimals: 5) == "0.00001")
        #expect(Money(string: "0.0000135")!.formatted(decimals: 5) == "0.00001") // 0.0000135 → banker's: 0.00001|35 → 0.00001
        #expect(Money(string: "0.00045")!.formatted(decimals: 6) == "0.000450")
        #expect(Money.zero.formatted(decimals: 6) == "0.000000")
        #expect(Money.zero.formatted(decimals: 0) == "0")
        #expect(Money(string: "-0")!.dollars(decimals: 2) == "$0.00")
        #expect(Money(string: "0.0000001")!.dollars(decimals: 2) == "$0.00")
        #expect(Money(string: "-0.0000001")!.dollars(decimals: 2) == "$0.00")
        #expect(Money(string: "12")!.formatted(decimals: 0) == "12")
        #expect(Money(string: "12.5")!.formatted(decimals: 0) == "12")
        #expect(Money(string: "1.23456789")!.formatted(decimals: 3) == "1.235")
        #expect(Money(string: "2")!.dollars(decimals: 2) == "$2.00")
        #expect(Money(string: "-0.5")!.dollars(decimals: 2) == "-$0.50")
    }

    @Test func exactPaddingNeverDropsDigits() {
        #expect(Money(string: "0.00045")!.exact() == "0.000450")
        #expect(Money(string: "0.0000375")!.exact() == "0.0000375")
        #expect(Money(string: "1")!.exact() == "1.000000")
    }

    @Test func encodesAsADecimalString() throws {
        let data = try JSONEncoder().encode([Money(string: "1.5e-07")!])
        #expect(String(decoding: data, as: UTF8.self) == "[\"0.00000015\"]")
        let back = try JSONDecoder().decode([Money].self, from: data)
        #expect(back == [Money(string: "0.00000015")!])
    }
}
