import Foundation
import Testing
import WfloCore
import WfloDSL
import WfloEngine
import WfloReports

/// A run keeps its workflow's step order in the journal, so `status` and `report` list its steps
/// without checking the stored YAML again (seconds and hundreds of MB for a 100k-step file).
@Suite(.timeLimit(.minutes(1)))
struct StepOrderTests {
    static let workflow = """
        name: order
        steps:
          - id: last_to_start
            type: transform
            output: "{{steps.first_to_start.output}} and more"
          - id: first_to_start
            type: transform
            output: "hello"
          - id: never_starts
            type: transform
            if: "{{steps.last_to_start.output}} == 'nothing'"
            output: "x"
        """

    @Test func theRunJournalsItsStepsInFileOrderNotInTheOrderTheyRan() async throws {
        try await Harness.with { h in
            let definition = try WorkflowParser().parse(yaml: Self.workflow, file: "order.yaml")
            // The stored text does not parse: whatever lists the steps must not need it.
            let result = try await h.executor().start(definition: definition, source: "steps: [not, a: workflow", path: "order.yaml",
                                                      inputs: [:], budget: nil)
            #expect(result.status == .completed, "\(result.error ?? "")")
            let journal = try await h.store.journal(runID: result.runID)
            #expect(journal.steps.map(\.stepID) == ["first_to_start", "last_to_start", "never_starts"])
            let order = try #require(Executor.journaledStepOrder(journal))
            #expect(order.map(\.id) == ["last_to_start", "first_to_start", "never_starts"])
            #expect(order.map(\.type) == ["transform", "transform", "transform"])
            let report = RunReport(journal: journal, plannedSteps: order)
            #expect(report.steps.map(\.id) == ["last_to_start", "first_to_start", "never_starts"])
            #expect(report.steps.map(\.status) == ["completed", "completed", "skipped"])
        }
    }

    @Test func aRunJournaledBeforeTheOrderWasKeptHasNone() throws {
        let run = RunRecord(id: "old", workflowName: "w", workflowPath: "w.yaml", workflowSource: "", inputs: [:], budget: nil,
                            createdAt: Date(), updatedAt: Date())
        let journal = RunJournal(run: run, steps: [], attempts: [], events: [
            EventRecord(runID: "old", stepID: nil, kind: .runStarted, data: ["budget_usd": .null], at: Date()),
        ], approvals: [])
        #expect(Executor.journaledStepOrder(journal) == nil)
    }
}
