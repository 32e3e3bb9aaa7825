import Foundation

/// What an entry of a run's event log records. Raw values are the text the journal stores
/// (`events.kind`); they never change, so journals written by earlier versions read back as is.
///
/// Every kind wflo writes is listed here: the engine, the stores and the reports name events by
/// case, never by string.
public enum JournalEventKind: String, Sendable, Hashable, Codable, CaseIterable {
    // The run.
    case runStarted = "run_started"
    case runResumed = "run_resumed"
    case budgetChanged = "budget_changed"
    case budgetAlert = "budget_alert"
    case cancelRequested = "cancel_requested"
    case attemptsUnsettled = "attempts_unsettled"
    /// `wflo gc` removed the run's steps and events (this one stays, saying what went and when).
    case runCollected = "run_collected"
    /// `wflo fork`: the run started from another run's results (`from_run`, `from_step`, the steps reused).
    case runForked = "run_forked"
    /// A queued run's first start journaled its root span's W3C `traceparent` here (its `run_started`
    /// was written by `submit`, before any trace existed), so a later resume continues the same trace.
    case runTraced = "run_traced"
    // A run's status as ``RunStatus`` set it (``run(_:)``).
    case runQueued = "run_queued"
    case runRunning = "run_running"
    case runCompleted = "run_completed"
    case runFailed = "run_failed"
    case runBudgetExceeded = "run_budget_exceeded"
    case runWaitingApproval = "run_waiting_approval"
    case runRejected = "run_rejected"
    case runCancelled = "run_cancelled"
    // Steps and their attempts.
    case stepStarted = "step_started"
    case stepCompleted = "step_completed"
    case stepFailed = "step_failed"
    case stepFailureAllowed = "step_failure_allowed"
    case stepRefused = "step_refused"
    case stepRejected = "step_rejected"
    case stepSkipped = "step_skipped"
    case attemptSucceeded = "attempt_succeeded"
    case attemptFailed = "attempt_failed"
    case retryScheduled = "retry_scheduled"
    case forEachStarted = "for_each_started"
    case sleepStarted = "sleep_started"
    case workflowStarted = "workflow_started"
    case agentStarted = "agent_started"
    case agentModelFallback = "agent_model_fallback"
    /// A durable function's call position and the step it asked for there (WfloKit), for the
    /// non-determinism check on resume.
    case durableCall = "durable_call"
    // Approvals.
    case approvalRequested = "approval_requested"
    case approvalDecided = "approval_decided"

    /// The event a run's status change writes (`run_completed`, `run_failed`, …).
    public static func run(_ status: RunStatus) -> JournalEventKind {
        switch status {
        case .queued: .runQueued
        case .running: .runRunning
        case .completed: .runCompleted
        case .failed: .runFailed
        case .budgetExceeded: .runBudgetExceeded
        case .waitingApproval: .runWaitingApproval
        case .rejected: .runRejected
        case .cancelled: .runCancelled
        }
    }

    /// The event that settles an attempt: the step's result when the attempt decides the step,
    /// else the attempt's own.
    public static func settling(stepStatus: StepStatus?, succeeded: Bool) -> JournalEventKind {
        switch stepStatus {
        case .completed?: .stepCompleted
        case _?: .stepFailed
        case nil: succeeded ? .attemptSucceeded : .attemptFailed
        }
    }
}
