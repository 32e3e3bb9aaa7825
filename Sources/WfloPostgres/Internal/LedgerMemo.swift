import Synchronization
import WfloCore

/// What this process last wrote of a run's ledger cells, and the attempts it reserved without
/// budget-scope windows: the next write of a paid call can then be one statement that changes
/// the run only if its cells still hold exactly these texts (``PostgresJournalStore``'s
/// unchanged-ledger reservation and settlement). It is never trusted: a statement whose check
/// fails changes nothing, and the write takes the run's lock as before.
final class LedgerMemo: Sendable {
    /// A run's ledger cells as their text is in the row, and their value.
    struct Cells: Sendable, Equatable {
        var budget: String?
        var settled: String
        var reserved: String
        var stopReason: String?
        var ledger: LedgerSnapshot

        /// The cells as read from the run's row, their value parsed (a cell that is not money is `.corrupt`, naming its column).
        init(budget: String?, settled: String, reserved: String, stopReason: String?) throws {
            self.init(budget: budget, settled: settled, reserved: reserved, stopReason: stopReason,
                      ledger: LedgerSnapshot(settled: try JournalCells.money(settled, "runs.settled_usd"),
                                             reserved: try JournalCells.money(reserved, "runs.reserved_usd"),
                                             budget: try budget.map { try JournalCells.money($0, "runs.budget_usd") }, stopReason: stopReason))
        }

        init(budget: String?, settled: String, reserved: String, stopReason: String?, ledger: LedgerSnapshot) {
            self.budget = budget
            self.settled = settled
            self.reserved = reserved
            self.stopReason = stopReason
            self.ledger = ledger
        }

        /// The cells after a write that set the ledger to `ledger` (its amounts written as `Money.description`).
        func writing(_ ledger: LedgerSnapshot) -> Cells {
            Cells(budget: budget, settled: ledger.settled.description, reserved: ledger.reserved.description,
                  stopReason: ledger.stopReason, ledger: ledger)
        }
    }

    /// Runs and attempts remembered at most (a worker's runs in flight are far fewer); past it all are forgotten.
    static let capacity = 10_000

    private struct State {
        var runs: [String: Cells] = [:]
        /// An attempt's `reserved_usd` text.
        var attempts: [Int64: String] = [:]
    }

    private let state = Mutex(State())

    func cells(_ runID: String) -> Cells? {
        state.withLock { $0.runs[runID] }
    }

    func remember(_ runID: String, _ cells: Cells) {
        state.withLock { state in
            if state.runs.count >= Self.capacity { state.runs.removeAll() }
            state.runs[runID] = cells
        }
    }

    func forget(_ runID: String) {
        _ = state.withLock { $0.runs.removeValue(forKey: runID) }
    }

    func reserved(attempt: Int64) -> String? {
        state.withLock { $0.attempts[attempt] }
    }

    func remember(attempt: Int64, reserved: String) {
        state.withLock { state in
            if state.attempts.count >= Self.capacity { state.attempts.removeAll() }
            state.attempts[attempt] = reserved
        }
    }

    func forget(attempt: Int64) {
        _ = state.withLock { $0.attempts.removeValue(forKey: attempt) }
    }
}
