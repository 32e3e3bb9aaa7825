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
        try await read { connection in
            try await connection.query("SELECT name, role, hash, created_at, revoked_at FROM api_tokens ORDER BY name COLLATE \"C\"",
                                       logger: self.logger).records(Self.tokenRecord)
        }
    }

    public func token(hash: String) async throws -> APITokenRecord? {
        try await read { connection in
            try await connection.query("SELECT name, role, hash, created_at, revoked_at FROM api_tokens WHERE hash = \(hash)",
                                       logger: self.logger).records(Self.tokenRecord).first
        }
    }

    public func revokeToken(name: String, at: Date) async throws -> Bool {
        try await statement { connection in
            try await !connection.query("""
                UPDATE api_tokens SET revoked_at = \(at.timeIntervalSince1970) WHERE name = \(name) AND revoked_at IS NULL RETURNING 1
                """, logger: self.logger).collect().isEmpty
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

    // MARK: approval notifications

    @discardableResult
    public func enqueueApprovalNotifications(_ notifications: [ApprovalNotification]) async throws -> Int {
        try await write { connection in
            var added = 0
            for n in notifications {
                added += try await connection.query("""
                    INSERT INTO approval_notifications (approval_id, url, run_id, step_id, created_at, attempts)
                    VALUES (\(n.approvalID), \(n.url), \(n.runID), \(n.stepID), \(n.createdAt.timeIntervalSince1970), 0)
                    ON CONFLICT (approval_id, url) DO NOTHING RETURNING 1
                    """, logger: self.logger).collect().count
            }
            return added
        }
    }

    public func claimApprovalNotifications(owner: String, at: Date, lease: Double, limit: Int) async throws -> [ApprovalNotification] {
        let now = at.timeIntervalSince1970
        let until = now + lease
        let limit = max(limit, 0)
        return try await write { connection in
            try await connection.query("""
                UPDATE approval_notifications SET lease_owner = \(owner), lease_expires_at = \(until)
                WHERE (approval_id, url) IN (
                    SELECT approval_id, url FROM approval_notifications
                    WHERE delivered_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= \(now))
                      AND (lease_expires_at IS NULL OR lease_expires_at <= \(now))
                    ORDER BY created_at, ord LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                RETURNING \(unescaped: Self.notificationColumns)
                """, logger: self.logger).records(Self.notification)
                .sorted { ($0.createdAt, $0.approvalID, $0.url) < ($1.createdAt, $1.approvalID, $1.url) }
        }
    }

    public func markApprovalNotificationDelivered(approvalID: String, url: String, owner: String, at: Date) async throws -> Bool {
        try await statement { connection in
            try await !connection.query("""
                UPDATE approval_notifications SET delivered_at = \(at.timeIntervalSince1970), lease_owner = NULL, lease_expires_at = NULL
                WHERE approval_id = \(approvalID) AND url = \(url) AND lease_owner = \(owner) AND delivered_at IS NULL RETURNING 1
                """, logger: self.logger).collect().isEmpty
        }
    }

    public func markApprovalNotificationFailed(approvalID: String, url: String, owner: String, error: String, retryAt: Date) async throws -> Bool {
        try await statement { connection in
            try await !connection.query("""
                UPDATE approval_notifications SET attempts = attempts + 1, last_error = \(error), next_attempt_at = \(retryAt.timeIntervalSince1970),
                       lease_owner = NULL, lease_expires_at = NULL
                WHERE approval_id = \(approvalID) AND url = \(url) AND lease_owner = \(owner) AND delivered_at IS NULL RETURNING 1
                """, logger: self.logger).collect().isEmpty
        }
    }

    public func approvalNotifications(approvalID: String?) async throws -> [ApprovalNotification] {
        try await read { connection in
            try await connection.query("""
                SELECT \(unescaped: Self.notificationColumns) FROM approval_notifications
                WHERE \(approvalID)::text IS NULL OR approval_id = \(approvalID) ORDER BY created_at, ord
                """, logger: self.logger).records(Self.notification)
        }
    }

    public func journalSetting(_ key: String, proposed: String) async throws -> String {
        try await statement { connection in
            try await connection.query("INSERT INTO journal_settings (key, value) VALUES (\(key), \(proposed)) ON CONFLICT (key) DO NOTHING",
                                       logger: self.logger)
            return try await connection.query("SELECT value FROM journal_settings WHERE key = \(key)", logger: self.logger)
                .records { try $0.decode(String.self) }.first ?? proposed
        }
    }

    private static let notificationColumns = "approval_id, url, run_id, step_id, created_at, attempts, delivered_at, last_error, next_attempt_at"

    private static func notification(_ row: PostgresRow) throws -> ApprovalNotification {
        let (approval, url, run, step, created, attempts, delivered, error, next) =
            try row.decode((String, String, String, String, Double, Int32, Double?, String?, Double?).self)
        return ApprovalNotification(approvalID: approval, runID: run, stepID: step, url: url, createdAt: Date(timeIntervalSince1970: created),
                                    attempts: Int(attempts), deliveredAt: delivered.map { Date(timeIntervalSince1970: $0) }, lastError: error,
                                    nextAttemptAt: next.map { Date(timeIntervalSince1970: $0) })
    }
}
