import Foundation
import PostgresNIO
import WfloCore

/// Deployed workflows and the schedule loop's reads (``DeploymentStore``): the `deployments`
/// table and `runs.trigger`, `trigger_key`, `trigger_at` (migration 5, `v12_triggers`).
extension PostgresJournalStore {
    /// Versions are numbered under a transaction-scoped advisory lock on the name, so two deploys racing never take one number.
    public func deploy(_ deployment: DeploymentRequest) async throws -> DeploymentRecord {
        try await write { connection in
            _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("wflo.deploy:" + deployment.name)))",
                                           logger: self.logger).collect()
            let rows = try await connection.query("""
                INSERT INTO deployments (name, version, path, source, deployed_at)
                SELECT \(deployment.name), COALESCE(max(version), 0) + 1, \(deployment.path), \(deployment.source),
                       \(deployment.at.timeIntervalSince1970)
                FROM deployments WHERE name = \(deployment.name)
                RETURNING version
                """, logger: self.logger).collect()
            let version = try rows.first?.decode(Int.self) ?? 1
            return DeploymentRecord(name: deployment.name, version: version, path: deployment.path, source: deployment.source,
                                    deployedAt: deployment.at)
        }
    }

    public func deployments() async throws -> [DeploymentRecord] {
        // Every worker's schedule loop reads this twice a second: one statement, no transaction around it.
        try await read(oneStatement: true) { connection in
            var records: [DeploymentRecord] = []
            let rows = try await connection.query("""
                SELECT d.name, d.version, d.path, d.source, d.deployed_at FROM deployments d
                WHERE d.undeployed_at IS NULL AND d.version = (SELECT max(version) FROM deployments WHERE name = d.name)
                ORDER BY d.name
                """, logger: self.logger)
            for try await row in rows {
                let (name, version, path, source, at) = try row.decode((String, Int, String, String, Double).self)
                records.append(DeploymentRecord(name: name, version: version, path: path, source: source, deployedAt: JournalCells.date(at)))
            }
            return records
        }
    }

    public func undeploy(name: String, at: Date) async throws -> Bool {
        try await statement { connection in
            let rows = try await connection.query("""
                UPDATE deployments SET undeployed_at = \(at.timeIntervalSince1970)
                WHERE name = \(name) AND undeployed_at IS NULL AND version = (SELECT max(version) FROM deployments WHERE name = \(name))
                RETURNING 1
                """, logger: self.logger).collect()
            return !rows.isEmpty
        }
    }

    public func lastTick(scheduleKey: String) async throws -> Date? {
        try await read(oneStatement: true) { connection in
            let rows = try await connection.query("SELECT max(trigger_at) FROM runs WHERE trigger_key = \(scheduleKey)", logger: self.logger).collect()
            return try rows.first?.decode(Double?.self).map(JournalCells.date)
        }
    }

    public func latestRun(workflowName: String) async throws -> RunRecord? {
        try await read(oneStatement: true) { connection in
            try await connection.query("""
                SELECT \(unescaped: RunRow.columns) FROM runs WHERE workflow_name = \(workflowName) ORDER BY created_at DESC, ord DESC LIMIT 1
                """, logger: self.logger).records(RunRow.record).first
        }
    }

    public func countRejectedDelivery(hook: String, at: Date) async throws {
        try await statement { connection in
            _ = try await connection.query("""
                INSERT INTO webhook_rejections (hook, count, last_at) VALUES (\(hook), 1, \(at.timeIntervalSince1970))
                ON CONFLICT (hook) DO UPDATE SET count = webhook_rejections.count + 1, last_at = excluded.last_at
                """, logger: self.logger).collect()
        }
    }

    public func rejectedDeliveries(hook: String) async throws -> Int {
        try await read(oneStatement: true) { connection in
            let rows = try await connection.query("SELECT count FROM webhook_rejections WHERE hook = \(hook)", logger: self.logger).collect()
            return try rows.first.map { Int(try $0.decode(Int64.self)) } ?? 0
        }
    }
}
