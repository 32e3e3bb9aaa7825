import Foundation
import Testing
import WfloCore
import WfloEngine
import WfloStore
import WfloTesting

/// Issue 23, item 2: an attempt's recorded time and its step's `timeout:` start when the request
/// is sent, not while the call waits for a pooled connection. Real HTTP over loopback with a pool
/// of one connection, a server that answers after 1 s, and a real SQLite journal.
@Suite(.timeLimit(.minutes(1)))
struct AttemptClockTests {
    static let yaml = """
        name: pooled
        budget: 0.50
        steps:
          - id: a
            type: llm
            model: test-gpt
            prompt: "pooled a"
            max_tokens: 20
            timeout: 1500ms
            retry: {maximum_attempts: 1}
          - id: b
            type: llm
            model: test-gpt
            prompt: "pooled b"
            max_tokens: 20
            timeout: 1500ms
            retry: {maximum_attempts: 1}
        """

    @Test func aCallThatWaitsForAConnectionIsTimedAndRecordedFromItsSend() async throws {
        // Given one connection and two independent calls of 1 s each with a 1.5 s timeout,
        // when they run together, one waits ~1 s for the connection the other holds;
        // then both complete at their first attempt (the wait is not spent from the timeout; no
        // retry hides a timeout), and each attempt's
        // journaled time is its ~1 s call, not the ~2 s from its reservation.
        try await Harness.with(connectionsPerHost: 1) { h in
            h.server.on(promptContaining: "pooled", .delay(.seconds(1)))
            let result = try await h.run(Self.yaml)
            #expect(result.status == .completed, "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.attempts.count == 2 && journal.attempts.allSatisfy { $0.status == .succeeded })
            var waits: [Double] = []
            for attempt in journal.attempts {
                let finished = try #require(attempt.finishedAt)
                let seconds = finished.timeIntervalSince(attempt.startedAt)
                // ~1 s; with the wait for the connection counted it would be at least 2 s (the bound leaves room for a loaded machine).
                #expect(seconds > 0.9 && seconds < 1.95, "\(attempt.stepID): \(seconds) s recorded")
                // The step row keeps the reservation's time: the attempt starts later by the wait.
                let step = try #require(journal.steps.first { $0.stepID == attempt.stepID })
                waits.append(attempt.startedAt.timeIntervalSince(try #require(step.startedAt)))
            }
            #expect((waits.max() ?? 0) > 0.7, "one call waited for the connection: \(waits)")
            let reported = h.observer.all.compactMap { progress -> Double? in
                if case .stepCompleted(_, _, _, let seconds) = progress { return seconds }
                return nil
            }
            #expect(reported.count == 2 && reported.allSatisfy { $0 < 1.95 }, "\(reported)")
        }
    }
}
