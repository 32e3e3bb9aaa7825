import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloReports
import WfloStore
import WfloTesting

/// Invariant 4 through the executor: a gated step never runs without a committed `approved`,
/// a rejected one never runs, the first decision wins, deadlines decide as the file says.
@Suite(.timeLimit(.minutes(1)))
struct ApprovalTests {
    static let publish = """
        name: publish
        budget: 0.10
        steps:
          - id: draft
            type: llm
            model: test-gpt
            prompt: "Draft an announcement"
            max_tokens: 50
          - id: review
            type: approval
            depends_on: [draft]
            message: "Publish this? {{steps.draft.output.text}}"
          - id: publish
            type: llm
            depends_on: [review]
            approval: required
            model: test-gpt
            prompt: "Announce: {{steps.draft.output.text}}"
            max_tokens: 50
        outputs:
          text: "{{steps.publish.output.text}}"
          by: "{{steps.review.output.by}}"
          comment: "{{steps.review.output.comment}}"
        """

    /// Decides every request as it appears, like a person at another terminal would.
    static func decider(_ store: SQLiteJournalStore, _ verdicts: [String: (ApprovalDecision.Verdict, String?)]) -> Task<[String], any Error> {
        Task {
            var decided: [String] = []
            while decided.count < verdicts.count {
                for request in try await store.approvals(runID: nil, status: .pending) where !decided.contains(request.stepID) {
                    guard let (verdict, comment) = verdicts[request.stepID] else { continue }
                    _ = try await store.decideApproval(ApprovalDecision(requestID: request.id, verdict: verdict, by: "alice",
                                                                        comment: comment, at: Date()))
                    decided.append(request.stepID)
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            return decided
        }
    }

    func prompts(_ server: FakeLLMServer, _ prefix: String) -> Int {
        server.requests().filter { $0.lastUserMessage?.hasPrefix(prefix) == true }.count
    }

    @Test func approvedStepsRunAndTheDecisionIsTheApprovalStepsOutput() async throws {
        try await Harness.with { h in
            let decider = Self.decider(h.store, ["review": (.approve, "ship it"), "publish": (.approve, nil)])
            let result = try await h.run(Self.publish)
            _ = try await decider.value
            #expect(result.status == .completed, "\(result.error ?? "")")
            #expect(result.outputs?["by"] == "alice")
            #expect(result.outputs?["comment"] == "ship it")
            #expect(prompts(h.server, "Announce:") == 1)

            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.approvals.map(\.status) == [.approved, .approved])
            let review = try #require(journal.steps.first { $0.stepID == "review" })
            #expect(review.output?["approved"] == true)
            #expect(review.output?["decision"] == "approved")
            let kinds = journal.events.map(\.kind)
            #expect(kinds.filter { $0 == .approvalRequested }.count == 2)
            #expect(kinds.filter { $0 == .approvalDecided }.count == 2)
            // The gated step started only after its approval was committed.
            let decided = try #require(journal.events.lastIndex { $0.kind == .approvalDecided && $0.stepID == "publish" })
            let started = try #require(journal.events.firstIndex { $0.kind == .stepStarted && $0.stepID == "publish" })
            #expect(decided < started)
            // The request showed what exactly would run, and its worst case.
            let gate = try #require(journal.approvals.first { $0.stepID == "publish" })
            #expect(gate.worstCase != nil && gate.worstCase! > .zero)
            #expect(gate.details["messages"]?[0]?["content"]?.stringValue?.hasPrefix("Announce: ") == true)
            #expect(gate.message.contains("Prompt: Announce: "))

            let report = RunReport(journal: journal)
            #expect(report.approvals.map(\.stepID) == ["review", "publish"])
            #expect(report.approvals.allSatisfy { $0.status == .approved && $0.decidedBy == "alice" && $0.waitedSeconds >= 0 })
            #expect(report.render(.table).contains("Approvals (waited"))
            #expect(report.json["approvals"]?[0]?["comment"] == "ship it")
            let page = report.render(.html)
            #expect(page.contains("<h2>Approvals</h2>") && page.contains("ship it"))
        }
    }

    @Test func aRejectedGateEndsTheRunRejectedAndTheStepNeverRuns() async throws {
        try await Harness.with { h in
            let decider = Self.decider(h.store, ["review": (.approve, nil), "publish": (.reject, "not today")])
            let result = try await h.run(Self.publish)
            _ = try await decider.value
            #expect(result.status == .rejected)
            #expect(result.status.exitCode == 5)
            #expect(result.error?.contains("not today") == true)
            #expect(prompts(h.server, "Announce:") == 0)
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.steps.first { $0.stepID == "publish" }?.status == .rejected)
            #expect(journal.attempts.allSatisfy { $0.stepID != "publish" })
        }
    }

    @Test func aRejectedApprovalStepStopsItsDependents() async throws {
        try await Harness.with { h in
            let decider = Self.decider(h.store, ["review": (.reject, "too long")])
            let result = try await h.run(Self.publish)
            _ = try await decider.value
            #expect(result.status == .rejected)
            let journal = try await h.store.journal(runID: result.runID)
            let review = try #require(journal.steps.first { $0.stepID == "review" })
            #expect(review.status == .rejected)
            #expect(review.output?["approved"] == false)
            #expect(review.output?["comment"] == "too long")
            #expect(journal.approvals.count == 1)
            #expect(prompts(h.server, "Announce:") == 0)
        }
    }

    static func timing(_ action: String) -> String {
        """
        name: timing
        budget: 0.10
        steps:
          - id: review
            type: approval
            message: "Go?"
            timeout: 200ms
            on_timeout: \(action)
          - id: after
            type: transform
            depends_on: [review]
            output: "{{steps.review.output.decision}} by {{steps.review.output.by}}"
        outputs:
          result: "{{steps.after.output}}"
        """
    }

    @Test func nobodyDecidingBeforeTheDeadlineRejects() async throws {
        try await Harness.with { h in
            let result = try await h.run(Self.timing("reject"))
            #expect(result.status == .rejected)
            let request = try #require(try await h.store.journal(runID: result.runID).approvals.first)
            #expect(request.status == .rejected)
            #expect(request.decidedBy == approvalTimeoutDecider)
            #expect(request.comment?.contains("200ms") == true)
        }
    }

    @Test func nobodyDecidingBeforeTheDeadlineApprovesWhenTheFileSaysSo() async throws {
        try await Harness.with { h in
            let result = try await h.run(Self.timing("approve"))
            #expect(result.status == .completed)
            #expect(result.outputs?["result"]?.stringValue == "approved by \(approvalTimeoutDecider)")
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.steps.first { $0.stepID == "review" }?.output?["timed_out"] == true)
        }
    }

    @Test func nobodyDecidingBeforeTheDeadlineFailsTheStepWhenTheFileSaysSo() async throws {
        try await Harness.with { h in
            let result = try await h.run(Self.timing("fail"))
            #expect(result.status == .failed)
            #expect(result.error?.contains("expired") == true)
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.approvals.first?.status == .expired)
            #expect(journal.steps.first { $0.stepID == "review" }?.status == .failed)
            #expect(journal.steps.allSatisfy { $0.stepID != "after" })
        }
    }

    @Test func aDecisionAfterTheDeadlineIsRefusedAndTheTimeoutRecorded() async throws {
        try await Harness.with { h in
            // An hour's deadline and a decision dated just after it: no wall-clock race with a loaded machine.
            let result = try await h.run(Self.timing("reject").replacingOccurrences(of: "timeout: 200ms", with: "timeout: 1h"), approvals: .noWait)
            #expect(result.status == .waitingApproval)
            let request = try #require(try await h.store.approvals(runID: result.runID, status: .pending).first)
            let late = try await h.store.decideApproval(ApprovalDecision(requestID: request.id, verdict: .approve, by: "bob",
                                                                         at: request.requestedAt.addingTimeInterval(3_601)))
            guard case .alreadyDecided(let record) = late else {
                Issue.record("a decision after the deadline was recorded: \(late)")
                return
            }
            #expect(record.status == .rejected && record.decidedBy == approvalTimeoutDecider)
        }
    }

    @Test func noWaitLeavesTheRunWaitingAndResumeContinuesAfterTheDecision() async throws {
        try await Harness.with { h in
            let definition = try WorkflowParser().parse(yaml: Self.publish, file: "test.yaml")
            let first = try await h.run(Self.publish, approvals: .noWait)
            #expect(first.status == .waitingApproval)
            #expect(first.status.exitCode == 4)
            #expect(first.error?.contains("'review'") == true)
            let review = try #require(try await h.store.approvals(runID: first.runID, status: .pending).first)
            #expect(review.stepID == "review")
            _ = try await h.store.decideApproval(ApprovalDecision(requestID: review.id, verdict: .approve, by: "alice", at: Date()))

            let second = try await h.executor(approvals: .noWait).resume(runID: first.runID, definition: definition)
            #expect(second.status == .waitingApproval)
            #expect(second.error?.contains("'publish'") == true)
            let gate = try #require(try await h.store.approvals(runID: first.runID, status: .pending).first)
            #expect(gate.stepID == "publish")
            _ = try await h.store.decideApproval(ApprovalDecision(requestID: gate.id, verdict: .approve, by: "alice", at: Date()))

            let third = try await h.executor(approvals: .noWait).resume(runID: first.runID, definition: definition)
            #expect(third.status == .completed)
            #expect(prompts(h.server, "Draft an announcement") == 1)
            #expect(prompts(h.server, "Announce:") == 1)
            // Resuming asked no second time: one request per gated step.
            #expect(try await h.store.approvals(runID: first.runID, status: nil).count == 2)
        }
    }

    @Test func thePolicyGatesExpensiveAndHighRiskStepsOnly() async throws {
        try await Harness.with { h in
            let yaml = """
                name: policy
                budget: 1
                approval_policy:
                  cost_above: 0.001
                steps:
                  - id: cheap
                    type: llm
                    model: test-gpt
                    prompt: "Cheap one"
                    max_tokens: 10
                  - id: dear
                    type: llm
                    model: test-gpt
                    prompt: "Dear one"
                    max_tokens: 1000
                  - id: risky
                    type: transform
                    risk: high
                    output: "dropped the table"
                """
            let result = try await h.run(yaml, approvals: .noWait)
            #expect(result.status == .waitingApproval)
            let pending = try await h.store.approvals(runID: result.runID, status: .pending)
            #expect(Set(pending.map(\.stepID)) == ["dear", "risky"])
            let dear = try #require(pending.first { $0.stepID == "dear" })
            #expect(dear.details["reason"]?.stringValue?.contains("above the policy's cost_above $0.001") == true)
            #expect(prompts(h.server, "Cheap one") == 1)
            #expect(prompts(h.server, "Dear one") == 0)
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.steps.first { $0.stepID == "risky" }?.status == .waitingApproval)
        }
    }

    @Test func aFailureElsewhereStopsTheWaitInsteadOfHangingTheRun() async throws {
        try await Harness.with { h in
            h.server.enqueue(.error(status: 400, body: #"{"error":{"message":"bad request","type":"invalid_request_error"}}"#))
            let yaml = """
                name: branches
                budget: 0.10
                steps:
                  - id: gate
                    type: approval
                    message: "Waiting for nobody"
                  - id: broken
                    type: llm
                    model: test-gpt
                    prompt: "This fails"
                    max_tokens: 10
                """
            let result = try await h.run(yaml)
            #expect(result.status == .failed)
            #expect(try await h.store.approvals(runID: result.runID, status: .pending).count == 1)
        }
    }

    @Test func theFirstOfManyConcurrentDecisionsWinsAcrossConnections() async throws {
        try await Harness.with { h in
            let result = try await h.run(Self.timing("reject").replacingOccurrences(of: "timeout: 200ms", with: "timeout: 1h"), approvals: .noWait)
            let request = try #require(try await h.store.approvals(runID: result.runID, status: .pending).first)
            // Separate connections to the same file, as separate processes would have.
            let path = h.directory.appendingPathComponent("wflo.db").path
            let outcomes = try await withThrowingTaskGroup(of: ApprovalDecisionOutcome.self) { group in
                for i in 0..<16 {
                    group.addTask {
                        let store = try SQLiteJournalStore(path: path)
                        return try await store.decideApproval(ApprovalDecision(requestID: request.id, verdict: i % 2 == 0 ? .approve : .reject,
                                                                               by: "person\(i)", at: Date()))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let recorded = outcomes.compactMap { if case .recorded(let r) = $0 { r } else { nil } }
            #expect(recorded.count == 1)
            let winner = try #require(recorded.first)
            for case .alreadyDecided(let seen) in outcomes {
                #expect(seen.decidedBy == winner.decidedBy && seen.status == winner.status)
            }
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.events.filter { $0.kind == .approvalDecided }.count == 1)
        }
    }
}
