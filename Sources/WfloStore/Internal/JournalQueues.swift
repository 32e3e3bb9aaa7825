import Dispatch

/// Where a store's transactions run: off Swift's cooperative pool, so a transaction waiting for
/// SQLite's lock (up to the busy timeout) blocks a dispatch thread, never a thread every task
/// shares. Writes go through one serial queue (SQLite takes one writer at a time anyway, and a
/// serial queue has a thread of its own); reads through a concurrent one (WAL readers do not wait
/// for the writer).
///
/// The calling task is not cancelled out of a transaction: a write that has been asked for is
/// carried out and its result returned, so the journal writes of a cancelled run still land.
final class JournalQueues: Sendable {
    private let writes = DispatchQueue(label: "wflo.journal.writes", qos: .userInitiated)
    private let reads = DispatchQueue(label: "wflo.journal.reads", qos: .userInitiated, attributes: .concurrent)

    func write<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(work, on: writes)
    }

    func read<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(work, on: reads)
    }

    private func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T, on queue: DispatchQueue) async throws -> T {
        try await withUnsafeThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
