import Foundation
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing
import WfloStore

/// Runs ``Workflow``s from Swift with everything `wflo run` has, put together by the same
/// composition root (`WfloEnvironment`): a SQLite journal, the shipped pricing table, the
/// providers' clients (keys and base URLs from the environment, as the CLI reads them), the
/// network for `http` steps, `{{secrets.NAME}}` (`WFLO_SECRET_NAME`, else `~/.wflo/secrets`),
/// the user's egress policy (`WFLO_EGRESS`, else `~/.wflo/egress.yaml`), or a cassette to replay
/// offline. Runs it starts are ordinary runs: `wflo runs`, `wflo report`, `wflo approvals`,
/// `wflo resume` and `wflo cancel` see them when pointed at the same journal.
///
/// ```swift
/// let runtime = try WfloRuntime(journal: "/tmp/wflo.db")
/// let result = try await runtime.run(brief, inputs: ["topic": "tides"], budget: Money(string: "0.10"))
/// try await runtime.shutdown()
/// ```
public final class WfloRuntime: Sendable {
    /// The components runs are made of, shared with the CLI's way of putting them together.
    public let environment: WfloEnvironment
    public var store: any JournalStore { environment.store }
    public var pricing: PricingTable { environment.pricing }
    private let observer: any RunObserver

    /// - Parameters:
    ///   - journal: the SQLite file (created when missing); the CLI's default is `~/.wflo/wflo.db`.
    ///   - replay: a cassette recorded with `wflo run --record`: no network, recorded usage charged.
    ///   - pricing: a table to use instead of the shipped one.
    ///   - environment: provider keys and base URLs, `WFLO_SECRET_*`, `WFLO_EGRESS`, `WFLO_PRICING`.
    /// - Throws: the journal's error when it cannot be opened; `AppError` `.configuration` naming
    ///   the pricing table, cassette or egress file that cannot be used.
    public init(journal: String, replay: String? = nil, pricing: PricingTable? = nil, observer: any RunObserver = SilentObserver(),
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.environment = try WfloEnvironment(store: SQLiteJournalStore(path: journal),
                                               settings: .init(replay: replay, pricing: pricing, environment: environment))
        self.observer = observer
    }

    private var runs: RunService { environment.runs(observer: observer) }

    /// Starts a run and drives it to its end, exactly as `wflo run` would.
    /// - Parameter budget: the budget in force; nil takes the workflow's own, and a workflow
    ///   with neither runs with no limit.
    public func run(_ workflow: Workflow, inputs: [String: JSONValue] = [:], budget: Money? = nil) async throws -> RunResult {
        let definition = workflow.definition
        var bound: [String: JSONValue] = [:]
        for input in definition.inputs {
            if let value = inputs[input.name] ?? input.defaultValue { bound[input.name] = value } else {
                throw WorkflowError("workflow '\(definition.name)' needs its input '\(input.name)' (it has no default)")
            }
        }
        for name in inputs.keys where !definition.inputs.contains(where: { $0.name == name }) {
            throw WorkflowError("workflow '\(definition.name)' has no input '\(name)'")
        }
        let source = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
        return try await runs.start(RunService.Workflow(definition: definition, source: source, origin: .swift(name: definition.name)),
                                    inputs: .object(bound), budget: budget ?? definition.budget)
    }

    /// Continues a run of `workflow` from the journal (after a crash, an approval, a raised budget).
    public func resume(_ runID: String, workflow: Workflow, budget: Money? = nil) async throws -> RunResult {
        try await runs.resume(runID, definition: workflow.definition, budget: budget)
    }

    /// Stops a run (see `wflo cancel`).
    public func cancel(_ runID: String, by: String, reason: String? = nil) async throws -> RunResult {
        try await runs.cancel(runID, by: by, reason: reason)
    }

    /// Closes the network clients. Call once, when done.
    public func shutdown() async throws {
        try await environment.close()
    }
}
