import Foundation
import GRDB
import WfloCore

/// A row of `events`, the append-only log; `sequence` orders a run's events.
struct EventRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "events"

    var sequence: Int64
    var runID: String
    var stepID: String?
    var kind: String
    var data: String
    var at: Double

    enum CodingKeys: String, CodingKey {
        case sequence
        case runID = "run_id"
        case stepID = "step_id"
        case kind, data, at
    }

    /// Read by column name, not through `Decodable` (a long run has an event per step).
    init(row: Row) throws {
        sequence = try row.decode(forColumn: "sequence")
        runID = try row.decode(forColumn: "run_id")
        stepID = try row.decode(forColumn: "step_id")
        kind = try row.decode(forColumn: "kind")
        data = try row.decode(forColumn: "data")
        at = try row.decode(forColumn: "at")
    }

    /// Appends `event` as its run's next one (its `sequence` is ignored: the run's last plus one,
    /// read under the transaction's write lock).
    static func insert(_ db: Database, _ event: EventRecord) throws {
        try db.cachedStatement(sql: """
            INSERT INTO events (run_id, sequence, step_id, kind, data, at)
            VALUES (?1, COALESCE((SELECT MAX(sequence) FROM events WHERE run_id = ?1), 0) + 1, ?2, ?3, ?4, ?5)
            """).execute(arguments: [event.runID, event.stepID, event.kind.rawValue, event.data.encoded(), event.at.timeIntervalSince1970])
    }

    /// - Throws: `StoreError(.corrupt)` when `data` does not parse.
    func record() throws -> EventRecord {
        EventRecord(sequence: sequence, runID: runID, stepID: stepID, kind: try JournalCells.enumeration(kind, "events.kind"), data: try JournalCells.json(data, "events.data"),
                    at: Date(timeIntervalSince1970: at))
    }
}
