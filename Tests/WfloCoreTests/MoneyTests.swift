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
