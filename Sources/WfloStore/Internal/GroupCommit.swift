import Synchronization

/// Group commit: writes that arrive while another is being committed wait, and then go together
/// in the next transaction. Parallel for_each items that finish at once cost one commit per group
/// instead of one each, and none of them returns before its own write is committed, so a result
/// is still in the journal before anything that depends on it starts.
///
/// A caller that finds nothing being committed writes its item at once, on its own task (a serial
/// run pays two lock operations and nothing else). Items that arrived meanwhile are committed by
/// a task started for them. When a group's transaction fails, each of its items is written alone,
/// so one item's error is never another's.
final class GroupCommit<Item: Sendable>: Sendable {
    typealias Commit = @Sendable ([Item]) async throws -> Void

    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var committing = false
        var waiting: [Waiting] = []
    }

    private let state = Mutex(State())

    /// Commits `item`, alone or with others that arrive while a commit is under way; returns once
    /// it is committed. `commit` writes a group in one transaction (every caller passes the same).
    func submit(_ item: Item, commit: @escaping Commit) async throws {
        let leads = state.withLock { state in
            if state.committing { return false }
            state.committing = true
            return true
        }
        if leads {
            do {
                try await commit([item])
            } catch {
                handOff(commit)
                throw error
            }
            handOff(commit)
            return
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let drains = state.withLock { state in
                state.waiting.append(Waiting(item: item, continuation: continuation))
                // The commit under way ended between the two locks: this caller starts the next.
                if state.committing { return false }
                state.committing = true
                return true
            }
            if drains { Task { await self.drain(commit) } }
        }
    }

    /// After a commit: whatever arrived meanwhile is committed by a task of its own.
    private func handOff(_ commit: @escaping Commit) {
        let more = state.withLock { state in
            if state.waiting.isEmpty {
                state.committing = false
                return false
            }
            return true
        }
        if more { Task { await self.drain(commit) } }
    }

    private func drain(_ commit: Commit) async {
        while true {
            let group = state.withLock { state in
                let group = state.waiting
                state.waiting = []
                if group.isEmpty { state.committing = false }
                return group
            }
            if group.isEmpty { return }
            do {
                try await commit(group.map(\.item))
                for waiting in group { waiting.continuation.resume() }
            } catch {
                if group.count == 1 {
                    group[0].continuation.resume(throwing: error)
                    continue
                }
                for waiting in group {
                    do {
                        try await commit([waiting.item])
                        waiting.continuation.resume()
                    } catch {
                        waiting.continuation.resume(throwing: error)
                    }
                }
            }
        }
    }
}
