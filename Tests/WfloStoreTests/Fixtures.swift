import Foundation
import WfloCore
import WfloStore

/// A fresh directory under the system temporary directory, removed when `body` returns.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}

/// Dates that survive the REAL seconds column exactly (binary fractions).
func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: 1_700_000_000 + seconds) }

func money(_ text: String) -> Money {
    guard let money = Money(string: text) else { preconditionFailure("not an amount: \(text)") }
    return money
}

func sampleRun(id: String = "run-1", budget: String? = "1.00", created: Double = 0) -> RunRecord {
    RunRecord(id: id, workflowName: "brief", workflowPath: "Examples/brief.yaml",
              workflowSource: "name: brief\nsteps: []\n", inputs: ["topic": "solid-state batteries", "n": .number("1.5e-07")],
              budget: budget.map(money), createdAt: date(created), updatedAt: date(created))
}

func start(_ runID: String = "run-1", step: String = "outline", number: Int = 1, reserve: String, at: Double = 1) -> AttemptStart {
    AttemptStart(runID: runID, stepID: step, stepType: .llm, number: number, model: "gpt-4o-mini", reserve: money(reserve), at: date(at))
}

func finish(_ attemptID: Int64, _ runID: String = "run-1", step: String = "outline", cost: String, succeeded: Bool = true,
            stepStatus: StepStatus? = .completed, output: JSONValue? = ["text": "ok"], at: Double = 2) -> AttemptFinish {
    AttemptFinish(attemptID: attemptID, runID: runID, stepID: step, succeeded: succeeded, cost: money(cost),
                  usage: TokenUsage(inputTokens: 12, cachedInputTokens: 3, outputTokens: 40), error: succeeded ? nil : "HTTP 500",
                  stepStatus: stepStatus, stepOutput: output, at: date(at))
}

extension AttemptBeginOutcome {
    /// The attempt id when started, nil when refused.
    var attemptID: Int64? {
        if case .started(let id) = self { return id }
        return nil
    }
}
