import Foundation
import Testing
import WfloCore
import WfloTesting

/// Approval notifications as users meet them (issue 18): `wflo notify add`, a real `wflo run` that
/// waits for a decision, the webhook on a loopback `FakeHTTPService`, on SQLite and PostgreSQL.
@Suite(.timeLimit(.minutes(3)))
struct NotifyCLITests {
    @Test(arguments: TestJournal.all)
    func aJournalHookIsToldOfANewRequestOnce(journal: TestJournal) async throws {
        try await AlertCLITests.withWebhooks { webhooks in
            try await CLITests.withServer(journal: journal) { _, wflo, directory in
                let bad = try await wflo.run(["notify", "add", "hooks.example/x"])
                #expect(bad.status == 2 && bad.stderr.contains("'hooks.example/x' is not an http(s) URL"), "\(bad.output)")
                let added = try await wflo.run(["notify", "add", "\(webhooks.baseURL)/anything/secret-path"])
                #expect(added.status == 0 && added.stdout.contains("Added webhook \(webhooks.baseURL)/…"), "\(added.output)")
                #expect(!added.stdout.contains("secret-path"))

                let file = directory.appendingPathComponent("gate.yaml")
                try """
                    name: gate
                    budget: 0
                    steps:
                      - id: ship
                        type: approval
                        message: "Ship it?"
                    """.write(to: file, atomically: true, encoding: .utf8)
                let run = try await wflo.run(["run", file.path, "--no-wait"])
                #expect(run.status == 4, "\(run.output)")
                #expect(webhooks.requestCount == 1)
                let body = try JSONValue.parse(try #require(webhooks.requests().first).body)
                #expect(body["type"] == "approval_requested" && body["workflow"] == "gate" && body["step_id"] == "ship")

                let listed = try await wflo.run(["notify", "--json"])
                #expect(listed.status == 0, "\(listed.output)")
                let json = try JSONValue.parse(listed.stdout)
                #expect(json["hooks"] == [.string("\(webhooks.baseURL)/…")])
                #expect(json["notifications"]?.arrayValue?.map { $0["state"] } == ["delivered"])

                // A resume files nothing new: the hook is not told again.
                let resumed = try await wflo.run(["resume", try #require(body["run_id"]?.stringValue), "--no-wait"])
                #expect(resumed.status == 4, "\(resumed.output)")
                #expect(webhooks.requestCount == 1)

                let removed = try await wflo.run(["notify", "rm", "\(webhooks.baseURL)/anything/secret-path"])
                #expect(removed.status == 0, "\(removed.output)")
                let again = try await wflo.run(["notify", "rm", "\(webhooks.baseURL)/anything/secret-path"])
                #expect(again.status == 2 && again.stderr.contains("no such webhook"), "\(again.output)")
            }
        }
    }
}
