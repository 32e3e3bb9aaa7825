import Foundation
import GRDB
import WfloCore

/// Approval requests (invariant 4): each write is one `BEGIN IMMEDIATE` transaction, so two
/// processes deciding the same request at once are serialized by SQLite's write lock and the
/// second one reads the first one's decision.
extension SQLiteJournalStore {
    public func requestApproval(_ request: ApprovalRecord, stepType: String) async throws -> ApprovalRecord {
        try write { db in
            if let existing = try ApprovalRow.fetchOne(db, sql: "SELECT * FROM approvals WHERE run_id = ? AND step_id = ?",
                                                       arguments: [request.runID, request.stepID]) {
                return try existing.record()
            }
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM runs WHERE id = ?", arguments: [request.runID]) == true else {
                throw StoreError(.notFound, "run \(request.runID) is not in the journal at \(path)")
            }
            try ApprovalRow.insert(db, request)
            try db.execute(sql: """
                INSERT INTO steps (run_id, step_id, type, status, started_at) VALUES (?, ?, ?, 'waiting_approval', ?)
                ON CONFLICT (run_id, step_id) DO UPDATE SET status = 'waiting_approval', error = NULL
                """, arguments: [request.runID, request.stepID, stepType, request.requestedAt.timeIntervalSince1970])
            var data: [String: JSONValue] = ["request_id": .string(request.id), "message": .string(request.message)]
            if let worstCase = request.worstCase { data["worst_case_usd"] = .string(worstCase.description) }
            try EventRow.insert(db, EventRecord(runID: request.runID, stepID: request.stepID, kind: .approvalRequested,
                                                data: .object(data), at: request.requestedAt))
            return request
        }
    }

    public func decideApproval(_ decision: ApprovalDecision) async throws -> ApprovalDecisionOutcome {
        try write { db in
            guard let row = try ApprovalRow.fetchOne(db, sql: "SELECT * FROM approvals WHERE id = ?", arguments: [decision.requestID]) else {
                throw StoreError(.notFound, "no approval request \(decision.requestID) in the journal at \(path); list them with `wflo approvals`")
            }
            var request = try row.record()
            guard request.status == .pending else { return .alreadyDecided(request) }
            let late = request.deadline.map { decision.at >= $0 } ?? false
            if decision.verdict == .timeout && !late {
                // Asked too early (clocks of two processes differ): nothing to do yet.
                return .alreadyDecided(request)
            }
            if late {
                request.status = switch request.settings.onTimeout {
                case .approve: .approved
                case .reject: .rejected
                case .fail: .expired
                }
                request.decidedBy = approvalTimeoutDecider
                request.comment = "nobody decided within \(DurationText.describe(request.settings.timeout ?? 0)); on_timeout: \(request.settings.onTimeout.rawValue)"
                request.decidedAt = request.deadline
            } else {
                request.status = decision.verdict == .approve ? .approved : .rejected
                request.decidedBy = decision.by
                request.comment = decision.comment
                request.decidedAt = decision.at
            }
            try db.execute(sql: "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, comment = ? WHERE id = ? AND status = 'pending'",
                           arguments: [request.status.rawValue, request.decidedBy, request.decidedAt?.timeIntervalSince1970, request.comment,
                                       request.id])
            var data: [String: JSONValue] = ["request_id": .string(request.id), "decision": .string(request.status.rawValue),
                                             "by": .string(request.decidedBy ?? "")]
            if let comment = request.comment { data["comment"] = .string(comment) }
            try EventRow.insert(db, EventRecord(runID: request.runID, stepID: request.stepID, kind: .approvalDecided,
                                                data: .object(data), at: request.decidedAt ?? decision.at))
            return late ? .alreadyDecided(request) : .recorded(request)
        }
    }

    public func approval(id: String) async throws -> ApprovalRecord? {
        try read { db in try ApprovalRow.fetchOne(db, sql: "SELECT * FROM approvals WHERE id = ?", arguments: [id])?.record() }
    }

    public func approvals(runID: String?, status: ApprovalStatus?) async throws -> [ApprovalRecord] {
        try read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let runID {
                conditions.append("run_id = ?")
                arguments += [runID]
            }
            if let status {
                conditions.append("status = ?")
                arguments += [status.rawValue]
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try ApprovalRow.fetchAll(db, sql: "SELECT * FROM approvals \(filter) ORDER BY requested_at, rowid", arguments: arguments)
                .map { try $0.record() }
        }
    }

    public func resolveApprovalID(_ reference: String) async throws -> String {
        let trimmed = reference.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw StoreError(.notFound, "no approval id given; list them with `wflo approvals`") }
        if let slash = trimmed.firstIndex(of: "/") {
            let runPart = String(trimmed[..<slash])
            let stepID = String(trimmed[trimmed.index(after: slash)...])
            let runID = try await resolveRunID(prefix: runPart)
            guard let id = try read({ db in
                try String.fetchOne(db, sql: "SELECT id FROM approvals WHERE run_id = ? AND step_id = ?", arguments: [runID, stepID])
            }) else {
                throw StoreError(.notFound, "run \(runID) has no approval request for step '\(stepID)'; list them with `wflo approvals --run \(runID)`")
            }
            return id
        }
        return try uniqueID(prefix: trimmed, table: "approvals", order: "requested_at DESC, rowid DESC", noun: "approval request",
                            hint: "list them with `wflo approvals`, or name it RUN/STEP")
    }

}
