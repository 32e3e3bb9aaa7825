import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing
import WfloReports
import WfloStore

/// The services every front end calls, on a real SQLite journal in a temporary folder.
@Suite(.timeLimit(.minutes(1)))
struct ServiceTests {
    static let requested = Date(timeIntervalSince1970: 1_800_000_000)
    static let decided = Date(timeIntervalSince1970: 1_800_000_600)

    static func withJournal<T>(_ body: (URL, SQLiteJournalStore) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-app-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try await body(folder, try SQLiteJournalStore(path: folder.appendingPathComponent("wflo.db").path))
    }

    static func run(_ id: String, path: String) -> RunRecord {
        RunRecord(id: id, workflowName: "brief", workflowPath: path, workflowSource: "{}", inputs: .object([:]), budget: nil,
                  createdAt: requested, updatedAt: requested)
    }

    @Test(arguments: [("Examples/brief/workflow.yaml", WorkflowOrigin.file(path: "Examples/brief/workflow.yaml")),
                      ("swift:brief", WorkflowOrigin.swift(name: "brief")),
                      ("swift-durable:triage @ wflo-durable-example", WorkflowOrigin.durable(name: "triage", program: "wflo-durable-example")),
                      ("/tmp/swift/flow.yaml", WorkflowOrigin.file(path: "/tmp/swift/flow.yaml"))])
    func aWorkflowOriginIsReadBackAsItWasJournaled(path: String, origin: WorkflowOrigin) {
        #expect(WorkflowOrigin(journaledPath: path) == origin)
        #expect(origin.journaledPath == path)
    }

    /// Who may decide is checked before anything is written; the decision is stamped with the
    /// service's clock; the first decision wins.
    @Test func onlyAnApproverDecidesStampedByTheInjectedClockAndTheFirstDecisionWins() async throws {
        try await Self.withJournal { _, store in
            try await store.createRun(Self.run("7f3c0000-run", path: "flow.yaml"))
            let request = ApprovalRecord(id: "a1b2c3d4e5f6", runID: "7f3c0000-run", stepID: "publish", message: "Publish?",
                                         settings: ApprovalSettings(approvers: ["alice"]), requestedAt: Self.requested)
            _ = try await store.requestApproval(request, stepType: .approval)
            let service = ApprovalService(store: store, now: { Self.decided })

            guard case .notAnApprover(_, let who) = try await service.decide("7f3c/publish", verdict: .approve, comment: nil, by: "mallory") else {
                Issue.record("mallory's decision was not refused")
                return
            }
            #expect(who == "mallory")
            #expect(try await store.approval(id: request.id)?.status == .pending)

            guard case .recorded(let record) = try await service.decide("a1b2", verdict: .approve, comment: "ship it", by: "alice") else {
                Issue.record("alice's decision was not recorded")
                return
            }
            #expect(record.status == .approved)
            #expect(record.decidedBy == "alice")
            #expect(record.decidedAt == Self.decided)

            guard case .alreadyDecided(let first) = try await service.decide(request.id, verdict: .reject, comment: "no", by: "alice") else {
                Issue.record("a second decision was recorded")
                return
            }
            #expect(first.status == .approved && first.comment == "ship it")
            #expect(try await service.list(run: "7f3c", includeDecided: false).isEmpty)
            #expect(try await service.list(run: "7f3c", includeDecided: true).map(\.id) == [request.id])
        }
    }

    @Test func anUnknownReferenceIsNotFoundWithTheStoresMessage() async throws {
        try await Self.withJournal { _, store in
            let approvals = ApprovalService(store: store)
            await #expect { try await approvals.find("ffffffffffff") } throws: { error in
                (error as? AppError)?.code == .notFound && "\(error)".contains("ffffffffffff")
            }
            await #expect { try await ReportService(store: store).runReport("nope") } throws: { error in
                (error as? AppError)?.code == .notFound
            }
        }
    }

    /// A run's report reads only the events it shows and no step outputs, and is the report the
    /// whole journal gives: the agent's model fallback (an event) is still in it.
    @Test func aRunsReportReadsOnlyWhatItShowsAndEqualsTheFullJournalsReport() async throws {
        try await Self.withJournal { _, store in
            let id = "run-report"
            let reserve = try #require(Money(string: "0.5")), cost = try #require(Money(string: "0.01"))
            try await store.createRun(Self.run(id, path: "flow.yaml"))
            try await store.appendEvent(EventRecord(runID: id, stepID: nil, kind: .runStarted,
                                                    data: [Executor.stepOrderKey: [["researcher", "agent"], ["summary", "transform"], ["never", "transform"]]],
                                                    at: Self.requested))
            try await store.recordStep(StepRecord(runID: id, stepID: "researcher", type: .agent, status: .running, startedAt: Self.requested),
                                       event: EventRecord(runID: id, stepID: "researcher", kind: .agentStarted, at: Self.requested))
            for (turn, model) in [(1, "gpt-4o"), (2, "gpt-4o-mini")] {
                let start = AttemptStart(runID: id, stepID: "researcher/\(turn)", stepType: .llm, number: 1, model: model,
                                         reserve: reserve, at: Self.requested)
                guard case .started(let attempt) = try await store.beginAttempt(start) else { Issue.record("refused"); return }
                try await store.finishAttempt(AttemptFinish(attemptID: attempt, runID: id, stepID: "researcher/\(turn)", succeeded: true,
                                                            cost: cost, usage: TokenUsage(inputTokens: 100, outputTokens: 10),
                                                            error: nil, stepStatus: .completed, stepOutput: ["text": .string("turn \(turn)")], at: Self.requested))
                if turn == 1 {
                    try await store.appendEvent(EventRecord(runID: id, stepID: "researcher", kind: .agentModelFallback,
                                                            data: ["turn": 2, "from": "gpt-4o", "to": "gpt-4o-mini"], at: Self.requested))
                }
            }
            try await store.recordStep(StepRecord(runID: id, stepID: "researcher", type: .agent, status: .completed, output: ["answer": "Paris"],
                                                  startedAt: Self.requested, finishedAt: Self.decided), event: nil)
            try await store.recordStep(StepRecord(runID: id, stepID: "summary", type: .transform, status: .completed, output: ["n": 1],
                                                  startedAt: Self.decided, finishedAt: Self.decided),
                                       event: EventRecord(runID: id, stepID: "summary", kind: .stepCompleted, at: Self.decided))
            try await store.updateRun(id: id, status: .completed, outputs: ["answer": "Paris"], error: nil, at: Self.decided)

            let full = try await store.journal(runID: id)
            var expected = RunReport(journal: full, plannedSteps: try #require(Executor.journaledStepOrder(full)))
            expected.shownStatus = "completed"
            let served = try await ReportService(store: store).runReport(String(id.prefix(8)))
            #expect(served == expected)
            #expect(served.steps.map(\.id) == ["researcher", "summary", "never"])
            #expect(served.steps.first?.agent?.fallbacks.map(\.to) == ["gpt-4o-mini"])
        }
    }

    /// The dashboard's page read: every page's lines, one after another, are the full report's
    /// lines (items after their step, an agent's turns in its line, subtotals over items on
    /// another page, a step that never started), with the whole run's totals, and each page's
    /// read holds only its own steps and what nests under them.
    @Test func aRunsPagesTogetherAreItsReportAndEachReadsOnlyItsSteps() async throws {
        try await Self.withJournal { _, store in
            let id = "run-pages"
            let reserve = try #require(Money(string: "0.5")), cost = try #require(Money(string: "0.01"))
            try await store.createRun(Self.run(id, path: "flow.yaml"))
            try await store.appendEvent(EventRecord(runID: id, stepID: nil, kind: .runStarted,
                                                    data: [Executor.stepOrderKey: [["a", "transform"], ["b", "llm"], ["researcher", "agent"],
                                                                                   ["c", "llm"], ["never", "transform"]]],
                                                    at: Self.requested))
            func step(_ stepID: String, _ type: StepType) async throws {
                try await store.recordStep(StepRecord(runID: id, stepID: stepID, type: type, status: .completed, output: ["n": 1],
                                                      startedAt: Self.requested, finishedAt: Self.decided), event: nil)
            }
            func attempt(_ stepID: String, number: Int, succeeded: Bool) async throws {
                let start = AttemptStart(runID: id, stepID: stepID, stepType: .llm, number: number, model: "gpt-4o", reserve: reserve, at: Self.requested)
                guard case .started(let attempt) = try await store.beginAttempt(start) else { Issue.record("refused"); return }
                try await store.finishAttempt(AttemptFinish(attemptID: attempt, runID: id, stepID: stepID, succeeded: succeeded, cost: cost,
                                                            usage: TokenUsage(inputTokens: 10, outputTokens: 1), error: succeeded ? nil : "boom",
                                                            stepStatus: succeeded ? .completed : nil, stepOutput: succeeded ? ["text": "ok"] : nil,
                                                            at: Self.decided))
            }
            try await step("a", .transform)
            for item in 0..<3 {
                try await attempt("b[\(item)]", number: 1, succeeded: true)
                try await step("b[\(item)]", .llm)
            }
            try await step("b", .llm)
            try await attempt("researcher/1", number: 1, succeeded: true)
            try await step("researcher/1", .llm)
            try await step("researcher", .agent)
            try await attempt("c", number: 1, succeeded: false)
            try await attempt("c", number: 2, succeeded: true)
            try await store.updateRun(id: id, status: .completed, outputs: nil, error: nil, at: Self.decided)

            let service = ReportService(store: store)
            let full = try await service.runReport(id)
            #expect(full.steps.map(\.id) == ["a", "b", "b[0]", "b[1]", "b[2]", "researcher", "c", "never"])
            var lines: [RunReport.StepLine] = []
            for number in 1...3 {
                let page = try await service.runPage(String(id.prefix(6)), page: number, linesPerPage: 3)
                #expect(page.number == number && page.pageCount == 3 && page.firstLine == (number - 1) * 3)
                #expect(page.totalLines == full.steps.count && page.totalAttempts == full.totalAttempts && page.retries == full.retries)
                #expect(page.report.timeline == full.timeline && page.report.spent == full.spent)
                lines += page.report.steps
                let read = Set(page.journal.steps.map(\.stepID))
                let expected: [Int: Set<String>] = [1: ["a", "b", "b[0]", "b[1]", "b[2]"], 2: ["b[1]", "b[2]", "researcher", "researcher/1"], 3: ["c"]]
                #expect(read == expected[number], "page \(number)")
            }
            #expect(lines == full.steps, "the pages' lines, subtotals included, are the report's")
            #expect(full.retries == 1 && full.steps.first { $0.id == "b" }?.subtotal?.attempts == 3)
            let beyond = try await service.runPage(id, page: 99, linesPerPage: 3)
            #expect(beyond.number == 3 && beyond.report.steps.map(\.id) == ["c", "never"])
            #expect(try await service.runPage(id, page: 0, linesPerPage: 3).number == 1)
            await #expect { try await service.runPage("nope", page: 1, linesPerPage: 3) } throws: { ($0 as? AppError)?.code == .notFound }
        }
    }

    /// A run started from Swift has no YAML to re-read: resuming it without its definition is
    /// refused with the way to do it, instead of parsing its JSON source as a workflow file.
    @Test func aRunStartedFromSwiftIsNotResumedWithoutItsDefinition() async throws {
        try await Self.withJournal { folder, store in
            try await store.createRun(Self.run("5e1d0000-run", path: WorkflowOrigin.swift(name: "brief").journaledPath))
            let pricing = try PricingTable(json: ["test-gpt": ["litellm_provider": "openai", "mode": "chat", "input_cost_per_token": .number("1e-06"),
                                                             "output_cost_per_token": .number("2e-06"), "max_output_tokens": 1000]], source: "test table")
            let environment = try WfloEnvironment(store: store, settings: .init(pricing: pricing, environment: ["HOME": folder.path]))
            let runs = environment.runs(observer: SilentObserver())
            await #expect { try await runs.resume("5e1d", budget: nil) } throws: { error in
                (error as? AppError)?.code == .invalidInput
                    && "\(error)" == "run 5e1d0000-run was started from Swift (workflow 'brief'); resume it there with WfloRuntime.resume(_:workflow:)"
            }
            try await environment.close()
        }
    }

    /// A bad egress file stops the environment before any HTTP client exists, naming the file.
    @Test func aBadEgressFileIsAConfigurationErrorNamingTheFile() async throws {
        try await Self.withJournal { folder, store in
            let egress = folder.appendingPathComponent("egress.yaml")
            try Data("allow: [\n".utf8).write(to: egress)
            #expect { try WfloEnvironment(store: store, settings: .init(environment: ["HOME": folder.path, "WFLO_EGRESS": egress.path])) }
                throws: { error in (error as? AppError)?.code == .configuration && "\(error)".contains(egress.path) }
        }
    }
}
