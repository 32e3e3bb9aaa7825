import Foundation
import WfloCore

/// A run's cost breakdown: per step, per model, totals, budget used and left.
///
/// Built from the journal alone (read-only). Money stays exact; renderers round only for
/// display (6 decimals, half-to-even) and JSON/CSV carry the exact decimal strings.
public struct RunReport: Sendable, Hashable {
    public struct StepLine: Sendable, Hashable {
        public var id: String
        public var type: String
        public var status: String
        public var model: String?
        public var usage: TokenUsage
        public var cost: Money
        public var attempts: Int
        /// Attempts charged at their reservation because their outcome is unknown (process died).
        public var unsettledAttempts: Int
        public var seconds: Double?
        public var error: String?
    }

    public struct ModelLine: Sendable, Hashable {
        public var model: String
        public var calls: Int
        public var usage: TokenUsage
        public var cost: Money
    }

    public var runID: String
    public var workflow: String
    public var status: RunStatus
    public var budget: Money?
    /// Settled exact costs plus unsettled reservations: what the budget is charged.
    public var spent: Money
    public var settled: Money
    public var unsettled: Money
    public var steps: [StepLine]
    public var models: [ModelLine]
    public var outputs: JSONValue?
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date

    public var remaining: Money? { budget.map { $0 - spent } }
    public var totalUsage: TokenUsage { steps.map(\.usage).reduce(.zero, +) }

    /// - Parameter plannedSteps: the workflow's steps in file order (id, type), so steps that
    ///   never started are listed as `pending`; journaled steps not in it are appended.
    public init(journal: RunJournal, plannedSteps: [(id: String, type: String)] = []) {
        let run = journal.run
        runID = run.id
        workflow = run.workflowName
        status = run.status
        budget = run.budget
        outputs = run.outputs
        error = run.error
        createdAt = run.createdAt
        updatedAt = run.updatedAt
        let ledger = journal.ledger
        settled = ledger.settled
        unsettled = ledger.reserved
        spent = ledger.committed

        var order = plannedSteps
        for step in journal.steps where !order.contains(where: { $0.id == step.stepID }) {
            order.append((step.stepID, step.type))
        }
        var byModel: [String: ModelLine] = [:]
        steps = order.map { planned in
            let record = journal.steps.first { $0.stepID == planned.id }
            let attempts = journal.attempts.filter { $0.stepID == planned.id }
            var usage = TokenUsage.zero
            for attempt in attempts { if let u = attempt.usage { usage = usage + u } }
            let cost = attempts.map(\.charged).sum()
            let model = record?.model ?? attempts.last?.model
            for attempt in attempts where attempt.status != .failed || !(attempt.cost ?? .zero).isZero {
                guard let m = attempt.model else { continue }
                var line = byModel[m] ?? ModelLine(model: m, calls: 0, usage: .zero, cost: .zero)
                line.calls += 1
                line.usage = line.usage + (attempt.usage ?? .zero)
                line.cost += attempt.charged
                byModel[m] = line
            }
            var seconds: Double?
            if let start = record?.startedAt ?? attempts.first?.startedAt, let end = record?.finishedAt ?? attempts.last?.finishedAt {
                seconds = end.timeIntervalSince(start)
            }
            return StepLine(id: planned.id, type: record?.type ?? planned.type, status: record?.status.rawValue ?? StepStatus.pending.rawValue,
                            model: model, usage: usage, cost: cost, attempts: attempts.count,
                            unsettledAttempts: attempts.filter { $0.status == .unsettled || $0.status == .running }.count,
                            seconds: seconds, error: record?.error)
        }
        models = byModel.values.sorted { $0.cost == $1.cost ? $0.model < $1.model : $0.cost > $1.cost }
    }
}
