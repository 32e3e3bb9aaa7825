import Foundation
import Testing
import WfloCore

/// Issue 22.4 and 22.7: the one admission rule fails closed, and a flagged settlement stops the run.
struct BudgetAdmissionTests {
    let budget = Money(string: "0.01")!

    @Test func admitsWhatFitsAndRefusesWhatDoesNot() {
        let ledger = LedgerSnapshot(settled: Money(string: "0.004")!, reserved: Money(string: "0.004")!, budget: budget)
        #expect(BudgetAdmission.decide(ledger: ledger, reserve: Money(string: "0.002")!) == .admit)
        #expect(BudgetAdmission.decide(ledger: ledger, reserve: Money(string: "0.0021")!) == .overBudget)
    }

    @Test func spendAboveTheBudgetAdmitsNothingNotEvenAFreeCall() {
        let ledger = LedgerSnapshot(settled: Money(string: "0.036")!, reserved: .zero, budget: Money(string: "0.001")!)
        #expect(BudgetAdmission.decide(ledger: ledger, reserve: .zero) == .overBudget)
    }

    @Test func refusesWhatItCannotCompare() {
        let ledger = LedgerSnapshot(settled: .zero, reserved: .zero, budget: budget)
        guard case .cannotCompare = BudgetAdmission.decide(ledger: ledger, reserve: Money(Decimal.nan)) else {
            Issue.record("a NaN reservation was not refused")
            return
        }
        guard case .cannotCompare = BudgetAdmission.decide(ledger: ledger, reserve: Money(-1)) else {
            Issue.record("a negative reservation was not refused")
            return
        }
        let poisoned = LedgerSnapshot(settled: Money(Decimal.nan), reserved: .zero, budget: budget)
        guard case .cannotCompare = BudgetAdmission.decide(ledger: poisoned, reserve: .zero) else {
            Issue.record("a NaN ledger admitted an attempt")
            return
        }
    }

    @Test func anUnpricedUsageFlagStopsTheRunEvenWithoutABudget() {
        let flags = [AttemptFlag.unpricedUsage("web_search_requests")]
        let reason = AttemptFlag.stopReason(flags: flags)
        #expect(reason?.contains("web_search_requests") == true)
        #expect(AttemptFlag.stopReason(flags: [AttemptFlag.usageExceededReservation]) == nil)
        let ledger = LedgerSnapshot(settled: .zero, reserved: .zero, budget: nil, stopReason: reason)
        #expect(BudgetAdmission.decide(ledger: ledger, reserve: .zero) == .stopped(reason!))
    }

    @Test(arguments: ["1e128", "1e200", "-1e300", "5e-300"])
    func moneyRefusesTextDecimalWouldTurnIntoZeroOrNaN(text: String) {
        #expect(Money(string: text) == nil)
    }

    @Test(arguments: [("-0.000001", true), ("1001", true), ("1e126", true), ("1000", false), ("0", false), ("1.5e-07", false)])
    func unitPricesAreFiniteNonNegativeAndBounded(text: String, refused: Bool) {
        #expect((Money.unitPriceProblem(text) != nil) == refused)
    }
}
