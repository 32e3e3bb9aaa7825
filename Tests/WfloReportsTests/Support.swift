import Foundation
import WfloCore
import WfloStore

/// A real SQLite journal in a temporary file, filled through the store's public API.
struct TestJournal {
    let store: SQLiteJournalStore
    let directory: URL

    static func make() throws -> TestJournal {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-reports-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return TestJournal(store: try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path), directory: directory)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    func run(_ id: String, workflow: String = "brief", at: Date, budget: Money? = Money(string: "1")!,
             status: RunStatus = .completed) async throws {
        try await store.createRun(RunRecord(id: id, workflowName: workflow, workflowPath: "\(workflow).yaml",
                                            workflowSource: "name: \(workflow)\n", inputs: [:], budget: budget,
                                            status: status, createdAt: at, updatedAt: at))
    }

    /// One attempt: begun with `reserve` held, then settled at `cost` (succeeded or failed),
    /// or left running when `cost` is nil. `final` decides the step.
    @discardableResult
    func attempt(_ runID: String, _ stepID: String, number: Int = 1, model: String? = "gpt-4o-mini",
                 reserve: String = "0.01", cost: String?, usage: TokenUsage? = TokenUsage(inputTokens: 100, outputTokens: 20),
                 succeeded: Bool = true, final: Bool = true, at: Date) async throws -> Int64 {
        let outcome = try await store.beginAttempt(AttemptStart(runID: runID, stepID: stepID, stepType: .llm, number: number,
                                                                model: model, reserve: Money(string: reserve)!, at: at))
        guard case .started(let id) = outcome else { throw StoreError(.database, "test attempt refused: \(outcome)") }
        if let cost {
            try await store.finishAttempt(AttemptFinish(attemptID: id, runID: runID, stepID: stepID, succeeded: succeeded,
                                                        cost: Money(string: cost)!, usage: usage, error: succeeded ? nil : "HTTP 529 overloaded",
                                                        stepStatus: final ? (succeeded ? .completed : .failed) : nil,
                                                        stepOutput: succeeded ? ["text": "ok"] : nil, at: at.addingTimeInterval(1.5)))
        }
        return id
    }

    func transform(_ runID: String, _ stepID: String, at: Date) async throws {
        try await store.recordStep(StepRecord(runID: runID, stepID: stepID, type: .transform, status: .completed,
                                              output: ["n": 1], startedAt: at, finishedAt: at),
                                   event: EventRecord(runID: runID, stepID: stepID, kind: .stepCompleted, at: at))
    }

    /// What the ledgers of `runs` commit, summed: the number every report total must equal.
    func ledgerTotal(_ runs: [String]) async throws -> Money {
        var total = Money.zero
        for run in runs { total += try await store.ledger(runID: run).committed }
        return total
    }
}

extension Date {
    /// 2026-11-03 12:00:00 UTC: a fixed "now" for the tests.
    static let testNow = Date(timeIntervalSince1970: 1_793_707_200)
}
