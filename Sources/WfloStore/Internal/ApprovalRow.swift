import Foundation
import GRDB
import WfloCore

/// A row of `approvals` (one per run and step).
struct ApprovalRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "approvals"

    var id: String
    var runID: String
    var stepID: String
    var status: String
    var message: String
    var details: String
    var worstCaseUSD: String?
    var approvers: String
    var timeoutSeconds: Double?
    var onTimeout: String
    var requestedAt: Double
    var decidedBy: String?
    var decidedAt: Double?
    var comment: String?

    enum CodingKeys: String, CodingKey {
        case id
        case runID = "run_id"
        case stepID = "step_id"
        case status, message, details
        case worstCaseUSD = "worst_case_usd"
        case approvers
        case timeoutSeconds = "timeout_seconds"
        case onTimeout = "on_timeout"
        case requestedAt = "requested_at"
        case decidedBy = "decided_by"
        case decidedAt = "decided_at"
        case comment
    }

    static func insert(_ db: Database, _ request: ApprovalRecord) throws {
        try db.cachedStatement(sql: """
            INSERT INTO approvals (id, run_id, step_id, status, message, details, worst_case_usd, approvers, timeout_seconds,
                                   on_timeout, requested_at, decided_by, decided_at, comment)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                request.id, request.runID, request.stepID, request.status.rawValue, request.message, request.details.encoded(),
                request.worstCase?.description, JSONValue.array(request.settings.approvers.map(JSONValue.string)).encoded(),
                request.settings.timeout, request.settings.onTimeout.rawValue, request.requestedAt.timeIntervalSince1970,
                request.decidedBy, request.decidedAt?.timeIntervalSince1970, request.comment,
            ])
    }

    /// - Throws: `StoreError(.corrupt)` naming the column when a cell does not parse.
    func record() throws -> ApprovalRecord {
        let approverList = try JournalCells.json(approvers, "approvals.approvers")
        guard case .array(let items) = approverList else {
            throw StoreError(.corrupt, "approvals.approvers holds '\(approvers)', not a JSON list; the journal was edited or is damaged")
        }
        let settings = ApprovalSettings(approvers: items.compactMap(\.stringValue), timeout: timeoutSeconds,
                                        onTimeout: try JournalCells.enumeration(onTimeout, "approvals.on_timeout"))
        return ApprovalRecord(id: id, runID: runID, stepID: stepID, status: try JournalCells.enumeration(status, "approvals.status"),
                              message: message, details: try JournalCells.json(details, "approvals.details"),
                              worstCase: try worstCaseUSD.map { try JournalCells.money($0, "approvals.worst_case_usd") },
                              settings: settings, requestedAt: Date(timeIntervalSince1970: requestedAt), decidedBy: decidedBy,
                              decidedAt: decidedAt.map(Date.init(timeIntervalSince1970:)), comment: comment)
    }
}
