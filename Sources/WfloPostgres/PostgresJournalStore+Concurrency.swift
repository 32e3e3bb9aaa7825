import Foundation
import PostgresNIO
import WfloCore

/// Concurrency slots (``ConcurrencyStore``, ``ConcurrencyRule``): `runs.concurrency_key`,
/// `concurrency_limit`, `concurrency_on_conflict` and `concurrency_slot` (true once the run took
/// a slot). A key's slots are counted and taken under a transaction-scoped advisory lock on the
/// workflow and key (``lockKey(_:workflow:key:wait:)``), the count in a statement of its own after
/// the lock, so it sees every slot committed before it: two transactions never both take a key's
/// last slot.
///
/// Lock order: the key's lock before any run row of that key. An enqueue (or a start) takes the
/// key's lock and then the rows of the runs it cancels; a claim, which locks its candidate row
/// first, only *tries* the key's lock and gives way when it is taken (like a full queue's row).
extension PostgresJournalStore {
    /// Takes the advisory lock on `workflow`'s `key`: waits for it, or with `wait: false` returns false when it is held.
    func lockKey(_ connection: PostgresConnection, workflow: String, key: String, wait: Bool) async throws -> Bool {
        let name = "wflo.concurrency:" + workflow + "\u{1f}" + key
        if wait {
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(name)))", logger: logger).collect()
            return true
        }
        return try await connection.query("SELECT pg_try_advisory_xact_lock(hashtext(\(name)))", logger: logger)
            .records { try $0.decode(Bool.self) }.first ?? false
    }

    /// The key's runs not final, oldest first (read after the key's lock).
    func occupants(_ connection: PostgresConnection, workflow: String, key: String) async throws -> [ConcurrencyOccupant] {
        try await connection.query("""
            SELECT id, status, concurrency_slot, cancel_requested_at IS NOT NULL FROM runs
            WHERE workflow_name = \(workflow) AND concurrency_key = \(key) AND status IN ('queued', 'running', 'waiting_approval')
            ORDER BY created_at, ord
            """, logger: logger).records { row in
            let (id, status, slot, cancelling) = try row.decode((String, String, Bool, Bool).self)
            let runStatus: RunStatus = try JournalCells.enumeration(status, "runs.status")
            return ConcurrencyOccupant(runID: id, status: runStatus, holdsSlot: ConcurrencyRule.holdsSlot(status: runStatus, slotTaken: slot),
                                       cancelRequested: cancelling)
        }
    }

    /// Holders of the key's slots now.
    func slotHolders(_ connection: PostgresConnection, workflow: String, key: String) async throws -> Int {
        try await connection.query("""
            SELECT COUNT(*)::bigint FROM runs
            WHERE workflow_name = \(workflow) AND concurrency_key = \(key) AND concurrency_slot
              AND status IN ('queued', 'running', 'waiting_approval')
            """, logger: logger).records { try $0.decode(Int.self) }.first ?? 0
    }

    /// Applies ``ConcurrencyRule/arrival(of:runID:workflow:occupants:)`` to `run` under its key's
    /// lock (taken here): requests the cancels of `cancel_running`; returns the skip reason when it is skipped.
    func arrive(_ connection: PostgresConnection, _ run: RunRecord, _ concurrency: RunConcurrency, at: Date) async throws -> String? {
        _ = try await lockKey(connection, workflow: run.workflowName, key: concurrency.key, wait: true)
        let occupants = try await occupants(connection, workflow: run.workflowName, key: concurrency.key)
        switch ConcurrencyRule.arrival(of: concurrency, runID: run.id, workflow: run.workflowName, occupants: occupants) {
        case .skipped(let reason):
            return reason
        case .admitted(let victims, let reason):
            for victim in victims {
                _ = try await requestCancel(connection, runID: victim, by: ConcurrencyRule.cancelBy, reason: reason, at: at)
            }
            return nil
        }
    }

    /// Ends a run that was just written, skipped (`skip`), in the same transaction.
    func endSkipped(_ connection: PostgresConnection, runID: String, reason: String, at: Date) async throws {
        try await connection.query("""
            UPDATE runs SET status = \(RunStatus.cancelled.rawValue), error = \(reason), updated_at = \(at.timeIntervalSince1970) WHERE id = \(runID)
            """, logger: logger)
        _ = try await EventRow.insert(connection, .runStatus(runID: runID, status: .cancelled, error: reason, at: at), logger: logger)
    }

    public func takeConcurrencySlot(runID: String, arriving: Bool, at: Date) async throws -> ConcurrencySlotOutcome {
        try await write { connection in
            // Unlocked first: a run without concurrency, final, or holding its slot needs no key lock.
            guard let first = try await connection.query("SELECT \(unescaped: RunRow.columns) FROM runs WHERE id = \(runID)", logger: self.logger)
                .records(RunRow.record).first else { throw self.runNotFound(runID) }
            guard let concurrency = first.concurrency else { return .taken }
            let flags = "SELECT status, error, concurrency_slot, cancel_requested_at IS NOT NULL FROM runs WHERE id = "
            var row = try await connection.query("\(unescaped: flags)\(runID)", logger: self.logger)
                .records({ try $0.decode((String, String?, Bool, Bool).self) }).first
            // A slot once taken is kept until the run is final, and a cancel request stays: neither needs the key's
            // lock (a fenced view has locked its run's row already; the key's lock comes before a run's row).
            if let (status, error, slot, cancelling) = row {
                let runStatus: RunStatus = try JournalCells.enumeration(status, "runs.status")
                if runStatus.isFinal && arriving { return .ended(runStatus, reason: error) }
                if !runStatus.isFinal && (slot || (cancelling && !arriving)) { return .taken }
            }
            _ = try await self.lockKey(connection, workflow: first.workflowName, key: concurrency.key, wait: true)
            row = try await connection.query("\(unescaped: flags)\(runID) FOR NO KEY UPDATE", logger: self.logger)
                .records({ try $0.decode((String, String?, Bool, Bool).self) }).first
            guard let (status, error, slot, cancelling) = row else { throw self.runNotFound(runID) }
            let runStatus: RunStatus = try JournalCells.enumeration(status, "runs.status")
            var slotTaken = slot
            if runStatus.isFinal {
                if arriving { return .ended(runStatus, reason: error) }
                // Resumed after it ended (`wflo retry`): it gave its slot up; it waits for one again.
                try await connection.query("""
                    UPDATE runs SET status = 'queued', concurrency_slot = false, updated_at = \(at.timeIntervalSince1970) WHERE id = \(runID)
                    """, logger: self.logger)
                _ = try await EventRow.insert(connection, .runStatus(runID: runID, status: .queued, error: nil, at: at), logger: self.logger)
                slotTaken = false
            }
            if slotTaken { return .taken }
            if arriving, let reason = try await self.arrive(connection, first, concurrency, at: at) {
                try await self.endSkipped(connection, runID: runID, reason: reason, at: at)
                return .ended(.cancelled, reason: reason)
            }
            let holders = try await self.occupants(connection, workflow: first.workflowName, key: concurrency.key).filter(\.holdsSlot)
            guard ConcurrencyRule.isClaimable(concurrency: concurrency, slotTaken: false, cancelRequested: cancelling, holders: holders.count) else {
                return .waiting(holders: holders.map(\.runID))
            }
            if ConcurrencyRule.takesSlot(concurrency: concurrency, cancelRequested: cancelling) {
                try await connection.query("UPDATE runs SET concurrency_slot = true WHERE id = \(runID)", logger: self.logger)
            }
            return .taken
        }
    }

    public func concurrencyOccupants(workflow: String, key: String) async throws -> [ConcurrencyOccupant] {
        try await read { connection in try await self.occupants(connection, workflow: workflow, key: key) }
    }
}
