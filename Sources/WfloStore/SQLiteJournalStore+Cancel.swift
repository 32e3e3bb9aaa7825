import Foundation
import GRDB
import WfloCore

/// `wflo cancel`: the request lives on the run's row (`cancel_requested_at`, `cancel_by`,
/// `cancel_reason`), where the run's driver reads it.
extension SQLiteJournalStore {
    public func requestCancel(runID: String, by: String, reason: String?, at: Date) async throws -> CancelRequest {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT cancel_requested_at, cancel_by, cancel_reason FROM runs WHERE id = ?",
                                             arguments: [runID]) else {
                throw StoreError(.notFound, "run \(runID) is not in the journal at \(path)")
            }
            if let first = Self.cancelRequest(row) { return first }
            try db.execute(sql: "UPDATE runs SET cancel_requested_at = ?, cancel_by = ?, cancel_reason = ? WHERE id = ?",
                           arguments: [at.timeIntervalSince1970, by, reason, runID])
            var data: [String: JSONValue] = ["by": .string(by)]
            if let reason { data["reason"] = .string(reason) }
            try EventRow.insert(db, EventRecord(runID: runID, stepID: nil, kind: .cancelRequested, data: .object(data), at: at))
            return CancelRequest(at: at, by: by, reason: reason)
        }
    }

    public func cancelRequest(runID: String) async throws -> CancelRequest? {
        try read { db in
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
