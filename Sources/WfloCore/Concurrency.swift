import Foundation

/// A workflow's `concurrency:` as one run holds it (issue 21): the key evaluated once, when the run
/// is created, over its inputs, and journaled with the run (`runs.concurrency`). Runs of one
/// workflow with the same key share `limit` slots, across every process on the journal.
public struct RunConcurrency: Sendable, Hashable, Codable {
    /// The evaluated key; "" when the workflow gives none (one key for the whole workflow).
    public var key: String
    public var limit: Int
    public var onConflict: ConcurrencySettings.OnConflict

    public init(key: String, limit: Int, onConflict: ConcurrencySettings.OnConflict) {
        self.key = key
        self.limit = limit
        self.onConflict = onConflict
    }

    enum CodingKeys: String, CodingKey {
        case key, limit
        case onConflict = "on_conflict"
    }

    /// As `runs --json`, `status --json` and the API print it.
    public var json: JSONValue {
        ["key": .string(key), "limit": .int(limit), "on_conflict": .string(onConflict.rawValue)]
    }

    /// The key in messages: `key 'acme'`, or `no key` (one for the whole workflow).
    public var keyPhrase: String { key.isEmpty ? "no key" : "key '\(key)'" }

    /// Runs sharing the slots, in messages: `with concurrency key 'acme'`, or `under its concurrency limit` (no key).
    public var sharing: String { key.isEmpty ? "under its concurrency limit" : "with concurrency key '\(key)'" }
}

extension ConcurrencySettings {
    /// The concurrency a run with `inputs` is created with: `key` rendered over the inputs (a
    /// missing input renders as nothing). The reader allows only `{{inputs.NAME}}` in the key.
    public func evaluate(inputs: JSONValue) -> RunConcurrency {
        let text = key?.renderText { path in
            guard path.first == "inputs" else { return .null }
            return inputs.value(at: path.dropFirst()) ?? .null
        } ?? ""
        return RunConcurrency(key: text, limit: limit, onConflict: onConflict)
    }
}

/// A run of a concurrency key that is not final: one holding a slot, or one waiting for one.
public struct ConcurrencyOccupant: Sendable, Hashable {
    public var runID: String
    public var status: RunStatus
    /// It took a slot (a worker claimed it, or its process started it) and is not final.
    public var holdsSlot: Bool
    /// A cancel was requested (by `wflo cancel`, or by a newer run under `cancel_running`): it is going.
    public var cancelRequested: Bool

    public init(runID: String, status: RunStatus, holdsSlot: Bool, cancelRequested: Bool) {
        self.runID = runID
        self.status = status
        self.holdsSlot = holdsSlot
        self.cancelRequested = cancelRequested
    }
}

/// What a new run does when it arrives at its key (``ConcurrencyRule/arrival(of:workflow:occupants:)``).
public enum ConcurrencyArrival: Sendable, Hashable {
    /// The run is kept; it takes a slot once one is free. `cancel`: the runs it cancels first
    /// (`cancel_running`), oldest first, with ``reason`` as the cancel's reason.
    case admitted(cancel: [String], reason: String?)
    /// `skip`: the run is not run; it ends `cancelled` at once with this reason.
    case skipped(reason: String)
}

/// What ``ConcurrencyStore/takeConcurrencySlot(runID:arriving:at:)`` found.
public enum ConcurrencySlotOutcome: Sendable, Hashable {
    /// The run may be driven: it holds its slot (taken now or before), has no concurrency, or was
    /// asked to cancel (it goes on only to end `cancelled`, holding no slot).
    case taken
    /// No slot is free: these runs hold them. Ask again later.
    case waiting(holders: [String])
    /// The run ended at once (`skip`), or was already final (cancelled while it waited).
    case ended(RunStatus, reason: String?)
}

/// Which runs hold a concurrency slot, and what a new run does at a full key: the one rule every
/// store states (SQLite and PostgreSQL in their claim statements, which point here).
///
/// - A run *holds a slot* from the moment it takes one until it is final, whatever it does in
///   between: a run waiting for an approval, or given back by a worker that stopped, keeps it.
/// - A run takes a slot in the transaction that claims it (a worker) or starts it (`wflo run`,
///   `wflo resume`), and only while fewer than `limit` runs of its workflow and key hold one.
/// - A run whose cancel was requested may be claimed without a slot: it only ends.
public enum ConcurrencyRule {
    public static func holdsSlot(status: RunStatus, slotTaken: Bool) -> Bool {
        slotTaken && !status.isFinal
    }

    /// Whether a claim may take this run as far as its concurrency goes. `holders`: the runs of
    /// its workflow and key holding a slot now (``holdsSlot(status:slotTaken:)``).
    public static func isClaimable(concurrency: RunConcurrency?, slotTaken: Bool, cancelRequested: Bool, holders: Int) -> Bool {
        guard let concurrency, !slotTaken, !cancelRequested else { return true }
        return holders < concurrency.limit
    }

    /// Whether the claim (or start) marks the run as holding a slot.
    public static func takesSlot(concurrency: RunConcurrency?, cancelRequested: Bool) -> Bool {
        concurrency != nil && !cancelRequested
    }

    /// A new run arriving at its key, given the key's other runs not final (`occupants`, oldest
    /// first: the runs holding a slot and those admitted before it, waiting). Runs already asked to
    /// cancel do not count: they are going.
    /// - `queue`: admitted; it waits for a slot.
    /// - `skip`: skipped when `limit` runs are already there.
    /// - `cancel_running`: admitted, cancelling the oldest runs so that `limit` remain with it.
    public static func arrival(of concurrency: RunConcurrency, runID: String, workflow: String,
                               occupants: [ConcurrencyOccupant]) -> ConcurrencyArrival {
        let staying = occupants.filter { !$0.cancelRequested && !$0.status.isFinal && $0.runID != runID }
        guard staying.count >= concurrency.limit else { return .admitted(cancel: [], reason: nil) }
        switch concurrency.onConflict {
        case .queue:
            return .admitted(cancel: [], reason: nil)
        case .skip:
            return .skipped(reason: skipReason(concurrency, workflow: workflow, active: staying.count))
        case .cancelRunning:
            let victims = staying.prefix(staying.count - concurrency.limit + 1).map(\.runID)
            return .admitted(cancel: victims, reason: "cancel_running: the newer run \(runID) of workflow '\(workflow)' \(concurrency.sharing) takes its place (limit \(concurrency.limit))")
        }
    }

    /// The error a skipped run ends with (`status`, `runs --json`, the API).
    public static func skipReason(_ concurrency: RunConcurrency, workflow: String, active: Int) -> String {
        "skipped: workflow '\(workflow)' already has \(active) run\(active == 1 ? "" : "s") \(concurrency.sharing) (limit \(concurrency.limit), on_conflict: skip)"
    }

    /// Who asks for a `cancel_running` cancel (the cancel request's `by`).
    public static let cancelBy = "concurrency"
}

/// Concurrency slots (``ConcurrencyRule``), kept by every store in the transactions that enqueue,
/// claim and start runs: `enqueueRun` applies ``ConcurrencyRule/arrival(of:runID:workflow:occupants:)``
/// to a run with a ``RunRecord/concurrency`` (ending it for `skip`, requesting the cancels of
/// `cancel_running`), `claimQueuedRun` claims only runs with room and takes their slot.
public protocol ConcurrencyStore: Sendable {
    /// For a run driven by the process that created it (`wflo run`, `wflo resume`): in one
    /// transaction (locking its key), takes a slot when one is free. With `arriving` (the run's
    /// first try), the arrival rule is applied first: the run ends for `skip` (``ConcurrencySlotOutcome/ended(_:reason:)``),
    /// and the cancels of `cancel_running` are requested. A run without concurrency, or holding
    /// its slot, gets ``ConcurrencySlotOutcome/taken`` at once.
    /// - Throws: ``StoreError`` `.notFound` for an unknown run.
    func takeConcurrencySlot(runID: String, arriving: Bool, at: Date) async throws -> ConcurrencySlotOutcome

    /// The runs of `workflow` with concurrency key `key` that are not final, oldest first.
    func concurrencyOccupants(workflow: String, key: String) async throws -> [ConcurrencyOccupant]
}

extension JournalCells {
    /// A run's concurrency from its columns (`concurrency_key`, `concurrency_limit`, `concurrency_on_conflict`); nil when it has none.
    /// - Throws: `StoreError(.corrupt)` for an `on_conflict` this version does not know.
    public static func concurrency(key: String?, limit: Int?, onConflict: String?) throws -> RunConcurrency? {
        guard let key, let limit else { return nil }
        let mode = try onConflict.map { try enumeration($0, "runs.concurrency_on_conflict") as ConcurrencySettings.OnConflict } ?? .queue
        return RunConcurrency(key: key, limit: limit, onConflict: mode)
    }
}
