import Foundation
import PostgresNIO
import WfloCore

/// The approval outbox (`approval_notifications`, written with each request in
/// ``requestApproval(_:stepType:notify:)``), the journal's hooks and its settings.
extension PostgresJournalStore {
    public func addNotifyHook(url: String, at: Date) async throws -> Bool {
        try await statement { connection in
            try await connection.query("""
                INSERT INTO notify_hooks (url, created_at) VALUES (\(url), \(at.timeIntervalSince1970)) ON CONFLICT (url) DO NOTHING RETURNING 1
                """, logger: self.logger).collect().count == 1
        }
    }

    public func removeNotifyHook(url: String) async throws -> Bool {
        try await statement { connection in
            try await connection.query("DELETE FROM notify_hooks WHERE url = \(url) RETURNING 1", logger: self.logger).collect().count == 1
        }
    }

    public func notifyHooks() async throws -> [String] {
        try await read(oneStatement: true) { connection in
            try await connection.query("SELECT url FROM notify_hooks ORDER BY created_at, url", logger: self.logger)
                .records { try $0.decode(String.self) }
        }
    }

    private static let notificationColumns = """
        id, approval_id, run_id, webhook, created_at, attempts, delivered_at, last_error, next_attempt_at
        """

    private static func notification(_ row: PostgresRow) throws -> ApprovalNotification {
        let (id, approval, run, webhook, created, attempts, delivered, error, next) =
            try row.decode((String, String, String, String, Double, Int, Double?, String?, Double?).self)
        return ApprovalNotification(id: id, approvalID: approval, runID: run, webhook: webhook, createdAt: Date(timeIntervalSince1970: created),
                                    attempts: attempts, deliveredAt: delivered.map(Date.init(timeIntervalSince1970:)), lastError: error,
                                    nextAttemptAt: next.map(Date.init(timeIntervalSince1970:)))
    }

    /// `FOR UPDATE SKIP LOCKED`: two deliverers claiming at once take different notifications.
    public func claimDueNotifications(owner: String, at: Date, lease: TimeInterval, limit: Int) async throws -> [ApprovalNotification] {
        try await write { connection in
            let now = at.timeIntervalSince1970
            let ids = try await connection.query("""
                UPDATE approval_notifications SET lease_owner = \(owner), lease_expires_at = \(now + lease)
                WHERE id IN (
                    SELECT id FROM approval_notifications WHERE delivered_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= \(now))
                        AND (lease_owner IS NULL OR lease_expires_at <= \(now))
                    ORDER BY created_at, ord LIMIT \(max(limit, 0)) FOR UPDATE SKIP LOCKED
                )
                RETURNING id
                """, logger: self.logger).records { try $0.decode(String.self) }
            if ids.isEmpty { return [] }
            return try await connection.query("""
                SELECT \(unescaped: Self.notificationColumns) FROM approval_notifications WHERE id = ANY(\(ids)) ORDER BY created_at, ord
                """, logger: self.logger).records(Self.notification)
        }
    }

    @discardableResult
    public func markNotificationDelivered(id: String, owner: String, at: Date) async throws -> Bool {
        try await statement { connection in
            try await connection.query("""
                UPDATE approval_notifications SET delivered_at = \(at.timeIntervalSince1970), attempts = attempts + 1, last_error = NULL,
                    lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND lease_owner = \(owner) AND delivered_at IS NULL RETURNING 1
                """, logger: self.logger).collect().count == 1
        }
    }

    @discardableResult
    public func markNotificationFailed(id: String, owner: String, error: String, retryAt: Date, at: Date) async throws -> Bool {
        try await statement { connection in
            try await connection.query("""
                UPDATE approval_notifications SET attempts = attempts + 1, last_error = \(error),
                    next_attempt_at = \(retryAt.timeIntervalSince1970), lease_owner = NULL, lease_expires_at = NULL
                WHERE id = \(id) AND lease_owner = \(owner) AND delivered_at IS NULL RETURNING 1
                """, logger: self.logger).collect().count == 1
        }
    }

    public func notifications(approvalID: String?) async throws -> [ApprovalNotification] {
        try await read(oneStatement: true) { connection in
            try await connection.query("""
                SELECT \(unescaped: Self.notificationColumns) FROM approval_notifications
                WHERE (\(approvalID)::text IS NULL OR approval_id = \(approvalID)) ORDER BY created_at, ord
                """, logger: self.logger).records(Self.notification)
        }
    }

    public func journalSetting(_ name: String) async throws -> String? {
        try await read(oneStatement: true) { connection in
            try await connection.query("SELECT value FROM journal_settings WHERE name = \(name)", logger: self.logger)
                .records { try $0.decode(String.self) }.first
        }
    }

    public func setJournalSetting(_ name: String, value: String) async throws {
        _ = try await statement { connection in
            try await connection.query("""
                INSERT INTO journal_settings (name, value) VALUES (\(name), \(value)) ON CONFLICT (name) DO UPDATE SET value = excluded.value
                """, logger: self.logger).collect()
        }
    }

    public func journalSetting(_ name: String, orInsert value: String) async throws -> String {
        try await write { connection in
            try await connection.query("INSERT INTO journal_settings (name, value) VALUES (\(name), \(value)) ON CONFLICT (name) DO NOTHING",
                                       logger: self.logger)
            return try await connection.query("SELECT value FROM journal_settings WHERE name = \(name)", logger: self.logger)
                .records { try $0.decode(String.self) }.first ?? value
        }
    }
}
