import Foundation
import Testing
import WfloCore

/// The pure rules of budget scopes: calendar windows in a zone (LiteLLM #8364 #25495: budgets that
/// never reset or reset on the wrong day), tag matching, admission and thresholds.
struct BudgetScopeRuleTests {
    static func utc(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: text) else { preconditionFailure("not a date: \(text)") }
        return date
    }

    static func zone(_ name: String) -> TimeZone { TimeZone(identifier: name)! }

    static func usd(_ text: String) -> Money { Money(string: text)! }

    @Test func aDayStartsAtMidnightInTheScopesZone() {
        let key = BudgetPeriod.day.window(containing: Self.utc("2026-12-03T22:30:00Z"), timeZone: Self.zone("Asia/Tokyo"))
        #expect(key == BudgetWindowKey(periodStart: Self.utc("2026-12-03T15:00:00Z"), resetsAt: Self.utc("2026-12-04T15:00:00Z")))
        let utc = BudgetPeriod.day.window(containing: Self.utc("2026-12-03T00:00:00Z"), timeZone: Self.zone("UTC"))
        #expect(utc.periodStart == Self.utc("2026-12-03T00:00:00Z"))
    }

    @Test func aWeekStartsOnMonday() {
        // 2026-12-03 is a Thursday; 2026-12-06 a Sunday; 2026-12-07 a Monday.
        let monday = Self.utc("2026-11-30T00:00:00Z")
        for instant in ["2026-11-30T00:00:00Z", "2026-12-03T12:00:00Z", "2026-12-06T23:59:59Z"] {
            #expect(BudgetPeriod.week.window(containing: Self.utc(instant), timeZone: Self.zone("UTC"))
                == BudgetWindowKey(periodStart: monday, resetsAt: Self.utc("2026-12-07T00:00:00Z")))
        }
        // Across a year boundary.
        #expect(BudgetPeriod.week.window(containing: Self.utc("2027-01-01T10:00:00Z"), timeZone: Self.zone("UTC")).periodStart
            == Self.utc("2026-12-28T00:00:00Z"))
    }

    @Test("LiteLLM #25495: month ends, leap days and the year's end reset on the first")
    func monthsEndOnTheirLastDay() {
        let cases: [(String, String, String)] = [
            ("2027-01-31T23:59:59Z", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"),
            ("2027-02-15T00:00:00Z", "2027-02-01T00:00:00Z", "2027-03-01T00:00:00Z"),
            ("2028-02-29T12:00:00Z", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"),
            ("2026-12-31T23:59:59Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ]
        for (instant, start, resets) in cases {
            #expect(BudgetPeriod.month.window(containing: Self.utc(instant), timeZone: Self.zone("UTC"))
                == BudgetWindowKey(periodStart: Self.utc(start), resetsAt: Self.utc(resets)))
        }
    }

    @Test("LiteLLM #8364: DST days are 23 and 25 hours long and still start at local midnight")
    func daylightSavingDaysHaveTheirRealLength() {
        let berlin = Self.zone("Europe/Berlin")
        let spring = BudgetPeriod.day.window(containing: Self.utc("2026-03-29T12:00:00Z"), timeZone: berlin)
        #expect(spring == BudgetWindowKey(periodStart: Self.utc("2026-03-28T23:00:00Z"), resetsAt: Self.utc("2026-03-29T22:00:00Z")))
        let autumn = BudgetPeriod.day.window(containing: Self.utc("2026-10-25T12:00:00Z"), timeZone: berlin)
        #expect(autumn == BudgetWindowKey(periodStart: Self.utc("2026-10-24T22:00:00Z"), resetsAt: Self.utc("2026-10-25T23:00:00Z")))
        // The week holding the spring change is an hour short.
        let week = BudgetPeriod.week.window(containing: Self.utc("2026-03-29T12:00:00Z"), timeZone: berlin)
        #expect(week == BudgetWindowKey(periodStart: Self.utc("2026-03-22T23:00:00Z"), resetsAt: Self.utc("2026-03-29T22:00:00Z")))
    }

    @Test func windowsTileTimeWithNoGapOrOverlapInManyZones() {
        let zones = ["UTC", "Europe/Berlin", "America/New_York", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham",
                     "America/Havana", "Asia/Tehran"]
        for name in zones {
            let zone = Self.zone(name)
            for period in [BudgetPeriod.day, .week, .month] {
                var instant = Self.utc("2026-01-01T00:00:00Z")
                var key = period.window(containing: instant, timeZone: zone)
                let end = Self.utc("2027-01-10T00:00:00Z")
                while instant < end {
                    let resets = try! #require(key.resetsAt)
                    #expect(key.periodStart <= instant && instant < resets, "\(name) \(period) at \(instant)")
                    let hours = resets.timeIntervalSince(key.periodStart) / 3600
                    let bounds: ClosedRange<Double> = switch period {
                    case .day: 22.5...25
                    case .week: 167...169
                    default: 671...745
                    }
                    #expect(bounds.contains(hours), "\(name) \(period) starting \(key.periodStart) lasts \(hours) h")
                    // The next window starts exactly where this one resets.
                    let next = period.window(containing: resets, timeZone: zone)
                    #expect(next.periodStart == resets, "\(name) \(period): \(next.periodStart) after \(resets)")
                    #expect(period.previousWindow(before: resets, timeZone: zone) == key)
                    key = next
                    instant = resets
                }
            }
        }
    }

    @Test func periodNoneNeverResets() {
        let key = BudgetPeriod.none.window(containing: Self.utc("2026-12-03T12:00:00Z"), timeZone: Self.zone("UTC"))
        #expect(key == BudgetWindowKey(periodStart: Date(timeIntervalSince1970: 0), resetsAt: nil))
        #expect(BudgetPeriod.none.previousWindow(before: key.periodStart, timeZone: Self.zone("UTC")) == nil)
    }

    @Test func aScopeMatchesRunsCarryingAllOfItsTags() {
        let all = BudgetScope(name: "all", limit: Self.usd("1"), createdAt: Date())
        let acme = BudgetScope(name: "acme", limit: Self.usd("1"), match: ["customer": "acme", "env": "prod"], createdAt: Date())
        #expect(all.matches(tags: [:]) && all.matches(tags: ["x": "y"]))
        #expect(acme.matches(tags: ["customer": "acme", "env": "prod", "team": "r"]))
        #expect(!acme.matches(tags: ["customer": "acme"]) && !acme.matches(tags: ["customer": "ACME", "env": "prod"]))
        #expect(ScopeAdmission.matching([acme, all], tags: ["customer": "acme", "env": "prod"]).map(\.name) == ["acme", "all"])
    }

    @Test func admissionRefusesTheFirstScopeThatDoesNotFitAndFiresCrossedThresholds() {
        let a = BudgetScope(name: "a", limit: Self.usd("1"), alertThresholds: [0.5, 0.8], createdAt: Date())
        let b = BudgetScope(name: "b", limit: Self.usd("0.3"), createdAt: Date())
        let key = BudgetWindowKey(periodStart: Date(timeIntervalSince1970: 0), resetsAt: nil)
        let charges = [ScopeCharge(scope: b, window: BudgetWindow(scope: "b", key: key, spent: Self.usd("0.1"))),
                       ScopeCharge(scope: a, window: BudgetWindow(scope: "a", key: key, spent: Self.usd("0.4"), reserved: Self.usd("0.05")))]
        var ids = 0
        let next = { () -> String in ids += 1; return "id\(ids)" }
        guard case .admitted(let admitted) = ScopeAdmission.decide(charges: charges, reserve: Self.usd("0.2"), at: Date(), newAlertID: next) else {
            Issue.record("0.2 fits both")
            return
        }
        #expect(admitted.windows.map(\.scope) == ["a", "b"])
        #expect(admitted.windows.map(\.reserved) == [Self.usd("0.25"), Self.usd("0.2")])
        #expect(admitted.alerts.map(\.threshold) == [0.5] && admitted.alerts.first?.spent == Self.usd("0.65"))
        guard case .refused(let refusal) = ScopeAdmission.decide(charges: charges, reserve: Self.usd("0.21"), at: Date(), newAlertID: next) else {
            Issue.record("0.21 does not fit b")
            return
        }
        #expect(refusal.scope == "b" && refusal.committed == Self.usd("0.1") && refusal.message.contains("never resets"))
        #expect(ScopeAdmission.decide(charges: charges, reserve: .zero, at: Date(), newAlertID: next) == .admitted(.none))
        // Crossing several thresholds at once fires each; reaching one exactly fires it.
        #expect(ScopeAdmission.crossed(a, before: .zero, after: Self.usd("0.9")) == [0.5, 0.8])
        #expect(ScopeAdmission.crossed(a, before: Self.usd("0.5"), after: Self.usd("0.79")) == [])
        #expect(ScopeAdmission.crossed(a, before: Self.usd("0.4"), after: Self.usd("0.5")) == [0.5])
    }

    @Test func settlementMovesTheReservationToSpent() {
        let key = BudgetWindowKey(periodStart: Date(timeIntervalSince1970: 0), resetsAt: nil)
        let window = BudgetWindow(scope: "s", key: key, spent: Self.usd("1"), reserved: Self.usd("0.5"))
        #expect(ScopeSettlement.settling(window, reserved: Self.usd("0.3"), cost: Self.usd("0.1"))
            == BudgetWindow(scope: "s", key: key, spent: Self.usd("1.1"), reserved: Self.usd("0.2")))
    }

    @Test func badInputNamesTheFlag() throws {
        #expect(try BudgetScopeText.thresholds("0.8, 0.5,0.95,0.5") == [0.5, 0.8, 0.95])
        for bad in ["0", "1.5", "x", "0.5,", "-0.1"] {
            let error = try #require(throws: BudgetScopeInputError.self) { try BudgetScopeText.thresholds(bad) }
            #expect(error.message.contains("--alert-at"))
        }
        let scope = BudgetScope(name: "s", limit: Self.usd("-1"), createdAt: Date())
        #expect(scope.validationProblem?.contains("--limit") == true)
        #expect(BudgetScope(name: "s", limit: .zero, timeZone: "Nowhere/Land", createdAt: Date()).validationProblem?.contains("--tz") == true)
        #expect(BudgetScope(name: "s", limit: .zero, webhook: "ftp://x", createdAt: Date()).validationProblem?.contains("--webhook") == true)
        #expect(BudgetScope(name: "two words", limit: .zero, createdAt: Date()).validationProblem != nil)
        #expect(BudgetScopeText.tag("customer=acme=1")! == ("customer", "acme=1"))
        #expect(BudgetScopeText.tag("=x") == nil && BudgetScopeText.tag("novalue") == nil)
    }
}
