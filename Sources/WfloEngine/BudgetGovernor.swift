import Foundation
import WfloCore

/// Holds a run to its budget (invariant 1 of DESIGN.md).
///
/// Before a paid call the governor asks the journal to reserve the call's worst-case cost;
/// the journal does the check and the insert in one write transaction, so parallel steps (and
/// other processes sharing the database) cannot race past the limit. A call that does not fit
/// is refused before any traffic, with the numbers. After each settlement the governor raises
/// the 50/80/95% alerts, each once per run (also across resumes: alerts are journaled).
public actor BudgetGovernor {
    public static let alertThresholds = [50, 80, 95]

    private let store: any JournalStore
    private let runID: String
    private let budget: Money?
    private let observer: any RunObserver
    private let now: @Sendable () -> Date
    private var alerted: Set<Int>

    public init(store: any JournalStore, runID: String, budget: Money?, alreadyAlerted: Set<Int> = [],
                observer: any RunObserver, now: @escaping @Sendable () -> Date) {
        self.store = store
        self.runID = runID
        self.budget = budget
        self.alerted = alreadyAlerted
        self.observer = observer
        self.now = now
    }

    /// The outcome of asking for room in the budget.
    public enum Decision: Sendable {
        case reserved(attemptID: Int64)
        /// `scope` names the budget that said no: `run`, an enclosing limit's label, a budget scope's name, or `cancel`.
        case refused(message: String, scope: String)
    }

    /// Starts an attempt holding `worstCase` against the budget, or refuses it with a message
    /// giving settled, reserved, the request and the budget.
    ///
    /// `limits` are budgets within the run's (a sub-workflow's `budget:`) that must hold as well.
    public func reserve(stepID: String, stepType: StepType, attempt: Int, model: String?, worstCase: Money,
                        limits: [BudgetLimit] = []) async throws -> Decision {
        let start = AttemptStart(runID: runID, stepID: stepID, stepType: stepType, number: attempt,
                                 model: model, reserve: worstCase, at: now(), limits: limits)
        switch try await store.beginAttempt(start) {
        case .started(let id):
            return .reserved(attemptID: id)
        case .refused(let ledger, let requested):
            return .refused(message: BudgetGovernor.refusalMessage(ledger: ledger, requested: requested, model: model), scope: "run")
        case .refusedByLimit(let limit, let committed, let requested):
            var text = "refused before any call: worst case \(requested.dollars())"
            if let model { text += " (\(model))" }
            text += " does not fit the budget \(limit.budget.dollars()) of \(limit.label): \(committed.dollars()) committed there, "
            text += "\((limit.budget - committed).dollars()) left"
            return .refused(message: text, scope: limit.label)
        case .refusedByScope(let refusal):
            var text = "refused before any call: " + refusal.message
            if let model { text += " (model \(model))" }
            return .refused(message: text, scope: refusal.scope)
        case .runCancelled:
            // The run ends `cancelled` (Executor.drive reads the request), not out of budget.
            return .refused(message: "not started: the run is being cancelled", scope: "cancel")
        }
    }

    static func refusalMessage(ledger: LedgerSnapshot, requested: Money, model: String?) -> String {
        switch BudgetAdmission.decide(ledger: ledger, reserve: requested) {
        case .stopped(let reason):
            return "refused before any call: \(reason)"
        case .cannotCompare(let why):
            return "refused before any call: \(why), so the budget cannot be checked"
        case .admit, .overBudget:
            break
        }
        let budget = ledger.budget ?? .zero
        let left = budget - ledger.committed
        var text = "refused before any call: worst case \(requested.dollars())"
        if let model { text += " (\(model))" }
        text += " does not fit the budget \(budget.dollars()): \(ledger.settled.dollars()) settled + "
        text += "\(ledger.reserved.dollars()) reserved = \(ledger.committed.dollars()) committed, \(left.dollars()) left"
        return text
    }

    /// Raises each alert threshold the run has newly crossed, once, journaled as `budget_alert`.
    /// `ledger` is the run's ledger as the settlement returned it (no second read on the hot path).
    /// Spend above the budget (a provider reported more usage than was reserved, issue 22.7) raises
    /// the 100% alert, marked `over_budget` with the attempt's flag.
    public func checkAlerts(_ ledger: LedgerSnapshot) async throws {
        guard let budget, !budget.isZero, !budget.isNegative else { return }
        let over = budget < ledger.committed
        // committed / budget ≥ threshold % compared as committed × 100 ≥ budget × threshold: a settlement
        // that crosses nothing costs two products, not a division.
        let committed = ledger.committed.amount * 100
        for threshold in BudgetGovernor.alertThresholds + (over ? [100] : [])
        where !alerted.contains(threshold) && committed >= budget.amount * Decimal(threshold) {
            alerted.insert(threshold)
            var data: [String: JSONValue] = ["percent": .int(threshold), "committed_usd": .string(ledger.committed.description),
                                             "budget_usd": .string(budget.description)]
            if threshold == 100 {
                data["over_budget"] = true
                data["flag"] = .string(AttemptFlag.usageExceededReservation)
            }
            try await store.appendEvent(EventRecord(runID: runID, stepID: nil, kind: .budgetAlert, data: .object(data), at: now()))
            observer.observe(.budgetAlert(percent: threshold, committed: ledger.committed, budget: budget))
        }
    }
}
