import Foundation
import WfloCore

/// The whole ``JournalStore`` in memory, for tests and tools that need no file.
///
/// Each method takes one lock for its whole body, so it is one atomic step just as each of
/// ``SQLiteJournalStore``'s is one transaction, and it decides by calling the same rules of
/// `WfloCore` (``AttemptAdmission``, ``AttemptSettlement``, ``ApprovalRecord/deciding(_:)``,
/// ``RunClaim/deciding(holder:heartbeatAt:claimant:takeOver:)``, ``CircuitRecord``'s state
/// machine, ``CacheEntry/isLive(at:)``). `Tests/WfloStoreTests/ConformanceTests.swift` runs the same
/// invariants against it and against SQLite.
///
/// It needs no clock of its own: every method that depends on the time is given it (`at:`), as
/// the protocol says, by the caller's clock.
public final class MemoryJournalStore: JournalStore {
    private let state: Shared
    /// Set on a view from ``fenced(runID:token:)``: every write checks this lease first.
    private let fence: LeaseFence?
    /// The store's own clock, which times queue leases (as a database's clock does).
    private let clock: @Sendable () -> Date

    /// - Parameter clock: the store's clock for queue leases (the wall clock by default).
    public init(clock: @escaping @Sendable () -> Date = { Date() }) {
        state = Shared()
        fence = nil
        self.clock = clock
    }

    private init(sharing store: MemoryJournalStore, fence: LeaseFence) {
        state = store.state
        self.fence = fence
        clock = store.clock
    }

    /// The state behind one lock, shared by a store and its fenced views. Unchecked: the state
    /// is only touched under the lock.
    private final class Shared: @unchecked Sendable {
        private let lock = NSLock()
        private var value = State()

        func withLock<T>(_ body: (inout State) throws -> T) rethrows -> T {
            lock.lock()
            defer { lock.unlock() }
            return try body(&value)
        }
    }

    /// A write: one lock, and on a fenced view the lease is checked first under it.
    private func write<T>(_ body: (inout State) throws -> T) throws -> T {
        let fence = self.fence
        let now = clock()
        return try state.withLock { state in
            if let fence, let task = fence.stepTask {
                guard let held = state.stepTasks[task], held.status == .claimed, held.owner?.token == fence.token,
                      QueueClaimRule.isLive(leaseExpiresAt: held.leaseExpiresAt, now: now) else { throw fence.lostError }
            } else if let fence {
                guard let run = state.runs[fence.runID], run.owner?.token == fence.token,
                      QueueClaimRule.isLive(leaseExpiresAt: run.leaseExpiresAt, now: now) else { throw fence.lostError }
            }
            return try body(&state)
        }
    }

    public var journalLocation: String { "the in-memory journal" }

    // MARK: - State

    private struct Run {
        var record: RunRecord
        /// Insertion order, the tie-break of equal creation times (SQLite's rowid).
        var order: Int
        var settled = Money.zero
        var reserved = Money.zero
        var stopReason: String?
        var steps: [String: StepRecord] = [:]
        var attempts: [AttemptRecord] = []
        var events: [EventRecord] = []
        var cancel: CancelRequest?
        var owner: RunOwner?
        var heartbeatAt: Date?
        var priority = 0
        var idempotencyKey: String?
        /// The queue it was submitted to: the record's, the one place it is kept.
        var queue: String? { record.queue }
        /// By the store's clock; nil unless ``owner`` holds a queue lease.
        var leaseExpiresAt: Date?
        /// It took its concurrency slot (``ConcurrencyRule``).
        var slotTaken = false

        var ledger: LedgerSnapshot {
            LedgerSnapshot(settled: settled, reserved: reserved, budget: record.budget, stopReason: stopReason)
        }

        mutating func append(_ event: EventRecord) {
            var event = event
            event.sequence = Int64(events.count + 1)
            events.append(event)
        }

        /// The step row after an upsert: `update` changes an existing row, `insert` is the new one.
        mutating func upsertStep(_ id: String, insert: StepRecord, update: (inout StepRecord) -> Void) {
            if var existing = steps[id] {
                update(&existing)
                steps[id] = existing
            } else {
                steps[id] = insert
            }
        }
    }

    /// A window's key: its scope and period start (the journals' primary key).
    private struct WindowID: Hashable {
        var scope: String
        var periodStart: Date
    }

    private struct StoredAlert {
        var record: AlertRecord
        var leaseOwner: String?
        var leaseExpiresAt: Date?
    }

    private struct StoredNotification {
        var record: ApprovalNotification
        var leaseOwner: String?
        var leaseExpiresAt: Date?
    }

    private struct Approval {
        var record: ApprovalRecord
        var order: Int
    }

    private struct Cached {
        var entry: CacheEntry
        var hits = 0
        var lastHitAt: Date?
    }

    private struct State {
        var runs: [String: Run] = [:]
        var approvals: [String: Approval] = [:]
        var cache: [String: Cached] = [:]
        var circuits: [String: CircuitRecord] = [:]
        /// Queue name → concurrency (nil: no limit).
        var queueSettings: [String: Int?] = [:]
        var nextAttemptID: Int64 = 1
        var nextOrder = 0
        var scopes: [String: BudgetScope] = [:]
        var windows: [WindowID: BudgetWindow] = [:]
        /// The windows each attempt reserved in.
        var attemptWindows: [Int64: [WindowID]] = [:]
        var alerts: [StoredAlert] = []
        /// API tokens by name.
        var tokens: [String: APITokenRecord] = [:]
        /// Dashboard sessions by the hash of their id.
        var sessions: [String: SessionRecord] = [:]
        var notifyHooks: [String] = []
        var notifications: [StoredNotification] = []
        var settings: [String: String] = [:]
        /// Every deployed version, oldest first, with when it was undeployed.
        var deployments: [(record: DeploymentRecord, undeployedAt: Date?)] = []
        /// Webhook deliveries refused for their signature, by hook.
        var rejectedDeliveries: [String: Int] = [:]
        /// Step tasks by id (``StepTaskStore``).
        var stepTasks: [Int64: StepTaskRecord] = [:]
        var nextStepTaskID: Int64 = 1

        mutating func order() -> Int {
            nextOrder += 1
            return nextOrder
        }

        /// The concurrency key's runs not final, oldest first.
        func occupants(workflow: String, key: String) -> [ConcurrencyOccupant] {
            runs.values.filter { $0.record.workflowName == workflow && $0.record.concurrency?.key == key && !$0.record.status.isFinal }
                .sorted { ($0.record.createdAt, $0.order) < ($1.record.createdAt, $1.order) }
                .map { ConcurrencyOccupant(runID: $0.record.id, status: $0.record.status,
                                           holdsSlot: ConcurrencyRule.holdsSlot(status: $0.record.status, slotTaken: $0.slotTaken),
                                           cancelRequested: $0.cancel != nil) }
        }

        /// ``ConcurrencyRule/arrival(of:runID:workflow:occupants:)`` for `run`: requests the cancels
        /// of `cancel_running`; returns the skip reason when it is skipped.
        mutating func arrive(_ run: RunRecord, _ concurrency: RunConcurrency, at: Date) -> String? {
            switch ConcurrencyRule.arrival(of: concurrency, runID: run.id, workflow: run.workflowName,
                                           occupants: occupants(workflow: run.workflowName, key: concurrency.key)) {
            case .skipped(let reason):
                return reason
            case .admitted(let victims, let reason):
                for victim in victims where runs[victim]?.cancel == nil {
                    let request = CancelRequest(at: at, by: ConcurrencyRule.cancelBy, reason: reason)
                    runs[victim]?.cancel = request
                    runs[victim]?.append(.cancelRequested(runID: victim, request))
                }
                return nil
            }
        }

        func notFound(_ runID: String) -> StoreError {
            StoreError(.notFound, "run \(runID) is not in the in-memory journal")
        }

        /// Runs `body` on the run's state.
        /// - Throws: ``StoreError`` `.notFound` when there is no such run.
        mutating func withRun<T>(_ id: String, _ body: (inout Run) throws -> T) throws -> T {
            guard var run = runs[id] else { throw notFound(id) }
            let result = try body(&run)
            runs[id] = run
            return result
        }

        /// ``ScopeAdmission`` on the windows of the scopes matching `tags` (a $0 reservation reads nothing).
        func scopeDecision(tags: [String: String], reserve: Money, at: Date) -> ScopeAdmission.Decision {
            if reserve.isZero || scopes.isEmpty { return .admitted(.none) }
            let charges = ScopeAdmission.matching(Array(scopes.values), tags: tags).map { scope in
                let key = scope.window(at: at)
                return ScopeCharge(scope: scope, window: windows[WindowID(scope: scope.name, periodStart: key.periodStart)]
                    ?? BudgetWindow(scope: scope.name, key: key))
            }
            return ScopeAdmission.decide(charges: charges, reserve: reserve, at: at, newAlertID: { UUID().uuidString.lowercased() })
        }

        /// Writes an admitted reservation's windows, remembers them for the attempt, and adds each
        /// alert unless one with its scope, period and threshold is there.
        mutating func charge(_ admitted: ScopeAdmission.Admitted, attemptID: Int64) {
            for window in admitted.windows {
                let id = WindowID(scope: window.scope, periodStart: window.key.periodStart)
                windows[id] = window
                attemptWindows[attemptID, default: []].append(id)
            }
            for alert in admitted.alerts where !alerts.contains(where: {
                $0.record.scope == alert.scope && $0.record.periodStart == alert.periodStart && $0.record.threshold == alert.threshold
            }) {
                alerts.append(StoredAlert(record: alert))
            }
        }

        /// ``ScopeSettlement`` on the windows the attempt reserved in.
        mutating func settle(attemptID: Int64, reserved: Money, cost: Money) {
            for id in attemptWindows[attemptID] ?? [] {
                guard let window = windows[id] else { continue }
                windows[id] = ScopeSettlement.settling(window, reserved: reserved, cost: cost)
            }
        }
    }

    // MARK: - Runs

    public func createRun(_ run: RunRecord) async throws {
        try write { state in
            guard state.runs[run.id] == nil else {
                throw StoreError(.conflict, "a run with id \(run.id) is already in the in-memory journal")
            }
            let order = state.order()
            // As in SQL: only an enqueue gives a run its queue.
            var record = run
            record.queue = nil
            state.runs[run.id] = Run(record: record, order: order)
        }
    }

    public func run(id: String) async throws -> RunRecord? {
        state.withLock { $0.runs[id]?.record }
    }

    public func listRuns(limit: Int) async throws -> [RunRecord] {
        state.withLock { state in
            Array(state.runs.values.sorted(by: Self.newestFirst).prefix(max(limit, 0)).map(\.record))
        }
    }

    public func updateRun(id: String, status: RunStatus, outputs: JSONValue?, error: String?, at: Date) async throws {
        try write { state in
            try state.withRun(id) { run in
                run.record.status = status
                run.record.outputs = outputs
                run.record.error = error
                run.record.updatedAt = at
                run.append(.runStatus(runID: id, status: status, error: error, at: at))
            }
        }
    }

    public func appendEvent(_ event: EventRecord) async throws {
        try write { state in try state.withRun(event.runID) { $0.append(event) } }
    }

    public func updateRunBudget(id: String, budget: Money, at: Date) async throws {
        try write { state in
            try state.withRun(id) { run in
                run.record.budget = budget
                run.record.updatedAt = at
                run.append(.budgetChanged(runID: id, budget: budget, at: at))
            }
        }
    }

    public func journal(runID: String) async throws -> RunJournal {
        try state.withLock { state in
            guard let run = state.runs[runID] else { throw state.notFound(runID) }
            // As SQLite orders them: by start (never-started first), then id.
            let steps = run.steps.values.sorted { a, b in
                switch (a.startedAt, b.startedAt) {
                case (nil, nil): return a.stepID < b.stepID
                case (nil, _?): return true
                case (_?, nil): return false
                case let (x?, y?): return x != y ? x < y : a.stepID < b.stepID
                }
            }
            let approvals = state.approvals.values.filter { $0.record.runID == runID }.sorted(by: Self.oldestFirst).map(\.record)
            return RunJournal(run: run.record, steps: steps, attempts: run.attempts, events: run.events, approvals: approvals)
        }
    }

    public func journal(runID: String, eventKinds: Set<JournalEventKind>, stepOutputs: Bool) async throws -> RunJournal {
        var journal = try await journal(runID: runID)
        journal.events = journal.events.filter { eventKinds.contains($0.kind) }
        if !stepOutputs { journal.steps = journal.steps.map { var step = $0; step.output = nil; return step } }
        return journal
    }

    public func journal(runID: String, eventKinds: Set<JournalEventKind>,
                        pick: @escaping @Sendable (JournalPageIndex) -> Set<String>) async throws -> RunJournal {
        var journal = try await journal(runID: runID, eventKinds: eventKinds, stepOutputs: false)
        let picked = pick(JournalPageIndex(run: journal.run, events: journal.events, steps: journal.steps.map { ($0.stepID, $0.type) }))
        journal.steps = journal.steps.filter { picked.contains($0.stepID) }
        return journal
    }

    public func requestCancel(runID: String, by: String, reason: String?, at: Date) async throws -> CancelRequest {
        try write { state in
            try state.withRun(runID) { run in
                // The first request is kept.
                if let first = run.cancel { return first }
                let request = CancelRequest(at: at, by: by, reason: reason)
                run.cancel = request
                run.append(.cancelRequested(runID: runID, request))
                return request
            }
        }
    }

    public func cancelRequest(runID: String) async throws -> CancelRequest? {
        state.withLock { $0.runs[runID]?.cancel }
    }

    // MARK: - Attempts and the ledger

    public func beginAttempt(_ start: AttemptStart) async throws -> AttemptBeginOutcome {
        try write { state in
            let attemptID = state.nextAttemptID
            let scopes = state.scopeDecision(tags: state.runs[start.runID]?.record.tags ?? [:], reserve: start.reserve, at: start.at)
            let outcome = try state.withRun(start.runID) { run -> AttemptBeginOutcome in
                let attempts = run.attempts
                if let refusal = AttemptAdmission.refusal(ledger: run.ledger, cancelRequested: run.cancel != nil, reserve: start.reserve,
                                                          limits: start.limits, committedWithin: { $0.committed(by: attempts) }) {
                    return refusal
                }
                if case .refused(let refusal) = scopes { return .refusedByScope(refusal) }
                run.attempts.append(AttemptRecord(id: attemptID, runID: start.runID, stepID: start.stepID, number: start.number,
                                                  status: .running, model: start.model, reserved: start.reserve, cost: nil, usage: nil,
                                                  error: nil, startedAt: start.at, finishedAt: nil))
                run.reserved += start.reserve
                run.upsertStep(start.stepID, insert: StepRecord(runID: start.runID, stepID: start.stepID, type: start.stepType,
                                                                status: .running, model: start.model, startedAt: start.at)) { step in
                    step.status = .running
                    step.model = start.model
                    step.error = nil
                    step.startedAt = step.startedAt ?? start.at
                    step.finishedAt = nil
                }
                run.append(.stepStarted(start, attemptID: attemptID))
                return .started(attemptID: attemptID)
            }
            if case .started = outcome {
                state.nextAttemptID += 1
                if case .admitted(let admitted) = scopes { state.charge(admitted, attemptID: attemptID) }
            }
            return outcome
        }
    }

    @discardableResult
    public func finishAttempt(_ finish: AttemptFinish) async throws -> LedgerSnapshot {
        try write { state in
            let missing = StoreError(.notFound, "attempt \(finish.attemptID) of run \(finish.runID) is not in the in-memory journal")
            guard state.runs[finish.runID] != nil else { throw missing }
            var settleScopes: (reserved: Money, cost: Money)?
            defer {
                if let settleScopes { state.settle(attemptID: finish.attemptID, reserved: settleScopes.reserved, cost: settleScopes.cost) }
            }
            return try state.withRun(finish.runID) { run in
                guard let index = run.attempts.firstIndex(where: { $0.id == finish.attemptID }) else { throw missing }
                let before = run.ledger
                guard let settlement = AttemptSettlement.settling(finish, current: run.attempts[index].status,
                                                                  reserved: run.attempts[index].reserved, ledger: before) else {
                    return before
                }
                if !finish.unanswered { settleScopes = (run.attempts[index].reserved, finish.cost) }
                run.attempts[index].status = settlement.status
                run.attempts[index].error = finish.error
                run.attempts[index].finishedAt = finish.at
                if let sent = finish.sentAt { run.attempts[index].startedAt = sent }
                if !finish.unanswered {
                    run.attempts[index].cost = finish.cost
                    run.attempts[index].usage = finish.usage
                    run.attempts[index].fees = finish.fees.isZero ? nil : finish.fees
                    run.attempts[index].flags = finish.flags
                }
                run.settled = settlement.ledger.settled
                run.reserved = settlement.ledger.reserved
                run.stopReason = settlement.ledger.stopReason
                if let status = finish.stepStatus, var step = run.steps[finish.stepID] {
                    step.status = status
                    step.output = finish.stepOutput
                    step.error = finish.error
                    step.finishedAt = finish.at
                    run.steps[finish.stepID] = step
                }
                run.append(settlement.event)
                return settlement.ledger
            }
        }
    }

    public func recordStep(_ step: StepRecord, event: EventRecord?) async throws {
        try write { state in
            try state.withRun(step.runID) { run in
                run.upsertStep(step.stepID, insert: step) { existing in
                    existing.type = step.type
                    existing.status = step.status
                    existing.output = step.output
                    existing.error = step.error
                    existing.model = step.model ?? existing.model
                    existing.startedAt = existing.startedAt ?? step.startedAt
                    existing.finishedAt = step.finishedAt
                }
                if let event { run.append(event) }
            }
        }
    }

    public func markInFlightUnsettled(runID: String, at: Date) async throws -> Int {
        let now = clock()
        return try write { state in
            guard var run = state.runs[runID] else { return 0 }
            // Not those of a step a live helper executes as a task (its claim settles them if the helper dies).
            let helped = Set(state.stepTasks.values.filter {
                $0.runID == runID && $0.status == .claimed && QueueClaimRule.isLive(leaseExpiresAt: $0.leaseExpiresAt, now: now)
            }.map(\.stepID))
            var count = 0
            for index in run.attempts.indices where run.attempts[index].status == .running && !helped.contains(run.attempts[index].stepID) {
                run.attempts[index].status = .unsettled
                run.attempts[index].error = inFlightUnsettledError
                run.attempts[index].finishedAt = at
                count += 1
            }
            if count > 0 { run.append(.attemptsUnsettled(runID: runID, count: count, at: at)) }
            state.runs[runID] = run
            return count
        }
    }

    public func ledger(runID: String) async throws -> LedgerSnapshot {
        try state.withLock { state in
            guard let run = state.runs[runID] else { throw state.notFound(runID) }
            return run.ledger
        }
    }

    // MARK: - Approvals

    public func requestApproval(_ request: ApprovalRecord, stepType: StepType, notify: [String]) async throws -> ApprovalRecord {
        try write { state in
            if let existing = state.approvals.values.first(where: { $0.record.runID == request.runID && $0.record.stepID == request.stepID }) {
                return existing.record
            }
            try state.withRun(request.runID) { run in
                run.upsertStep(request.stepID, insert: StepRecord(runID: request.runID, stepID: request.stepID, type: stepType,
                                                                  status: .waitingApproval, startedAt: request.requestedAt)) { step in
                    step.status = .waitingApproval
                    step.error = nil
                }
                run.append(.approvalRequested(request))
            }
            let order = state.order()
            state.approvals[request.id] = Approval(record: request, order: order)
            for webhook in ApprovalNotification.webhooks(notify: notify, hooks: state.notifyHooks) {
                state.notifications.append(StoredNotification(record: ApprovalNotification(id: ApprovalNotification.makeID(), approvalID: request.id,
                                                                                           runID: request.runID, webhook: webhook,
                                                                                           createdAt: request.requestedAt)))
            }
            return request
        }
    }

    public func decideApproval(_ decision: ApprovalDecision) async throws -> ApprovalDecisionOutcome {
        try write { state in
            guard let stored = state.approvals[decision.requestID] else {
                throw StoreError(.notFound, "no approval request \(decision.requestID) in the in-memory journal; list them with `wflo approvals`")
            }
            switch stored.record.deciding(decision) {
            case .unchanged(let request):
                return .alreadyDecided(request)
            case .decide(let request, let event, let outcome):
                state.approvals[request.id]?.record = request
                try state.withRun(request.runID) { $0.append(event) }
                return outcome
            }
        }
    }

    public func approval(id: String) async throws -> ApprovalRecord? {
        state.withLock { $0.approvals[id]?.record }
    }

    public func approvals(runID: String?, status: ApprovalStatus?) async throws -> [ApprovalRecord] {
        state.withLock { state in
            state.approvals.values
                .filter { approval in
                    (runID.map { approval.record.runID == $0 } ?? true) && (status.map { approval.record.status == $0 } ?? true)
                }
                .sorted(by: Self.oldestFirst).map(\.record)
        }
    }

    // MARK: - The response cache

    public func cachedResponse(key: String, at: Date) async throws -> JSONValue? {
        state.withLock { state in
            guard let cached = state.cache[key], cached.entry.isLive(at: at) else { return nil }
            return cached.entry.response
        }
    }

    @discardableResult
    public func storeResponse(_ entry: CacheEntry) async throws -> Bool {
        try write { state in
            // An expired entry is replaced; a live one is kept (the first answer wins).
            if let existing = state.cache[entry.key], existing.entry.isLive(at: entry.createdAt) { return false }
            state.cache[entry.key] = Cached(entry: entry)
            return true
        }
    }

    public func recordCacheHit(_ hit: CacheHitRecord) async throws {
        try write { state in
            let attemptID = state.nextAttemptID
            try state.withRun(hit.runID) { run in
                run.attempts.append(AttemptRecord(id: attemptID, runID: hit.runID, stepID: hit.stepID, number: hit.number,
                                                  status: .succeeded, model: hit.model, reserved: .zero, cost: .zero, usage: hit.usage,
                                                  error: nil, startedAt: hit.at, finishedAt: hit.at, cacheHit: true, saved: hit.saved))
                run.upsertStep(hit.stepID, insert: StepRecord(runID: hit.runID, stepID: hit.stepID, type: hit.stepType, status: .completed,
                                                              output: hit.output, model: hit.model, startedAt: hit.at,
                                                              finishedAt: hit.at)) { step in
                    step.status = .completed
                    step.output = hit.output
                    step.error = nil
                    step.model = hit.model
                    step.startedAt = step.startedAt ?? hit.at
                    step.finishedAt = hit.at
                }
                run.append(.cacheHit(hit))
            }
            state.nextAttemptID += 1
            state.cache[hit.key]?.hits += 1
            state.cache[hit.key]?.lastHitAt = hit.at
        }
    }

    public func cacheStats(at: Date) async throws -> CacheStats {
        state.withLock { state in
            let byNamespace = Dictionary(grouping: state.cache.values, by: \.entry.namespace)
            let namespaces = byNamespace.keys.sorted().map { name in
                let entries = byNamespace[name] ?? []
                return CacheStats.Namespace(name: name, entries: entries.count,
                                            bytes: entries.map { $0.entry.response.encoded().utf8.count }.reduce(0, +),
                                            hits: entries.map(\.hits).reduce(0, +))
            }
            let saved = state.runs.values.flatMap(\.attempts).filter(\.cacheHit).compactMap(\.saved)
            return CacheStats(entries: state.cache.count, bytes: namespaces.map(\.bytes).reduce(0, +),
                              expired: state.cache.values.filter { !$0.entry.isLive(at: at) }.count,
                              hits: saved.count, savings: saved.sum(), namespaces: namespaces)
        }
    }

    public func clearCache(olderThan: Date?, namespace: String?, at: Date) async throws -> Int {
        try write { state in
            let cleared = state.cache.values.filter { $0.entry.isCleared(olderThan: olderThan, namespace: namespace, at: at) }
            for cached in cleared { state.cache[cached.entry.key] = nil }
            return cleared.count
        }
    }

    // MARK: - Run ownership

    public func claimRun(id: String, owner: RunOwner, at: Date, takeOver: (RunOwner, Date) -> Bool) async throws -> RunClaim {
        try write { state in
            try state.withRun(id) { run in
                let claim = RunClaim.deciding(holder: run.owner, heartbeatAt: run.heartbeatAt, claimant: owner, takeOver: takeOver)
                if claim == .claimed {
                    run.owner = owner
                    run.heartbeatAt = at
                    run.leaseExpiresAt = nil
                }
                return claim
            }
        }
    }

    public func heartbeatRun(id: String, token: String, at: Date) async throws {
        try write { state in
            guard state.runs[id]?.owner?.token == token else { return }
            state.runs[id]?.heartbeatAt = at
        }
    }

    public func releaseRun(id: String, token: String) async throws {
        try write { state in
            guard state.runs[id]?.owner?.token == token else { return }
            state.runs[id]?.owner = nil
            state.runs[id]?.heartbeatAt = nil
            state.runs[id]?.leaseExpiresAt = nil
        }
    }

    public func driver(runID: String) async throws -> RunDriver? {
        state.withLock { state in
            guard let run = state.runs[runID], let owner = run.owner else { return nil }
            return RunDriver(owner: owner, heartbeatAt: run.heartbeatAt ?? Date(timeIntervalSince1970: 0))
        }
    }

    // MARK: - Circuits

    public func admitCircuit(host: String, settings: CircuitBreakerSettings, at: Date) async throws -> CircuitAdmission {
        try write { state in
            guard let current = state.circuits[host] else { return .allowed }
            let (next, admission) = current.admitting(at: at, settings: settings)
            state.circuits[host] = next
            return admission
        }
    }

    @discardableResult
    public func recordCircuitResult(host: String, failure: Bool, error: String?, settings: CircuitBreakerSettings,
                                    at: Date) async throws -> CircuitRecord {
        try write { state in
            let current = state.circuits[host] ?? CircuitRecord(host: host, updatedAt: at)
            let next = current.recording(failure: failure, error: error, at: at, settings: settings)
            // A closed circuit with nothing to remember is not kept.
            state.circuits[host] = next.state == .closed && next.failures.isEmpty ? nil : next
            return next
        }
    }

    public func circuits() async throws -> [CircuitRecord] {
        state.withLock { state in state.circuits.keys.sorted().compactMap { state.circuits[$0] } }
    }

    public func resetCircuits(host: String?) async throws -> Int {
        try write { state in
            guard let host else {
                let count = state.circuits.count
                state.circuits = [:]
                return count
            }
            return state.circuits.removeValue(forKey: host) == nil ? 0 : 1
        }
    }

    // MARK: - Concurrency slots

    public func takeConcurrencySlot(runID: String, arriving: Bool, at: Date) async throws -> ConcurrencySlotOutcome {
        try write { state in
            guard let run = state.runs[runID] else { throw state.notFound(runID) }
            guard let concurrency = run.record.concurrency else { return .taken }
            if run.record.status.isFinal {
                if arriving { return .ended(run.record.status, reason: run.record.error) }
                // Resumed after it ended (`wflo retry`): it gave its slot up; it waits for one again.
                try state.withRun(runID) { run in
                    run.record.status = .queued
                    run.record.updatedAt = at
                    run.slotTaken = false
                    run.append(.runStatus(runID: runID, status: .queued, error: nil, at: at))
                }
            }
            if state.runs[runID]?.slotTaken == true { return .taken }
            if arriving, let reason = state.arrive(run.record, concurrency, at: at) {
                try state.withRun(runID) { run in
                    run.record.status = .cancelled
                    run.record.error = reason
                    run.record.updatedAt = at
                    run.append(.runStatus(runID: runID, status: .cancelled, error: reason, at: at))
                }
                return .ended(.cancelled, reason: reason)
            }
            let holders = state.occupants(workflow: run.record.workflowName, key: concurrency.key).filter(\.holdsSlot)
            guard ConcurrencyRule.isClaimable(concurrency: concurrency, slotTaken: false, cancelRequested: run.cancel != nil,
                                              holders: holders.count) else {
                return .waiting(holders: holders.map(\.runID))
            }
            if ConcurrencyRule.takesSlot(concurrency: concurrency, cancelRequested: run.cancel != nil) { state.runs[runID]?.slotTaken = true }
            return .taken
        }
    }

    public func concurrencyOccupants(workflow: String, key: String) async throws -> [ConcurrencyOccupant] {
        state.withLock { $0.occupants(workflow: workflow, key: key) }
    }

    // MARK: - Queued runs and leases

    public func enqueueRun(_ request: EnqueueRequest) async throws -> EnqueueOutcome {
        if let problem = QueueSettings.problem(name: request.queue) { throw StoreError(.conflict, problem) }
        return try write { state in
            if let key = request.idempotencyKey, let existing = state.runs.values.first(where: { $0.idempotencyKey == key }) {
                return .existing(existing.record)
            }
            guard state.runs[request.run.id] == nil else {
                throw StoreError(.conflict, "a run with id \(request.run.id) is already in the in-memory journal")
            }
            var record = request.run
            record.status = .queued
            record.queue = request.queue
            let skipped = record.concurrency.flatMap { state.arrive(record, $0, at: record.createdAt) }
            if let skipped {
                record.status = .cancelled
                record.error = skipped
            }
            var run = Run(record: record, order: state.order())
            run.priority = request.priority
            run.idempotencyKey = request.idempotencyKey
            for event in request.events { run.append(event) }
            run.append(.runQueued(runID: record.id, queue: request.queue, priority: request.priority, at: record.createdAt))
            if let skipped { run.append(.runStatus(runID: record.id, status: .cancelled, error: skipped, at: record.createdAt)) }
            state.runs[record.id] = run
            return .enqueued(record)
        }
    }

    public func claimQueuedRun(queues: [String], owner: RunOwner, lease: Double) async throws -> QueueLease? {
        let now = clock()
        return try write { state in
            var live: [String: Int] = [:]
            for run in state.runs.values where QueueClaimRule.isLive(leaseExpiresAt: run.leaseExpiresAt, now: now) {
                if let queue = run.queue { live[queue, default: 0] += 1 }
            }
            let candidates = state.runs.values.filter { run in
                guard let queue = run.queue, queues.isEmpty || queues.contains(queue) else { return false }
                if let limit = state.queueSettings[queue] ?? nil, live[queue, default: 0] >= limit { return false }
                let pending = state.approvals.values.filter { $0.record.runID == run.record.id && $0.record.status == .pending }.count
                if let concurrency = run.record.concurrency {
                    let holders = state.occupants(workflow: run.record.workflowName, key: concurrency.key).filter(\.holdsSlot).count
                    guard ConcurrencyRule.isClaimable(concurrency: concurrency, slotTaken: run.slotTaken, cancelRequested: run.cancel != nil,
                                                      holders: holders) else { return false }
                }
                return QueueClaimRule.isClaimable(status: run.record.status, hasOwner: run.owner != nil, leaseExpiresAt: run.leaseExpiresAt,
                                                  heartbeatAt: run.heartbeatAt, pendingApprovals: pending, now: now)
            }
            guard let first = candidates.min(by: {
                QueueClaimRule.precedes(($0.priority, $0.record.createdAt, $0.order), ($1.priority, $1.record.createdAt, $1.order))
            }) else { return nil }
            let expires = now.addingTimeInterval(lease)
            try state.withRun(first.record.id) { run in
                run.owner = owner
                run.heartbeatAt = now
                run.leaseExpiresAt = expires
                if ConcurrencyRule.takesSlot(concurrency: run.record.concurrency, cancelRequested: run.cancel != nil) { run.slotTaken = true }
            }
            return QueueLease(runID: first.record.id, queue: first.queue!, owner: owner, status: first.record.status, expiresAt: expires)
        }
    }

    public func renewLease(runID: String, token: String, lease: Double) async throws -> Bool {
        let now = clock()
        return try write { state in
            guard let run = state.runs[runID], run.owner?.token == token,
                  QueueClaimRule.isLive(leaseExpiresAt: run.leaseExpiresAt, now: now) else { return false }
            state.runs[runID]?.leaseExpiresAt = now.addingTimeInterval(lease)
            state.runs[runID]?.heartbeatAt = now
            return true
        }
    }

    @discardableResult
    public func releaseLease(runID: String, token: String) async throws -> Bool {
        try write { state in
            guard state.runs[runID]?.owner?.token == token else { return false }
            state.runs[runID]?.owner = nil
            state.runs[runID]?.heartbeatAt = nil
            state.runs[runID]?.leaseExpiresAt = nil
            return true
        }
    }

    public func setQueue(_ settings: QueueSettings) async throws {
        if let problem = QueueSettings.problem(name: settings.name) { throw StoreError(.conflict, problem) }
        try write { state in state.queueSettings[settings.name] = .some(settings.concurrency) }
    }

    public func queues() async throws -> [QueueSummary] {
        let now = clock()
        return state.withLock { state in
            var summaries: [String: QueueSummary] = [:]
            for (name, concurrency) in state.queueSettings {
                summaries[name] = QueueSummary(name: name, concurrency: concurrency, queued: 0, running: 0)
            }
            for run in state.runs.values where !run.record.status.isFinal {
                guard let queue = run.queue else { continue }
                var summary = summaries[queue] ?? QueueSummary(name: queue, concurrency: nil, queued: 0, running: 0)
                let live = QueueClaimRule.isLive(leaseExpiresAt: run.leaseExpiresAt, now: now)
                if live { summary.running += 1 } else if run.record.status == .queued { summary.queued += 1 }
                summaries[queue] = summary
            }
            return summaries.keys.sorted().map { summaries[$0]! }
        }
    }

    public func fenced(runID: String, token: String) -> any JournalStore {
        MemoryJournalStore(sharing: self, fence: LeaseFence(runID: runID, token: token))
    }

    // MARK: - Reads

    public func activity(since: Date, until: Date?, workflow: String?) async throws -> RunsActivity {
        state.withLock { state in
            let runs = state.runs.values
                .filter { run in
                    run.record.createdAt >= since && (until.map { run.record.createdAt < $0 } ?? true)
                        && (workflow.map { run.record.workflowName == $0 } ?? true)
                }
                .sorted { ($0.record.createdAt, $0.order) < ($1.record.createdAt, $1.order) }
            // As the SQLite read model: the columns a report across runs reads (no fees or flags).
            let attempts = runs.flatMap(\.attempts).sorted { $0.id < $1.id }.map { attempt in
                var shown = attempt
                shown.fees = nil
                shown.flags = []
                return shown
            }
            var agentSteps: [String: Set<String>] = [:]
            for run in runs {
                let agents = run.steps.values.filter { $0.type == .agent }.map(\.stepID)
                if !agents.isEmpty { agentSteps[run.record.id] = Set(agents) }
            }
            return RunsActivity(runs: runs.map(\.record), attempts: attempts, agentSteps: agentSteps)
        }
    }

    public func ids(matchingPrefix prefix: String, of kind: JournalIDKind, limit: Int) async throws -> [String] {
        state.withLock { state in
            switch kind {
            case .run:
                if state.runs[prefix] != nil { return [prefix] }
                return Array(state.runs.values.filter { $0.record.id.hasPrefix(prefix) }.sorted(by: Self.newestFirst)
                    .prefix(max(limit, 0)).map(\.record.id))
            case .approval:
                if state.approvals[prefix] != nil { return [prefix] }
                return Array(state.approvals.values.filter { $0.record.id.hasPrefix(prefix) }.sorted(by: Self.oldestFirst).reversed()
                    .prefix(max(limit, 0)).map(\.record.id))
            }
        }
    }

    public func approvalID(runID: String, stepID: String) async throws -> String? {
        state.withLock { state in
            state.approvals.values.first { $0.record.runID == runID && $0.record.stepID == stepID }?.record.id
        }
    }

    // MARK: - Orders

    private static func newestFirst(_ a: Run, _ b: Run) -> Bool {
        (a.record.createdAt, a.order) > (b.record.createdAt, b.order)
    }

    private static func oldestFirst(_ a: Approval, _ b: Approval) -> Bool {
        (a.record.requestedAt, a.order) < (b.record.requestedAt, b.order)
    }
}

// MARK: - Budget scopes

extension MemoryJournalStore {
    public func setBudgetScope(_ scope: BudgetScope) async throws {
        if let problem = scope.validationProblem { throw StoreError(.conflict, problem) }
        try write { state in
            var stored = scope
            if let existing = state.scopes[scope.name] { stored.createdAt = existing.createdAt }
            state.scopes[scope.name] = stored
        }
    }

    @discardableResult
    public func removeBudgetScope(name: String) async throws -> Bool {
        try write { state in
            let removed = state.scopes.removeValue(forKey: name) != nil
            state.windows = state.windows.filter { $0.key.scope != name }
            state.attemptWindows = state.attemptWindows.mapValues { $0.filter { $0.scope != name } }
            return removed
        }
    }

    public func budgetScopes(at: Date) async throws -> [BudgetScopeStatus] {
        state.withLock { state in
            state.scopes.values.sorted { $0.name < $1.name }.map { scope in
                let key = scope.window(at: at)
                let window = state.windows[WindowID(scope: scope.name, periodStart: key.periodStart)] ?? BudgetWindow(scope: scope.name, key: key)
                let last = scope.period.previousWindow(before: key.periodStart, timeZone: scope.zone).map {
                    state.windows[WindowID(scope: scope.name, periodStart: $0.periodStart)]?.spent ?? .zero
                }
                return BudgetScopeStatus(scope: scope, window: window, lastPeriodSpent: last)
            }
        }
    }

    public func budgetWindows(scope: String?, since: Date) async throws -> [BudgetWindow] {
        state.withLock { state in
            state.windows.values.filter { window in (scope.map { window.scope == $0 } ?? true) && window.key.periodStart >= since }
                .sorted { ($0.key.periodStart, $0.scope) < ($1.key.periodStart, $1.scope) }
        }
    }

    public func claimDueAlerts(owner: String, at: Date, lease: TimeInterval, limit: Int) async throws -> [AlertRecord] {
        try write { state in
            var claimed: [AlertRecord] = []
            for index in state.alerts.indices where claimed.count < max(limit, 0) {
                let alert = state.alerts[index]
                guard alert.record.deliveredAt == nil, alert.record.nextAttemptAt.map({ $0 <= at }) ?? true,
                      alert.leaseOwner == nil || (alert.leaseExpiresAt.map { $0 <= at } ?? true) else { continue }
                state.alerts[index].leaseOwner = owner
                state.alerts[index].leaseExpiresAt = at.addingTimeInterval(lease)
                claimed.append(alert.record)
            }
            return claimed
        }
    }

    @discardableResult
    public func markAlertDelivered(id: String, owner: String, at: Date) async throws -> Bool {
        try write { state in
            guard let index = state.alerts.firstIndex(where: { $0.record.id == id && $0.leaseOwner == owner && $0.record.deliveredAt == nil })
            else { return false }
            state.alerts[index].record.deliveredAt = at
            state.alerts[index].record.attempts += 1
            state.alerts[index].record.lastError = nil
            state.alerts[index].leaseOwner = nil
            state.alerts[index].leaseExpiresAt = nil
            return true
        }
    }

    @discardableResult
    public func markAlertFailed(id: String, owner: String, error: String, retryAt: Date, at: Date) async throws -> Bool {
        try write { state in
            guard let index = state.alerts.firstIndex(where: { $0.record.id == id && $0.leaseOwner == owner && $0.record.deliveredAt == nil })
            else { return false }
            state.alerts[index].record.attempts += 1
            state.alerts[index].record.lastError = error
            state.alerts[index].record.nextAttemptAt = retryAt
            state.alerts[index].leaseOwner = nil
            state.alerts[index].leaseExpiresAt = nil
            return true
        }
    }

    public func alerts(scope: String?) async throws -> [AlertRecord] {
        state.withLock { state in state.alerts.map(\.record).filter { alert in scope.map { alert.scope == $0 } ?? true } }
    }

    // MARK: - Approval notifications

    public func addNotifyHook(url: String, at: Date) async throws -> Bool {
        try write { state in
            guard !state.notifyHooks.contains(url) else { return false }
            state.notifyHooks.append(url)
            return true
        }
    }

    public func removeNotifyHook(url: String) async throws -> Bool {
        try write { state in
            guard let index = state.notifyHooks.firstIndex(of: url) else { return false }
            state.notifyHooks.remove(at: index)
            return true
        }
    }

    public func notifyHooks() async throws -> [String] {
        state.withLock { $0.notifyHooks }
    }

    public func claimDueNotifications(owner: String, at: Date, lease: TimeInterval, limit: Int) async throws -> [ApprovalNotification] {
        try write { state in
            var claimed: [ApprovalNotification] = []
            for index in state.notifications.indices where claimed.count < max(limit, 0) {
                let stored = state.notifications[index]
                guard stored.record.deliveredAt == nil, stored.record.nextAttemptAt.map({ $0 <= at }) ?? true,
                      stored.leaseOwner == nil || (stored.leaseExpiresAt.map { $0 <= at } ?? true) else { continue }
                state.notifications[index].leaseOwner = owner
                state.notifications[index].leaseExpiresAt = at.addingTimeInterval(lease)
                claimed.append(stored.record)
            }
            return claimed
        }
    }

    @discardableResult
    public func markNotificationDelivered(id: String, owner: String, at: Date) async throws -> Bool {
        try write { state in
            guard let index = state.notifications.firstIndex(where: { $0.record.id == id && $0.leaseOwner == owner && $0.record.deliveredAt == nil })
            else { return false }
            state.notifications[index].record.deliveredAt = at
            state.notifications[index].record.attempts += 1
            state.notifications[index].record.lastError = nil
            state.notifications[index].leaseOwner = nil
            state.notifications[index].leaseExpiresAt = nil
            return true
        }
    }

    @discardableResult
    public func markNotificationFailed(id: String, owner: String, error: String, retryAt: Date, at: Date) async throws -> Bool {
        try write { state in
            guard let index = state.notifications.firstIndex(where: { $0.record.id == id && $0.leaseOwner == owner && $0.record.deliveredAt == nil })
            else { return false }
            state.notifications[index].record.attempts += 1
            state.notifications[index].record.lastError = error
            state.notifications[index].record.nextAttemptAt = retryAt
            state.notifications[index].leaseOwner = nil
            state.notifications[index].leaseExpiresAt = nil
            return true
        }
    }

    public func notifications(approvalID: String?) async throws -> [ApprovalNotification] {
        state.withLock { state in
            state.notifications.map(\.record).filter { notification in approvalID.map { notification.approvalID == $0 } ?? true }
        }
    }

    public func journalSetting(_ name: String) async throws -> String? {
        state.withLock { $0.settings[name] }
    }

    public func setJournalSetting(_ name: String, value: String) async throws {
        try write { state in state.settings[name] = value }
    }

    public func journalSetting(_ name: String, orInsert value: String) async throws -> String {
        try write { state in
            if let stored = state.settings[name] { return stored }
            state.settings[name] = value
            return value
        }
    }

    // MARK: - Recovery

    public func failedRuns(since: Date?, workflow: String?, limit: Int) async throws -> [DeadLetter] {
        state.withLock { state in
            state.runs.values.sorted(by: Self.newestFirst)
                .filter { run in
                    run.record.status == .failed && (since.map { run.record.createdAt >= $0 } ?? true)
                        && (workflow.map { run.record.workflowName == $0 } ?? true)
                }
                .prefix(max(limit, 0))
                .map { run in
                    // The step that failed first, by when it ended (ended ones first), then by id.
                    let first = run.steps.values.filter { $0.status == .failed }.min { a, b in
                        switch (a.finishedAt, b.finishedAt) {
                        case let (x?, y?) where x != y: return x < y
                        case (nil, _?): return false
                        case (_?, nil): return true
                        default: return a.stepID < b.stepID
                        }
                    }
                    return DeadLetter(run: run.record, failedStep: first?.stepID, reason: first?.error ?? run.record.error)
                }
        }
    }

    public func createForkedRun(_ run: RunRecord, events: [EventRecord], reused: [StepRecord]) async throws {
        try write { state in
            guard state.runs[run.id] == nil else {
                throw StoreError(.conflict, "a run with id \(run.id) is already in the in-memory journal")
            }
            var record = run
            record.queue = nil
            var stored = Run(record: record, order: state.order())
            for step in reused {
                var copy = step
                copy.runID = run.id
                stored.steps[step.stepID] = copy
            }
            for event in events { stored.append(event) }
            state.runs[run.id] = stored
        }
    }

    public func collectGarbage(finishedBefore before: Date, dryRun: Bool, at: Date) async throws -> CollectionSummary {
        try write { state in
            var summary = CollectionSummary()
            for (id, run) in state.runs where run.record.status.isFinal && run.record.updatedAt < before
                && !run.events.contains(where: { $0.kind == .runCollected }) {
                let approvals = state.approvals.values.filter { $0.record.runID == id }.map(\.record.id)
                summary.runs += 1
                summary.steps += run.steps.count
                summary.events += run.events.count
                summary.approvals += approvals.count
                if dryRun { continue }
                for approval in approvals { state.approvals[approval] = nil }
                state.notifications.removeAll { $0.record.runID == id }
                state.runs[id]?.events = []
                state.runs[id]?.steps = [:]
                state.runs[id]?.record.outputs = nil
                state.runs[id]?.record.inputs = [:]
                state.runs[id]?.append(EventRecord(runID: id, stepID: nil, kind: .runCollected,
                                                   data: ["steps_removed": .int(run.steps.count), "finished_before": .string(before.formatted(.iso8601))],
                                                   at: at))
            }
            return summary
        }
    }
}

// MARK: - API tokens and run pages

extension MemoryJournalStore {
    public func createToken(_ token: APITokenRecord) async throws {
        try write { state in
            guard state.tokens[token.name] == nil else {
                throw StoreError(.conflict, "a token named '\(token.name)' is already in the in-memory journal (revoked names are not reused); choose another name")
            }
            state.tokens[token.name] = token
        }
    }

    public func tokens() async throws -> [APITokenRecord] {
        state.withLock { state in state.tokens.keys.sorted().compactMap { state.tokens[$0] } }
    }

    public func token(hash: String) async throws -> APITokenRecord? {
        state.withLock { state in state.tokens.values.first { $0.hash == hash } }
    }

    public func revokeToken(name: String, at: Date) async throws -> Bool {
        try write { state in
            guard var token = state.tokens[name], token.revokedAt == nil else { return false }
            token.revokedAt = at
            state.tokens[name] = token
            state.sessions = state.sessions.filter { $0.value.tokenHash != token.hash }
            return true
        }
    }

    public func createSession(_ session: SessionRecord) async throws {
        try write { state in state.sessions[session.idHash] = session }
    }

    public func session(idHash: String, now: Date) async throws -> SessionRecord? {
        state.withLock { state in
            guard let session = state.sessions[idHash], session.expiresAt > now,
                  state.tokens.values.contains(where: { $0.hash == session.tokenHash && $0.revokedAt == nil }) else { return nil }
            return session
        }
    }

    public func liveSession(idHash: String, now: Date) async throws -> (session: SessionRecord, token: APITokenRecord)? {
        state.withLock { state in
            guard let session = state.sessions[idHash], session.expiresAt > now,
                  let token = state.tokens.values.first(where: { $0.hash == session.tokenHash && $0.revokedAt == nil }) else { return nil }
            return (session: session, token: token)
        }
    }

    public func deleteSession(idHash: String) async throws -> Bool {
        try write { state in state.sessions.removeValue(forKey: idHash) != nil }
    }

    public func deleteExpiredSessions(now: Date) async throws -> Int {
        try write { state in
            let before = state.sessions.count
            state.sessions = state.sessions.filter { $0.value.expiresAt > now }
            return before - state.sessions.count
        }
    }

    public func runPage(_ query: RunPageQuery) async throws -> [RunRecord] {
        state.withLock { state in
            let matching = state.runs.values.map(\.record).filter { run in
                (query.status.map { run.status == $0 } ?? true) && (query.workflow.map { run.workflowName == $0 } ?? true)
                    && (query.after.map { $0.precedes(run) } ?? true)
            }
            let ordered = matching.sorted { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.id > $1.id }
            return Array(ordered.prefix(max(query.limit, 0)))
        }
    }

    public func runChangeMark(id: String) async throws -> RunChangeMark? {
        state.withLock { state in
            guard let run = state.runs[id] else { return nil }
            let approvals = state.approvals.values.map(\.record).filter { $0.runID == id }
            let parts = ["\(run.record.updatedAt.timeIntervalSince1970)", run.settled.description, run.reserved.description,
                         run.record.budget?.description ?? "-", run.stopReason ?? "-", run.cancel.map { "\($0.at.timeIntervalSince1970)" } ?? "-",
                         "\(run.events.count)",
                         "\(approvals.count)/\(approvals.filter { $0.status == .pending }.count)/\(approvals.compactMap(\.decidedAt).map(\.timeIntervalSince1970).reduce(0, +))"]
            return RunChangeMark(status: run.record.status, stamp: parts.joined(separator: "|"))
        }
    }

    public func runCountsByStatus() async throws -> [RunStatus: Int] {
        state.withLock { state in
            state.runs.values.reduce(into: [RunStatus: Int]()) { counts, run in counts[run.record.status, default: 0] += 1 }
        }
    }
}

// MARK: - Deployments (issue 21)

extension MemoryJournalStore {
    public func deploy(_ deployment: DeploymentRequest) async throws -> DeploymentRecord {
        try write { state in
            let newest = state.deployments.filter { $0.record.name == deployment.name }.map(\.record.version).max() ?? 0
            let record = DeploymentRecord(name: deployment.name, version: newest + 1, path: deployment.path, source: deployment.source,
                                          deployedAt: deployment.at)
            state.deployments.append((record, nil))
            return record
        }
    }

    public func deployments() async throws -> [DeploymentRecord] {
        state.withLock { state in
            var newest: [String: (record: DeploymentRecord, undeployedAt: Date?)] = [:]
            for entry in state.deployments where entry.record.version > (newest[entry.record.name]?.record.version ?? 0) {
                newest[entry.record.name] = entry
            }
            return newest.values.filter { $0.undeployedAt == nil }.map(\.record).sorted { $0.name < $1.name }
        }
    }

    public func undeploy(name: String, at: Date) async throws -> Bool {
        try write { state in
            guard let index = state.deployments.indices.filter({ state.deployments[$0].record.name == name })
                .max(by: { state.deployments[$0].record.version < state.deployments[$1].record.version }),
                  state.deployments[index].undeployedAt == nil else { return false }
            state.deployments[index].undeployedAt = at
            return true
        }
    }

    public func lastTick(scheduleKey: String) async throws -> Date? {
        state.withLock { state in
            state.runs.values.compactMap { run -> Date? in
                guard let trigger = run.record.trigger, trigger.kind == .schedule, trigger.key == scheduleKey else { return nil }
                return trigger.at
            }.max()
        }
    }

    public func latestRun(workflowName: String) async throws -> RunRecord? {
        state.withLock { state in
            state.runs.values.filter { $0.record.workflowName == workflowName }.sorted(by: Self.newestFirst).first?.record
        }
    }

    public func countRejectedDelivery(hook: String, at: Date) async throws {
        try write { state in state.rejectedDeliveries[hook, default: 0] += 1 }
    }

    public func rejectedDeliveries(hook: String) async throws -> Int {
        state.withLock { $0.rejectedDeliveries[hook] ?? 0 }
    }
}

// MARK: - Step tasks

extension MemoryJournalStore {
    public func enqueueStepTasks(_ tasks: [StepTaskRequest]) async throws -> [Int64] {
        try write { state in
            var ids: [Int64] = []
            for task in tasks {
                if var existing = state.stepTasks.values.first(where: { $0.runID == task.runID && $0.stepID == task.stepID }) {
                    if existing.status == .done || existing.status == .cancelled {
                        existing.payload = task.payload
                        existing.status = .queued
                        existing.owner = nil
                        existing.leaseExpiresAt = nil
                        existing.outcome = nil
                        existing.finishedAt = nil
                        existing.createdAt = task.at
                        state.stepTasks[existing.id] = existing
                    }
                    ids.append(existing.id)
                    continue
                }
                let id = state.nextStepTaskID
                state.nextStepTaskID += 1
                state.stepTasks[id] = StepTaskRecord(id: id, runID: task.runID, stepID: task.stepID, payload: task.payload, status: .queued,
                                                     owner: nil, leaseExpiresAt: nil, claims: 0, outcome: nil, createdAt: task.at, finishedAt: nil)
                ids.append(id)
            }
            return ids
        }
    }

    public func claimStepTask(runID: String?, owner: RunOwner, lease: Double) async throws -> StepTaskLease? {
        let now = clock()
        return try write { state in
            let candidates = state.stepTasks.values.filter { task in
                guard StepTaskRule.isClaimable(status: task.status, leaseExpiresAt: task.leaseExpiresAt, now: now) else { return false }
                if let runID { return task.runID == runID }
                guard let run = state.runs[task.runID] else { return false }
                return StepTaskRule.runAdmits(status: run.record.status, cancelRequested: run.cancel != nil)
            }
            guard var task = candidates.min(by: { $0.id < $1.id }) else { return nil }
            var unsettled = 0
            if task.claims > 0, var run = state.runs[task.runID] {
                // Its last helper is gone: what it left in flight is charged at its reservation.
                for index in run.attempts.indices where run.attempts[index].stepID == task.stepID && run.attempts[index].status == .running {
                    run.attempts[index].status = .unsettled
                    run.attempts[index].error = inFlightUnsettledError
                    run.attempts[index].finishedAt = now
                    unsettled += 1
                }
                if unsettled > 0 { run.append(.attemptsUnsettled(runID: task.runID, count: unsettled, at: now)) }
                state.runs[task.runID] = run
            }
            task.status = .claimed
            task.owner = owner
            task.leaseExpiresAt = now.addingTimeInterval(lease)
            task.claims += 1
            state.stepTasks[task.id] = task
            let last = state.runs[task.runID]?.attempts.filter { $0.stepID == task.stepID }.map(\.number).max() ?? 0
            return StepTaskLease(id: task.id, runID: task.runID, stepID: task.stepID, payload: task.payload, owner: owner,
                                 expiresAt: task.leaseExpiresAt ?? now, claims: task.claims, nextAttempt: last + 1, unsettled: unsettled)
        }
    }

    /// `token` holds a live lease on task `id` at `now`.
    private static func holds(_ task: StepTaskRecord?, token: String, now: Date) -> Bool {
        guard let task, task.status == .claimed, task.owner?.token == token else { return false }
        return QueueClaimRule.isLive(leaseExpiresAt: task.leaseExpiresAt, now: now)
    }

    public func renewStepTask(id: Int64, token: String, lease: Double) async throws -> Bool {
        let now = clock()
        return try write { state in
            guard Self.holds(state.stepTasks[id], token: token, now: now) else { return false }
            state.stepTasks[id]?.leaseExpiresAt = now.addingTimeInterval(lease)
            return true
        }
    }

    public func completeStepTask(id: Int64, token: String, outcome: JSONValue) async throws -> Bool {
        let now = clock()
        return try write { state in
            guard Self.holds(state.stepTasks[id], token: token, now: now) else { return false }
            state.stepTasks[id]?.status = .done
            state.stepTasks[id]?.outcome = outcome
            state.stepTasks[id]?.finishedAt = now
            state.stepTasks[id]?.leaseExpiresAt = nil
            return true
        }
    }

    @discardableResult
    public func releaseStepTask(id: Int64, token: String) async throws -> Bool {
        try write { state in
            guard let task = state.stepTasks[id], task.status == .claimed, task.owner?.token == token else { return false }
            state.stepTasks[id]?.status = .queued
            state.stepTasks[id]?.owner = nil
            state.stepTasks[id]?.leaseExpiresAt = nil
            return true
        }
    }

    @discardableResult
    public func cancelStepTasks(runID: String) async throws -> Int {
        let now = clock()
        return try write { state in
            var count = 0
            for (id, task) in state.stepTasks where task.runID == runID && (task.status == .queued || task.status == .claimed) {
                state.stepTasks[id]?.status = .cancelled
                state.stepTasks[id]?.leaseExpiresAt = nil
                state.stepTasks[id]?.finishedAt = now
                count += 1
            }
            return count
        }
    }

    public func stepTasks(runID: String, ids: [Int64]?) async throws -> [StepTaskRecord] {
        state.withLock { state in
            let wanted = ids.map(Set.init)
            return state.stepTasks.values.filter { $0.runID == runID && (wanted?.contains($0.id) ?? true) }.sorted { $0.id < $1.id }
        }
    }

    public func fenced(stepTask lease: StepTaskLease) -> any JournalStore {
        MemoryJournalStore(sharing: self, fence: LeaseFence(runID: lease.runID, token: lease.owner.token, stepTask: lease.id))
    }
}
