import Foundation
import Testing
import WfloApp
import WfloCore
import WfloEngine
import WfloHTTP
import WfloPricing
import WfloStore
import WfloTesting

/// Approval notifications (issue 18): a real workflow on a real SQLite journal files an approval
/// request; the outbox row written with it is posted over loopback HTTP (`FakeHTTPService`) exactly
/// once, with Slack's `text` and signed links; a link decides once, and an altered or expired one decides nothing.
@Suite(.timeLimit(.minutes(2)))
struct ApprovalNotificationTests {
    static let baseURL = "http://wflo.example:8080"

    /// Runs a two-step workflow (an approval, then a transform) that notifies `webhook`, until it waits
    /// for the decision; the run's id. Deliveries happen beside the run and once more at its end.
    static func startWaitingRun(in folder: URL, store: SQLiteJournalStore, webhook: String) async throws -> (RunService, WfloEnvironment, String) {
        let file = folder.appendingPathComponent("publish.yaml")
        try """
            name: publish
            budget: 0
            notify: \(webhook)
            steps:
              - id: ship
                type: approval
                message: "Ship the post?"
              - id: done
                type: transform
                depends_on: [ship]
                output: {shipped: "{{steps.ship.output.approved}}"}
            """.write(to: file, atomically: true, encoding: .utf8)
        let pricing = try PricingTable(json: [:], source: "empty table")
        let environment = try WfloEnvironment(store: store, settings: .init(pricing: pricing, environment: ["HOME": folder.path]))
        let runs = environment.runs(observer: SilentObserver(), approvals: .noWait)
        let result = try await runs.start(try runs.load(file: file.path), inputs: [:], budget: .zero)
        #expect(result.status == .waitingApproval)
        return (runs, environment, result.runID)
    }

    /// The query items of a link, by name.
    static func parts(of link: String) throws -> [String: String] {
        let items = try #require(URLComponents(string: link)?.queryItems)
        return Dictionary(uniqueKeysWithValues: items.map { ($0.name, $0.value ?? "") })
    }

    @Test func aRequestIsPostedOnceWithSlackTextAndSignedLinksThatDecideOnce() async throws {
        try await AlertDeliveryTests.withHTTP { service, _ in
            try await ServiceTests.withJournal { folder, store in
                try await store.setJournalSetting(JournalSettingName.serverBaseURL, value: Self.baseURL + "/")
                let (runs, environment, runID) = try await Self.startWaitingRun(in: folder, store: store, webhook: "\(service.baseURL)/anything/hook")
                let request = try #require(try await store.approvals(runID: runID, status: .pending).first)

                let posts = service.requests()
                try #require(posts.count == 1)
                #expect(posts[0].method == "POST" && posts[0].path == "/anything/hook" && posts[0].headers["content-type"] == "application/json")
                let body = try JSONValue.parse(posts[0].body)
                #expect(body["type"] == "approval_requested" && body["approval_id"] == .string(request.id) && body["run_id"] == .string(runID))
                #expect(body["workflow"] == "publish" && body["step_id"] == "ship" && body["message"] == "Ship the post?")
                #expect(body["worst_case_usd"] == .null)
                let approve = try #require(body["approve_url"]?.stringValue)
                let reject = try #require(body["reject_url"]?.stringValue)
                #expect(approve.hasPrefix("\(Self.baseURL)/approvals/\(request.id)/decide?decision=approve&expires="))
                #expect(reject.hasPrefix("\(Self.baseURL)/approvals/\(request.id)/decide?decision=reject&expires="))
                let text = try #require(body["text"]?.stringValue)
                #expect(text.contains("Approval needed in workflow publish (run \(runID), step ship): Ship the post?"))
                #expect(text.contains("<\(approve)|Approve> · <\(reject)|Reject>"))
                #expect(try await store.notifications(approvalID: request.id).map { $0.deliveredAt != nil } == [true])

                // An altered link (another decision under approve's signature) decides nothing.
                let good = try Self.parts(of: approve)
                let approvals = environment.approvals
                let forged = try await approvals.decide(link: request.id, decision: "reject", expires: good["expires"]!, signature: good["sig"]!, comment: nil)
                guard case .refused(let why) = forged else { Issue.record("an altered link decided: \(forged)"); return }
                #expect(why.contains("signature does not match"))
                #expect(try await store.approval(id: request.id)?.status == .pending)

                // The good link decides, once; the other link then says who decided first.
                let first = try await approvals.decide(link: request.id, decision: "approve", expires: good["expires"]!, signature: good["sig"]!, comment: "lgtm")
                guard case .decided(.recorded(let decided)) = first else { Issue.record("the link did not decide: \(first)"); return }
                #expect(decided.status == .approved && decided.decidedBy == ApprovalLinks.decider && decided.comment == "lgtm")
                let late = try Self.parts(of: reject)
                let second = try await approvals.decide(link: request.id, decision: "reject", expires: late["expires"]!, signature: late["sig"]!, comment: nil)
                guard case .decided(.alreadyDecided(let first)) = second else { Issue.record("a second decision was not refused: \(second)"); return }
                #expect(first.status == .approved && first.decidedBy == ApprovalLinks.decider)

                // The run goes on; the request found again on resume is not announced again.
                let resumed = try await runs.resume(runID, budget: nil)
                #expect(resumed.status == .completed)
                #expect(await environment.alerts?.deliverDue() != nil)
                #expect(service.requestCount == 1)
                try await environment.close()
            }
        }
    }

    /// Without `wflo server --base-url` on the journal the message has no links and says how to decide.
    @Test func withoutABaseURLTheMessageSaysHowToDecideOnTheCommandLine() async throws {
        try await AlertDeliveryTests.withHTTP { service, _ in
            try await ServiceTests.withJournal { folder, store in
                let (_, environment, runID) = try await Self.startWaitingRun(in: folder, store: store, webhook: "\(service.baseURL)/anything/hook")
                let request = try #require(try await store.approvals(runID: runID, status: .pending).first)
                let body = try JSONValue.parse(try #require(service.requests().first).body)
                #expect(body["approve_url"] == .null && body["reject_url"] == .null)
                #expect(body["text"]?.stringValue?.hasSuffix("Decide with `wflo approve \(request.id)` or `wflo reject \(request.id)`.") == true)
                try await environment.close()
            }
        }
    }

    @Test func aLinkEndsAtItsRequestsDeadlineOrAfterAWeek() throws {
        let links = ApprovalLinks(key: Array(repeating: 7, count: 32), baseURL: Self.baseURL)
        let requested = Date(timeIntervalSince1970: 1_800_000_000)
        let open = ApprovalRecord(id: "a1", runID: "r", stepID: "s", message: "?", details: [:], requestedAt: requested)
        #expect(ApprovalLinks.expiry(of: open) == requested.addingTimeInterval(7 * 24 * 3600))
        let timed = ApprovalRecord(id: "a2", runID: "r", stepID: "s", message: "?", details: [:], settings: ApprovalSettings(timeout: 600),
                                   requestedAt: requested)
        #expect(ApprovalLinks.expiry(of: timed) == requested.addingTimeInterval(600))
        let parts = try Self.parts(of: try #require(links.url(for: timed, verdict: .approve)))
        #expect(links.problem(approvalID: "a2", decision: "approve", expires: parts["expires"]!, signature: parts["sig"]!,
                              now: requested.addingTimeInterval(599)) == nil)
        #expect(links.problem(approvalID: "a2", decision: "approve", expires: parts["expires"]!, signature: parts["sig"]!,
                              now: requested.addingTimeInterval(600))?.contains("expired") == true)
        // Another journal's key does not accept it; neither does a later expiry under the same signature.
        let other = ApprovalLinks(key: Array(repeating: 8, count: 32), baseURL: Self.baseURL)
        #expect(other.problem(approvalID: "a2", decision: "approve", expires: parts["expires"]!, signature: parts["sig"]!, now: requested) != nil)
        #expect(links.problem(approvalID: "a2", decision: "approve", expires: String(Int(parts["expires"]!)! + 3600), signature: parts["sig"]!,
                              now: requested)?.contains("signature") == true)
        #expect(links.problem(approvalID: "a2", decision: "timeout", expires: parts["expires"]!, signature: parts["sig"]!, now: requested) != nil)
    }
}
