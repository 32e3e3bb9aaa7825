import Foundation

/// Queued runs and the leases workers hold on them (`wflo submit`, `wflo worker`, `wflo queue`).
///
/// A run is *enqueued* when it has a queue. A worker *claims* one with a lease: its ``RunOwner``
/// becomes the run's owner (so `status` and `resume` see a live driver) and the lease runs until
/// an expiry timed by **the store's clock** (SQLite's `julianday('now')`, PostgreSQL's
/// `clock_timestamp()`), never the worker's, so workers on machines whose clocks disagree still
/// agree on who holds what. The worker renews the lease (every lease/3); a worker that dies or
/// stalls past its lease loses the run and another worker continues it from the journal.
///
/// **Fencing.** A worker drives its run through ``fenced(runID:token:)``: every write transaction
/// of that view first checks, in the same transaction, that `token` still holds a live lease on
/// the run, and throws ``StoreError`` `.leaseLost` (writing nothing) otherwise. A worker that wakes
/// up after losing its lease cannot commit anything.
///
/// Rules every implementation keeps (`Tests/WfloStoreTests/QueueConformanceTests.swift`):
/// - ``QueueClaimRule/isClaimable(status:hasOwner:leaseExpiresAt:heartbeatAt:pendingApprovals:now:)`` says which runs may be
///   claimed; ``QueueClaimRule/precedes(_:_:)`` the order (higher priority first, then oldest).
/// - A queue's concurrency (``QueueSettings``) is global: a claim never makes more live leases on
///   the queue than it allows. Two claimers racing never both win a run.
/// - A run with a workflow's concurrency key is claimed only when its key has room, and the claim
///   takes its slot (``ConcurrencyRule``, ``ConcurrencyStore``).
/// - A lease is held while its token is the run's owner and its expiry is after the store's now.
///   Once expired it is lost, even before another worker claims the run: renewal then fails.
public protocol RunQueueStore: Sendable {
    /// Enqueues a new run (status ``RunStatus/queued``) with `events` (its `run_started`), in one
    /// transaction. With an idempotency key a run already has, writes nothing and returns that run.
    /// - Throws: ``StoreError`` `.conflict` when a run with the new run's id exists.
    func enqueueRun(_ request: EnqueueRequest) async throws -> EnqueueOutcome

    /// Claims the claimable run that comes first (``QueueClaimRule``) on one of `queues` (every
    /// queue when empty) whose queue has room, for `owner`, with a lease of `lease` seconds on the
    /// store's clock. Nil when there is none. Atomic: two claimers never both win a run.
    func claimQueuedRun(queues: [String], owner: RunOwner, lease: Double) async throws -> QueueLease?

    /// Extends `token`'s lease on the run to `lease` seconds after the store's now (and records
    /// the heartbeat). Returns false, writing nothing, when the lease is no longer held (expired,
    /// released, or claimed by another).
    func renewLease(runID: String, token: String, lease: Double) async throws -> Bool

    /// Gives the run back without finishing it (its status is kept; it is claimable again at once
    /// when its status allows). Returns false when `token` did not own the run.
    @discardableResult
    func releaseLease(runID: String, token: String) async throws -> Bool

    /// Sets a queue's concurrency (nil: no limit), global across workers.
    func setQueue(_ settings: QueueSettings) async throws
    /// Every queue that has settings or a run not yet final, by name, with its counts.
    func queues() async throws -> [QueueSummary]

    /// This store seen by the holder of `token`'s lease on `runID`: every write transaction
    /// checks first, in the same transaction, that the lease is still held, and throws
    /// ``StoreError`` `.leaseLost` writing nothing otherwise. Reads are not checked.
    func fenced(runID: String, token: String) -> any JournalStore
}

/// What ``RunQueueStore/enqueueRun(_:)`` writes.
public struct EnqueueRequest: Sendable, Hashable {
    /// The new run; its status is written as ``RunStatus/queued`` whatever it says.
    public var run: RunRecord
    /// Written with the run, in order (the executor's `run_started`).
    public var events: [EventRecord]
    public var queue: String
    /// Higher runs first; equal priorities run oldest first.
    public var priority: Int
    /// A second enqueue with the same key returns the first run and writes nothing.
    public var idempotencyKey: String?

    public init(run: RunRecord, events: [EventRecord], queue: String = QueueSettings.defaultQueue, priority: Int = 0,
                idempotencyKey: String? = nil) {
        self.run = run
        self.events = events
        self.queue = queue
        self.priority = priority
        self.idempotencyKey = idempotencyKey
    }
}

public enum EnqueueOutcome: Sendable, Hashable {
    /// The run was written, queued.
    case enqueued(RunRecord)
    /// A run with the same idempotency key was already there (as it is now); nothing was written.
    case existing(RunRecord)

    public var run: RunRecord {
        switch self {
        case .enqueued(let run), .existing(let run): return run
        }
    }
}

/// A claim a worker holds on a queued run.
public struct QueueLease: Sendable, Hashable {
    public var runID: String
    public var queue: String
    /// The worker; `owner.token` is the lease's token (for ``RunQueueStore/fenced(runID:token:)``).
    public var owner: RunOwner
    /// The run's status when it was claimed (`queued`, `running` after a lost worker, or `waiting_approval` once decided).
    public var status: RunStatus
    /// When the lease ends unless renewed, by the store's clock.
    public var expiresAt: Date

    public init(runID: String, queue: String, owner: RunOwner, status: RunStatus, expiresAt: Date) {
        self.runID = runID
        self.queue = queue
        self.owner = owner
        self.status = status
        self.expiresAt = expiresAt
    }
}

/// A queue's settings, global across workers.
public struct QueueSettings: Sendable, Hashable {
    /// The queue `wflo submit` and `wflo worker` use when none is named.
    public static let defaultQueue = "default"

    public var name: String
    /// At most this many runs of the queue hold a live lease at once; nil: no limit.
    public var concurrency: Int?

    public init(name: String, concurrency: Int?) {
        self.name = name
        self.concurrency = concurrency
    }

    /// What is wrong with a queue name a person gave (nil when nothing): 1–64 letters, digits, `-`, `_` or `.`.
    public static func problem(name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        if name.isEmpty || name.count > 64 || !name.allSatisfy({ allowed.contains($0) }) {
            return "queue name '\(name)' must be 1-64 letters, digits, '-', '_' or '.'"
        }
        return nil
    }
}

/// A queue as `wflo queue` lists it.
public struct QueueSummary: Sendable, Hashable {
    public var name: String
    public var concurrency: Int?
    /// Runs with status `queued` and no live lease.
    public var queued: Int
    /// Runs with a live lease.
    public var running: Int

    public init(name: String, concurrency: Int?, queued: Int, running: Int) {
        self.name = name
        self.concurrency = concurrency
        self.queued = queued
        self.running = running
    }
}

/// Which queued runs a worker may claim, and in which order. SQL stores state the same rule in
/// their claim statement (and point here).
public enum QueueClaimRule {
    /// An enqueued run may be claimed when no live lease holds it and no other process drives it,
    /// and it is `queued`, `running` (its worker died or let it go), or `waiting_approval` with no
    /// decision pending. An owner without a lease (`wflo resume` or `wflo cancel` typed by a person)
    /// drives it while it heartbeats: once its heartbeat is older than ``RunDriver/staleAfter`` it
    /// is gone (killed, crashed) and a worker may take the run, so a run is never stranded by a
    /// process that died holding it. That heartbeat is written by the driver's clock and read
    /// against the store's: clocks that disagree by less than the margin (30 s against a 2 s
    /// heartbeat) do not matter.
    /// - Parameters:
    ///   - hasOwner: the run has an owner (`runs.owner`).
    ///   - leaseExpiresAt: the owner's lease expiry; nil when the owner holds no lease.
    ///   - heartbeatAt: the owner's last heartbeat.
    ///   - now: the store's clock.
    public static func isClaimable(status: RunStatus, hasOwner: Bool, leaseExpiresAt: Date?, heartbeatAt: Date?, pendingApprovals: Int,
                                   now: Date) -> Bool {
        if hasOwner {
            if let leaseExpiresAt {
                guard leaseExpiresAt <= now else { return false }
            } else {
                guard now.timeIntervalSince(heartbeatAt ?? .distantPast) > RunDriver.staleAfter else { return false }
            }
        }
        switch status {
        case .queued, .running: return true
        case .waitingApproval: return pendingApprovals == 0
        case .completed, .failed, .budgetExceeded, .rejected, .cancelled: return false
        }
    }

    /// Whether a lease with this expiry is live at `now` (the store's clock).
    public static func isLive(leaseExpiresAt: Date?, now: Date) -> Bool {
        leaseExpiresAt.map { $0 > now } ?? false
    }

    /// The claim order: higher priority first, then older (creation time, then insertion order).
    public static func precedes(_ a: (priority: Int, createdAt: Date, order: Int), _ b: (priority: Int, createdAt: Date, order: Int)) -> Bool {
        if a.priority != b.priority { return a.priority > b.priority }
        if a.createdAt != b.createdAt { return a.createdAt < b.createdAt }
        return a.order < b.order
    }
}

/// The lease a fenced view's writes must still hold (``RunQueueStore/fenced(runID:token:)``).
public struct LeaseFence: Sendable, Hashable {
    public var runID: String
    public var token: String
    /// Set for a helper's view (``StepTaskStore/fenced(stepTask:)``): the lease checked is
    /// `token`'s on this step task, not on the run.
    public var stepTask: Int64?

    public init(runID: String, token: String, stepTask: Int64? = nil) {
        self.runID = runID
        self.token = token
        self.stepTask = stepTask
    }

    /// The error a write through the view throws once the lease is lost.
    public var lostError: StoreError {
        if let stepTask { return StepTaskRule.lostError(id: stepTask, runID: runID) }
        return StoreError(.leaseLost, "this worker's lease on run \(runID) was lost (it expired, was released, or another worker claimed the run); nothing was written, the run goes on elsewhere")
    }
}
