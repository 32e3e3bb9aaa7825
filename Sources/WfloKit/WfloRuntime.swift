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
    public convenience init(journal: String, replay: String? = nil, pricing: PricingTable? = nil, observer: any RunObserver = SilentObserver(),
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try self.init(store: SQLiteJournalStore(path: journal), replay: replay, pricing: pricing, observer: observer, environment: environment)
    }

    /// - Parameters:
    ///   - store: an open journal (``open(journal:replay:record:pricing:observer:environment:)`` opens
    ///     the one `WFLO_DB` names, SQLite or PostgreSQL, as the CLI does).
    ///   - record: a cassette to write every exchange to (secrets masked), saved by ``shutdown()``.
    public init(store: any JournalStore, replay: String? = nil, record: String? = nil, pricing: PricingTable? = nil,
                observer: any RunObserver = SilentObserver(), environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.environment = try WfloEnvironment(store: store, settings: .init(replay: replay, record: record, pricing: pricing, environment: environment))
        // `WFLO_FAULT_KILL_AT` (crash tests only): the process kills itself at that progress point.
        self.observer = FaultInjectingObserver.wrap(observer, environment: environment)
    }

    /// A runtime over the journal `journal` names, else `WFLO_DB`, else `~/.wflo/wflo.db` — a
    /// SQLite path or a `postgres://` URL — the same journal `wflo runs`, `status` and `report` read.
    public static func open(journal: String? = nil, replay: String? = nil, record: String? = nil, pricing: PricingTable? = nil,
                            observer: any RunObserver = SilentObserver(),
                            environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> WfloRuntime {
        let store = try await JournalLocation.resolve(option: journal, environment: environment).open(creating: true)
        do {
            return try WfloRuntime(store: store, replay: replay, record: record, pricing: pricing, observer: observer, environment: environment)
        } catch {
            await store.close()
            throw error
        }
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

    /// Runs a durable function under `runID`: a new id starts a run; an id already in the journal
    /// continues that run — steps that finished are answered from the journal (not run, not
    /// charged again), and the function goes on from where it stopped. A run that already
    /// completed returns its journaled result and runs nothing.
    ///
    /// The function receives the input the run was started with (journaled), so a resumed run sees
    /// the same input even when `input` differs.
    /// - Parameters:
    ///   - budget: replaces the workflow's budget (and a resumed run's, to continue one stopped by it).
    ///   - program: the name journaled for `wflo resume` to say which program continues the run.
    /// - Throws: ``DurableNondeterminism`` when the function takes another path than the journal's
    ///   (the run is journaled failed with the message); ``WorkflowError`` for a bad budget;
    ///   `AppError` for a run id in use by another kind of run, or a run another live process drives.
    public func run<Input, Output>(_ workflow: DurableWorkflow<Input, Output>, input: Input, runID: String, budget: Money? = nil,
                                   program: String = ProcessInfo.processInfo.processName) async throws -> DurableResult<Output> {
        let inputs: JSONValue
        do {
            inputs = try JSONCoding.encode(input)
        } catch {
            throw WorkflowError("durable workflow '\(workflow.name)': its input cannot be journaled as JSON: \(error)")
        }
        let limit = try budget ?? workflow.money()
        let result = try await runs.runDurable(name: workflow.name, program: program, inputs: inputs, budget: limit, runID: runID) { session in
            let context = DurableContext(session: session)
            let journaledInput: Input
            do {
                journaledInput = try JSONCoding.decode(Input.self, from: session.inputs)
            } catch {
                return .failed("the run's journaled input does not decode as \(Input.self): \(error)")
            }
            do {
                let output = try await workflow.body(context, journaledInput)
                return .completed(try JSONCoding.encode(output))
            } catch let error as DurableError {
                switch error {
                case .budgetRefused: return .budget(error.description)
                case .rejected: return .rejected(error.description)
                case .waiting(let step): return .waiting([step])
                case .stepFailed, .undecodable: return .failed(error.description)
                }
            } catch let error as DurableNondeterminism {
                throw error
            } catch let error as CancellationError {
                throw error
            } catch {
                return .failed("\(error)")
            }
        }
        var output: Output?
        if result.status == .completed, let value = result.outputs?["result"] {
            output = try JSONCoding.decode(Output.self, from: value)
        }
        return DurableResult(runID: result.runID, status: result.status, ledger: result.ledger, output: output, error: result.error, run: result)
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
