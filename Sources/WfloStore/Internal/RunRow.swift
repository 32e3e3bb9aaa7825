import Foundation
import GRDB
import WfloCore

/// A row of `runs` as stored: money as decimal TEXT, JSON as text, dates as REAL seconds since 1970.
///
/// `settled_usd` and `reserved_usd` are the run's ledger, kept up to date in the same
/// transactions that change its attempts, so the budget check reads this one row.
struct RunRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "runs"

    var id: String
    var workflowName: String
    var workflowPath: String
    var workflowSource: String
    var inputs: String
    var budgetUSD: String?
    var settledUSD: String
    var reservedUSD: String
    var status: String
    var outputs: String?
    var error: String?
    var createdAt: Double
    var updatedAt: Double
    var queue: String?
    var tags: String?
    var trigger: String?
    var concurrencyKey: String?
    var concurrencyLimit: Int?
    var concurrencyOnConflict: String?

    enum CodingKeys: String, CodingKey {
        case id
        case workflowName = "workflow_name"
        case workflowPath = "workflow_path"
        case workflowSource = "workflow_source"
        case inputs
        case budgetUSD = "budget_usd"
        case settledUSD = "settled_usd"
        case reservedUSD = "reserved_usd"
        case status, outputs, error
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case queue
        case tags
        case trigger
        case concurrencyKey = "concurrency_key"
        case concurrencyLimit = "concurrency_limit"
        case concurrencyOnConflict = "concurrency_on_conflict"
    }

    /// Read by column name without the `Decodable` machinery, which was most of a run read's
    /// cost on the server's `GET /v1/runs/{id}` (perf, Benchmarks/server).
    init(row: Row) throws {
        id = try Self.required(row, "id")
        workflowName = try Self.required(row, "workflow_name")
        workflowPath = try Self.required(row, "workflow_path")
        workflowSource = try Self.required(row, "workflow_source")
        inputs = try Self.required(row, "inputs")
        budgetUSD = try Self.optional(row, "budget_usd")
        settledUSD = try Self.required(row, "settled_usd")
        reservedUSD = try Self.required(row, "reserved_usd")
        status = try Self.required(row, "status")
        outputs = try Self.optional(row, "outputs")
        error = try Self.optional(row, "error")
        createdAt = try Self.required(row, "created_at")
        updatedAt = try Self.required(row, "updated_at")
        queue = try Self.optional(row, "queue")
        tags = try Self.optional(row, "tags")
        trigger = try Self.optional(row, "trigger")
        concurrencyKey = try Self.optional(row, "concurrency_key")
        concurrencyLimit = try Self.optional(row, "concurrency_limit")
        concurrencyOnConflict = try Self.optional(row, "concurrency_on_conflict")
    }

    /// A NOT NULL column's value; a missing or NULL one is a damaged journal, said as such.
    private static func required<Value: DatabaseValueConvertible>(_ row: Row, _ column: String) throws -> Value {
        guard let value = try optional(row, column) as Value? else {
            throw StoreError(.corrupt, "the journal's runs row has no \(column): the file is damaged or was changed by hand")
        }
        return value
    }

    /// A column's value, nil for NULL; a value of another type is a damaged journal (GRDB's own
    /// subscript would stop the process on it).
    private static func optional<Value: DatabaseValueConvertible>(_ row: Row, _ column: String) throws -> Value? {
        let cell: DatabaseValue = row[column] ?? .null
        if cell.isNull { return nil }
        guard let value = Value.fromDatabaseValue(cell) else {
            throw StoreError(.corrupt, "the journal's runs row holds \(cell) in \(column), which is not of its type: the file is damaged or was changed by hand")
        }
        return value
    }

    /// What reads a whole run: its `runs` row with the workflow's text and inputs from `run_documents`
    /// (aliases `r` and `d`; `d` adds only `run_id`, `workflow_source` and `inputs`, so unqualified
    /// run columns stay unambiguous). Add `WHERE …`/`ORDER BY …` after it.
    static let selectAll = "SELECT r.*, d.workflow_source, d.inputs FROM runs r JOIN run_documents d ON d.run_id = r.id"

    /// Writes a new run: its row in `runs` and its workflow text and inputs in `run_documents`.
    ///
    /// The two large cells live apart from `runs` because SQLite rewrites a whole row, overflow
    /// pages included, whenever an update changes its size: with the text in the row, every
    /// reservation, settlement and heartbeat of a long run copied the whole workflow again.
    static func insert(_ db: Database, _ run: RunRecord) throws {
        try db.cachedStatement(sql: """
            INSERT INTO runs (id, workflow_name, workflow_path, budget_usd, status, outputs, error, created_at, updated_at, tags)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [run.id, run.workflowName, run.workflowPath, run.budget?.description, run.status.rawValue,
                                     run.outputs?.encoded(), run.error, run.createdAt.timeIntervalSince1970,
                                     run.updatedAt.timeIntervalSince1970, JournalCells.tagsCell(run.tags)])
        try db.cachedStatement(sql: "INSERT INTO run_documents (run_id, workflow_source, inputs) VALUES (?, ?, ?)")
            .execute(arguments: [run.id, run.workflowSource, run.inputs.encoded()])
    }

    /// - Throws: `StoreError(.corrupt)` naming the column when a cell does not parse.
    func record() throws -> RunRecord {
        RunRecord(id: id, workflowName: workflowName, workflowPath: workflowPath, workflowSource: workflowSource,
                  inputs: try JournalCells.json(inputs, "runs.inputs"), budget: try budgetUSD.map { try JournalCells.money($0, "runs.budget_usd") },
                  status: try JournalCells.enumeration(status, "runs.status"), outputs: try outputs.map { try JournalCells.json($0, "runs.outputs") },
                  error: error, createdAt: Date(timeIntervalSince1970: createdAt), updatedAt: Date(timeIntervalSince1970: updatedAt),
                  queue: queue, tags: try JournalCells.tags(tags, "runs.tags"), trigger: try JournalCells.trigger(trigger, "runs.trigger"),
                  concurrency: try JournalCells.concurrency(key: concurrencyKey, limit: concurrencyLimit, onConflict: concurrencyOnConflict))
    }
}
