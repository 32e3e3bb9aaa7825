import Foundation
import GRDB
import WfloCore

/// Concurrency slots (``ConcurrencyStore``, ``ConcurrencyRule``): `runs.concurrency_key`,
/// `concurrency_limit`, `concurrency_on_conflict` and `concurrency_slot` (1 once the run took a
/// slot). Every decision runs in a `BEGIN IMMEDIATE` transaction, so counting a key's slots and
/// taking one cannot interleave with another writer in this or another process.
extension SQLiteJournalStore {
    /// Writes the run's concurrency columns (after its insert, in the same transaction).
    static func writeConcurrency(_ db: Database, _ run: RunRecord) throws {
        guard let concurrency = run.concurrency else { return }
        try db.execute(sql: "UPDATE runs SET concurrency_key = ?, concurrency_limit = ?, concurrency_on_conflict = ? WHERE id = ?",
                       arguments: [concurrency.key, concurrency.limit, concurrency.onConflict.rawValue, run.id])
    }

    /// The key's runs not final, oldest first.
    static func occupants(_ db: Database, workflow: String, key: String) throws -> [ConcurrencyOccupant] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT id, status, concurrency_slot, cancel_requested_at IS NOT NULL AS cancelling FROM runs
            WHERE workflow_name = ? AND concurrency_key = ? AND status IN ('queued', 'running', 'waiting_approval')
            ORDER BY created_at, rowid
            """), arguments: [workflow, key]).map { row in
            let status: RunStatus = try JournalCells.enumeration(row["status"] as String, "runs.status")
            return ConcurrencyOccupant(runID: row["id"], status: status,
                                       holdsSlot: ConcurrencyRule.holdsSlot(status: status, slotTaken: (row["concurrency_slot"] as Int) == 1),
                                       cancelRequested: row["cancelling"])
        }
    }

    /// Applies ``ConcurrencyRule/arrival(of:runID:workflow:occupants:)`` to `run` (not yet
    /// inserted, or inserted without a slot): requests the cancels of `cancel_running` and returns
    /// the skip reason when the run is skipped.
    static func arrive(_ db: Database, _ run: RunRecord, _ concurrency: RunConcurrency, at: Date) throws -> String? {
        let occupants = try occupants(db, workflow: run.workflowName, key: concurrency.key)
        switch ConcurrencyRule.arrival(of: concurrency, runID: run.id, workflow: run.workflowName, occupants: occupants) {
        case .skipped(let reason):
            return reason
        case .admitted(let victims, let reason):
            for victim in victims {
                _ = try requestCancel(db, runID: victim, by: ConcurrencyRule.cancelBy, reason: reason, at: at)
            }
            return nil
        }
    }

    public func takeConcurrencySlot(runID: String, arriving: Bool, at: Date) async throws -> ConcurrencySlotOutcome {
        try await write { db in
            guard let row = try RunRow.fetchOne(db, sql: "\(RunRow.selectAll) WHERE id = ?", arguments: [runID]) else {
                throw StoreError(.notFound, "run \(runID) is not in the journal at \(self.path)")
            }
            let run = try row.record()
            guard let concurrency = run.concurrency else { return .taken }
            if run.status.isFinal {
                if arriving { return .ended(run.status, reason: run.error) }
                // Resumed after it ended (`wflo retry`): it gave its slot up; it waits for one again.
                try db.execute(sql: "UPDATE runs SET status = 'queued', concurrency_slot = 0, updated_at = ? WHERE id = ?",
                               arguments: [at.timeIntervalSince1970, runID])
                try EventRow.insert(db, .runStatus(runID: runID, status: .queued, error: nil, at: at))
            }
            let cells = try Row.fetchOne(db, sql: "SELECT concurrency_slot, cancel_requested_at IS NOT NULL AS cancelling FROM runs WHERE id = ?",
                                         arguments: [runID])!
            let slotTaken = (cells["concurrency_slot"] as Int) == 1
            if slotTaken { return .taken }
            if arriving, let reason = try Self.arrive(db, run, concurrency, at: at) {
                try db.execute(sql: "UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                               arguments: [RunStatus.cancelled.rawValue, reason, at.timeIntervalSince1970, runID])
                try EventRow.insert(db, .runStatus(runID: runID, status: .cancelled, error: reason, at: at))
                return .ended(.cancelled, reason: reason)
            }
            let cancelling: Bool = cells["cancelling"]
            let holders = try Self.occupants(db, workflow: run.workflowName, key: concurrency.key).filter(\.holdsSlot)
            guard ConcurrencyRule.isClaimable(concurrency: concurrency, slotTaken: false, cancelRequested: cancelling, holders: holders.count) else {
                return .waiting(holders: holders.map(\.runID))
            }
            if ConcurrencyRule.takesSlot(concurrency: concurrency, cancelRequested: cancelling) {
                try db.execute(sql: "UPDATE runs SET concurrency_slot = 1 WHERE id = ?", arguments: [runID])
            }
            return .taken
        }
    }

    public func concurrencyOccupants(workflow: String, key: String) async throws -> [ConcurrencyOccupant] {
        try await read { db in try Self.occupants(db, workflow: workflow, key: key) }
    }
}
