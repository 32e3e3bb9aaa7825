import Crypto
import Foundation
import Hummingbird
import WfloApp
import WfloCore
import WfloReports

/// The dashboard at `/`: log in with an API token (a session cookie kept in the journal; every
/// form carries a CSRF token), the run list, a run's page (money and timeline), the approvals
/// inbox, the failed runs with Retry, spend. Rendered here as HTML with everything escaped; no
/// script is needed (one same-origin script makes the run list and run pages live where it runs)
/// and nothing is fetched from elsewhere. Pages read through WfloApp's services; a run's page is one journal
/// read, whatever its number of steps, and shows them a page at a time.
public struct Dashboard: Sendable {
    let api: ServerAPI
    let sessions: DashboardSessions
    /// Finished runs' rendered pages, kept while their run does not change.
    let pages = RunPageCache()
    /// Steps shown per page of a run's page.
    public static let stepsPerPage = 200
    /// Runs per page of the run list.
    public static let runsPerPage = 50

    public init(api: ServerAPI, sessions: DashboardSessions? = nil) {
        self.api = api
        self.sessions = sessions ?? DashboardSessions(store: api.store, now: api.tokens.now)
    }

    public func register<Context: RequestContext>(on router: some RouterMethods<Context>) {
        router.get("/login") { request, _ in Self.loginPage(request, error: nil, status: .ok) }
        router.post("/login") { request, _ in try await login(request) }
        router.post("/logout") { request, _ in
            let (session, _) = try await sessionAndForm(request)
            try await sessions.end(session.id)
            var response = Response.redirect(to: "/login", type: .found)
            response.setCookie(Cookie(name: DashboardSessions.cookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        router.get("/") { request, _ in try await withSession(request) { session in try await runList(request, session) } }
        router.get("/runs/:id") { request, context in
            let id = try context.parameters.require("id")
            // The stamp first: the session and the run's mark read after it are kept for it (``JournalReadCache``).
            let stamp = try await api.store.changeStamp()
            return try await withSessionResponse(request, stamp: stamp) { session in try await runPage(request, id: id, session, stamp: stamp) }
        }
        router.get("/approvals") { request, _ in try await withSession(request) { session in try await inbox(session) } }
        router.get("/approvals/:id/decide") { request, context in
            try await linkPreview(request, id: try context.parameters.require("id"))
        }
        router.post("/approvals/:id/decide") { request, context in
            let id = try context.parameters.require("id")
            // A signed link's form (from an approval notification) carries its signature instead of a session.
            let form = try await Self.form(request)
            if form["sig"] != nil { return try await linkDecide(form, id: id) }
            return try await decide(request, form: form, id: id)
        }
        router.get("/spend") { request, _ in try await withSession(request) { session in try await spend(request, session) } }
        // Live updates (progressive enhancement): the same-origin script, and the session's SSE feed.
        router.get("/dashboard.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: Self.script)))
        }
        router.get("/live") { request, _ in
            guard try await currentSession(request) != nil else {
                return Response(status: .unauthorized, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: ResponseBody(byteBuffer: ByteBuffer(string: "log in first (GET /login)\n")))
            }
            var feed = EventFeed(store: api.store, reports: api.reports)
            if let run = request.uri.queryParameters.get("run"), !run.isEmpty {
                feed.runID = run
                if let seen = request.uri.queryParameters.get("seen"), !seen.isEmpty { feed.seen[run] = seen }
            }
            return feed.response(timeout: try ServerAPI.streamTimeout(request.uri.queryParameters.get("timeout")))
        }
        router.get("/failed") { request, _ in try await withSession(request) { session in try await failed(request, session) } }
        router.post("/runs/:id/retry") { request, context in try await retry(request, id: try context.parameters.require("id")) }
    }

    // MARK: sessions

    /// The page `body` makes for a logged-in session; a redirect to /login without one.
    func withSession(_ request: Request, _ body: (DashboardSessions.Session) async throws -> String) async throws -> Response {
        try await withSessionResponse(request) { session in Self.html(try await body(session)) }
    }

    /// The response `body` makes for a logged-in session; a redirect to /login without one.
    func withSessionResponse(_ request: Request, stamp: UInt64? = nil,
                             _ body: (DashboardSessions.Session) async throws -> Response) async throws -> Response {
        guard let session = try await currentSession(request, stamp: stamp) else { return Response.redirect(to: "/login", type: .found) }
        do {
            return try await body(session)
        } catch {
            let problem = APIError(error)
            let text = Self.page(title: "Error", session: session, body: "<h1>\(problem.status.code) · \(Self.e(problem.code))</h1><div class=\"err\">\(Self.e(problem.message))</div>")
            return Self.html(text, status: problem.status)
        }
    }

    /// The live session of the request's cookie whose token is still live (a revoked token ends its sessions).
    /// - Parameter stamp: the journal's change stamp read for this request: a session read at the
    ///   same stamp is not read again (a logout or a revoke changes it; its expiry is checked here).
    func currentSession(_ request: Request, stamp: UInt64? = nil) async throws -> DashboardSessions.Session? {
        guard let id = Self.cookie(DashboardSessions.cookie, of: request) else { return nil }
        // Kept under the session id's hash, as the journal keeps it: the cache never holds a session id itself.
        let key = "session:" + TokenService.hash(id)
        if var kept: DashboardSessions.Session = api.kept.value(key, at: stamp), kept.expires > sessions.now() {
            kept.id = id
            return kept
        }
        guard let session = try await sessions.find(id) else { return nil }
        var kept = session
        kept.id = ""  // given back from the request's cookie on each use
        api.kept.keep(key, kept, at: stamp)
        return session
    }

    /// The session and the posted form, its CSRF token checked.
    /// - Throws: ``APIError`` 401 without a session, 403 when the form's `csrf` is not the session's.
    func sessionAndForm(_ request: Request) async throws -> (DashboardSessions.Session, [String: String]) {
        guard let session = try await currentSession(request) else {
            throw APIError(.unauthorized, "unauthorized", "log in first (GET /login)")
        }
        let form = try await Self.form(request)
        guard let csrf = form["csrf"], Self.same(csrf, session.csrf) else {
            throw APIError(.forbidden, "csrf", "the form's CSRF token is missing or stale; reload the page and submit again")
        }
        return (session, form)
    }

    /// The login form, its CSRF token the value of the pre-session cookie ``loginCookie`` (set
    /// here when the browser has none): the double-submit pattern. Another site can neither read
    /// the cookie nor, SameSite=Strict, have it sent, so it cannot forge the form.
    static func loginPage(_ request: Request, error: String?, status: HTTPResponse.Status) -> Response {
        let given = request.cookies[loginCookie]?.value
        let csrf = given.flatMap { $0.count == 64 && $0.allSatisfy(\.isHexDigit) ? $0 : nil } ?? DashboardSessions.random()
        var response = html(page(title: "Log in", session: nil, body: loginForm(error: error, csrf: csrf)), status: status)
        if csrf != given {
            response.setCookie(Cookie(name: loginCookie, value: csrf, maxAge: 3600, path: "/login", httpOnly: true, sameSite: .strict))
        }
        return response
    }

    /// The pre-session cookie the login form's CSRF token is checked against.
    public static let loginCookie = "wflo_login"

    func login(_ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        guard let cookie = request.cookies[Self.loginCookie]?.value, let csrf = form["csrf"], !cookie.isEmpty, Self.same(csrf, cookie) else {
            return Self.loginPage(request, error: "The login form was stale or not this site's (its CSRF token did not match); log in again from this page.",
                                  status: .forbidden)
        }
        guard let token = form["token"]?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty,
              let record = try await api.tokens.authenticate(token) else {
            return Self.loginPage(request, error: "That token is unknown or revoked.", status: .unauthorized)
        }
        let session = try await sessions.start(token: record)
        var response = Response.redirect(to: "/", type: .found)
        response.setCookie(Cookie(name: DashboardSessions.cookie, value: session.id, maxAge: Int(DashboardSessions.lifetime), path: "/",
                                  httpOnly: true, sameSite: .strict))
        response.setCookie(Cookie(name: Self.loginCookie, value: "", maxAge: 0, path: "/login", httpOnly: true, sameSite: .strict))
        return response
    }

    // MARK: pages

    func runList(_ request: Request, _ session: DashboardSessions.Session) async throws -> String {
        let query = request.uri.queryParameters
        var page = RunPageQuery(limit: Self.runsPerPage + 1)
        let statusText = query.get("status") ?? ""
        if !statusText.isEmpty {
            guard let status = RunStatus(rawValue: statusText) else { throw AppError(.invalidInput, "status '\(statusText)' is not a run status") }
            page.status = status
        }
        let workflow = query.get("workflow") ?? ""
        if !workflow.isEmpty { page.workflow = workflow }
        if let cursor = query.get("cursor"), !cursor.isEmpty {
            guard let after = RunPageCursor(encoded: cursor) else { throw AppError(.invalidInput, "that page link is broken; start from the first page") }
            page.after = after
        }
        let found = try await api.store.runPage(page)
        let shown = Array(found.prefix(Self.runsPerPage))
        var rows = ""
        for run in shown {
            let listing = try await api.reports.listing(of: run)
            rows += "<tr><td><a href=\"/runs/\(Self.e(run.id))\">\(Self.e(String(run.id.prefix(12))))</a></td><td>\(Self.e(run.workflowName))</td>"
                + "<td>\(Self.badge(listing.shownStatus))</td><td class=\"n\">\(Self.e(listing.ledger.settled.dollars()))</td>"
                + "<td class=\"n\">\(Self.e(run.budget?.dollars() ?? "none"))</td><td>\(Self.e(Self.time(run.createdAt)))</td></tr>\n"
        }
        let options = ([""] + RunStatus.allCases.map(\.rawValue)).map { value in
            "<option value=\"\(value)\"\(value == statusText ? " selected=\"selected\"" : "")>\(value.isEmpty ? "any status" : value)</option>"
        }.joined()
        var body = "<h1>Runs</h1>\n<form method=\"get\" action=\"/\" class=\"filters\"><label>Status <select name=\"status\">\(options)</select></label> "
            + "<label>Workflow <input name=\"workflow\" value=\"\(Self.e(workflow))\"/></label> <button type=\"submit\">Filter</button></form>\n"
        body += shown.isEmpty ? "<p>No runs match.</p>\n"
            : "<div class=\"scroll\"><table><thead><tr><th>run</th><th>workflow</th><th>status</th><th class=\"n\">spent (USD)</th><th class=\"n\">budget (USD)</th><th>created (UTC)</th></tr></thead><tbody>\n\(rows)</tbody></table></div>\n"
        if found.count > Self.runsPerPage, let last = shown.last {
            var link = "/?cursor=\(RunPageCursor(after: last).encoded)"
            if !statusText.isEmpty { link += "&status=\(Self.url(statusText))" }
            if !workflow.isEmpty { link += "&workflow=\(Self.url(workflow))" }
            body += "<p><a class=\"next\" href=\"\(Self.e(link))\">Older runs →</a></p>\n"
        }
        return Self.page(title: "Runs", session: session, body: body, live: "/live")
    }

    static let pageEvents: Set<JournalEventKind> = [.runStarted, .runResumed, .budgetChanged, .budgetAlert, .cancelRequested, .attemptsUnsettled,
                                                    .runQueued, .runRunning, .runCompleted, .runFailed, .runBudgetExceeded, .runWaitingApproval,
                                                    .runRejected, .runCancelled, .approvalRequested, .approvalDecided]

    /// A run's page. A finished run's (``RunStatus/isFinal``) is rendered once and kept with the
    /// run's ``RunChangeMark``; each request reads the mark (one indexed read) and renders again
    /// when it changed, so a change is on the very next page. The navigation (who is logged in,
    /// the logout form's CSRF token) is put around the kept part per request; a page with an
    /// approval form (its CSRF token) is not kept. `ETag`/`If-None-Match` answer 304 when nothing changed.
    func runPage(_ request: Request, id: String, _ session: DashboardSessions.Session, stamp: UInt64? = nil) async throws -> Response {
        let number = Int(request.uri.queryParameters.get("page") ?? "1") ?? 1
        let key = RunPageCache.Key(run: id, page: number)
        // Read before the page: a change after it shows as a changed mark next time (rendered again), never as a stale page.
        let mark: RunChangeMark?
        if let kept: RunChangeMark = api.kept.value("mark:" + id, at: stamp) {
            mark = kept
        } else {
            mark = try await api.store.runChangeMark(id: id)
            if let mark { api.kept.keep("mark:" + id, mark, at: stamp) }
        }
        let content: RunPageCache.Content
        if let mark, mark.status.isFinal, let kept = pages.content(key, mark: mark) {
            content = kept
        } else {
            let (rendered, keepable) = try await renderRunPage(id, page: number, session)
            content = rendered
            if let mark, mark.status.isFinal, keepable { pages.keep(key, mark: mark, content) }
        }
        // The session's frame around the content (head, navigation, tag): made once per session and
        // content while the journal is unchanged.
        let framing = "frame:\(session.csrf)|\(content.digest)|\(content.title)|\(content.live)"
        let frame: PageFrame
        if let kept: PageFrame = api.kept.value(framing, at: stamp) {
            frame = kept
        } else {
            frame = Self.pageParts(title: content.title, session: session, live: content.live) { head, nav, tail in
                PageFrame(tag: ETag.of([content.digest, content.title, content.live, session.name, session.role.rawValue, session.csrf]),
                          before: head + nav, after: tail)
            }
            api.kept.keep(framing, frame, at: stamp)
        }
        if ETag.matches(request.headers[.ifNoneMatch], frame.tag) {
            return Response(status: .notModified, headers: [.eTag: frame.tag, .cacheControl: "private, no-cache"])
        }
        var buffer = ByteBufferAllocator().buffer(capacity: frame.before.utf8.count + content.body.utf8.count + frame.after.utf8.count)
        buffer.writeString(frame.before)
        buffer.writeString(content.body)
        buffer.writeString(frame.after)
        var response = Self.html(buffer)
        response.headers[.eTag] = frame.tag
        response.headers[.cacheControl] = "private, no-cache"
        return response
    }

    /// What a session's run page puts around the kept content: its entity tag and the text before
    /// and after the content.
    struct PageFrame: Sendable {
        var tag: String
        var before: String
        var after: String
    }

    /// The run page's content (what is the same for every session) and whether it may be kept
    /// (it holds no approval form, whose CSRF token is the session's).
    func renderRunPage(_ id: String, page: Int, _ session: DashboardSessions.Session) async throws -> (RunPageCache.Content, keepable: Bool) {
        // One page's read: a 100k-step run decodes the page's steps, not all of them.
        let read = try await api.reports.runPage(id, page: page, linesPerPage: Self.stepsPerPage, extraEvents: Self.pageEvents)
        let (report, journal, steps, pageCount, pageNumber) = (read.report, read.journal, read.report.steps, read.pageCount, read.number)
        // Each step's reservation still held: its attempts in flight (one pass over the attempts).
        var held: [String: Money] = [:]
        for attempt in journal.attempts where attempt.status == .running { held[attempt.stepID, default: .zero] += attempt.reserved }
        let ledger = journal.ledger

        var body = "<h1>Run \(Self.e(report.runID))</h1>\n<p class=\"sub\">workflow \(Self.e(report.workflow)) · \(Self.badge(report.shownStatus)) · started \(Self.e(Self.time(report.createdAt))) · updated \(Self.e(Self.time(report.updatedAt)))</p>\n"
        var tiles: [(String, String)] = [("settled (USD)", ledger.settled.dollars()), ("reserved now (USD)", ledger.reserved.dollars())]
        if let budget = report.budget {
            tiles += [("budget (USD)", budget.dollars()), ("left (USD)", (budget - ledger.committed).dollars())]
        } else {
            tiles.append(("budget", "none"))
        }
        tiles += [("steps", String(read.totalLines)), ("attempts", String(read.totalAttempts)), ("retries", String(read.retries))]
        body += ReportHTML.tiles(tiles)
        // A run waiting for a person says so in its error; here the form below is what to do.
        if let error = report.error, journal.run.status != .waitingApproval { body += "<div class=\"err\">\(Self.e(error))</div>\n" }

        let pending = journal.approvals.filter { $0.status == .pending }
        if !pending.isEmpty {
            body += "<h2>Waiting for a decision</h2>\n"
            for request in pending { body += Self.approvalCard(request, run: journal.run, ledger: ledger, session: session, back: "/runs/\(report.runID)") }
        }
        body += report.dashboardCharts(steps: steps)

        body += "<h2>Steps" + (pageCount > 1 ? " \(read.firstLine + 1)–\(read.firstLine + steps.count) of \(read.totalLines)" : "") + "</h2>\n"
        let rows = steps.map { step -> [String] in
            [step.id, step.type, step.status, step.model ?? "-", step.startedAt.map(Self.time) ?? "-", step.endedAt.map(Self.time) ?? "-",
             (held[step.id] ?? .zero).formatted(decimals: 6), step.cost.formatted(decimals: 6), String(step.attempts), String(step.retries)]
        }
        body += ReportHTML.table(header: ["step", "type", "status", "model", "started", "ended", "reserved (USD)", "settled (USD)", "attempts", "retries"],
                                 rows: rows, numeric: [6, 7, 8, 9])
        if pageCount > 1 {
            var links: [String] = []
            if pageNumber > 1 { links.append("<a href=\"/runs/\(Self.e(report.runID))?page=\(pageNumber - 1)\">← previous steps</a>") }
            links.append("page \(pageNumber) of \(pageCount)")
            if pageNumber < pageCount { links.append("<a class=\"next\" href=\"/runs/\(Self.e(report.runID))?page=\(pageNumber + 1)\">next steps →</a>") }
            body += "<p>" + links.joined(separator: " · ") + "</p>\n"
        }
        if let outputs = report.outputs {
            body += "<h2>Outputs</h2>\n<pre>\(Self.e(outputs.encoded(sorted: true, pretty: true)))</pre>\n"
        }
        let events = journal.events.suffix(100)
        body += "<h2>Events" + (journal.events.count > events.count ? " (last \(events.count) of \(journal.events.count))" : "") + "</h2>\n"
        body += ReportHTML.table(header: ["time (UTC)", "event", "step", "data"], rows: events.map { event in
            [Self.time(event.at), event.kind.rawValue, event.stepID ?? "", Self.eventData(event.data)]
        })
        return (RunPageCache.Content(title: "Run \(report.runID)", body: body,
                                     live: "/live?run=\(Self.url(report.runID))&seen=\(Self.url(EventFeed.key(of: journal.run)))"),
                pending.isEmpty)
    }

    /// The most of one event's data the run page shows: a 100,000-step run's `run_started` holds
    /// its whole step order (megabytes), which the page would otherwise carry.
    static let eventDataLimit = 2_000

    /// An event's data as the page shows it, cut at ``eventDataLimit`` characters saying how long it is.
    static func eventData(_ data: JSONValue) -> String {
        guard !data.isNull else { return "" }
        let text = data.encoded(sorted: true)
        guard text.utf8.count > eventDataLimit else { return text }
        return String(text.prefix(eventDataLimit)) + "… (shown in part: \(text.count) characters in all)"
    }

    func inbox(_ session: DashboardSessions.Session) async throws -> String {
        let pending = try await api.approvals.list(run: nil, includeDecided: false)
        var body = "<h1>Approvals inbox</h1>\n"
        if pending.isEmpty { body += "<p>Nothing is waiting for a decision.</p>\n" }
        for request in pending {
            guard let run = try await api.store.run(id: request.runID) else { continue }
            body += Self.approvalCard(request, run: run, ledger: try await api.store.ledger(runID: run.id), session: session, back: "/approvals")
        }
        return Self.page(title: "Approvals", session: session, body: body)
    }

    func decide(_ request: Request, form: [String: String], id: String) async throws -> Response {
        guard let session = try await currentSession(request) else {
            throw APIError(.unauthorized, "unauthorized", "log in first (GET /login)")
        }
        guard let csrf = form["csrf"], Self.same(csrf, session.csrf) else {
            throw APIError(.forbidden, "csrf", "the form's CSRF token is missing or stale; reload the page and submit again")
        }
        guard session.role.allows(.approve) else {
            return Self.html(Self.page(title: "Not allowed", session: session,
                                       body: "<h1>Not allowed</h1><div class=\"err\">\(Self.e("The token '\(session.name)' has the role \(session.role.rawValue); deciding needs approve or above."))</div>"),
                             status: .forbidden)
        }
        let verdict: ApprovalDecision.Verdict
        switch form["decision"] {
        case "approve": verdict = .approve
        case "reject": verdict = .reject
        default: throw APIError(.unprocessableContent, "invalid_input", "decision must be approve or reject")
        }
        let comment = form["comment"].flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        let back = form["back"].flatMap { $0.hasPrefix("/") && !$0.hasPrefix("//") ? $0 : nil } ?? "/approvals"
        let outcome = try await api.approvals.decide(id, verdict: verdict, comment: comment, by: session.name, channel: "dashboard")
        switch outcome {
        case .recorded:
            return Response.redirect(to: back, type: .normal)
        case .alreadyDecided(let record):
            let text = "Already \(record.status.rawValue) by \(record.decidedBy ?? "someone") at \(record.decidedAt.map(Self.time) ?? "earlier")."
            return Self.html(Self.page(title: "Already decided", session: session,
                                       body: "<h1>Already decided</h1><div class=\"warn\">\(Self.e(text))</div><p><a href=\"\(Self.e(back))\">Back</a></p>"),
                             status: .conflict)
        case .notAnApprover(let record, let who):
            return Self.html(Self.page(title: "Not an approver", session: session,
                                       body: "<h1>Not an approver</h1><div class=\"err\">\(Self.e("\(who) is not among the approvers of this request (\(record.settings.approvers.joined(separator: ", "))))."))</div>"),
                             status: .forbidden)
        }
    }

    func spend(_ request: Request, _ session: DashboardSessions.Session) async throws -> String {
        let byText = request.uri.queryParameters.get("by") ?? "day"
        let grouping: SpendReport.Grouping
        do { grouping = try SpendReport.Grouping.parse(byText) } catch { throw AppError(.invalidInput, "\(error)") }
        let now = Date()
        let report = try await api.reports.spendReport(since: now.addingTimeInterval(-30 * 86_400), until: now, workflow: nil, grouping: grouping, top: 10)
        let links = ["day", "model", "workflow"].map { $0 == byText ? "<b>\($0)</b>" : "<a href=\"/spend?by=\($0)\">\($0)</a>" }.joined(separator: " · ")
        return Self.page(title: "Spend", session: session, body: "<p class=\"sub\">Last 30 days, by \(links)</p>\n" + report.htmlBody)
    }

    /// The dead letters (issue 21): failed runs with their failing step and reason, filtered like
    /// `wflo runs --failed --since 1d --workflow W`, each with a Retry button (role submit).
    func failed(_ request: Request, _ session: DashboardSessions.Session) async throws -> String {
        let query = request.uri.queryParameters
        let sinceText = query.get("since") ?? "", workflow = query.get("workflow") ?? ""
        let letters = try await api.recovery.deadLetters(since: try ServerAPI.since(sinceText), workflow: workflow.isEmpty ? nil : workflow,
                                                         limit: ServerAPI.maxPage)
        var body = "<h1>Failed runs</h1>\n<p class=\"sub\">Runs that failed after their retries, with the step that failed first and why. "
            + "Retry continues a run from its failed steps: completed steps are replayed, never run or charged again.</p>\n"
            + "<form method=\"get\" action=\"/failed\" class=\"filters\"><label>Since <input name=\"since\" size=\"8\" placeholder=\"1d\" value=\"\(Self.e(sinceText))\"/></label> "
            + "<label>Workflow <input name=\"workflow\" value=\"\(Self.e(workflow))\"/></label> <button type=\"submit\">Filter</button></form>\n"
        if letters.isEmpty { return Self.page(title: "Failed", session: session, body: body + "<p>No failed runs match.</p>\n") }
        let canRetry = session.role.allows(.submit)
        var rows = ""
        for letter in letters {
            let run = letter.run
            let action = canRetry
                ? "<form method=\"post\" action=\"/runs/\(Self.e(run.id))/retry\" class=\"retry\"><input type=\"hidden\" name=\"csrf\" value=\"\(Self.e(session.csrf))\"/>"
                    + "<button type=\"submit\">Retry</button></form>"
                : "<span class=\"note\">needs submit</span>"
            rows += "<tr><td><a href=\"/runs/\(Self.e(run.id))\">\(Self.e(String(run.id.prefix(12))))</a></td><td>\(Self.e(run.workflowName))</td>"
                + "<td>\(Self.e(letter.failedStep ?? "(the run)"))</td><td class=\"reason\">\(Self.e(letter.reason ?? ""))</td>"
                + "<td>\(Self.e(Self.time(run.updatedAt)))</td><td>\(action)</td></tr>\n"
        }
        body += "<div class=\"scroll\"><table><thead><tr><th>run</th><th>workflow</th><th>failed step</th><th>reason</th><th>failed at (UTC)</th><th></th></tr></thead><tbody>\n"
            + rows + "</tbody></table></div>\n"
        if letters.count == ServerAPI.maxPage { body += "<p class=\"note\">The newest \(ServerAPI.maxPage) are shown; narrow with since or workflow.</p>\n" }
        return Self.page(title: "Failed", session: session, body: body)
    }

    /// `POST /runs/{id}/retry` from the Failed page: the session's CSRF token and role submit, then
    /// the retry starts as `POST /v1/runs/{id}/retry` starts it, and the run's page follows it.
    func retry(_ request: Request, id: String) async throws -> Response {
        let (session, _) = try await sessionAndForm(request)
        guard session.role.allows(.submit) else {
            return Self.html(Self.page(title: "Not allowed", session: session,
                                       body: "<h1>Not allowed</h1><div class=\"err\">\(Self.e("The token '\(session.name)' has the role \(session.role.rawValue); retrying needs submit or above."))</div>"),
                             status: .forbidden)
        }
        do {
            let started = try await ServerAPI.startRetry(id, budget: nil, recovery: api.recovery, store: api.store)
            return Response.redirect(to: "/runs/\(started["run_id"]?.stringValue ?? id)", type: .normal)
        } catch {
            let problem = APIError(error)
            let text = Self.page(title: "Cannot retry", session: session,
                                 body: "<h1>Cannot retry</h1><div class=\"err\">\(Self.e(problem.message))</div><p><a href=\"/failed\">Back to failed runs</a></p>")
            return Self.html(text, status: problem.status)
        }
    }

    // MARK: signed links (approval notifications)

    /// `GET /approvals/{id}/decide?decision=&expires=&sig=`: what the link would decide, and a
    /// button that posts it. A GET decides nothing: chat apps fetch links to preview them.
    func linkPreview(_ request: Request, id: String) async throws -> Response {
        let query = request.uri.queryParameters
        let decision = query.get("decision") ?? "", expires = query.get("expires") ?? "", sig = query.get("sig") ?? ""
        let links = try await ApprovalLinks.load(from: api.store)
        if let problem = links.problem(approvalID: id, decision: decision, expires: expires, signature: sig, now: Date()) {
            return Self.html(Self.page(title: "Link not valid", session: nil, body: "<h1>This link does not decide</h1><div class=\"err\">\(Self.e(problem))</div>"),
                             status: .forbidden)
        }
        let record = try await api.approvals.find(id)
        var body = "<h1>\(Self.e(record.message))</h1>\n<p class=\"sub\">run \(Self.e(record.runID)) · step \(Self.e(record.stepID)) · worst case \(Self.e(record.worstCase?.dollars() ?? "free"))</p>\n"
        if !record.details.isNull { body += "<pre>\(Self.e(record.details.encoded(sorted: true, pretty: true)))</pre>\n" }
        if record.status != .pending {
            body += "<div class=\"warn\">\(Self.e("Already \(record.status.rawValue) by \(record.decidedBy ?? "someone") at \(record.decidedAt.map(Self.time) ?? "earlier")."))</div>"
            return Self.html(Self.page(title: "Already decided", session: nil, body: body))
        }
        body += "<form method=\"post\" action=\"/approvals/\(Self.e(id))/decide\"><input type=\"hidden\" name=\"decision\" value=\"\(Self.e(decision))\"/>"
            + "<input type=\"hidden\" name=\"expires\" value=\"\(Self.e(expires))\"/><input type=\"hidden\" name=\"sig\" value=\"\(Self.e(sig))\"/>"
            + "<label>Comment <input name=\"comment\" size=\"40\"/></label> "
            + "<button type=\"submit\" class=\"\(decision == "approve" ? "approve" : "reject")\">\(decision == "approve" ? "Approve" : "Reject")</button></form>\n"
        return Self.html(Self.page(title: decision == "approve" ? "Approve" : "Reject", session: nil, body: body))
    }

    /// `POST /approvals/{id}/decide` with a link's fields: decides through ``ApprovalService/decide(link:decision:expires:signature:comment:)``.
    func linkDecide(_ form: [String: String], id: String) async throws -> Response {
        let comment = form["comment"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        let outcome = try await api.approvals.decide(link: id, decision: form["decision"] ?? "", expires: form["expires"] ?? "",
                                                     signature: form["sig"] ?? "", comment: comment)
        switch outcome {
        case .refused(let why):
            return Self.html(Self.page(title: "Link not valid", session: nil, body: "<h1>This link does not decide</h1><div class=\"err\">\(Self.e(why))</div>"),
                             status: .forbidden)
        case .decided(.recorded(let record)):
            return Self.html(Self.page(title: "Decided", session: nil,
                                       body: "<h1>\(Self.e(record.status.rawValue))</h1><p>Recorded as decided by \(Self.e(record.decidedBy ?? "")).</p>"))
        case .decided(.alreadyDecided(let record)):
            let text = "Already \(record.status.rawValue) by \(record.decidedBy ?? "someone") at \(record.decidedAt.map(Self.time) ?? "earlier")."
            return Self.html(Self.page(title: "Already decided", session: nil, body: "<h1>Already decided</h1><div class=\"warn\">\(Self.e(text))</div>"),
                             status: .conflict)
        case .decided(.notAnApprover(let record, _)):
            let text = "This request names its approvers (\(record.settings.approvers.joined(separator: ", "))): a link does not say who clicked it; decide in the dashboard."
            return Self.html(Self.page(title: "Approvers only", session: nil, body: "<h1>Approvers only</h1><div class=\"err\">\(Self.e(text))</div>"),
                             status: .forbidden)
        }
    }

    // MARK: pieces

    /// A request with what will run, its worst case, what the rest of the run may still spend,
    /// and the approve/reject form.
    static func approvalCard(_ request: ApprovalRecord, run: RunRecord, ledger: LedgerSnapshot, session: DashboardSessions.Session, back: String) -> String {
        var tiles: [(String, String)] = [("worst case of this step (USD)", request.worstCase?.dollars() ?? "free")]
        if let budget = run.budget {
            tiles.append(("the rest of the run: at most (USD)", (budget - ledger.committed).dollars()))
            tiles.append(("spent so far (USD)", ledger.settled.dollars()))
        } else {
            tiles.append(("the rest of the run", "no budget: unbounded"))
        }
        var card = "<div class=\"card\"><h3>\(e(request.message))</h3>\n<p class=\"sub\">run <a href=\"/runs/\(e(run.id))\">\(e(String(run.id.prefix(12))))</a> (\(e(run.workflowName))) · step \(e(request.stepID)) · requested \(e(time(request.requestedAt)))"
            + (request.settings.approvers.isEmpty ? "" : " · approvers: \(e(request.settings.approvers.joined(separator: ", ")))") + "</p>\n"
        card += ReportHTML.tiles(tiles)
        if !request.details.isNull { card += "<details open=\"open\"><summary>What will run</summary><pre>\(e(request.details.encoded(sorted: true, pretty: true)))</pre></details>\n" }
        card += "<form method=\"post\" action=\"/approvals/\(e(request.id))/decide\" class=\"decide\">"
            + "<input type=\"hidden\" name=\"csrf\" value=\"\(e(session.csrf))\"/><input type=\"hidden\" name=\"back\" value=\"\(e(back))\"/>"
            + "<label>Comment <input name=\"comment\" size=\"40\"/></label> "
            + "<button type=\"submit\" name=\"decision\" value=\"approve\" class=\"approve\">Approve</button> "
            + "<button type=\"submit\" name=\"decision\" value=\"reject\" class=\"reject\">Reject</button></form></div>\n"
        return card
    }

    static func loginForm(error: String?, csrf: String) -> String {
        "<h1>wflo</h1>\n" + (error.map { "<div class=\"err\">\(e($0))</div>\n" } ?? "")
            + "<form method=\"post\" action=\"/login\" class=\"login\"><input type=\"hidden\" name=\"csrf\" value=\"\(e(csrf))\"/><label>API token <input type=\"password\" name=\"token\" size=\"60\" autocomplete=\"off\"/></label> <button type=\"submit\">Log in</button></form>\n"
            + "<p class=\"note\">Make a token with <code>wflo tokens create NAME --role read|submit|approve|admin</code>.</p>\n"
    }

    static let css = """
        nav { display: flex; gap: 16px; align-items: center; border-bottom: 1px solid #d1d9e0; padding: 0 0 10px; margin-bottom: 16px; }
        nav .me { margin-left: auto; color: #59636e; }
        nav form { display: inline; }
        a { color: #0969da; }
        .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #eaeef2; }
        .badge.completed { background: #dafbe1; } .badge.failed, .badge.budget_exceeded, .badge.rejected { background: #ffebe9; }
        .badge.waiting_approval, .badge.running, .badge.queued { background: #fff8c5; }
        .card { border: 1px solid #d1d9e0; border-radius: 6px; padding: 8px 16px 12px; margin: 12px 0; }
        .card h3 { margin: 6px 0; font-size: 15px; }
        button { font: inherit; padding: 4px 12px; border-radius: 6px; border: 1px solid #d1d9e0; background: #f6f8fa; cursor: pointer; }
        button.approve { background: #1f883d; color: #ffffff; border-color: #1a7f37; }
        button.reject { background: #ffebe9; color: #cf222e; }
        pre { background: #f6f8fa; padding: 8px; border-radius: 6px; overflow-x: auto; max-height: 320px; }
        .filters { margin: 8px 0 12px; }
        form.retry { margin: 0; }
        td.reason { max-width: 480px; overflow-wrap: anywhere; }
        .note { color: #59636e; }
        """

    /// What `/dashboard.js` does where JavaScript runs: listens to the page's feed (`data-live` on
    /// its body: `/live`, or `/live?run=ID`) and reloads the page when a run or approval changes —
    /// unless a comment is being written, then it says the page changed instead. Pages work without it.
    static let script = """
        // wflo dashboard: live updates. A progressive enhancement: every page works without it.
        (function () {
          "use strict";
          var source = document.body.getAttribute("data-live");
          if (!source || !window.EventSource) { return; }
          var events = new EventSource(source);
          var scheduled = false;
          function writing() {
            var fields = document.querySelectorAll("input[name=comment]");
            for (var i = 0; i < fields.length; i++) { if (fields[i].value) { return true; } }
            return false;
          }
          function changed() {
            if (scheduled) { return; }
            if (writing()) {
              if (!document.getElementById("live-note")) {
                var note = document.createElement("div");
                note.id = "live-note";
                note.className = "warn";
                note.textContent = "This page changed since it was loaded; reload to see it.";
                document.body.insertBefore(note, document.body.firstChild);
              }
              return;
            }
            scheduled = true;
            window.setTimeout(function () { events.close(); window.location.reload(); }, 250);
          }
          events.addEventListener("run", changed);
          events.addEventListener("approval", changed);
        })();

        """

    /// The page around `body`: the reports' styles and the navigation; with `live` (a feed's path),
    /// the live-update script.
    static func page(title: String, session: DashboardSessions.Session?, body: String, live: String? = nil) -> String {
        pageParts(title: title, session: session, live: live) { head, nav, tail in head + nav + body + tail }
    }

    /// The page around a body: what comes before the navigation, the navigation (the session's),
    /// and what comes after the body.
    static func pageParts<Result>(title: String, session: DashboardSessions.Session?, live: String?,
                                          _ assemble: (_ head: String, _ nav: String, _ tail: String) -> Result) -> Result {
        var nav = ""
        if let session {
            nav = "<nav><b>wflo</b><a href=\"/\">Runs</a><a href=\"/approvals\">Approvals</a><a href=\"/failed\">Failed</a><a href=\"/spend\">Spend</a>"
                + "<span class=\"me\">\(e(session.name)) (\(e(session.role.rawValue)))</span>"
                + "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"\(e(session.csrf))\"/><button type=\"submit\">Log out</button></form></nav>\n"
        }
        let head = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
            + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
            + "<title>\(e(title)) · wflo</title>\n" + styleBlock
            + (live == nil ? "" : "<script src=\"/dashboard.js\" defer=\"defer\"></script>\n")
            + "</head>\n<body" + (live.map { " data-live=\"\(e($0))\"" } ?? "") + ">\n"
        return assemble(head, nav, "\n</body>\n</html>\n")
    }

    /// Every page's stylesheet, made once.
    private static let styleBlock = "<style>\n\(ReportHTML.css)\n\(css)\n</style>\n"

    /// The value of the request's cookie `name`, read from its `Cookie` header(s) without parsing
    /// every cookie (Hummingbird's `cookies` does: a large part of a kept page's cost).
    static func cookie(_ name: String, of request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let pair = pair.drop { $0 == " " }
                guard pair.hasPrefix(name), pair.dropFirst(name.count).first == "=" else { continue }
                return String(pair.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        html(ByteBuffer(string: text), status: status)
    }

    static func html(_ buffer: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'"],
                 body: ResponseBody(byteBuffer: buffer))
    }

    static func e(_ text: String) -> String { ReportHTML.escape(text) }

    static func badge(_ status: String) -> String { "<span class=\"badge \(e(status))\">\(e(status))</span>" }

    /// `2026-12-03 21:51:29` (UTC). One format style for every cell: making an ISO8601DateFormatter
    /// per date was 57% of a run page's CPU (perf, release; Benchmarks/server).
    static func time(_ date: Date) -> String { date.formatted(timeStyle) }

    static let timeStyle = Date.ISO8601FormatStyle(dateSeparator: .dash, dateTimeSeparator: .space, timeSeparator: .colon, timeZone: .gmt)
        .year().month().day().time(includingFractionalSeconds: false)

    static func url(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? text
    }

    /// An `application/x-www-form-urlencoded` body (at most 64 KiB) as a dictionary.
    static func form(_ request: Request) async throws -> [String: String] {
        var request = request
        let text = String(buffer: try await request.collectBody(upTo: 64 << 10))
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String { String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(part) }
            guard let key = parts.first else { continue }
            fields[decode(key)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    /// Compares two secrets in time independent of where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// Logged-in dashboard sessions, kept in the journal (``SessionRecord``), so they outlive the
/// server process: the browser holds the session id (256 random bits) in an HttpOnly cookie; the
/// journal holds only its SHA-256 and the hash of the token it was opened with (revoking that
/// token ends it). The session's CSRF token is derived from its id, so it survives a restart too
/// and is never stored.
public struct DashboardSessions: Sendable {
    public struct Session: Sendable {
        public var id: String
        public var tokenHash: String
        public var name: String
        public var role: TokenRole
        public var csrf: String
        public var expires: Date
    }

    public static let cookie = "wflo_session"
    /// Seconds a session lasts.
    public static let lifetime: Double = 12 * 3600
    let store: any JournalStore
    let now: @Sendable () -> Date

    public init(store: any JournalStore, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
    }

    /// Opens a session for `token` (and sweeps the expired ones).
    func start(token: APITokenRecord) async throws -> Session {
        let id = Self.random(), at = now()
        _ = try await store.deleteExpiredSessions(now: at)
        let record = SessionRecord(idHash: TokenService.hash(id), tokenHash: token.hash, createdAt: at, expiresAt: at.addingTimeInterval(Self.lifetime))
        try await store.createSession(record)
        return Session(id: id, tokenHash: token.hash, name: token.name, role: token.role, csrf: Self.csrf(of: id), expires: record.expiresAt)
    }

    /// The live session `id` is, with its token's name and role; nil when unknown, expired or its token revoked.
    func find(_ id: String) async throws -> Session? {
        // One read: the session with its token, on every page (the journal, not a cache: a logout or a revoke counts at once).
        guard id.count == 64, let (record, token) = try await store.liveSession(idHash: TokenService.hash(id), now: now()),
              token.revokedAt == nil else { return nil }
        return Session(id: id, tokenHash: token.hash, name: token.name, role: token.role, csrf: Self.csrf(of: id), expires: record.expiresAt)
    }

    func end(_ id: String) async throws { _ = try await store.deleteSession(idHash: TokenService.hash(id)) }

    /// The session's forms' CSRF token: a hash of its id under a fixed label (another site knows neither).
    static func csrf(of id: String) -> String { TokenService.hash("wflo-dashboard-csrf:" + id) }

    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return TokenService.hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
