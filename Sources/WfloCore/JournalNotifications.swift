import Foundation

/// How a process that drives a run learns that another process wrote something it waits for:
/// a decision on an approval request (`wflo approve` in another terminal, the console), a
/// cancel request (`wflo cancel`).
///
/// The journal stays the truth: a wait returns when what it waits for *may* have changed, and
/// the caller then reads the journal. A return without a change is allowed (a polling
/// implementation returns after each interval); a return much later than the change or the
/// deadline is not. ``PollingJournalNotifications`` polls on an injected clock, which works with
/// any store; a store that can push (PostgreSQL's LISTEN/NOTIFY) implements this to wake waiters
/// at once.
///
/// Both waits throw `CancellationError` when their task is cancelled.
public protocol JournalNotifications: Sendable {
    /// Returns when approval request `requestID` of run `runID` may have been decided, and by
    /// `deadline` (the request's own, when it has one) at the latest.
    func waitForDecision(requestID: String, runID: String, until deadline: Date?) async throws
    /// Returns when a cancel request for run `runID` may have been recorded, and by `deadline`
    /// (the run's timeout, when it has one) at the latest.
    func waitForCancel(runID: String, until deadline: Date?) async throws
    /// A mark of the work announced so far, taken before a look for work and handed to
    /// ``waitForWork(since:until:)``: work announced after the mark (while the look ran) ends the
    /// wait at once; work announced before it does not (the look saw it).
    func workMark() -> UInt64
    /// Returns when a queued run may have become claimable (a run was submitted or given back, an
    /// approval was decided) since `mark`, and by `deadline` at the latest. A lease that runs out
    /// is not announced: a worker looks again by its deadline.
    func waitForWork(since mark: UInt64, until deadline: Date) async throws
}

extension JournalNotifications {
    /// A store that cannot push announces no work.
    public func workMark() -> UInt64 { 0 }

    /// A store that cannot push announces no work: the wait lasts until `deadline`.
    public func waitForWork(since mark: UInt64, until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
    }
}

/// ``JournalNotifications`` for a store that cannot push: every wait lasts one interval, cut
/// short at the deadline, on the injected clock (`now`, `wait`), so tests drive it without
/// sleeping.
public struct PollingJournalNotifications: JournalNotifications {
    /// Seconds between looks for an approval decision.
    public var approvalInterval: Double
    /// Seconds between looks for a cancel request.
    public var cancelInterval: Double
    public var now: @Sendable () -> Date
    /// Waits the given number of seconds (or throws `CancellationError`).
    public var wait: @Sendable (Double) async throws -> Void

    public init(approvalInterval: Double, cancelInterval: Double, now: @escaping @Sendable () -> Date,
                wait: @escaping @Sendable (Double) async throws -> Void) {
        self.approvalInterval = approvalInterval
        self.cancelInterval = cancelInterval
        self.now = now
        self.wait = wait
    }

    public func waitForDecision(requestID: String, runID: String, until deadline: Date?) async throws {
        try await wait(interval(approvalInterval, until: deadline))
    }

    public func waitForCancel(runID: String, until deadline: Date?) async throws {
        try await wait(interval(cancelInterval, until: deadline))
    }

    /// `every` seconds, or the time left before `deadline` when that is shorter (never negative).
    func interval(_ every: Double, until deadline: Date?) -> Double {
        guard let deadline else { return every }
        return max(0, min(every, deadline.timeIntervalSince(now())))
    }
}
