import Foundation
import Logging
import Synchronization
import WfloCore
import WfloEngine

/// `--log-format json`: a run's progress as log records (one JSON object a line on standard error,
/// through ``WfloTelemetry/JSONLogHandler``) with `run_id` and `step_id`; the handler adds
/// `trace_id` and `span_id` of the span the event happened in. Messages are the engine's own,
/// which redact secrets before they reach any observer.
final class LogObserver: RunObserver {
    private let logger: Logger
    private let runID = Mutex<String?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    func observe(_ progress: RunProgress) {
        var metadata: Logger.Metadata = [:]
        let level: Logger.Level
        let message: String
        switch progress {
        case .runStarted(let id, let workflow, let budget):
            runID.withLock { $0 = id }
            (level, message) = (.info, "run started")
            metadata["workflow"] = .string(workflow)
            metadata["budget_usd"] = .string(budget?.description ?? "none")
        case .runResumed(let id, let completed, let unsettled):
            runID.withLock { $0 = id }
            (level, message) = (.info, "run resumed")
            metadata["completed_steps"] = .stringConvertible(completed)
            metadata["unsettled_attempts"] = .stringConvertible(unsettled)
        case .stepStarted(let id, let type, let model, let attempt, let reserved):
            (level, message) = (.info, "attempt started")
            metadata["step_id"] = .string(id)
            metadata["step_type"] = .string(type.rawValue)
            if let model { metadata["model"] = .string(model) }
            metadata["attempt"] = .stringConvertible(attempt)
            metadata["reserved_usd"] = .string(reserved.description)
        case .stepCompleted(let id, let cost, let usage, let seconds):
            (level, message) = (.info, "step completed")
            metadata["step_id"] = .string(id)
            metadata["cost_usd"] = .string(cost.description)
            if let usage {
                metadata["input_tokens"] = .stringConvertible(usage.inputTokens)
                metadata["output_tokens"] = .stringConvertible(usage.outputTokens)
            }
            metadata["seconds"] = .stringConvertible(seconds)
        case .stepCacheHit(let id, let saved):
            (level, message) = (.info, "step answered from the response cache")
            metadata["step_id"] = .string(id)
            metadata["saved_usd"] = .string(saved.description)
        case .stepReplayed(let id):
            (level, message) = (.info, "step replayed from the journal")
            metadata["step_id"] = .string(id)
        case .stepRetrying(let id, let attempt, let delay, let error):
            (level, message) = (.warning, "attempt failed; retrying")
            metadata["step_id"] = .string(id)
            metadata["attempt"] = .stringConvertible(attempt)
            metadata["delay_seconds"] = .stringConvertible(delay)
            metadata["error"] = .string(error)
        case .stepFailed(let id, let error):
            (level, message) = (.error, "step failed")
            metadata["step_id"] = .string(id)
            metadata["error"] = .string(error)
        case .stepRefused(let id, let refusal):
            (level, message) = (.warning, "step refused by a budget")
            metadata["step_id"] = .string(id)
            metadata["error"] = .string(refusal)
        case .budgetAlert(let percent, let committed, let budget):
            (level, message) = (.warning, "budget alert")
            metadata["percent"] = .stringConvertible(percent)
            metadata["committed_usd"] = .string(committed.description)
            metadata["budget_usd"] = .string(budget.description)
        case .approvalWaiting(let record):
            (level, message) = (.info, "waiting for approval")
            metadata["step_id"] = .string(record.stepID)
            metadata["request_id"] = .string(record.id)
        case .approvalDecided(let record):
            (level, message) = (.info, "approval decided")
            metadata["step_id"] = .string(record.stepID)
            metadata["request_id"] = .string(record.id)
            metadata["status"] = .string(record.status.rawValue)
            if let by = record.decidedBy { metadata["decided_by"] = .string(by) }
        case .stepRejected(let id, let reason):
            (level, message) = (.warning, "step rejected")
            metadata["step_id"] = .string(id)
            metadata["error"] = .string(reason)
        case .stepSkipped(let id, let reason):
            (level, message) = (.info, "step skipped")
            metadata["step_id"] = .string(id)
            metadata["reason"] = .string(reason)
        case .stepSleeping(let id, let until):
            (level, message) = (.info, "step sleeping")
            metadata["step_id"] = .string(id)
            metadata["until"] = .string(until.formatted(.iso8601))
        case .agentFallback(let id, let turn, let from, let to, let reason):
            (level, message) = (.warning, "agent fell back to another model")
            metadata["step_id"] = .string(id)
            metadata["turn"] = .stringConvertible(turn)
            metadata["from"] = .string(from)
            metadata["to"] = .string(to)
            metadata["reason"] = .string(reason)
        case .runStopping(let reason):
            (level, message) = (.warning, "run stopping")
            metadata["reason"] = .string(reason)
        case .runFinished(let status):
            (level, message) = (.info, "run finished")
            metadata["status"] = .string(status.rawValue)
        }
        if let id = runID.withLock({ $0 }) { metadata["run_id"] = .string(id) }
        logger.log(level: level, "\(message)", metadata: metadata)
    }
}
