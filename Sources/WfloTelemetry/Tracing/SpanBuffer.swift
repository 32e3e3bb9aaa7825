import Synchronization

/// The ended spans waiting for export: appended under a lock by whichever task ends a span, taken
/// in batches by the one export task. Bounded: a span that finds it full is dropped and counted,
/// never waited for, so a slow or dead collector can not hold a run up.
///
/// Appending wakes nobody, except the append that makes ``chunkSize`` spans wait (the export task
/// then encodes them while the run goes on) and the one that fills a batch (it is sent at once).
final class SpanBuffer: Sendable {
    let capacity: Int
    let batchSize: Int
    let chunkSize: Int
    let doorbell = Doorbell()

    private struct State {
        var spans: [FinishedSpan] = []
        var dropped = 0
    }

    private let state = Mutex(State())

    init(capacity: Int, batchSize: Int, chunkSize: Int = 256) {
        self.capacity = max(1, capacity)
        self.batchSize = max(1, min(batchSize, capacity))
        self.chunkSize = max(1, min(chunkSize, self.batchSize))
    }

    func append(_ span: FinishedSpan) {
        let wakes = state.withLock { state -> Bool in
            guard state.spans.count < capacity else {
                state.dropped += 1
                return false
            }
            state.spans.append(span)
            return state.spans.count == chunkSize || state.spans.count == batchSize
        }
        if wakes { doorbell.ring() }
    }

    /// Up to `batchSize` of the oldest spans, removed from the buffer.
    func takeBatch() -> [FinishedSpan] {
        state.withLock { state in
            if state.spans.count <= batchSize {
                var taken: [FinishedSpan] = []
                swap(&taken, &state.spans)
                return taken
            }
            let taken = Array(state.spans.prefix(batchSize))
            state.spans.removeFirst(batchSize)
            return taken
        }
    }

    /// How many spans are waiting.
    var count: Int { state.withLock { $0.spans.count } }

    /// How many spans found the buffer full, since it was made.
    var dropped: Int { state.withLock { $0.dropped } }
}

/// Wakes one waiting task. A ring with nobody waiting is kept, so the next ``wait()`` returns at
/// once; rings while one is kept are one ring.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next ring (or at once if one was kept), or when the task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            self.ring()
        }
    }
}
