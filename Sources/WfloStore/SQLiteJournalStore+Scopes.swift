import Foundation
import GRDB
import WfloCore

/// Budget scopes (`budget_scopes`), their windows (`budget_windows`, one row per scope and period
/// start), the windows each attempt reserved in (`attempt_windows`) and the alert outbox
/// (`budget_alerts`). The reservation and settlement of windows run inside `beginAttempt` and
/// `finishAttempt`'s `BEGIN IMMEDIATE` transactions: the write lock is held before any window is
/// read, so no other task or process can read the same room in a window.
extension SQLiteJournalStore {
    // MARK: - Inside beginAttempt and finishAttempt

    /// Reads the scopes matching the run's tags and their windows at `at`, and asks
    /// ``ScopeAdmission/decide(charges:reserve:at:newAlertID:)``. A $0 reservation reads nothing.
    func scopeDecision(_ db: Database, runID: String, reserve: Money, at: Date) throws -> ScopeAdmission.Decision {
        if reserve.isZero { return .admitted(.none) }
        let scopes = try allScopes(db)
        if scopes.isEmpty { return .admitted(.none) }
        let tagsCell = try String.fetchOne(db.cachedStatement(sql: "SELECT tags FROM runs WHERE id = ?"), arguments: [runID])
        let matching = ScopeAdmission.matching(scopes, tags: try JournalCells.tags(tagsCell, "runs.tags"))
        var charges: [ScopeCharge] = []
        for scope in matching {
            let key = scope.window(at: at)
            let window = try self.window(db, scope: scope.name, key: key) ?? BudgetWindow(scope: scope.name, key: key)
            charges.append(ScopeCharge(scope: scope, window: window))
        }
        return ScopeAdmission.decide(charges: charges, reserve: reserve, at: at, newAlertID: { UUID().uuidString.lowercased() })
    }

    /// Writes what an admitted reservation charges: each window (created on first use, never
    /// reset), which windows the attempt reserved in, and the alerts (a second writer of the same
    /// scope, period and threshold is ignored by the unique key).
    func writeScopeCharges(_ db: Database, _ admitted: ScopeAdmission.Admitted, attemptID: Int64) throws {
        for window in admitted.windows {
            let start = window.key.periodStart.timeIntervalSince1970
            try db.cachedStatement(sql: """
                INSERT INTO budget_windows (scope, period_start, resets_at) VALUES (?, ?, ?) ON CONFLICT (scope, period_start) DO NOTHING
                """).execute(arguments: [window.scope, start, window.key.resetsAt?.timeIntervalSince1970])
            try db.cachedStatement(sql: "UPDATE budget_windows SET reserved_usd = ? WHERE scope = ? AND period_start = ?")
                .execute(arguments: [window.reserved.description, window.scope, start])
            try db.cachedStatement(sql: "INSERT INTO attempt_windows (attempt_id, scope, period_start) VALUES (?, ?, ?)")
                .execute(arguments: [attemptID, window.scope, start])
        }
        for alert in admitted.alerts {
            try db.cachedStatement(sql: """
                INSERT INTO budget_alerts (id, scope, threshold, spent_usd, limit_usd, period_start, resets_at, webhook, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope, period_start, threshold) DO NOTHING
                """).execute(arguments: [alert.id, alert.scope, alert.thresholdText, alert.spent.description, alert.limit.description,
                                         alert.periodStart.timeIntervalSince1970, alert.resetsAt?.timeIntervalSince1970, alert.webhook,
                                         alert.createdAt.timeIntervalSince1970])
        }
    }

    /// Moves a settled attempt's reservation out of the windows it reserved in and its cost into
    /// their spent sums (``ScopeSettlement``), whatever period it is now.
    func settleScopes(_ db: Database, attemptID: Int64, reserved: Money, cost: Money) throws {
        let rows = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT w.scope, w.period_start, w.resets_at, w.spent_usd, w.reserved_usd FROM attempt_windows a
            JOIN budget_windows w ON w.scope = a.scope AND w.period_start = a.period_start WHERE a.attempt_id = ?
            """), arguments: [attemptID])
        for row in rows {
            let window = try JournalCells.budgetWindow(scope: row[0], periodStart: row[1], resetsAt: row[2], spent: row[3], reserved: row[4])
            let after = ScopeSettlement.settling(window, reserved: reserved, cost: cost)
            try db.cachedStatement(sql: "UPDATE budget_windows SET spent_usd = ?, reserved_usd = ? WHERE scope = ? AND period_start = ?")
                .execute(arguments: [after.spent.description, after.reserved.description, window.scope, row[1] as Double])
        }
    }

    private func allScopes(_ db: Database) throws -> [BudgetScope] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT name, limit_usd, period, time_zone, match, alert_at, webhook, created_at, updated_at FROM budget_scopes ORDER BY name
            """)).map { row in
            try JournalCells.budgetScope(name: row[0], limit: row[1], period: row[2], timeZone: row[3], match: row[4], thresholds: row[5],
                                         webhook: row[6], createdAt: row[7], updatedAt: row[8])
        }
    }

    private func window(_ db: Database, scope: String, key: BudgetWindowKey) throws -> BudgetWindow? {
        try Row.fetchOne(db.cachedStatement(sql: """
            SELECT scope, period_start, resets_at, spent_usd, reserved_usd FROM budget_windows WHERE scope = ? AND period_start = ?
            """), arguments: [scope, key.periodStart.timeIntervalSince1970]).map { row in
            try JournalCells.budgetWindow(scope: row[0], periodStart: row[1], resetsAt: row[2], spent: row[3], reserved: row[4])
        }
    }

    // MARK: - BudgetScopeStore

    public func setBudgetScope(_ scope: BudgetScope) async throws {
        if let problem = scope.validationProblem { throw StoreError(.conflict, problem) }
        try await write { db in
            try db.execute(sql: """
                INSERT INTO budget_scopes (name, limit_usd, period, time_zone, match, alert_at, webhook, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET limit_usd = excluded.limit_usd, period = excluded.period, time_zone = excluded.time_zone,
                    match = excluded.match, alert_at = excluded.alert_at, webhook = excluded.webhook, updated_at = excluded.updated_at
                """, arguments: [scope.name, scope.limit.description, scope.period.rawValue, scope.timeZone, scope.matchCell,
                                 scope.thresholdsCell, scope.webhook, scope.createdAt.timeIntervalSince1970,
                                 scope.updatedAt.timeIntervalSince1970])
        }
    }

    @discardableResult
    public func removeBudgetScope(name: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM budget_scopes WHERE name = ?", arguments: [name])
            let removed = db.changesCount > 0
            try db.execute(sql: "DELETE FROM budget_windows WHERE scope = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM attempt_windows WHERE scope = ?", arguments: [name])
            return removed
        }
    }

    public func budgetScopes(at: Date) async throws -> [BudgetScopeStatus] {
        try await read { [self] db in
            try allScopes(db).map { scope in
                let key = scope.window(at: at)
                let window = try self.window(db, scope: scope.name, key: key) ?? BudgetWindow(scope: scope.name, key: key)
                let last = try scope.period.previousWindow(before: key.periodStart, timeZone: scope.zone).map { previous in
                    try self.window(db, scope: scope.name, key: previous)?.spent ?? .zero
                }
                return BudgetScopeStatus(scope: scope, window: window, lastPeriodSpent: last)
            }
        }
    }

    public func budgetWindows(scope: String?, since: Date) async throws -> [BudgetWindow] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT scope, period_start, resets_at, spent_usd, reserved_usd FROM budget_windows
                WHERE (? IS NULL OR scope = ?) AND period_start >= ? ORDER BY period_start, scope
                """, arguments: [scope, scope, since.timeIntervalSince1970]).map { row in
                try JournalCells.budgetWindow(scope: row[0], periodStart: row[1], resetsAt: row[2], spent: row[3], reserved: row[4])
            }
        }
    }

    /// Looks with a read first: every process driving runs asks every few seconds, and almost always
    /// nothing is due, which must not cost a write transaction beside the runs' own.
    public func claimDueAlerts(owner: String, at: Date, lease: TimeInterval, limit: Int) async throws -> [AlertRecord] {
        let now = at.timeIntervalSince1970
        let due = """
            SELECT id FROM budget_alerts WHERE delivered_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
                AND (lease_owner IS NULL OR lease_expires_at <= ?) ORDER BY created_at, rowid LIMIT ?
            """
        guard try await read({ db in try String.fetchOne(db, sql: due, arguments: [now, now, 1]) != nil }) else { return [] }
        return try await write { db in
            let ids = try String.fetchAll(db, sql: due, arguments: [now, now, max(limit, 0)])
            var claimed: [AlertRecord] = []
            for id in ids {
                try db.execute(sql: "UPDATE budget_alerts SET lease_owner = ?, lease_expires_at = ? WHERE id = ?",
                               arguments: [owner, now + lease, id])
                if let alert = try Self.alert(db, id: id) { claimed.append(alert) }
            }
            return claimed
        }
    }

    @discardableResult
    public func markAlertDelivered(id: String, owner: String, at: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE budget_alerts SET delivered_at = ?, attempts = attempts + 1, last_error = NULL, lease_owner = NULL, lease_expires_at = NULL
                WHERE id = ? AND lease_owner = ? AND delivered_at IS NULL
                """, arguments: [at.timeIntervalSince1970, id, owner])
            return db.changesCount == 1
        }
    }

    @discardableResult
    public func markAlertFailed(id: String, owner: String, error: String, retryAt: Date, at: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE budget_alerts SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_owner = NULL, lease_expires_at = NULL
                WHERE id = ? AND lease_owner = ? AND delivered_at IS NULL
                """, arguments: [error, retryAt.timeIntervalSince1970, id, owner])
            return db.changesCount == 1
        }
    }

    public func alerts(scope: String?) async throws -> [AlertRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM budget_alerts WHERE (? IS NULL OR scope = ?) ORDER BY created_at, rowid",
                             arguments: [scope, scope]).map(Self.alert)
        }
    }

    private static func alert(_ db: Database, id: String) throws -> AlertRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM budget_alerts WHERE id = ?", arguments: [id]).map(alert)
    }

    private static func alert(_ row: Row) throws -> AlertRecord {
        try JournalCells.alert(id: row["id"], scope: row["scope"], threshold: row["threshold"], spent: row["spent_usd"], limit: row["limit_usd"],
                               periodStart: row["period_start"], resetsAt: row["resets_at"], webhook: row["webhook"],
                               createdAt: row["created_at"], attempts: row["attempts"], deliveredAt: row["delivered_at"],
                               lastError: row["last_error"], nextAttemptAt: row["next_attempt_at"])
    }
}
