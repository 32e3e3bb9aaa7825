import Foundation
import GRDB
import WfloCore

/// Who drives a run (`runs.owner`, JSON of ``RunOwner``, and `runs.heartbeat_at`).
extension SQLiteJournalStore {
    /// Reads the holder, asks ``RunClaim/deciding(holder:heartbeatAt:claimant:takeOver:)`` (and
    /// through it `takeOver`, which may look at processes) outside the write lock, then writes the
    /// claim only if the row still holds what was read: a compare-and-set, so two processes
    /// claiming at once cannot both succeed. When the row changed in between, it reads again.
    public func claimRun(id: String, owner: RunOwner, at: Date, takeOver: (RunOwner, Date) -> Bool) async throws -> RunClaim {
        let encoded = String(decoding: try JSONEncoder().encode(owner), as: UTF8.self)
        while true {
            let (text, heartbeat) = try await read { db -> (String?, Double?) in
                guard let row = try Row.fetchOne(db, sql: "SELECT owner, heartbeat_at FROM runs WHERE id = ?", arguments: [id]) else {
                    throw StoreError(.notFound, "run \(id) is not in the journal at \(path)")
                }
                return (row["owner"], row["heartbeat_at"])
            }
            // An owner cell that does not parse holds nothing: the run is claimed.
            let holder = text.flatMap { try? JSONDecoder().decode(RunOwner.self, from: Data($0.utf8)) }
            let claim = RunClaim.deciding(holder: holder, heartbeatAt: heartbeat.map(Date.init(timeIntervalSince1970:)),
                                          claimant: owner, takeOver: takeOver)
            guard claim == .claimed else { return claim }
            let written = try await write { db in
                try db.execute(sql: "UPDATE runs SET owner = ?, heartbeat_at = ?, lease_expires_at = NULL WHERE id = ? AND owner IS ? AND heartbeat_at IS ?",
                               arguments: [encoded, at.timeIntervalSince1970, id, text, heartbeat])
                return db.changesCount == 1
            }
            if written { return .claimed }
        }
    }

    public func heartbeatRun(id: String, token: String, at: Date) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND json_extract(owner, '$.token') = ?",
                           arguments: [at.timeIntervalSince1970, id, token])
        }
    }

    public func releaseRun(id: String, token: String) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE runs SET owner = NULL, heartbeat_at = NULL, lease_expires_at = NULL WHERE id = ? AND json_extract(owner, '$.token') = ?",
                           arguments: [id, token])
        }
    }

    public func driver(runID: String) async throws -> RunDriver? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT owner, heartbeat_at FROM runs WHERE id = ?", arguments: [runID]),
                  let text = row["owner"] as String?,
                  let owner = try? JSONDecoder().decode(RunOwner.self, from: Data(text.utf8)) else { return nil }
            return RunDriver(owner: owner, heartbeatAt: Date(timeIntervalSince1970: row["heartbeat_at"] as Double? ?? 0))
        }
    }
}
