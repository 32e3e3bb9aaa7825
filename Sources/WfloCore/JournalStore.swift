import Foundation

/// What the executor, the application and the reports ask of the journal: the focused stores
/// below, composed. Every method is one atomic transaction.
///
/// The SQLite implementation lives in `WfloStore`, an in-memory one in `WfloTesting`; the engine
/// sees only this protocol. Implementations must be safe to share between tasks (and, for a
/// database, between processes using it). They read, call the rules of `JournalRules.swift`,
/// persist and lock: they decide nothing themselves. `Tests/WfloStoreTests/ConformanceTests.swift`
/// runs the same invariants against every implementation.
public protocol JournalStore: RunStore, AttemptStore, ApprovalStore, ResponseCacheStore, RunOwnershipStore, CircuitStore,
    JournalReadModel, RunQueueStore, BudgetScopeStore, APITokenStore, RunPageStore, ApprovalNotificationStore, RecoveryStore,
    DeploymentStore, ConcurrencyStore, StepTaskStore {
    /// How this store wakes a process waiting for a decision or a cancel written by another
    /// process, when it can push (PostgreSQL's LISTEN/NOTIFY); nil for a store that cannot, whose
    /// waiters poll the journal on their own clock (``PollingJournalNotifications``).
    var pushNotifications: (any JournalNotifications)? { get }
    /// Releases what the store holds open (a connection pool). Call once, when done with it;
    /// a file-backed store closes with its last reference and needs nothing here.
    func close() async
}

extension JournalStore {
    public var pushNotifications: (any JournalNotifications)? { nil }
    public func close() async {}
}

/// Runs, their status and event log, and cancel requests.
public protocol RunStore: Sendable {
    /// Inserts a new run.
    /// - Throws: ``StoreError`` `.conflict` when a run with its id exists.
    func createRun(_ run: RunRecord) async throws
    func run(id: String) async throws -> RunRecord?
    /// Newest first.
    func listRuns(limit: Int) async throws -> [RunRecord]
    /// Sets a run's status (and outputs/error when given), with its event (``EventRecord/runStatus(runID:status:error:at:)``).
    func updateRun(id: String, status: RunStatus, outputs: JSONValue?, error: String?, at: Date) async throws
    func appendEvent(_ event: EventRecord) async throws
    /// Replaces a run's budget (`wflo resume RUN --budget USD`), with a `budget_changed` event.
    func updateRunBudget(id: String, budget: Money, at: Date) async throws
    /// Everything the journal holds about a run.
    func journal(runID: String) async throws -> RunJournal

    /// Records a request to cancel the run (`wflo cancel`), with a `cancel_requested` event.
    /// The first request is kept; a later one changes nothing and returns the first.
    func requestCancel(runID: String, by: String, reason: String?, at: Date) async throws -> CancelRequest
    /// The run's cancel request, if one was made.
    func cancelRequest(runID: String) async throws -> CancelRequest?
}

/// Attempts, the steps they decide, and the run's ledger (invariants 1 and 2 of DESIGN.md).
public protocol AttemptStore: Sendable {
    /// Starts an attempt at a step, reserving `reserve` against the run's budget.
    ///
    /// Atomically: ``AttemptAdmission/refusal(ledger:cancelRequested:reserve:limits:committedWithin:)``
    /// decides on what is read under the write lock, then ``ScopeAdmission`` on the windows of the
    /// budget scopes matching the run's tags; a refusal writes nothing; otherwise the
    /// attempt row (status `running`, holding the reservation), the step row (status `running`),
    /// each scope window's reservation (remembered per attempt), the alerts it crosses
    /// and a `step_started` event are written together. Invariant 1 of DESIGN.md rests on this.
    func beginAttempt(_ start: AttemptStart) async throws -> AttemptBeginOutcome

    /// Settles an attempt (``AttemptSettlement``): its exact cost replaces its reservation (in the
    /// run's ledger and in each budget-scope window the attempt reserved in, ``ScopeSettlement``,
    /// whatever period it is now), and
    /// when the attempt decides the step the step row gets its result, in the same transaction,
    /// with an event. Returns the run's ledger after the settlement (as it was when the attempt had
    /// already been settled), so the caller's budget alerts need no second read.
    @discardableResult
    func finishAttempt(_ finish: AttemptFinish) async throws -> LedgerSnapshot

    /// Records a step that ran with no attempt (no cost, no side effect, e.g. `transform`)
    /// or was decided without running (refused, skipped), with its event: one transaction.
    func recordStep(_ step: StepRecord, event: EventRecord?) async throws

    /// Marks every `running` attempt of the run `unsettled` (it was in flight when a process
    /// died): it stays charged at its reservation. Returns how many were marked.
    func markInFlightUnsettled(runID: String, at: Date) async throws -> Int

    func ledger(runID: String) async throws -> LedgerSnapshot
}

/// Requests for human decisions (invariant 4).
public protocol ApprovalStore: Sendable {
    /// Files a request for a human decision, or finds the one already filed for the same run and
    /// step (after a resume) and returns it unchanged. A new request also sets the step row to
    /// `waiting_approval` and appends an `approval_requested` event, and writes one outbox message
    /// (``ApprovalNotification``) per webhook of ``ApprovalNotification/webhooks(notify:hooks:)`` — `notify`
    /// (the workflow's) and the journal's hooks — in one transaction. A request found, not filed, writes nothing.
    func requestApproval(_ request: ApprovalRecord, stepType: StepType, notify: [String]) async throws -> ApprovalRecord

    /// Records a decision if the request is still pending; the first decision wins
    /// (``ApprovalRecord/deciding(_:)`` says what is written, under the write lock).
    /// - Throws: ``StoreError`` `.notFound` when there is no such request.
    func decideApproval(_ decision: ApprovalDecision) async throws -> ApprovalDecisionOutcome

    func approval(id: String) async throws -> ApprovalRecord?
    /// Requests oldest first, of one run or of all, optionally only those with `status`.
    func approvals(runID: String?, status: ApprovalStatus?) async throws -> [ApprovalRecord]
}

extension ApprovalStore {
    /// Files a request announced only to the journal's hooks.
    public func requestApproval(_ request: ApprovalRecord, stepType: StepType) async throws -> ApprovalRecord {
        try await requestApproval(request, stepType: stepType, notify: [])
    }
}

/// The LLM response cache, shared by every run using the journal.
public protocol ResponseCacheStore: Sendable {
    /// The stored response for `key`, or nil when there is none or it expired before `at`.
    func cachedResponse(key: String, at: Date) async throws -> JSONValue?
    /// Stores an answer unless the key is already there (the first writer wins; concurrent
    /// fills of one key neither fail nor duplicate). Returns whether this call inserted it.
    /// An expired entry under the same key is replaced.
    @discardableResult
    func storeResponse(_ entry: CacheEntry) async throws -> Bool
    /// Journals a step served from the cache (see ``CacheHitRecord``) and counts the hit.
    func recordCacheHit(_ hit: CacheHitRecord) async throws
    func cacheStats(at: Date) async throws -> CacheStats
    /// Removes entries created before `olderThan` (all when nil), of `namespace` (all when nil),
    /// and any expired ones (``CacheEntry/isCleared(olderThan:namespace:at:)``). Returns how many were removed.
    func clearCache(olderThan: Date?, namespace: String?, at: Date) async throws -> Int
}

/// Which process drives a run: one at a time.
public protocol RunOwnershipStore: Sendable {
    /// Makes `owner` the run's driver unless another owner holds it and `takeOver` says that
    /// holder (with its last heartbeat) is still alive (``RunClaim/deciding(holder:heartbeatAt:claimant:takeOver:)``).
    /// Atomic: two processes claiming at once cannot both succeed. A claim ends any worker's
    /// queue lease on the run (``RunQueueStore``): no worker claims a run a process holds.
    func claimRun(id: String, owner: RunOwner, at: Date, takeOver: (RunOwner, Date) -> Bool) async throws -> RunClaim
    /// Records that `token`'s owner still drives the run.
    func heartbeatRun(id: String, token: String, at: Date) async throws
    /// Lets go of the run (and any queue lease) if `token`'s owner holds it.
    func releaseRun(id: String, token: String) async throws
    /// The process holding the run (nil when none does: never claimed, or released).
    func driver(runID: String) async throws -> RunDriver?
}

/// Circuit breakers per host, shared by every run and process using the journal.
public protocol CircuitStore: Sendable {
    /// Asks `host`'s circuit whether a request may go, and stores the state that asking leaves
    /// (an open circuit past its time turns half-open and admits one probe), in one transaction,
    /// so two processes never both send the probe. A host with no row is closed.
    func admitCircuit(host: String, settings: CircuitBreakerSettings, at: Date) async throws -> CircuitAdmission
    /// Records the result of a request to `host` (see ``CircuitRecord/recording(failure:error:at:settings:)``)
    /// and returns the circuit as it now is.
    @discardableResult
    func recordCircuitResult(host: String, failure: Bool, error: String?, settings: CircuitBreakerSettings, at: Date) async throws -> CircuitRecord
    /// Every host's circuit, by host.
    func circuits() async throws -> [CircuitRecord]
    /// Closes (forgets) the circuit of `host`, or every circuit when nil. Returns how many were removed.
    func resetCircuits(host: String?) async throws -> Int
}

/// The reads behind reports and id lookups: read-only, one snapshot each.
public protocol JournalReadModel: Sendable {
    /// The runs created at or after `since` (and before `until` when given), optionally only
    /// those of one workflow, with every attempt of those runs.
    func activity(since: Date, until: Date?, workflow: String?) async throws -> RunsActivity
    /// The ids of `kind` a person's `prefix` may mean: `[prefix]` alone when an id equals it,
    /// else up to `limit` ids starting with it, newest first. Never throws for "none".
    func ids(matchingPrefix prefix: String, of kind: JournalIDKind, limit: Int) async throws -> [String]
    /// The id of the approval request of `runID`'s step `stepID`, if one was filed.
    func approvalID(runID: String, stepID: String) async throws -> String?
    /// What a report of one run reads: the run, its steps, attempts and approvals as
    /// ``RunStore/journal(runID:)`` returns them, but of its events only those of `eventKinds`
    /// (in order), and its steps' outputs only when `stepOutputs`. A 100k-step run's report then
    /// decodes no event or output it does not show.
    /// - Throws: ``StoreError`` `.notFound` for an unknown run.
    func journal(runID: String, eventKinds: Set<JournalEventKind>, stepOutputs: Bool) async throws -> RunJournal
    /// One page of a run (the dashboard's run page of a 100k-step run decodes its 200 steps, not
    /// all): ``journal(runID:eventKinds:stepOutputs:)`` without step outputs, with only the steps
    /// `pick` chooses and every attempt of the run (its totals and spend over time are the whole
    /// run's). `pick` is given the run, its events of `eventKinds` and every journaled step's id and
    /// type (in no particular order), all from the same read.
    /// - Throws: ``StoreError`` `.notFound` for an unknown run.
    func journal(runID: String, eventKinds: Set<JournalEventKind>,
                 pick: @escaping @Sendable (JournalPageIndex) -> Set<String>) async throws -> RunJournal
    /// Where the journal is, for messages: "the journal at PATH".
    var journalLocation: String { get }
}

/// What a page of a run is picked from (``JournalReadModel/journal(runID:eventKinds:pick:)``).
public struct JournalPageIndex: Sendable {
    public var run: RunRecord
    /// The run's events of the kinds asked for, in order.
    public var events: [EventRecord]
    /// Every journaled step's id and type, in no particular order.
    public var steps: [(id: String, type: StepType)]

    public init(run: RunRecord, events: [EventRecord], steps: [(id: String, type: StepType)]) {
        self.run = run
        self.events = events
        self.steps = steps
    }
}

/// The journal's records a person names by a prefix of their id.
public enum JournalIDKind: Sendable, Hashable {
    case run, approval
}

extension JournalReadModel {
    /// The runs started since `since` (any workflow, up to now).
    public func activity(since: Date) async throws -> RunsActivity {
        try await activity(since: since, until: nil, workflow: nil)
    }

    /// The runs started since `since`, optionally only those of `workflow`.
    public func activity(since: Date, workflow: String?) async throws -> RunsActivity {
        try await activity(since: since, until: nil, workflow: workflow)
    }

    /// The full id of the only run whose id starts with `prefix`. An exact id wins over longer
    /// ids it prefixes. At most five candidates are listed when the prefix is ambiguous.
    /// - Throws: ``StoreError`` `.notFound` when none matches, `.ambiguous` when several do.
    public func resolveRunID(prefix: String) async throws -> String {
        let trimmed = prefix.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw StoreError(.notFound, "no run id given; list the runs with `wflo runs`") }
        return try await uniqueID(prefix: trimmed, kind: .run, noun: "run", hint: "list the runs with `wflo runs`")
    }

    /// The id of the request a person names: a unique prefix of its id, or `RUN/STEP` where RUN
    /// is a unique prefix of a run id.
    /// - Throws: ``StoreError`` `.notFound` when none matches, `.ambiguous` when several do.
    public func resolveApprovalID(_ reference: String) async throws -> String {
        let trimmed = reference.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw StoreError(.notFound, "no approval id given; list them with `wflo approvals`") }
        if let slash = trimmed.firstIndex(of: "/") {
            let runID = try await resolveRunID(prefix: String(trimmed[..<slash]))
            let stepID = String(trimmed[trimmed.index(after: slash)...])
            guard let id = try await approvalID(runID: runID, stepID: stepID) else {
                throw StoreError(.notFound, "run \(runID) has no approval request for step '\(stepID)'; list them with `wflo approvals --run \(runID)`")
            }
            return id
        }
        return try await uniqueID(prefix: trimmed, kind: .approval, noun: "approval request",
                                  hint: "list them with `wflo approvals`, or name it RUN/STEP")
    }

    private func uniqueID(prefix: String, kind: JournalIDKind, noun: String, hint: String) async throws -> String {
        let ids = try await ids(matchingPrefix: prefix, of: kind, limit: 6)
        switch ids.count {
        case 0: throw StoreError(.notFound, "no \(noun) id starts with '\(prefix)' in \(journalLocation); \(hint)")
        case 1: return ids[0]
        default:
            let listed = ids.prefix(5).joined(separator: ", ") + (ids.count > 5 ? ", …" : "")
            throw StoreError(.ambiguous, "'\(prefix)' matches several \(noun)s (\(listed)); give more characters of the id")
        }
    }
}

/// The runs started in a time window and all their attempts, read in one snapshot:
/// what a report across runs is built from.
public struct RunsActivity: Sendable, Hashable {
    /// Oldest first.
    public var runs: [RunRecord]
    /// Attempts of those runs, in the order they were started.
    public var attempts: [AttemptRecord]
    /// Per run, the ids of its `agent` steps (whose turns and tool calls are attempts of ids
    /// under theirs: `researcher/2/fetch_page`).
    public var agentSteps: [String: Set<String>]

    public init(runs: [RunRecord], attempts: [AttemptRecord], agentSteps: [String: Set<String>] = [:]) {
        self.runs = runs
        self.attempts = attempts
        self.agentSteps = agentSteps
    }
}

/// A request to stop a run, made by `wflo cancel`.
public struct CancelRequest: Sendable, Hashable {
    public var at: Date
    public var by: String
    public var reason: String?
    public init(at: Date, by: String, reason: String?) {
        self.at = at
        self.by = by
        self.reason = reason
    }

    /// "cancelled by NAME: REASON".
    public var message: String { "cancelled by \(by)" + (reason.map { ": \($0)" } ?? "") }
}

/// A spending limit on part of a run: the steps whose journal ids start with `prefix` (a
/// sub-workflow's `budget:`). Checked with the run's budget in the same transaction.
public struct BudgetLimit: Sendable, Hashable {
    public var prefix: String
    public var budget: Money
    /// Who set it, for the refusal message ("workflow step 'enrich'").
    public var label: String
    public init(prefix: String, budget: Money, label: String) {
        self.prefix = prefix
        self.budget = budget
        self.label = label
    }
}

public struct AttemptStart: Sendable, Hashable {
    public var runID: String
    public var stepID: String
    public var stepType: StepType
    public var number: Int
    public var model: String?
    /// The worst case to hold against the budget (zero for calls that cost nothing).
    public var reserve: Money
    public var at: Date
    /// Limits within the run's budget that must hold too.
    public var limits: [BudgetLimit]

    public init(runID: String, stepID: String, stepType: StepType, number: Int, model: String?, reserve: Money, at: Date,
                limits: [BudgetLimit] = []) {
        self.limits = limits
        self.runID = runID
        self.stepID = stepID
        self.stepType = stepType
        self.number = number
        self.model = model
        self.reserve = reserve
        self.at = at
    }
}

public enum AttemptBeginOutcome: Sendable, Hashable {
    case started(attemptID: Int64)
    /// Nothing was written. `ledger` is the state that did not fit `requested`.
    case refused(ledger: LedgerSnapshot, requested: Money)
    /// Nothing was written: the run's budget had room, `limit` did not (`committed` is spent within it).
    case refusedByLimit(limit: BudgetLimit, committed: Money, requested: Money)
    /// Nothing was written: `wflo cancel` has asked the run to stop, so it starts no more attempts.
    case runCancelled
    /// Nothing was written: the run's budget and limits had room, a budget scope matching its tags did not.
    case refusedByScope(ScopeRefusal)
}

public struct AttemptFinish: Sendable, Hashable {
    public var attemptID: Int64
    public var runID: String
    public var stepID: String
    public var succeeded: Bool
    /// The exact cost (zero when the call made no charge, e.g. refused by the provider).
    public var cost: Money
    public var usage: TokenUsage?
    public var error: String?
    /// Set when this attempt decides the step: the step's final status and output.
    public var stepStatus: StepStatus?
    public var stepOutput: JSONValue?
    public var at: Date
    /// The part of ``cost`` billed per request or per search (zero for most calls).
    public var fees: Money
    /// ``AttemptFlag``s the settlement found; one that stops the run is recorded on the run in the same transaction.
    public var flags: [String]
    /// The request was sent and its answer never arrived (the step's timeout): the provider may
    /// have billed it, so the attempt stays charged at its reservation, marked `unsettled` —
    /// the same rule as a call cut off by cancel, the run's timeout or a crash. `cost` and
    /// `usage` are ignored. Build one with ``unanswered(attemptID:runID:stepID:error:stepStatus:at:)``.
    public var unanswered = false
    /// When the call's request was sent, if later than the attempt's reservation (it waited for
    /// a connection): the attempt's recorded start moves there, so its times count the call only.
    public var sentAt: Date?

    public init(attemptID: Int64, runID: String, stepID: String, succeeded: Bool, cost: Money, usage: TokenUsage?,
                error: String?, stepStatus: StepStatus?, stepOutput: JSONValue?, at: Date, fees: Money = .zero, flags: [String] = []) {
        self.fees = fees
        self.flags = flags
        self.attemptID = attemptID
        self.runID = runID
        self.stepID = stepID
        self.succeeded = succeeded
        self.cost = cost
        self.usage = usage
        self.error = error
        self.stepStatus = stepStatus
        self.stepOutput = stepOutput
        self.at = at
    }

    /// A paid call whose request was sent and whose answer never arrived: charged at its
    /// reservation and marked unsettled (never settled at zero).
    public static func unanswered(attemptID: Int64, runID: String, stepID: String, error: String,
                                  stepStatus: StepStatus?, at: Date) -> AttemptFinish {
        var finish = AttemptFinish(attemptID: attemptID, runID: runID, stepID: stepID, succeeded: false, cost: .zero, usage: nil,
                                   error: error + "; the request was sent and no answer came, so it stays charged at its reservation (unsettled)",
                                   stepStatus: stepStatus, stepOutput: nil, at: at)
        finish.unanswered = true
        return finish
    }
}

/// Errors of the journal: a ``Code`` a caller can act on, a message naming what and where and
/// what to do, and the error of the database beneath, when there was one.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case notFound = "not_found"
        case ambiguous
        /// Any other failure of the database.
        case database
        /// A stored cell does not parse: the journal was edited, damaged, or written by a newer wflo.
        case corrupt
        /// The database stayed locked by another writer past the busy timeout: trying again may work.
        case busy
        /// A write broke a constraint (a duplicate id, a missing run).
        case conflict
        /// A write through ``RunQueueStore/fenced(runID:token:)`` found the writer's lease lost
        /// (expired, released or claimed by another worker): nothing was written.
        case leaseLost = "lease_lost"
    }

    public let code: Code
    public let message: String
    /// The error beneath (the database driver's), when this one wraps it.
    public let underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
