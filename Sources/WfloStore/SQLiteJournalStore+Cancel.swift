import Foundation
import GRDB
import WfloCore

/// `wflo cancel`: the request lives on the run's row (`cancel_requested_at`, `cancel_by`,
/// `cancel_reason`), where the run's driver reads it.
extension SQLiteJournalStore {
    public func requestCancel(runID: String, by: String, reason: String?, at: Date) async throws -> CancelRequest {
        let path = self.path
        return try await write { db in
            guard let request = try Self.requestCancel(db, runID: runID, by: by, reason: reason, at: at) else {
                throw StoreError(.notFound, "run \(runID) is not in the journal at \(path)")
            }
            return request
        }
    }

    /// Journals a cancel request in `db`'s transaction (the first request is kept); nil for an unknown run.
    static func requestCancel(_ db: Database, runID: String, by: String, reason: String?, at: Date) throws -> CancelRequest? {
        guard let row = try Row.fetchOne(db, sql: "SELECT cancel_requested_at, cancel_by, cancel_reason FROM runs WHERE id = ?",
                                         arguments: [runID]) else { return nil }
        if let first = cancelRequest(row) { return first }
        let request = CancelRequest(at: at, by: by, reason: reason)
        try db.execute(sql: "UPDATE runs SET cancel_requested_at = ?, cancel_by = ?, cancel_reason = ? WHERE id = ?",
                       arguments: [at.timeIntervalSince1970, by, reason, runID])
        try EventRow.insert(db, .cancelRequested(runID: runID, request))
        return request
    }

    public func cancelRequest(runID: String) async throws -> CancelRequest? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT cancel_requested_at, cancel_by, cancel_reason FROM runs WHERE id = ?"),
                             arguments: [runID]).flatMap(Self.cancelRequest)
        }
    }

    private static func cancelRequest(_ row: Row) -> CancelRequest? {
        guard let at = row["cancel_requested_at"] as Double? else { return nil }
        return CancelRequest(at: Date(timeIntervalSince1970: at), by: row["cancel_by"] as String? ?? "someone",
                             reason: row["cancel_reason"] as String?)
    }
}
