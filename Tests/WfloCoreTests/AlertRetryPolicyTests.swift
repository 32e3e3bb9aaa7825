import Foundation
import Testing
import WfloCore

/// When a failing budget alert is tried again, and when it is given up.
struct AlertRetryPolicyTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func delaysDoubleUpToTheCapAndTheLastAttemptMakesItDead() {
        let policy = AlertRetryPolicy()
        var delays: [Double] = []
        for failed in 1...7 {
            guard case .retry(let at) = policy.after(failedAttempts: failed, at: Self.now) else {
                Issue.record("attempt \(failed) should be retried")
                return
            }
            delays.append(at.timeIntervalSince(Self.now))
        }
        #expect(delays == [30, 60, 120, 240, 480, 960, 1_800])
        #expect(policy.after(failedAttempts: 8, at: Self.now) == .dead)
        #expect(policy.after(failedAttempts: 9, at: Self.now) == .dead)
    }

    @Test(arguments: [(1, 1.0), (2, 2.0), (3, 4.0), (40, 10.0), (10_000, 10.0)])
    func aCustomPolicyKeepsItsCap(attempt: Int, seconds: Double) {
        let policy = AlertRetryPolicy(firstDelay: 1, maximumDelay: 10, maximumAttempts: 100_000)
        #expect(policy.delay(afterAttempt: attempt) == seconds)
    }

    @Test func aDeadAlertIsDueNeverAgain() {
        #expect(AlertRetryPolicy.isDead(nextAttemptAt: AlertRetryPolicy.neverAgain))
        #expect(AlertRetryPolicy.neverAgain.formatted(.iso8601) == "9999-12-31T23:59:59Z")
        #expect(!AlertRetryPolicy.isDead(nextAttemptAt: nil))
        #expect(!AlertRetryPolicy.isDead(nextAttemptAt: Self.now.addingTimeInterval(1_800)))
    }

    @Test func oneAttemptOnlyMeansDeadAtTheFirstFailure() {
        #expect(AlertRetryPolicy(maximumAttempts: 1).after(failedAttempts: 1, at: Self.now) == .dead)
        #expect(AlertRetryPolicy(maximumAttempts: 0).maximumAttempts == 1)
    }
}
