import Foundation
import Testing
import WfloCore

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
