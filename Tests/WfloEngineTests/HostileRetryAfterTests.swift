import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloStore
import WfloTesting

/// Issue 22, item 1: whatever a server says in `Retry-After`, every wait is finite, capped at
/// `maximum_interval`, and the journal stays readable JSON.
@Suite(.timeLimit(.minutes(1)))
struct HostileRetryAfterTests {
    /// Every `retry_scheduled` event of the run: its delay, which must be a finite JSON number.
    static func scheduledDelays(_ store: SQLiteJournalStore, runID: String) async throws -> [Double] {
        let journal = try await store.journal(runID: runID)
        return journal.events.filter { $0.kind == .retryScheduled }.compactMap { $0.data["delay_seconds"]?.doubleValue }
    }

    @Test(arguments: ["inf", "1e30", "1e17", "-5", "nan", "1" + String(repeating: "0", count: 400)])
    func anHTTPStepSurvivesAHostileRetryAfterAndItsJournalStaysReadable(value: String) async throws {
        try await HTTPHarness.with { h in
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/status/503?retry_after=\(value)"
                    retry: {maximum_attempts: 3, maximum_interval: 5s}
            """))
            #expect(result.status == .failed)
            #expect(h.service.requestCount == 3)
            let sleeps = h.sleeps.withLock { $0 }
            #expect(sleeps.count == 2)
            #expect(sleeps.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 5 }, "\(sleeps)")
            // The journal reads back (status, report and resume read it the same way).
            let delays = try await Self.scheduledDelays(h.store, runID: result.runID)
            #expect(delays == sleeps)
        }
    }

    @Test func aRetryAfterLongerThanMaximumIntervalIsCappedAtIt() async throws {
        try await HTTPHarness.with { h in
            _ = try await h.run(h.workflow("""
                    url: "\(h.base)/status/503?retry_after=86400"
                    retry: {maximum_attempts: 2, maximum_interval: 3s}
            """))
            #expect(h.sleeps.withLock { $0 } == [3])
        }
    }

    @Test func aRetryAfterPastTheRunsDeadlineEndsTheStepWithoutWaiting() async throws {
        try await HTTPHarness.with { h in
            let date = "Thu,%2001%20Jan%202099%2000:00:00%20GMT"
            let result = try await h.run(h.workflow("""
                    url: "\(h.base)/status/503?retry_after=\(date)"
                    retry: {maximum_attempts: 3}
            """, extra: "timeout: 1h"))
            #expect(result.status == .failed)
            #expect(h.service.requestCount == 1)
            #expect(h.sleeps.withLock { $0 }.isEmpty)
            #expect(result.error?.contains("asked to wait more than 100 years") == true
                    || result.error?.contains("asked to wait") == true, "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.attempts.map(\.status) == [.failed])
            #expect(journal.attempts.first?.error?.contains("the run has left before its timeout") == true)
        }
    }

    @Test(arguments: ["inf", "1e30", "1e17"])
    func anLLMStepSurvivesAHostileRetryAfter(value: String) async throws {
        try await Harness.with { h in
            h.server.enqueue(.rateLimited(retryAfter: value), .reply())
            let result = try await h.run("name: one\nbudget: 1\nsteps:\n  - {id: a, type: llm, model: test-gpt, prompt: hi, max_tokens: 10}\n")
            #expect(result.status == .completed)
            // Not a usable Retry-After: the policy's back-off (1s, jitter 0.5 is exactly the base).
            #expect(h.sleeps.withLock { $0 } == [1])
            #expect(try await Self.scheduledDelays(h.store, runID: result.runID) == [1])
        }
    }

    @Test func anLLMStepCapsAHugeRetryAfterAtMaximumInterval() async throws {
        try await Harness.with { h in
            h.server.enqueue(.rateLimited(retryAfter: "99999999999999999999"), .reply())
            let result = try await h.run("""
                name: one
                budget: 1
                steps:
                  - {id: a, type: llm, model: test-gpt, prompt: hi, max_tokens: 10, retry: {maximum_interval: 4s}}
                """)
            #expect(result.status == .completed)
            #expect(h.sleeps.withLock { $0 } == [4])
        }
    }
}

@Suite struct RetryWaitRuleTests {
    let policy = RetryPolicy(initialInterval: 2, backoffCoefficient: 2, maximumInterval: 10, maximumAttempts: 5)

    @Test(arguments: [(7.0, 7.0), (1e30, 10.0), (Double.greatestFiniteMagnitude, 10.0), (Double.infinity, 10.0), (0, 0)])
    func theAskedWaitIsKeptUpToMaximumInterval(asked: Double, expected: Double) {
        #expect(policy.wait(after: 1, asked: asked, jitter: 0.5, remaining: nil) == .wait(expected))
    }

    @Test(arguments: [Double.nan, -1.0])
    func anUnusableAskIsReplacedByTheBackoff(asked: Double) {
        #expect(policy.wait(after: 2, asked: asked, jitter: 0.5, remaining: nil) == .wait(4))
    }

    @Test func anAskPastTheDeadlineGivesUp() {
        guard case .giveUp(let reason) = policy.wait(after: 1, asked: 3600, jitter: 0.5, remaining: 60) else {
            Issue.record("expected giveUp")
            return
        }
        #expect(reason.contains("1h") && reason.contains("1m"), "\(reason)")
    }

    @Test func theBackoffNeverOverflows() {
        #expect(policy.wait(after: 100_000, asked: nil, jitter: 0.99, remaining: nil) == .wait(10))
    }
}
