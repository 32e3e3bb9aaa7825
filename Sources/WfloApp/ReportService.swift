import Foundation
import Synchronization
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
        var report = RunReport(journal: journal, plannedSteps: Self.plannedSteps(journal))
        report.shownStatus = try await shownStatus(of: journal.run, pendingApprovals: journal.approvals.contains { $0.status == .pending })
        return (report, journal)
    }

    /// The workflow's steps in file order. The step order is journaled when the run starts; only a
    /// run journaled before that is read again from its source (and one whose source no longer
    /// parses reports what the journal holds).
    static func plannedSteps(_ journal: RunJournal) -> [(id: String, type: String)] {
        Executor.journaledStepOrder(journal)
            ?? (try? WorkflowParser().parse(yaml: journal.run.workflowSource, file: journal.run.workflowPath))?
            .steps.map { (id: $0.id, type: $0.type.rawValue) } ?? []
    }

    private final class PageLayout: Sendable {
        let value = Mutex<(lines: [(id: String, type: String)], number: Int, count: Int)>(([], 1, 1))
    }

    /// One page of a run's report (the dashboard's run page).
    public struct RunPage: Sendable {
        /// The page's lines are its ``RunReport/steps``; its money, spend over time, approvals and
        /// unsettled attempts are the whole run's.
        public var report: RunReport
        /// What the page was made from: the run, its approvals, its events of the kinds asked for,
        /// every attempt, and only the steps of the page's lines (and what nests under them).
        public var journal: RunJournal
        /// 1-based, clamped to `1...pageCount`.
        public var number: Int
        public var pageCount: Int
        /// Where the page's first line is among all the run's lines (0-based).
        public var firstLine: Int
        /// The run's lines over all pages.
        public var totalLines: Int
        /// The run's attempts, and the attempts beyond each step's first, over all pages.
        public var totalAttempts: Int
        public var retries: Int
    }

    /// Page `page` of `linesPerPage` lines of a run's report, the lines in the report's order
    /// (``RunReport/lineOrder(planned:journaled:)``): a 100k-step run's page reads two short columns
    /// of every step and decodes only the page's steps, not the whole journal.
    /// - Parameter extraEvents: event kinds to read beside the report's own.
    /// - Throws: ``AppError`` `.notFound` for an unknown run.
    public func runPage(_ run: String, page: Int, linesPerPage: Int, extraEvents: Set<JournalEventKind> = []) async throws -> RunPage {
        let runID = try await RunService.resolveRun(run, in: store)
        let perPage = max(1, linesPerPage)
        // Worked out inside the read, from its index of the steps.
        let layout = PageLayout()
        let journal = try await store.journal(runID: runID, eventKinds: RunReport.eventKinds.union([.runStarted]).union(extraEvents)) { index in
            let started = RunJournal(run: index.run, steps: [], attempts: [], events: index.events, approvals: [])
            let lines = RunReport.lineOrder(planned: Self.plannedSteps(started), journaled: index.steps)
            let count = max(1, (lines.count + perPage - 1) / perPage)
            let number = min(max(page, 1), count)
            let shown = lines[min(lines.count, (number - 1) * perPage)..<min(lines.count, number * perPage)]
            layout.value.withLock { $0 = (lines, number, count) }
            // A line also counts what nests under it (items, a sub-workflow's steps; an agent's turns and tool calls).
            let shownIDs = Set(shown.map(\.id))
            let owner = RunReport.owners(agents: Set(index.steps.filter { $0.type == .agent }.map(\.id)))
            var picked = shownIDs
            for step in index.steps where !shownIDs.contains(step.id) {
                if shownIDs.contains(owner(step.id)) || NestedStepID.ancestors(of: step.id).contains(where: shownIDs.contains) {
                    picked.insert(step.id)
                }
            }
            return picked
        }
        let (lines, number, count) = layout.value.withLock { $0 }
        let first = min(lines.count, (number - 1) * perPage)
        let shown = Array(lines[first..<min(lines.count, number * perPage)])
        // The page's planned lines, so a step that never started is still a line; then the report's
        // lines are put in the page's order (what nests under a line on another page is not shown here).
        var report = RunReport(journal: journal, plannedSteps: shown)
        let byID = Dictionary(report.steps.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        report.steps = shown.compactMap { byID[$0.id] }
        report.shownStatus = try await shownStatus(of: journal.run, pendingApprovals: journal.approvals.contains { $0.status == .pending })
        let retries = Dictionary(grouping: journal.attempts, by: \.stepID).values.map { max(0, $0.count - 1) }.reduce(0, +)
        return RunPage(report: report, journal: journal, number: number, pageCount: count, firstLine: first, totalLines: lines.count,
                       totalAttempts: journal.attempts.count, retries: retries)
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
