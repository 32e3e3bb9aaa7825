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
        /// Attempts beyond the first: `max(0, attempts - 1)`; for an agent, summed over its turns and tool calls.
        public var retries: Int
        /// Attempts that ended `failed`.
        public var failedAttempts: Int
        /// What the failed attempts cost (included in ``cost``).
        public var failedCost: Money
        /// Attempts served from the LLM response cache (no call, $0).
        public var cacheHits: Int
        /// What those hits would have cost at the table's prices when served.
        public var saved: Money
        /// For an `agent` step: its turns and tool calls (their cost is part of ``cost``).
        public var agent: AgentDetail? = nil
        /// For a step with lines nested under it (a `for_each` step's items, a `workflow` step's
        /// child steps, at any depth): its own line plus all of theirs. Nil for other steps.
        public var subtotal: Subtotal? = nil
        /// The part of ``cost`` billed per request or per search (issue 25).
        public var fees: Money = .zero
        /// What settling its attempts found (`usage_exceeded_reservation`, `unpriced_usage:FIELD`), once each.
        public var flags: [String] = []
        /// When the step started and ended (its first attempt's start to its last attempt's
        /// end), for the timeline; and when each attempt after the first started (retries).
        public var startedAt: Date? = nil
        public var endedAt: Date? = nil
        public var retryStarts: [Date] = []
        /// The run whose journaled result this step reuses (`wflo fork`): it ran there, not here, and cost this run $0.
        public var reusedFrom: String? = nil
    }

    /// What a step and the steps nested under it used and cost together. The run's totals count
    /// each attempt once (on its own line); a subtotal is a view of a part of them.
    public struct Subtotal: Sendable, Hashable {
        public var usage: TokenUsage
        public var cost: Money
        public var attempts: Int
        /// Nested lines added in (items, child steps and their own nested lines).
        public var nestedSteps: Int
    }

    /// A human decision the run waited for.
    public struct ApprovalLine: Sendable, Hashable {
        public var stepID: String
        public var requestID: String
        public var status: ApprovalStatus
        public var decidedBy: String?
        public var comment: String?
        public var requestedAt: Date
        public var decidedAt: Date?
        /// From the request to the decision, or to the report's end of the run when undecided.
        public var waitedSeconds: Double
    }

    /// An attempt charged at its reservation because its outcome is unknown: it was in flight
    /// when a process died (`unsettled`), or is still `running`.
    public struct UnsettledAttempt: Sendable, Hashable {
        public var stepID: String
        public var attempt: Int
        public var status: AttemptStatus
        public var model: String?
        /// The worst case held for it, which the budget is charged.
        public var reserved: Money
        public var startedAt: Date
    }

    /// The run's spend after each charge, in the order the charges landed: for the chart of
    /// cumulative spend against the budget.
    public struct SpendPoint: Sendable, Hashable {
        public var at: Date
        public var stepID: String
        /// What this attempt is charged.
        public var charged: Money
        /// Everything charged up to and including this attempt.
        public var cumulative: Money
    }

    public struct ModelLine: Sendable, Hashable {
        public var model: String
        public var calls: Int
        public var usage: TokenUsage
        public var cost: Money
    }

    public var runID: String
    public var workflow: String
    /// Where the run's workflow came from, as journaled (a file's path, `swift:NAME`, `swift-durable:NAME @ PROGRAM`).
    public var workflowPath: String
    /// The run's tags (`--tag`, the file's `tags:`).
    public var tags: [String: String]
    public var status: RunStatus
    /// What the report shows for ``status``: also `interrupted` (a running run whose driver is
    /// gone; `queued` when a worker will continue it) or `waiting_approval` (its live driver waits
    /// for a person); see ``RunStatus/shown(driverAlive:awaitingDecision:enqueued:)``.
    public var shownStatus: String
    /// The queue the run was submitted to, when a worker drives it.
    public var queue: String?
    public var budget: Money?
    /// Settled exact costs plus unsettled reservations: what the budget is charged.
    public var spent: Money
    public var settled: Money
    public var unsettled: Money
    public var steps: [StepLine]
    public var models: [ModelLine]
    /// Attempts charged at their reservation, oldest first.
    public var unsettledAttempts: [UnsettledAttempt]
    /// One point per attempt, ordered by when it was charged (finished, else started).
    public var timeline: [SpendPoint]
    /// Approval requests, oldest first.
    public var approvals: [ApprovalLine]
    public var outputs: JSONValue?
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date

    public var remaining: Money? { budget.map { $0 - spent } }
    public var totalUsage: TokenUsage { steps.map(\.usage).reduce(.zero, +) }
    public var totalAttempts: Int { steps.map(\.attempts).reduce(0, +) }
    /// Attempts beyond the first, over all steps.
    public var retries: Int { steps.map(\.retries).reduce(0, +) }
    public var failedAttempts: Int { steps.map(\.failedAttempts).reduce(0, +) }
    /// What failed attempts cost (part of ``spent``).
    public var failedCost: Money { steps.map(\.failedCost).sum() }
    public var cacheHits: Int { steps.map(\.cacheHits).reduce(0, +) }
    /// What was billed per request or per search (part of ``spent``).
    public var fees: Money { steps.map(\.fees).sum() }
    /// `step: flag, flag` for every step whose attempts were flagged; empty when none was. Every format shows it.
    public var flagNotes: [String] { steps.filter { !$0.flags.isEmpty }.map { "\($0.id): \($0.flags.joined(separator: ", "))" } }
    static let flagsExplained = "usage_exceeded_reservation: the provider reported more than was reserved, charged as reported; "
        + "unpriced_usage: usage the pricing table has no price for, not charged, and the run made no further paid call"
    /// What cache hits saved, over all steps (not part of ``spent``).
    public var cacheSavings: Money { steps.map(\.saved).sum() }
    /// Seconds the run waited for people, over all its approval requests.
    public var approvalWaitSeconds: Double { approvals.map(\.waitedSeconds).reduce(0, +) }

    /// Adds each line's usage, cost and attempts to every line it is nested under: `a[2]/b[3]/c`
    /// counts in `a[2]/b[3]`, `a[2]/b`, `a[2]` and `a`, whichever of them are lines.
    static func withSubtotals(_ lines: [StepLine]) -> [StepLine] {
        // Only nested lines add to a subtotal: a run without items or sub-workflows has nothing to add.
        let nestedLines = lines.indices.compactMap { offset -> (offset: Int, ancestors: [String])? in
            let ancestors = NestedStepID.ancestors(of: lines[offset].id)
            return ancestors.isEmpty ? nil : (offset, ancestors)
        }
        if nestedLines.isEmpty { return lines }
        let index = Dictionary(lines.enumerated().map { ($0.element.id, $0.offset) }, uniquingKeysWith: { first, _ in first })
        var totals: [Int: Subtotal] = [:]
        for (offset, ancestors) in nestedLines {
            let line = lines[offset]
            for ancestor in ancestors {
                guard let parent = index[ancestor] else { continue }
                var total = totals[parent] ?? Subtotal(usage: lines[parent].usage, cost: lines[parent].cost,
                                                       attempts: lines[parent].attempts, nestedSteps: 0)
                total.usage = total.usage + line.usage
                total.cost += line.cost
                total.attempts += line.attempts
                total.nestedSteps += 1
                totals[parent] = total
            }
        }
        var result = lines
        for (offset, total) in totals { result[offset].subtotal = total }
        return result
    }

    /// The report's lines in order (``steps``): the planned steps, each followed by its for_each
    /// items (`ID[2]`) and sub-workflow steps (`ID/CHILD`), sorted; then the journaled steps the
    /// plan does not name. An agent's turns and tool calls are not lines (they count in the agent's).
    /// - Parameter journaled: every journaled step's id and type, in any order.
    public static func lineOrder(planned plannedSteps: [(id: String, type: String)],
                                 journaled: [(id: String, type: StepType)]) -> [(id: String, type: String)] {
        let planned = Set(plannedSteps.map(\.id))
        let owner = owners(agents: Set(journaled.filter { $0.type == .agent }.map(\.id)))
        var children: [String: [(id: String, type: String)]] = [:]
        var unplanned: [(id: String, type: String)] = []
        for step in journaled where !planned.contains(step.id) && owner(step.id) == step.id {
            let root = NestedStepID.root(of: step.id)
            if planned.contains(root), root != step.id { children[root, default: []].append((step.id, step.type.rawValue)) } else {
                unplanned.append((step.id, step.type.rawValue))
            }
        }
        var order: [(id: String, type: String)] = []
        order.reserveCapacity(plannedSteps.count + unplanned.count)
        for step in plannedSteps {
            order.append(step)
            guard let nested = children[step.id] else { continue }
            // Keys worked out once per id, not per comparison.
            order += nested.map { (key: NestedStepID.sortKey($0.id), step: $0) }
                .sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.step)
        }
        return order + unplanned
    }

    /// The status shown for a step whose row `wflo gc` removed.
    public static let collectedStatus = "removed by gc"

    /// The kinds of event ``init(journal:plannedSteps:)`` reads (an agent's model fallbacks, the
    /// steps a fork reused, gc's marker): a journal holding only these, and no step outputs, gives the same
    /// report as the full one.
    public static let eventKinds: Set<JournalEventKind> = [.agentModelFallback, .runForked, .runCollected]

    /// - Parameter plannedSteps: the workflow's steps in file order (id, type), so steps that
    ///   never started are listed as `pending`; journaled steps not in it are appended.
    public init(journal: RunJournal, plannedSteps: [(id: String, type: String)] = []) {
        let run = journal.run
        runID = run.id
        workflow = run.workflowName
        workflowPath = run.workflowPath
        tags = run.tags
        status = run.status
        shownStatus = run.status.rawValue
        queue = run.queue
        budget = run.budget
        outputs = run.outputs
        error = run.error
        createdAt = run.createdAt
        updatedAt = run.updatedAt
        let ledger = journal.ledger
        settled = ledger.settled
        unsettled = ledger.reserved
        spent = ledger.committed

        // An agent's turns and tool calls (`researcher/3/fetch_page`) are reported inside the
        // agent's line, and their attempts counted in it.
        let owner = RunReport.owners(journal)
        let order = RunReport.lineOrder(planned: plannedSteps, journaled: journal.steps.map { ($0.stepID, $0.type) })
        let nested = Dictionary(grouping: journal.steps.filter { owner($0.stepID) != $0.stepID }, by: { owner($0.stepID) })
        var byModel: [String: ModelLine] = [:]
        // Looked up per step, once: a long run's report stays linear in its journal.
        // Positions, not copies of the records.
        var recordIndex: [String: Int] = [:]
        recordIndex.reserveCapacity(journal.steps.count)
        for (index, step) in journal.steps.enumerated() where recordIndex[step.stepID] == nil { recordIndex[step.stepID] = index }
        let attemptsByStep = Dictionary(grouping: journal.attempts, by: { owner($0.stepID) })
        // An agent's model fallbacks, grouped once (each agent step used to scan every event of the run).
        let fallbackEvents = Dictionary(grouping: journal.events.filter { $0.kind == .agentModelFallback }, by: { $0.stepID ?? "" })
        // A fork (`wflo fork`) names the steps it reused from its run, and that run.
        let forked = journal.events.first { $0.kind == .runForked }
        let reusedRoots = Set(forked?.data["reused_steps"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let forkedFrom = forked?.data["from_run"]?.stringValue
        // After `wflo gc` a step has no row left: it is shown as collected, not as pending.
        let missing = journal.events.contains { $0.kind == .runCollected } ? RunReport.collectedStatus : StepStatus.pending.rawValue
        steps = order.map { planned in
            let record = recordIndex[planned.id].map { journal.steps[$0] }
            let attempts = attemptsByStep[planned.id] ?? []
            let start = record?.startedAt ?? attempts.first?.startedAt, end = record?.finishedAt ?? attempts.last?.finishedAt
            var line = StepLine(id: planned.id, type: record?.type.rawValue ?? planned.type, status: record?.status.rawValue ?? missing,
                                model: record?.model ?? attempts.last?.model, usage: .zero, cost: .zero, attempts: attempts.count,
                                unsettledAttempts: 0, seconds: start.flatMap { start in end.map { $0.timeIntervalSince(start) } },
                                error: record?.error, retries: 0, failedAttempts: 0, failedCost: .zero, cacheHits: 0, saved: .zero,
                                agent: record?.type == .agent
                                    ? AgentDetail(agentID: planned.id, records: nested[planned.id] ?? [], attempts: attempts,
                                                  events: fallbackEvents[planned.id] ?? [])
                                    : nil)
            line.startedAt = start
            line.endedAt = end
            guard !attempts.isEmpty else {
                // No attempt (a transform, a control step, one not started): nothing to add up (most lines of a big run).
                if record != nil, reusedRoots.contains(NestedStepID.root(of: planned.id)) { line.reusedFrom = forkedFrom }
                return line
            }
            // Tokens of cache hits were not billed: they count in `saved`, not in the usage.
            for attempt in attempts where !attempt.cacheHit { if let u = attempt.usage { line.usage = line.usage + u } }
            line.cost = attempts.map(\.charged).sum()
            for attempt in attempts where !attempt.cacheHit && (attempt.status != .failed || !(attempt.cost ?? .zero).isZero) {
                guard let m = attempt.model else { continue }
                var model = byModel[m] ?? ModelLine(model: m, calls: 0, usage: .zero, cost: .zero)
                model.calls += 1
                model.usage = model.usage + (attempt.usage ?? .zero)
                model.cost += attempt.charged
                byModel[m] = model
            }
            line.unsettledAttempts = attempts.filter { $0.status == .unsettled || $0.status == .running }.count
            line.retries = Dictionary(grouping: attempts, by: \.stepID).values.map { Swift.max(0, $0.count - 1) }.reduce(0, +)
            line.failedAttempts = attempts.filter { $0.status == .failed }.count
            line.failedCost = attempts.filter { $0.status == .failed }.map(\.charged).sum()
            line.cacheHits = attempts.filter(\.cacheHit).count
            line.saved = attempts.compactMap(\.saved).sum()
            line.retryStarts = attempts.filter { $0.number > 1 && $0.stepID == planned.id }.map(\.startedAt)
            line.fees = attempts.compactMap(\.fees).sum()
            line.flags = attempts.flatMap(\.flags).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return line
        }
        steps = RunReport.withSubtotals(steps)
        let end = run.updatedAt
        approvals = journal.approvals.map { request in
            ApprovalLine(stepID: request.stepID, requestID: request.id, status: request.status, decidedBy: request.decidedBy,
                         comment: request.comment, requestedAt: request.requestedAt, decidedAt: request.decidedAt,
                         waitedSeconds: Swift.max(0, (request.decidedAt ?? end).timeIntervalSince(request.requestedAt)))
        }
        models = byModel.values.sorted { $0.cost == $1.cost ? $0.model < $1.model : $0.cost > $1.cost }
        unsettledAttempts = journal.attempts.filter { $0.status == .unsettled || $0.status == .running }
            .sorted { ($0.startedAt, $0.id) < ($1.startedAt, $1.id) }
            .map { UnsettledAttempt(stepID: $0.stepID, attempt: $0.number, status: $0.status, model: $0.model,
                                    reserved: $0.reserved, startedAt: $0.startedAt) }
        var cumulative = Money.zero
        timeline = journal.attempts
            .map { (at: $0.finishedAt ?? $0.startedAt, attempt: $0) }
            .sorted { ($0.at, $0.attempt.id) < ($1.at, $1.attempt.id) }
            .map { entry in
                cumulative += entry.attempt.charged
                return SpendPoint(at: entry.at, stepID: entry.attempt.stepID, charged: entry.attempt.charged, cumulative: cumulative)
            }
    }
}
