import Foundation

/// A run that failed, as `wflo runs --failed` lists it: the run, the step that failed first and why.
public struct DeadLetter: Sendable, Hashable {
    public var run: RunRecord
    /// The step that failed first (by when it ended), nil when the run failed before any step did
    /// (its outputs, its timeout, a workflow that could not be priced).
    public var failedStep: String?
    /// The step's error, else the run's.
    public var reason: String?

    public init(run: RunRecord, failedStep: String?, reason: String?) {
        self.run = run
        self.failedStep = failedStep
        self.reason = reason
    }
}

/// What `wflo gc` removes from runs that finished before its cutoff, and keeps: the run rows and
/// their attempt ledger (cost, tokens, model and time of every call), which is all that spend
/// reports across runs add up, so their totals stay exact.
public struct CollectionSummary: Sendable, Hashable {
    public var runs: Int
    public var steps: Int
    public var events: Int
    public var approvals: Int

    public init(runs: Int = 0, steps: Int = 0, events: Int = 0, approvals: Int = 0) {
        self.runs = runs
        self.steps = steps
        self.events = events
        self.approvals = approvals
    }
}

/// Dead letters, forks and garbage collection.
public protocol RecoveryStore: Sendable {
    /// Failed runs, newest first: created at or after `since` (nil: any time), of `workflow` (nil: any).
    func failedRuns(since: Date?, workflow: String?, limit: Int) async throws -> [DeadLetter]

    /// Writes a new run that starts from another's results, in one transaction: the run, its
    /// `events` (its `run_started`), and `reused` — steps copied from the other run, which the new
    /// run replays instead of running (their attempts are not copied: they cost the new run $0).
    /// - Throws: ``StoreError`` `.conflict` when a run with the new run's id exists.
    func createForkedRun(_ run: RunRecord, events: [EventRecord], reused: [StepRecord]) async throws

    /// Removes the steps, events (but a `run_collected` marker), approval requests and outputs of
    /// runs in a final state last updated before `before`, keeping each run's row and attempts. With
    /// `dryRun`, counts what would go and removes nothing.
    func collectGarbage(finishedBefore before: Date, dryRun: Bool, at: Date) async throws -> CollectionSummary
}

/// The rules of `wflo fork`: which steps a fork runs again.
public enum ForkRule {
    /// `ID` or `ID[INDEX]` (one item of a `for_each`): the step and the item, or nil when the text is neither.
    public static func target(_ text: String) -> (stepID: String, item: Int?)? {
        guard text.hasSuffix("]"), let open = text.lastIndex(of: "[") else { return text.isEmpty ? nil : (text, nil) }
        let id = String(text[..<open])
        guard !id.isEmpty, let index = Int(text[text.index(after: open)..<text.index(before: text.endIndex)]), index >= 0 else { return nil }
        return (id, index)
    }

    /// `stepID` and every step that depends on it, directly or through others (a switch's cases
    /// depend on the switch), in file order.
    public static func downstream(of stepID: String, in definition: WorkflowDefinition) -> [String] {
        let routes = definition.routes
        var dependents: [String: [String]] = [:]
        for step in definition.steps {
            for dependency in WorkflowDefinition.dependencies(of: step, routes: routes) { dependents[dependency, default: []].append(step.id) }
        }
        var reached: Set<String> = [stepID]
        var pending = [stepID]
        while let next = pending.popLast() {
            for dependent in dependents[next] ?? [] where reached.insert(dependent).inserted { pending.append(dependent) }
        }
        return definition.steps.map(\.id).filter { reached.contains($0) }
    }
}
