import Foundation
import WfloCore

/// One driver per run. A run is claimed in the journal before it is driven, kept with a heartbeat,
/// and released at the end. A `wflo resume` while the first process still drives the run (waiting
/// for an approval, say) is refused instead of running and charging the same steps twice.
///
/// A holder is taken over when it is gone: on the same machine, when its process no longer
/// exists (a kill -9 is seen at once); elsewhere, when its heartbeat is older than ``staleAfter``.
struct RunLease: Sendable {
    static let heartbeatInterval: Double = 2
    static let staleAfter: Double = RunDriver.staleAfter

    let store: any JournalStore
    let runID: String
    let owner: RunOwner
    /// The configuration's clock: the heartbeat's time and its wait between beats.
    let now: @Sendable () -> Date
    let wait: @Sendable (Double) async throws -> Void
    /// The claim is a worker's (``ExecutorConfiguration/heldClaim``): it renews and releases it, not this lease.
    var heldByWorker = false

    /// - Throws: ``EngineError`` `.runHeld` naming the live holder.
    static func acquire(_ configuration: ExecutorConfiguration, runID: String) async throws -> RunLease {
        let store = configuration.store
        if let held = configuration.heldClaim {
            return RunLease(store: store, runID: runID, owner: held, now: configuration.now, wait: configuration.wait, heldByWorker: true)
        }
        let now = configuration.now()
        let owner = RunOwner.current()
        let claim = try await store.claimRun(id: runID, owner: owner, at: now) { holder, heartbeat in
            RunDriver(owner: holder, heartbeatAt: heartbeat).isGone(now: now, localHost: owner.host)
        }
        if case .heldBy(let holder, let heartbeat) = claim {
            let ago = max(0, Int(now.timeIntervalSince(heartbeat)))
            throw EngineError(.runHeld, "run \(runID) is being driven by \(holder) (heartbeat \(ago)s ago); it continues by itself once its approvals are decided (wflo approvals). Stop that process first to resume here")
        }
        return RunLease(store: store, runID: runID, owner: owner, now: configuration.now, wait: configuration.wait)
    }


    /// Renews the claim every ``heartbeatInterval`` seconds (on the configuration's clock) until cancelled.
    func heartbeat() -> Task<Void, Never> {
        Task { [store, runID, owner, now, wait] in
            while !Task.isCancelled {
                try? await wait(RunLease.heartbeatInterval)
                if Task.isCancelled { break }
                try? await store.heartbeatRun(id: runID, token: owner.token, at: now())
            }
        }
    }

    func release() async {
        try? await store.releaseRun(id: runID, token: owner.token)
    }

    /// Runs `body` holding the lease, heartbeating, and releases it however `body` ends (a
    /// worker's claim is left to the worker).
    func hold<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        if heldByWorker { return try await body() }
        let beat = heartbeat()
        defer { beat.cancel() }
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }
}
