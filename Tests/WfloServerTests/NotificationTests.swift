import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WfloApp
import WfloCore
import WfloHTTP
import WfloServer
import WfloTesting

/// Approval notifications over real loopback HTTP: each new request is posted once to the
/// workflow's `notify:` and the server's webhooks (a failing one retried), with signed links that
/// decide once.
@Suite(.timeLimit(.minutes(10)))
struct NotificationTests {
    @Test func eachRequestIsPostedOncePerWebhookAndItsSignedLinkDecidesOnce() async throws {
        let receiver = try await FakeHTTPService.start()
        let http = AsyncHTTPStepTransport()
        defer { Task { try? await http.shutdown(); await receiver.shutdown() } }
        try await ServerHarness.with(workers: 1) { server, client in
            let workflow = ServerHarness.gatedWorkflow.replacingOccurrences(of: "name: gated\n", with: "name: gated\nnotify: \(receiver.baseURL)/anything/team\n")
            let created = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                                body: ["workflow": .string(workflow), "inputs": ["topic": "tides"]])
            let runID = try #require(created.json["run_id"]?.stringValue)
            try await server.eventually("the run waits") { try await server.status(runID) == .waitingApproval }

            let key = try await ApprovalNotificationService.signingKey(store: server.store)
            #expect(try await ApprovalNotificationService.signingKey(store: server.store) == key, "one key per journal")
            let settings = ApprovalNotificationService.Settings(urls: ["\(receiver.baseURL)/fail/1/ops"], baseURL: "https://wflo.example.com",
                                                                retry: AlertRetryPolicy(firstDelay: 0, maximumDelay: 0, maximumAttempts: 3))
            let service = ApprovalNotificationService(store: server.store, http: http, settings: settings, links: DecisionLinks(key: key))
            #expect(await service.pass() == 1, "the team's webhook answers; the ops one fails once")
            try await Task.sleep(for: .milliseconds(50))
            #expect(await service.pass() == 1, "the ops webhook is tried again and answers")
            #expect(await service.pass() == 0)
            // A restarted server (a new service, the same journal) posts nothing again.
            let restarted = ApprovalNotificationService(store: server.store, http: http, settings: settings, links: DecisionLinks(key: key))
            #expect(await restarted.pass() == 0)
            let posts = receiver.requests().filter { $0.method == "POST" }
            #expect(posts.map(\.path).sorted() == ["/anything/team", "/fail/1/ops", "/fail/1/ops"])
            let outbox = try await server.store.approvalNotifications(approvalID: nil)
            #expect(outbox.count == 2 && outbox.allSatisfy { $0.deliveredAt != nil })
            #expect(outbox.first { $0.url.hasSuffix("/ops") }?.attempts == 1)

            let body = try JSONValue.parse(try #require(posts.first { $0.path == "/anything/team" }).body)
            #expect(body["event"] == "approval_requested" && body["run_id"]?.stringValue == runID && body["message"] == "Publish tides?")
            let text = try #require(body["text"]?.stringValue)
            #expect(text.contains("Publish tides?") && text.contains("Approve: https://wflo.example.com/links/"))
            let approve = try #require(body["approve_url"]?.stringValue).replacingOccurrences(of: "https://wflo.example.com", with: "")
            let reject = try #require(body["reject_url"]?.stringValue).replacingOccurrences(of: "https://wflo.example.com", with: "")

            // Opening the link decides nothing; posting its form does, once.
            let preview = try await client.execute(uri: approve, method: .get)
            #expect(preview.status == .ok && String(buffer: preview.body).contains("<form method=\"post\""))
            #expect(try await server.store.approvals(runID: runID, status: .pending).count == 1)
            let query = String(approve.split(separator: "?")[1])
            let tampered = try await client.execute(uri: approve.replacingOccurrences(of: "sig=", with: "sig=0"), method: .post,
                                                    headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(tampered.status == .forbidden)
            let path = String(approve.split(separator: "?")[0])
            let decided = try await client.execute(uri: path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                                                   body: ByteBuffer(string: query + "&comment=from+slack"))
            #expect(decided.status == .ok, "\(String(buffer: decided.body))")
            let record = try #require(try await server.store.approvals(runID: runID, status: nil).first)
            #expect(record.status == .approved && record.decidedBy == "signed link via notify" && record.comment == "from slack")
            let again = try await client.execute(uri: reject, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(again.status == .conflict)
            try await server.eventually("the run completes") { try await server.status(runID) == .completed }
        }
    }

    @Test func aLinkSignedForOneVerdictOrRequestDoesNotServeAnother() {
        let links = DecisionLinks(key: "k")
        let later = Int(Date().timeIntervalSince1970) + 3600
        let sig = links.signature(approvalID: "abc", verdict: .approve, expires: later)
        #expect(links.verify(approvalID: "abc", verdict: .approve, expires: later, sig: sig, now: Date()))
        #expect(!links.verify(approvalID: "abc", verdict: .reject, expires: later, sig: sig, now: Date()))
        #expect(!links.verify(approvalID: "abd", verdict: .approve, expires: later, sig: sig, now: Date()))
        #expect(!links.verify(approvalID: "abc", verdict: .approve, expires: later + 1, sig: sig, now: Date()))
        #expect(!links.verify(approvalID: "abc", verdict: .approve, expires: later, sig: sig, now: Date().addingTimeInterval(7200)), "expired")
        #expect(!DecisionLinks(key: "other").verify(approvalID: "abc", verdict: .approve, expires: later, sig: sig, now: Date()))
    }
}
