import Foundation
import WfloApp
import WfloCore

/// How the API shows the journal's records: snake_case keys, money as exact decimal strings,
/// times as ISO 8601 UTC. One place, so the API, the events stream and the OpenAPI document agree.
enum JSONShapes {
    /// `2026-12-03T21:51:29.123Z`: one format style for every time, not an ISO8601DateFormatter
    /// made per call (that was most of `GET /v1/runs/{id}`'s CPU; perf, release, Benchmarks/server).
    /// The style cuts to the millisecond where the formatter rounded to the nearest one: the date
    /// is rounded here first (plus 1 µs, above a Double's step at these magnitudes, so the cut keeps it).
    static func time(_ date: Date) -> JSONValue {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        return .string(Date(timeIntervalSince1970: milliseconds / 1000 + 0.000_001).formatted(timeStyle))
    }

    static let timeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    static func run(_ listing: ReportService.RunListing) -> JSONValue {
        let run = listing.run
        var object: [String: JSONValue] = [
            "run_id": .string(run.id),
            "workflow": .string(run.workflowName),
            "status": .string(listing.shownStatus),
            "budget_usd": run.budget.map { .string($0.description) } ?? .null,
            "spent_usd": .string(listing.ledger.settled.description),
            "reserved_usd": .string(listing.ledger.reserved.description),
            "created_at": time(run.createdAt),
            "updated_at": time(run.updatedAt),
            "tags": .object(run.tags.mapValues { .string($0) }),
            "error": run.error.map { .string($0) } ?? .null,
            "queue": run.queue.map { .string($0) } ?? .null,
        ]
        object["outputs"] = run.outputs ?? .null
        // What started it (a schedule's tick, a webhook) and the concurrency key it holds, as `wflo runs --json` shows them.
        object["trigger"] = run.trigger?.json ?? .null
        object["concurrency"] = run.concurrency?.json ?? .null
        return .object(object)
    }

    static func approval(_ record: ApprovalRecord) -> JSONValue {
        [
            "id": .string(record.id),
            "run_id": .string(record.runID),
            "step_id": .string(record.stepID),
            "status": .string(record.status.rawValue),
            "message": .string(record.message),
            "details": record.details,
            "worst_case_usd": record.worstCase.map { .string($0.description) } ?? .null,
            "approvers": .array(record.settings.approvers.map { .string($0) }),
            "requested_at": time(record.requestedAt),
            "deadline": record.deadline.map(time) ?? .null,
            "decided_by": record.decidedBy.map { .string($0) } ?? .null,
            "decided_at": record.decidedAt.map(time) ?? .null,
            "comment": record.comment.map { .string($0) } ?? .null,
        ]
    }
}
