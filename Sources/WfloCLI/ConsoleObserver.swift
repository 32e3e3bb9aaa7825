import Foundation
import WfloCore
import WfloEngine

/// Prints a run's progress for a person: a line when a paid step starts, when any step
/// ends (with its cost), retries, refusals and budget alerts.
struct ConsoleObserver: RunObserver {
    func observe(_ progress: RunProgress) {
        switch progress {
        case .runStarted(let runID, let workflow, let budget):
            Console.err("Run \(runID) · \(workflow) · budget \(budget?.dollars() ?? "none (--no-budget)")\n")
        case .runResumed(let runID, let completed, let unsettled):
            var line = "Resuming run \(runID): \(completed) step\(completed == 1 ? "" : "s") already done"
            if unsettled > 0 { line += ", \(unsettled) attempt\(unsettled == 1 ? "" : "s") in flight at the crash kept charged at the worst case (unsettled)" }
            Console.err(line + "\n")
        case .stepStarted(let id, let type, let model, let attempt, let reserved):
            let again = attempt > 1 ? " attempt \(attempt)" : ""
            Console.err("  ▶ \(id)  \(type.rawValue)\(model.map { " " + $0 } ?? "")\(again)  reserved \(reserved.dollars())\n")
        case .stepCompleted(let id, let cost, let usage, let seconds):
            var line = "  ✓ \(id)  \(cost.dollars())"
            if let usage { line += "  \(usage.inputTokens) in / \(usage.outputTokens) out tokens" }
            line += "  " + DurationText.twoDecimals(seconds) + "s"
            Console.err(line + "\n")
        case .stepCacheHit(let id, let saved):
            Console.err("  ✓ \(id)  \(Money.zero.dollars())  from the response cache (saved \(saved.dollars()))\n")
        case .stepReplayed(let id):
            Console.err("  ✓ \(id)  (from the journal, not run again)\n")
        case .stepRetrying(let id, let attempt, let delay, let error):
            Console.err("  ↻ \(id)  attempt \(attempt) failed: \(error); retrying in \(String(format: "%.1f", delay))s\n")
        case .stepFailed(let id, let error):
            Console.err("  ✗ \(id)  failed: \(error)\n")
        case .stepRefused(let id, let message):
            Console.err("  ⊘ \(id)  \(message)\n")
        case .budgetAlert(let percent, let committed, let budget):
            if budget < committed {
                Console.err("  ! budget exceeded: \(committed.dollars()) spent of \(budget.dollars()) (usage_exceeded_reservation: the provider reported more than was reserved)\n")
            } else {
                Console.err("  ! budget \(percent)% reached: \(committed.dollars()) of \(budget.dollars())\n")
            }
        case .approvalWaiting:
            break  // ApprovalConsole prints the request with the commands to decide it.
        case .approvalDecided(let request):
            var line = "  ☑ \(request.stepID)  \(request.status.rawValue) by \(request.decidedBy ?? "someone")"
            if let comment = request.comment { line += ": \(comment)" }
            Console.err(line + "\n")
        case .stepRejected(let id, let message):
            Console.err("  ✗ \(id)  \(message); it did not run\n")
        case .stepSkipped(let id, let reason):
            Console.err("  ↷ \(id)  skipped: \(reason)\n")
        case .stepSleeping(let id, let until):
            let seconds = max(0, until.timeIntervalSinceNow)
            Console.err("  ⏸ \(id)  sleeping \(DurationText.describe(seconds)) (until \(until.formatted(.iso8601))); Ctrl-C and wflo resume keep the deadline\n")
        case .agentFallback(let id, let turn, let from, let to, let reason):
            Console.err("  ↘ \(id)  turn \(turn) falls back from \(from) to \(to): \(reason)\n")
        case .runStopping(let reason):
            Console.err("  ■ stopping: \(reason)\n")
        case .runFinished:
            break
        }
    }
}
