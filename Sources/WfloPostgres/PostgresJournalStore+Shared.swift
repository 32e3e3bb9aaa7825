import Foundation
import PostgresNIO
import WfloCore

// Approvals, the response cache, circuits and run ownership: what every process using the
// journal shares. Each write is one transaction; the rules of `JournalRules.swift` decide.

// MARK: - Approvals (invariant 4)

extension PostgresJournalStore {
    public func requestApproval(_ request: ApprovalRecord, stepType: StepType, notify: [String]) async throws -> ApprovalRecord {
        try await write { connection in
            // The run's row first: two processes filing for one step are serialized, the second finds the first's.
            _ = try await self.lockedLedger(connection, runID: request.runID)
            if let existing = try await connection.query("""
                SELECT \(unescaped: ApprovalRow.columns) FROM approvals WHERE run_id = \(request.runID) AND step_id = \(request.stepID)
                """, logger: self.logger).records(ApprovalRow.record).first {
                return existing
            }
            let approvers = JSONValue.array(request.settings.approvers.map(JSONValue.string)).encoded()
            try await connection.query("""
                INSERT INTO approvals (id, run_id, step_id, status, message, details, worst_case_usd, approvers, timeout_seconds,
                                       on_timeout, requested_at, decided_by, decided_at, comment)
                VALUES (\(request.id), \(request.runID), \(request.stepID), \(request.status.rawValue), \(request.message),
                        \(request.details.encoded()), \(request.worstCase?.description), \(approvers), \(request.settings.timeout),
                        \(request.settings.onTimeout.rawValue), \(request.requestedAt.timeIntervalSince1970), \(request.decidedBy),
                        \(request.decidedAt?.timeIntervalSince1970), \(request.comment))
                """, logger: self.logger)
            try await connection.query("""
                INSERT INTO steps (run_id, step_id, type, status, started_at)
                VALUES (\(request.runID), \(request.stepID), \(stepType.rawValue), 'waiting_approval', \(request.requestedAt.timeIntervalSince1970))
                ON CONFLICT (run_id, step_id) DO UPDATE SET status = 'waiting_approval', error = NULL
                """, logger: self.logger)
            _ = try await EventRow.insert(connection, .approvalRequested(request), logger: self.logger)
            let hooks = try await connection.query("SELECT url FROM notify_hooks ORDER BY created_at, url", logger: self.logger)
                .records { try $0.decode(String.self) }
            for webhook in ApprovalNotification.webhooks(notify: notify, hooks: hooks) {
                try await connection.query("""
                    INSERT INTO approval_notifications (id, approval_id, run_id, webhook, created_at)
                    VALUES (\(ApprovalNotification.makeID()), \(request.id), \(request.runID), \(webhook), \(request.requestedAt.timeIntervalSince1970))
                    ON CONFLICT (approval_id, webhook) DO NOTHING
                    """, logger: self.logger)
            }
            return request
        }
    }

    /// Locks the request's run, then the request (`FOR UPDATE`): of two processes deciding at
    /// once the second reads the first's decision. The decision is announced with `pg_notify`
    /// in the same transaction.
    public func decideApproval(_ decision: ApprovalDecision) async throws -> ApprovalDecisionOutcome {
        try await write { connection in
            let missing = StoreError(.notFound, "no approval request \(decision.requestID) in \(self.journalLocation); list them with `wflo approvals`")
            guard let runID = try await connection.query("SELECT run_id FROM approvals WHERE id = \(decision.requestID)", logger: self.logger)
                .records({ try $0.decode(String.self) }).first else { throw missing }
            _ = try await self.lockedLedger(connection, runID: runID)
            guard let current = try await connection.query("""
                SELECT \(unescaped: ApprovalRow.columns) FROM approvals WHERE id = \(decision.requestID) FOR UPDATE
                """, logger: self.logger).records(ApprovalRow.record).first else { throw missing }
            switch current.deciding(decision) {
            case .unchanged(let request):
                return .alreadyDecided(request)
            case .decide(let request, let event, let outcome):
                try await connection.query("""
                    UPDATE approvals SET status = \(request.status.rawValue), decided_by = \(request.decidedBy),
                        decided_at = \(request.decidedAt?.timeIntervalSince1970), comment = \(request.comment)
                    WHERE id = \(request.id) AND status = 'pending'
                    """, logger: self.logger)
                _ = try await EventRow.insert(connection, event, logger: self.logger)
                try await PostgresNotifications.notify(connection, channel: self.notificationChannel, .approval(requestID: request.id),
                                                       logger: self.logger)
                return outcome
            }
        }
    }

    public func approval(id: String) async throws -> ApprovalRecord? {
        try await read { connection in
            try await connection.query("SELECT \(unescaped: ApprovalRow.columns) FROM approvals WHERE id = \(id)", logger: self.logger)
                .records(ApprovalRow.record).first
        }
    }

    public func approvals(runID: String?, status: ApprovalStatus?) async throws -> [ApprovalRecord] {
        try await read { connection in
            // NULL filters match everything: one statement for the four cases.
            try await connection.query("""
                SELECT \(unescaped: ApprovalRow.columns) FROM approvals
                WHERE (\(runID)::text IS NULL OR run_id = \(runID)) AND (\(status?.rawValue)::text IS NULL OR status = \(status?.rawValue))
                ORDER BY requested_at, ord
                """, logger: self.logger).records(ApprovalRow.record)
        }
    }

    public func approvalID(runID: String, stepID: String) async throws -> String? {
        try await read { connection in
            try await connection.query("SELECT id FROM approvals WHERE run_id = \(runID) AND step_id = \(stepID)", logger: self.logger)
                .records { try $0.decode(String.self) }.first
        }
    }
}

// MARK: - The response cache

extension PostgresJournalStore {
    public func cachedResponse(key: String, at: Date) async throws -> JSONValue? {
        try await read { connection in
            guard let (response, expires) = try await connection.query("SELECT response, expires_at FROM llm_cache WHERE key = \(key)",
                                                                         logger: self.logger)
                    .records({ try $0.decode((String, Double?).self) }).first,
                  CacheEntry.isLive(expiresAt: expires.map(JournalCells.date), at: at) else { return nil }
            return try JournalCells.json(response, "llm_cache.response")
        }
    }

    /// An expired entry under the key is deleted, then the insert keeps a live one (`ON CONFLICT
    /// DO NOTHING`: of concurrent fills one inserts, the others wait for it and insert nothing).
    @discardableResult
    public func storeResponse(_ entry: CacheEntry) async throws -> Bool {
        try await write { connection in
            try await connection.query("""
                DELETE FROM llm_cache WHERE key = \(entry.key) AND expires_at IS NOT NULL AND expires_at <= \(entry.createdAt.timeIntervalSince1970)
                """, logger: self.logger)
            let inserted = try await connection.query("""
                INSERT INTO llm_cache (key, namespace, model, response, created_at, expires_at)
                VALUES (\(entry.key), \(entry.namespace), \(entry.model), \(entry.response.encoded()), \(entry.createdAt.timeIntervalSince1970),
                        \(entry.expiresAt?.timeIntervalSince1970))
                ON CONFLICT (key) DO NOTHING RETURNING 1
                """, logger: self.logger).collect()
            return !inserted.isEmpty
        }
    }

    public func recordCacheHit(_ hit: CacheHitRecord) async throws {
        try await write { connection in
            _ = try await self.lockedLedger(connection, runID: hit.runID)
            try await connection.query("""
                INSERT INTO attempts (run_id, step_id, number, status, model, reserved_usd, cost_usd, usage, started_at, finished_at,
                                      cache_hit, saved_usd)
                VALUES (\(hit.runID), \(hit.stepID), \(hit.number), 'succeeded', \(hit.model), '0', '0', \(hit.usage.json.encoded()),
                        \(hit.at.timeIntervalSince1970), \(hit.at.timeIntervalSince1970), true, \(hit.saved.description))
                """, logger: self.logger)
            try await connection.query("""
                INSERT INTO steps (run_id, step_id, type, status, output, model, started_at, finished_at)
                VALUES (\(hit.runID), \(hit.stepID), \(hit.stepType.rawValue), 'completed', \(hit.output.encoded()), \(hit.model),
                        \(hit.at.timeIntervalSince1970), \(hit.at.timeIntervalSince1970))
                ON CONFLICT (run_id, step_id) DO UPDATE SET status = 'completed', output = excluded.output, error = NULL,
                    model = excluded.model, started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = excluded.finished_at
                """, logger: self.logger)
            try await connection.query("UPDATE llm_cache SET hits = hits + 1, last_hit_at = \(hit.at.timeIntervalSince1970) WHERE key = \(hit.key)",
                                       logger: self.logger)
            _ = try await EventRow.insert(connection, .cacheHit(hit), logger: self.logger)
        }
    }

    public func cacheStats(at: Date) async throws -> CacheStats {
        try await read { connection in
            let namespaces = try await connection.query("""
                SELECT namespace, COUNT(*)::bigint, COALESCE(SUM(octet_length(response)), 0)::bigint, COALESCE(SUM(hits), 0)::bigint
                FROM llm_cache GROUP BY namespace ORDER BY namespace COLLATE "C"
                """, logger: self.logger).records { row in
                let (name, entries, bytes, hits) = try row.decode((String, Int, Int, Int).self)
                return CacheStats.Namespace(name: name, entries: entries, bytes: bytes, hits: hits)
            }
            let expired = try await connection.query("""
                SELECT COUNT(*)::bigint FROM llm_cache WHERE expires_at IS NOT NULL AND expires_at <= \(at.timeIntervalSince1970)
                """, logger: self.logger).records { try $0.decode(Int.self) }.first ?? 0
            // Savings are exact decimals stored as text: summed with Money, never by the database.
            let saved = try await connection.query("SELECT saved_usd FROM attempts WHERE cache_hit AND saved_usd IS NOT NULL", logger: self.logger)
                .records { try $0.decode(String.self) }
            var savings = Money.zero
            for text in saved { savings += try JournalCells.money(text, "attempts.saved_usd") }
            return CacheStats(entries: namespaces.map(\.entries).reduce(0, +), bytes: namespaces.map(\.bytes).reduce(0, +),
                              expired: expired, hits: saved.count, savings: savings, namespaces: namespaces)
        }
    }

    public func clearCache(olderThan: Date?, namespace: String?, at: Date) async throws -> Int {
        try await statement { connection in
            let older = olderThan?.timeIntervalSince1970
            return try await connection.query("""
                DELETE FROM llm_cache
                WHERE ((\(older)::double precision IS NULL OR created_at < \(older)) AND (\(namespace)::text IS NULL OR namespace = \(namespace)))
                   OR (expires_at IS NOT NULL AND expires_at <= \(at.timeIntervalSince1970))
                RETURNING 1
                """, logger: self.logger).collect().count
        }
    }
}

// MARK: - Circuits

extension PostgresJournalStore {
    /// Each circuit's transaction holds a lock on its host (an advisory lock: the row may not
    /// exist yet), so two processes cannot both be let through as the half-open probe.
    public func admitCircuit(host: String, settings: CircuitBreakerSettings, at: Date) async throws -> CircuitAdmission {
        try await write { connection in
            guard let current = try await self.lockedCircuit(connection, host: host) else { return .allowed }
            let (next, admission) = current.admitting(at: at, settings: settings)
            if next != current { try await CircuitRow.save(connection, next, logger: self.logger) }
            return admission
        }
    }

    @discardableResult
    public func recordCircuitResult(host: String, failure: Bool, error: String?, settings: CircuitBreakerSettings,
                                    at: Date) async throws -> CircuitRecord {
        try await write { connection in
            let current = try await self.lockedCircuit(connection, host: host) ?? CircuitRecord(host: host, updatedAt: at)
            let next = current.recording(failure: failure, error: error, at: at, settings: settings)
            // A closed circuit with nothing to remember needs no row.
            if next.state == .closed, next.failures.isEmpty {
                try await connection.query("DELETE FROM circuits WHERE host = \(host)", logger: self.logger)
            } else {
                try await CircuitRow.save(connection, next, logger: self.logger)
            }
            return next
        }
    }

    public func circuits() async throws -> [CircuitRecord] {
        try await read { connection in
            try await connection.query("SELECT \(unescaped: CircuitRow.columns) FROM circuits ORDER BY host COLLATE \"C\"", logger: self.logger)
                .records(CircuitRow.record)
        }
    }

    public func resetCircuits(host: String?) async throws -> Int {
        try await statement { connection in
            try await connection.query("DELETE FROM circuits WHERE \(host)::text IS NULL OR host = \(host) RETURNING 1", logger: self.logger)
                .collect().count
        }
    }

    private func lockedCircuit(_ connection: PostgresConnection, host: String) async throws -> CircuitRecord? {
        try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("wflo.circuit." + host)))", logger: logger)
        return try await connection.query("SELECT \(unescaped: CircuitRow.columns) FROM circuits WHERE host = \(host)", logger: logger)
            .records(CircuitRow.record).first
    }
}

// MARK: - Run ownership

extension PostgresJournalStore {
    /// Reads the holder, asks ``RunClaim/deciding(holder:heartbeatAt:claimant:takeOver:)`` (and
    /// through it `takeOver`) outside any transaction, then writes the claim only if the row
    /// still holds what was read: a compare-and-set, so two processes claiming at once cannot
    /// both succeed. When the row changed in between, it reads again.
    public func claimRun(id: String, owner: RunOwner, at: Date, takeOver: (RunOwner, Date) -> Bool) async throws -> RunClaim {
        let encoded = String(decoding: try JSONEncoder().encode(owner), as: UTF8.self)
        while true {
            guard let (text, heartbeat) = try await read({ connection in
                try await connection.query("SELECT owner, heartbeat_at FROM runs WHERE id = \(id)", logger: self.logger)
                    .records { try $0.decode((String?, Double?).self) }.first
            }) else { throw runNotFound(id) }
            // An owner cell that does not parse holds nothing: the run is claimed.
            let holder = text.flatMap { try? JSONDecoder().decode(RunOwner.self, from: Data($0.utf8)) }
            let claim = RunClaim.deciding(holder: holder, heartbeatAt: heartbeat.map(JournalCells.date), claimant: owner, takeOver: takeOver)
            guard claim == .claimed else { return claim }
            let written = try await statement { connection in
                try await connection.query("""
                    UPDATE runs SET owner = \(encoded), owner_token = \(owner.token), heartbeat_at = \(at.timeIntervalSince1970), lease_expires_at = NULL
                    WHERE id = \(id) AND owner IS NOT DISTINCT FROM \(text) AND heartbeat_at IS NOT DISTINCT FROM \(heartbeat)
                    RETURNING 1
                    """, logger: self.logger).collect().count == 1
            }
            if written { return .claimed }
        }
    }

    public func heartbeatRun(id: String, token: String, at: Date) async throws {
        try await statement { connection in
            _ = try await connection.query("UPDATE runs SET heartbeat_at = \(at.timeIntervalSince1970) WHERE id = \(id) AND owner_token = \(token)",
                                       logger: self.logger)
        }
    }

    public func releaseRun(id: String, token: String) async throws {
        try await statement { connection in
            _ = try await connection.query("""
                UPDATE runs SET owner = NULL, owner_token = NULL, heartbeat_at = NULL, lease_expires_at = NULL WHERE id = \(id) AND owner_token = \(token)
                """, logger: self.logger)
        }
    }

    public func driver(runID: String) async throws -> RunDriver? {
        try await read { connection in
            guard let (text, heartbeat) = try await connection.query("SELECT owner, heartbeat_at FROM runs WHERE id = \(runID)", logger: self.logger)
                    .records({ try $0.decode((String?, Double?).self) }).first,
                  let text, let owner = try? JSONDecoder().decode(RunOwner.self, from: Data(text.utf8)) else { return nil }
            return RunDriver(owner: owner, heartbeatAt: JournalCells.date(heartbeat ?? 0))
        }
    }
}

// MARK: - The read model across runs

extension PostgresJournalStore {
    public func activity(since: Date, until: Date?, workflow: String?) async throws -> RunsActivity {
        try await read { connection in
            let from = since.timeIntervalSince1970
            let to = until?.timeIntervalSince1970
            let filter = """
                r.created_at >= $1 AND ($2::double precision IS NULL OR r.created_at < $2) AND ($3::text IS NULL OR r.workflow_name = $3)
                """
            func query(_ sql: String) -> PostgresQuery {
                var binds = PostgresBindings()
                binds.append(from)
                binds.append(to)
                binds.append(workflow)
                return PostgresQuery(unsafeSQL: sql, binds: binds)
            }
            let runs = try await connection.query(query("""
                SELECT \(RunRow.columns.split(separator: ",").map { "r." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", "))
                FROM runs r WHERE \(filter) ORDER BY r.created_at, r.ord
                """), logger: self.logger).records(RunRow.record)
            let attempts = try await connection.query(query("""
                SELECT \(AttemptRow.columns.split(separator: ",").map { "a." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", "))
                FROM attempts a JOIN runs r ON r.id = a.run_id WHERE \(filter) ORDER BY a.id
                """), logger: self.logger).records { try AttemptRow.record($0, details: false) }
            var agentSteps: [String: Set<String>] = [:]
            for (runID, stepID) in try await connection.query(query("""
                SELECT s.run_id, s.step_id FROM steps s JOIN runs r ON r.id = s.run_id WHERE s.type = 'agent' AND \(filter)
                """), logger: self.logger).records({ try $0.decode((String, String).self) }) {
                agentSteps[runID, default: []].insert(stepID)
            }
            return RunsActivity(runs: runs, attempts: attempts, agentSteps: agentSteps)
        }
    }
}
