import Foundation
import Synchronization
import WfloCore

/// Tasks parked until the test releases them, each with a `tag` (a wake-up time, or nothing):
/// the one mechanism behind ``ManualClock`` and ``ManualNotifications``. Cancelling a parked task
/// ends its wait with `CancellationError`, as `Task.sleep` does.
final class ParkingLot<Tag: Sendable>: Sendable {
    private struct Parked {
        var tag: Tag
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var nextID = 0
        var parked: [Int: Parked] = [:]
        /// Tasks waiting for at least `count` parked tasks.
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// Suspends until ``release(where:)`` picks this task's tag, or the task is cancelled.
    func park(_ tag: Tag) async throws {
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
                    state.parked[id] = Parked(tag: tag, continuation: continuation)
                    let count = state.parked.count
                    let ready = state.watchers.filter { $0.count <= count }.map(\.continuation)
                    state.watchers.removeAll { $0.count <= count }
                    return ready
                }
                ready.forEach { $0.resume() }
            }
        } onCancel: {
            state.withLock { $0.parked.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Resumes every parked task whose tag `due` picks, in the order they parked. `due` runs under
    /// the lot's lock: it may not touch the lot.
    func release(where due: (Tag) -> Bool) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            let ids = state.parked.keys.sorted().filter { due(state.parked[$0]!.tag) }
            return ids.map { state.parked.removeValue(forKey: $0)!.continuation }
        }
        woken.forEach { $0.resume() }
    }

    /// Returns once at least `count` tasks are parked.
    func parked(atLeast count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.parked.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// A clock the test moves by hand: ``wait(_:)`` suspends until ``advance(by:)`` carries the
/// time past its wake-up, so waits of hours pass at once and in a known order.
final class ManualClock: Sendable {
    private let time: Mutex<Date>
    private let sleepers = ParkingLot<Date>()

    init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        time = Mutex(start)
    }

    func now() -> Date { time.withLock { $0 } }

    /// Suspends until the clock has been advanced `seconds` past now.
    func wait(_ seconds: Double) async throws {
        try await sleepers.park(now().addingTimeInterval(max(0, seconds)))
    }

    /// Moves the time on and wakes every wait that is due.
    func advance(by seconds: Double) {
        let now = time.withLock { time in
            time = time.addingTimeInterval(seconds)
            return time
        }
        sleepers.release { $0 <= now }
    }

    /// Returns once at least `count` tasks wait on this clock.
    func sleepers(atLeast count: Int) async { await sleepers.parked(atLeast: count) }
}

/// ``JournalNotifications`` the test rings by hand: every wait lasts until ``notifyAll()``
/// (or its task is cancelled), so a waiter wakes only because something was written.
final class ManualNotifications: JournalNotifications {
    private let counts = Mutex((decisions: 0, cancels: 0))
    private let waiters = ParkingLot<Void>()

    func waitForDecision(requestID: String, runID: String, until deadline: Date?) async throws {
        counts.withLock { $0.decisions += 1 }
        try await waiters.park(())
    }

    func waitForCancel(runID: String, until deadline: Date?) async throws {
        counts.withLock { $0.cancels += 1 }
        try await waiters.park(())
    }

    /// How many waits for decisions and for cancel requests have begun.
    var waits: (decisions: Int, cancels: Int) { counts.withLock { $0 } }

    /// Wakes every waiter.
    func notifyAll() { waiters.release { _ in true } }

    /// Returns once at least `count` tasks wait.
    func waiters(atLeast count: Int) async { await waiters.parked(atLeast: count) }
}
