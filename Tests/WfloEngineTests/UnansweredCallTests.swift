import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloStore
import WfloTesting

/// Issue 22, item 8: one rule for a paid call whose request was sent and whose answer never
/// arrived — cut off by the step's timeout or by cancel, it stays charged at its reservation,
/// marked unsettled.
@Suite(.timeLimit(.minutes(1)))
struct UnansweredCallTests {
    static func yaml(timeout: String?, attempts: Int = 1) -> String {
        """
        name: slow
        budget: 0.50
        steps:
          - id: first
            type: llm
            model: test-gpt
            prompt: "slow please"
            max_tokens: 20
            retry: {maximum_attempts: \(attempts), initial_interval: 0}
        \(timeout.map { "    timeout: \($0)" } ?? "")
        """
    }

    @Test func aCallCutOffByTheStepsTimeoutStaysChargedAtItsReservation() async throws {
        try await Harness.with { h in
            h.server.on(promptContaining: "slow", .hang)
            let result = try await h.run(Self.yaml(timeout: "300ms"))
            #expect(result.status == .failed)
            let journal = try await h.store.journal(runID: result.runID)
            let attempt = try #require(journal.attempts.first)
            #expect(journal.attempts.count == 1)
            #expect(attempt.status == .unsettled)
            #expect(attempt.cost == nil)
            #expect(attempt.reserved > .zero)
            #expect(attempt.error?.contains("stays charged at its reservation (unsettled)") == true, "\(attempt.error ?? "")")
            #expect(result.ledger.reserved == attempt.reserved)
            #expect(result.ledger.settled == .zero)
            #expect(result.error?.contains("no answer came") == true, "\(result.error ?? "")")
            #expect(journal.events.contains { $0.kind == .stepFailed && $0.data["unsettled"] == true })
        }
    }

    @Test func aTimedOutAttemptThatIsRetriedStaysChargedBesideTheRetry() async throws {
        try await Harness.with { h in
            h.server.on(promptContaining: "slow", .hang, times: 1)
            let result = try await h.run(Self.yaml(timeout: "300ms", attempts: 2))
            #expect(result.status == .completed)
            let attempts = try await h.store.journal(runID: result.runID).attempts
            #expect(attempts.map(\.status) == [.unsettled, .succeeded])
            #expect(result.ledger.reserved == attempts[0].reserved)
            #expect(result.ledger.settled == attempts[1].cost)
        }
    }

    @Test func aCallCutOffByCancelEndsTheSameWay() async throws {
        try await Harness.with { h in
            h.server.on(promptContaining: "slow", .hang)
            let running = Task { try await h.run(Self.yaml(timeout: nil)) }
            await h.server.waitForRequests(1)
            let runID = try #require(try await h.store.listRuns(limit: 1).first?.id)
            _ = try await h.executor().cancel(runID: runID, by: "tester", reason: "stop")
            let result = try await running.value
            let attempt = try #require(try await h.store.journal(runID: runID).attempts.first)
            #expect(attempt.status == .unsettled)
            #expect(attempt.cost == nil)
            #expect(result.ledger.reserved == attempt.reserved)
            #expect(result.ledger.settled == .zero)
        }
    }
}
