import Foundation

// Budget scopes across runs (issue 17): "the research team may spend $50 a day". A scope selects
// runs by their tags and holds every reservation of those runs, in the same transaction as the
// run's own budget, against the window of its period that the reservation falls in.

/// How long a scope's window lasts. Windows are calendar-aligned in the scope's time zone:
/// a day starts at midnight, a week on Monday at midnight (ISO 8601), a month on its first day.
public enum BudgetPeriod: String, Sendable, Hashable, Codable, CaseIterable {
    /// One window forever: the limit never resets.
    case none
    case day
    case week
    case month
}

/// One window of a scope: the calendar period an instant falls in.
public struct BudgetWindowKey: Sendable, Hashable, Codable {
    /// The first instant of the period (the Unix epoch for a scope with period `none`).
    public var periodStart: Date
    /// The first instant of the next period; nil for period `none`.
    public var resetsAt: Date?

    public init(periodStart: Date, resetsAt: Date?) {
        self.periodStart = periodStart
        self.resetsAt = resetsAt
    }
}

extension BudgetPeriod {
    /// The window containing `instant` in `timeZone`: the pure period rule every store calls.
    ///
    /// Calendar-aligned (Gregorian calendar, weeks from Monday as ISO 8601 has them). On a day a
    /// DST change shortens or lengthens, the window is that day's real length (23 or 25 hours);
    /// a day whose midnight does not exist starts at its first instant. `resetsAt` is always the
    /// next window's `periodStart`, found as the window of an instant safely inside the next
    /// period (never by adding a fixed length), so rollovers land on the right day.
    public func window(containing instant: Date, timeZone: TimeZone) -> BudgetWindowKey {
        guard self != .none else { return BudgetWindowKey(periodStart: Date(timeIntervalSince1970: 0), resetsAt: nil) }
        let start = periodStart(containing: instant, timeZone: timeZone)
        // Periods last at most 25 h, 169 h and 31 days + 1 h; the next one at least 23 h, 167 h,
        // 28 days - 1 h. An instant this far after the start lies in the next period.
        let step: TimeInterval = switch self {
        case .none: 0
        case .day: 30 * 3600
        case .week: (7 * 24 + 12) * 3600
        case .month: 32 * 86400
        }
        return BudgetWindowKey(periodStart: start, resetsAt: periodStart(containing: start.addingTimeInterval(step), timeZone: timeZone))
    }

    /// The window before the one starting at `periodStart` (nil for period `none`).
    public func previousWindow(before periodStart: Date, timeZone: TimeZone) -> BudgetWindowKey? {
        guard self != .none else { return nil }
        return window(containing: periodStart.addingTimeInterval(-1), timeZone: timeZone)
    }

    private func periodStart(containing instant: Date, timeZone: TimeZone) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        calendar.firstWeekday = 2
        calendar.minimumDaysInFirstWeek = 4
        let day = calendar.startOfDay(for: instant)
        switch self {
        case .none:
            return Date(timeIntervalSince1970: 0)
        case .day:
            return day
        case .week:
            // weekday: 1 = Sunday … 7 = Saturday; days back to Monday.
            let back = (calendar.component(.weekday, from: day) + 5) % 7
            guard back > 0, let monday = calendar.date(byAdding: .day, value: -back, to: day) else { return day }
            return calendar.startOfDay(for: monday)
        case .month:
            let parts = calendar.dateComponents([.year, .month], from: day)
            guard let first = calendar.date(from: DateComponents(year: parts.year, month: parts.month, day: 1)) else { return day }
            return calendar.startOfDay(for: first)
        }
    }
}

/// A budget over many runs: the runs whose tags include all of ``match`` (every run when it is
/// empty) may together commit at most ``limit`` per ``period``. Set with `wflo budgets set`.
public struct BudgetScope: Sendable, Hashable, Codable {
    public var name: String
    public var limit: Money
    public var period: BudgetPeriod
    /// An IANA time zone identifier (`Europe/Berlin`); the periods are aligned in it.
    public var timeZone: String
    /// Tags a run must carry, all of them, for the scope to hold it.
    public var match: [String: String]
    /// Fractions of the limit (0.5, 0.8, 0.95) whose crossing writes one alert each per period.
    public var alertThresholds: [Decimal]
    /// Where the alert deliverer posts this scope's alerts; nil: alerts are recorded, not posted.
    public var webhook: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(name: String, limit: Money, period: BudgetPeriod = .none, timeZone: String = "UTC", match: [String: String] = [:],
                alertThresholds: [Decimal] = [], webhook: String? = nil, createdAt: Date, updatedAt: Date? = nil) {
        self.name = name
        self.limit = limit
        self.period = period
        self.timeZone = timeZone
        self.match = match
        self.alertThresholds = alertThresholds
        self.webhook = webhook
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
    }

    /// Whether the scope holds a run with `tags`: every key of ``match`` is there with its value.
    public func matches(tags: [String: String]) -> Bool {
        match.allSatisfy { tags[$0.key] == $0.value }
    }

    /// The zone of ``timeZone``; UTC when the identifier is unknown (``validationProblem`` refuses those on set).
    public var zone: TimeZone { TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")! }

    /// The window of this scope that `instant` falls in.
    public func window(at instant: Date) -> BudgetWindowKey { period.window(containing: instant, timeZone: zone) }

    /// Why the scope cannot be stored, naming the flag a person would fix (`--limit`), or nil.
    public var validationProblem: String? {
        if name.isEmpty || name.contains(where: { $0.isWhitespace || $0.isNewline }) {
            return "the scope name '\(name)' must be one word with no spaces"
        }
        if !limit.isFinite || limit.isNegative { return "--limit must be a non-negative number of USD, not \(limit.description)" }
        if TimeZone(identifier: timeZone) == nil {
            return "--tz '\(timeZone)' is not a known time zone; give an IANA name such as UTC or Europe/Berlin"
        }
        for threshold in alertThresholds where threshold <= 0 || threshold > 1 {
            return "--alert-at \(threshold) is not a fraction of the limit above 0 and at most 1 (e.g. 0.5,0.8,0.95)"
        }
        for (key, _) in match where key.isEmpty { return "--match needs KEY=VALUE with a non-empty KEY" }
        if let webhook, !(webhook.hasPrefix("https://") || webhook.hasPrefix("http://")) {
            return "--webhook '\(webhook)' is not an http:// or https:// URL"
        }
        return nil
    }
}

/// What a scope's window holds: committed = spent + reserved.
public struct BudgetWindow: Sendable, Hashable, Codable {
    public var scope: String
    public var key: BudgetWindowKey
    /// Settled cost of the attempts that reserved against this window.
    public var spent: Money
    /// Reservations of attempts still running (or unsettled: charged at their reservation).
    public var reserved: Money

    public init(scope: String, key: BudgetWindowKey, spent: Money = .zero, reserved: Money = .zero) {
        self.scope = scope
        self.key = key
        self.spent = spent
        self.reserved = reserved
    }

    public var committed: Money { spent + reserved }
}

/// A scope as `wflo budgets` lists it: its current window (empty when nothing was reserved in it
/// yet) and the spend of the window before.
public struct BudgetScopeStatus: Sendable, Hashable {
    public var scope: BudgetScope
    public var window: BudgetWindow
    /// Spent in the previous period; nil for period `none`.
    public var lastPeriodSpent: Money?

    public init(scope: BudgetScope, window: BudgetWindow, lastPeriodSpent: Money?) {
        self.scope = scope
        self.window = window
        self.lastPeriodSpent = lastPeriodSpent
    }
}

/// The window of one matching scope that a reservation charges, as the store read it under its
/// lock (a window with no row yet reads as empty).
public struct ScopeCharge: Sendable, Hashable {
    public var scope: BudgetScope
    public var window: BudgetWindow
    public init(scope: BudgetScope, window: BudgetWindow) {
        self.scope = scope
        self.window = window
    }
}

/// A reservation refused by a scope: what `wflo run` prints before exiting 3.
public struct ScopeRefusal: Sendable, Hashable {
    public var scope: String
    public var limit: Money
    public var period: BudgetPeriod
    public var window: BudgetWindowKey
    public var committed: Money
    public var requested: Money
    public var timeZone: String

    public init(scope: String, limit: Money, period: BudgetPeriod, window: BudgetWindowKey, committed: Money, requested: Money,
                timeZone: String) {
        self.scope = scope
        self.limit = limit
        self.period = period
        self.window = window
        self.committed = committed
        self.requested = requested
        self.timeZone = timeZone
    }

    /// "worst case $0.01 does not fit budget scope 'research' ($50.00 per day, UTC): $49.995 committed
    /// this period, $0.005 left; it resets at 2026-12-04T00:00:00Z".
    public var message: String {
        let per = period == .none ? "in total" : "per \(period.rawValue)"
        var text = "worst case \(requested.dollars()) does not fit budget scope '\(scope)' (\(limit.dollars()) \(per)"
        text += period == .none ? ")" : ", \(timeZone))"
        text += ": \(committed.dollars()) committed \(period == .none ? "so far" : "this \(period.rawValue)"), "
        text += "\(Money.max(limit - committed, .zero).dollars()) left; "
        if let resets = window.resetsAt {
            text += "it resets at \(BudgetScopeText.timestamp(resets, zone: timeZone))"
        } else {
            text += "it never resets (raise it with `wflo budgets set \(scope) --limit USD`)"
        }
        return text
    }
}

/// An alert of the durable outbox: a scope's window crossed one of its thresholds. Written once per
/// (scope, period start, threshold) in the transaction of the reservation that crossed it; delivered
/// (webhook, retries) by the alert deliverer.
public struct AlertRecord: Sendable, Hashable, Codable {
    public var id: String
    public var scope: String
    /// The fraction of the limit crossed (0.8).
    public var threshold: Decimal
    /// Committed in the window (settled + reserved) once the crossing reservation was held.
    public var spent: Money
    public var limit: Money
    public var periodStart: Date
    public var resetsAt: Date?
    public var webhook: String?
    public var createdAt: Date
    /// Delivery attempts made so far.
    public var attempts: Int
    public var deliveredAt: Date?
    public var lastError: String?
    /// When the deliverer may try again (nil: at once).
    public var nextAttemptAt: Date?

    public init(id: String, scope: String, threshold: Decimal, spent: Money, limit: Money, periodStart: Date, resetsAt: Date?,
                webhook: String?, createdAt: Date, attempts: Int = 0, deliveredAt: Date? = nil, lastError: String? = nil,
                nextAttemptAt: Date? = nil) {
        self.id = id
        self.scope = scope
        self.threshold = threshold
        self.spent = spent
        self.limit = limit
        self.periodStart = periodStart
        self.resetsAt = resetsAt
        self.webhook = webhook
        self.createdAt = createdAt
        self.attempts = attempts
        self.deliveredAt = deliveredAt
        self.lastError = lastError
        self.nextAttemptAt = nextAttemptAt
    }

    /// The threshold as stored and keyed: its decimal text ("0.8").
    public var thresholdText: String { BudgetScopeText.fraction(threshold) }
}

// MARK: - The rules

/// What a reservation does to the scopes that match its run: refuse, or charge each window and
/// write the alerts it crosses. Pure: the store reads the windows under its lock, calls this and
/// persists what it returns.
public enum ScopeAdmission {
    public enum Decision: Sendable, Hashable {
        case refused(ScopeRefusal)
        case admitted(Admitted)
    }

    public struct Admitted: Sendable, Hashable {
        /// The windows after the reservation, one per matching scope, in scope-name order.
        public var windows: [BudgetWindow]
        /// New alerts (the store inserts them with a unique key on scope, period start and
        /// threshold, so one already written is kept and this one dropped).
        public var alerts: [AlertRecord]

        public init(windows: [BudgetWindow], alerts: [AlertRecord]) {
            self.windows = windows
            self.alerts = alerts
        }

        /// Nothing to charge: no scope matches, or the reservation is $0.
        public static let none = Admitted(windows: [], alerts: [])
    }

    /// The scopes of `scopes` that hold a run with `tags`, in name order (the order stores lock their windows in).
    public static func matching(_ scopes: [BudgetScope], tags: [String: String]) -> [BudgetScope] {
        scopes.filter { $0.matches(tags: tags) }.sorted { $0.name < $1.name }
    }

    /// The refusal, or the windows and alerts to write. A reservation of zero (a free or local
    /// model) passes every scope and charges nothing. A scope refuses when its committed amount
    /// plus the reservation is above its limit; the first such scope (by name) is named.
    /// - Parameters:
    ///   - charges: each matching scope with its window, read under the write lock.
    ///   - newAlertID: a fresh id per alert written.
    public static func decide(charges: [ScopeCharge], reserve: Money, at: Date,
                              newAlertID: () -> String) -> Decision {
        guard !reserve.isZero else { return .admitted(.none) }
        for charge in charges.sorted(by: { $0.scope.name < $1.scope.name }) {
            let window = charge.window
            if !(window.committed + reserve <= charge.scope.limit) || !reserve.isFinite || reserve.isNegative {
                return .refused(ScopeRefusal(scope: charge.scope.name, limit: charge.scope.limit, period: charge.scope.period,
                                             window: window.key, committed: window.committed, requested: reserve,
                                             timeZone: charge.scope.timeZone))
            }
        }
        var windows: [BudgetWindow] = []
        var alerts: [AlertRecord] = []
        for charge in charges.sorted(by: { $0.scope.name < $1.scope.name }) {
            var after = charge.window
            after.reserved += reserve
            windows.append(after)
            for threshold in crossed(charge.scope, before: charge.window.committed, after: after.committed) {
                alerts.append(AlertRecord(id: newAlertID(), scope: charge.scope.name, threshold: threshold, spent: after.committed,
                                          limit: charge.scope.limit, periodStart: after.key.periodStart, resetsAt: after.key.resetsAt,
                                          webhook: charge.scope.webhook, createdAt: at))
            }
        }
        return .admitted(Admitted(windows: windows, alerts: alerts))
    }

    /// The thresholds of `scope` that a window reaches at `after` and had not reached at `before`
    /// (reaching: committed ≥ threshold × limit). The store's unique key makes a threshold fire
    /// once per period even if two reservations both believe they crossed it.
    public static func crossed(_ scope: BudgetScope, before: Money, after: Money) -> [Decimal] {
        guard !scope.limit.isZero else { return [] }
        return scope.alertThresholds.sorted().filter { threshold in
            let line = scope.limit * threshold
            return !(line <= before) && line <= after
        }
    }
}

/// Settling an attempt against the windows it reserved in: its reservation leaves each window's
/// reserved sum and its cost joins the spent sum, whatever period it is now.
public enum ScopeSettlement {
    /// `window` after an attempt that reserved `reserved` settles at `cost`.
    public static func settling(_ window: BudgetWindow, reserved: Money, cost: Money) -> BudgetWindow {
        var after = window
        after.reserved = Money.max(window.reserved - reserved, .zero)
        after.spent = window.spent + cost
        return after
    }
}

/// Bad input for a scope, naming the flag to fix.
public struct BudgetScopeInputError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The text forms scopes use in the journal, messages and JSON.
public enum BudgetScopeText {
    /// A fraction as plain decimal text ("0.8", "1").
    public static func fraction(_ value: Decimal) -> String { Money(value).description }

    /// Parses "0.5,0.8,0.95".
    /// - Throws: ``BudgetScopeInputError`` naming `--alert-at` and the bad part.
    public static func thresholds(_ text: String) throws -> [Decimal] {
        var values: [Decimal] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            guard let money = Money(string: trimmed), money.amount > 0, money.amount <= 1 else {
                throw BudgetScopeInputError("--alert-at '\(trimmed)' is not a fraction of the limit above 0 and at most 1; write e.g. --alert-at 0.5,0.8,0.95")
            }
            if !values.contains(money.amount) { values.append(money.amount) }
        }
        return values.sorted()
    }

    /// `KEY=VALUE` as a pair, or nil when there is no `=` or the key is empty.
    public static func tag(_ text: String) -> (key: String, value: String)? {
        guard let equals = text.firstIndex(of: "=") else { return nil }
        let key = String(text[..<equals]).trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty else { return nil }
        return (key, String(text[text.index(after: equals)...]))
    }

    /// ISO 8601 with the zone's offset ("2026-12-04T00:00:00+01:00"; "Z" for UTC).
    public static func timestamp(_ date: Date, zone: String) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}

// MARK: - The store

/// Budget scopes, their period windows and the alert outbox, shared by every run and process
/// using the journal. The windows are charged by ``AttemptStore/beginAttempt(_:)`` and settled by
/// ``AttemptStore/finishAttempt(_:)`` in their own transactions; this protocol manages the scopes
/// and hands alerts to the deliverer.
public protocol BudgetScopeStore: Sendable {
    /// Creates the scope, or replaces the one with its name (keeping its `createdAt` and windows).
    /// - Throws: ``StoreError`` `.conflict` naming the problem when ``BudgetScope/validationProblem`` is not nil.
    func setBudgetScope(_ scope: BudgetScope) async throws
    /// Removes the scope and its windows (alerts already written stay). Returns whether it existed.
    @discardableResult
    func removeBudgetScope(name: String) async throws -> Bool
    /// Every scope by name, with its window at `at` and the previous window's spend.
    func budgetScopes(at: Date) async throws -> [BudgetScopeStatus]
    /// The windows of `scope` (all scopes when nil) that start at or after `since`, oldest first:
    /// spend per scope over time for reports.
    func budgetWindows(scope: String?, since: Date) async throws -> [BudgetWindow]

    /// Takes up to `limit` alerts that are not delivered, are due (`nextAttemptAt` nil or not after
    /// `at`) and are not leased to another owner (or its lease ended), leasing them to `owner` until
    /// `at + lease`: two deliverers never hold the same alert at the same time. Oldest first.
    func claimDueAlerts(owner: String, at: Date, lease: TimeInterval, limit: Int) async throws -> [AlertRecord]
    /// Marks the alert delivered and ends the lease, if `owner` holds it. Returns whether it did.
    @discardableResult
    func markAlertDelivered(id: String, owner: String, at: Date) async throws -> Bool
    /// Counts a failed delivery (attempts + 1, `lastError`), ends the lease and makes the alert due
    /// again at `retryAt`, if `owner` holds it. Returns whether it did.
    @discardableResult
    func markAlertFailed(id: String, owner: String, error: String, retryAt: Date, at: Date) async throws -> Bool
    /// The outbox, oldest first, of one scope or all.
    func alerts(scope: String?) async throws -> [AlertRecord]
}

// MARK: - Cells of a SQL journal

extension BudgetScope {
    /// `match` as the journal stores it: a JSON object, keys sorted.
    public var matchCell: String { JSONValue.object(match.mapValues { .string($0) }).encoded() }
    /// The thresholds as the journal stores them: a JSON array of decimal strings.
    public var thresholdsCell: String { JSONValue.array(alertThresholds.map { .string(BudgetScopeText.fraction($0)) }).encoded() }
}

extension JournalCells {
    /// Tags of a run or a scope's match, stored as a JSON object of strings (NULL: none).
    public static func tags(_ text: String?, _ column: String) throws -> [String: String] {
        guard let text else { return [:] }
        guard let object = try json(text, column).objectValue else {
            throw StoreError(.corrupt, "\(column) holds '\(text)', not an object of tags; the journal was edited or is damaged")
        }
        var tags: [String: String] = [:]
        for (key, value) in object {
            guard let string = value.stringValue else {
                throw StoreError(.corrupt, "\(column) holds a tag '\(key)' whose value is not a string; the journal was edited or is damaged")
            }
            tags[key] = string
        }
        return tags
    }

    /// A run's tags for the `runs.tags` column (NULL when it has none).
    public static func tagsCell(_ tags: [String: String]) -> String? {
        tags.isEmpty ? nil : JSONValue.object(tags.mapValues { .string($0) }).encoded()
    }

    /// A threshold ("0.8").
    public static func fraction(_ text: String, _ column: String) throws -> Decimal {
        guard let value = Money(string: text)?.amount else {
            throw StoreError(.corrupt, "\(column) holds '\(text)', not a decimal fraction; the journal was edited or is damaged")
        }
        return value
    }

    /// A `budget_scopes` row read back from its cells.
    public static func budgetScope(name: String, limit: String, period: String, timeZone: String, match: String, thresholds: String,
                                   webhook: String?, createdAt: Double, updatedAt: Double) throws -> BudgetScope {
        guard let list = try json(thresholds, "budget_scopes.alert_at").arrayValue else {
            throw StoreError(.corrupt, "budget_scopes.alert_at of scope \(name) is not a list: \(thresholds)")
        }
        let fractions = try list.map { item -> Decimal in
            guard let text = item.stringValue else {
                throw StoreError(.corrupt, "budget_scopes.alert_at of scope \(name) holds a non-string threshold: \(thresholds)")
            }
            return try fraction(text, "budget_scopes.alert_at")
        }
        return BudgetScope(name: name, limit: try money(limit, "budget_scopes.limit_usd"),
                           period: try enumeration(period, "budget_scopes.period"), timeZone: timeZone,
                           match: try tags(match, "budget_scopes.match"), alertThresholds: fractions, webhook: webhook,
                           createdAt: date(createdAt), updatedAt: date(updatedAt))
    }

    /// A `budget_windows` row read back from its cells.
    public static func budgetWindow(scope: String, periodStart: Double, resetsAt: Double?, spent: String, reserved: String) throws -> BudgetWindow {
        BudgetWindow(scope: scope, key: BudgetWindowKey(periodStart: date(periodStart), resetsAt: resetsAt.map(date)),
                     spent: try money(spent, "budget_windows.spent_usd"), reserved: try money(reserved, "budget_windows.reserved_usd"))
    }

    /// A `budget_alerts` row read back from its cells.
    public static func alert(id: String, scope: String, threshold: String, spent: String, limit: String, periodStart: Double,
                             resetsAt: Double?, webhook: String?, createdAt: Double, attempts: Int, deliveredAt: Double?,
                             lastError: String?, nextAttemptAt: Double?) throws -> AlertRecord {
        AlertRecord(id: id, scope: scope, threshold: try fraction(threshold, "budget_alerts.threshold"),
                    spent: try money(spent, "budget_alerts.spent_usd"), limit: try money(limit, "budget_alerts.limit_usd"),
                    periodStart: date(periodStart), resetsAt: resetsAt.map(date), webhook: webhook, createdAt: date(createdAt),
                    attempts: attempts, deliveredAt: deliveredAt.map(date), lastError: lastError, nextAttemptAt: nextAttemptAt.map(date))
    }
}
