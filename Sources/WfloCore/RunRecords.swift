import Foundation

/// A run's state. Raw values are what JSON output and the journal say.
public enum RunStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Submitted (`wflo submit`), waiting for a worker to claim it.
    case queued
    case running
    case completed
    case failed
    case budgetExceeded = "budget_exceeded"
    case waitingApproval = "waiting_approval"
    case rejected
    case cancelled

    public var isFinal: Bool { self != .running && self != .waitingApproval && self != .queued }

    /// The process exit code `wflo run`/`resume` ends with.
    public var exitCode: Int32 {
        switch self {
        case .completed: return 0
        // `wflo submit` succeeded: the run waits for a worker.
        case .queued: return 0
        case .failed, .running: return 1
        case .budgetExceeded: return 3
        case .waitingApproval: return 4
        case .rejected, .cancelled: return 5
        }
    }
}

public enum StepStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pending
    case running
    case completed
    case failed
    /// Refused by the budget governor before any call was made.
    case budgetExceeded = "budget_exceeded"
    case skipped
    /// Waiting for a human decision (an `approval` step, or a gated step).
    case waitingApproval = "waiting_approval"
    /// A person (or a deadline) said no: the step never ran.
    case rejected
}

public enum AttemptStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Started, reservation held, no result yet.
    case running
    case succeeded
    case failed
    /// Was in flight when the process died: charged at its reservation, the truth unknown.
    case unsettled
}

/// One run of a workflow: a row of the journal.
public struct RunRecord: Sendable, Hashable, Codable {
    public var id: String
    public var workflowName: String
    /// Path of the workflow file as given, for people.
    public var workflowPath: String
    /// The workflow's YAML text as it was when the run started; resume re-reads this, not the file.
    public var workflowSource: String
    public var inputs: JSONValue
    /// Nil only when the user passed `--no-budget`.
    public var budget: Money?
    public var status: RunStatus
    public var outputs: JSONValue?
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// The queue the run was submitted to (`wflo submit`): a worker drives it. Nil for a run the
    /// process that started it drives (`wflo run`).
    public var queue: String?
    /// `--tag KEY=VALUE` and the workflow's `tags:`: what budget scopes select runs by (issue 17).
    public var tags: [String: String]
    /// What started the run when no person did: a schedule's tick or a webhook's delivery (issue 21).
    public var trigger: RunTrigger?
    /// The workflow's `concurrency:` with its key evaluated over the inputs when the run was created (issue 21).
    public var concurrency: RunConcurrency?

    public init(id: String, workflowName: String, workflowPath: String, workflowSource: String, inputs: JSONValue,
                budget: Money?, status: RunStatus = .running, outputs: JSONValue? = nil, error: String? = nil,
                createdAt: Date, updatedAt: Date, queue: String? = nil, tags: [String: String] = [:], trigger: RunTrigger? = nil,
                concurrency: RunConcurrency? = nil) {
        self.concurrency = concurrency
        self.tags = tags
        self.trigger = trigger
        self.id = id
        self.workflowName = workflowName
        self.workflowPath = workflowPath
        self.workflowSource = workflowSource
        self.inputs = inputs
        self.budget = budget
        self.status = status
        self.outputs = outputs
        self.error = error
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.queue = queue
    }
}

/// The journaled state of one step of a run.
public struct StepRecord: Sendable, Hashable, Codable {
    public var runID: String
    public var stepID: String
    public var type: StepType
    public var status: StepStatus
    /// The step's output, committed before any dependent step starts.
    public var output: JSONValue?
    public var error: String?
    public var model: String?
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(runID: String, stepID: String, type: StepType, status: StepStatus, output: JSONValue? = nil,
                error: String? = nil, model: String? = nil, startedAt: Date? = nil, finishedAt: Date? = nil) {
        self.runID = runID
        self.stepID = stepID
        self.type = type
        self.status = status
        self.output = output
        self.error = error
        self.model = model
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// One attempt at a step: the unit the ledger charges.
public struct AttemptRecord: Sendable, Hashable, Codable {
    public var id: Int64
    public var runID: String
    public var stepID: String
    /// 1-based.
    public var number: Int
    public var status: AttemptStatus
    public var model: String?
    /// The worst case held while the attempt was in flight.
    public var reserved: Money
    /// The exact cost once settled; nil while running or unsettled.
    public var cost: Money?
    public var usage: TokenUsage?
    public var error: String?
    public var startedAt: Date
    public var finishedAt: Date?
    /// Served from the LLM response cache: no call was made and nothing charged.
    public var cacheHit: Bool
    /// For a cache hit, what the call would have cost at the table's current prices.
    public var saved: Money?
    /// The part of ``cost`` billed per request or per search rather than per token (nil: none recorded).
    public var fees: Money?
    /// What the settlement found (``AttemptFlag``): usage above the reservation, usage the table cannot price.
    public var flags: [String]

    public init(id: Int64, runID: String, stepID: String, number: Int, status: AttemptStatus, model: String?,
                reserved: Money, cost: Money?, usage: TokenUsage?, error: String?, startedAt: Date, finishedAt: Date?,
                cacheHit: Bool = false, saved: Money? = nil, fees: Money? = nil, flags: [String] = []) {
        self.fees = fees
        self.flags = flags
        self.id = id
        self.runID = runID
        self.stepID = stepID
        self.number = number
        self.status = status
        self.model = model
        self.reserved = reserved
        self.cost = cost
        self.usage = usage
        self.error = error
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.cacheHit = cacheHit
        self.saved = saved
    }

    /// What this attempt counts against the budget: its cost once settled, else its reservation.
    public var charged: Money { AttemptRecord.charged(status: status, reserved: reserved, cost: cost) }

    /// The rule behind ``charged``, for callers holding the columns rather than a record.
    public static func charged(status: AttemptStatus, reserved: Money, cost: Money?) -> Money {
        switch status {
        case .succeeded, .failed: return cost ?? .zero
        case .running, .unsettled: return reserved
        }
    }
}

/// An entry of a run's append-only event log.
public struct EventRecord: Sendable, Hashable, Codable {
    public var sequence: Int64
    public var runID: String
    public var stepID: String?
    public var kind: JournalEventKind
    public var data: JSONValue
    public var at: Date

    public init(sequence: Int64 = 0, runID: String, stepID: String?, kind: JournalEventKind, data: JSONValue = .null, at: Date) {
        self.sequence = sequence
        self.runID = runID
        self.stepID = stepID
        self.kind = kind
        self.data = data
        self.at = at
    }
}

/// Money of a run as the ledger sees it.
public struct LedgerSnapshot: Sendable, Hashable, Codable {
    /// Sum of settled attempts' exact costs.
    public var settled: Money
    /// Sum of reservations of attempts still running or unsettled.
    public var reserved: Money
    public var budget: Money?
    /// Set once an attempt's settlement stopped the run (``AttemptFlag/stopsRun(_:)``): why. No attempt starts after it.
    public var stopReason: String?

    public init(settled: Money, reserved: Money, budget: Money?, stopReason: String? = nil) {
        self.settled = settled
        self.reserved = reserved
        self.budget = budget
        self.stopReason = stopReason
    }

    /// Settled plus reserved: what the budget must cover.
    public var committed: Money { settled + reserved }
    public var remaining: Money? { budget.map { $0 - committed } }

    /// The ledger once an attempt has reserved `amount` (what an admitted reservation writes).
    public func reserving(_ amount: Money) -> LedgerSnapshot {
        var after = self
        after.reserved += amount
        return after
    }
}

/// Everything the journal holds about a run: what resume and reports read.
public struct RunJournal: Sendable, Hashable {
    public var run: RunRecord
    public var steps: [StepRecord]
    public var attempts: [AttemptRecord]
    public var events: [EventRecord]
    public var approvals: [ApprovalRecord]

    public init(run: RunRecord, steps: [StepRecord], attempts: [AttemptRecord], events: [EventRecord],
                approvals: [ApprovalRecord] = []) {
        self.run = run
        self.steps = steps
        self.attempts = attempts
        self.events = events
        self.approvals = approvals
    }

    public var ledger: LedgerSnapshot {
        LedgerSnapshot(settled: attempts.filter { $0.status == .succeeded || $0.status == .failed }.map(\.charged).sum(),
                       reserved: attempts.filter { $0.status == .running || $0.status == .unsettled }.map(\.reserved).sum(),
                       budget: run.budget,
                       stopReason: attempts.lazy.compactMap { AttemptFlag.stopReason(flags: $0.flags) }.first)
    }
}

/// What a settlement marks on an attempt, and which marks stop the run.
public enum AttemptFlag {
    /// The provider reported usage that cost more than the attempt's reservation. It is charged what
    /// was reported; if the run's spend is then above its budget, no further attempt starts.
    public static let usageExceededReservation = "usage_exceeded_reservation"

    /// Usage of `field` was reported (non-zero) but the table has no price for it for this model:
    /// the attempt is charged what is known and the run starts no further attempt.
    public static func unpricedUsage(_ field: String) -> String { "unpriced_usage:" + field }

    /// The reason a set of flags stops the run, or nil. Only unpriced usage stops it by itself; usage
    /// above the reservation stops it through the budget (spend above the budget admits nothing).
    public static func stopReason(flags: [String]) -> String? {
        let unpriced = flags.filter { $0.hasPrefix("unpriced_usage:") }.map { String($0.dropFirst("unpriced_usage:".count)) }
        guard !unpriced.isEmpty else { return nil }
        return "the provider reported usage the pricing table has no price for (\(unpriced.joined(separator: ", "))): "
            + "its cost is unknown, so the run makes no further paid call; price it in a `pricing:` block or a --pricing file and run again"
    }
}

/// The one rule that admits an attempt against a run's ledger (the store applies it in the
/// reservation's transaction). Fails closed: anything it cannot compare is refused.
public enum BudgetAdmission {
    public enum Verdict: Sendable, Hashable {
        case admit
        /// `committed + reserve` is above the budget.
        case overBudget
        /// An earlier settlement stopped the run (``LedgerSnapshot/stopReason``).
        case stopped(String)
        /// The reservation or the ledger is not a finite, non-negative amount.
        case cannotCompare(String)
    }

    public static func decide(ledger: LedgerSnapshot, reserve: Money) -> Verdict {
        for (name, value) in [("reservation", reserve), ("settled", ledger.settled), ("reserved", ledger.reserved)]
        where !value.isFinite || value.isNegative {
            return .cannotCompare("the \(name) amount \(value.description) is not a finite, non-negative number of USD")
        }
        if let stop = ledger.stopReason { return .stopped(stop) }
        guard let budget = ledger.budget else { return .admit }
        guard budget.isFinite else { return .cannotCompare("the budget \(budget.description) is not a finite number of USD") }
        return ledger.committed + reserve > budget ? .overBudget : .admit
    }
}

/// How a run reaches the outside world, as it was started: a cassette replayed or recorded,
/// the response cache off, extra pricing files. Journaled when the run starts, so `wflo resume`
/// continues the same way — a run started from a cassette never goes live by accident.
public struct RunMode: Sendable, Hashable {
    /// The cassette served instead of the network (an absolute path).
    public var replay: String?
    /// The cassette every exchange is recorded to (an absolute path).
    public var record: String?
    /// The LLM response cache is neither read nor filled.
    public var noCache: Bool
    /// Pricing files that add or override models (absolute paths), in order.
    public var pricing: [String]

    public init(replay: String? = nil, record: String? = nil, noCache: Bool = false, pricing: [String] = []) {
        self.replay = replay
        self.record = record
        self.noCache = noCache
        self.pricing = pricing
    }

    /// The network, the cache on, the shipped prices.
    public var isDefault: Bool { self == RunMode() }

    /// How a resumed run goes on: what `given` (the resume's own options) says, and for what it
    /// leaves unsaid, this journaled mode — its cassette unless a replay or recording is given,
    /// the cache off if either says so, its pricing files unless others are given. A run started
    /// from a cassette never goes live by accident.
    public func continued(by given: RunMode) -> RunMode {
        var mode = given
        if given.replay == nil && given.record == nil {
            mode.replay = replay
            mode.record = record
        }
        mode.noCache = given.noCache || noCache
        if given.pricing.isEmpty { mode.pricing = pricing }
        return mode
    }

    /// The journaled form (`run_started`'s `mode`).
    public var json: JSONValue {
        var object: [String: JSONValue] = ["no_cache": .bool(noCache), "pricing": .array(pricing.map { .string($0) })]
        if let replay { object["replay"] = .string(replay) }
        if let record { object["record"] = .string(record) }
        return .object(object)
    }

    /// Reads the journaled form; fields it lacks keep their defaults.
    public init(json: JSONValue) {
        self.init(replay: json["replay"]?.stringValue, record: json["record"]?.stringValue,
                  noCache: json["no_cache"]?.boolValue ?? false,
                  pricing: json["pricing"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }
}
