import Foundation
import GRDB
import WfloCore

/// A row of `steps` (primary key `run_id`, `step_id`), as the journal reads it.
enum StepRow {
    /// The record of a row selected as `run_id, step_id, type, status, output, error, model,
    /// started_at, finished_at`, read by position (a report reads every step of a run; naming
    /// each column looked it up per row).
    /// - Throws: `StoreError(.corrupt)` naming the column when a cell does not parse.
    static func record(positional row: Row) throws -> StepRecord {
        let output: String? = try row.decode(atIndex: 4)
        let started: Double? = try row.decode(atIndex: 7)
        let finished: Double? = try row.decode(atIndex: 8)
        return StepRecord(runID: try row.decode(atIndex: 0), stepID: try row.decode(atIndex: 1),
                          type: try JournalCells.enumeration(try row.decode(String.self, atIndex: 2), "steps.type"),
                          status: try JournalCells.enumeration(try row.decode(String.self, atIndex: 3), "steps.status"),
                          output: try output.map { try JournalCells.json($0, "steps.output") }, error: try row.decode(atIndex: 5),
                          model: try row.decode(atIndex: 6), startedAt: started.map(Date.init(timeIntervalSince1970:)),
                          finishedAt: finished.map(Date.init(timeIntervalSince1970:)))
    }
}
