import Foundation
import WfloCore
import WfloDSL
import WfloEngine
import WfloPricing

/// Starts, resumes and cancels runs with one executor, and lists them. Every front end calls
/// this instead of the executor and the journal directly, so a run is driven the same way
/// whether it was asked for by `wflo run`, `WfloRuntime` or (later) a worker.
public struct RunService: Sendable {
    public let store: any JournalStore
    public let pricing: PricingTable
    public let executor: Executor
    /// Delivers budget alerts while a run started or resumed here goes, and once more at its end;
    /// nil: this service's runs deliver none (a worker delivers on its own loop).
    public let alerts: AlertDeliveryService?
    /// The workflows this service parsed from runs' journaled sources (a worker's services share one).
    public let workflows: JournaledWorkflows

    public init(store: any JournalStore, pricing: PricingTable, executor: Executor, alerts: AlertDeliveryService? = nil,
                workflows: JournaledWorkflows = JournaledWorkflows()) {
        self.store = store
        self.pricing = pricing
        self.executor = executor
        self.alerts = alerts
        self.workflows = workflows
    }

    /// `body` with alert delivery beside it, when this service delivers.
    private func delivering(_ body: () async throws -> RunResult) async throws -> RunResult {
        guard let alerts else { return try await body() }
        return try await alerts.alongside(body)
    }

    /// A workflow ready to start: its definition, the text it was read from, where it came from.
    public struct Workflow: Sendable {
        public var definition: WorkflowDefinition
        public var source: String
        public var origin: WorkflowOrigin

        public init(definition: WorkflowDefinition, source: String, origin: WorkflowOrigin) {
            self.definition = definition
            self.source = source
            self.origin = origin
        }
    }

    /// Reads and validates a workflow file against this service's prices.
    /// - Throws: ``AppError`` `.invalidInput` with every problem of the file as `file:line:col: error: …` lines.
    public func load(file path: String) throws -> Workflow {
        let (definition, source) = try WorkflowLoader.load(path: path, pricing: pricing)
        return Workflow(definition: definition, source: source, origin: .file(path: path))
    }

    /// Reads a workflow file someone else names (the API's `"path"`), only inside `folder` (`wflo
    /// server --workflows-dir`): a relative path is taken from `folder`; symlinks and `..` are
    /// resolved before the check, and the workflow's sub-workflow files are held to it too.
    /// - Throws: ``AppError`` `.forbidden` naming the path and the folder when it is outside;
    ///   `.invalidInput` with the file's problems.
    public func load(file path: String, inside folder: String) throws -> Workflow {
        let joined = path.hasPrefix("/") ? path : (folder as NSString).appendingPathComponent(path)
        let resolved = URL(fileURLWithPath: joined).standardizedFileURL.resolvingSymlinksInPath().path
        guard WorkflowSources.isInside(resolved, folder: folder) else {
            let root = URL(fileURLWithPath: folder).standardizedFileURL.resolvingSymlinksInPath().path
            throw AppError(.forbidden, "path '\(path)' resolves to \(resolved), outside the workflows folder \(root): the server reads workflow files only there (wflo server --workflows-dir DIR)")
        }
        let (definition, source) = try WorkflowLoader.load(path: resolved, pricing: pricing, sources: WorkflowSources(folder: folder))
        return Workflow(definition: definition, source: source, origin: .file(path: resolved))
    }

    /// Validates a workflow given as text (the API's `"workflow": "<YAML>"`) against this service's
    /// prices; `file` names it in diagnostics and is journaled as its path (a resume re-reads the
    /// journaled source, never a file).
    /// - Parameter folder: when set, the only folder its sub-workflow files are read from.
    /// - Throws: ``AppError`` `.invalidInput` with every problem as `file:line:col: error: …` lines.
    public func load(source: String, file: String, inside folder: String? = nil) throws -> Workflow {
        let definition = try WorkflowLoader.parse(source: source, file: file, pricing: pricing, sources: WorkflowSources(folder: folder))
        return Workflow(definition: definition, source: source, origin: .file(path: file))
    }

    /// A run's inputs given as one JSON object of NAME: VALUE (the API's `inputs`), checked
    /// against the workflow's declared inputs as `--input-file` is.
    /// - Throws: ``AppError`` `.invalidInput` naming the input.
    public static func bindInputs(_ definition: WorkflowDefinition, object: JSONValue) throws -> JSONValue {
        do {
            return try InputBinder.bind(definition, arguments: [], file: object)
        } catch {
            throw AppError(.invalidInput, "\(error)")
        }
    }

    /// The budget in force for a new run: `given` (USD as decimal text), else the workflow's
    /// `budget:`; nil only when `unlimited`.
    /// - Parameter field: how the caller names the budget in messages (`--budget`, `budget_usd`).
    /// - Throws: ``AppError`` `.invalidInput` for text that is not an amount, a negative amount, or no budget at all.
    public static func budget(given: String?, unlimited: Bool, definition: WorkflowDefinition, field: String) throws -> Money? {
        if unlimited { return nil }
        if let given { return try parseBudget(given, field: field) }
        if let budget = definition.budget { return budget }
        throw AppError(.invalidInput, "the workflow '\(definition.name)' sets no budget: give \(field) (e.g. \"0.50\")")
    }

    /// A budget given as USD decimal text (an optional leading `$`).
    /// - Throws: ``AppError`` `.invalidInput` naming `field` for text that is not an amount or is negative.
    public static func parseBudget(_ given: String, field: String) throws -> Money {
        let digits = given.hasPrefix("$") ? String(given.dropFirst()) : given
        guard let money = Money(string: digits) else {
            throw AppError(.invalidInput, "\(field) '\(given)' is not an amount of USD (write \"0.50\")")
        }
        if money.isNegative { throw AppError(.invalidInput, "\(field) \(given): a budget must be 0 or more USD") }
        return money
    }

    /// Starts a run and drives it to its end (or to a wait for a decision, with `.noWait`),
    /// delivering budget alerts meanwhile (``alerts``).
    /// - Parameter budget: the budget in force; nil runs with no limit.
    /// - Parameter tags: `--tag KEY=VALUE`s, over the file's `tags:`.
    public func start(_ workflow: Workflow, inputs: JSONValue, budget: Money?, mode: RunMode = RunMode(),
                      tags: [String: String] = [:]) async throws -> RunResult {
        try await delivering {
            try await executor.start(definition: workflow.definition, source: workflow.source, path: workflow.origin.journaledPath,
                                     inputs: inputs, budget: budget, mode: mode, tags: tags)
        }
    }

    /// Enqueues a run for a worker (`wflo submit`): nothing runs here. The same idempotency key
    /// returns the run it first enqueued and writes nothing.
    /// - Parameter budget: the budget in force; nil runs with no limit.
    /// - Parameter traceparent: a caller's W3C trace context the run's spans hang under, wherever it runs.
    public func submit(_ workflow: Workflow, inputs: JSONValue, budget: Money?, queue: String = QueueSettings.defaultQueue,
                       priority: Int = 0, idempotencyKey: String? = nil, tags: [String: String] = [:],
                       trigger: RunTrigger? = nil, traceparent: String? = nil) async throws -> EnqueueOutcome {
        if let problem = QueueSettings.problem(name: queue) { throw AppError(.invalidInput, "--queue: " + problem) }
        return try await executor.enqueue(definition: workflow.definition, source: workflow.source, path: workflow.origin.journaledPath,
                                          inputs: inputs, budget: budget, queue: queue, priority: priority, idempotencyKey: idempotencyKey,
                                          tags: tags, trigger: trigger, traceparent: traceparent)
    }

    /// Continues a run from its journal: completed steps are not run or charged again. A run of a
    /// workflow file is rebuilt from the source journaled when it started (its sub-workflows too,
    /// as they were then, not as the files are now).
    /// - Parameters:
    ///   - run: the run id or a unique prefix of it.
    ///   - definition: the definition of a run started from Swift; nil for a run of a file.
    /// - Throws: ``AppError`` `.notFound` for an unknown run, `.invalidInput` for a run started from
    ///   Swift without its definition.
    public func resume(_ run: String, definition swiftDefinition: WorkflowDefinition? = nil, budget: Money?) async throws -> RunResult {
        try await resume(runID: try await resolveRun(run), definition: swiftDefinition, budget: budget)
    }

    /// ``resume(_:definition:budget:)`` of a whole run id (a worker's claim names one): not looked up as a prefix first.
    public func resume(runID: String, definition swiftDefinition: WorkflowDefinition? = nil, budget: Money?) async throws -> RunResult {
        // Read once: the run's row, its workflow's sub-workflow sources and what the executor continues from.
        let journal: RunJournal
        do {
            journal = try await store.journal(runID: runID)
        } catch let error as StoreError where error.code == .notFound {
            throw AppError(.notFound, "run \(runID) not found")
        }
        let record = journal.run
        let definition: WorkflowDefinition
        switch (WorkflowOrigin(journaledPath: record.workflowPath), swiftDefinition) {
        case (_, let given?):
            definition = given
        case (.durable(let name, let program), _):
            throw AppError(.invalidInput, "run \(runID) is a durable function ('\(name)') run by the program '\(program)'; it must be resumed by its program: run '\(program)' again with the run id \(runID)")
        case (.swift, nil):
            throw AppError(.invalidInput, "run \(runID) was started from Swift (workflow '\(record.workflowName)'); resume it there with WfloRuntime.resume(_:workflow:)")
        case (.file(let path), nil):
            definition = try journaledDefinition(of: record, path: path, started: journal)
        }
        return try await delivering { try await executor.resume(runID: runID, definition: definition, budget: budget, journal: journal) }
    }

    /// Drives a durable function's run (WfloKit's `DurableWorkflow`) under `runID`: starts it, or
    /// continues the run of that id from its journal (see ``Executor/runDurable(name:path:inputs:budget:runID:program:)``).
    /// Budget alerts are delivered meanwhile, as for ``start(_:inputs:budget:mode:tags:)``.
    /// - Parameter program: the executable's name, journaled so `wflo resume` can say what continues the run.
    /// The workflow a run of a file was started with, read from the journal (its source and its
    /// sub-workflows' as they were when it started).
    /// - Throws: ``AppError`` `.invalidInput` for a run not started from a workflow file.
    public func journaledDefinition(runID: String) async throws -> WorkflowDefinition {
        guard let record = try await store.run(id: runID) else { throw AppError(.notFound, "run \(runID) not found") }
        guard case .file(let path) = WorkflowOrigin(journaledPath: record.workflowPath) else {
            throw AppError(.invalidInput, "run \(runID) was not started from a workflow file; its steps are not read from the journal")
        }
        // Only its `run_started` event is read (no step output either).
        let started = try await store.journal(runID: record.id, eventKinds: [.runStarted], stepOutputs: false)
        return try journaledDefinition(of: record, path: path, started: started)
    }

    /// The workflow of `record`, a run of the file at `path`: its source, and its sub-workflows'
    /// from the `run_started` event of `started` (the run's journal, or that event of it).
    private func journaledDefinition(of record: RunRecord, path: String, started: RunJournal) throws -> WorkflowDefinition {
        let children = Executor.journaledWorkflowSources(started)
        return try workflows.definition(source: record.workflowSource, path: path, children: children) {
            try WorkflowLoader.parse(source: record.workflowSource, file: path, pricing: pricing, sources: WorkflowSources(journaled: children))
        }
    }

    public func runDurable(name: String, program: String, inputs: JSONValue, budget: Money?, runID: String,
                           body: @Sendable (DurableRun) async throws -> DurableRunEnd) async throws -> RunResult {
        if let problem = RunService.runIDProblem(runID) { throw AppError(.invalidInput, problem) }
        if let record = try await store.run(id: runID) {
            let origin = WorkflowOrigin(journaledPath: record.workflowPath)
            guard case .durable = origin else {
                throw AppError(.invalidInput, "run \(runID) is a run of '\(record.workflowPath)', not of a durable function; use another run id")
            }
        }
        do {
            return try await delivering {
                try await executor.runDurable(name: name, path: WorkflowOrigin.durable(name: name, program: program).journaledPath,
                                              inputs: inputs, budget: budget, runID: runID, program: body)
            }
        } catch let error as EngineError {
            throw AppError(error.code == .runHeld ? .stillRunning : .invalidInput, error.description)
        }
    }

    /// Why `id` cannot name a run (empty, too long, or characters the CLI's prefix lookup and
    /// file names would trip on), or nil.
    static func runIDProblem(_ id: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        if id.isEmpty || id.count > 64 || !id.allSatisfy({ allowed.contains($0) }) {
            return "run id '\(id)': use 1 to 64 letters, digits, '-', '_' or '.'"
        }
        return nil
    }

    /// Stops a run: the request is journaled first; a process driving it stops within a moment,
    /// a run nobody drives is ended here.
    /// - Parameter wait: seconds to wait for the driving process to stop.
    /// - Throws: ``AppError`` `.notFound` for an unknown run, `.invalidInput` for a run that has
    ///   already ended, `.stillRunning` when its driver did not stop within `wait`.
    public func cancel(_ run: String, by: String, reason: String?, wait: Double = 30) async throws -> RunResult {
        let runID = try await resolveRun(run)
        do {
            return try await executor.cancel(runID: runID, by: by, reason: reason, wait: wait)
        } catch let error as EngineError {
            throw AppError(error.code == .notStopped ? .stillRunning : .invalidInput, error.description)
        }
    }

    /// A run id from an id or a unique prefix of it.
    /// - Throws: ``AppError`` `.notFound` with the store's message (no match, or several).
    public func resolveRun(_ prefix: String) async throws -> String {
        try await Self.resolveRun(prefix, in: store)
    }

    static func resolveRun(_ prefix: String, in store: any JournalStore) async throws -> String {
        do {
            return try await store.resolveRunID(prefix: prefix)
        } catch let error as StoreError {
            throw AppError(.notFound, error.message)
        }
    }

    /// How a run was started (its cassette, `--no-cache`, pricing files), so resuming it goes on
    /// the same way unless told otherwise: a replayed run never goes live by accident.
    public static func startedMode(of run: String, in store: any JournalStore) async throws -> RunMode {
        let journal = try await store.journal(runID: try await resolveRun(run, in: store))
        return Executor.journaledMode(journal)
    }
}
