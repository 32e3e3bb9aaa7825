import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloPricing
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
