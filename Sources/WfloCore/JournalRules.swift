import Foundation

// The journal's rules as pure functions. A store reads what a rule needs, calls it and persists
// what it returns, under its own lock or transaction; it decides nothing itself. Every store
// (SQLite, in memory, PostgreSQL) therefore behaves the same, and the conformance suite checks
// that it does.

// MARK: - Admission of a reservation

/// Whether an attempt may start: the run's cancel request, its ledger (``BudgetAdmission``) and
/// the limits within its budget (a sub-workflow's `budget:`), checked in that order.
public enum AttemptAdmission {
    /// The refusal, or nil when the attempt may start and hold `reserve`.
    /// - Parameters:
    ///   - ledger: the run's ledger, read under the lock that the write will hold.
    ///   - cancelRequested: `wflo cancel` was journaled for the run.
    ///   - committedWithin: what the run's attempts under a limit's prefix are charged
    ///     (``BudgetLimit/committed(by:)``), read under the same lock; called only when the run's
    ///     budget admits the reservation.
    public static func refusal(ledger: LedgerSnapshot, cancelRequested: Bool, reserve: Money, limits: [BudgetLimit],
                               committedWithin: (BudgetLimit) throws -> Money) rethrows -> AttemptBeginOutcome? {
        // Once `wflo cancel` is journaled no new attempt starts, whether or not the driver has noticed yet.
        if cancelRequested { return .runCancelled }
        guard BudgetAdmission.decide(ledger: ledger, reserve: reserve) == .admit else {
            return .refused(ledger: ledger, requested: reserve)
        }
        for limit in limits {
            let committed = try committedWithin(limit)
            if committed + reserve > limit.budget {
                return .refusedByLimit(limit: limit, committed: committed, requested: reserve)
            }
        }
        return nil
    }
}

extension BudgetLimit {
    /// Whether the limit covers the step with journal id `stepID` (its id starts with ``prefix``).
    public func covers(stepID: String) -> Bool { stepID.hasPrefix(prefix) }

    /// The ids a limit covers as a half-open range of strings, `lower ..< upper` in code-point
    /// order: `prefix` up to `prefix` with its last character raised by one. A store reads the
    /// range from its (run, step) index instead of scanning the run. Nil for an empty prefix
    /// (every step; limits always name a step and its slash, so never in practice).
    public var stepIDRange: (lower: String, upper: String)? {
        guard let last = prefix.unicodeScalars.last else { return nil }
        var upper = String(String.UnicodeScalarView(prefix.unicodeScalars.dropLast()))
        guard let next = Unicode.Scalar(last.value + 1) else { return nil }
        upper.unicodeScalars.append(next)
        return (prefix, upper)
    }

    /// What `attempts` count against the limit: those of steps it covers, each at
    /// ``AttemptRecord/charged``.
    public func committed(by attempts: some Sequence<AttemptRecord>) -> Money {
        var total = Money.zero
        for attempt in attempts where covers(stepID: attempt.stepID) { total += attempt.charged }
        return total
    }
}

// MARK: - Settlement

/// What settling a running attempt writes: its new status, the run's ledger after it, the stop
/// reason it gives the run, and its event.
public struct AttemptSettlement: Sendable, Hashable {
    public var status: AttemptStatus
    /// The run's ledger once the settlement is written.
    public var ledger: LedgerSnapshot
    public var event: EventRecord

    /// The settlement of `finish`, or nil when the attempt is no longer `running` (finished
    /// already, or marked unsettled after a crash): then nothing is written and nothing is
    /// charged twice.
    /// - Parameters:
    ///   - current: the attempt's stored status.
    ///   - reserved: the attempt's reservation.
    ///   - ledger: the run's ledger before the settlement.
    public static func settling(_ finish: AttemptFinish, current: AttemptStatus, reserved: Money,
                                ledger: LedgerSnapshot) -> AttemptSettlement? {
        guard current == .running else { return nil }
        var after = ledger
        let status: AttemptStatus
        if finish.unanswered {
            // Stays charged: its reservation remains in the reserved sum, no cost is settled.
            status = .unsettled
        } else {
            status = finish.succeeded ? .succeeded : .failed
            after.settled = ledger.settled + finish.cost
            after.reserved = ledger.reserved - reserved
            after.stopReason = ledger.stopReason ?? AttemptFlag.stopReason(flags: finish.flags)
        }
        var data: [String: JSONValue] = ["attempt_id": .int(Int(finish.attemptID))]
        if finish.unanswered {
            data["unsettled"] = true
            data["reserved_usd"] = .string(reserved.description)
        } else {
            data["cost_usd"] = .string(finish.cost.description)
        }
        if let error = finish.error { data["error"] = .string(error) }
        if !finish.flags.isEmpty { data["flags"] = .array(finish.flags.map { .string($0) }) }
        let event = EventRecord(runID: finish.runID, stepID: finish.stepID,
                                kind: .settling(stepStatus: finish.stepStatus, succeeded: finish.succeeded),
                                data: .object(data), at: finish.at)
        return AttemptSettlement(status: status, ledger: after, event: event)
    }
}

/// Why ``JournalStore/markInFlightUnsettled(runID:at:)`` marks an attempt, as its `error` says.
public let inFlightUnsettledError = "in flight when the process stopped; charged at its reservation"

// MARK: - The events a store writes

extension EventRecord {
    /// `step_started`, written with the attempt row that holds the reservation.
    public static func stepStarted(_ start: AttemptStart, attemptID: Int64) -> EventRecord {
        EventRecord(runID: start.runID, stepID: start.stepID, kind: .stepStarted,
                    data: ["attempt": .int(start.number), "attempt_id": .int(Int(attemptID)),
                           "reserved_usd": .string(start.reserve.description)], at: start.at)
    }

    /// `run_STATUS`, written with a run's status change.
    public static func runStatus(runID: String, status: RunStatus, error: String?, at: Date) -> EventRecord {
        EventRecord(runID: runID, stepID: nil, kind: .run(status), data: error.map { ["error": .string($0)] } ?? .null, at: at)
    }

    /// `run_queued`, written with a run `wflo submit` enqueues.
    public static func runQueued(runID: String, queue: String, priority: Int, at: Date) -> EventRecord {
        EventRecord(runID: runID, stepID: nil, kind: .runQueued, data: ["queue": .string(queue), "priority": .int(priority)], at: at)
    }

    public static func budgetChanged(runID: String, budget: Money, at: Date) -> EventRecord {
        EventRecord(runID: runID, stepID: nil, kind: .budgetChanged, data: ["budget_usd": .string(budget.description)], at: at)
    }

    public static func attemptsUnsettled(runID: String, count: Int, at: Date) -> EventRecord {
        EventRecord(runID: runID, stepID: nil, kind: .attemptsUnsettled, data: ["count": .int(count)], at: at)
    }

    public static func cancelRequested(runID: String, _ request: CancelRequest) -> EventRecord {
        var data: [String: JSONValue] = ["by": .string(request.by)]
        if let reason = request.reason { data["reason"] = .string(reason) }
        return EventRecord(runID: runID, stepID: nil, kind: .cancelRequested, data: .object(data), at: request.at)
    }

    /// The step served from the cache completes.
    public static func cacheHit(_ hit: CacheHitRecord) -> EventRecord {
        EventRecord(runID: hit.runID, stepID: hit.stepID, kind: .stepCompleted,
                    data: ["cache_hit": true, "cost_usd": "0", "saved_usd": .string(hit.saved.description)], at: hit.at)
    }

    public static func approvalRequested(_ request: ApprovalRecord) -> EventRecord {
        var data: [String: JSONValue] = ["request_id": .string(request.id), "message": .string(request.message)]
        if let worstCase = request.worstCase { data["worst_case_usd"] = .string(worstCase.description) }
        return EventRecord(runID: request.runID, stepID: request.stepID, kind: .approvalRequested, data: .object(data),
                           at: request.requestedAt)
    }

    public static func approvalDecided(_ request: ApprovalRecord, at: Date) -> EventRecord {
        var data: [String: JSONValue] = ["request_id": .string(request.id), "decision": .string(request.status.rawValue),
                                         "by": .string(request.decidedBy ?? "")]
        if let comment = request.comment { data["comment"] = .string(comment) }
        return EventRecord(runID: request.runID, stepID: request.stepID, kind: .approvalDecided, data: .object(data),
                           at: request.decidedAt ?? at)
    }
}

// MARK: - Approvals

/// What recording a decision on a request does (invariant 4: the first decision wins).
public enum ApprovalTransition: Sendable, Hashable {
    /// Nothing is written; the caller is told the request as it stands.
    case unchanged(ApprovalRecord)
    /// `record` replaces the pending request (only if it is still pending), with `event`;
    /// `outcome` is what the decider is told.
    case decide(record: ApprovalRecord, event: EventRecord, outcome: ApprovalDecisionOutcome)
}

extension ApprovalRecord {
    /// The transition `decision` makes from this request as stored.
    ///
    /// A decided request stays as it is. A decision at or after the deadline records the
    /// request's `on_timeout` instead (decided by ``approvalTimeoutDecider`` at the deadline) and
    /// tells the decider it was decided already; a `timeout` verdict before the deadline (clocks of
    /// two processes differ) changes nothing yet.
    public func deciding(_ decision: ApprovalDecision) -> ApprovalTransition {
        guard status == .pending else { return .unchanged(self) }
        let late = deadline.map { decision.at >= $0 } ?? false
        if decision.verdict == .timeout && !late { return .unchanged(self) }
        var next = self
        if late {
            next.status = switch settings.onTimeout {
            case .approve: .approved
            case .reject: .rejected
            case .fail: .expired
            }
            next.decidedBy = approvalTimeoutDecider
            next.comment = "nobody decided within \(DurationText.describe(settings.timeout ?? 0)); on_timeout: \(settings.onTimeout.rawValue)"
            next.decidedAt = deadline
        } else {
            next.status = decision.verdict == .approve ? .approved : .rejected
            next.decidedBy = decision.by
            next.comment = decision.comment
            next.decidedAt = decision.at
        }
        return .decide(record: next, event: .approvalDecided(next, at: decision.at),
                       outcome: late ? .alreadyDecided(next) : .recorded(next))
    }
}

// MARK: - Run ownership

extension RunClaim {
    /// Whether `claimant` may take the run from `holder` (its stored owner and last heartbeat).
    /// A run nobody holds, or held by the claimant's own token, is claimed; another holder keeps
    /// it unless `takeOver` says it is gone.
    public static func deciding(holder: RunOwner?, heartbeatAt: Date?, claimant: RunOwner,
                                takeOver: (RunOwner, Date) -> Bool) -> RunClaim {
        guard let holder, holder.token != claimant.token else { return .claimed }
        let heartbeat = heartbeatAt ?? Date(timeIntervalSince1970: 0)
        return takeOver(holder, heartbeat) ? .claimed : .heldBy(holder, heartbeatAt: heartbeat)
    }
}

// MARK: - The response cache

extension CacheEntry {
    /// Whether the entry may be served at `at`: it has no expiry, or expires after `at`.
    public func isLive(at: Date) -> Bool { CacheEntry.isLive(expiresAt: expiresAt, at: at) }

    /// The rule behind ``isLive(at:)``, for a store holding the column rather than an entry.
    public static func isLive(expiresAt: Date?, at: Date) -> Bool { expiresAt.map { $0 > at } ?? true }

    /// Whether `wflo cache clear` removes the entry: it was created before `olderThan` (any
    /// time when nil) in `namespace` (any when nil), or it has expired by `at`.
    public func isCleared(olderThan: Date?, namespace: String?, at: Date) -> Bool {
        let chosen = (olderThan.map { createdAt < $0 } ?? true) && (namespace.map { self.namespace == $0 } ?? true)
        return chosen || !isLive(at: at)
    }
}
