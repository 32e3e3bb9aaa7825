import Foundation
import PostgresNIO
import WfloCore

/// Queued runs and workers' leases (``RunQueueStore``): `runs.queue`, `priority`,
/// `idempotency_key`, `lease_expires_at` (beside `owner` and `heartbeat_at`), and the `queues` table.
///
/// Every lease time is the database's clock (`clock_timestamp()`, ``storeNow``), read in the
/// statement or transaction that uses it, never a worker's. A claim takes its run with
/// `SELECT … FOR UPDATE SKIP LOCKED` (claimers never wait for each other's candidates), in the
/// order of ``QueueClaimRule/precedes(_:_:)``; a queue with a concurrency is counted under a lock
/// on its `queues` row taken with `NOWAIT` (a claimer that finds it taken tries again shortly), so
/// two claimers never both fill its last slot. A workflow's concurrency key is counted the same way,
/// under its advisory lock (PostgresJournalStore+Concurrency.swift).
extension PostgresJournalStore {
    /// The database's clock in seconds since 1970 (`date_part` is double precision; `extract` is numeric).
    static let storeNow = "date_part('epoch', clock_timestamp())"

    /// Throws `fence`'s ``LeaseFence/lostError`` unless its token still holds a live lease on its
    /// run: the first statement of every write transaction of a fenced view. It locks the run's
    /// row, so the lease cannot be taken over before this transaction commits.
    func check(_ fence: LeaseFence, _ connection: PostgresConnection) async throws {
        if let task = fence.stepTask { return try await checkStepTask(fence, task: task, connection) }
        let held = try await connection.prepared(Hot.Fence.self, """
            SELECT 1 FROM runs WHERE id = \(fence.runID) AND owner_token = \(fence.token) AND lease_expires_at > \(unescaped: Self.storeNow)
            FOR NO KEY UPDATE
            """, logger: logger)
        if held.isEmpty { throw fence.lostError }
    }

    public func enqueueRun(_ request: EnqueueRequest) async throws -> EnqueueOutcome {
        if let problem = QueueSettings.problem(name: request.queue) { throw StoreError(.conflict, problem) }
        return try await write { connection in
            if let key = request.idempotencyKey, let existing = try await self.run(connection, idempotencyKey: key) {
                return .existing(existing)
            }
            var run = request.run
            run.status = .queued
            run.queue = request.queue
            let exists = try await connection.query("SELECT 1 FROM runs WHERE id = \(run.id)", logger: self.logger).collect()
            guard exists.isEmpty else { throw StoreError(.conflict, "a run with id \(run.id) is already in \(self.journalLocation)") }
            // A concurrent enqueue with the same key: this insert waits for it, then inserts nothing.
            let inserted = try await connection.query("""
                INSERT INTO runs (id, workflow_name, workflow_path, workflow_source, inputs, budget_usd, status, outputs, error, created_at,
                                  updated_at, queue, priority, idempotency_key, tags, "trigger", trigger_key, trigger_at,
                                  concurrency_key, concurrency_limit, concurrency_on_conflict)
                VALUES (\(run.id), \(run.workflowName), \(run.workflowPath), \(run.workflowSource), \(run.inputs.encoded()),
                        \(run.budget?.description), \(run.status.rawValue), \(run.outputs?.encoded()), \(run.error),
                        \(run.createdAt.timeIntervalSince1970), \(run.updatedAt.timeIntervalSince1970), \(request.queue), \(request.priority),
                        \(request.idempotencyKey), \(JournalCells.tagsCell(run.tags)), \(JournalCells.triggerCell(run.trigger)),
                        \(run.trigger?.kind == .schedule ? run.trigger?.key : nil), \(run.trigger?.at.timeIntervalSince1970),
                        \(run.concurrency?.key), \(run.concurrency?.limit), \(run.concurrency?.onConflict.rawValue))
                ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING 1
                """, logger: self.logger).collect()
            if inserted.isEmpty, let key = request.idempotencyKey, let existing = try await self.run(connection, idempotencyKey: key) {
                return .existing(existing)
            }
            // Written: now its concurrency key is applied (under the key's lock): `skip` ends it, `cancel_running` asks the oldest to go.
            var skipped: String?
            if let concurrency = run.concurrency { skipped = try await self.arrive(connection, run, concurrency, at: run.createdAt) }
            for event in request.events { _ = try await EventRow.insert(connection, event, logger: self.logger) }
            _ = try await EventRow.insert(connection, .runQueued(runID: run.id, queue: request.queue, priority: request.priority,
                                                                 at: run.createdAt), logger: self.logger)
            if let skipped {
                try await self.endSkipped(connection, runID: run.id, reason: skipped, at: run.createdAt)
                run.status = .cancelled
                run.error = skipped
            }
            // Idle workers wake when this commits, instead of at their next look.
            try await PostgresNotifications.notify(connection, channel: self.notificationChannel, .work, logger: self.logger)
            return .enqueued(run)
        }
    }

    private func run(_ connection: PostgresConnection, idempotencyKey key: String) async throws -> RunRecord? {
        try await connection.query("SELECT \(unescaped: RunRow.columns) FROM runs WHERE idempotency_key = \(key)", logger: logger)
            .records(RunRow.record).first
    }

    /// One transaction: the limited queues among `queues` are locked in name order (`NOWAIT`)
    /// and those full of live leases left out; then the first claimable run
    /// (``QueueClaimRule/isClaimable(status:hasOwner:leaseExpiresAt:heartbeatAt:pendingApprovals:now:)``, stated
    /// in SQL) is locked with `SKIP LOCKED`. A run that needs a concurrency slot
    /// (``ConcurrencyRule/isClaimable(concurrency:slotTaken:cancelRequested:holders:)``) is taken only
    /// under its key's lock (tried, never waited for) with fewer holders than its limit; a full key is
    /// left out and the next run looked at. The run is given to `owner` until the database's now + `lease`.
    public func claimQueuedRun(queues: [String], owner: RunOwner, lease: Double) async throws -> QueueLease? {
        let encoded = String(decoding: try JSONEncoder().encode(owner), as: UTF8.self)
        switch try await claimInOneStatement(queues: queues, owner: owner, encoded: encoded, lease: lease) {
        case .claimed(let claimed): return claimed
        case .nothing: return nil
        case .needsTransaction: break
        }
        var tries = 0
        while true {
            do {
                return try await write { connection -> QueueLease? in
                    let named = queues.isEmpty ? nil : queues
                    let limited = try await connection.prepared(Hot.LimitedQueues.self, """
                        SELECT name, concurrency FROM queues WHERE concurrency IS NOT NULL AND (\(named)::text[] IS NULL OR name = ANY(\(named)))
                        ORDER BY name COLLATE "C" FOR UPDATE NOWAIT
                        """, logger: self.logger).map { try $0.decode((String, Int).self) }
                    var full: [String] = []
                    if !limited.isEmpty {
                        // Counted after the locks, in a statement of its own: it sees every lease committed before them.
                        let live = Dictionary(uniqueKeysWithValues: try await connection.query("""
                            SELECT queue, COUNT(*)::bigint FROM runs
                            WHERE queue = ANY(\(limited.map(\.0))) AND lease_expires_at > \(unescaped: Self.storeNow) GROUP BY queue
                            """, logger: self.logger).records { try $0.decode((String, Int).self) })
                        full = limited.filter { live[$0.0, default: 0] >= $0.1 }.map(\.0)
                    }
                    // Concurrency keys found full in this claim ("workflow\u{1f}key"): their runs waiting for a slot are passed over.
                    var fullKeys: [String] = []
                    while true {
                        guard let (id, workflow, key, limit, slot, cancelling) = try await connection.prepared(Hot.ClaimCandidate.self, """
                            WITH now AS (SELECT \(unescaped: Self.storeNow) AS t)
                            SELECT r.id, r.workflow_name, r.concurrency_key, r.concurrency_limit, r.concurrency_slot, r.cancel_requested_at IS NOT NULL
                            FROM runs r, now
                            WHERE r.queue IS NOT NULL AND r.status IN ('queued', 'running', 'waiting_approval')
                              AND (\(named)::text[] IS NULL OR r.queue = ANY(\(named))) AND NOT (r.queue = ANY(\(full)))
                              AND (r.owner IS NULL OR (r.lease_expires_at IS NOT NULL AND r.lease_expires_at <= now.t)
                                   OR (r.lease_expires_at IS NULL AND COALESCE(r.heartbeat_at, 0) < now.t - \(RunDriver.staleAfter)))
                              AND (r.status <> 'waiting_approval'
                                   OR NOT EXISTS (SELECT 1 FROM approvals a WHERE a.run_id = r.id AND a.status = 'pending'))
                              AND NOT (r.concurrency_limit IS NOT NULL AND NOT r.concurrency_slot AND r.cancel_requested_at IS NULL
                                       AND r.workflow_name || chr(31) || r.concurrency_key = ANY(\(fullKeys)))
                            ORDER BY r.priority DESC, r.created_at, r.ord
                            LIMIT 1
                            FOR UPDATE OF r SKIP LOCKED
                            """, logger: self.logger).map({ try $0.decode((String, String, String?, Int?, Bool, Bool).self) }).first else { return nil }
                        var takesSlot = false
                        if let key, let limit {
                            let concurrency = RunConcurrency(key: key, limit: limit, onConflict: .queue)
                            if !slot && !cancelling {
                                // Tried, not waited for: this transaction holds a run's row, and the key's lock comes first.
                                guard try await self.lockKey(connection, workflow: workflow, key: key, wait: false) else {
                                    throw KeyBusy()
                                }
                                let holders = try await self.slotHolders(connection, workflow: workflow, key: key)
                                guard ConcurrencyRule.isClaimable(concurrency: concurrency, slotTaken: slot, cancelRequested: cancelling,
                                                                  holders: holders) else {
                                    fullKeys.append(workflow + "\u{1f}" + key)
                                    continue
                                }
                            }
                            takesSlot = ConcurrencyRule.takesSlot(concurrency: concurrency, cancelRequested: cancelling)
                        }
                        // The claim, timed by the database's clock as it runs.
                        guard let (queue, status, expires, budget, settled, reserved, stopReason) = try await connection.prepared(Hot.Claim.self, """
                            WITH now AS (SELECT \(unescaped: Self.storeNow) AS t)
                            UPDATE runs SET owner = \(encoded), owner_token = \(owner.token), heartbeat_at = now.t, lease_expires_at = now.t + \(lease),
                                            concurrency_slot = concurrency_slot OR \(takesSlot)
                            FROM now WHERE runs.id = \(id)
                            RETURNING runs.queue, runs.status, runs.lease_expires_at, runs.budget_usd, runs.settled_usd, runs.reserved_usd, runs.stop_reason
                            """, logger: self.logger).map({ try $0.decode((String, String, Double, String?, String, String, String?).self) }).first
                        else { return nil }
                        try self.rememberLedger(runID: id, budget: budget, settled: settled, reserved: reserved, stopReason: stopReason)
                        return QueueLease(runID: id, queue: queue, owner: owner, status: try JournalCells.enumeration(status, "runs.status"),
                                          expiresAt: JournalCells.date(expires))
                    }
                }
            } catch let error as StoreError where (error.underlying.flatMap(PostgresErrors.sqlState) == "55P03" || error.underlying is KeyBusy)
                        && tries < 200 {
                // Another claimer holds a limited queue's row or a concurrency key's lock: its claim is a few round trips,
                // try again (after up to 20 ms, at random, so claimers do not retry in step).
                tries += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...min(20, 1 << min(tries, 5)))))
            }
        }
    }

    /// A concurrency key's lock was held by another transaction when a claim tried it.
    struct KeyBusy: Error {}

    private enum OneStatementClaim {
        case claimed(QueueLease)
        case nothing
        /// A limited queue is among those asked for, or the first candidate has a concurrency key.
        case needsTransaction
    }

    /// The claim as one statement (its own transaction), when none of `queues` has a concurrency
    /// limit and the first candidate has no concurrency key: the same candidate, in the same order,
    /// skipped when locked, as the transaction picks, claimed by the same statement. Otherwise it
    /// changes nothing and says so, and the claim takes the transaction (five round trips, of the
    /// 28 statements a queued three-call run made, for what most claims need one for).
    private func claimInOneStatement(queues: [String], owner: RunOwner, encoded: String, lease: Double) async throws -> OneStatementClaim {
        let named = queues.isEmpty ? nil : queues
        let row = try await statement(checksFence: true) { connection in
            try await connection.prepared(Hot.ClaimAtOnce.self, """
                WITH now AS (SELECT \(unescaped: Self.storeNow) AS t),
                limited AS (
                    SELECT EXISTS (SELECT 1 FROM queues WHERE concurrency IS NOT NULL AND (\(named)::text[] IS NULL OR name = ANY(\(named)))) AS any
                ), candidate AS (
                    SELECT r.id, r.concurrency_key IS NULL OR r.concurrency_limit IS NULL AS keyless
                    FROM runs r, now, limited
                    WHERE NOT limited.any AND r.queue IS NOT NULL AND r.status IN ('queued', 'running', 'waiting_approval')
                      AND (\(named)::text[] IS NULL OR r.queue = ANY(\(named)))
                      AND (r.owner IS NULL OR (r.lease_expires_at IS NOT NULL AND r.lease_expires_at <= now.t)
                           OR (r.lease_expires_at IS NULL AND COALESCE(r.heartbeat_at, 0) < now.t - \(RunDriver.staleAfter)))
                      AND (r.status <> 'waiting_approval'
                           OR NOT EXISTS (SELECT 1 FROM approvals a WHERE a.run_id = r.id AND a.status = 'pending'))
                    ORDER BY r.priority DESC, r.created_at, r.ord
                    LIMIT 1
                    FOR UPDATE OF r SKIP LOCKED
                ), claimed AS (
                    UPDATE runs SET owner = \(encoded), owner_token = \(owner.token), heartbeat_at = now.t, lease_expires_at = now.t + \(lease)
                    FROM now, candidate WHERE runs.id = candidate.id AND candidate.keyless
                    RETURNING runs.id, runs.queue, runs.status, runs.lease_expires_at, runs.budget_usd, runs.settled_usd, runs.reserved_usd,
                              runs.stop_reason
                )
                SELECT limited.any, candidate.id IS NOT NULL, claimed.id, claimed.queue, claimed.status, claimed.lease_expires_at,
                       claimed.budget_usd, claimed.settled_usd, claimed.reserved_usd, claimed.stop_reason
                FROM limited LEFT JOIN candidate ON true LEFT JOIN claimed ON true
                """, logger: self.logger).map {
                    try $0.decode((Bool, Bool, String?, String?, String?, Double?, String?, String?, String?, String?).self)
                }.first
        }
        guard let (limited, found, id, queue, status, expires, budget, settled, reserved, stopReason) = row, !limited else { return .needsTransaction }
        guard found else { return .nothing }
        guard let id, let queue, let status, let expires, let settled, let reserved else { return .needsTransaction }
        try rememberLedger(runID: id, budget: budget, settled: settled, reserved: reserved, stopReason: stopReason)
        return .claimed(QueueLease(runID: id, queue: queue, owner: owner, status: try JournalCells.enumeration(status, "runs.status"),
                                   expiresAt: JournalCells.date(expires)))
    }

    /// The ledger cells a claim read: the new owner's first paid call can then reserve in one statement (``LedgerMemo``).
    private func rememberLedger(runID: String, budget: String?, settled: String, reserved: String, stopReason: String?) throws {
        resources.ledgers.remember(runID, try LedgerMemo.Cells(budget: budget, settled: settled, reserved: reserved, stopReason: stopReason))
    }

    public func renewLease(runID: String, token: String, lease: Double) async throws -> Bool {
        try await statement { connection in
            try await connection.prepared(Hot.Renew.self, """
                WITH now AS (SELECT \(unescaped: Self.storeNow) AS t)
                UPDATE runs SET lease_expires_at = now.t + \(lease), heartbeat_at = now.t FROM now
                WHERE id = \(runID) AND owner_token = \(token) AND lease_expires_at > now.t
                RETURNING 1
                """, logger: self.logger).count == 1
        }
    }

    @discardableResult
    public func releaseLease(runID: String, token: String) async throws -> Bool {
        try await statement { connection in
            // Given back: idle workers are told in the same statement.
            try await connection.prepared(Hot.Release.self, """
                WITH released AS (
                    UPDATE runs SET owner = NULL, owner_token = NULL, heartbeat_at = NULL, lease_expires_at = NULL
                    WHERE id = \(runID) AND owner_token = \(token)
                    RETURNING 1
                )
                SELECT pg_notify(\(self.notificationChannel), \(PostgresNotifications.Subject.work.payload)) FROM released
                """, logger: self.logger).count == 1
        }
    }

    public func setQueue(_ settings: QueueSettings) async throws {
        if let problem = QueueSettings.problem(name: settings.name) { throw StoreError(.conflict, problem) }
        try await statement { connection in
            _ = try await connection.query("""
                INSERT INTO queues (name, concurrency) VALUES (\(settings.name), \(settings.concurrency))
                ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency
                """, logger: self.logger)
        }
    }

    public func queues() async throws -> [QueueSummary] {
        try await read { connection in
            var summaries: [String: QueueSummary] = [:]
            for (name, concurrency) in try await connection.query("SELECT name, concurrency FROM queues", logger: self.logger)
                .records({ try $0.decode((String, Int?).self) }) {
                summaries[name] = QueueSummary(name: name, concurrency: concurrency, queued: 0, running: 0)
            }
            for (name, queued, running) in try await connection.query("""
                WITH now AS (SELECT \(unescaped: Self.storeNow) AS t)
                SELECT queue,
                       COUNT(*) FILTER (WHERE status = 'queued' AND NOT COALESCE(lease_expires_at > now.t, false))::bigint,
                       COUNT(*) FILTER (WHERE COALESCE(lease_expires_at > now.t, false))::bigint
                FROM runs, now WHERE queue IS NOT NULL AND status IN ('queued', 'running', 'waiting_approval') GROUP BY queue
                """, logger: self.logger).records({ try $0.decode((String, Int, Int).self) }) {
                var summary = summaries[name] ?? QueueSummary(name: name, concurrency: nil, queued: 0, running: 0)
                summary.queued = queued
                summary.running = running
                summaries[name] = summary
            }
            return summaries.keys.sorted().map { summaries[$0]! }
        }
    }

    public func fenced(runID: String, token: String) -> any JournalStore {
        fencing(LeaseFence(runID: runID, token: token))
    }
}
