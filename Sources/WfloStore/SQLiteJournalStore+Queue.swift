import Foundation
import GRDB
import WfloCore

/// Queued runs and workers' leases (``RunQueueStore``): `runs.queue`, `priority`,
/// `idempotency_key`, `lease_expires_at` (beside `owner` and `heartbeat_at`), and the `queues` table.
///
/// Every lease time is read from SQLite's clock (``storeNow``) inside the transaction that uses
/// it, never from the worker's. Claims run in `BEGIN IMMEDIATE`, so the choice and the write cannot
/// interleave with another claimer's in this or another process.
extension SQLiteJournalStore {
    /// SQLite's clock in seconds since 1970, with milliseconds (`unixepoch('subsec')` needs SQLite 3.42).
    static let storeNow = "((julianday('now') - 2440587.5) * 86400.0)"

    static func now(_ db: Database) throws -> Double {
        try Double.fetchOne(db, sql: "SELECT \(storeNow)") ?? 0
    }

    /// Throws `fence`'s ``LeaseFence/lostError`` unless its token still holds a live lease on its
    /// run: the first statement of every write transaction of a fenced view.
    static func checkFence(_ fence: LeaseFence, _ db: Database) throws {
        if let task = fence.stepTask { return try checkStepTaskFence(fence, task: task, db) }
        let held = try Bool.fetchOne(db.cachedStatement(sql: """
            SELECT json_extract(owner, '$.token') = ? AND lease_expires_at > \(storeNow) FROM runs WHERE id = ?
            """), arguments: [fence.token, fence.runID])
        if held != true { throw fence.lostError }
    }

    public func enqueueRun(_ request: EnqueueRequest) async throws -> EnqueueOutcome {
        if let problem = QueueSettings.problem(name: request.queue) { throw StoreError(.conflict, problem) }
        return try await write { db in
            if let key = request.idempotencyKey,
               let existing = try RunRow.fetchOne(db, sql: "\(RunRow.selectAll) WHERE idempotency_key = ?", arguments: [key]) {
                return .existing(try existing.record())
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [request.run.id]) == true {
                throw StoreError(.conflict, "a run with id \(request.run.id) is already in the journal at \(path)")
            }
            var run = request.run
            run.status = .queued
            run.queue = request.queue
            // A full concurrency key: `skip` writes the run ended, `cancel_running` asks its oldest runs to cancel.
            let skipped = try run.concurrency.flatMap { try Self.arrive(db, run, $0, at: run.createdAt) }
            if let skipped {
                run.status = .cancelled
                run.error = skipped
            }
            try RunRow.insert(db, run)
            try db.execute(sql: "UPDATE runs SET queue = ?, priority = ?, idempotency_key = ? WHERE id = ?",
                           arguments: [request.queue, request.priority, request.idempotencyKey, run.id])
            try Self.writeTrigger(db, run)
            try Self.writeConcurrency(db, run)
            for event in request.events { try EventRow.insert(db, event) }
            try EventRow.insert(db, .runQueued(runID: run.id, queue: request.queue, priority: request.priority, at: run.createdAt))
            if let skipped { try EventRow.insert(db, .runStatus(runID: run.id, status: .cancelled, error: skipped, at: run.createdAt)) }
            return .enqueued(run)
        }
    }

    /// One statement states ``QueueClaimRule/isClaimable(status:hasOwner:leaseExpiresAt:heartbeatAt:pendingApprovals:now:)``,
    /// the queue's room, the concurrency key's room (``ConcurrencyRule/isClaimable(concurrency:slotTaken:cancelRequested:holders:)``) and ``QueueClaimRule/precedes(_:_:)``; the update follows in the same transaction.
    /// An idle worker looks in a read snapshot first and takes the write lock only when there is
    /// something to claim, so polling workers do not queue behind the runs' writes.
    public func claimQueuedRun(queues: [String], owner: RunOwner, lease: Double) async throws -> QueueLease? {
        let encoded = String(decoding: try JSONEncoder().encode(owner), as: UTF8.self)
        guard try await read({ db in try Self.firstClaimable(db, queues: queues, now: try Self.now(db)) != nil }) else { return nil }
        return try await write { db -> QueueLease? in
            let now = try Self.now(db)
            guard let row = try Self.firstClaimable(db, queues: queues, now: now) else { return nil }
            let id: String = row["id"]
            let expires = now + lease
            // The claim takes the run's concurrency slot (``ConcurrencyRule/takesSlot(concurrency:cancelRequested:)``).
            try db.execute(sql: """
                UPDATE runs SET owner = ?, heartbeat_at = ?, lease_expires_at = ?,
                    concurrency_slot = CASE WHEN concurrency_limit IS NOT NULL AND cancel_requested_at IS NULL THEN 1 ELSE concurrency_slot END
                WHERE id = ?
                """, arguments: [encoded, now, expires, id])
            return QueueLease(runID: id, queue: row["queue"], owner: owner,
                              status: try JournalCells.enumeration(row["status"] as String, "runs.status"),
                              expiresAt: Date(timeIntervalSince1970: expires))
        }
    }

    /// The run a claim at `now` takes (its id, queue and status), or nil.
    private static func firstClaimable(_ db: Database, queues: [String], now: Double) throws -> Row? {
        let marks = Array(repeating: "?", count: queues.count).joined(separator: ", ")
        let filter = queues.isEmpty ? "" : "AND r.queue IN (\(marks))"
        return try Row.fetchOne(db, sql: """
            SELECT r.id, r.queue, r.status FROM runs r LEFT JOIN queues q ON q.name = r.queue
            WHERE r.queue IS NOT NULL AND r.status IN ('queued', 'running', 'waiting_approval') \(filter)
              AND (r.owner IS NULL OR (r.lease_expires_at IS NOT NULL AND r.lease_expires_at <= ?)
                   OR (r.lease_expires_at IS NULL AND COALESCE(r.heartbeat_at, 0) < ? - \(RunDriver.staleAfter)))
              AND (r.status <> 'waiting_approval'
                   OR NOT EXISTS (SELECT 1 FROM approvals a WHERE a.run_id = r.id AND a.status = 'pending'))
              AND (q.concurrency IS NULL
                   OR (SELECT COUNT(*) FROM runs x WHERE x.queue = r.queue AND x.lease_expires_at > ?) < q.concurrency)
              AND (r.concurrency_limit IS NULL OR r.concurrency_slot = 1 OR r.cancel_requested_at IS NOT NULL
                   OR (SELECT COUNT(*) FROM runs x WHERE x.workflow_name = r.workflow_name AND x.concurrency_key = r.concurrency_key
                         AND x.status IN ('queued', 'running', 'waiting_approval') AND x.concurrency_slot = 1) < r.concurrency_limit)
            ORDER BY r.priority DESC, r.created_at, r.rowid LIMIT 1
            """, arguments: StatementArguments(queues) + [now, now, now])
    }

    public func renewLease(runID: String, token: String, lease: Double) async throws -> Bool {
        try await write { db in
            let now = try Self.now(db)
            try db.execute(sql: """
                UPDATE runs SET lease_expires_at = ?, heartbeat_at = ?
                WHERE id = ? AND json_extract(owner, '$.token') = ? AND lease_expires_at > ?
                """, arguments: [now + lease, now, runID, token, now])
            return db.changesCount == 1
        }
    }

    @discardableResult
    public func releaseLease(runID: String, token: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE runs SET owner = NULL, heartbeat_at = NULL, lease_expires_at = NULL
                WHERE id = ? AND json_extract(owner, '$.token') = ?
                """, arguments: [runID, token])
            return db.changesCount == 1
        }
    }

    public func setQueue(_ settings: QueueSettings) async throws {
        if let problem = QueueSettings.problem(name: settings.name) { throw StoreError(.conflict, problem) }
        try await write { db in
            try db.execute(sql: "INSERT INTO queues (name, concurrency) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency",
                           arguments: [settings.name, settings.concurrency])
        }
    }

    public func queues() async throws -> [QueueSummary] {
        try await read { db in
            let now = try Self.now(db)
            var summaries: [String: QueueSummary] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, concurrency FROM queues") {
                let name: String = row["name"]
                summaries[name] = QueueSummary(name: name, concurrency: row["concurrency"], queued: 0, running: 0)
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT queue,
                       SUM(status = 'queued' AND NOT COALESCE(lease_expires_at > ?, 0)) AS queued,
                       SUM(COALESCE(lease_expires_at > ?, 0)) AS running
                FROM runs WHERE queue IS NOT NULL AND status IN ('queued', 'running', 'waiting_approval') GROUP BY queue
                """, arguments: [now, now]) {
                let name: String = row["queue"]
                var summary = summaries[name] ?? QueueSummary(name: name, concurrency: nil, queued: 0, running: 0)
                summary.queued = row["queued"]
                summary.running = row["running"]
                summaries[name] = summary
            }
            return summaries.keys.sorted().map { summaries[$0]! }
        }
    }

    public func fenced(runID: String, token: String) -> any JournalStore {
        fencing(LeaseFence(runID: runID, token: token))
    }
}
