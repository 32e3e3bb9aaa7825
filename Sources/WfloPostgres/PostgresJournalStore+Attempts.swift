import Foundation
import PostgresNIO
import WfloCore

/// Attempts and the run's ledger (invariants 1 and 2 of DESIGN.md).
extension PostgresJournalStore {
    /// One statement when this process wrote the run's ledger last (``reserveOnUnchangedLedger(_:)``:
    /// it changes nothing unless the ledger is still what this process wrote). Otherwise one
    /// transaction that first locks the run's row (``lockRun(_:runID:attemptID:fenceToken:)``):
    /// the ledger (`settled_usd`, `reserved_usd`, exact decimal TEXT summed with ``Money``) and the
    /// cancel request are read under that lock, so no other transaction of any process reads the
    /// same "fits" before this one commits. The attempts under a limit are read after the lock. A
    /// refusal writes nothing.
    public func beginAttempt(_ start: AttemptStart) async throws -> AttemptBeginOutcome {
        if let attemptID = try await reserveOnUnchangedLedger(start) { return .started(attemptID: attemptID) }
        let memo = resources.ledgers
        return try await writeLockingRun(start.runID) { connection, locked in
            guard let locked else { throw self.runNotFound(start.runID) }
            let ledger = locked.ledger
            memo.remember(start.runID, locked.cells)
            var committed: [BudgetLimit: Money] = [:]
            for limit in start.limits where BudgetAdmission.decide(ledger: ledger, reserve: start.reserve) == .admit {
                committed[limit] = try await self.committed(connection, runID: start.runID, limit: limit)
            }
            if let refusal = try AttemptAdmission.refusal(ledger: ledger, cancelRequested: locked.cancelRequested, reserve: start.reserve,
                                                          limits: start.limits, committedWithin: { limit in
                                                              guard let value = committed[limit] else {
                                                                  throw StoreError(.database, "the limit \(limit.label) was not read")
                                                              }
                                                              return value
                                                          }) {
                return refusal
            }
            var scopes = ScopeAdmission.Admitted.none
            if locked.scopesExist {
                switch try await self.scopeDecision(connection, runID: start.runID, reserve: start.reserve, at: start.at) {
                case .refused(let refusal): return .refusedByScope(refusal)
                case .admitted(let admitted): scopes = admitted
                }
            }
            // The run's row is locked and its cells were read above: the statement's checks hold.
            let attemptID = try await connection.prepared(Hot.Reserve.self, self.reservation(start, on: locked.cells, lease: self.singleStatementFence(runID: start.runID) ?? nil,
                                                                                            scopesDecided: true),
                                                          logger: self.logger).map { try $0.decode(Int64.self) }.first
            guard let attemptID else { throw StoreError(.database, "the attempt row was not written in \(self.journalLocation)") }
            if !scopes.windows.isEmpty { try await self.writeScopeCharges(connection, scopes, attemptID: attemptID) }
            memo.remember(start.runID, locked.cells.writing(ledger.reserving(start.reserve)))
            if scopes.windows.isEmpty { memo.remember(attempt: attemptID, reserved: start.reserve.description) }
            return .started(attemptID: attemptID)
        }
    }

    /// A reservation in one statement, without the run's lock, when this process wrote the run's
    /// ledger last (``LedgerMemo``), the call has no limit under the run's budget, no budget scope
    /// exists, and the remembered ledger admits it: the statement changes the run's row only if its
    /// ledger cells, cancel request and lease are still as remembered — a row another transaction
    /// holds is re-read once it commits — and inserts the attempt, the step and the event only with
    /// it. One round trip instead of a transaction of four. Nil when anything differed (nothing was
    /// written; the caller takes the lock and decides on what it reads).
    private func reserveOnUnchangedLedger(_ start: AttemptStart) async throws -> Int64? {
        let memo = resources.ledgers
        guard start.limits.isEmpty, let token = singleStatementFence(runID: start.runID), let cells = memo.cells(start.runID),
              AttemptAdmission.refusal(ledger: cells.ledger, cancelRequested: false, reserve: start.reserve, limits: [],
                                       committedWithin: { _ in .zero }) == nil else { return nil }
        let after = cells.ledger.reserving(start.reserve)
        let attemptID = try await statement(checksFence: true) { connection in
            try await connection.prepared(Hot.Reserve.self, self.reservation(start, on: cells, lease: token, scopesDecided: false),
                                          logger: self.logger).map { try $0.decode(Int64.self) }.first
        }
        guard let attemptID else {
            memo.forget(start.runID)
            return nil
        }
        memo.remember(start.runID, cells.writing(after))
        memo.remember(attempt: attemptID, reserved: start.reserve.description)
        return attemptID
    }

    /// A reservation's one statement: the run's reserved sum and event number, changed only while its
    /// ledger cells are `cells`, no cancel is asked for, `lease` (when given) holds and — unless
    /// `scopesDecided` (a caller that read the scopes under the run's lock) — no budget scope exists;
    /// and with that change only, the attempt, the step and the `step_started` event naming the
    /// attempt's new id. Returns the id, or no row when a check failed (then nothing was written).
    func reservation(_ start: AttemptStart, on cells: LedgerMemo.Cells, lease token: String?, scopesDecided: Bool) throws -> PostgresQuery {
        try EventRow.inserting(EventRecord.stepStarted(start, attemptID: 0), namingAttemptOf: """
            WITH next AS (
                UPDATE runs SET reserved_usd = \(cells.ledger.reserving(start.reserve).reserved.description), last_event = last_event + 1
                WHERE id = \(start.runID) AND settled_usd = \(cells.settled) AND reserved_usd = \(cells.reserved)
                  AND budget_usd IS NOT DISTINCT FROM \(cells.budget) AND stop_reason IS NOT DISTINCT FROM \(cells.stopReason)
                  AND cancel_requested_at IS NULL AND (\(scopesDecided) OR NOT EXISTS (SELECT 1 FROM budget_scopes))
                  AND (\(token)::text IS NULL OR (owner_token = \(token) AND lease_expires_at > \(unescaped: Self.storeNow)))
                RETURNING last_event
            ), attempt AS (
                INSERT INTO attempts (run_id, step_id, number, status, model, reserved_usd, started_at)
                SELECT \(start.runID), \(start.stepID), \(start.number), 'running', \(start.model), \(start.reserve.description),
                       \(start.at.timeIntervalSince1970)
                FROM next
                RETURNING id
            ), step AS (
                INSERT INTO steps (run_id, step_id, type, status, model, started_at)
                SELECT \(start.runID), \(start.stepID), \(start.stepType.rawValue), 'running', \(start.model), \(start.at.timeIntervalSince1970)
                FROM next
                ON CONFLICT (run_id, step_id) DO UPDATE SET status = 'running', model = excluded.model, error = NULL,
                    started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = NULL
            )
            """)
    }

    /// Settles a running attempt (``AttemptSettlement``): its reservation leaves the reserved sum
    /// and its exact cost joins the settled sum, with the step row and an event. An attempt no
    /// longer `running` changes nothing.
    ///
    /// One statement when this process reserved the attempt and wrote the run's ledger last
    /// (``settleOnUnchangedLedger(_:)``). Otherwise, under the run's lock, four statements when no
    /// budget scope is charged: the run's row locked and read with the attempt (and the lease),
    /// then the same one statement (``settlementStatement(_:_:on:reserved:lease:windowsSettled:)``).
    @discardableResult
    public func finishAttempt(_ finish: AttemptFinish) async throws -> LedgerSnapshot {
        if let after = try await settleOnUnchangedLedger(finish) { return after }
        let memo = resources.ledgers
        return try await writeLockingRun(finish.runID, attemptID: finish.attemptID) { connection, locked in
            // The run's row first (every writer of a run locks it first: no deadlock), the attempt read with it.
            guard let locked, let attempt = locked.attempt else { throw self.attemptNotFound(finish) }
            let before = locked.ledger
            memo.remember(finish.runID, locked.cells)
            let reserved = try JournalCells.money(attempt.reserved, "attempts.reserved_usd")
            guard let settlement = AttemptSettlement.settling(
                finish, current: try JournalCells.enumeration(attempt.status, "attempts.status"),
                reserved: reserved, ledger: before) else { return before }
            if !finish.unanswered && attempt.chargedScopes {
                try await self.settleScopes(connection, attemptID: finish.attemptID, reserved: reserved, cost: finish.cost)
            }
            let after = settlement.ledger
            // The run's row is locked and the attempt was read under it: the statement's checks hold.
            let written = try await connection.prepared(Hot.Settle.self, self.settlementStatement(finish, settlement, on: locked.cells, reserved: attempt.reserved,
                                                                                                   lease: self.singleStatementFence(runID: finish.runID) ?? nil,
                                                                                                   windowsSettled: true),
                                                        logger: self.logger)
            guard !written.isEmpty else { throw self.runNotFound(finish.runID) }
            memo.remember(finish.runID, locked.cells.writing(after))
            return after
        }
    }

    /// A settlement in one statement, without the run's lock, when this process reserved the
    /// attempt (without budget-scope windows) and wrote the run's ledger last (``LedgerMemo``):
    /// the run's row changes only if its ledger cells and lease are still as remembered, the
    /// attempt only if it is still `running` with that reservation, and when one changes but not
    /// the other the statement fails as a whole (``EventRow/inserting(_:after:requiringOneRowOf:)``)
    /// and changes nothing. Nil when anything differed: the caller takes the lock.
    private func settleOnUnchangedLedger(_ finish: AttemptFinish) async throws -> LedgerSnapshot? {
        let memo = resources.ledgers
        guard let reservedText = memo.reserved(attempt: finish.attemptID) else { return nil }
        memo.forget(attempt: finish.attemptID)
        guard let token = singleStatementFence(runID: finish.runID), let cells = memo.cells(finish.runID),
              let reserved = Money(string: reservedText),
              let settlement = AttemptSettlement.settling(finish, current: .running, reserved: reserved, ledger: cells.ledger) else { return nil }
        let after = settlement.ledger
        let written = try await statement(checksFence: true) { connection -> Bool in
            do {
                return try await !connection.prepared(Hot.Settle.self, self.settlementStatement(finish, settlement, on: cells, reserved: reservedText,
                                                                                                 lease: token, windowsSettled: false),
                                                      logger: self.logger).isEmpty
            } catch where PostgresErrors.sqlState(error) == "22012" {
                // The run's row matched and the attempt did not: nothing was written.
                return false
            }
        }
        guard written else {
            memo.forget(finish.runID)
            return nil
        }
        memo.remember(finish.runID, cells.writing(after))
        return after
    }

    /// A settlement's one statement: the run's ledger and event number, changed only while its cells
    /// are `cells` and `lease` (when given) holds; the attempt, only while it is `running` with the
    /// reservation `reserved` (its text) and — unless `windowsSettled` (a caller that settled them
    /// under the run's lock) — reserved in no budget window; then the step and the event. When the
    /// run's row changes and the attempt does not, the statement fails as a whole (SQLSTATE 22012,
    /// ``EventRow/inserting(_:after:requiringOneRowOf:)``); no row when the run's checks failed.
    /// An unanswered call keeps its cost, usage, fees and flags as they are (none).
    func settlementStatement(_ finish: AttemptFinish, _ settlement: AttemptSettlement, on cells: LedgerMemo.Cells, reserved: String,
                             lease token: String?, windowsSettled: Bool) -> PostgresQuery {
        let after = settlement.ledger
        let flags = finish.flags.isEmpty ? nil : JSONValue.array(finish.flags.map { .string($0) }).encoded()
        return EventRow.inserting(settlement.event, after: """
            WITH next AS (
                UPDATE runs SET reserved_usd = \(after.reserved.description), settled_usd = \(after.settled.description),
                    stop_reason = \(after.stopReason), last_event = last_event + 1
                WHERE id = \(finish.runID) AND settled_usd = \(cells.settled) AND reserved_usd = \(cells.reserved)
                  AND budget_usd IS NOT DISTINCT FROM \(cells.budget) AND stop_reason IS NOT DISTINCT FROM \(cells.stopReason)
                  AND (\(token)::text IS NULL OR (owner_token = \(token) AND lease_expires_at > \(unescaped: Self.storeNow)))
                RETURNING last_event
            ), attempt AS (
                UPDATE attempts SET status = \(settlement.status.rawValue), error = \(finish.error), finished_at = \(finish.at.timeIntervalSince1970),
                    cost_usd = CASE WHEN \(finish.unanswered) THEN cost_usd ELSE \(finish.cost.description) END,
                    usage = CASE WHEN \(finish.unanswered) THEN usage ELSE \(finish.usage?.json.encoded()) END,
                    fees_usd = CASE WHEN \(finish.unanswered) THEN fees_usd ELSE \(finish.fees.isZero ? nil : finish.fees.description) END,
                    flags = CASE WHEN \(finish.unanswered) THEN flags ELSE \(flags) END,
                    started_at = COALESCE(\(finish.sentAt?.timeIntervalSince1970)::DOUBLE PRECISION, started_at)
                WHERE id = \(finish.attemptID) AND run_id = \(finish.runID) AND status = 'running' AND reserved_usd = \(reserved)
                  AND (\(windowsSettled) OR NOT EXISTS (SELECT 1 FROM attempt_windows w WHERE w.attempt_id = \(finish.attemptID)))
                  AND EXISTS (SELECT 1 FROM next)
                RETURNING id
            ), step AS (
                UPDATE steps SET status = \(finish.stepStatus?.rawValue), output = \(finish.stepOutput?.encoded()), error = \(finish.error),
                    finished_at = \(finish.at.timeIntervalSince1970)
                WHERE run_id = \(finish.runID) AND step_id = \(finish.stepID) AND \(finish.stepStatus?.rawValue)::text IS NOT NULL
                  AND EXISTS (SELECT 1 FROM attempt)
            )
            """, requiringOneRowOf: "attempt")
    }

    /// The step row and its event in one statement (its own transaction): the engine's hot path
    /// for steps that cost nothing. The event's `UPDATE` of the run row numbers it.
    public func recordStep(_ step: StepRecord, event: EventRecord?) async throws {
        try await statement { connection in
            if let event {
                let rows = try await connection.prepared(Hot.RecordStep.self, EventRow.inserting(event, after: """
                    WITH step AS (
                        INSERT INTO steps (run_id, step_id, type, status, output, error, model, started_at, finished_at)
                        VALUES (\(step.runID), \(step.stepID), \(step.type.rawValue), \(step.status.rawValue), \(step.output?.encoded()),
                                \(step.error), \(step.model), \(step.startedAt?.timeIntervalSince1970), \(step.finishedAt?.timeIntervalSince1970))
                        ON CONFLICT (run_id, step_id) DO UPDATE SET type = excluded.type, status = excluded.status, output = excluded.output,
                            error = excluded.error, model = COALESCE(excluded.model, steps.model),
                            started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = excluded.finished_at
                    ), next AS (
                        UPDATE runs SET last_event = last_event + 1 WHERE id = \(event.runID) RETURNING last_event
                    )
                    """), logger: self.logger)
                guard !rows.isEmpty else { throw self.runNotFound(event.runID) }
            } else {
                try await connection.query("""
                    INSERT INTO steps (run_id, step_id, type, status, output, error, model, started_at, finished_at)
                    VALUES (\(step.runID), \(step.stepID), \(step.type.rawValue), \(step.status.rawValue), \(step.output?.encoded()),
                            \(step.error), \(step.model), \(step.startedAt?.timeIntervalSince1970), \(step.finishedAt?.timeIntervalSince1970))
                    ON CONFLICT (run_id, step_id) DO UPDATE SET type = excluded.type, status = excluded.status, output = excluded.output,
                        error = excluded.error, model = COALESCE(excluded.model, steps.model),
                        started_at = COALESCE(steps.started_at, excluded.started_at), finished_at = excluded.finished_at
                    """, logger: self.logger)
            }
        }
    }

    /// The marked attempts keep their reservation in the run's reserved sum; an
    /// `attempts_unsettled` event records how many.
    ///
    /// Most runs a driver takes over have no attempt in flight (a queued run's first start): one
    /// statement, outside a transaction, says so (and checks the lease; an unknown run has none,
    /// as in the other stores) instead of a transaction
    /// of four round trips that locks the run's row to find nothing. Nothing is missed by not
    /// taking the lock first: an attempt is inserted only under that lock by the run's lease
    /// holder, whose lease the caller now holds (a claim or a take-over writes the run's row,
    /// so it waits for, or comes before, a transaction holding the lock), or by a helper with a
    /// live step task, whose attempts are not marked anyway.
    public func markInFlightUnsettled(runID: String, at: Date) async throws -> Int {
        if let token = singleStatementFence(runID: runID) {
            let (held, running) = try await read(oneStatement: true) { connection in
                try await connection.prepared(Hot.InFlight.self, """
                    SELECT \(token)::text IS NULL OR EXISTS (SELECT 1 FROM runs WHERE id = \(runID) AND owner_token = \(token)
                                                               AND lease_expires_at > \(unescaped: Self.storeNow)),
                           EXISTS (SELECT 1 FROM attempts WHERE run_id = \(runID) AND status = 'running')
                    """, logger: self.logger).map { try $0.decode((Bool, Bool).self) }.first ?? (false, false)
            }
            if !held, let fence { throw fence.lostError }
            if !running { return 0 }
        }
        return try await write { connection in
            _ = try await self.lockedLedger(connection, runID: runID)
            let count = try await connection.query("""
                UPDATE attempts SET status = 'unsettled', error = \(inFlightUnsettledError), finished_at = \(at.timeIntervalSince1970)
                WHERE run_id = \(runID) AND status = 'running'
                  AND NOT EXISTS (SELECT 1 FROM step_tasks t WHERE t.run_id = attempts.run_id AND t.step_id = attempts.step_id
                                  AND t.status = 'claimed' AND t.lease_expires_at > \(unescaped: Self.storeNow))
                RETURNING 1
                """, logger: self.logger).collect().count
            if count > 0 { _ = try await EventRow.insert(connection, .attemptsUnsettled(runID: runID, count: count, at: at), logger: self.logger) }
            return count
        }
    }

    public func ledger(runID: String) async throws -> LedgerSnapshot {
        try await read(oneStatement: true) { connection in
            guard let row = try await connection.prepared(Hot.Ledger.self, """
                SELECT budget_usd, settled_usd, reserved_usd, stop_reason, cancel_requested_at IS NOT NULL FROM runs WHERE id = \(runID)
                """, logger: self.logger).map(Self.ledgerRow).first else { throw self.runNotFound(runID) }
            return row.ledger
        }
    }

    /// Locks the run's row for this transaction and reads its ledger and whether it is asked to cancel.
    func lockedLedger(_ connection: PostgresConnection, runID: String) async throws -> (ledger: LedgerSnapshot, cancelRequested: Bool) {
        guard let row = try await connection.query("""
            SELECT budget_usd, settled_usd, reserved_usd, stop_reason, cancel_requested_at IS NOT NULL FROM runs WHERE id = \(runID)
            FOR NO KEY UPDATE
            """, logger: logger).records(Self.ledgerRow).first else { throw runNotFound(runID) }
        return row
    }

    /// Run `runID`'s row locked (`FOR NO KEY UPDATE`) and what the two writes of a paid call need of it,
    /// read in the same statement: its ledger and cancel request, whether any budget scope exists,
    /// whether `fenceToken` holds a live lease on it, and attempt `attemptID` of the run (its status,
    /// reservation, and whether it reserved in any scope's window). Nil when the run is not there.
    func lockRun(_ connection: PostgresConnection, runID: String, attemptID: Int64?, fenceToken: String?) async throws -> LockedRun? {
        try await connection.prepared(Hot.LockRun.self, """
            SELECT r.budget_usd, r.settled_usd, r.reserved_usd, r.stop_reason, r.cancel_requested_at IS NOT NULL,
                   EXISTS (SELECT 1 FROM budget_scopes),
                   COALESCE(r.owner_token = \(fenceToken) AND r.lease_expires_at > \(unescaped: Self.storeNow), false),
                   a.status, a.reserved_usd, a.id IS NOT NULL AND EXISTS (SELECT 1 FROM attempt_windows w WHERE w.attempt_id = a.id)
            FROM runs r LEFT JOIN attempts a ON a.id = \(attemptID) AND a.run_id = r.id
            WHERE r.id = \(runID)
            FOR NO KEY UPDATE OF r
            """, logger: logger).map { row -> LockedRun in
                let (budget, settled, reserved, stopReason, cancelled, scopes, held, status, attemptReserved, windows) =
                    try row.decode((String?, String, String, String?, Bool, Bool, Bool, String?, String?, Bool).self)
                let attempt = zip2(status, attemptReserved).map { LockedRun.Attempt(status: $0.0, reserved: $0.1, chargedScopes: windows) }
                return LockedRun(cells: try LedgerMemo.Cells(budget: budget, settled: settled, reserved: reserved, stopReason: stopReason),
                                 cancelRequested: cancelled, scopesExist: scopes, fenceHeld: held, attempt: attempt)
            }.first
    }

    private static func ledgerRow(_ row: PostgresRow) throws -> (ledger: LedgerSnapshot, cancelRequested: Bool) {
        let (budget, settled, reserved, stopReason, cancelled) = try row.decode((String?, String, String, String?, Bool).self)
        return (try ledger(budget: budget, settled: settled, reserved: reserved, stopReason: stopReason), cancelled)
    }

    /// The run row's ledger cells as a snapshot (a cell that is not money is `.corrupt`, naming its column).
    private static func ledger(budget: String?, settled: String, reserved: String, stopReason: String?) throws -> LedgerSnapshot {
        try LedgerMemo.Cells(budget: budget, settled: settled, reserved: reserved, stopReason: stopReason).ledger
    }

    /// Spent and held by the attempts of steps `limit` covers: the range ``BudgetLimit/stepIDRange``
    /// of the `attempts_run` index, compared in code-point order (`COLLATE "C"`).
    private func committed(_ connection: PostgresConnection, runID: String, limit: BudgetLimit) async throws -> Money {
        guard let range = limit.stepIDRange else {
            throw StoreError(.database, "a budget limit (\(limit.label)) names no step; limits cover the steps under one")
        }
        let rows = try await connection.query("""
            SELECT status, reserved_usd, cost_usd FROM attempts
            WHERE run_id = \(runID) AND step_id COLLATE "C" >= \(range.lower) AND step_id COLLATE "C" < \(range.upper)
            """, logger: logger).records { try $0.decode((String, String, String?).self) }
        var total = Money.zero
        for (status, reserved, cost) in rows {
            total += AttemptRecord.charged(status: try JournalCells.enumeration(status, "attempts.status"),
                                           reserved: try JournalCells.money(reserved, "attempts.reserved_usd"),
                                           cost: try cost.map { try JournalCells.money($0, "attempts.cost_usd") })
        }
        return total
    }

    private func attemptNotFound(_ finish: AttemptFinish) -> StoreError {
        StoreError(.notFound, "attempt \(finish.attemptID) of run \(finish.runID) is not in \(journalLocation)")
    }
}

/// What ``PostgresJournalStore/lockRun(_:runID:attemptID:fenceToken:)`` read under the run's lock.
struct LockedRun: Sendable {
    struct Attempt: Sendable {
        var status: String
        var reserved: String
        /// It reserved in at least one budget scope's window (its settlement settles them).
        var chargedScopes: Bool
    }

    /// The run's ledger cells as read (their text and value).
    var cells: LedgerMemo.Cells
    var ledger: LedgerSnapshot { cells.ledger }
    var cancelRequested: Bool
    var scopesExist: Bool
    /// The fence token given holds a live lease on the run (false when none was given).
    var fenceHeld: Bool
    /// The attempt asked for, when it is the run's.
    var attempt: Attempt?
}

private func zip2<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
