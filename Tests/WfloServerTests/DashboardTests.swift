import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import WfloApp
import WfloCore
@testable import WfloServer

/// The dashboard in-process: logging in with a token, the CSRF check on every form, the run
/// list, a run's page with its approval form, deciding from it, escaping, and revocation.
@Suite(.timeLimit(.minutes(10)))
struct DashboardTests {
    /// Logs in with `token` and returns the session cookie (`wflo_session=…`).
    /// Opens the login form as a browser does: its pre-session cookie (`wflo_login=…`) and the form's CSRF token.
    static func loginForm(_ client: any TestClientProtocol) async throws -> (cookie: String, csrf: String) {
        let response = try await client.execute(uri: "/login", method: .get, headers: [:])
        let cookie = try #require(response.headers[values: .setCookie].first { $0.hasPrefix(Dashboard.loginCookie + "=") })
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        return (String(cookie.split(separator: ";")[0]), try csrf(String(buffer: response.body)))
    }

    /// Logs in with `token` through the form and returns the session cookie (`wflo_session=…`).
    /// Submits the gated workflow and returns its run once it waits for a person.
    static func waitingRun(_ server: ServerHarness, _ client: any TestClientProtocol) async throws -> String {
        let created = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                            body: ["workflow": .string(ServerHarness.gatedWorkflow), "inputs": ["topic": "x"]])
        let runID = try #require(created.json["run_id"]?.stringValue)
        try await server.eventually("the run waits") { try await server.status(runID) == .waitingApproval }
        return runID
    }

    static func login(_ client: any TestClientProtocol, token: String) async throws -> String {
        let form = try await loginForm(client)
        let response = try await client.execute(uri: "/login", method: .post,
                                                headers: [.contentType: "application/x-www-form-urlencoded", .cookie: form.cookie],
                                                body: ByteBuffer(string: "token=\(token)&csrf=\(form.csrf)"))
        #expect(response.status == .found && response.headers[.location] == "/")
        let cookie = try #require(response.headers[values: .setCookie].first { $0.hasPrefix(DashboardSessions.cookie + "=") })
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        return String(cookie.split(separator: ";")[0])
    }

    static func get(_ client: any TestClientProtocol, _ uri: String, cookie: String?) async throws -> (HTTPResponse.Status, String, HTTPFields) {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = cookie }
        let response = try await client.execute(uri: uri, method: .get, headers: headers)
        return (response.status, String(buffer: response.body), response.headers)
    }

    static func post(_ client: any TestClientProtocol, _ uri: String, cookie: String, form: String) async throws -> (HTTPResponse.Status, String, HTTPFields) {
        let response = try await client.execute(uri: uri, method: .post, headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                                                body: ByteBuffer(string: form))
        return (response.status, String(buffer: response.body), response.headers)
    }

    /// The value of the first hidden `csrf` field of a page.
    static func csrf(_ page: String) throws -> String {
        let marker = "name=\"csrf\" value=\""
        let start = try #require(page.range(of: marker)).upperBound
        return String(page[start...].prefix { $0 != "\"" })
    }

    @Test func loggingInShowsRunsAndApprovingFromTheRunPageNeedsTheCSRFToken() async throws {
        try await ServerHarness.with(workers: 1) { server, client in
            // Without a session every page sends to /login; a bad token does not log in.
            let (status, _, headers) = try await Self.get(client, "/", cookie: nil)
            #expect(status == .found && headers[.location] == "/login")
            #expect(try await Self.get(client, "/login", cookie: nil).1.contains("name=\"token\""))
            let form = try await Self.loginForm(client)
            let bad = try await client.execute(uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded", .cookie: form.cookie],
                                               body: ByteBuffer(string: "token=wflo_nope&csrf=\(form.csrf)"))
            #expect(bad.status == .unauthorized && bad.headers[.setCookie] == nil)

            // A run whose text tries to inject markup.
            let workflow = ServerHarness.gatedWorkflow.replacingOccurrences(of: "Publish {{inputs.topic}}?", with: "Publish <b>{{inputs.topic}}</b>?")
            let created = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                                body: ["workflow": .string(workflow), "inputs": ["topic": "<script>alert(1)</script>"]])
            let runID = try #require(created.json["run_id"]?.stringValue)
            try await server.eventually("the run waits") { try await server.status(runID) == .waitingApproval }

            let cookie = try await Self.login(client, token: try #require(server.tokens[.approve]))
            let list = try await Self.get(client, "/", cookie: cookie)
            #expect(list.0 == .ok && list.1.contains("/runs/\(runID)") && list.1.contains("waiting_approval"))
            #expect(list.2[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(!list.1.contains("http://") && !list.1.contains("https://"), "no external resource")
            #expect(list.1.components(separatedBy: "<script").count == 2 && list.1.contains("<script src=\"/dashboard.js\" defer=\"defer\"></script>"),
                    "one script, same-origin, not inline")
            #expect(list.2[.contentSecurityPolicy]?.contains("script-src 'self'") == true && list.1.contains("data-live=\"/live\""))
            let filtered = try await Self.get(client, "/?status=completed", cookie: cookie)
            #expect(!filtered.1.contains("/runs/\(runID)"))

            let page = try await Self.get(client, "/runs/\(runID)", cookie: cookie)
            #expect(page.0 == .ok)
            #expect(page.1.contains("Publish &lt;b&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;/b&gt;?"), "escaped")
            #expect(!page.1.contains("<script>"))
            #expect(page.1.contains("Cumulative spend") && page.1.contains("Step timeline") && page.1.contains("reserved (USD)"))
            #expect(page.1.contains("action=\"/approvals/"))
            let inbox = try await Self.get(client, "/approvals", cookie: cookie)
            #expect(inbox.1.contains("worst case of this step") && inbox.1.contains("the rest of the run"))

            let approval = try #require(try await server.store.approvals(runID: runID, status: .pending).first)
            // A forged form (no or wrong CSRF token) is refused and decides nothing.
            let forged = try await Self.post(client, "/approvals/\(approval.id)/decide", cookie: cookie, form: "decision=approve")
            #expect(forged.0 == .forbidden)
            let wrong = try await Self.post(client, "/approvals/\(approval.id)/decide", cookie: cookie, form: "decision=approve&csrf=00")
            #expect(wrong.0 == .forbidden)
            #expect(try await server.store.approval(id: approval.id)?.status == .pending)

            let token = try Self.csrf(page.1)
            let decided = try await Self.post(client, "/approvals/\(approval.id)/decide", cookie: cookie,
                                              form: "decision=approve&comment=looks+good&back=%2Fruns%2F\(runID)&csrf=\(token)")
            #expect(decided.0 == .seeOther && decided.2[.location] == "/runs/\(runID)")
            let record = try await server.store.approval(id: approval.id)
            #expect(record?.decidedBy == "alice via dashboard" && record?.comment == "looks good")
            let again = try await Self.post(client, "/approvals/\(approval.id)/decide", cookie: cookie, form: "decision=reject&csrf=\(token)")
            #expect(again.0 == .conflict && again.1.contains("Already approved by alice via dashboard"))
            try await server.eventually("the run completes") { try await server.status(runID) == .completed }

            let spend = try await Self.get(client, "/spend?by=model", cookie: cookie)
            #expect(spend.0 == .ok && spend.1.contains("Spend by model"))

            // Revoking the token ends its sessions.
            try await server.api.tokens.revoke(name: "alice")
            #expect(try await Self.get(client, "/", cookie: cookie).0 == .found)
        }
    }

    /// A login POST another site forges (no pre-session cookie, or a CSRF token not the cookie's) is
    /// refused with 403 and opens no session, even with a good token.
    @Test func aForgedLoginIsRefused() async throws {
        try await ServerHarness.with(workers: 0) { server, client in
            let token = try #require(server.tokens[.admin])
            let form = try await Self.loginForm(client)
            let other = try await Self.loginForm(client)
            #expect(form.csrf != other.csrf, "each browser gets its own")
            for (cookie, body) in [(nil, "token=\(token)"), (nil, "token=\(token)&csrf=\(form.csrf)"), (form.cookie, "token=\(token)"),
                                   (form.cookie, "token=\(token)&csrf=\(other.csrf)"), (form.cookie, "token=\(token)&csrf=")] {
                var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
                if let cookie { headers[.cookie] = cookie }
                let forged = try await client.execute(uri: "/login", method: .post, headers: headers, body: ByteBuffer(string: body))
                #expect(forged.status == .forbidden, "\(cookie ?? "no cookie") \(body)")
                #expect(String(buffer: forged.body).contains("CSRF token did not match"))
                #expect(!forged.headers[values: .setCookie].contains { $0.hasPrefix(DashboardSessions.cookie + "=") }, "no session")
            }
            // The real form logs in.
            let cookie = try await Self.login(client, token: token)
            #expect(try await Self.get(client, "/", cookie: cookie).0 == .ok)
        }
    }

    /// Live updates: the run page names its feed (`/live?run=ID`, session-authenticated SSE) and the
    /// same-origin script that listens to it; the feed sends that run's changes only.
    @Test func theRunPageFeedSendsThatRunsChangesToItsSession() async throws {
        try await ServerHarness.with(workers: 1) { server, client in
            let runID = try await Self.waitingRun(server, client)
            let cookie = try await Self.login(client, token: try #require(server.tokens[.read]))
            let page = try await Self.get(client, "/runs/\(runID)", cookie: cookie)
            #expect(page.1.contains("data-live=\"/live?run=\(runID)&amp;seen="))
            let script = try await Self.get(client, "/dashboard.js", cookie: nil)
            #expect(script.0 == .ok && script.2[.contentType]?.hasPrefix("text/javascript") == true)
            #expect(script.1.contains("new EventSource(source)") && script.1.contains("window.location.reload()"))
            #expect(try await Self.get(client, "/live?run=\(runID)&timeout=1", cookie: nil).0 == .unauthorized, "the feed needs a session")

            let stream = Task { try await Self.get(client, "/live?run=\(runID)&timeout=6", cookie: cookie) }
            try await Task.sleep(for: .seconds(1.5))
            // Another run starts meanwhile: not this page's.
            _ = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit, body: ["workflow": .string(ServerHarness.freeWorkflow)])
            let approval = try #require(try await server.store.approvals(runID: runID, status: .pending).first)
            #expect(try await server.call(client, .post, "/v1/approvals/\(approval.id)/decision", route: "/v1/approvals/{id}/decision",
                                          as: .approve, body: ["decision": "approve"]).status == .ok)
            try await server.eventually("the run completes") { try await server.status(runID) == .completed }
            let (status, text, headers) = try await stream.value
            #expect(status == .ok && headers[.contentType] == "text/event-stream")
            let runFrames = text.components(separatedBy: "\n\n").filter { $0.hasPrefix("event: run\n") }
            #expect(!runFrames.isEmpty && runFrames.allSatisfy { $0.contains("\"run_id\":\"\(runID)\"") }, "\(text)")
            #expect(runFrames.contains { $0.contains("\"status\":\"completed\"") }, "\(text)")
            #expect(text.contains("event: approval\n"))

            // A change between the page and the stream's first look is not missed: `seen` is what the page showed.
            let missed = try await Self.get(client, "/live?run=\(runID)&seen=waiting_approval%7C1&timeout=1.5", cookie: cookie)
            #expect(missed.1.contains("event: run\n") && missed.1.contains("\"status\":\"completed\""), "\(missed.1)")
            let current = try await Self.get(client, "/runs/\(runID)", cookie: cookie)
            let marker = "&amp;seen="
            let tail = try #require(current.1.range(of: marker))
            let seen = String(current.1[tail.upperBound...].prefix { $0 != "\"" })
            let quiet = try await Self.get(client, "/live?run=\(runID)&seen=\(seen)&timeout=1.5", cookie: cookie)
            #expect(!quiet.1.contains("event: run\n"), "nothing changed since the page: \(quiet.1)")
        }
    }

    /// A 100,000-step run's `run_started` (its whole step order) does not make the page megabytes long.
    @Test func longEventDataIsCutSayingHowLongItIs() {
        #expect(Dashboard.eventData(.null) == "")
        #expect(Dashboard.eventData(["queue": "default"]) == #"{"queue":"default"}"#)
        let order = JSONValue.array((0..<20_000).map { .array([.string("s\($0)"), "transform"]) })
        let shown = Dashboard.eventData(["step_order": order])
        #expect(shown.count < Dashboard.eventDataLimit + 120)
        #expect(shown.hasPrefix(#"{"step_order":[["s0","transform"]"#))
        #expect(shown.contains("characters in all"))
    }

    @Test func aPageShowsTimesAsTheISO8601FormatterDid() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate, .withSpaceBetweenDateAndTime]
        for seconds in [0, 1_800_000_000, 1_800_000_599.75, 4_102_444_799] as [Double] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(Dashboard.time(date) == formatter.string(from: date))
        }
        #expect(Dashboard.time(Date(timeIntervalSince1970: 1_800_000_000)) == "2027-01-15 08:00:00")
    }

    /// A finished run's page is kept and served again only while the run does not change: a change
    /// (its budget, an event) is on the very next request; each session sees its own name and
    /// CSRF token around the kept part; ETag/If-None-Match answers 304 per session and run; a
    /// revoked token's session gets no page, kept or not.
    @Test func aFinishedRunsPageIsKeptOnlyWhileTheRunIsUnchanged() async throws {
        try await ServerHarness.with(workers: 1) { server, client in
            let created = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                                body: ["workflow": .string(ServerHarness.freeWorkflow)])
            let runID = try #require(created.json["run_id"]?.stringValue)
            try await server.eventually("the run completes") { try await server.status(runID) == .completed }
            let alice = try await Self.login(client, token: try #require(server.tokens[.approve]))
            let reader = try await Self.login(client, token: try #require(server.tokens[.read]))
            let first = try await Self.get(client, "/runs/\(runID)", cookie: alice)
            let again = try await Self.get(client, "/runs/\(runID)", cookie: alice)
            #expect(first.0 == .ok && again.1 == first.1, "an unchanged run, the same page")
            #expect(first.1.contains("alice (approve)") && first.1.contains("completed"))
            let theirs = try await Self.get(client, "/runs/\(runID)", cookie: reader)
            #expect(theirs.1.contains("reader (read)") && !theirs.1.contains("alice (approve)"))
            #expect(try Self.csrf(theirs.1) != Self.csrf(first.1), "each session's own CSRF token around the kept page")

            // ETag: 304 without a body for the same session and run; another session's tag differs.
            let tag = try #require(first.2[.eTag])
            #expect(again.2[.eTag] == tag && theirs.2[.eTag] != tag)
            let notModified = try await client.execute(uri: "/runs/\(runID)", method: .get, headers: [.cookie: alice, .ifNoneMatch: tag])
            #expect(notModified.status == .notModified && notModified.body.readableBytes == 0 && notModified.headers[.eTag] == tag)

            // A change to the run is on the very next request: its budget, then an event.
            try await server.store.updateRunBudget(id: runID, budget: try #require(Money(string: "7.25")), at: Date())
            let budgeted = try await client.execute(uri: "/runs/\(runID)", method: .get, headers: [.cookie: alice, .ifNoneMatch: tag])
            #expect(budgeted.status == .ok && budgeted.headers[.eTag] != tag)
            #expect(String(buffer: budgeted.body).contains("7.25"))
            try await server.store.appendEvent(.runStatus(runID: runID, status: .completed, error: "a note only this event has", at: Date()))
            #expect(try await Self.get(client, "/runs/\(runID)", cookie: alice).1.contains("a note only this event has"))

            // Revoking the token ends its session at once, for the kept page too.
            try await server.api.tokens.revoke(name: "alice")
            #expect(try await Self.get(client, "/runs/\(runID)", cookie: alice).0 == .found)
            #expect(try await Self.get(client, "/runs/\(runID)", cookie: reader).0 == .ok)
        }
    }

    /// The kept pages are bounded: the least recently served goes first; a page is only served for the mark it was kept with.
    @Test func thePageCacheKeepsAtMostItsCapacity() {
        let cache = RunPageCache(capacity: 2)
        let mark = RunChangeMark(status: .completed, stamp: "1")
        let content = RunPageCache.Content(title: "t", body: "b", live: "/live")
        let (a, b, c) = (RunPageCache.Key(run: "a", page: 1), RunPageCache.Key(run: "b", page: 1), RunPageCache.Key(run: "c", page: 1))
        cache.keep(a, mark: mark, content)
        cache.keep(b, mark: mark, content)
        #expect(cache.content(a, mark: mark)?.body == "b")
        #expect(cache.content(a, mark: RunChangeMark(status: .completed, stamp: "2")) == nil, "another mark: rendered again")
        cache.keep(c, mark: mark, content)
        #expect(cache.count == 2)
        #expect(cache.content(b, mark: mark) == nil, "b was served least recently")
        #expect(cache.content(a, mark: mark) != nil && cache.content(c, mark: mark) != nil)
    }

    /// The kept pages are bounded in bytes too: big pages push out the least recently served, and a
    /// page over a quarter of the bound is never kept (a 100k-step run's pages cannot fill memory).
    @Test func thePageCacheKeepsAtMostItsBytes() {
        let cache = RunPageCache(capacity: 100, maximumBytes: 4_000)
        let mark = RunChangeMark(status: .completed, stamp: "1")
        func page(_ size: Int) -> RunPageCache.Content { RunPageCache.Content(title: "t", body: String(repeating: "x", count: size), live: "") }
        let keys = (0..<6).map { RunPageCache.Key(run: "r\($0)", page: 1) }
        for key in keys.prefix(5) { cache.keep(key, mark: mark, page(800)) }
        #expect(cache.count == 4, "five pages of ~865 bytes do not fit in 4,000")
        #expect(cache.bytes <= 4_000)
        #expect(cache.content(keys[0], mark: mark) == nil, "the least recently served went")
        #expect(cache.content(keys[4], mark: mark) != nil)
        cache.keep(keys[5], mark: mark, page(1_500))
        #expect(cache.content(keys[5], mark: mark) == nil, "over a quarter of the bound: not kept")
        #expect(cache.count == 4 && cache.bytes <= 4_000)
        // Keeping a page again under the same key replaces it, counting its bytes once.
        let before = cache.bytes
        cache.keep(keys[4], mark: RunChangeMark(status: .completed, stamp: "2"), page(800))
        #expect(cache.bytes == before && cache.count == 4)
    }

    @Test func ifNoneMatchNamesATagInAListOrAll() {
        let tag = ETag.of(["x"])
        #expect(tag.hasPrefix("\"") && tag.count == 34 && tag != ETag.of(["y"]) && ETag.of(["a", "b"]) != ETag.of(["ab"]))
        #expect(ETag.matches(tag, tag) && ETag.matches("\"other\", W/\(tag)", tag) && ETag.matches("*", tag))
        #expect(!ETag.matches(nil, tag) && !ETag.matches("\"other\"", tag))
    }

    @Test func aReadTokenSeesPagesButCannotDecide() async throws {
        try await ServerHarness.with(workers: 1) { server, client in
            let runID = try await Self.waitingRun(server, client)
            let cookie = try await Self.login(client, token: try #require(server.tokens[.read]))
            let page = try await Self.get(client, "/runs/\(runID)", cookie: cookie)
            #expect(page.0 == .ok)
            let approval = try #require(try await server.store.approvals(runID: runID, status: .pending).first)
            let refused = try await Self.post(client, "/approvals/\(approval.id)/decide", cookie: cookie,
                                              form: "decision=approve&csrf=\(try Self.csrf(page.1))")
            #expect(refused.0 == .forbidden)
            #expect(try await server.store.approval(id: approval.id)?.status == .pending)
        }
    }

    @Test func aSignedLinkShowsTheDecisionOnGetAndDecidesOnceOnPost() async throws {
        try await ServerHarness.with(workers: 1) { server, client in
            try await server.store.setJournalSetting(JournalSettingName.serverBaseURL, value: "https://wflo.example.com")
            let created = try await server.call(client, .post, "/v1/runs", route: "/v1/runs", as: .submit,
                                                body: ["workflow": .string(ServerHarness.gatedWorkflow), "inputs": ["topic": "tides"]])
            let runID = try #require(created.json["run_id"]?.stringValue)
            try await server.eventually("the run waits") { try await server.status(runID) == .waitingApproval }
            let request = try #require(try await server.store.approvals(runID: runID, status: .pending).first)
            let links = try await ApprovalLinks.load(from: server.store)
            let approve = try #require(links.url(for: request, verdict: .approve)).replacingOccurrences(of: "https://wflo.example.com", with: "")
            let preview = try await Self.get(client, approve, cookie: nil)
            #expect(preview.0 == .ok && preview.1.contains("Publish tides?") && preview.1.contains("name=\"sig\""))
            #expect(try await server.store.approval(id: request.id)?.status == .pending, "a GET decides nothing")
            let query = String(approve.split(separator: "?")[1])
            let form = query.replacingOccurrences(of: "sig=", with: "sig=0")
            let tampered = try await client.execute(uri: "/approvals/\(request.id)/decide", method: .post,
                                                    headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: form))
            #expect(tampered.status == .forbidden)
            let decided = try await client.execute(uri: "/approvals/\(request.id)/decide", method: .post,
                                                   headers: [.contentType: "application/x-www-form-urlencoded"],
                                                   body: ByteBuffer(string: query + "&comment=from+slack"))
            #expect(decided.status == .ok, "\(String(buffer: decided.body))")
            let record = try await server.store.approval(id: request.id)
            #expect(record?.status == .approved && record?.decidedBy == ApprovalLinks.decider && record?.comment == "from slack")
            let again = try await client.execute(uri: "/approvals/\(request.id)/decide", method: .post,
                                                 headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: query))
            #expect(again.status == .conflict)
            try await server.eventually("the run completes") { try await server.status(runID) == .completed }
        }
    }
}
