import Foundation
import GRDB
import WfloCore

/// Deployed workflows and the schedule loop's reads (``DeploymentStore``): the `deployments`
/// table and `runs.trigger`, `trigger_key`, `trigger_at` (migration `v12_triggers`).
extension SQLiteJournalStore {
    /// Writes a new run's trigger columns (nothing for a run a person started).
    static func writeTrigger(_ db: Database, _ run: RunRecord) throws {
        guard let trigger = run.trigger else { return }
        try db.execute(sql: "UPDATE runs SET \"trigger\" = ?, trigger_key = ?, trigger_at = ? WHERE id = ?",
                       arguments: [JournalCells.triggerCell(trigger), trigger.kind == .schedule ? trigger.key : nil,
                                   trigger.at.timeIntervalSince1970, run.id])
    }

    public func deploy(_ deployment: DeploymentRequest) async throws -> DeploymentRecord {
        try await write { db in
            let newest = try Int.fetchOne(db, sql: "SELECT max(version) FROM deployments WHERE name = ?", arguments: [deployment.name]) ?? 0
            let record = DeploymentRecord(name: deployment.name, version: newest + 1, path: deployment.path, source: deployment.source,
                                          deployedAt: deployment.at)
            try db.execute(sql: "INSERT INTO deployments (name, version, path, source, deployed_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [record.name, record.version, record.path, record.source, record.deployedAt.timeIntervalSince1970])
            return record
        }
    }

    public func deployments() async throws -> [DeploymentRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT d.name, d.version, d.path, d.source, d.deployed_at FROM deployments d
                WHERE d.undeployed_at IS NULL AND d.version = (SELECT max(version) FROM deployments WHERE name = d.name)
                ORDER BY d.name
                """).map { row in
                DeploymentRecord(name: row["name"], version: row["version"], path: row["path"], source: row["source"],
                                 deployedAt: Date(timeIntervalSince1970: row["deployed_at"]))
            }
        }
    }

    public func undeploy(name: String, at: Date) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE deployments SET undeployed_at = ?
                WHERE name = ? AND undeployed_at IS NULL AND version = (SELECT max(version) FROM deployments WHERE name = ?)
                """, arguments: [at.timeIntervalSince1970, name, name])
            return db.changesCount > 0
        }
    }

    public func lastTick(scheduleKey: String) async throws -> Date? {
        try await read { db in
            try Double.fetchOne(db, sql: "SELECT max(trigger_at) FROM runs WHERE trigger_key = ?", arguments: [scheduleKey])
                .map(Date.init(timeIntervalSince1970:))
        }
    }

    public func latestRun(workflowName: String) async throws -> RunRecord? {
        try await read { db in
            try RunRow.fetchOne(db, sql: "\(RunRow.selectAll) WHERE workflow_name = ? ORDER BY created_at DESC, r.rowid DESC LIMIT 1",
                                arguments: [workflowName])?.record()
        }
    }

    public func countRejectedDelivery(hook: String, at: Date) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO webhook_rejections (hook, count, last_at) VALUES (?, 1, ?)
                ON CONFLICT (hook) DO UPDATE SET count = count + 1, last_at = excluded.last_at
                """, arguments: [hook, at.timeIntervalSince1970])
        }
    }

    public func rejectedDeliveries(hook: String) async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count FROM webhook_rejections WHERE hook = ?", arguments: [hook]) ?? 0 }
    }
}
