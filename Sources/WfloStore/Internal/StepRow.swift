import Foundation
import GRDB
import WfloCore

/// A row of `steps` (primary key `run_id`, `step_id`).
struct StepRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "steps"

    var runID: String
    var stepID: String
    var type: String
    var status: String
    var output: String?
    var error: String?
    var model: String?
    var startedAt: Double?
    var finishedAt: Double?

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case stepID = "step_id"
        case type, status, output, error, model
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    /// Read by column name, not through `Decodable`: a 100k-step run's report reads 100k of these.
    init(row: Row) throws {
        runID = try row.decode(forColumn: "run_id")
        stepID = try row.decode(forColumn: "step_id")
        type = try row.decode(forColumn: "type")
        status = try row.decode(forColumn: "status")
        output = try row.decode(forColumn: "output")
        error = try row.decode(forColumn: "error")
        model = try row.decode(forColumn: "model")
        startedAt = try row.decode(forColumn: "started_at")
        finishedAt = try row.decode(forColumn: "finished_at")
    }

    /// The upsert statement's arguments, in the column order of `Statements.upsertStep`.
    static func upsertArguments(_ step: StepRecord) -> StatementArguments {
        [step.runID, step.stepID, step.type.rawValue, step.status.rawValue, step.output?.encoded(), step.error, step.model,
         step.startedAt?.timeIntervalSince1970, step.finishedAt?.timeIntervalSince1970]
    }

    /// - Throws: `StoreError(.corrupt)` naming the column when a cell does not parse.
    func record() throws -> StepRecord {
        StepRecord(runID: runID, stepID: stepID, type: try JournalCells.enumeration(type, "steps.type"), status: try JournalCells.enumeration(status, "steps.status"),
                   output: try output.map { try JournalCells.json($0, "steps.output") }, error: error, model: model,
                   startedAt: startedAt.map(Date.init(timeIntervalSince1970:)),
                   finishedAt: finishedAt.map(Date.init(timeIntervalSince1970:)))
    }
}
