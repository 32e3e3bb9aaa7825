import Foundation
import GRDB
import WfloCore

/// The approval outbox (`approval_notifications`, written with each request in
/// ``requestApproval(_:stepType:notify:)``), the journal's hooks and its settings.
extension SQLiteJournalStore {
    public func addNotifyHook(url: String, at: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "INSERT INTO notify_hooks (url, created_at) VALUES (?, ?) ON CONFLICT (url) DO NOTHING",
                           arguments: [url, at.timeIntervalSince1970])
            return db.changesCount == 1
        }
    }

    public func removeNotifyHook(url: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM notify_hooks WHERE url = ?", arguments: [url])
            return db.changesCount == 1
        }
    }

    public func notifyHooks() async throws -> [String] {
        try await read { db in try String.fetchAll(db, sql: "SELECT url FROM notify_hooks ORDER BY created_at, url") }
    }

    public func claimDueNotifications(owner: String, at: Date, lease: TimeInterval, limit: Int) async throws -> [ApprovalNotification] {
        let now = at.timeIntervalSince1970
        let due = """
            SELECT id FROM approval_notifications WHERE delivered_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
                AND (lease_owner IS NULL OR lease_expires_at <= ?) ORDER BY created_at, rowid LIMIT ?
            """
        // Every process driving runs asks every pass: an empty claim is a read, not a write transaction.
        guard try await read({ db in try String.fetchOne(db, sql: due, arguments: [now, now, 1]) != nil }) else { return [] }
        return try await write { db in
            let ids = try String.fetchAll(db, sql: due, arguments: [now, now, max(limit, 0)])
            var claimed: [ApprovalNotification] = []
            for id in ids {
                try db.execute(sql: "UPDATE approval_notifications SET lease_owner = ?, lease_expires_at = ? WHERE id = ?",
                               arguments: [owner, now + lease, id])
                if let row = try Row.fetchOne(db, sql: "SELECT * FROM approval_notifications WHERE id = ?", arguments: [id]) {
                    claimed.append(Self.notification(row))
                }
            }
            return claimed
        }
    }

    @discardableResult
    public func markNotificationDelivered(id: String, owner: String, at: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE approval_notifications SET delivered_at = ?, attempts = attempts + 1, last_error = NULL, lease_owner = NULL,
                    lease_expires_at = NULL
                WHERE id = ? AND lease_owner = ? AND delivered_at IS NULL
                """, arguments: [at.timeIntervalSince1970, id, owner])
            return db.changesCount == 1
        }
    }

    @discardableResult
    public func markNotificationFailed(id: String, owner: String, error: String, retryAt: Date, at: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE approval_notifications SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_owner = NULL,
                    lease_expires_at = NULL
                WHERE id = ? AND lease_owner = ? AND delivered_at IS NULL
                """, arguments: [error, retryAt.timeIntervalSince1970, id, owner])
            return db.changesCount == 1
        }
    }

    public func notifications(approvalID: String?) async throws -> [ApprovalNotification] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM approval_notifications WHERE (? IS NULL OR approval_id = ?) ORDER BY created_at, rowid",
                             arguments: [approvalID, approvalID]).map(Self.notification)
        }
    }

    public func journalSetting(_ name: String) async throws -> String? {
        try await read { db in try String.fetchOne(db, sql: "SELECT value FROM journal_settings WHERE name = ?", arguments: [name]) }
    }

    public func setJournalSetting(_ name: String, value: String) async throws {
        try await write { db in
            try db.execute(sql: "INSERT INTO journal_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                           arguments: [name, value])
        }
    }

    public func journalSetting(_ name: String, orInsert value: String) async throws -> String {
        if let stored = try await journalSetting(name) { return stored }
        return try await write { db in
            try db.execute(sql: "INSERT INTO journal_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", arguments: [name, value])
            return try String.fetchOne(db, sql: "SELECT value FROM journal_settings WHERE name = ?", arguments: [name]) ?? value
        }
    }

    private static func notification(_ row: Row) -> ApprovalNotification {
        let date: (String) -> Date? = { column in (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        return ApprovalNotification(id: row["id"], approvalID: row["approval_id"], runID: row["run_id"], webhook: row["webhook"],
                                    createdAt: date("created_at") ?? Date(timeIntervalSince1970: 0), attempts: row["attempts"],
                                    deliveredAt: date("delivered_at"), lastError: row["last_error"], nextAttemptAt: date("next_attempt_at"))
    }
}
