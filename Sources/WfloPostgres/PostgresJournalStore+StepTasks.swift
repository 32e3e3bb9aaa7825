import Foundation
import PostgresNIO
import WfloCore

/// A run's step tasks (``StepTaskStore``): the `step_tasks` table (`v18_step_tasks`).
///
/// Leases are timed by the database's clock (``storeNow``). A claim takes its task with
/// `SELECT … FOR UPDATE SKIP LOCKED`, so claimers never wait for each other's candidates and two
/// never win the same task; an enqueue tells idle workers (`pg_notify`, the `work` subject) when it commits.
/// Lock order: a helper's transaction locks its task's row (the fence) before the run's row (the
/// reservation), as the claim does.
extension PostgresJournalStore {
    /// Throws the fence's ``LeaseFence/lostError`` unless its token still holds a live lease on its
    /// step task, locking the task's row so it cannot be claimed again before this transaction commits.
    func checkStepTask(_ fence: LeaseFence, task: Int64, _ connection: PostgresConnection) async throws {
        let held = try await connection.query("""
            SELECT 1 FROM step_tasks WHERE id = \(task) AND owner_token = \(fence.token) AND status = 'claimed'
              AND lease_expires_at > \(unescaped: Self.storeNow)
            FOR NO KEY UPDATE
            """, logger: logger).collect()
        if held.isEmpty { throw fence.lostError }
    }

    public func enqueueStepTasks(_ tasks: [StepTaskRequest]) async throws -> [Int64] {
        if tasks.isEmpty { return [] }
        return try await write { connection in
            var ids: [Int64] = []
            for task in tasks {
                let written = try await connection.query("""
                    INSERT INTO step_tasks (run_id, step_id, payload, status, claims, created_at)
                    VALUES (\(task.runID), \(task.stepID), \(task.payload.encoded()), 'queued', 0, \(task.at.timeIntervalSince1970))
                    ON CONFLICT (run_id, step_id) DO UPDATE SET payload = excluded.payload, status = 'queued', owner = NULL, owner_token = NULL,
                        lease_expires_at = NULL, outcome = NULL, finished_at = NULL, created_at = excluded.created_at
                    WHERE step_tasks.status IN ('done', 'cancelled')
                    RETURNING id
                    """, logger: self.logger).records { try $0.decode(Int64.self) }
                if let id = written.first {
                    ids.append(id)
                    continue
                }
                // A live task for the step is there already: left as it is.
                guard let id = try await connection.query("""
                    SELECT id FROM step_tasks WHERE run_id = \(task.runID) AND step_id = \(task.stepID)
                    """, logger: self.logger).records({ try $0.decode(Int64.self) }).first else {
                    throw StoreError(.database, "step task \(task.stepID) of run \(task.runID) was not written to \(self.journalLocation)")
                }
                ids.append(id)
            }
            try await PostgresNotifications.notify(connection, channel: self.notificationChannel, .work, logger: self.logger)
            return ids
        }
    }

    /// The claim statement states ``StepTaskRule/isClaimable(status:leaseExpiresAt:now:)`` and
    /// ``StepTaskRule/runAdmits(status:cancelRequested:)``.
    public func claimStepTask(runID: String?, owner: RunOwner, lease: Double) async throws -> StepTaskLease? {
        let encoded = String(decoding: try JSONEncoder().encode(owner), as: UTF8.self)
        return try await write { connection -> StepTaskLease? in
            guard let (id, run, step, payload, claims) = try await connection.query("""
                WITH now AS (SELECT \(unescaped: Self.storeNow) AS t)
                SELECT k.id, k.run_id, k.step_id, k.payload, k.claims FROM step_tasks k, now
                WHERE (k.status = 'queued' OR (k.status = 'claimed' AND k.lease_expires_at <= now.t))
                  AND (\(runID)::text IS NULL OR k.run_id = \(runID))
                  AND (\(runID)::text IS NOT NULL OR EXISTS (SELECT 1 FROM runs r WHERE r.id = k.run_id AND r.status = 'running'
                                                           AND r.cancel_requested_at IS NULL))
                ORDER BY k.id LIMIT 1
                FOR UPDATE OF k SKIP LOCKED
                """, logger: self.logger).records({ try $0.decode((Int64, String, String, String, Int).self) }).first else { return nil }
            var unsettled = 0
            if claims > 0 {
                // Its last helper is gone: what it left in flight is charged at its reservation.
                _ = try await self.lockedLedger(connection, runID: run)
                unsettled = try await connection.query("""
                    UPDATE attempts SET status = 'unsettled', error = \(inFlightUnsettledError), finished_at = \(unescaped: Self.storeNow)
                    WHERE run_id = \(run) AND step_id = \(step) AND status = 'running' RETURNING 1
                    """, logger: self.logger).collect().count
                if unsettled > 0 {
                    _ = try await EventRow.insert(connection, .attemptsUnsettled(runID: run, count: unsettled, at: Date()), logger: self.logger)
                }
            }
            guard let expires = try await connection.query("""
                WITH now AS (SELECT \(unescaped: Self.storeNow) AS t)
                UPDATE step_tasks SET status = 'claimed', owner = \(encoded), owner_token = \(owner.token), lease_expires_at = now.t + \(lease),
                                      claims = claims + 1
                FROM now WHERE id = \(id) RETURNING lease_expires_at
                """, logger: self.logger).records({ try $0.decode(Double.self) }).first else { return nil }
            let next = try await connection.query("""
                SELECT (COALESCE(MAX(number), 0) + 1)::bigint FROM attempts WHERE run_id = \(run) AND step_id = \(step)
                """, logger: self.logger).records({ try $0.decode(Int.self) }).first ?? 1
            return StepTaskLease(id: id, runID: run, stepID: step, payload: try JournalCells.json(payload, "step_tasks.payload"), owner: owner,
                                 expiresAt: JournalCells.date(expires), claims: claims + 1, nextAttempt: next, unsettled: unsettled)
        }
    }

    public func renewStepTask(id: Int64, token: String, lease: Double) async throws -> Bool {
        try await statement { connection in
            try await connection.query("""
                WITH now AS (SELECT \(unescaped: Self.storeNow) AS t)
                UPDATE step_tasks SET lease_expires_at = now.t + \(lease) FROM now
                WHERE id = \(id) AND owner_token = \(token) AND status = 'claimed' AND lease_expires_at > now.t
                RETURNING 1
                """, logger: self.logger).collect().count == 1
        }
    }

    public func completeStepTask(id: Int64, token: String, outcome: JSONValue) async throws -> Bool {
        try await statement { connection in
            try await connection.query("""
                WITH now AS (SELECT \(unescaped: Self.storeNow) AS t)
                UPDATE step_tasks SET status = 'done', outcome = \(outcome.encoded()), finished_at = now.t, lease_expires_at = NULL, owner_token = NULL
                FROM now WHERE id = \(id) AND owner_token = \(token) AND status = 'claimed' AND lease_expires_at > now.t
                RETURNING 1
                """, logger: self.logger).collect().count == 1
        }
    }

    @discardableResult
    public func releaseStepTask(id: Int64, token: String) async throws -> Bool {
        try await statement { connection in
            let released = try await connection.query("""
                UPDATE step_tasks SET status = 'queued', owner = NULL, owner_token = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND owner_token = \(token) AND status = 'claimed'
                RETURNING 1
                """, logger: self.logger).collect().count == 1
            if released { try await PostgresNotifications.notify(connection, channel: self.notificationChannel, .work, logger: self.logger) }
            return released
        }
    }

    @discardableResult
    public func cancelStepTasks(runID: String) async throws -> Int {
        if let token = singleStatementFence(runID: runID) {
            // One statement: the run's row locked while the lease (if any) holds, then its open tasks cancelled.
            let (held, cancelled) = try await statement(checksFence: true) { connection in
                try await connection.query("""
                    WITH held AS (
                        SELECT 1 FROM runs WHERE id = \(runID)
                          AND (\(token)::text IS NULL OR (owner_token = \(token) AND lease_expires_at > \(unescaped: Self.storeNow)))
                        FOR NO KEY UPDATE
                    ), cancelled AS (
                        UPDATE step_tasks SET status = 'cancelled', owner_token = NULL, lease_expires_at = NULL, finished_at = \(unescaped: Self.storeNow)
                        WHERE run_id = \(runID) AND status IN ('queued', 'claimed') AND EXISTS (SELECT 1 FROM held)
                        RETURNING 1
                    )
                    SELECT (SELECT count(*) FROM held), (SELECT count(*) FROM cancelled)
                    """, logger: self.logger).records { try $0.decode((Int64, Int64).self) }.first ?? (Int64(0), Int64(0))
            }
            if held == 0, let fence { throw fence.lostError }
            return Int(cancelled)
        }
        return try await statement { connection in
            try await connection.query("""
                UPDATE step_tasks SET status = 'cancelled', owner_token = NULL, lease_expires_at = NULL, finished_at = \(unescaped: Self.storeNow)
                WHERE run_id = \(runID) AND status IN ('queued', 'claimed')
                RETURNING 1
                """, logger: self.logger).collect().count
        }
    }

    public func stepTasks(runID: String, ids: [Int64]?) async throws -> [StepTaskRecord] {
        if let ids, ids.isEmpty { return [] }
        return try await read { connection in
            try await connection.query("""
                SELECT id, run_id, step_id, payload, status, owner, lease_expires_at, claims, outcome, created_at, finished_at
                FROM step_tasks WHERE run_id = \(runID) AND (\(ids)::bigint[] IS NULL OR id = ANY(\(ids))) ORDER BY id
                """, logger: self.logger).records { row in
                let (id, run, step, payload, status, owner, expires, claims, outcome, created, finished) =
                    try row.decode((Int64, String, String, String, String, String?, Double?, Int, String?, Double, Double?).self)
                return StepTaskRecord(id: id, runID: run, stepID: step, payload: try JournalCells.json(payload, "step_tasks.payload"),
                                      status: try JournalCells.enumeration(status, "step_tasks.status"),
                                      owner: owner.flatMap { try? JSONDecoder().decode(RunOwner.self, from: Data($0.utf8)) },
                                      leaseExpiresAt: expires.map(JournalCells.date), claims: claims,
                                      outcome: try outcome.map { try JournalCells.json($0, "step_tasks.outcome") },
                                      createdAt: JournalCells.date(created), finishedAt: finished.map(JournalCells.date))
            }
        }
    }

    public func fenced(stepTask lease: StepTaskLease) -> any JournalStore {
        fencing(LeaseFence(runID: lease.runID, token: lease.owner.token, stepTask: lease.id))
    }
}
