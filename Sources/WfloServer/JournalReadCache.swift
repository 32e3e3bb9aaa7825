import Foundation
import Synchronization
import WfloCore

/// What the server read from the journal, kept while the journal stays unchanged: each value is
/// kept with the ``RunPageStore/changeStamp()`` read *before* it was read, and served only to a
/// request that read the same stamp. Any commit to the journal (by this process, a worker or a
/// `wflo` command elsewhere) changes the stamp, so a revoked token, an ended session or a changed
/// run is read again on the very next request; a store that cannot give a stamp (PostgreSQL)
/// keeps nothing. Only answers that do not depend on the clock are kept (a running run's shown
/// status does, through its driver's heartbeat; a session's expiry is checked on every use).
///
/// At most ``capacity`` values; when full, all go (a new stamp empties it too).
final class JournalReadCache: Sendable {
    private struct State {
        var stamp: UInt64?
        var values: [String: any Sendable] = [:]
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 4_096) {
        self.capacity = max(1, capacity)
    }

    /// The value kept for `key` at `stamp`; nil when none is, or `stamp` is nil.
    func value<Value: Sendable>(_ key: String, at stamp: UInt64?) -> Value? {
        guard let stamp else { return nil }
        return state.withLock { state in state.stamp == stamp ? state.values[key] as? Value : nil }
    }

    /// Keeps `value`, read after `stamp` was read, for `key` (nothing when `stamp` is nil).
    func keep(_ key: String, _ value: some Sendable, at stamp: UInt64?) {
        guard let stamp else { return }
        state.withLock { state in
            if state.stamp != stamp || state.values.count >= capacity {
                state.stamp = stamp
                state.values.removeAll(keepingCapacity: true)
            }
            state.values[key] = value
        }
    }

    var count: Int { state.withLock { $0.values.count } }
}
