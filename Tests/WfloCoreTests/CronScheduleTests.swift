import Foundation
import Testing
import WfloCore

/// The cron rule against a table computed independently (scripts/cron-reference.py: a brute-force
/// walk over UTC minutes with Python's zoneinfo), covering every field form, names, Vixie's
/// day-of-month OR day-of-week, leap days, and daylight-saving gaps and repeats in several zones
/// (Europe/Berlin, America/New_York, Australia/Lord_Howe's 30-minute shift, Pacific/Auckland).
struct CronScheduleTests {
    static func instant(_ text: String) -> Date {
        // Test-only: the table's instants are well-formed.
        ISO8601DateFormatter().date(from: text)!
    }

    @Test(arguments: cronReferenceTable.indices)
    func nextFireTimesMatchTheReferenceTable(row: Int) throws {
        let entry = cronReferenceTable[row]
        let zone = try #require(TimeZone(identifier: entry.zone))
        let cron = try CronSchedule(entry.expression, timeZone: zone)
        var after = Self.instant(entry.after)
        var fires: [String] = []
        for _ in entry.fires {
            let next = try #require(cron.nextFire(after: after), "\(entry.expression) in \(entry.zone) never fires after \(after)")
            fires.append(ISO8601DateFormatter().string(from: next))
            after = next
        }
        #expect(fires == entry.fires, "\(entry.expression) in \(entry.zone) after \(entry.after)")
    }

    @Test func aTimeSkippedByTheSpringGapFiresOnceWhenTheGapEnds() throws {
        // 02:00, 02:15, 02:30 and 02:45 do not exist in Berlin on 2026-03-29: all fire once, at 03:00 CEST.
        let cron = try CronSchedule("*/15 2 * * *", timeZone: TimeZone(identifier: "Europe/Berlin")!)
        let first = try #require(cron.nextFire(after: Self.instant("2026-03-29T00:00:00Z")))
        #expect(first == Self.instant("2026-03-29T01:00:00Z"))
        #expect(cron.nextFire(after: first) == Self.instant("2026-03-30T00:00:00Z"))
    }

    @Test func anImpossibleDateNeverFires() throws {
        let cron = try CronSchedule("0 0 30 2 *", timeZone: TimeZone(identifier: "UTC")!)
        #expect(cron.nextFire(after: Self.instant("2026-01-01T00:00:00Z")) == nil)
    }

    @Test(arguments: [
        ("0 9 * *", nil as String?, "5 fields"),
        ("60 * * * *", "minute", "60 is outside 0-59"),
        ("0 24 * * *", "hour", "24 is outside 0-23"),
        ("0 0 0 * *", "day of month", "0 is outside 1-31"),
        ("0 0 * FOO *", "month", "'FOO' is not a number"),
        ("0 0 * * MON-FRY", "day of week", "'FRY'"),
        ("*/0 * * * *", "minute", "step '0'"),
        ("0 5-1 * * *", "hour", "runs backwards"),
        ("0 0 1,,2 * *", "day of month", "empty item"),
        ("0 0 * * 8", "day of week", "8 is outside 0-7"),
    ])
    func aBadExpressionNamesTheField(expression: String, field: String?, phrase: String) {
        do {
            _ = try CronSchedule(expression, timeZone: TimeZone(identifier: "UTC")!)
            Issue.record("'\(expression)' was accepted")
        } catch {
            #expect(error.field == field)
            #expect(error.message.contains(phrase), "\(error.message)")
            if let field { #expect(error.message.contains("the \(field) field")) }
        }
    }

    @Test func everyTicksOnMultiplesOfTheIntervalSince1970() {
        let every = ScheduleTiming.every(30)
        #expect(every.nextTick(after: Date(timeIntervalSince1970: 95)) == Date(timeIntervalSince1970: 120))
        #expect(every.nextTick(after: Date(timeIntervalSince1970: 120)) == Date(timeIntervalSince1970: 150))
    }

    @Test func catchupChoosesTheMissedTicks() {
        let deployed = Date(timeIntervalSince1970: 1000)
        let now = Date(timeIntervalSince1970: 1007.5)
        let last = Date(timeIntervalSince1970: 1002)
        func ticks(_ catchup: Catchup, now: Date = now) -> [Double] {
            ScheduleTrigger(timing: .every(1), catchup: catchup).dueTicks(lastFired: last, deployedAt: deployed, now: now).map(\.timeIntervalSince1970)
        }
        #expect(ticks(.all) == [1003, 1004, 1005, 1006, 1007])
        #expect(ticks(.last) == [1007])
        #expect(ticks(.none, now: Date(timeIntervalSince1970: 1007.3)) == [1007])  // 0.3 s old: on time
        #expect(ticks(.none, now: Date(timeIntervalSince1970: 1007.7)) == [])  // 0.7 s old, over half the period: no loop saw it
        // Nothing fires before the deployment, nor twice.
        #expect(ScheduleTrigger(timing: .every(1), catchup: .all).dueTicks(lastFired: nil, deployedAt: deployed, now: Date(timeIntervalSince1970: 1002.2))
            .map(\.timeIntervalSince1970) == [1001, 1002])
        #expect(ScheduleTrigger(timing: .every(1), catchup: .all).dueTicks(lastFired: Date(timeIntervalSince1970: 1007), deployedAt: deployed, now: now).isEmpty)
    }
}
