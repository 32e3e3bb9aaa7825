import Foundation

/// A run's ready leaf steps that any worker may execute (issue 16): the step-task queue.
///
/// The run's driver enqueues a task per step it would run in parallel (a for_each item, today);
/// any worker with a free slot claims one with a lease timed by **the store's clock** (as a queued
/// run's lease, ``RunQueueStore``), renews it, executes the step through the same attempt driver a
/// driver uses (reservation, call, settlement, journal), and completes the task with the step's
/// outcome; the driver reads the outcome from the journal and goes on. The driver also claims its
/// own run's tasks, so a lone worker still runs everything.
///
/// **Fencing.** A helper executes through ``fenced(stepTask:)``: every write transaction of
/// that view first checks, in the same transaction, that `token` still holds a live lease on the
/// task, and throws ``StoreError`` `.leaseLost` (writing nothing) otherwise. A helper that wakes up
/// after losing its lease, or whose task was cancelled with its run, commits nothing.
///
/// **Crash.** A task whose lease ran out is claimable again. The claim that takes it settles the
/// attempts of its step left in flight as unsettled (charged at their reservation, as a run's
/// resume does) in the same transaction, and says so (``StepTaskLease/unsettled``); the new helper
/// then answers a step the journal already has from the journal, never calling or charging it twice.
///
/// Rules every implementation keeps (`Tests/WfloStoreTests/StepTaskConformanceTests.swift`):
/// ``StepTaskRule/isClaimable(status:leaseExpiresAt:now:)`` says which tasks may be claimed; the
/// oldest claimable task is claimed first; two claimers never both win a task; a task of a run
/// whose status is final or that was asked to cancel is never claimed.
public protocol StepTaskStore: Sendable {
    /// Enqueues `tasks` in one transaction, in order. A task for a (run, step) that already has a
    /// live one (queued or claimed) is left as it is; a done or cancelled one is queued again with
    /// the new payload (the driver asks again only for a step the journal has not completed).
    /// - Returns: the tasks' ids, in the order given.
    func enqueueStepTasks(_ tasks: [StepTaskRequest]) async throws -> [Int64]

    /// Claims the oldest claimable task (of `runID` only, when given; else of any run that is
    /// `running` and not asked to cancel) for `owner`, with a lease of `lease` seconds on the
    /// store's clock. Nil when there is none. Atomic: two claimers never both win a task.
    func claimStepTask(runID: String?, owner: RunOwner, lease: Double) async throws -> StepTaskLease?

    /// Extends `token`'s lease on the task to `lease` seconds after the store's now. False, writing
    /// nothing, when the lease is no longer held (expired, cancelled, or claimed by another).
    func renewStepTask(id: Int64, token: String, lease: Double) async throws -> Bool

    /// Marks the task done with the step's `outcome` (``StepTaskOutcome/json``) and who ran it.
    /// False, writing nothing, when `token`'s lease is no longer held.
    func completeStepTask(id: Int64, token: String, outcome: JSONValue) async throws -> Bool

    /// Gives the task back (claimable again at once). False when `token` did not hold it.
    @discardableResult
    func releaseStepTask(id: Int64, token: String) async throws -> Bool

    /// Cancels every task of the run that is not done: queued ones are never claimed, claimed
    /// ones lose their lease (their helpers' writes are refused from then on).
    /// - Returns: how many were cancelled.
    @discardableResult
    func cancelStepTasks(runID: String) async throws -> Int

    /// The run's tasks (`ids`: only these), oldest first.
    func stepTasks(runID: String, ids: [Int64]?) async throws -> [StepTaskRecord]

    /// This store seen by the holder of `lease`: every write transaction checks first, in the same
    /// transaction, that its token still holds a live lease on the task, and throws ``StoreError``
    /// `.leaseLost` writing nothing otherwise. Reads are not checked.
    func fenced(stepTask lease: StepTaskLease) -> any JournalStore
}

/// What ``StepTaskStore/enqueueStepTasks(_:)`` writes.
public struct StepTaskRequest: Sendable, Hashable {
    public var runID: String
    /// The journaled step id the task executes (a for_each item's `STEP[INDEX]`).
    public var stepID: String
    /// What the helper needs to execute the step (the engine's, opaque to the store).
    public var payload: JSONValue
    public var at: Date

    public init(runID: String, stepID: String, payload: JSONValue, at: Date) {
        self.runID = runID
        self.stepID = stepID
        self.payload = payload
        self.at = at
    }
}

public enum StepTaskStatus: String, Sendable, Hashable, CaseIterable {
    case queued, claimed, done, cancelled
}

/// A task as the journal keeps it.
public struct StepTaskRecord: Sendable, Hashable {
    public var id: Int64
    public var runID: String
    public var stepID: String
    public var payload: JSONValue
    public var status: StepTaskStatus
    /// The claim's holder while claimed; once done, the worker that ran it (the journal's "who ran this item").
    public var owner: RunOwner?
    public var leaseExpiresAt: Date?
    /// How many times it was claimed (more than 1: a helper died or gave it back).
    public var claims: Int
    /// The step's outcome once done (``StepTaskOutcome/json``).
    public var outcome: JSONValue?
    public var createdAt: Date
    public var finishedAt: Date?

    public init(id: Int64, runID: String, stepID: String, payload: JSONValue, status: StepTaskStatus, owner: RunOwner?,
                leaseExpiresAt: Date?, claims: Int, outcome: JSONValue?, createdAt: Date, finishedAt: Date?) {
        self.id = id
        self.runID = runID
        self.stepID = stepID
        self.payload = payload
        self.status = status
        self.owner = owner
        self.leaseExpiresAt = leaseExpiresAt
        self.claims = claims
        self.outcome = outcome
        self.createdAt = createdAt
        self.finishedAt = finishedAt
    }
}

/// A claim a worker holds on a step task.
public struct StepTaskLease: Sendable, Hashable {
    public var id: Int64
    public var runID: String
    public var stepID: String
    public var payload: JSONValue
    public var owner: RunOwner
    /// When the lease ends unless renewed, by the store's clock.
    public var expiresAt: Date
    /// This claim's number (1: the first).
    public var claims: Int
    /// The number the next attempt of the step takes: one after the last journaled attempt.
    public var nextAttempt: Int
    /// Attempts of the step a lost helper left in flight, settled unsettled by this claim.
    public var unsettled: Int

    public init(id: Int64, runID: String, stepID: String, payload: JSONValue, owner: RunOwner, expiresAt: Date, claims: Int,
                nextAttempt: Int, unsettled: Int) {
        self.id = id
        self.runID = runID
        self.stepID = stepID
        self.payload = payload
        self.owner = owner
        self.expiresAt = expiresAt
        self.claims = claims
        self.nextAttempt = nextAttempt
        self.unsettled = unsettled
    }
}

/// Which step tasks may be claimed. SQL stores state the same rule in their claim statement.
public enum StepTaskRule {
    /// A task may be claimed when it is queued, or claimed under a lease that ran out by the store's clock.
    public static func isClaimable(status: StepTaskStatus, leaseExpiresAt: Date?, now: Date) -> Bool {
        switch status {
        case .queued: return true
        case .claimed: return !QueueClaimRule.isLive(leaseExpiresAt: leaseExpiresAt, now: now)
        case .done, .cancelled: return false
        }
    }

    /// Whether a task's run lets it be claimed by a helper of any run: running, no cancel asked.
    public static func runAdmits(status: RunStatus, cancelRequested: Bool) -> Bool {
        status == .running && !cancelRequested
    }

    /// The error a write through a fenced view throws once the task's lease is lost.
    public static func lostError(id: Int64, runID: String) -> StoreError {
        StoreError(.leaseLost, "this worker's lease on step task \(id) of run \(runID) was lost (it expired, the run was cancelled, or another worker claimed the task); nothing was written, the step goes on elsewhere")
    }
}

/// How a step executed as a task ended, as the task keeps it for the driver.
public enum StepTaskOutcome: Sendable, Hashable {
    case completed(JSONValue)
    case skipped(JSONValue)
    case failed(String)
    case refused(String)
    case rejected(String)

    public var json: JSONValue {
        switch self {
        case .completed(let output): return ["outcome": "completed", "output": output]
        case .skipped(let output): return ["outcome": "skipped", "output": output]
        case .failed(let message): return ["outcome": "failed", "message": .string(message)]
        case .refused(let message): return ["outcome": "refused", "message": .string(message)]
        case .rejected(let message): return ["outcome": "rejected", "message": .string(message)]
        }
    }

    /// Reads ``json`` back; nil for anything else.
    public init?(json: JSONValue) {
        let message = json["message"]?.stringValue
        switch json["outcome"]?.stringValue {
        case "completed": self = .completed(json["output"] ?? .null)
        case "skipped": self = .skipped(json["output"] ?? .null)
        case "failed": guard let message else { return nil }; self = .failed(message)
        case "refused": guard let message else { return nil }; self = .refused(message)
        case "rejected": guard let message else { return nil }; self = .rejected(message)
        default: return nil
        }
    }
}
