import Foundation
import PostgresNIO
import WfloCore

/// Budget scopes (`budget_scopes`), their windows (`budget_windows`, one row per scope and period
/// start), the windows each attempt reserved in (`attempt_windows`) and the alert outbox
/// (`budget_alerts`).
///
/// Inside `beginAttempt`'s transaction, after the run's row is locked, each matching scope's
/// window is created if missing (`INSERT … ON CONFLICT DO NOTHING`: a concurrent creator of the
/// same window makes this one wait, then insert nothing) and locked `FOR UPDATE`, in scope-name
/// order, before it is read: of any number of processes reserving in one window, each reads
/// what the one before it committed. `finishAttempt` locks the same rows in the same order.
extension PostgresJournalStore {
    // MARK: - Inside beginAttempt and finishAttempt

    /// Locks and reads the windows at `at` of the scopes matching the run's tags, and asks
    /// ``ScopeAdmission/decide(charges:reserve:at:newAlertID:)``. A $0 reservation reads nothing.
    /// Call with the run's row locked.
    func scopeDecision(_ connection: PostgresConnection, runID: String, reserve: Money, at: Date) async throws -> ScopeAdmission.Decision {
        if reserve.isZero { return .admitted(.none) }
        let scopes = try await allScopes(connection)
        if scopes.isEmpty { return .admitted(.none) }
        let tagsCell = try await connection.query("SELECT tags FROM runs WHERE id = \(runID)", logger: logger)
            .records { try $0.decode(String?.self) }.first ?? nil
        var charges: [ScopeCharge] = []
        for scope in ScopeAdmission.matching(scopes, tags: try JournalCells.tags(tagsCell, "runs.tags")) {
            let key = scope.window(at: at)
            try await connection.query("""
                INSERT INTO budget_windows (scope, period_start, resets_at) VALUES (\(scope.name), \(key.periodStart.timeIntervalSince1970),
                    \(key.resetsAt?.timeIntervalSince1970))
                ON CONFLICT (scope, period_start) DO NOTHING
                """, logger: logger)
            guard let window = try await connection.query("""
                SELECT scope, period_start, resets_at, spent_usd, reserved_usd FROM budget_windows
                WHERE scope = \(scope.name) AND period_start = \(key.periodStart.timeIntervalSince1970) FOR UPDATE
                """, logger: logger).records(Self.window).first else {
                throw StoreError(.database, "the window of budget scope \(scope.name) was not written in \(journalLocation)")
            }
            charges.append(ScopeCharge(scope: scope, window: window))
        }
        return ScopeAdmission.decide(charges: charges, reserve: reserve, at: at, newAlertID: { UUID().uuidString.lowercased() })
    }

    /// Writes what an admitted reservation charges (its windows were locked by ``scopeDecision``):
    /// each window's reserved sum, which windows the attempt reserved in, and the alerts (a
    /// second writer of the same scope, period and threshold is ignored by the unique key).
    func writeScopeCharges(_ connection: PostgresConnection, _ admitted: ScopeAdmission.Admitted, attemptID: Int64) async throws {
        for window in admitted.windows {
            let start = window.key.periodStart.timeIntervalSince1970
            try await connection.query("""
                WITH charged AS (
                    UPDATE budget_windows SET reserved_usd = \(window.reserved.description) WHERE scope = \(window.scope) AND period_start = \(start)
                )
                INSERT INTO attempt_windows (attempt_id, scope, period_start) VALUES (\(attemptID), \(window.scope), \(start))
                """, logger: logger)
        }
        for alert in admitted.alerts {
            try await connection.query("""
                INSERT INTO budget_alerts (id, scope, threshold, spent_usd, limit_usd, period_start, resets_at, webhook, created_at)
                VALUES (\(alert.id), \(alert.scope), \(alert.thresholdText), \(alert.spent.description), \(alert.limit.description),
                        \(alert.periodStart.timeIntervalSince1970), \(alert.resetsAt?.timeIntervalSince1970), \(alert.webhook),
                        \(alert.createdAt.timeIntervalSince1970))
                ON CONFLICT (scope, period_start, threshold) DO NOTHING
                """, logger: logger)
        }
    }

    /// Moves a settled attempt's reservation out of the windows it reserved in and its cost into
    /// their spent sums (``ScopeSettlement``), locking them in scope order. Call with the run's row locked.
    func settleScopes(_ connection: PostgresConnection, attemptID: Int64, reserved: Money, cost: Money) async throws {
        let windows = try await connection.query("""
            SELECT w.scope, w.period_start, w.resets_at, w.spent_usd, w.reserved_usd FROM budget_windows w
            JOIN attempt_windows a ON w.scope = a.scope AND w.period_start = a.period_start
            WHERE a.attempt_id = \(attemptID) ORDER BY w.scope FOR UPDATE OF w
            """, logger: logger).records(Self.window)
        for window in windows {
            let after = ScopeSettlement.settling(window, reserved: reserved, cost: cost)
            try await connection.query("""
                UPDATE budget_windows SET spent_usd = \(after.spent.description), reserved_usd = \(after.reserved.description)
                WHERE scope = \(window.scope) AND period_start = \(window.key.periodStart.timeIntervalSince1970)
                """, logger: logger)
        }
    }

    private static let scopeColumns = "name, limit_usd, period, time_zone, match, alert_at, webhook, created_at, updated_at"

    private func allScopes(_ connection: PostgresConnection) async throws -> [BudgetScope] {
        try await connection.query("SELECT \(unescaped: Self.scopeColumns) FROM budget_scopes ORDER BY name COLLATE \"C\"", logger: logger)
            .records { row in
                let (name, limit, period, zone, match, thresholds, webhook, created, updated) =
                    try row.decode((String, String, String, String, String, String, String?, Double, Double).self)
                return try JournalCells.budgetScope(name: name, limit: limit, period: period, timeZone: zone, match: match, thresholds: thresholds,
                                                    webhook: webhook, createdAt: created, updatedAt: updated)
            }
    }

    private static func window(_ row: PostgresRow) throws -> BudgetWindow {
        let (scope, start, resets, spent, reserved) = try row.decode((String, Double, Double?, String, String).self)
        return try JournalCells.budgetWindow(scope: scope, periodStart: start, resetsAt: resets, spent: spent, reserved: reserved)
    }

    private func window(_ connection: PostgresConnection, scope: String, key: BudgetWindowKey) async throws -> BudgetWindow? {
        try await connection.query("""
            SELECT scope, period_start, resets_at, spent_usd, reserved_usd FROM budget_windows
            WHERE scope = \(scope) AND period_start = \(key.periodStart.timeIntervalSince1970)
            """, logger: logger).records(Self.window).first
    }

    // MARK: - BudgetScopeStore

    public func setBudgetScope(_ scope: BudgetScope) async throws {
        if let problem = scope.validationProblem { throw StoreError(.conflict, problem) }
        try await statement { connection -> Void in
            try await connection.query("""
                INSERT INTO budget_scopes (name, limit_usd, period, time_zone, match, alert_at, webhook, created_at, updated_at)
                VALUES (\(scope.name), \(scope.limit.description), \(scope.period.rawValue), \(scope.timeZone), \(scope.matchCell),
                        \(scope.thresholdsCell), \(scope.webhook), \(scope.createdAt.timeIntervalSince1970), \(scope.updatedAt.timeIntervalSince1970))
                ON CONFLICT (name) DO UPDATE SET limit_usd = excluded.limit_usd, period = excluded.period, time_zone = excluded.time_zone,
                    match = excluded.match, alert_at = excluded.alert_at, webhook = excluded.webhook, updated_at = excluded.updated_at
                """, logger: self.logger)
        }
    }

    @discardableResult
    public func removeBudgetScope(name: String) async throws -> Bool {
        try await write { connection in
            let removed = try await connection.query("DELETE FROM budget_scopes WHERE name = \(name) RETURNING 1", logger: self.logger)
                .collect().count > 0
            try await connection.query("DELETE FROM budget_windows WHERE scope = \(name)", logger: self.logger)
            try await connection.query("DELETE FROM attempt_windows WHERE scope = \(name)", logger: self.logger)
            return removed
        }
    }

    public func budgetScopes(at: Date) async throws -> [BudgetScopeStatus] {
        try await read { connection in
            var statuses: [BudgetScopeStatus] = []
            for scope in try await self.allScopes(connection) {
                let key = scope.window(at: at)
                let window = try await self.window(connection, scope: scope.name, key: key) ?? BudgetWindow(scope: scope.name, key: key)
                var last: Money?
                if let previous = scope.period.previousWindow(before: key.periodStart, timeZone: scope.zone) {
                    last = try await self.window(connection, scope: scope.name, key: previous)?.spent ?? .zero
                }
                statuses.append(BudgetScopeStatus(scope: scope, window: window, lastPeriodSpent: last))
            }
            return statuses
        }
    }

    public func budgetWindows(scope: String?, since: Date) async throws -> [BudgetWindow] {
        try await read(oneStatement: true) { connection in
            try await connection.query("""
                SELECT scope, period_start, resets_at, spent_usd, reserved_usd FROM budget_windows
                WHERE (\(scope)::text IS NULL OR scope = \(scope)) AND period_start >= \(since.timeIntervalSince1970)
                ORDER BY period_start, scope COLLATE "C"
                """, logger: self.logger).records(Self.window)
        }
    }

    private static let alertColumns = """
        id, scope, threshold, spent_usd, limit_usd, period_start, resets_at, webhook, created_at, attempts, delivered_at, last_error, next_attempt_at
        """

    private static func alert(_ row: PostgresRow) throws -> AlertRecord {
        let (id, scope, threshold, spent, limit, start, resets, webhook, created, attempts, delivered, error, next) =
            try row.decode((String, String, String, String, String, Double, Double?, String?, Double, Int, Double?, String?, Double?).self)
        return try JournalCells.alert(id: id, scope: scope, threshold: threshold, spent: spent, limit: limit, periodStart: start, resetsAt: resets,
                                      webhook: webhook, createdAt: created, attempts: attempts, deliveredAt: delivered, lastError: error,
                                      nextAttemptAt: next)
    }

    /// `FOR UPDATE SKIP LOCKED`: two deliverers claiming at once take different alerts.
    public func claimDueAlerts(owner: String, at: Date, lease: TimeInterval, limit: Int) async throws -> [AlertRecord] {
        try await write { connection in
            let now = at.timeIntervalSince1970
            let ids = try await connection.query("""
                UPDATE budget_alerts SET lease_owner = \(owner), lease_expires_at = \(now + lease)
                WHERE id IN (
                    SELECT id FROM budget_alerts WHERE delivered_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= \(now))
                        AND (lease_owner IS NULL OR lease_expires_at <= \(now))
                    ORDER BY created_at, ord LIMIT \(max(limit, 0)) FOR UPDATE SKIP LOCKED
                )
                RETURNING id
                """, logger: self.logger).records { try $0.decode(String.self) }
            if ids.isEmpty { return [] }
            return try await connection.query("""
                SELECT \(unescaped: Self.alertColumns) FROM budget_alerts WHERE id = ANY(\(ids)) ORDER BY created_at, ord
                """, logger: self.logger).records(Self.alert)
        }
    }

    @discardableResult
    public func markAlertDelivered(id: String, owner: String, at: Date) async throws -> Bool {
        try await statement { connection in
            try await connection.query("""
                UPDATE budget_alerts SET delivered_at = \(at.timeIntervalSince1970), attempts = attempts + 1, last_error = NULL,
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND lease_owner = \(owner) AND delivered_at IS NULL RETURNING 1
                """, logger: self.logger).collect().count == 1
        }
    }

    @discardableResult
    public func markAlertFailed(id: String, owner: String, error: String, retryAt: Date, at: Date) async throws -> Bool {
        try await statement { connection in
            try await connection.query("""
                UPDATE budget_alerts SET attempts = attempts + 1, last_error = \(error), next_attempt_at = \(retryAt.timeIntervalSince1970),
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND lease_owner = \(owner) AND delivered_at IS NULL RETURNING 1
                """, logger: self.logger).collect().count == 1
        }
    }

    public func alerts(scope: String?) async throws -> [AlertRecord] {
        try await read(oneStatement: true) { connection in
            try await connection.query("""
                SELECT \(unescaped: Self.alertColumns) FROM budget_alerts WHERE (\(scope)::text IS NULL OR scope = \(scope)) ORDER BY created_at, ord
                """, logger: self.logger).records(Self.alert)
        }
    }
}
