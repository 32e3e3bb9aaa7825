import Foundation
import GRDB
import WfloCore

/// Approval requests (invariant 4): each write is one `BEGIN IMMEDIATE` transaction, so two
/// processes deciding the same request at once are serialized by SQLite's write lock and the
/// second one reads the first one's decision. What a decision writes is
/// ``ApprovalRecord/deciding(_:)``'s.
extension SQLiteJournalStore {
    public func requestApproval(_ request: ApprovalRecord, stepType: StepType, notify: [String]) async throws -> ApprovalRecord {
        try await write { db in
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
                """, arguments: [request.runID, request.stepID, stepType.rawValue, request.requestedAt.timeIntervalSince1970])
            try EventRow.insert(db, .approvalRequested(request))
            let hooks = try String.fetchAll(db, sql: "SELECT url FROM notify_hooks ORDER BY created_at, url")
            for webhook in ApprovalNotification.webhooks(notify: notify, hooks: hooks) {
                try db.execute(sql: """
                    INSERT INTO approval_notifications (id, approval_id, run_id, webhook, created_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (approval_id, webhook) DO NOTHING
                    """, arguments: [ApprovalNotification.makeID(), request.id, request.runID, webhook, request.requestedAt.timeIntervalSince1970])
            }
            return request
        }
    }

    public func decideApproval(_ decision: ApprovalDecision) async throws -> ApprovalDecisionOutcome {
        try await write { db in
            guard let row = try ApprovalRow.fetchOne(db, sql: "SELECT * FROM approvals WHERE id = ?", arguments: [decision.requestID]) else {
                throw StoreError(.notFound, "no approval request \(decision.requestID) in the journal at \(path); list them with `wflo approvals`")
            }
            switch try row.record().deciding(decision) {
            case .unchanged(let request):
                return .alreadyDecided(request)
            case .decide(let request, let event, let outcome):
                try db.execute(sql: "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, comment = ? WHERE id = ? AND status = 'pending'",
                               arguments: [request.status.rawValue, request.decidedBy, request.decidedAt?.timeIntervalSince1970,
                                           request.comment, request.id])
                try EventRow.insert(db, event)
                return outcome
            }
        }
    }

    public func approval(id: String) async throws -> ApprovalRecord? {
        try await read { db in try ApprovalRow.fetchOne(db, sql: "SELECT * FROM approvals WHERE id = ?", arguments: [id])?.record() }
    }

    public func approvals(runID: String?, status: ApprovalStatus?) async throws -> [ApprovalRecord] {
        try await read { db in
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

    public func approvalID(runID: String, stepID: String) async throws -> String? {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT id FROM approvals WHERE run_id = ? AND step_id = ?", arguments: [runID, stepID])
        }
    }
}
