import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Testing
import WfloApp
import WfloCore
import WfloStore
@testable import WfloServer

/// The /v1 API in-process: tokens and roles, submit, the run list's pages, reports, cancel,
/// approvals with the first decision winning, errors as {"error": {"code", "message"}}, and the
/// OpenAPI document against every route and status seen.
@Suite(.timeLimit(.minutes(10)))
struct APITests {
    @Test func callsWithoutAGoodTokenAre401AndBelowTheRoleAre403() async throws {
        try await ServerHarness.with(workers: 0) { server, client in
            let missing = try await server.call(client, .get, "/v1/runs", route: "/v1/runs")
            #expect(missing.status == .unauthorized)
            #expect(missing.json["error"]?["code"] == "unauthorized")
            #expect(missing.json["error"]?["message"]?.stringValue?.contains("Authorization: Bearer") == true)
            let unknown = try await server.call(client, .get, "/v1/runs", route: "/v1/runs", token: "wflo_" + String(repeating: "0", count: 64))
            #expect(unknown.status == .unauthorized)
            let reader = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .read, body: ["workflow": .string(ServerHarness.freeWorkflow)])
            #expect(reader.status == .forbidden)
            #expect(reader.json["error"]?["message"]?.stringValue?.contains("needs submit") == true)
            #expect(try await server.store.runPage(RunPageQuery(limit: 5)).isEmpty, "a refused call wrote nothing")
            let submitter = try await server.call(client, .post, "/v1/approvals/abc/decision", route: "/v1/approvals/{id}/decision", as: .submit,
                                                  body: ["decision": "approve"])
            #expect(submitter.status == .forbidden)

            try await server.api.tokens.revoke(name: "reader")
            let revoked = try await server.call(client, .get, "/v1/runs", route: "/v1/runs", as: .read)
            #expect(revoked.status == .unauthorized)
            // The admin role includes every other.
            #expect(try await server.call(client, .get, "/v1/runs", route: "/v1/runs", as: .admin).status == .ok)
        }
    }

    @Test func tokensAreStoredHashedNeverAsThemselves() async throws {
        try await ServerHarness.with(workers: 0) { server, _ in
            let token = try #require(server.tokens[.approve])
            let stored = try await server.store.tokens()
            #expect(stored.count == 4)
            #expect(stored.allSatisfy { $0.hash != token && !$0.hash.contains(token.dropFirst(5)) })
            #expect(try await server.api.tokens.authenticate(token)?.name == "alice")
            let raw = try Data(contentsOf: server.folder.appendingPathComponent("wflo.db"))
            #expect(raw.range(of: Data(token.utf8)) == nil, "the token is not in the journal file")
        }
    }

    /// A run submitted through the API (free, left queued: no workers) and the reader's Authorization header.
    static func submittedRun(_ server: ServerHarness, _ client: any TestClientProtocol) async throws -> (runID: String, bearer: String) {
        let created = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                            body: ["workflow": .string(ServerHarness.freeWorkflow)])
        return (try #require(created.json["run_id"]?.stringValue), "Bearer \(try #require(server.tokens[.read]))")
    }

    /// `GET /v1/runs/{id}` carries an ETag; If-None-Match with it answers 304 without a body until
    /// the run changes, and the token is checked first all the same.
    @Test func aRunsETagAnswers304UntilTheRunChanges() async throws {
        try await ServerHarness.with(workers: 0) { server, client in
            let (runID, bearer) = try await Self.submittedRun(server, client)
            let first = try await client.execute(uri: "/v1/runs/\(runID)", method: .get, headers: [.authorization: bearer])
            #expect(first.status == .ok)
            let tag = try #require(first.headers[.eTag])
            let same = try await client.execute(uri: "/v1/runs/\(runID)", method: .get, headers: [.authorization: bearer, .ifNoneMatch: tag])
            #expect(same.status == .notModified && same.body.readableBytes == 0 && same.headers[.eTag] == tag)
            server.recorder.record(method: "GET", route: "/v1/runs/{id}", status: same.status.code)
            // A prefix of the id names the same run: the same answer, the same tag.
            let prefix = try await client.execute(uri: "/v1/runs/\(runID.prefix(12))", method: .get, headers: [.authorization: bearer])
            #expect(prefix.status == .ok && prefix.headers[.eTag] == tag && String(buffer: prefix.body) == String(buffer: first.body))
            let anonymous = try await client.execute(uri: "/v1/runs/\(runID)", method: .get, headers: [.ifNoneMatch: tag])
            #expect(anonymous.status == .unauthorized, "a tag is no way around the token")

            try await server.store.updateRunBudget(id: runID, budget: try #require(Money(string: "3")), at: Date())
            let changed = try await client.execute(uri: "/v1/runs/\(runID)", method: .get, headers: [.authorization: bearer, .ifNoneMatch: tag])
            #expect(changed.status == .ok && changed.headers[.eTag] != tag)
            #expect(try JSONValue.parse(String(buffer: changed.body))["budget_usd"] == "3")
        }
    }

    /// Answers kept while the journal is unchanged end with any commit to it, from this server or
    /// from another process (here a second connection to the file, as `wflo` elsewhere opens):
    /// a changed run is read again, a revoked token is refused on the next call, and a revoked
    /// token's dashboard session ends at once.
    @Test func keptAnswersEndWithACommitFromAnotherProcess() async throws {
        try await ServerHarness.with(workers: 0) { server, client in
            let (runID, bearer) = try await Self.submittedRun(server, client)
            let first = try await client.execute(uri: "/v1/runs/\(runID)", method: .get, headers: [.authorization: bearer])
            let again = try await client.execute(uri: "/v1/runs/\(runID)", method: .get, headers: [.authorization: bearer])
            #expect(first.status == .ok && String(buffer: again.body) == String(buffer: first.body))
            #expect(server.api.kept.count >= 2, "the token and the run's answer are kept")
            let cookie = try await DashboardTests.login(client, token: try #require(server.tokens[.read]))
            #expect(try await DashboardTests.get(client, "/runs/\(runID)", cookie: cookie).0 == .ok)
            #expect(try await DashboardTests.get(client, "/runs/\(runID)", cookie: cookie).0 == .ok)

            let elsewhere = try SQLiteJournalStore(path: server.folder.appendingPathComponent("wflo.db").path)
            try await elsewhere.updateRunBudget(id: runID, budget: try #require(Money(string: "4")), at: Date())
            let changed = try await client.execute(uri: "/v1/runs/\(runID)", method: .get, headers: [.authorization: bearer])
            #expect(try JSONValue.parse(String(buffer: changed.body))["budget_usd"] == "4")

            #expect(try await elsewhere.revokeToken(name: "reader", at: Date()))
            let refused = try await client.execute(uri: "/v1/runs/\(runID)", method: .get, headers: [.authorization: bearer])
            #expect(refused.status == .unauthorized)
            #expect(try await DashboardTests.get(client, "/runs/\(runID)", cookie: cookie).0 == .found, "the session of a revoked token ends")
        }
    }

    /// The API's times are what ISO8601DateFormatter with fractional seconds wrote (one format style now, not a formatter per call).
    @Test func timesAreTheISO8601FormattersText() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for seconds in [0, 1_800_000_000, 1_800_000_599.75, 1_764_800_000.123456, 1_764_800_000.0005, 4_102_444_799.999] as [Double] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(JSONShapes.time(date) == .string(formatter.string(from: date)), "\(seconds)")
        }
        #expect(JSONShapes.time(Date(timeIntervalSince1970: 1_800_000_000.25)) == "2027-01-15T08:00:00.250Z")
    }

    /// Token and session hashes: lowercase hex SHA-256 (written directly, not a format call per byte).
    @Test func hashesAreLowercaseHexSHA256() {
        #expect(TokenService.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(TokenService.hex([0, 1, 0xab, 0xff]) == "0001abff")
    }

    @Test func anInvalidWorkflowIs422WithFileLineDiagnostics() async throws {
        try await ServerHarness.with(workers: 0) { server, client in
            let broken = "name: broken\nbudget: 0\nsteps:\n  - id: a\n    type: transfrom\n"
            let answer = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit, body: ["workflow": .string(broken)])
            #expect(answer.status == .unprocessableContent)
            #expect(answer.json["error"]?["code"] == "invalid_input")
            let message = answer.json["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("workflow.yaml:5:"), "\(message)")
            let notJSON = try await client.execute(uri: "/v1/runs", method: .post,
                                                   headers: [.authorization: "Bearer \(server.tokens[.submit]!)"], body: ByteBuffer(string: "{oops"))
            #expect(notJSON.status == .badRequest)
            server.recorder.record(method: "POST", route: "/v1/runs", status: 400)
            let inputs = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                               body: ["workflow": .string(ServerHarness.gatedWorkflow), "inputs": ["topik": "x"]])
            #expect(inputs.status == .unprocessableContent)
            #expect(inputs.json["error"]?["message"]?.stringValue?.contains("topik") == true)
        }
    }

    /// A submitter's `traceparent` header is journaled with the run (its trace hangs under the
    /// caller's, as `wflo submit --traceparent`); a malformed one is 422 and nothing is queued.
    @Test func aSubmittersTraceparentHeaderIsJournaledWithTheRun() async throws {
        try await ServerHarness.with(workers: 0) { server, client in
            let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            func submit(traceparent: String) async throws -> (HTTPResponse.Status, JSONValue) {
                let response = try await client.execute(uri: "/v1/runs", method: .post,
                                                        headers: [.authorization: "Bearer \(server.tokens[.submit]!)", .contentType: "application/json",
                                                                  HTTPField.Name("traceparent")!: traceparent],
                                                        body: ByteBuffer(string: JSONValue.object(["workflow": .string(ServerHarness.freeWorkflow)]).encoded()))
                server.recorder.record(method: "POST", route: "/v1/runs", status: response.status.code)
                return (response.status, (try? JSONValue.parse(String(buffer: response.body))) ?? .null)
            }
            let created = try await submit(traceparent: parent)
            #expect(created.0 == .created)
            let runID = try #require(created.1["run_id"]?.stringValue)
            let started = try await server.store.journal(runID: runID).events.first { $0.kind == .runStarted }
            #expect(started?.data["traceparent"] == JSONValue.string(parent))
            let bad = try await submit(traceparent: "00-nothex-01")
            #expect(bad.0 == .unprocessableContent)
            #expect(bad.1["error"]?["message"]?.stringValue?.contains("traceparent") == true)
            #expect(try await server.store.listRuns(limit: 10).count == 1, "nothing queued for the bad header")
        }
    }

    /// `POST /v1/runs {"path"}` reads files only inside the workflows folder: `..`, an absolute
    /// path elsewhere, a symlink out of it and a sub-workflow outside it are all refused, naming
    /// the path and the folder; nothing is journaled for them.
    @Test func aPathIsReadOnlyInsideTheWorkflowsFolder() async throws {
        try await ServerHarness.with(workers: 0) { server, client in
            let inside = URL(fileURLWithPath: server.api.workflowsFolder)
            let folder = inside.standardizedFileURL.resolvingSymlinksInPath().path
            try ServerHarness.freeWorkflow.write(to: inside.appendingPathComponent("free.yaml"), atomically: true, encoding: .utf8)
            // A file outside the folder: a valid workflow, so only the folder rule can refuse it.
            let secret = server.folder.appendingPathComponent("secret.yaml")
            try ServerHarness.freeWorkflow.replacingOccurrences(of: "name: free", with: "name: secret").write(to: secret, atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: inside.appendingPathComponent("link.yaml").path, withDestinationPath: secret.path)
            try FileManager.default.createSymbolicLink(atPath: inside.appendingPathComponent("up").path, withDestinationPath: server.folder.path)
            try "name: parent\nbudget: 0\nsteps:\n  - {id: child, type: workflow, workflow: ../secret.yaml}\n"
                .write(to: inside.appendingPathComponent("parent.yaml"), atomically: true, encoding: .utf8)

            let relative = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit, body: ["path": "free.yaml"])
            #expect(relative.status == .created, "\(relative.text)")
            let absolute = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                                 body: ["path": .string(inside.appendingPathComponent("free.yaml").path)])
            #expect(absolute.status == .created, "\(absolute.text)")
            let inner = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit, body: ["path": "./sub/../free.yaml"])
            #expect(inner.status == .created, "a .. that stays inside is fine: \(inner.text)")

            for path in ["../secret.yaml", secret.path, "link.yaml", "up/secret.yaml", "/etc/passwd", "../../../../../../etc/passwd"] {
                let refused = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit, body: ["path": .string(path)])
                #expect(refused.status == .forbidden, "\(path): \(refused.text)")
                let message = refused.json["error"]?["message"]?.stringValue ?? ""
                #expect(message.contains("'\(path)'") && message.contains("outside the workflows folder \(folder)"), "\(message)")
            }
            let child = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit, body: ["path": "parent.yaml"])
            #expect(child.status == .unprocessableContent)
            #expect(child.json["error"]?["message"]?.stringValue?.contains("is outside the workflows folder \(folder)") == true, "\(child.text)")
            let inline = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                               body: ["workflow": .string("name: p\nbudget: 0\nsteps:\n  - {id: c, type: workflow, workflow: \(secret.path)}\n")])
            #expect(inline.status == .unprocessableContent, "a sub-workflow of inline text is held to the folder too: \(inline.text)")
            #expect(try await server.store.runPage(RunPageQuery(limit: 10)).count == 3, "only the three runs inside were journaled")
        }
    }

    /// The whole API as a client uses it, every call recorded; then every route and status seen
    /// must be in /openapi.json, and every operation there must have been called.
    @Test func theAPIAsAClientUsesItMatchesTheOpenAPIDocument() async throws {
        try await ServerHarness.with(workers: 2, environment: ["WFLO_SECRET_HOOK_SECRET": "s3cret"]) { server, client in
            #expect(try await server.call(client, .get, "/healthz", route: "/healthz").json == ["status": "ok"])

            // Submit: 201, and the same idempotency key gives the same run with 200.
            let submit: JSONValue = ["workflow": .string(ServerHarness.gatedWorkflow), "inputs": ["topic": "tides"],
                                     "budget_usd": "0.10", "tags": ["team": "ops"], "idempotency_key": "k-1"]
            let created = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit, body: submit)
            #expect(created.status == .created)
            let runID = try #require(created.json["run_id"]?.stringValue)
            #expect(created.json["status"] == "queued")
            let again = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit, body: submit)
            #expect(again.status == .ok && again.json["run_id"]?.stringValue == runID && again.json["existing"] == true)

            // The worker drives it to the gate.
            try await server.eventually("the run waits for approval") { try await server.status(runID) == .waitingApproval }
            let run = try await server.call(client, .get, "/v1/runs/\(runID.prefix(8))", route: "/v1/runs/{id}", as: .read)
            #expect(run.status == .ok)
            #expect(run.json["run_id"]?.stringValue == runID && run.json["status"] == "waiting_approval")
            #expect(run.json["budget_usd"] == "0.1" && run.json["tags"] == ["team": "ops"] && run.json["workflow"] == "gated")
            #expect(try await server.call(client, .get, "/v1/runs/nope", route: "/v1/runs/{id}", as: .read).status == .notFound)

            // Approvals: listed, decided by alice through the API; a second decision is 409 naming her.
            let pending = try await server.call(client, .get, "/v1/approvals?status=pending", route: "/v1/approvals", as: .read)
            let requests = try #require(pending.json["approvals"]?.arrayValue)
            #expect(requests.count == 1)
            let approvalID = try #require(requests.first?["id"]?.stringValue)
            #expect(requests.first?["message"] == "Publish tides?")
            let decided = try await server.call(client, .post, "/v1/approvals/\(approvalID)/decision", route: "/v1/approvals/{id}/decision",
                                                as: .approve, body: ["decision": "approve", "comment": "ship it"])
            #expect(decided.status == .ok)
            #expect(decided.json["approval"]?["decided_by"] == "alice via api")
            #expect(decided.json["approval"]?["comment"] == "ship it")
            let second = try await server.call(client, .post, "/v1/approvals/\(approvalID)/decision", route: "/v1/approvals/{id}/decision",
                                               as: .admin, body: ["decision": "reject"])
            #expect(second.status == .conflict)
            #expect(second.json["error"]?["code"] == "already_decided")
            #expect(second.json["error"]?["decided_by"] == "alice via api")
            #expect(second.json["error"]?["message"]?.stringValue?.contains("approved by alice via api at ") == true)
            let badVerdict = try await server.call(client, .post, "/v1/approvals/\(approvalID)/decision", route: "/v1/approvals/{id}/decision",
                                                   as: .approve, body: ["decision": "maybe"])
            #expect(badVerdict.status == .unprocessableContent)
            #expect(try await server.call(client, .post, "/v1/approvals/ffffffffffff/decision", route: "/v1/approvals/{id}/decision",
                                          as: .approve, body: ["decision": "approve"]).status == .notFound)
            #expect(try await server.call(client, .post, "/v1/approvals/x/decision", route: "/v1/approvals/{id}/decision",
                                          as: .approve, body: .string("not an object")).status == .badRequest)

            // Once decided, a worker continues it to the end.
            try await server.eventually("the approved run completes") { try await server.status(runID) == .completed }
            let journaled = try await server.store.approvals(runID: runID, status: nil)
            #expect(journaled.map(\.decidedBy) == ["alice via api"])
            #expect(try await server.call(client, .get, "/v1/approvals?status=all", route: "/v1/approvals", as: .read).json["approvals"]?.arrayValue?.count == 1)
            #expect(try await server.call(client, .get, "/v1/approvals?status=approved", route: "/v1/approvals", as: .read).json["approvals"]?.arrayValue?.count == 1)
            #expect(try await server.call(client, .get, "/v1/approvals?status=maybe", route: "/v1/approvals", as: .read).status == .unprocessableContent)
            #expect(try await server.call(client, .get, "/v1/approvals?run=nope", route: "/v1/approvals", as: .read).status == .notFound)

            // The report is `wflo report --format json`'s.
            let report = try await server.call(client, .get, "/v1/runs/\(runID)/report", route: "/v1/runs/{id}/report", as: .read)
            #expect(report.status == .ok)
            #expect(report.json == (try await server.api.reports.runReport(runID).json))
            #expect(try await server.call(client, .get, "/v1/runs/nope/report", route: "/v1/runs/{id}/report", as: .read).status == .notFound)

            // Cancel: a queued run nobody drives yet ends cancelled (no worker claims: its queue is paused by concurrency 0).
            try await server.store.setQueue(QueueSettings(name: "default", concurrency: 0))
            let queued = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                               body: ["workflow": .string(ServerHarness.freeWorkflow)])
            let queuedID = try #require(queued.json["run_id"]?.stringValue)
            let cancelled = try await server.call(client, .post, "/v1/runs/\(queuedID)/cancel", route: "/v1/runs/{id}/cancel", as: .submit,
                                                  body: ["reason": "not needed"])
            #expect(cancelled.status == .ok)
            #expect(cancelled.json["status"] == "cancelled")
            #expect(try await server.store.cancelRequest(runID: queuedID)?.by == "ci-bot via api")
            let twice = try await server.call(client, .post, "/v1/runs/\(queuedID)/cancel", route: "/v1/runs/{id}/cancel", as: .submit)
            #expect(twice.status == .unprocessableContent, "\(twice.text)")
            #expect(try await server.call(client, .post, "/v1/runs/nope/cancel", route: "/v1/runs/{id}/cancel", as: .submit).status == .notFound)

            // Resume: a completed run has nothing to resume; a cancelled one is driven here again.
            #expect(try await server.call(client, .post, "/v1/runs/\(runID)/resume", route: "/v1/runs/{id}/resume", as: .submit).status == .conflict)
            #expect(try await server.call(client, .post, "/v1/runs/nope/resume", route: "/v1/runs/{id}/resume", as: .submit).status == .notFound)
            #expect(try await server.call(client, .post, "/v1/runs/\(queuedID)/resume", route: "/v1/runs/{id}/resume", as: .submit,
                                          body: ["budget_usd": "abc"]).status == .unprocessableContent)
            let resumed = try await server.call(client, .post, "/v1/runs/\(queuedID)/resume", route: "/v1/runs/{id}/resume", as: .submit)
            #expect(resumed.status == .accepted)

            // Dead letters and retry (DeadLetterTests retries one): a completed run is not retried.
            #expect(try await server.call(client, .get, "/v1/dead-letters?since=1d", route: "/v1/dead-letters", as: .read).status == .ok)
            let notFailed = try await server.call(client, .post, "/v1/runs/\(runID)/retry", route: "/v1/runs/{id}/retry", as: .submit)
            #expect(notFailed.status == .unprocessableContent && notFailed.json["error"]?["message"]?.stringValue?.contains("not failed") == true)

            // The list: filters, pages and their cursor; bad parameters are 422.
            let all = try await server.call(client, .get, "/v1/runs?limit=1", route: "/v1/runs", as: .read)
            #expect(all.json["runs"]?.arrayValue?.count == 1)
            let cursor = try #require(all.json["next_cursor"]?.stringValue)
            let next = try await server.call(client, .get, "/v1/runs?limit=1&cursor=\(cursor)", route: "/v1/runs", as: .read)
            #expect(next.json["runs"]?.arrayValue?.count == 1 && next.json["next_cursor"] == .null)
            #expect(Set([all.json["runs"]?[0]?["run_id"], next.json["runs"]?[0]?["run_id"]].compactMap { $0?.stringValue }) == [runID, queuedID])
            let gated = try await server.call(client, .get, "/v1/runs?workflow=gated&status=completed", route: "/v1/runs", as: .read)
            #expect(gated.json["runs"]?.arrayValue?.map { $0["run_id"]?.stringValue } == [runID])
            for bad in ["status=done", "limit=0", "limit=x", "cursor=zzz"] {
                let answer = try await server.call(client, .get, "/v1/runs?\(bad)", route: "/v1/runs", as: .read)
                #expect(answer.status == .unprocessableContent, "\(bad)")
            }

            // Metrics: Prometheus text of the journal.
            let metrics = try await server.call(client, .get, "/metrics", route: "/metrics", as: .read)
            #expect(metrics.status == .ok)
            #expect(metrics.text.contains("# TYPE wflo_runs gauge"))
            #expect(metrics.text.contains("wflo_runs{status=\"completed\"} 1"))
            #expect(metrics.text.contains("wflo_approvals_pending 0"))
            #expect(try await server.call(client, .get, "/metrics", route: "/metrics").status == .unauthorized)

            // Events: a short stream (EventsTests checks what arrives on it).
            let events = try await server.call(client, .get, "/v1/events?timeout=0.5", route: "/v1/events", as: .read)
            #expect(events.status == .ok && events.text.hasPrefix(": wflo events"))
            #expect(try await server.call(client, .get, "/v1/events?timeout=x", route: "/v1/events", as: .read).status == .unprocessableContent)

            // Signed links of approval notifications: a bad one decides nothing (DashboardTests follows a good one).
            #expect(try await server.call(client, .get, "/approvals/\(approvalID)/decide?decision=approve&expires=1&sig=00",
                                          route: "/approvals/{id}/decide").status == .forbidden)
            let badLink = try await client.execute(uri: "/approvals/\(approvalID)/decide", method: .post,
                                                   headers: [.contentType: "application/x-www-form-urlencoded"],
                                                   body: ByteBuffer(string: "decision=approve&expires=1&sig=00"))
            #expect(badLink.status == .forbidden)
            server.recorder.record(method: "POST", route: "/approvals/{id}/decide", status: 403)

            // A webhook trigger's deliveries (issue 21): signed by the trigger's secret, no token.
            // The default queue was paused above (concurrency 0) for the cancel; its runs go again.
            try await server.store.setQueue(QueueSettings(name: "default", concurrency: nil))
            let hooked = server.folder.appendingPathComponent("tickets.yaml")
            try """
                name: tickets
                budget: 0
                inputs:
                  ticket: {type: string}
                triggers:
                  - webhook: {name: new-ticket, secret: "{{secrets.HOOK_SECRET}}", inputs: {ticket: "{{body.id}}"}}
                steps:
                  - id: shape
                    type: transform
                    output: {ticket: "{{inputs.ticket}}"}
                """.write(to: hooked, atomically: true, encoding: .utf8)
            _ = try await TriggerService(runs: server.api.runs).deploy(file: hooked.path)
            func deliver(_ hook: String, _ body: String, secret: String?, delivery: String?) async throws -> (HTTPResponse.Status, JSONValue) {
                var headers: HTTPFields = [.contentType: "application/json"]
                if let secret { headers[HTTPTypes.HTTPField.Name("X-Wflo-Signature")!] = WebhookService.signature(body: Data(body.utf8), secret: secret) }
                if let delivery { headers[HTTPTypes.HTTPField.Name("X-Wflo-Delivery")!] = delivery }
                let response = try await client.execute(uri: "/hooks/\(hook)", method: .post, headers: headers, body: ByteBuffer(string: body))
                server.recorder.record(method: "POST", route: "/hooks/{name}", status: response.status.code)
                return (response.status, (try? JSONValue.parse(String(buffer: response.body))) ?? .null)
            }
            #expect(try await deliver("new-ticket", #"{"id": "T-1"}"#, secret: nil, delivery: "d-1").0 == .unauthorized)
            #expect(try await deliver("new-ticket", #"{"id": "T-1"}"#, secret: "wrong", delivery: "d-1").0 == .unauthorized)
            let accepted = try await deliver("new-ticket", #"{"id": "T-1"}"#, secret: "s3cret", delivery: "d-1")
            #expect(accepted.0 == .accepted)
            let hookRun = try #require(accepted.1["run_id"]?.stringValue)
            let replayed = try await deliver("new-ticket", #"{"id": "T-1"}"#, secret: "s3cret", delivery: "d-1")
            #expect(replayed.0 == .ok && replayed.1["run_id"] == JSONValue.string(hookRun))
            #expect(try await deliver("new-ticket", "not json", secret: "s3cret", delivery: "d-2").0 == .badRequest)
            #expect(try await deliver("nope", "{}", secret: nil, delivery: nil).0 == .notFound)
            #expect(try await server.store.rejectedDeliveries(hook: "new-ticket") == 2)
            let hookRecord = try #require(try await server.store.run(id: hookRun))
            #expect(hookRecord.workflowName == "tickets" && hookRecord.inputs["ticket"] == "T-1")
            let hookJSON = try await server.call(client, .get, "/v1/runs/\(hookRun)", route: "/v1/runs/{id}", as: .read)
            #expect(hookJSON.json["trigger"]?["kind"] == "webhook" && hookJSON.json["trigger"]?["name"] == "new-ticket")
            #expect(hookJSON.json["concurrency"] == JSONValue.null)
            try await server.eventually("the webhook's run completes") { try await server.status(hookRun) == .completed }
            #expect(try await server.store.journal(runID: hookRun).steps.first?.output?["ticket"] == "T-1")

            // Unknown routes are JSON errors too.
            let nowhere = try await server.call(client, .get, "/v1/nowhere", route: "-", as: .read)
            #expect(nowhere.status == .notFound && nowhere.json["error"]?["code"] == "not_found")

            let document = try await server.call(client, .get, "/openapi.json", route: "/openapi.json")
            try OpenAPICheck.check(document.json, against: server.recorder.all.filter { $0.route != "-" })
        }
    }
}

/// Reads the OpenAPI document and checks it against the calls tests made.
enum OpenAPICheck {
    static func check(_ document: JSONValue, against calls: Set<CallRecorder.Call>) throws {
        #expect(document["openapi"] == "3.1.0")
        let paths = try #require(document["paths"]?.objectValue)
        for call in calls.sorted(by: { ($0.route, $0.method, $0.status) < ($1.route, $1.method, $1.status) }) {
            let operation = paths[call.route]?[call.method.lowercased()]
            #expect(operation != nil, "\(call.method) \(call.route) is served but not in /openapi.json")
            #expect(operation?["responses"]?[String(call.status)] != nil,
                    "\(call.method) \(call.route) answered \(call.status), which /openapi.json does not list")
        }
        // Every documented operation is served (was called) and every $ref resolves.
        let called = Set(calls.map { "\($0.method.lowercased()) \($0.route)" })
        for (path, item) in paths {
            for method in item.objectValue?.keys.sorted() ?? [] {
                #expect(called.contains("\(method) \(path)"), "\(method.uppercased()) \(path) is in /openapi.json but no test called it")
            }
        }
        let schemas = document["components"]?["schemas"]?.objectValue ?? [:]
        for reference in references(in: document) {
            let name = reference.replacingOccurrences(of: "#/components/schemas/", with: "")
            #expect(schemas[name] != nil, "\(reference) does not resolve")
        }
    }

    static func references(in value: JSONValue) -> [String] {
        switch value {
        case .object(let object):
            return (object["$ref"]?.stringValue.map { [$0] } ?? []) + object.values.flatMap(references)
        case .array(let array): return array.flatMap(references)
        default: return []
        }
    }
}
