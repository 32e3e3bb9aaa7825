import Foundation
import GRDB
import WfloCore

/// The LLM response cache's table (`llm_cache`), and cache hits as journal attempts.
extension SQLiteJournalStore {
    public func cachedResponse(key: String, at: Date) async throws -> JSONValue? {
        try await read { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT response, expires_at FROM llm_cache WHERE key = ?"),
                                             arguments: [key]),
                  CacheEntry.isLive(expiresAt: (row["expires_at"] as Double?).map(Date.init(timeIntervalSince1970:)), at: at) else { return nil }
            return try JournalCells.json(row["response"], "llm_cache.response")
        }
    }

    @discardableResult
    public func storeResponse(_ entry: CacheEntry) async throws -> Bool {
        try await write { db in
            // An expired entry is replaced; a live one is kept (the first answer wins).
            try db.execute(sql: "DELETE FROM llm_cache WHERE key = ? AND expires_at IS NOT NULL AND expires_at <= ?",
                           arguments: [entry.key, entry.createdAt.timeIntervalSince1970])
            try db.cachedStatement(sql: """
                INSERT INTO llm_cache (key, namespace, model, response, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (key) DO NOTHING
                """).execute(arguments: [entry.key, entry.namespace, entry.model, entry.response.encoded(),
                                         entry.createdAt.timeIntervalSince1970, entry.expiresAt?.timeIntervalSince1970])
            return db.changesCount == 1
        }
    }

    public func recordCacheHit(_ hit: CacheHitRecord) async throws {
        try await write { db in
            try db.cachedStatement(sql: """
                INSERT INTO attempts (run_id, step_id, number, status, model, reserved_usd, cost_usd, usage, started_at, finished_at,
                                      cache_hit, saved_usd)
                VALUES (?, ?, ?, 'succeeded', ?, '0', '0', ?, ?, ?, 1, ?)
                """).execute(arguments: [hit.runID, hit.stepID, hit.number, hit.model, hit.usage.json.encoded(),
                                         hit.at.timeIntervalSince1970, hit.at.timeIntervalSince1970, hit.saved.description])
            try db.cachedStatement(sql: """
                INSERT INTO steps (run_id, step_id, type, status, output, model, started_at, finished_at)
                VALUES (?, ?, ?, 'completed', ?, ?, ?, ?)
                ON CONFLICT (run_id, step_id) DO UPDATE SET status = 'completed', output = excluded.output, error = NULL,
                    model = excluded.model, started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = excluded.finished_at
                """).execute(arguments: [hit.runID, hit.stepID, hit.stepType.rawValue, hit.output.encoded(), hit.model,
                                         hit.at.timeIntervalSince1970, hit.at.timeIntervalSince1970])
            try db.cachedStatement(sql: "UPDATE llm_cache SET hits = hits + 1, last_hit_at = ? WHERE key = ?")
                .execute(arguments: [hit.at.timeIntervalSince1970, hit.key])
            try EventRow.insert(db, .cacheHit(hit))
        }
    }

    public func cacheStats(at: Date) async throws -> CacheStats {
        try await read { db in
            let now = at.timeIntervalSince1970
            let rows = try Row.fetchAll(db, sql: """
                SELECT namespace, COUNT(*) AS entries, COALESCE(SUM(LENGTH(CAST(response AS BLOB))), 0) AS bytes,
                       COALESCE(SUM(hits), 0) AS hits
                FROM llm_cache GROUP BY namespace ORDER BY namespace
                """)
            let namespaces = rows.map { row in
                CacheStats.Namespace(name: row["namespace"], entries: row["entries"], bytes: row["bytes"], hits: row["hits"])
            }
            let expired = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM llm_cache WHERE expires_at IS NOT NULL AND expires_at <= ?",
                                           arguments: [now]) ?? 0
            // Savings are exact decimals stored as text: summed with Money, never by SQLite.
            let saved = try String.fetchAll(db, sql: "SELECT saved_usd FROM attempts WHERE cache_hit = 1 AND saved_usd IS NOT NULL")
            var savings = Money.zero
            for text in saved { savings += try JournalCells.money(text, "attempts.saved_usd") }
            return CacheStats(entries: namespaces.map(\.entries).reduce(0, +), bytes: namespaces.map(\.bytes).reduce(0, +),
                              expired: expired, hits: saved.count, savings: savings, namespaces: namespaces)
        }
    }

    public func clearCache(olderThan: Date?, namespace: String?, at: Date) async throws -> Int {
        try await write { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let olderThan {
                conditions.append("created_at < ?")
                arguments += [olderThan.timeIntervalSince1970]
            }
            if let namespace {
                conditions.append("namespace = ?")
                arguments += [namespace]
            }
            let chosen = conditions.isEmpty ? "1" : conditions.joined(separator: " AND ")
            try db.execute(sql: "DELETE FROM llm_cache WHERE (\(chosen)) OR (expires_at IS NOT NULL AND expires_at <= ?)",
                           arguments: arguments + [at.timeIntervalSince1970])
            return db.changesCount
        }
    }
}
