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
        let usage = try usage.map { text -> TokenUsage in
            guard let usage = TokenUsage(json: try JournalCells.json(text, "attempts.usage")) else {
                throw StoreError(.corrupt, "attempts.usage of attempt \(id) is not a token usage object: \(text)")
            }
            return usage
        }
        return AttemptRecord(id: id, runID: runID, stepID: stepID, number: number,
                             status: try JournalCells.enumeration(status, "attempts.status"), model: model,
                             reserved: try JournalCells.money(reservedUSD, "attempts.reserved_usd"),
                             cost: try costUSD.map { try JournalCells.money($0, "attempts.cost_usd") }, usage: usage, error: error,
                             startedAt: Date(timeIntervalSince1970: startedAt),
                             finishedAt: finishedAt.map(Date.init(timeIntervalSince1970:)), cacheHit: cacheHit,
                             saved: try savedUSD.map { try JournalCells.money($0, "attempts.saved_usd") },
                             fees: try feesUSD.map { try JournalCells.money($0, "attempts.fees_usd") },
                             flags: try flags.map { text -> [String] in
                                 guard let list = try JournalCells.json(text, "attempts.flags").arrayValue?.compactMap(\.stringValue) else {
                                     throw StoreError(.corrupt, "attempts.flags of attempt \(id) is not a list of flags: \(text)")
                                 }
                                 return list
                             } ?? [])
    }
}
