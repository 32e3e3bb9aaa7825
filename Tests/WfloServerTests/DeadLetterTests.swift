import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WfloApp
import WfloCore
import WfloServer
import WfloTesting

/// Dead letters in the API and the dashboard (issue 21): a run that failed after its retries is
/// listed with its failing step and reason (as `wflo runs --failed --json` shows it), and retried
/// through `POST /v1/runs/{id}/retry` or the Failed page's Retry button once the cause is gone:
/// only the failed step is sent again.
@Suite(.timeLimit(.minutes(10)))
struct DeadLetterTests {
    /// A workflow whose http step fails the first time its path is called (FakeHTTPService's `/fail/1/…`).
    static func flaky(_ base: String) -> String {
        """
        name: flaky
        budget: 0
        egress: {allow: ["127.0.0.1"]}
        inputs:
          key: {type: string}
        steps:
          - id: first
            type: transform
            output: {ok: true}
          - id: call
            type: http
            depends_on: [first]
            url: "\(base)/fail/1/{{inputs.key}}"
            retry: {maximum_attempts: 1}
          - id: after
            type: transform
            depends_on: [call]
            output: {done: true}
        """
    }

    /// Submits a flaky run with `key` and waits until it has failed.
    static func failedRun(_ server: ServerHarness, _ client: any TestClientProtocol, base: String, key: String) async throws -> String {
        let created = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                            body: ["workflow": .string(flaky(base)), "inputs": ["key": .string(key)]])
        let runID = try #require(created.json["run_id"]?.stringValue, "\(created.text)")
        try await server.eventually("the run fails") { try await server.status(runID) == .failed }
        return runID
    }

    @Test func aDeadLetterIsListedAndRetriedThroughTheAPI() async throws {
        let service = try await FakeHTTPService.start()
        do {
            try await ServerHarness.with(workers: 1) { server, client in
                let runID = try await Self.failedRun(server, client, base: service.baseURL, key: "api")
                let listed = try await server.call(client, .get, "/v1/dead-letters?since=1h&workflow=flaky", route: "/v1/dead-letters", as: .read)
                #expect(listed.status == .ok)
                let letters = try #require(listed.json["dead_letters"]?.arrayValue)
                #expect(letters.count == 1)
                #expect(letters.first?["run_id"]?.stringValue == runID && letters.first?["failed_step"] == "call")
                #expect(letters.first?["reason"]?.stringValue?.contains("500") == true, "\(listed.text)")
                // The same JSON as `wflo runs --failed --json`.
                let expected = try await server.api.runs.store.failedRuns(since: nil, workflow: "flaky", limit: 10).map(RecoveryService.json)
                #expect(letters == expected)
                #expect(try await server.call(client, .get, "/v1/dead-letters?workflow=other", route: "/v1/dead-letters", as: .read)
                    .json["dead_letters"] == .array([]))
                let bad = try await server.call(client, .get, "/v1/dead-letters?since=yesterday-ish", route: "/v1/dead-letters", as: .read)
                #expect(bad.status == .unprocessableContent && bad.json["error"]?["message"]?.stringValue?.hasPrefix("since") == true, "\(bad.text)")
                #expect(try await server.call(client, .get, "/v1/dead-letters?limit=0", route: "/v1/dead-letters", as: .read).status == .unprocessableContent)
                #expect(try await server.call(client, .get, "/v1/dead-letters", route: "/v1/dead-letters").status == .unauthorized)

                // Retry: role submit; the failed step runs again (the cause is gone: /fail/1 answers once), the rest is replayed.
                #expect(try await server.call(client, .post, "/v1/runs/\(runID)/retry", route: "/v1/runs/{id}/retry", as: .read).status == .forbidden)
                #expect(try await server.call(client, .post, "/v1/runs/nope/retry", route: "/v1/runs/{id}/retry", as: .submit).status == .notFound)
                let retried = try await server.call(client, .post, "/v1/runs/\(runID)/retry", route: "/v1/runs/{id}/retry", as: .submit)
                #expect(retried.status == .accepted, "\(retried.text)")
                #expect(retried.json["retrying_steps"] == ["call", "after"] && retried.json["worst_case_usd"] == "0")
                try await server.eventually("the retried run completes") { try await server.status(runID) == .completed }
                #expect(service.requests().filter { $0.path == "/fail/1/api" }.count == 2, "one failed call, one retried")
                let again = try await server.call(client, .post, "/v1/runs/\(runID)/retry", route: "/v1/runs/{id}/retry", as: .submit)
                #expect(again.status == .unprocessableContent && again.json["error"]?["message"]?.stringValue?.contains("not failed") == true, "\(again.text)")
                #expect(try await server.call(client, .get, "/v1/dead-letters", route: "/v1/dead-letters", as: .read).json["dead_letters"] == .array([]))
            }
        } catch {
            await service.shutdown()
            throw error
        }
        await service.shutdown()
    }

    @Test func theFailedPageListsDeadLettersAndItsRetryButtonNeedsTheCSRFTokenAndSubmit() async throws {
        let service = try await FakeHTTPService.start()
        do {
            try await ServerHarness.with(workers: 1) { server, client in
                let runID = try await Self.failedRun(server, client, base: service.baseURL, key: "page")
                let reader = try await DashboardTests.login(client, token: try #require(server.tokens[.read]))
                let readPage = try await DashboardTests.get(client, "/failed", cookie: reader)
                #expect(readPage.0 == .ok && readPage.1.contains("/runs/\(runID)") && readPage.1.contains("needs submit"))
                #expect(readPage.1.contains("<a href=\"/failed\">Failed</a>"), "linked from the nav")
                let refused = try await DashboardTests.post(client, "/runs/\(runID)/retry", cookie: reader, form: "csrf=\(try DashboardTests.csrf(readPage.1))")
                #expect(refused.0 == .forbidden)

                let cookie = try await DashboardTests.login(client, token: try #require(server.tokens[.submit]))
                let page = try await DashboardTests.get(client, "/failed?since=1d&workflow=flaky", cookie: cookie)
                #expect(page.0 == .ok && page.1.contains("/runs/\(runID)") && page.1.contains("<td>call</td>"))
                #expect(page.1.contains("action=\"/runs/\(runID)/retry\""))
                #expect(try await DashboardTests.get(client, "/failed?workflow=other", cookie: cookie).1.contains("No failed runs match."))
                #expect(try await DashboardTests.get(client, "/failed?since=soon", cookie: cookie).0 == .unprocessableContent)
                // A forged form (no CSRF token, or another's) retries nothing.
                #expect(try await DashboardTests.post(client, "/runs/\(runID)/retry", cookie: cookie, form: "").0 == .forbidden)
                #expect(try await DashboardTests.post(client, "/runs/\(runID)/retry", cookie: cookie, form: "csrf=\(try DashboardTests.csrf(readPage.1))").0 == .forbidden)
                #expect(try await server.status(runID) == .failed)

                let retried = try await DashboardTests.post(client, "/runs/\(runID)/retry", cookie: cookie, form: "csrf=\(try DashboardTests.csrf(page.1))")
                #expect(retried.0 == .seeOther && retried.2[.location] == "/runs/\(runID)", "\(retried.1)")
                try await server.eventually("the retried run completes") { try await server.status(runID) == .completed }
                #expect(service.requests().filter { $0.path == "/fail/1/page" }.count == 2)
                let twice = try await DashboardTests.post(client, "/runs/\(runID)/retry", cookie: cookie, form: "csrf=\(try DashboardTests.csrf(page.1))")
                #expect(twice.0 == .unprocessableContent && twice.1.contains("not failed"))
            }
        } catch {
            await service.shutdown()
            throw error
        }
        await service.shutdown()
    }
}
