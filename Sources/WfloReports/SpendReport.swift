import Foundation
import WfloCore

/// Spend across runs: the runs started in a window, grouped by model, workflow, day, step or
/// budget scope, with totals, budget utilisation, spend per day (per scope too) and the most
/// expensive steps.
///
/// Built from journal rows alone (read-only): the runs started at or after ``since`` and every
/// attempt of those runs. A run belongs to the window, and to a day, by when it started (days
/// are UTC); all its attempts count, even those made after a later resume. Money stays exact:
/// every total is a sum of the attempts' charges (settled cost, or reservation while unsettled),
/// so the total equals the sum of the runs' ledgers to the last digit, and the groups of any
/// grouping add up to the total — except by scope: a run counts in every budget scope whose
/// `--match` its tags satisfy (the scopes as they are when the report is made), so a run in two
/// scopes is in both groups, and runs in none are grouped as `(no scope)`.
///
/// ```swift
/// let activity = try await store.activity(since: since, workflow: nil)
/// let report = SpendReport(runs: activity.runs, attempts: activity.attempts, since: since, until: now, grouping: .model)
/// print(report.render(.table))
/// ```
public struct SpendReport: Sendable, Hashable {
    /// What the groups are keyed by (`--by`).
    public enum Grouping: String, Sendable, CaseIterable {
        case model, workflow, day, step, scope

        /// Reads a `--by` value.
        /// - Throws: ``ReportError`` `.invalidGrouping` listing the accepted values.
        public static func parse(_ text: String) throws -> Grouping {
            guard let grouping = Grouping(rawValue: text.lowercased()) else {
                throw ReportError(.invalidGrouping, "--by '\(text)' is not a grouping; write --by model, workflow, day, step or scope")
            }
            return grouping
        }
    }

    /// How much of their budgets a set of runs used. Runs without a budget (`--no-budget`)
    /// are left out of it.
    public struct BudgetUse: Sendable, Hashable {
        /// Runs that had a budget.
        public var budgetedRuns: Int
        /// Sum of those runs' budgets.
        public var budget: Money
        /// What those runs spent.
        public var spent: Money
        /// The run that used the largest share of its budget, and that share in percent.
        public var peakRunID: String?
        public var peakPercent: Decimal?

        /// `spent / budget` in percent; nil when no run had a (non-zero) budget.
        public var percent: Decimal? { spent.percent(of: budget) }

        static let empty = BudgetUse(budgetedRuns: 0, budget: .zero, spent: .zero, peakRunID: nil, peakPercent: nil)

        mutating func add(run: RunRecord, spent runSpent: Money) {
            guard let runBudget = run.budget else { return }
            budgetedRuns += 1
            budget += runBudget
            spent += runSpent
            if let share = runSpent.percent(of: runBudget), peakPercent.map({ share > $0 }) ?? true {
                peakPercent = share
                peakRunID = run.id
            }
        }
    }

    /// One group of `--by`, or the totals.
    public struct Group: Sendable, Hashable {
        /// The model, workflow, day (`YYYY-MM-DD`, UTC) or step id; `total` for the totals.
        public var key: String
        /// The step's workflow when grouped by step (a step id means something within its workflow).
        public var workflow: String?
        /// Runs that contributed: started in the group (workflow, day), or with an attempt in it (model, step).
        public var runs: Int
        /// LLM calls: attempts that returned a response or are charged (failed attempts that cost
        /// nothing are counted in ``failedAttempts`` only).
        public var calls: Int
        public var attempts: Int
        /// Attempts beyond the first of each step of each run.
        public var retries: Int
        public var failedAttempts: Int
        /// What the failed attempts cost (part of ``spent``).
        public var failedCost: Money
        public var usage: TokenUsage
        /// Settled costs plus unsettled reservations: what the budgets were charged.
        public var spent: Money
        /// Reservations of attempts whose outcome is unknown (part of ``spent``).
        public var unsettled: Money
        /// What answers served from the LLM response cache would have cost (not part of ``spent``).
        public var cacheSavings: Money
        /// Attempts served from the cache: no call was made.
        public var cacheHits: Int
        /// Budget utilisation of the group's runs; nil when grouped by model or step (a budget
        /// belongs to a run, not to a model or a step).
        public var budget: BudgetUse?

        init(key: String, workflow: String? = nil, budget: BudgetUse? = nil) {
            self.key = key
            self.workflow = workflow
            runs = 0
            calls = 0
            attempts = 0
            retries = 0
            failedAttempts = 0
            failedCost = .zero
            usage = .zero
            spent = .zero
            unsettled = .zero
            cacheSavings = .zero
            cacheHits = 0
            self.budget = budget
        }

        mutating func add(_ attempt: AttemptRecord) {
            attempts += 1
            if attempt.cacheHit {
                cacheHits += 1
                cacheSavings += attempt.saved ?? .zero
                return
            }
            if attempt.number > 1 { retries += 1 }
            if attempt.status == .failed {
                failedAttempts += 1
                failedCost += attempt.charged
            }
            if attempt.status != .failed || !(attempt.cost ?? .zero).isZero { calls += 1 }
            if attempt.status == .running || attempt.status == .unsettled { unsettled += attempt.reserved }
            usage = usage + (attempt.usage ?? .zero)
            spent += attempt.charged
        }
    }

    /// One step of one run, for the list of the most expensive ones.
    public struct StepCost: Sendable, Hashable {
        public var runID: String
        public var workflow: String
        public var stepID: String
        /// The model of its last attempt.
        public var model: String?
        public var attempts: Int
        public var usage: TokenUsage
        public var cost: Money

        mutating func add(_ attempt: AttemptRecord) {
            attempts += 1
            model = attempt.model ?? model
            usage = usage + (attempt.usage ?? .zero)
            cost += attempt.charged
        }
    }

    /// A budget scope's spend over the window: what its runs spent, per day.
    public struct ScopeSeries: Sendable, Hashable {
        public var scope: String
        public var limit: Money
        public var period: BudgetPeriod
        /// Runs of the window the scope holds.
        public var runs: Int
        public var spent: Money
        /// Like ``SpendReport/days``, counting only the scope's runs.
        public var days: [Day]
    }

    /// Spend of the runs started on one UTC day.
    public struct Day: Sendable, Hashable {
        /// `YYYY-MM-DD`.
        public var day: String
        public var runs: Int
        public var spent: Money
    }

    public var since: Date
    /// When the report was made; the window's end.
    public var until: Date
    /// `--workflow`, when the report is limited to one workflow.
    public var workflow: String?
    public var grouping: Grouping
    /// Runs in the window, by status (`completed`, `failed`, …).
    public var runsByStatus: [String: Int]
    public var totals: Group
    /// Most expensive first.
    public var groups: [Group]
    /// At most ``topLimit`` steps, most expensive first; steps that cost nothing are left out.
    public var topSteps: [StepCost]
    public var topLimit: Int
    /// Every UTC day from ``since`` (or, for windows longer than 92 days, from the first run's
    /// day) to ``until``, days without runs included; empty when there are no runs.
    public var days: [Day]
    /// One per budget scope given, by name: the spend over time of each.
    public var scopeSeries: [ScopeSeries]

    /// The label of runs that no budget scope holds (grouped by scope).
    public static let noScope = "(no scope)"

    /// - Parameters:
    ///   - runs: the runs in the window (``since`` to ``until``, and ``workflow`` when given).
    ///   - attempts: every attempt of those runs; attempts of other runs are ignored.
    ///   - agentSteps: per run, the ids of its `agent` steps: their turns and tool calls are
    ///     counted as the agent step, in the groups by step and in the list of expensive steps.
    ///   - scopes: the budget scopes: runs are matched to them by their tags (``BudgetScope/matches(tags:)``).
    ///   - topLimit: how many of the most expensive steps to list.
    public init(runs: [RunRecord], attempts: [AttemptRecord], agentSteps: [String: Set<String>] = [:], since: Date, until: Date,
                workflow: String? = nil, grouping: Grouping, scopes: [BudgetScope] = [], topLimit: Int = 10) {
        self.since = since
        self.until = until
        self.workflow = workflow
        self.grouping = grouping
        self.topLimit = topLimit

        let runsByID = Dictionary(runs.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        // Agent turns and tool calls are charged to the agent step that made them.
        let attempts = attempts.compactMap { attempt -> AttemptRecord? in
            guard runsByID[attempt.runID] != nil else { return nil }
            guard let agents = agentSteps[attempt.runID], let agent = AgentJournalID.agent(of: attempt.stepID, among: agents) else { return attempt }
            var folded = attempt
            folded.stepID = agent
            return folded
        }
        var status: [String: Int] = [:]
        for run in runs { status[run.status.rawValue, default: 0] += 1 }
        runsByStatus = status

        // Per run and per (run, step): the units that budgets and the top list speak of.
        var spentByRun: [String: Money] = [:]
        var stepCosts: [StepKey: StepCost] = [:]
        var total = Group(key: "total", budget: .empty)
        total.runs = runs.count
        for attempt in attempts {
            total.add(attempt)
            spentByRun[attempt.runID, default: .zero] += attempt.charged
            let key = StepKey(runID: attempt.runID, stepID: attempt.stepID)
            // Mutated in place: no copy of the line per attempt.
            stepCosts[key, default: StepCost(runID: attempt.runID, workflow: runsByID[attempt.runID]?.workflowName ?? "",
                                             stepID: attempt.stepID, model: nil, attempts: 0, usage: .zero, cost: .zero)]
                .add(attempt)
        }
        for run in runs { total.budget?.add(run: run, spent: spentByRun[run.id] ?? .zero) }
        totals = total

        let scopes = scopes.sorted { $0.name < $1.name }
        groups = SpendReport.groups(grouping, runs: runs, attempts: attempts, runsByID: runsByID, spentByRun: spentByRun, scopes: scopes)
        topSteps = Array(stepCosts.values.filter { !$0.cost.isZero }.sorted {
            $0.cost != $1.cost ? $0.cost > $1.cost : ($0.runID, $0.stepID) < ($1.runID, $1.stepID)
        }.prefix(max(0, topLimit)))
        days = SpendReport.days(runs: runs, spentByRun: spentByRun, since: since, until: until)
        scopeSeries = scopes.map { scope in
            let held = runs.filter { scope.matches(tags: $0.tags) }
            // The same days as the report's (the whole window), so the series line up.
            let perDay = SpendReport.days(runs: held, spentByRun: spentByRun, since: since, until: until, first: runs.map(\.createdAt).min())
            return ScopeSeries(scope: scope.name, limit: scope.limit, period: scope.period, runs: held.count,
                               spent: held.map { spentByRun[$0.id] ?? .zero }.sum(), days: perDay)
        }
    }

    private struct StepKey: Hashable {
        var runID: String
        var stepID: String
    }

    private struct GroupKey: Hashable {
        var key: String
        var workflow: String?
    }

    /// The label of attempts that name no model (calls that are not LLM calls).
    public static let noModel = "(no model)"

    private static func groups(_ grouping: Grouping, runs: [RunRecord], attempts: [AttemptRecord],
                               runsByID: [String: RunRecord], spentByRun: [String: Money], scopes: [BudgetScope]) -> [Group] {
        var groups: [GroupKey: Group] = [:]
        var runSets: [GroupKey: Set<String>] = [:]
        switch grouping {
        case .workflow, .day:
            var keyOfRun: [String: GroupKey] = [:]
            for run in runs {
                let k = GroupKey(key: grouping == .workflow ? run.workflowName : utcDay(run.createdAt), workflow: nil)
                keyOfRun[run.id] = k
                var group = groups[k] ?? Group(key: k.key, budget: .empty)
                group.runs += 1
                group.budget?.add(run: run, spent: spentByRun[run.id] ?? .zero)
                groups[k] = group
            }
            for attempt in attempts {
                guard let k = keyOfRun[attempt.runID] else { continue }
                groups[k]?.add(attempt)
            }
        case .scope:
            var keysOfRun: [String: [GroupKey]] = [:]
            for run in runs {
                let names = scopes.filter { $0.matches(tags: run.tags) }.map(\.name)
                let keys = (names.isEmpty ? [noScope] : names).map { GroupKey(key: $0, workflow: nil) }
                keysOfRun[run.id] = keys
                for k in keys {
                    var group = groups[k] ?? Group(key: k.key, budget: .empty)
                    group.runs += 1
                    group.budget?.add(run: run, spent: spentByRun[run.id] ?? .zero)
                    groups[k] = group
                }
            }
            for attempt in attempts {
                for k in keysOfRun[attempt.runID] ?? [] { groups[k]?.add(attempt) }
            }
        case .model, .step:
            for attempt in attempts {
                let k = grouping == .model
                    ? GroupKey(key: attempt.model ?? noModel, workflow: nil)
                    : GroupKey(key: NestedStepID.asWritten(attempt.stepID), workflow: runsByID[attempt.runID]?.workflowName ?? "")
                groups[k, default: Group(key: k.key, workflow: k.workflow)].add(attempt)
                runSets[k, default: []].insert(attempt.runID)
            }
            for (k, set) in runSets { groups[k]?.runs = set.count }
        }
        return groups.values.sorted {
            if grouping == .day { return $0.key < $1.key }
            if $0.spent != $1.spent { return $0.spent > $1.spent }
            return ($0.key, $0.workflow ?? "") < ($1.key, $1.workflow ?? "")
        }
    }

    /// - Parameter first: when the first run of the whole report started (the runs' own first by default).
    private static func days(runs: [RunRecord], spentByRun: [String: Money], since: Date, until: Date, first: Date? = nil) -> [Day] {
        guard let first = first ?? runs.map(\.createdAt).min() else { return [] }
        var byDay: [String: Day] = [:]
        for run in runs {
            let day = utcDay(run.createdAt)
            var line = byDay[day] ?? Day(day: day, runs: 0, spent: .zero)
            line.runs += 1
            line.spent += spentByRun[run.id] ?? .zero
            byDay[day] = line
        }
        var out: [Day] = []
        // The whole window when it is short enough to draw day by day (so a quiet week shows as
        // one), else from the first run's day.
        let start = until.timeIntervalSince(since) <= 92 * 86_400 ? since : max(first, since)
        var cursor = utcCalendar.startOfDay(for: start)
        let last = max(until, runs.map(\.createdAt).max() ?? until)
        while cursor <= last {
            let day = utcDay(cursor)
            out.append(byDay[day] ?? Day(day: day, runs: 0, spent: .zero))
            guard let next = utcCalendar.date(byAdding: .day, value: 1, to: cursor) else { break }
            cursor = next
        }
        return out
    }

    static let utcCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// `YYYY-MM-DD` of `date` in UTC.
    static func utcDay(_ date: Date) -> String {
        let c = utcCalendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }
}
