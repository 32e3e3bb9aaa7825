import Foundation
import GRDB
import WfloCore

/// A row of `attempts`: one try at a step, holding its reservation and, once settled, its cost.
struct AttemptRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "attempts"

    var id: Int64
    var runID: String
    var stepID: String
    var number: Int
    var status: String
    var model: String?
    var reservedUSD: String
    var costUSD: String?
    var usage: String?
    var error: String?
    var startedAt: Double
    var finishedAt: Double?
    var cacheHit: Bool
    var savedUSD: String?
    var feesUSD: String?
    var flags: String?

    enum CodingKeys: String, CodingKey {
        case id
        case runID = "run_id"
        case stepID = "step_id"
        case number, status, model
        case reservedUSD = "reserved_usd"
        case costUSD = "cost_usd"
        case usage, error
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case cacheHit = "cache_hit"
        case savedUSD = "saved_usd"
        case feesUSD = "fees_usd"
        case flags
    }

    /// Read by column name, not through `Decodable` (a long run has an attempt per paid call).
    init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        runID = try row.decode(forColumn: "run_id")
        stepID = try row.decode(forColumn: "step_id")
        number = try row.decode(forColumn: "number")
        status = try row.decode(forColumn: "status")
        model = try row.decode(forColumn: "model")
        reservedUSD = try row.decode(forColumn: "reserved_usd")
        costUSD = try row.decode(forColumn: "cost_usd")
        usage = try row.decode(forColumn: "usage")
        error = try row.decode(forColumn: "error")
        startedAt = try row.decode(forColumn: "started_at")
        finishedAt = try row.decode(forColumn: "finished_at")
        cacheHit = try row.decode(forColumn: "cache_hit")
        savedUSD = try row.decode(forColumn: "saved_usd")
        feesUSD = try row.decode(forColumn: "fees_usd")
        flags = try row.decode(forColumn: "flags")
    }

    /// - Throws: `StoreError(.corrupt)` naming the column when a cell does not parse.
    func record() throws -> AttemptRecord {
        try JournalCells.attempt(id: id, runID: runID, stepID: stepID, number: number, status: status, model: model,
                                 reserved: reservedUSD, cost: costUSD, usage: usage, error: error, startedAt: startedAt,
                                 finishedAt: finishedAt, cacheHit: cacheHit, saved: savedUSD, fees: feesUSD, flags: flags)
    }
}
