import Foundation
import GRDB
import WfloCore

/// A row of `circuits` (one per host). `failures` is a JSON array of seconds since 1970.
struct CircuitRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "circuits"

    var host: String
    var state: String
    var failures: String
    var openedAt: Double?
    var openUntil: Double?
    var probeStartedAt: Double?
    var lastError: String?
    var updatedAt: Double

    enum CodingKeys: String, CodingKey {
        case host, state, failures
        case openedAt = "opened_at"
        case openUntil = "open_until"
        case probeStartedAt = "probe_started_at"
        case lastError = "last_error"
        case updatedAt = "updated_at"
    }

    func record() throws -> CircuitRecord {
        let times = try JournalCells.json(failures, "circuits.failures").arrayValue ?? []
        return CircuitRecord(host: host, state: try JournalCells.enumeration(state, "circuits.state"),
                             failures: times.compactMap { $0.doubleValue.map { Date(timeIntervalSince1970: $0) } },
                             openedAt: openedAt.map(Date.init(timeIntervalSince1970:)),
                             openUntil: openUntil.map(Date.init(timeIntervalSince1970:)),
                             probeStartedAt: probeStartedAt.map(Date.init(timeIntervalSince1970:)),
                             lastError: lastError, updatedAt: Date(timeIntervalSince1970: updatedAt))
    }

    /// Inserts or replaces the row of `record.host`.
    static func save(_ db: Database, _ record: CircuitRecord) throws {
        let failures = JSONValue.array(record.failures.map { .double($0.timeIntervalSince1970) }).encoded()
        try db.cachedStatement(sql: """
            INSERT INTO circuits (host, state, failures, opened_at, open_until, probe_started_at, last_error, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (host) DO UPDATE SET state = excluded.state, failures = excluded.failures, opened_at = excluded.opened_at,
                open_until = excluded.open_until, probe_started_at = excluded.probe_started_at, last_error = excluded.last_error,
                updated_at = excluded.updated_at
            """).execute(arguments: [record.host, record.state.rawValue, failures, record.openedAt?.timeIntervalSince1970,
                                     record.openUntil?.timeIntervalSince1970, record.probeStartedAt?.timeIntervalSince1970,
                                     record.lastError, record.updatedAt.timeIntervalSince1970])
    }
}
