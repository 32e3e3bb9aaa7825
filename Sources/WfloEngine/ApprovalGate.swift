import Foundation
import Synchronization
import WfloCore

/// Set once the run has decided to stop (a failure, a rejection, the budget): steps waiting for a
/// decision stop waiting and leave their requests pending.
final class RunSignal: Sendable {
    private let stopped = Mutex(false)

    func stop() { stopped.withLock { $0 = true } }
    var isStopped: Bool { stopped.withLock { $0 } }
}

/// Files approval requests and waits for their decisions (invariant 4).
///
/// The decision is read from the journal, never from memory, so whoever decides — `wflo approve`
/// in another terminal, the interactive prompt, the deadline — the step acts on the one durable
/// decision, and only after it is committed.
struct ApprovalGate: Sendable {
    enum Result: Sendable {
        case approved(ApprovalRecord)
        case rejected(ApprovalRecord)
        case expired(ApprovalRecord)
        /// Still pending: not waiting (`--no-wait`), or the run is stopping.
        case waiting(ApprovalRecord)
    }

    let configuration: ExecutorConfiguration
    let signal: RunSignal
    /// The workflow's `notify:` webhooks, told of each new request (with the journal's hooks).
    var notify: [String] = []

    /// Files `request` (or finds the one filed before a restart) and waits for its decision:
    /// each time the configuration's ``JournalNotifications`` say it may have come, the request
    /// is read again; its deadline is judged on the configuration's clock.
    func decide(_ request: ApprovalRecord, stepType: StepType) async throws -> Result {
        let store = configuration.store
        let notifications = configuration.journalNotifications
        var current = try await store.requestApproval(request, stepType: stepType, notify: notify)
        if current.status == .pending {
            configuration.observer.observe(.approvalWaiting(current))
        }
        while current.status == .pending {
            if let deadline = current.deadline, configuration.now() >= deadline {
                switch try await store.decideApproval(ApprovalDecision(requestID: current.id, verdict: .timeout,
                                                                       by: approvalTimeoutDecider, at: configuration.now())) {
                case .recorded(let record), .alreadyDecided(let record): current = record
                }
                continue
            }
            guard case .wait = configuration.approvals, !signal.isStopped, !Task.isCancelled else {
                return .waiting(current)
            }
            try? await notifications.waitForDecision(requestID: current.id, runID: current.runID, until: current.deadline)
            guard let fresh = try await store.approval(id: current.id) else {
                throw StoreError(.notFound, "approval request \(current.id) disappeared from the journal")
            }
            current = fresh
        }
        configuration.observer.observe(.approvalDecided(current))
        switch current.status {
        case .approved: return .approved(current)
        case .rejected: return .rejected(current)
        case .expired, .pending: return .expired(current)
        }
    }
}
