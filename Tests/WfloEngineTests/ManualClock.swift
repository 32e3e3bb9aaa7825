import Foundation
import Synchronization
import WfloCore

/// A clock the test moves by hand: ``wait(_:)`` suspends until ``advance(by:)`` carries the
/// time past its wake-up, so waits of hours pass at once and in a known order. Cancelling a
/// waiting task ends its wait with `CancellationError`, as `Task.sleep` does.
final class ManualClock: Sendable {
    private struct Sleeper {
        var id: Int
        var wake: Date
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var nextID = 0
        var sleepers: [Sleeper] = []
        /// Tasks waiting for at least `count` sleepers.
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex(State(now: start))
    }

    func now() -> Date { state.withLock { $0.now } }

    /// Suspends until the clock has been advanced `seconds` past now.
    func wait(_ seconds: Double) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready: [CheckedContinuation<Void, Never>] = state.withLock { state in
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return []
                    }
                    state.sleepers.append(Sleeper(id: id, wake: state.now.addingTimeInterval(max(0, seconds)), continuation: continuation))
                    return Self.readyWatchers(&state)
                }
                ready.forEach { $0.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    /// Moves the time on and wakes every wait that is due.
    func advance(by seconds: Double) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now = state.now.addingTimeInterval(seconds)
            let now = state.now
            let due = state.sleepers.filter { $0.wake <= now }
            state.sleepers.removeAll { $0.wake <= now }
            return due.map(\.continuation)
        }
        due.forEach { $0.resume() }
    }

    /// Returns once at least `count` tasks wait on this clock.
    func sleepers(atLeast count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.sleepers.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private static func readyWatchers(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        let count = state.sleepers.count
        let ready = state.watchers.filter { $0.count <= count }.map(\.continuation)
        state.watchers.removeAll { $0.count <= count }
        return ready
    }
}

/// ``JournalNotifications`` the test rings by hand: every wait lasts until ``notifyAll()``
/// (or its task is cancelled), so a waiter wakes only because something was written.
final class ManualNotifications: JournalNotifications {
    private struct State {
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var decisionWaits = 0
        var cancelWaits = 0
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    func waitForDecision(requestID: String, runID: String, until deadline: Date?) async throws {
        state.withLock { $0.decisionWaits += 1 }
        try await park()
    }

    func waitForCancel(runID: String, until deadline: Date?) async throws {
        state.withLock { $0.cancelWaits += 1 }
        try await park()
    }

    /// How many waits for decisions and for cancel requests have begun.
    var waits: (decisions: Int, cancels: Int) { state.withLock { ($0.decisionWaits, $0.cancelWaits) } }

    /// Wakes every waiter.
    func notifyAll() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            let woken = Array(state.waiters.values)
            state.waiters = [:]
            return woken
        }
        woken.forEach { $0.resume() }
    }

    /// Returns once at least `count` tasks wait.
    func waiters(atLeast count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.waiters.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func park() async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready: [CheckedContinuation<Void, Never>] = state.withLock { state in
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return []
                    }
                    state.waiters[id] = continuation
                    let count = state.waiters.count
                    let ready = state.watchers.filter { $0.count <= count }.map(\.continuation)
                    state.watchers.removeAll { $0.count <= count }
                    return ready
                }
                ready.forEach { $0.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }
}
