import Foundation
import WfloCore
import WfloDSL
import WfloEngine
import WfloReports

/// Reads reports from the journal: one run's (for `report`, `status`), spend across runs, and a
/// run's status as people are shown it. Through `JournalStore` only, like the other services.
public struct ReportService: Sendable {
    public let store: any JournalStore
    public let now: @Sendable () -> Date

    public init(store: any JournalStore, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
    }

    /// A run's report, its steps in file order.
    /// - Parameter run: the run id or a unique prefix of it.
    /// - Throws: ``AppError`` `.notFound` for an unknown run.
    public func runReport(_ run: String) async throws -> RunReport {
        try await runReportAndJournal(run).report
    }

    /// A run's report and the journal it was made from (one read), for pages that show more
    /// than the report (each step's reservation in flight, the run's events).
    /// - Parameter extraEvents: event kinds to read beside the report's own.
    public func runReportAndJournal(_ run: String, extraEvents: Set<JournalEventKind> = []) async throws -> (report: RunReport, journal: RunJournal) {
        let runID = try await RunService.resolveRun(run, in: store)
        // Only what the report shows: not the outputs of steps, nor the events it does not read.
        let journal = try await store.journal(runID: runID, eventKinds: RunReport.eventKinds.union([.runStarted]).union(extraEvents), stepOutputs: false)
        // The step order is journaled when the run starts; only a run journaled before that is
        // read again from its source (and one whose source no longer parses reports what the journal holds).
        let planned = Executor.journaledStepOrder(journal)
            ?? (try? WorkflowParser().parse(yaml: journal.run.workflowSource, file: journal.run.workflowPath))?
            .steps.map { (id: $0.id, type: $0.type.rawValue) } ?? []
        var report = RunReport(journal: journal, plannedSteps: planned)
        report.shownStatus = try await shownStatus(of: journal.run, pendingApprovals: journal.approvals.contains { $0.status == .pending })
        return (report, journal)
    }

    /// Spend across the runs started from `since` on (of one workflow, when given), with the spend
    /// over time of every budget scope (its runs matched by their tags).
    public func spendReport(since: Date, until: Date, workflow: String?, grouping: SpendReport.Grouping, top: Int) async throws -> SpendReport {
        let activity = try await store.activity(since: since, until: nil, workflow: workflow)
        let scopes = try await store.budgetScopes(at: until).map(\.scope)
        return SpendReport(runs: activity.runs, attempts: activity.attempts, agentSteps: activity.agentSteps, since: since, until: until,
                           workflow: workflow, grouping: grouping, scopes: scopes, topLimit: top)
    }

    /// One line of the run list.
    public struct RunListing: Sendable {
        public var run: RunRecord
        public var ledger: LedgerSnapshot
        public var shownStatus: String
    }

    /// One line of the run list for `run`: its ledger and shown status.
    public func listing(of run: RunRecord) async throws -> RunListing {
        RunListing(run: run, ledger: try await store.ledger(runID: run.id), shownStatus: try await shownStatus(of: run))
    }

    /// The newest `limit` runs with their ledgers and shown statuses.
    public func runs(limit: Int) async throws -> [RunListing] {
        var listings: [RunListing] = []
        for run in try await store.listRuns(limit: limit) {
            listings.append(RunListing(run: run, ledger: try await store.ledger(runID: run.id), shownStatus: try await shownStatus(of: run)))
        }
        return listings
    }

    /// A run's status as people are shown it (``RunStatus/shown(driverAlive:awaitingDecision:enqueued:)``):
    /// `interrupted` when it is `running` but no live process drives it (`queued` when a worker will
    /// continue it), `waiting_approval` when its live driver waits for a decision.
    public func shownStatus(of run: RunRecord, pendingApprovals: Bool? = nil) async throws -> String {
        guard run.status == .running else { return run.status.rawValue }
        let driver = try await store.driver(runID: run.id)
        let alive = driver.map { !$0.isGone(now: now()) } ?? false
        var pending = pendingApprovals ?? false
        if pendingApprovals == nil { pending = try await !store.approvals(runID: run.id, status: .pending).isEmpty }
        return run.status.shown(driverAlive: alive, awaitingDecision: pending, enqueued: run.queue != nil)
    }
}
