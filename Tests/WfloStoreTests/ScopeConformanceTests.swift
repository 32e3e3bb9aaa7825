import Foundation
import Testing
import WfloCore
import WfloStore
import WfloTesting

/// Budget scopes across runs (issue 17) on every ``StoreUnderTest``: the reservation charges the
/// run and every matching scope in one transaction, windows are rows keyed by scope and period
/// start, and alerts are written once per scope, period and threshold. The tests named after a
/// LiteLLM issue are the failures of its proxy budgets that must not happen here.
struct ScopeConformanceTests {
    static let stores = ConformanceTests.stores

    /// 2026-12-03T12:00:00Z, a Thursday: the clock every test injects (`at:`), moved by hand.
    static let noon = Date(timeIntervalSince1970: 1_796_299_200)

    static func tagged(_ id: String, _ tags: [String: String], budget: String? = nil) -> RunRecord {
        var run = sampleRun(id: id, budget: budget, created: 0)
        run.tags = tags
        return run
    }

    static func reserve(_ run: String, _ step: String, _ amount: String, at: Date = noon) -> AttemptStart {
        AttemptStart(runID: run, stepID: step, stepType: .llm, number: 1, model: "m", reserve: money(amount), at: at)
    }

    static func settle(_ id: Int64, _ run: String, _ step: String, cost: String, at: Date = noon) -> AttemptFinish {
        AttemptFinish(attemptID: id, runID: run, stepID: step, succeeded: true, cost: money(cost), usage: nil, error: nil,
                      stepStatus: .completed, stepOutput: nil, at: at)
    }

    static func scope(_ name: String, limit: String, period: BudgetPeriod = .none, zone: String = "UTC", match: [String: String] = [:],
                      alertAt: [Decimal] = [], webhook: String? = nil) -> BudgetScope {
        BudgetScope(name: name, limit: money(limit), period: period, timeZone: zone, match: match, alertThresholds: alertAt, webhook: webhook,
                    createdAt: noon)
    }

    static func status(_ store: any JournalStore, _ name: String, at: Date = noon) async throws -> BudgetScopeStatus {
        try #require(try await store.budgetScopes(at: at).first { $0.scope.name == name })
    }

    // MARK: - Scopes

    @Test(arguments: stores)
    func scopesAreSetListedUpdatedAndRemoved(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            let research = Self.scope("research", limit: "50", period: .day, zone: "Europe/Berlin", match: ["team": "research"],
                                      alertAt: [0.5, 0.8], webhook: "https://hooks.example/x")
            try await store.setBudgetScope(research)
            try await store.setBudgetScope(Self.scope("all", limit: "100", period: .month))
            let listed = try await store.budgetScopes(at: Self.noon)
            #expect(listed.map(\.scope.name) == ["all", "research"])
            #expect(listed[1].scope == research)
            #expect(listed[1].window == BudgetWindow(scope: "research", key: research.window(at: Self.noon)))
            #expect(listed[1].lastPeriodSpent == .zero)

            var raised = research
            raised.limit = money("60")
            raised.createdAt = Self.noon.addingTimeInterval(3600)
            raised.updatedAt = Self.noon.addingTimeInterval(3600)
            try await store.setBudgetScope(raised)
            let updated = try await Self.status(store, "research").scope
            #expect(updated.limit == money("60") && updated.createdAt == Self.noon && updated.updatedAt == raised.updatedAt)

            #expect(try await store.removeBudgetScope(name: "research"))
            #expect(try await store.removeBudgetScope(name: "research") == false)
            #expect(try await store.budgetScopes(at: Self.noon).map(\.scope.name) == ["all"])

            let bad = try await #require(throws: StoreError.self) {
                try await store.setBudgetScope(Self.scope("x", limit: "1", zone: "Mars/Olympus"))
            }
            #expect(bad.message.contains("--tz") && bad.message.contains("Mars/Olympus"))
        }
    }

    @Test(arguments: stores)
    func tagsRoundTripWithTheRun(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.createRun(Self.tagged("r", ["customer": "acme", "team": "research"]))
            try await store.createRun(Self.tagged("plain", [:]))
            #expect(try await store.run(id: "r")?.tags == ["customer": "acme", "team": "research"])
            #expect(try await store.run(id: "plain")?.tags == [:])
            #expect(try await store.listRuns(limit: 5).first { $0.id == "r" }?.tags == ["customer": "acme", "team": "research"])
            #expect(try await store.journal(runID: "r").run.tags["customer"] == "acme")
        }
    }

    // MARK: - Reservations and settlement

    @Test(arguments: stores)
    func aReservationChargesTheRunAndEveryMatchingScopeAndSettlementMovesIt(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("all", limit: "10"))
            try await store.setBudgetScope(Self.scope("research", limit: "5", period: .day, match: ["team": "research"]))
            try await store.setBudgetScope(Self.scope("sales", limit: "5", period: .day, match: ["team": "sales"]))
            try await store.setBudgetScope(Self.scope("acme-research", limit: "5", match: ["team": "research", "customer": "acme"]))
            try await store.createRun(Self.tagged("r", ["team": "research"], budget: "1"))
            let id = try #require(try await store.beginAttempt(Self.reserve("r", "a", "0.3")).attemptID)
            #expect(try await store.ledger(runID: "r").reserved == money("0.3"))
            #expect(try await Self.status(store, "all").window.reserved == money("0.3"))
            #expect(try await Self.status(store, "research").window.reserved == money("0.3"))
            #expect(try await Self.status(store, "sales").window.committed == .zero)
            #expect(try await Self.status(store, "acme-research").window.committed == .zero)

            try await store.finishAttempt(Self.settle(id, "r", "a", cost: "0.12"))
            for name in ["all", "research"] {
                let window = try await Self.status(store, name).window
                #expect(window.spent == money("0.12") && window.reserved == .zero)
            }
            // A second settlement of the same attempt changes nothing.
            try await store.finishAttempt(Self.settle(id, "r", "a", cost: "0.12"))
            #expect(try await Self.status(store, "all").window.spent == money("0.12"))
        }
    }

    @Test(arguments: stores)
    func aCallThatDoesNotFitAScopeIsRefusedNamingItAndWritesNothing(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("research", limit: "0.5", period: .day, zone: "Europe/Berlin"))
            try await store.createRun(Self.tagged("r", [:], budget: "10"))
            #expect(try await store.beginAttempt(Self.reserve("r", "a", "0.3")).attemptID != nil)
            let outcome = try await store.beginAttempt(Self.reserve("r", "b", "0.3"))
            guard case .refusedByScope(let refusal) = outcome else {
                Issue.record("expected a refusal by the scope, got \(outcome)")
                return
            }
            #expect(refusal.scope == "research" && refusal.committed == money("0.3") && refusal.requested == money("0.3"))
            // Europe/Berlin: midnight is 23:00 UTC in December.
            #expect(refusal.window.resetsAt == Date(timeIntervalSince1970: 1_796_338_800))
            #expect(refusal.message.contains("'research'") && refusal.message.contains("per day")
                && refusal.message.contains("2026-12-04T00:00:00+01:00"))
            let journal = try await store.journal(runID: "r")
            #expect(journal.attempts.count == 1 && journal.steps.map(\.stepID) == ["a"])
            #expect(try await store.ledger(runID: "r").reserved == money("0.3"))
            #expect(try await Self.status(store, "research").window.reserved == money("0.3"))
        }
    }

    @Test(arguments: stores)
    func aFreeCallPassesEvenAnExhaustedScope(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("nothing", limit: "0"))
            try await store.createRun(Self.tagged("r", [:], budget: "1"))
            #expect(try await store.beginAttempt(Self.reserve("r", "local", "0")).attemptID != nil)
            #expect(try await store.beginAttempt(Self.reserve("r", "paid", "0.000001")).attemptID == nil)
            #expect(try await Self.status(store, "nothing").window.committed == .zero)
        }
    }

    @Test(arguments: stores)
    func anUnsettledAttemptStaysChargedInItsWindows(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("s", limit: "1"))
            try await store.createRun(Self.tagged("r", [:], budget: "1"))
            let crashed = try #require(try await store.beginAttempt(Self.reserve("r", "a", "0.4")).attemptID)
            #expect(try await store.markInFlightUnsettled(runID: "r", at: Self.noon) == 1)
            try await store.finishAttempt(Self.settle(crashed, "r", "a", cost: "0"))
            let timedOut = try #require(try await store.beginAttempt(Self.reserve("r", "b", "0.4")).attemptID)
            try await store.finishAttempt(.unanswered(attemptID: timedOut, runID: "r", stepID: "b", error: "timeout", stepStatus: .failed,
                                                      at: Self.noon))
            #expect(try await Self.status(store, "s").window == BudgetWindow(scope: "s", key: Self.scope("s", limit: "1").window(at: Self.noon),
                                                                             spent: .zero, reserved: money("0.8")))
            #expect(try await store.beginAttempt(Self.reserve("r", "c", "0.3")).attemptID == nil)
        }
    }

    // MARK: - The LiteLLM failures

    @Test("LiteLLM #34732: check-then-increment races never overspend a scope shared by many runs", arguments: stores)
    func racingReservationsAcrossRunsNeverOverspendAScope(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("team", limit: "1.0", period: .day, match: ["team": "t"]))
            for run in 0..<8 { try await store.createRun(Self.tagged("r\(run)", ["team": "t"], budget: "5")) }
            let outcomes = try await withThrowingTaskGroup(of: AttemptBeginOutcome.self) { group in
                for index in 0..<48 {
                    group.addTask { try await store.beginAttempt(Self.reserve("r\(index % 8)", "s\(index)", "0.1")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.compactMap(\.attemptID).count == 10)
            #expect(outcomes.allSatisfy { if case .refusedByScope(let refusal) = $0 { refusal.scope == "team" } else { $0.attemptID != nil } })
            let window = try await Self.status(store, "team").window
            #expect(window.reserved == money("1.0") && window.spent == .zero)
        }
    }

    @Test("LiteLLM #40095: the first run of a new tag value is held by the scopes that match it", arguments: stores)
    func theFirstRunOfANewTagValueIsHeld(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("default", limit: "0.25"))
            try await store.setBudgetScope(Self.scope("acme", limit: "0.1", match: ["customer": "acme"]))
            // Runs of customers never seen before: the scope with no match holds them from their first call.
            try await store.createRun(Self.tagged("new-1", ["customer": "zed"], budget: "5"))
            try await store.createRun(Self.tagged("new-2", [:], budget: "5"))
            #expect(try await store.beginAttempt(Self.reserve("new-1", "a", "0.2")).attemptID != nil)
            #expect(try await store.beginAttempt(Self.reserve("new-2", "a", "0.1")).attemptID == nil)
            // The very first run carrying customer=acme is held by its scope.
            try await store.createRun(Self.tagged("acme-1", ["customer": "acme"], budget: "5"))
            let outcome = try await store.beginAttempt(Self.reserve("acme-1", "a", "0.2"))
            guard case .refusedByScope(let refusal) = outcome else {
                Issue.record("expected acme's scope to refuse, got \(outcome)")
                return
            }
            #expect(refusal.scope == "acme")
        }
    }

    @Test("LiteLLM #34733: a period rollover is a new window row, never a reset racing with spends", arguments: stores)
    func aRolloverIsANewWindowAndSettlementFollowsTheAttempt(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            let day = Self.scope("daily", limit: "1", period: .day)
            try await store.setBudgetScope(day)
            try await store.createRun(Self.tagged("r", [:], budget: "10"))
            let justBefore = Date(timeIntervalSince1970: 1_796_342_399)   // 2026-12-03T23:59:59Z
            let justAfter = Date(timeIntervalSince1970: 1_796_342_400)    // 2026-12-04T00:00:00Z
            let late = try #require(try await store.beginAttempt(Self.reserve("r", "late", "0.9", at: justBefore)).attemptID)
            // The new day has its own window with the whole limit, while the old one still holds the reservation.
            let early = try #require(try await store.beginAttempt(Self.reserve("r", "early", "0.9", at: justAfter)).attemptID)
            // The late attempt settles after midnight: its cost lands in the day it reserved in.
            try await store.finishAttempt(Self.settle(late, "r", "late", cost: "0.5", at: justAfter))
            try await store.finishAttempt(Self.settle(early, "r", "early", cost: "0.25", at: justAfter))
            let today = try await Self.status(store, "daily", at: justAfter)
            #expect(today.window.key == BudgetWindowKey(periodStart: justAfter, resetsAt: justAfter.addingTimeInterval(86400)))
            #expect(today.window.spent == money("0.25") && today.window.reserved == .zero)
            #expect(today.lastPeriodSpent == money("0.5"))
            let yesterday = try await Self.status(store, "daily", at: justBefore).window
            #expect(yesterday.spent == money("0.5") && yesterday.reserved == .zero)
            let windows = try await store.budgetWindows(scope: "daily", since: .distantPast)
            #expect(windows.map(\.key.periodStart) == [justAfter.addingTimeInterval(-86400), justAfter])
        }
    }

    @Test("LiteLLM #8364 #25495: a monthly scope in its zone resets on the first of the month, not on a fixed count of days", arguments: stores)
    func aMonthlyScopeResetsOnTheFirstInItsZone(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("monthly", limit: "1", period: .month, zone: "America/New_York"))
            try await store.createRun(Self.tagged("r", [:], budget: "10"))
            // 2027-03-01T04:59:59Z is still February 28 in New York; 05:00Z is March 1 (EST, UTC-5).
            let lastSecondOfFebruary = Date(timeIntervalSince1970: 1_803_877_199)
            let march = Date(timeIntervalSince1970: 1_803_877_200)
            #expect(try await store.beginAttempt(Self.reserve("r", "a", "1", at: lastSecondOfFebruary)).attemptID != nil)
            #expect(try await store.beginAttempt(Self.reserve("r", "b", "0.5", at: lastSecondOfFebruary)).attemptID == nil)
            #expect(try await store.beginAttempt(Self.reserve("r", "c", "1", at: march)).attemptID != nil)
            let status = try await Self.status(store, "monthly", at: march)
            #expect(status.window.key.periodStart == march)
            // March in New York is 31 days minus the hour of the DST change (2027-03-14).
            #expect(status.window.key.resetsAt == march.addingTimeInterval(31 * 86400 - 3600))
        }
    }

    @Test("LiteLLM #35800 #16185 #3738: each threshold fires exactly once per scope and period, also under concurrency", arguments: stores)
    func thresholdsFireOncePerScopePeriodAndThreshold(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("team", limit: "1", period: .day, alertAt: [0.5, 0.8], webhook: "https://hooks.example/t"))
            for run in 0..<4 { try await store.createRun(Self.tagged("r\(run)", [:], budget: "5")) }
            // 12 concurrent reservations of 0.1: 10 fit; the window crosses 0.5 and 0.8 once each.
            _ = try await withThrowingTaskGroup(of: AttemptBeginOutcome.self) { group in
                for index in 0..<12 { group.addTask { try await store.beginAttempt(Self.reserve("r\(index % 4)", "s\(index)", "0.1")) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            var alerts = try await store.alerts(scope: "team")
            #expect(alerts.map(\.thresholdText).sorted() == ["0.5", "0.8"])
            let half = try #require(alerts.first { $0.thresholdText == "0.5" })
            #expect(half.spent == money("0.5") && half.limit == money("1") && half.webhook == "https://hooks.example/t")
            #expect(half.periodStart == Date(timeIntervalSince1970: 1_796_256_000) && half.resetsAt == Date(timeIntervalSince1970: 1_796_342_400))
            #expect(half.attempts == 0 && half.deliveredAt == nil)
            // Setting the scope again (same period) fires nothing again; the next day fires again.
            try await store.setBudgetScope(Self.scope("team", limit: "1", period: .day, alertAt: [0.5, 0.8]))
            let tomorrow = Self.noon.addingTimeInterval(86400)
            for index in 0..<6 { _ = try await store.beginAttempt(Self.reserve("r0", "t\(index)", "0.1", at: tomorrow)) }
            alerts = try await store.alerts(scope: "team")
            #expect(alerts.count == 3 && alerts.last?.thresholdText == "0.5" && alerts.last?.periodStart == Date(timeIntervalSince1970: 1_796_342_400))
        }
    }

    @Test(arguments: stores)
    func aClaimedAlertIsLeasedToOneDelivererAtATime(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("s", limit: "1", alertAt: [0.5]))
            try await store.createRun(Self.tagged("r", [:], budget: "5"))
            _ = try await store.beginAttempt(Self.reserve("r", "a", "0.6"))
            let first = try await store.claimDueAlerts(owner: "A", at: Self.noon, lease: 30, limit: 10)
            #expect(first.count == 1)
            let id = try #require(first.first?.id)
            #expect(try await store.claimDueAlerts(owner: "B", at: Self.noon.addingTimeInterval(10), lease: 30, limit: 10).isEmpty)
            #expect(try await store.markAlertDelivered(id: id, owner: "B", at: Self.noon) == false)
            #expect(try await store.markAlertFailed(id: id, owner: "A", error: "HTTP 503", retryAt: Self.noon.addingTimeInterval(60),
                                                    at: Self.noon.addingTimeInterval(1)))
            // Not due before its retry time; then B may take it.
            #expect(try await store.claimDueAlerts(owner: "B", at: Self.noon.addingTimeInterval(59), lease: 30, limit: 10).isEmpty)
            #expect(try await store.claimDueAlerts(owner: "B", at: Self.noon.addingTimeInterval(60), lease: 30, limit: 10).map(\.id) == [id])
            // B's lease ends unused: A takes it over after it expires and delivers it.
            #expect(try await store.claimDueAlerts(owner: "A", at: Self.noon.addingTimeInterval(91), lease: 30, limit: 10).map(\.id) == [id])
            #expect(try await store.markAlertDelivered(id: id, owner: "A", at: Self.noon.addingTimeInterval(92)))
            #expect(try await store.claimDueAlerts(owner: "B", at: Self.noon.addingTimeInterval(500), lease: 30, limit: 10).isEmpty)
            let stored = try #require(try await store.alerts(scope: nil).first)
            #expect(stored.attempts == 2 && stored.deliveredAt == Self.noon.addingTimeInterval(92) && stored.lastError == nil)
        }
    }

    @Test(arguments: stores)
    func concurrentClaimsNeverHandOutOneAlertTwice(kind: StoreUnderTest) async throws {
        try await kind.with { store in
            try await store.setBudgetScope(Self.scope("s", limit: "1", period: .day, alertAt: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]))
            try await store.createRun(Self.tagged("r", [:], budget: "5"))
            for index in 0..<10 { _ = try await store.beginAttempt(Self.reserve("r", "s\(index)", "0.1")) }
            #expect(try await store.alerts(scope: "s").count == 10)
            let claims = try await withThrowingTaskGroup(of: [String].self) { group in
                for owner in 0..<6 {
                    group.addTask { try await store.claimDueAlerts(owner: "o\(owner)", at: Self.noon, lease: 60, limit: 3).map(\.id) }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(claims.count == 10 && Set(claims).count == 10)
        }
    }
}
