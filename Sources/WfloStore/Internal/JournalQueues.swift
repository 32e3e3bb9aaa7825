import Dispatch
import Foundation
import Synchronization

/// Where a store's transactions run, so that none waits for another process's lock on one of
/// Swift's cooperative threads.
///
/// A write is first tried on the calling thread, if no other write of this store is under way,
/// with SQLite told not to wait (``inlineAttempt``: the busy handler gives up at once). It then
/// costs what the write costs and no thread hop. When another process holds the lock, the
/// attempt fails before it has changed anything (`BEGIN IMMEDIATE` is refused) and the write is
/// carried out on the store's serial queue, where the busy handler waits up to the busy timeout
/// on a dispatch thread. Reads always run on a concurrent queue (WAL readers do not wait for the
/// writer, but a pool can run out of reader connections).
///
/// A read of a few rows by key (``read(inline:isBusy:_:)``, the server's checks on every request)
/// runs on the calling thread when a reader connection is free for certain — fewer reads are under
/// way than the pool has readers — with SQLite told not to wait; else, or when it finds the file
/// busy, on the read queue. A thread hop there and back was most of such a read's cost.
///
/// The calling task is not cancelled out of a transaction: a write that has been asked for is
/// carried out and its result returned, so the journal writes of a cancelled run still land.
final class JournalQueues: Sendable {
    private let writes = DispatchQueue(label: "wflo.journal.writes", qos: .userInitiated)
    private let reads = DispatchQueue(label: "wflo.journal.reads", qos: .userInitiated, attributes: .concurrent)
    /// Held by the write under way, on either path: an inline attempt never waits behind another write.
    private let writing = Mutex(())
    /// Reads under way, on either path.
    private let reading = Atomic<Int>(0)
    /// Reader connections of the pool; 0: reads never run inline (a `DatabaseQueue` serializes them with the writes).
    let readers: Int

    init(readers: Int = 0) {
        self.readers = readers
    }

    /// Set while a write is tried on the calling thread: the busy handler then refuses to wait.
    @TaskLocal static var inlineAttempt = false

    /// The busy handler of the store's connections: no wait for an inline attempt, else up to
    /// `timeout` seconds in steps of 5 ms (what SQLite's own busy timeout does, on this thread).
    static func busyHandler(timeout: TimeInterval) -> @Sendable (Int) -> Bool {
        { tries in
            if inlineAttempt { return false }
            let step = 0.005
            guard Double(tries) * step < timeout else { return false }
            Thread.sleep(forTimeInterval: step)
            return true
        }
    }

    /// Runs `work` inline when it can finish without waiting, else on the write queue.
    /// - Parameter isBusy: whether an error of `work` says the database was locked (nothing written).
    func write<T: Sendable>(isBusy: @escaping @Sendable (any Error) -> Bool,
                            _ work: @escaping @Sendable () throws -> T) async throws -> T {
        let inline: Result<T, any Error>? = writing.withLockIfAvailable { _ in
            JournalQueues.$inlineAttempt.withValue(true) { Result { try work() } }
        }
        switch inline {
        case .success(let value)?: return value
        case .failure(let error)? where !isBusy(error): throw error
        default: break
        }
        return try await run({ [self] in try writing.withLock { _ in try work() } }, on: writes)
    }

    /// Runs `work` on the read queue; with `inline`, on the calling thread when a reader is free
    /// for certain and SQLite need not wait (`isBusy`: the error says it would have).
    func read<T: Sendable>(inline: Bool = false, isBusy: @escaping @Sendable (any Error) -> Bool = { _ in false },
                           _ work: @escaping @Sendable () throws -> T) async throws -> T {
        let under = reading.add(1, ordering: .relaxed).newValue
        defer { reading.subtract(1, ordering: .relaxed) }
        if inline && under <= readers {
            switch JournalQueues.$inlineAttempt.withValue(true, operation: { Result { try work() } }) {
            case .success(let value): return value
            case .failure(let error) where !isBusy(error): throw error
            case .failure: break
            }
        }
        return try await run(work, on: reads)
    }

    private func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T, on queue: DispatchQueue) async throws -> T {
        try await withUnsafeThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
