import Foundation

/// A five-field cron expression (`minute hour day-of-month month day-of-week`) and the next time
/// it fires in an IANA time zone. A pure rule: no clock, no store.
///
/// Every field takes `*`, a number, a range `a-b`, a step `*/n` or `a-b/n` or `a/n` (from `a` to the
/// field's end), and comma lists of those. Months take `JAN`–`DEC`, days of week `SUN`–`SAT`
/// (case-insensitive; `0` and `7` are both Sunday). As in Vixie cron, when both day-of-month and
/// day-of-week are restricted (neither starts with `*`), a day matches when **either** does.
///
/// Time zones and daylight saving (`nextFire(after:)`), the rule users can predict:
/// - **Each wall-clock minute fires at most once.** In a repeated hour (clocks go back), a time
///   fires at its first occurrence only.
/// - **A wall-clock time skipped by a gap** (clocks go forward) fires at the instant the gap ends
///   (`30 2 * * *` in Europe/Berlin on the last Sunday of March fires at 03:00 CEST), once, however
///   many skipped minutes match — the job is late, never lost (Vixie cron does the same).
///
/// ```swift
/// let cron = try CronSchedule("0 9 * * MON-FRI", timeZone: TimeZone(identifier: "Europe/Berlin")!)
/// let next = cron.nextFire(after: Date())   // the next weekday at 09:00 Berlin time
/// ```
public struct CronSchedule: Sendable, Hashable {
    public let expression: String
    public let timeZone: TimeZone
    let minutes: [Int]
    let hours: [Int]
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let dayRestricted: Bool
    let weekdayRestricted: Bool

    /// The fields in order: their names (as errors say them) and ranges.
    static let fieldSpecs: [(name: String, low: Int, high: Int, names: [String])] = [
        ("minute", 0, 59, []),
        ("hour", 0, 23, []),
        ("day of month", 1, 31, []),
        ("month", 1, 12, ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        ("day of week", 0, 7, ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ]

    /// - Throws: ``CronError`` naming the field (and what it accepts) when `expression` is not valid.
    public init(_ expression: String, timeZone: TimeZone) throws(CronError) {
        let parts = expression.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw CronError(field: nil, message: "a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
                + "such as \"0 9 * * MON-FRI\"; '\(expression)' has \(parts.count)")
        }
        var sets: [Set<Int>] = []
        for (index, part) in parts.enumerated() {
            sets.append(try Self.parseField(part, spec: Self.fieldSpecs[index]))
        }
        var weekdays = sets[4]
        if weekdays.remove(7) != nil { weekdays.insert(0) }
        self.expression = expression
        self.timeZone = timeZone
        self.minutes = sets[0].sorted()
        self.hours = sets[1].sorted()
        self.days = sets[2]
        self.months = sets[3]
        self.weekdays = weekdays
        self.dayRestricted = !parts[2].hasPrefix("*")
        self.weekdayRestricted = !parts[4].hasPrefix("*")
    }

    static func parseField(_ text: String, spec: (name: String, low: Int, high: Int, names: [String])) throws(CronError) -> Set<Int> {
        func fail(_ why: String) -> CronError {
            let accepts = spec.names.isEmpty ? "\(spec.low)-\(spec.high)" : "\(spec.low)-\(spec.high) or \(spec.names.first!)-\(spec.names.last!)"
            return CronError(field: spec.name, message: "the \(spec.name) field '\(text)' is not valid: \(why); it takes *, \(accepts), "
                + "ranges a-b, steps */n or a-b/n, and comma lists")
        }
        func value(_ token: String) throws(CronError) -> Int {
            if let n = Int(token), token.allSatisfy(\.isASCII) {
                guard n >= spec.low && n <= spec.high else { throw fail("\(n) is outside \(spec.low)-\(spec.high)") }
                return n
            }
            if let index = spec.names.firstIndex(of: token.uppercased()) { return spec.low == 0 ? index : index + 1 }
            throw fail("'\(token)' is not a number\(spec.names.isEmpty ? "" : " or a name such as \(spec.names[0])")")
        }
        var result = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard !item.isEmpty else { throw fail("an empty item in the list") }
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard pieces.count <= 2 else { throw fail("more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let n = Int(pieces[1]), n > 0, pieces[1].allSatisfy(\.isASCII) else { throw fail("the step '\(pieces[1])' must be a whole number above 0") }
                step = n
            }
            let range = pieces[0]
            var low: Int
            var high: Int
            if range == "*" {
                low = spec.low
                high = spec.name == "day of week" ? 6 : spec.high
            } else if let dash = range.firstIndex(of: "-") {
                low = try value(String(range[..<dash]))
                high = try value(String(range[range.index(after: dash)...]))
                guard low <= high else { throw fail("the range \(range) runs backwards") }
            } else {
                low = try value(range)
                high = pieces.count == 2 ? (spec.name == "day of week" ? 6 : spec.high) : low
            }
            var v = low
            while v <= high {
                result.insert(v)
                v += step
            }
        }
        return result
    }

    /// Whether the day (in the zone's calendar) matches the day-of-month, month and day-of-week fields.
    func matches(day: Int, month: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        let dayOK = days.contains(day)
        let weekdayOK = weekdays.contains(weekday)
        if dayRestricted && weekdayRestricted { return dayOK || weekdayOK }
        return dayOK && weekdayOK
    }

    /// The first instant strictly after `date` at which the schedule fires (see the type's rule
    /// for daylight-saving gaps and repeats), or nil when none comes within 30 years (`0 0 30 2 *`).
    public func nextFire(after date: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let startWall = WallClock.components(of: date, in: timeZone)
        // Search wall-clock days from the day `date` is on.
        var day = WallClock.Day(year: startWall.year, month: startWall.month, day: startWall.day)
        for _ in 0..<(366 * 30) {
            if matches(day: day.day, month: day.month, weekday: day.weekday) {
                for hour in hours {
                    for minute in minutes {
                        let wall = WallClock.Components(year: day.year, month: day.month, day: day.day, hour: hour, minute: minute)
                        if wall < WallClock.Components(year: startWall.year, month: startWall.month, day: startWall.day,
                                                       hour: startWall.hour, minute: startWall.minute) { continue }
                        let instant = WallClock.instant(of: wall, in: timeZone)
                        if instant > date { return instant }
                    }
                }
            }
            day = day.next
        }
        return nil
    }
}

extension CronSchedule: Codable {
    enum CodingKeys: String, CodingKey { case expression, timeZone = "tz" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let id = try c.decode(String.self, forKey: .timeZone)
        guard let zone = TimeZone(identifier: id) else {
            throw DecodingError.dataCorruptedError(forKey: .timeZone, in: c, debugDescription: "unknown time zone '\(id)'")
        }
        do {
            try self.init(try c.decode(String.self, forKey: .expression), timeZone: zone)
        } catch let error as CronError {
            throw DecodingError.dataCorruptedError(forKey: .expression, in: c, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(expression, forKey: .expression)
        try c.encode(timeZone.identifier, forKey: .timeZone)
    }
}

/// What is wrong with a cron expression; `field` names the field (`minute`, `day of week`, …) when one is at fault.
public struct CronError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String?
    public var message: String
    public var description: String { message }
}

/// Wall-clock arithmetic in a time zone, with daylight saving's gaps and repeats made explicit.
enum WallClock {
    struct Components: Comparable {
        var year: Int, month: Int, day: Int, hour: Int, minute: Int
        static func < (a: Components, b: Components) -> Bool {
            (a.year, a.month, a.day, a.hour, a.minute) < (b.year, b.month, b.day, b.hour, b.minute)
        }
        /// Seconds since 1970 of this wall time read as if it were UTC.
        var naive: Int64 {
            Int64(Day(year: year, month: month, day: day).daysSince1970) * 86_400 + Int64(hour * 3600 + minute * 60)
        }
    }

    struct Day {
        var year: Int, month: Int, day: Int
        /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
        var daysSince1970: Int {
            let y = month <= 2 ? year - 1 : year
            let era = (y >= 0 ? y : y - 399) / 400
            let yoe = y - era * 400
            let mp = (month + 9) % 12
            let doy = (153 * mp + 2) / 5 + day - 1
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
            return era * 146_097 + doe - 719_468
        }
        /// 0 = Sunday … 6 = Saturday.
        var weekday: Int { ((daysSince1970 % 7) + 11) % 7 }
        var next: Day { Day(civil: daysSince1970 + 1) }

        init(year: Int, month: Int, day: Int) {
            self.year = year
            self.month = month
            self.day = day
        }

        /// The civil date `days` after 1970-01-01 (civil_from_days).
        init(civil days: Int) {
            let z = days + 719_468
            let era = (z >= 0 ? z : z - 146_096) / 146_097
            let doe = z - era * 146_097
            let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
            let mp = (5 * doy + 2) / 153
            let d = doy - (153 * mp + 2) / 5 + 1
            let m = mp < 10 ? mp + 3 : mp - 9
            self.init(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d)
        }
    }

    static func components(of date: Date, in zone: TimeZone) -> Components {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down)) + Int64(zone.secondsFromGMT(for: date))
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let rest = Int(seconds - Int64(days) * 86_400)
        let d = Day(civil: days)
        return Components(year: d.year, month: d.month, day: d.day, hour: rest / 3600, minute: rest % 3600 / 60)
    }

    /// The instant a wall time names: its first occurrence when the hour repeats, and the end of
    /// the gap when daylight saving skips it.
    static func instant(of wall: Components, in zone: TimeZone) -> Date {
        let naive = wall.naive
        // The offsets in force a day either side bound every offset near this wall time.
        let before = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(naive - 86_400))))
        let after = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(naive + 86_400))))
        let valid = Set([before, after]).map { naive - $0 }
            .filter { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double($0)))) == naive - $0 }
        if let first = valid.min() { return Date(timeIntervalSince1970: Double(first)) }
        // In a gap: the transition lies between the wall time read with the later offset and with the earlier one.
        var low = naive - max(before, after)
        var high = naive - min(before, after)
        let lowOffset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(low)))
        while high - low > 1 {
            let mid = low + (high - low) / 2
            if zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(mid))) == lowOffset { low = mid } else { high = mid }
        }
        return Date(timeIntervalSince1970: Double(high))
    }
}
