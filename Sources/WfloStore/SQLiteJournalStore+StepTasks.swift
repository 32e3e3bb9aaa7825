import Foundation
import GRDB
import WfloCore

/// A run's step tasks (``StepTaskStore``): the `step_tasks` table (`v18_step_tasks`).
///
/// Leases are timed by SQLite's clock (``storeNow``) inside the transaction that uses them. A claim
/// runs in `BEGIN IMMEDIATE`, so the choice and the write cannot interleave with another claimer's
/// in this or another process.
extension SQLiteJournalStore {
    /// Throws the fence's ``LeaseFence/lostError`` unless its token still holds a live lease on its
    /// step task: the first statement of every write transaction of a helper's view.
    static func checkStepTaskFence(_ fence: LeaseFence, task: Int64, _ db: Database) throws {
        let held = try Bool.fetchOne(db.cachedStatement(sql: """
            SELECT owner_token = ? AND status = 'claimed' AND lease_expires_at > \(storeNow) FROM step_tasks WHERE id = ?
            """), arguments: [fence.token, task])
        if held != true { throw fence.lostError }
    }

    public func enqueueStepTasks(_ tasks: [StepTaskRequest]) async throws -> [Int64] {
        try await write { db in
            var ids: [Int64] = []
            for task in tasks {
                try db.cachedStatement(sql: """
                    INSERT INTO step_tasks (run_id, step_id, payload, status, claims, created_at) VALUES (?, ?, ?, 'queued', 0, ?)
                    ON CONFLICT (run_id, step_id) DO UPDATE SET payload = excluded.payload, status = 'queued', owner = NULL, owner_token = NULL,
                        lease_expires_at = NULL, outcome = NULL, finished_at = NULL, created_at = excluded.created_at
                    WHERE step_tasks.status IN ('done', 'cancelled')
                    """).execute(arguments: [task.runID, task.stepID, task.payload.encoded(), task.at.timeIntervalSince1970])
                guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM step_tasks WHERE run_id = ? AND step_id = ?",
                                                  arguments: [task.runID, task.stepID]) else {
                    throw StoreError(.database, "step task \(task.stepID) of run \(task.runID) was not written to \(path)")
                }
                ids.append(id)
            }
            return ids
        }
    }

    /// The claim statement states ``StepTaskRule/isClaimable(status:leaseExpiresAt:now:)`` and
    /// ``StepTaskRule/runAdmits(status:cancelRequested:)``; an idle helper looks in a read snapshot
    /// first and takes the write lock only when there is something to claim.
    public func claimStepTask(runID: String?, owner: RunOwner, lease: Double) async throws -> StepTaskLease? {
        let encoded = String(decoding: try JSONEncoder().encode(owner), as: UTF8.self)
        guard try await read({ db in try Self.firstClaimableTask(db, runID: runID, now: try Self.now(db)) != nil }) else { return nil }
        return try await write { db -> StepTaskLease? in
            let now = try Self.now(db)
            guard let row = try Self.firstClaimableTask(db, runID: runID, now: now) else { return nil }
            let id: Int64 = row["id"]
            let run: String = row["run_id"]
            let step: String = row["step_id"]
            let claims: Int = row["claims"]
            var unsettled = 0
            if claims > 0 {
                // Its last helper is gone: what it left in flight is charged at its reservation.
                try db.execute(sql: "UPDATE attempts SET status = 'unsettled', error = ?, finished_at = ? WHERE run_id = ? AND step_id = ? AND status = 'running'",
                               arguments: [inFlightUnsettledError, now, run, step])
                unsettled = db.changesCount
                if unsettled > 0 {
                    try EventRow.insert(db, .attemptsUnsettled(runID: run, count: unsettled, at: Date(timeIntervalSince1970: now)))
                }
            }
            let expires = now + lease
            try db.execute(sql: """
                UPDATE step_tasks SET status = 'claimed', owner = ?, owner_token = ?, lease_expires_at = ?, claims = claims + 1 WHERE id = ?
                """, arguments: [encoded, owner.token, expires, id])
            let next = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(number), 0) + 1 FROM attempts WHERE run_id = ? AND step_id = ?",
                                        arguments: [run, step]) ?? 1
            return StepTaskLease(id: id, runID: run, stepID: step, payload: try JournalCells.json(row["payload"], "step_tasks.payload"),
                                 owner: owner, expiresAt: Date(timeIntervalSince1970: expires), claims: claims + 1, nextAttempt: next,
                                 unsettled: unsettled)
        }
    }

    private static func firstClaimableTask(_ db: Database, runID: String?, now: Double) throws -> Row? {
        if let runID {
            return try Row.fetchOne(db, sql: """
                SELECT id, run_id, step_id, payload, claims FROM step_tasks
                WHERE run_id = ? AND (status = 'queued' OR (status = 'claimed' AND lease_expires_at <= ?))
                ORDER BY id LIMIT 1
                """, arguments: [runID, now])
        }
        return try Row.fetchOne(db, sql: """
            SELECT t.id, t.run_id, t.step_id, t.payload, t.claims FROM step_tasks t JOIN runs r ON r.id = t.run_id
            WHERE (t.status = 'queued' OR (t.status = 'claimed' AND t.lease_expires_at <= ?))
              AND r.status = 'running' AND r.cancel_requested_at IS NULL
            ORDER BY t.id LIMIT 1
            """, arguments: [now])
    }

    public func renewStepTask(id: Int64, token: String, lease: Double) async throws -> Bool {
        try await write { db in
            let now = try Self.now(db)
            try db.execute(sql: """
                UPDATE step_tasks SET lease_expires_at = ? WHERE id = ? AND owner_token = ? AND status = 'claimed' AND lease_expires_at > ?
                """, arguments: [now + lease, id, token, now])
            return db.changesCount == 1
        }
    }

    public func completeStepTask(id: Int64, token: String, outcome: JSONValue) async throws -> Bool {
        try await write { db in
            let now = try Self.now(db)
            try db.execute(sql: """
                UPDATE step_tasks SET status = 'done', outcome = ?, finished_at = ?, lease_expires_at = NULL, owner_token = NULL
                WHERE id = ? AND owner_token = ? AND status = 'claimed' AND lease_expires_at > ?
                """, arguments: [outcome.encoded(), now, id, token, now])
            return db.changesCount == 1
        }
    }

    @discardableResult
    public func releaseStepTask(id: Int64, token: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE step_tasks SET status = 'queued', owner = NULL, owner_token = NULL, lease_expires_at = NULL
                WHERE id = ? AND owner_token = ? AND status = 'claimed'
                """, arguments: [id, token])
            return db.changesCount == 1
        }
    }

    @discardableResult
    public func cancelStepTasks(runID: String) async throws -> Int {
        try await write { db in
            try db.execute(sql: """
                UPDATE step_tasks SET status = 'cancelled', owner_token = NULL, lease_expires_at = NULL, finished_at = \(Self.storeNow)
                WHERE run_id = ? AND status IN ('queued', 'claimed')
                """, arguments: [runID])
            return db.changesCount
        }
    }

    public func stepTasks(runID: String, ids: [Int64]?) async throws -> [StepTaskRecord] {
        try await read { db in
            var sql = "SELECT * FROM step_tasks WHERE run_id = ?"
            var arguments: StatementArguments = [runID]
            if let ids {
                if ids.isEmpty { return [] }
                sql += " AND id IN (\(Array(repeating: "?", count: ids.count).joined(separator: ", ")))"
                arguments += StatementArguments(ids)
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY id", arguments: arguments).map { row in
                let owner = (row["owner"] as String?).flatMap { try? JSONDecoder().decode(RunOwner.self, from: Data($0.utf8)) }
                return StepTaskRecord(id: row["id"], runID: row["run_id"], stepID: row["step_id"],
                                      payload: try JournalCells.json(row["payload"], "step_tasks.payload"),
                                      status: try JournalCells.enumeration(row["status"] as String, "step_tasks.status"), owner: owner,
                                      leaseExpiresAt: (row["lease_expires_at"] as Double?).map(JournalCells.date), claims: row["claims"],
                                      outcome: try (row["outcome"] as String?).map { try JournalCells.json($0, "step_tasks.outcome") },
                                      createdAt: JournalCells.date(row["created_at"]), finishedAt: (row["finished_at"] as Double?).map(JournalCells.date))
            }
        }
    }

    public func fenced(stepTask lease: StepTaskLease) -> any JournalStore {
        fencing(LeaseFence(runID: lease.runID, token: lease.owner.token, stepTask: lease.id))
    }
}
