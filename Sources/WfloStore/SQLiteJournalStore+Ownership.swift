import Foundation
import GRDB
import WfloCore

/// Who drives a run (`runs.owner`, JSON of ``RunOwner``, and `runs.heartbeat_at`).
extension SQLiteJournalStore {
    public func claimRun(id: String, owner: RunOwner, at: Date, takeOver: (RunOwner, Date) -> Bool) async throws -> RunClaim {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT owner, heartbeat_at FROM runs WHERE id = ?", arguments: [id]) else {
                throw StoreError(.notFound, "run \(id) is not in the journal at \(path)")
            }
            if let text = row["owner"] as String?,
               let holder = try? JSONDecoder().decode(RunOwner.self, from: Data(text.utf8)),
               holder.token != owner.token {
                let heartbeat = Date(timeIntervalSince1970: row["heartbeat_at"] as Double? ?? 0)
                if !takeOver(holder, heartbeat) { return .heldBy(holder, heartbeatAt: heartbeat) }
            }
            let encoded = String(decoding: try JSONEncoder().encode(owner), as: UTF8.self)
            try db.execute(sql: "UPDATE runs SET owner = ?, heartbeat_at = ? WHERE id = ?",
                           arguments: [encoded, at.timeIntervalSince1970, id])
            return .claimed
        }
    }

    public func heartbeatRun(id: String, token: String, at: Date) async throws {
        try write { db in
            try db.execute(sql: "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND json_extract(owner, '$.token') = ?",
                           arguments: [at.timeIntervalSince1970, id, token])
        }
    }

    public func releaseRun(id: String, token: String) async throws {
        try write { db in
            try db.execute(sql: "UPDATE runs SET owner = NULL, heartbeat_at = NULL WHERE id = ? AND json_extract(owner, '$.token') = ?",
                           arguments: [id, token])
        }
    }

    /// The process holding the run (nil when none does: never claimed, or released).
    public func driver(runID: String) async throws -> RunDriver? {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT owner, heartbeat_at FROM runs WHERE id = ?", arguments: [runID]),
                  let text = row["owner"] as String?,
                  let owner = try? JSONDecoder().decode(RunOwner.self, from: Data(text.utf8)) else { return nil }
            return RunDriver(owner: owner, heartbeatAt: Date(timeIntervalSince1970: row["heartbeat_at"] as Double? ?? 0))
        }
    }
}
