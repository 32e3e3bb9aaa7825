import Foundation

/// When a budget alert whose webhook failed is tried again, and when it is given up (dead).
///
/// A pure rule: the deliverer journals each failed attempt with the time this returns, and the
/// store's claim only hands out alerts whose time has come. Delays double from ``firstDelay`` up
/// to ``maximumDelay``; after ``maximumAttempts`` failed attempts the alert is dead: it is never
/// sent again and `wflo alerts` shows it with its last error. A dead alert is journaled as due
/// again at ``neverAgain``, so no claim ever hands it out. With the defaults an alert is tried
/// 8 times over about an hour (30 s, 1, 2, 4, 8, 16, 30 min between tries).
///
/// ```swift
/// switch AlertRetryPolicy().after(failedAttempts: 3, at: now) {
/// case .retry(let at): … // try again at `at`
/// case .dead: …           // give up
/// }
/// ```
public struct AlertRetryPolicy: Sendable, Hashable {
    /// Seconds before the second attempt.
    public var firstDelay: Double
    /// The longest wait between two attempts, in seconds.
    public var maximumDelay: Double
    /// Attempts (the first included) after which a failing alert is dead.
    public var maximumAttempts: Int

    public init(firstDelay: Double = 30, maximumDelay: Double = 1_800, maximumAttempts: Int = 8) {
        self.firstDelay = firstDelay
        self.maximumDelay = maximumDelay
        self.maximumAttempts = max(1, maximumAttempts)
    }

    /// The next-attempt time of a dead alert: 9999-12-31T23:59:59Z, after every claim's `now`.
    public static let neverAgain = Date(timeIntervalSince1970: 253_402_300_799)

    /// Whether an alert due again at `nextAttemptAt` is dead.
    public static func isDead(nextAttemptAt: Date?) -> Bool {
        nextAttemptAt.map { $0 >= neverAgain } ?? false
    }

    public enum Decision: Sendable, Hashable {
        /// Try again at this time (not before).
        case retry(at: Date)
        /// Give up: the alert is dead.
        case dead
    }

    /// What to do after the `failedAttempts`-th attempt failed at `now`.
    public func after(failedAttempts: Int, at now: Date) -> Decision {
        guard failedAttempts < maximumAttempts else { return .dead }
        return .retry(at: now.addingTimeInterval(delay(afterAttempt: failedAttempts)))
    }

    /// Seconds to wait after the `attempt`-th failed attempt: ``firstDelay`` doubled per attempt, at most ``maximumDelay``.
    public func delay(afterAttempt attempt: Int) -> Double {
        let doublings = min(max(0, attempt - 1), 60)
        return min(maximumDelay, firstDelay * pow(2, Double(doublings)))
    }
}
