import Foundation
import GRDB
import WfloCore

/// API tokens (`api_tokens`, hashes only) and the run list's pages, for `wflo tokens` and `wflo server`.
extension SQLiteJournalStore {
    public func createToken(_ token: APITokenRecord) async throws {
        try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM api_tokens WHERE name = ?", arguments: [token.name]) == true {
                throw StoreError(.conflict, "a token named '\(token.name)' is already in the journal at \(path) (revoked names are not reused); choose another name")
            }
            try db.execute(sql: "INSERT INTO api_tokens (name, role, hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [token.name, token.role.rawValue, token.hash, token.createdAt.timeIntervalSince1970,
                                       token.revokedAt?.timeIntervalSince1970])
        }
    }

    public func tokens() async throws -> [APITokenRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_tokens ORDER BY name").map(Self.tokenRecord)
        }
    }

    public func token(hash: String) async throws -> APITokenRecord? {
        try await read(inline: true) { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM api_tokens WHERE hash = ?"), arguments: [hash]).map(Self.tokenRecord)
        }
    }

    public func revokeToken(name: String, at: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                           arguments: [at.timeIntervalSince1970, name])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "DELETE FROM dashboard_sessions WHERE token_hash IN (SELECT hash FROM api_tokens WHERE name = ?)", arguments: [name])
            return true
        }
    }

    public func createSession(_ session: SessionRecord) async throws {
        try await write { db in
            try db.execute(sql: "INSERT INTO dashboard_sessions (id_hash, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
                           arguments: [session.idHash, session.tokenHash, session.createdAt.timeIntervalSince1970, session.expiresAt.timeIntervalSince1970])
        }
    }

    public func session(idHash: String, now: Date) async throws -> SessionRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT s.* FROM dashboard_sessions s JOIN api_tokens t ON t.hash = s.token_hash
                WHERE s.id_hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL
                """), arguments: [idHash, now.timeIntervalSince1970]).map { row in
                SessionRecord(idHash: row["id_hash"], tokenHash: row["token_hash"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
                              expiresAt: Date(timeIntervalSince1970: row["expires_at"]))
            }
        }
    }

    public func liveSession(idHash: String, now: Date) async throws -> (session: SessionRecord, token: APITokenRecord)? {
        try await read(inline: true) { db in
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT s.id_hash, s.created_at AS session_created_at, s.expires_at, t.* FROM dashboard_sessions s JOIN api_tokens t ON t.hash = s.token_hash
                WHERE s.id_hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL
                """), arguments: [idHash, now.timeIntervalSince1970]).map { row in
                let token = try Self.tokenRecord(row)
                return (session: SessionRecord(idHash: row["id_hash"], tokenHash: token.hash, createdAt: Date(timeIntervalSince1970: row["session_created_at"]),
                                               expiresAt: Date(timeIntervalSince1970: row["expires_at"])),
                        token: token)
            }
        }
    }

    public func deleteSession(idHash: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM dashboard_sessions WHERE id_hash = ?", arguments: [idHash])
            return db.changesCount > 0
        }
    }

    public func deleteExpiredSessions(now: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM dashboard_sessions WHERE expires_at <= ?", arguments: [now.timeIntervalSince1970])
            return db.changesCount
        }
    }

    private static func tokenRecord(_ row: Row) throws -> APITokenRecord {
        let revoked: Double? = row["revoked_at"]
        return APITokenRecord(name: row["name"], role: try JournalCells.enumeration(row["role"] as String, "api_tokens.role"),
                              hash: row["hash"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
                              revokedAt: revoked.map { Date(timeIntervalSince1970: $0) })
    }

    public func runPage(_ query: RunPageQuery) async throws -> [RunRecord] {
        try await read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let status = query.status {
                conditions.append("status = ?")
                arguments += [status.rawValue]
            }
            if let workflow = query.workflow {
                conditions.append("workflow_name = ?")
                arguments += [workflow]
            }
            if let after = query.after {
                conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
                let seconds = after.createdAt.timeIntervalSince1970
                arguments += [seconds, seconds, after.id]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [max(query.limit, 0)]
            return try RunRow.fetchAll(db, sql: "\(RunRow.selectAll) \(filter) ORDER BY created_at DESC, id DESC LIMIT ?", arguments: arguments)
                .map { try $0.record() }
        }
    }

    public func runChangeMark(id: String) async throws -> RunChangeMark? {
        try await read(inline: true) { db in
            // The run's row by its key, its newest event by the (run_id, sequence) key, its
            // approvals by their (run_id, step_id) index.
            try Row.fetchOne(db.cachedStatement(sql: """
                SELECT status, updated_at, settled_usd, reserved_usd, budget_usd, stop_reason, cancel_requested_at,
                    (SELECT MAX(sequence) FROM events WHERE run_id = runs.id) AS event,
                    (SELECT COUNT(*) || '/' || TOTAL(status = 'pending') || '/' || TOTAL(decided_at) FROM approvals WHERE run_id = runs.id) AS approvals
                FROM runs WHERE id = ?
                """), arguments: [id]).map { row in
                let parts: [String] = [(row["updated_at"] as Double).description, row["settled_usd"], row["reserved_usd"],
                                       row["budget_usd"] ?? "-", row["stop_reason"] ?? "-", (row["cancel_requested_at"] as Double?)?.description ?? "-",
                                       (row["event"] as Int64?)?.description ?? "-", row["approvals"]]
                return RunChangeMark(status: try JournalCells.enumeration(row["status"] as String, "runs.status"), stamp: parts.joined(separator: "|"))
            }
        }
    }

    /// SQLite's `PRAGMA data_version` on a connection that never writes (``ChangeWatcher``); nil when
    /// it cannot be read at once (the file busy for a moment): then nothing is answered from memory.
    public func changeStamp() async throws -> UInt64? {
        try? changes?.stamp()
    }

    public func runCountsByStatus() async throws -> [RunStatus: Int] {
        try await read { db in
            var counts: [RunStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM runs GROUP BY status") {
                counts[try JournalCells.enumeration(row["status"] as String, "runs.status")] = row["n"]
            }
            return counts
        }
    }
}
