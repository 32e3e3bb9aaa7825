import Foundation
import PostgresNIO
import WfloCore

/// API tokens (`api_tokens`, hashes only) and the run list's pages, for `wflo tokens` and `wflo server`.
extension PostgresJournalStore {
    public func createToken(_ token: APITokenRecord) async throws {
        try await statement { connection in
            let inserted = try await connection.query("""
                INSERT INTO api_tokens (name, role, hash, created_at, revoked_at)
                VALUES (\(token.name), \(token.role.rawValue), \(token.hash), \(token.createdAt.timeIntervalSince1970),
                        \(token.revokedAt?.timeIntervalSince1970))
                ON CONFLICT (name) DO NOTHING RETURNING 1
                """, logger: self.logger).collect()
            guard !inserted.isEmpty else {
                throw StoreError(.conflict, "a token named '\(token.name)' is already in \(self.journalLocation) (revoked names are not reused); choose another name")
            }
        }
    }

    public func tokens() async throws -> [APITokenRecord] {
        try await read(oneStatement: true) { connection in
            try await connection.query("SELECT name, role, hash, created_at, revoked_at FROM api_tokens ORDER BY name COLLATE \"C\"",
                                       logger: self.logger).records(Self.tokenRecord)
        }
    }

    public func token(hash: String) async throws -> APITokenRecord? {
        try await read(oneStatement: true) { connection in
            try await connection.query("SELECT name, role, hash, created_at, revoked_at FROM api_tokens WHERE hash = \(hash)",
                                       logger: self.logger).records(Self.tokenRecord).first
        }
    }

    public func revokeToken(name: String, at: Date) async throws -> Bool {
        try await statement { connection in
            // One statement: the token revoked and its sessions ended together.
            try await !connection.query("""
                WITH revoked AS (
                    UPDATE api_tokens SET revoked_at = \(at.timeIntervalSince1970) WHERE name = \(name) AND revoked_at IS NULL RETURNING hash
                ), ended AS (
                    DELETE FROM dashboard_sessions WHERE token_hash IN (SELECT hash FROM revoked)
                )
                SELECT 1 FROM revoked
                """, logger: self.logger).collect().isEmpty
        }
    }

    public func createSession(_ session: SessionRecord) async throws {
        _ = try await statement { connection in
            try await connection.query("""
                INSERT INTO dashboard_sessions (id_hash, token_hash, created_at, expires_at)
                VALUES (\(session.idHash), \(session.tokenHash), \(session.createdAt.timeIntervalSince1970), \(session.expiresAt.timeIntervalSince1970))
                """, logger: self.logger).collect()
        }
    }

    public func session(idHash: String, now: Date) async throws -> SessionRecord? {
        let seconds = now.timeIntervalSince1970
        return try await read { connection in
            try await connection.query("""
                SELECT s.id_hash, s.token_hash, s.created_at, s.expires_at FROM dashboard_sessions s JOIN api_tokens t ON t.hash = s.token_hash
                WHERE s.id_hash = \(idHash) AND s.expires_at > \(seconds) AND t.revoked_at IS NULL
                """, logger: self.logger).records { row in
                let (id, token, created, expires) = try row.decode((String, String, Double, Double).self)
                return SessionRecord(idHash: id, tokenHash: token, createdAt: Date(timeIntervalSince1970: created), expiresAt: Date(timeIntervalSince1970: expires))
            }.first
        }
    }

    public func liveSession(idHash: String, now: Date) async throws -> (session: SessionRecord, token: APITokenRecord)? {
        let seconds = now.timeIntervalSince1970
        return try await read { connection in
            try await connection.query("""
                SELECT t.name, t.role, t.hash, t.created_at, t.revoked_at, s.id_hash, s.created_at, s.expires_at
                FROM dashboard_sessions s JOIN api_tokens t ON t.hash = s.token_hash
                WHERE s.id_hash = \(idHash) AND s.expires_at > \(seconds) AND t.revoked_at IS NULL
                """, logger: self.logger).records { row in
                let (name, role, hash, created, revoked, id, started, expires) = try row.decode((String, String, String, Double, Double?, String, Double, Double).self)
                let token = APITokenRecord(name: name, role: try JournalCells.enumeration(role, "api_tokens.role"), hash: hash,
                                           createdAt: Date(timeIntervalSince1970: created), revokedAt: revoked.map { Date(timeIntervalSince1970: $0) })
                return (session: SessionRecord(idHash: id, tokenHash: hash, createdAt: Date(timeIntervalSince1970: started),
                                               expiresAt: Date(timeIntervalSince1970: expires)),
                        token: token)
            }.first
        }
    }

    public func deleteSession(idHash: String) async throws -> Bool {
        try await statement { connection in
            try await !connection.query("DELETE FROM dashboard_sessions WHERE id_hash = \(idHash) RETURNING 1", logger: self.logger).collect().isEmpty
        }
    }

    public func deleteExpiredSessions(now: Date) async throws -> Int {
        let seconds = now.timeIntervalSince1970
        return try await statement { connection in
            try await connection.query("DELETE FROM dashboard_sessions WHERE expires_at <= \(seconds) RETURNING 1", logger: self.logger).collect().count
        }
    }

    private static func tokenRecord(_ row: PostgresRow) throws -> APITokenRecord {
        let (name, role, hash, created, revoked) = try row.decode((String, String, String, Double, Double?).self)
        return APITokenRecord(name: name, role: try JournalCells.enumeration(role, "api_tokens.role"), hash: hash,
                              createdAt: Date(timeIntervalSince1970: created), revokedAt: revoked.map { Date(timeIntervalSince1970: $0) })
    }

    public func runPage(_ query: RunPageQuery) async throws -> [RunRecord] {
        let status = query.status?.rawValue
        let workflow = query.workflow
        let afterTime = query.after?.createdAt.timeIntervalSince1970
        let afterID = query.after?.id
        let limit = max(query.limit, 0)
        return try await read { connection in
            try await connection.query("""
                SELECT \(unescaped: RunRow.columns) FROM runs
                WHERE (\(status)::text IS NULL OR status = \(status))
                  AND (\(workflow)::text IS NULL OR workflow_name = \(workflow))
                  AND (\(afterTime)::double precision IS NULL OR created_at < \(afterTime)
                       OR (created_at = \(afterTime) AND id COLLATE "C" < \(afterID)))
                ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT \(limit)
                """, logger: self.logger).records(RunRow.record)
        }
    }

    public func runChangeMark(id: String) async throws -> RunChangeMark? {
        try await read { connection in
            try await connection.query("""
                SELECT status, updated_at, settled_usd, reserved_usd, budget_usd, stop_reason, cancel_requested_at, last_event,
                    (SELECT COUNT(*)::text || '/' || COUNT(*) FILTER (WHERE a.status = 'pending')::text || '/' || COALESCE(SUM(a.decided_at), 0)::text
                     FROM approvals a WHERE a.run_id = runs.id)
                FROM runs WHERE id = \(id)
                """, logger: self.logger).records { row in
                let (status, updated, settled, reserved, budget, stop, cancel, event, approvals)
                    = try row.decode((String, Double, String, String, String?, String?, Double?, Int64, String).self)
                let parts = ["\(updated)", settled, reserved, budget ?? "-", stop ?? "-", cancel.map { "\($0)" } ?? "-", "\(event)", approvals]
                return RunChangeMark(status: try JournalCells.enumeration(status, "runs.status"), stamp: parts.joined(separator: "|"))
            }.first
        }
    }

    public func runCountsByStatus() async throws -> [RunStatus: Int] {
        try await read { connection in
            var counts: [RunStatus: Int] = [:]
            for (status, count) in try await connection.query("SELECT status, COUNT(*) FROM runs GROUP BY status", logger: self.logger)
                .records({ try $0.decode((String, Int64).self) }) {
                counts[try JournalCells.enumeration(status, "runs.status")] = Int(count)
            }
            return counts
        }
    }
}
