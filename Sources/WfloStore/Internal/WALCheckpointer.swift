import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// Copies most of the journal's write-ahead log back into the database file on a connection and
/// a thread of its own, instead of inside the commit that filled it.
///
/// SQLite's own automatic checkpoint runs in the connection that commits the transaction taking
/// the log past 1,000 frames: that commit then also copies the pages and syncs both files, and
/// the run whose reservation or settlement it was waits for all of it (~7% of a paid call's time
/// in `Benchmarks/` EngineBenchmark). The writer's connection gets this hook in its place
/// (``install(on:)``):
///
/// 1. Past 1,000 frames, a commit asks for a passive checkpoint on the checkpointer's queue and
///    returns. A passive checkpoint never waits for readers or writers.
/// 2. The log starts over from its beginning only when a write begins with all of it copied. When
///    the writer was idle as the checkpoint finished (a run waiting for its model), that happens
///    at its next write. When it was not, the first commit after the checkpoint runs a passive
///    one itself, as SQLite would, but it only has the frames written since to copy and sync.
/// 3. Past 4,000 frames (a checkpoint that keeps failing or cannot keep up), every commit
///    checkpoints itself, as SQLite would.
final class WALCheckpointer: Sendable {
    /// SQLite's default `wal_autocheckpoint`.
    static let threshold: Int32 = 1000

    private enum State {
        /// No checkpoint since the log last started over.
        case idle
        /// A checkpoint is under way on the queue.
        case running
        /// A checkpoint copied the log as it then was; the writer copies the rest (step 2).
        case copied
    }

    private let path: String
    private let queue = DispatchQueue(label: "wflo.journal.checkpoint", qos: .utility)
    private let state = Mutex(State.idle)
    /// Opened on the first checkpoint.
    private let connection = Mutex<DatabaseQueue?>(nil)
    /// Checkpoints that ran on the queue (for tests).
    let completed = Atomic<Int>(0)
    /// A checkpoint is under way on the queue (for tests).
    var isRunning: Bool {
        state.withLock { state in
            if case .running = state { return true }
            return false
        }
    }

    init(path: String) {
        self.path = path
    }

    /// Makes `db` (the store's writer) run this hook after each commit instead of SQLite's
    /// automatic checkpoint. `self` must outlive `db`: the store's configuration, which the pool
    /// keeps for as long as it has connections, holds it.
    func install(on db: Database) {
        sqlite3_wal_hook(db.sqliteConnection, { context, connection, name, frames in
            guard let context else { return SQLITE_OK }
            let checkpointer = Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue()
            if checkpointer.committed(frames: frames) {
                // What SQLite's own hook does; a busy log is simply left for the next commit.
                _ = sqlite3_wal_checkpoint_v2(connection, name, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// After a commit of the writer that left `frames` frames in the log: true when the writer
    /// checkpoints now itself (steps 2 and 3), else nothing or a checkpoint asked of the queue.
    func committed(frames: Int32) -> Bool {
        let (inline, ask) = state.withLock { state -> (Bool, Bool) in
            if frames < Self.threshold {
                // The log started over (or never filled): whatever was copied is history.
                if case .copied = state { state = .idle }
                return (false, false)
            }
            switch state {
            case .idle:
                state = .running
                return (false, true)
            case .running:
                return (frames >= 4 * Self.threshold, false)
            case .copied:
                state = .idle
                return (true, false)
            }
        }
        if ask { queue.async { [self] in checkpoint() } }
        return inline
    }

    private func checkpoint() {
        var copied = false
        do {
            try connection.withLock { queue in
                let open: DatabaseQueue
                if let queue {
                    open = queue
                } else {
                    open = try DatabaseQueue(path: path)
                    queue = open
                }
                _ = try open.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            }
            copied = true
            completed.add(1, ordering: .relaxed)
        } catch {
            // Busy (another process checkpoints) or unreadable: the next commit past the threshold asks again.
        }
        state.withLock { state in
            if case .running = state { state = copied ? .copied : .idle }
        }
    }
}
