import Foundation
import WfloCore

/// Approval requests: find one by id, prefix or `RUN/STEP`, list them, decide them. The one
/// place a decision is authorized and recorded, for the `approve`/`reject` commands and the
/// interactive prompt alike (and later the API and signed links). It sees the journal only through
/// `JournalStore`, so a second store needs nothing new here.
public struct ApprovalService: Sendable {
    public let store: any JournalStore
    public let now: @Sendable () -> Date

    public init(store: any JournalStore, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
    }

    /// What became of a decision.
    public enum Outcome: Sendable {
        /// Recorded: this was the first decision.
        case recorded(ApprovalRecord)
        /// Not recorded: the request was decided first by someone else (the record says by whom).
        case alreadyDecided(ApprovalRecord)
        /// Not recorded: the decider is not among the request's approvers.
        case notAnApprover(ApprovalRecord, who: String)
    }

    /// The request a reference names: its id, a unique prefix of it, or `RUN/STEP`.
    /// - Throws: ``AppError`` `.notFound` with the store's message.
    public func find(_ reference: String) async throws -> ApprovalRecord {
        do {
            let id = try await store.resolveApprovalID(reference)
            guard let request = try await store.approval(id: id) else { throw StoreError(.notFound, "approval request \(id) is gone") }
            return request
        } catch let error as StoreError {
            throw AppError(.notFound, error.message)
        }
    }

    /// Requests oldest first: of one run (id or prefix) or all, pending ones unless `includeDecided`.
    public func list(run: String?, includeDecided: Bool) async throws -> [ApprovalRecord] {
        var runID: String?
        if let run { runID = try await RunService.resolveRun(run, in: store) }
        return try await store.approvals(runID: runID, status: includeDecided ? nil : .pending)
    }

    /// Decides the request a reference names, as the overload taking the request does.
    public func decide(_ reference: String, verdict: ApprovalDecision.Verdict, comment: String?, by who: String,
                       channel: String? = nil) async throws -> Outcome {
        try await decide(try await find(reference), verdict: verdict, comment: comment, by: who, channel: channel)
    }

    /// Records a decision if `who` may decide `request` (``ApprovalRecord/allows(_:)``); the first
    /// decision wins, atomically in the journal.
    /// - Parameter channel: how the decision came (`api`, `dashboard`, `link`): recorded as
    ///   "WHO via CHANNEL", so the journal says who decided through which channel. The approvers
    ///   list is checked against `who` alone.
    public func decide(_ request: ApprovalRecord, verdict: ApprovalDecision.Verdict, comment: String?, by who: String,
                       channel: String? = nil) async throws -> Outcome {
        guard request.allows(who) else { return .notAnApprover(request, who: who) }
        let recorded = channel.map { "\(who) via \($0)" } ?? who
        switch try await store.decideApproval(ApprovalDecision(requestID: request.id, verdict: verdict, by: recorded, comment: comment, at: now())) {
        case .recorded(let record): return .recorded(record)
        case .alreadyDecided(let record): return .alreadyDecided(record)
        }
    }

    /// Leaves a run whose process stops while approval requests are pending as `waiting_approval`
    /// (Ctrl-C at the prompt), with `message` saying what to do; `wflo resume` continues it once
    /// they are decided.
    public func leaveWaiting(runID: String, message: String) async throws {
        try await store.updateRun(id: runID, status: .waitingApproval, outputs: nil, error: message, at: now())
    }
}

extension ApprovalService {
    /// What a signed link (``ApprovalLinks``) did.
    public enum LinkOutcome: Sendable {
        case decided(Outcome)
        /// The link does not make a decision (altered, expired, an unknown decision): why.
        case refused(String)
    }

    /// Decides the request a signed link from an approval notification names, when the link is
    /// good: recorded as decided by ``ApprovalLinks/decider``. The first decision wins, as for
    /// every channel; a request restricted to named `approvers` cannot be decided by a link (a
    /// link does not say who clicked it).
    public func decide(link approvalID: String, decision: String, expires: String, signature: String, comment: String?) async throws -> LinkOutcome {
        let links = try await ApprovalLinks.load(from: store)
        if let problem = links.problem(approvalID: approvalID, decision: decision, expires: expires, signature: signature, now: now()) {
            return .refused(problem)
        }
        guard let request = try await store.approval(id: approvalID), let verdict = ApprovalDecision.Verdict(rawValue: decision) else {
            return .refused("approval request \(approvalID) is not in this journal")
        }
        return .decided(try await decide(request, verdict: verdict, comment: comment, by: ApprovalLinks.decider))
    }
}
