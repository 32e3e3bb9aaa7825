import Foundation
import WfloCore

/// What the executor tells whoever watches a run (the CLI prints it). Everything here is
/// also in the journal; the observer is for people, the journal is the truth.
public enum RunProgress: Sendable, Hashable {
    case runStarted(runID: String, workflow: String, budget: Money?)
    case runResumed(runID: String, completedSteps: Int, unsettledAttempts: Int)
    case stepStarted(stepID: String, type: StepType, model: String?, attempt: Int, reserved: Money)
    case stepCompleted(stepID: String, cost: Money, usage: TokenUsage?, seconds: Double)
    case stepReplayed(stepID: String)
    /// Served from the LLM response cache: no call, nothing charged; `saved` at current prices.
    case stepCacheHit(stepID: String, saved: Money)
    case stepRetrying(stepID: String, attempt: Int, delaySeconds: Double, error: String)
    case stepFailed(stepID: String, error: String)
    case stepRefused(stepID: String, message: String)
    case budgetAlert(percent: Int, committed: Money, budget: Money)
    /// A step waits for a human decision; the request is durable in the journal.
    case approvalWaiting(ApprovalRecord)
    /// The decision arrived (from any process sharing the journal, or the deadline).
    case approvalDecided(ApprovalRecord)
    /// A person or deadline said no: the step never ran.
    case stepRejected(stepID: String, message: String)
    /// Not run: a false `if:`, a skipped dependency, or a switch that chose another case.
    case stepSkipped(stepID: String, reason: String)
    /// A `sleep` step waits until `until` (journaled: a restart waits only the rest).
    case stepSleeping(stepID: String, until: Date)
    /// An agent's next turn did not fit on its model: it goes on with a cheaper fallback.
    case agentFallback(stepID: String, turn: Int, from: String, to: String, reason: String)
    /// `wflo cancel` (or the run's timeout) is stopping the run.
    case runStopping(reason: String)
    case runFinished(status: RunStatus)
}

/// Receives ``RunProgress`` as it happens. Called from several tasks; must be quick.
public protocol RunObserver: Sendable {
    func observe(_ progress: RunProgress)
}

/// An observer that ignores everything.
public struct SilentObserver: RunObserver {
    public init() {}
    public func observe(_ progress: RunProgress) {}
}
