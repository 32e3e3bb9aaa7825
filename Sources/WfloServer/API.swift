import Foundation
import HTTPTypes
import Hummingbird
import WfloApp
import WfloEngine
import WfloCore
import WfloReports

/// The `/v1` JSON API, `/healthz`, `/metrics` and `/openapi.json`. Each handler checks the caller's
/// role, calls a WfloApp service and shapes its answer (``JSONShapes``): no rule of its own.
public struct ServerAPI: Sendable {
    public let store: any JournalStore
    public let runs: RunService
    public let approvals: ApprovalService
    public let reports: ReportService
    public let tokens: TokenService
    /// Starts driving a run here (resume); the server's runs otherwise go through its worker loops.
    let drive: @Sendable (_ run: String, _ budget: Money?) -> Void
    var auth: Authenticator { Authenticator(tokens: tokens, kept: kept) }
    /// Reads kept while the journal is unchanged (``JournalReadCache``), shared by the dashboard.
    let kept = JournalReadCache()
    /// Dead letters and retry (issue 21), over the same runs.
    var recovery: RecoveryService { RecoveryService(runs: runs) }
    /// Webhook triggers' intake (`POST /hooks/{name}`); nil: the route answers 404.
    public var webhooks: WebhookService?
    /// More Prometheus families for `/metrics` (the process's own telemetry); empty by default.
    public var extraMetrics: @Sendable () -> String = { "" }
    /// The only folder `POST /v1/runs {"path": …}` reads workflow files from (`--workflows-dir`);
    /// by default the current directory when the API was made.
    public var workflowsFolder: String = FileManager.default.currentDirectoryPath

    /// - Parameters:
    ///   - runs: drives runs with approvals not waited for (``ApprovalWaitMode/noWait``): a run that
    ///     needs a person ends `waiting_approval`, and a worker continues it once decided.
    public init(store: any JournalStore, runs: RunService, approvals: ApprovalService, reports: ReportService, tokens: TokenService) {
        self.store = store
        self.runs = runs
        self.approvals = approvals
        self.reports = reports
        self.tokens = tokens
        drive = { [runs] run, budget in
            Task { _ = try? await runs.resume(run, budget: budget) }
        }
    }

    /// The largest webhook body read (1 MiB); a larger one is refused.
    public static let maxHookBody = 1 << 20

    /// The largest page of runs one call returns.
    public static let maxPage = 200
    /// The page size when `limit` is not given.
    public static let defaultPage = 50

    /// Adds the API's routes to `router`.
    public func register<Context: RequestContext>(on router: some RouterMethods<Context>) {
        router.get("/healthz") { _, _ in JSONResponse.make(["status": "ok"]) }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        router.get("/metrics") { request, _ in
            _ = try await auth.require(.read, request)
            let text = try await ServerMetrics.prometheusText(store: store) + extraMetrics()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        // A webhook trigger's deliveries (issue 21): no token — the trigger's secret signs the body.
        router.post("/hooks/:name") { request, context in
            let name = try context.parameters.require("name")
            guard let webhooks else { throw APIError(.notFound, "not_found", "no webhook trigger '\(name)' is deployed on this server") }
            let body = try await request.body.collect(upTo: Self.maxHookBody)
            let delivery = request.headers[HTTPTypes.HTTPField.Name("X-Wflo-Delivery")!] ?? request.headers[HTTPTypes.HTTPField.Name("Idempotency-Key")!]
            switch try await webhooks.deliver(hook: name, body: Data(buffer: body), signature: request.headers[HTTPTypes.HTTPField.Name("X-Wflo-Signature")!],
                                              deliveryID: delivery) {
            case .accepted(let runID): return JSONResponse.make(["run_id": .string(runID)], status: .accepted)
            case .duplicate(let runID): return JSONResponse.make(["run_id": .string(runID)], status: .ok)
            case .unauthorized(let message): throw APIError(.unauthorized, "unauthorized", message)
            case .notFound(let message): throw APIError(.notFound, "not_found", message)
            case .invalid(let message): throw APIError(.badRequest, "invalid_input", message)
            }
        }
        router.post("/v1/runs") { request, _ in try await submit(request) }
        router.get("/v1/runs") { request, _ in try await listRuns(request) }
        router.get("/v1/runs/:id") { request, context in
            // The stamp first: what is read after it is kept for it, and served while it holds.
            let stamp = try await store.changeStamp()
            _ = try await auth.require(.read, request, stamp: stamp)
            let id = try context.parameters.require("id")
            if let body: JSONResponse.Body = kept.value("run:" + id, at: stamp) { return JSONResponse.conditional(body, request: request) }
            let (value, settled) = try await runJSON(id)
            let body = JSONResponse.Body(value)
            if settled { kept.keep("run:" + id, body, at: stamp) }
            return JSONResponse.conditional(body, request: request)
        }
        router.get("/v1/runs/:id/report") { request, context in
            _ = try await auth.require(.read, request)
            return JSONResponse.make(try await reports.runReport(try context.parameters.require("id")).json)
        }
        router.post("/v1/runs/:id/cancel") { request, context in
            let token = try await auth.require(.submit, request)
            let body = try await JSONResponse.object(request)
            let result = try await runs.cancel(try context.parameters.require("id"), by: "\(token.name) via api",
                                               reason: body["reason"]?.stringValue, wait: 10)
            return JSONResponse.make(try await runJSON(result.runID).0)
        }
        router.post("/v1/runs/:id/resume") { request, context in try await resume(request, run: try context.parameters.require("id")) }
        router.post("/v1/runs/:id/retry") { request, context in try await retry(request, run: try context.parameters.require("id")) }
        router.get("/v1/dead-letters") { request, _ in
            _ = try await auth.require(.read, request)
            let query = request.uri.queryParameters
            let since = try Self.since(query.get("since"))
            var limit = Self.defaultPage
            if let given = query.get("limit") {
                guard let value = Int(given), (1...Self.maxPage).contains(value) else {
                    throw APIError(.unprocessableContent, "invalid_input", "limit '\(given)': give 1 to \(Self.maxPage)")
                }
                limit = value
            }
            let workflow = query.get("workflow").flatMap { $0.isEmpty ? nil : $0 }
            let letters = try await recovery.deadLetters(since: since, workflow: workflow, limit: limit)
            return JSONResponse.make(["dead_letters": .array(letters.map(RecoveryService.json))])
        }
        router.get("/v1/events") { request, _ in
            _ = try await auth.require(.read, request)
            return EventFeed(store: store, reports: reports).response(timeout: try Self.streamTimeout(request.uri.queryParameters.get("timeout")))
        }
        router.get("/v1/approvals") { request, _ in
            _ = try await auth.require(.read, request)
            let status = request.uri.queryParameters.get("status") ?? "pending"
            let records: [ApprovalRecord]
            switch status {
            case "pending": records = try await approvals.list(run: request.uri.queryParameters.get("run"), includeDecided: false)
            case "all": records = try await approvals.list(run: request.uri.queryParameters.get("run"), includeDecided: true)
            default:
                guard let wanted = ApprovalStatus(rawValue: status) else {
                    throw APIError(.unprocessableContent, "invalid_input", "status '\(status)': use pending, approved, rejected, expired or all")
                }
                records = try await approvals.list(run: request.uri.queryParameters.get("run"), includeDecided: true).filter { $0.status == wanted }
            }
            return JSONResponse.make(["approvals": .array(records.map(JSONShapes.approval))])
        }
        router.post("/v1/approvals/:id/decision") { request, context in
            let token = try await auth.require(.approve, request)
            return try await decide(request, reference: try context.parameters.require("id"), token: token)
        }
    }

    // MARK: runs

    /// The run's JSON, and whether it holds until the journal changes: not for a `running` run,
    /// whose shown status follows its driver's heartbeat and the clock.
    func runJSON(_ reference: String) async throws -> (JSONValue, settled: Bool) {
        // A whole id (what clients send back) is one read; anything else is resolved as a prefix first.
        var run = try await store.run(id: reference)
        if run == nil {
            let id = try await runs.resolveRun(reference)
            run = try await store.run(id: id)
        }
        guard let run else { throw AppError(.notFound, "run \(reference) not found") }
        return (JSONShapes.run(try await reports.listing(of: run)), run.status != .running)
    }

    func submit(_ request: Request) async throws -> Response {
        _ = try await auth.require(.submit, request)
        let body = try await JSONResponse.object(request)
        let workflow: RunService.Workflow
        switch (body["workflow"], body["path"]) {
        case (let text?, nil):
            guard let source = text.stringValue else { throw APIError(.unprocessableContent, "invalid_input", "workflow must be the workflow's YAML text") }
            workflow = try runs.load(source: source, file: "workflow.yaml", inside: workflowsFolder)
        case (nil, let path?):
            guard let path = path.stringValue, !path.isEmpty else {
                throw APIError(.unprocessableContent, "invalid_input", "path must be a file path on the server, inside its workflows folder \(workflowsFolder)")
            }
            workflow = try runs.load(file: path, inside: workflowsFolder)
        case (nil, nil):
            throw APIError(.unprocessableContent, "invalid_input", "give the workflow: \"workflow\": \"<YAML text>\" or \"path\": \"file on the server\"")
        default:
            throw APIError(.unprocessableContent, "invalid_input", "give either \"workflow\" or \"path\", not both")
        }
        let inputs = try RunService.bindInputs(workflow.definition, object: body["inputs"] ?? .object([:]))
        let budgetText: String?
        switch body["budget_usd"] {
        case nil, .null?: budgetText = nil
        case .string(let text)?: budgetText = text
        case .number(let text)?: budgetText = text
        default: throw APIError(.unprocessableContent, "invalid_input", "budget_usd must be a decimal string such as \"0.50\"")
        }
        let budget = try RunService.budget(given: budgetText, unlimited: false, definition: workflow.definition, field: "budget_usd")
        var tags: [String: String] = [:]
        if let given = body["tags"], !given.isNull {
            guard let object = given.objectValue else { throw APIError(.unprocessableContent, "invalid_input", "tags must be an object of string values") }
            for (key, value) in object {
                guard let text = value.stringValue, !key.isEmpty else {
                    throw APIError(.unprocessableContent, "invalid_input", "tags.\(key) must be a string (tags are KEY: VALUE text)")
                }
                tags[key] = text
            }
        }
        var key: String?
        if let given = body["idempotency_key"], !given.isNull {
            guard let text = given.stringValue, (1...200).contains(text.count) else {
                throw APIError(.unprocessableContent, "invalid_input", "idempotency_key must be a string of 1-200 characters")
            }
            key = text
        }
        // A caller's W3C trace context (the standard header): the run's trace hangs under it, as `wflo submit --traceparent`.
        let traceparent: String?
        do {
            traceparent = try RunTelemetry.checkedTraceparent(request.headers[HTTPField.Name("traceparent")!], origin: "header traceparent")
        } catch {
            throw APIError(.unprocessableContent, "invalid_input", error.message)
        }
        let outcome = try await runs.submit(workflow, inputs: inputs, budget: budget, idempotencyKey: key, tags: tags, traceparent: traceparent)
        var answer: [String: JSONValue] = ["run_id": .string(outcome.run.id), "status": .string(outcome.run.status.rawValue)]
        if case .existing = outcome {
            answer["existing"] = true
            return JSONResponse.make(.object(answer), status: .ok)
        }
        return JSONResponse.make(.object(answer), status: .created)
    }

    func listRuns(_ request: Request) async throws -> Response {
        _ = try await auth.require(.read, request)
        let query = request.uri.queryParameters
        var page = RunPageQuery(limit: Self.defaultPage)
        if let status = query.get("status"), !status.isEmpty {
            guard let value = RunStatus(rawValue: status) else {
                throw APIError(.unprocessableContent, "invalid_input",
                               "status '\(status)': use one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            page.status = value
        }
        if let workflow = query.get("workflow"), !workflow.isEmpty { page.workflow = workflow }
        if let limit = query.get("limit") {
            guard let value = Int(limit), (1...Self.maxPage).contains(value) else {
                throw APIError(.unprocessableContent, "invalid_input", "limit '\(limit)': give 1 to \(Self.maxPage)")
            }
            page.limit = value
        }
        if let cursor = query.get("cursor"), !cursor.isEmpty {
            guard let value = RunPageCursor(encoded: cursor) else {
                throw APIError(.unprocessableContent, "invalid_input", "cursor '\(cursor)' is not one this API gave; pass next_cursor from the page before")
            }
            page.after = value
        }
        // One more than asked says whether a next page exists.
        var asked = page
        asked.limit = page.limit + 1
        let found = try await store.runPage(asked)
        let shown = Array(found.prefix(page.limit))
        var items: [JSONValue] = []
        for run in shown { items.append(JSONShapes.run(try await reports.listing(of: run))) }
        let next: JSONValue = found.count > page.limit ? .string(RunPageCursor(after: shown[shown.count - 1]).encoded) : .null
        return JSONResponse.make(["runs": .array(items), "next_cursor": next])
    }

    func resume(_ request: Request, run reference: String) async throws -> Response {
        _ = try await auth.require(.submit, request)
        let body = try await JSONResponse.object(request)
        let id = try await runs.resolveRun(reference)
        guard let run = try await store.run(id: id) else { throw AppError(.notFound, "run \(reference) not found") }
        if run.status == .completed {
            throw APIError(.conflict, "already_completed", "run \(id) has completed; there is nothing to resume")
        }
        if let driver = try await store.driver(runID: id), !driver.isGone(now: Date()) {
            throw APIError(.conflict, "still_running", "run \(id) is being driven by \(driver.owner); it goes on by itself")
        }
        var budget: Money?
        if let given = body["budget_usd"], !given.isNull {
            budget = try RunService.parseBudget(given.stringValue ?? given.encoded(), field: "budget_usd")
        }
        drive(id, budget)
        return JSONResponse.make(["run_id": .string(id), "status": "running"], status: .accepted)
    }

    /// An event stream's `?timeout=` (seconds); nil: until the client leaves.
    static func streamTimeout(_ given: String?) throws -> Double? {
        guard let given else { return nil }
        guard let seconds = Double(given), seconds > 0, seconds <= 86_400 else {
            throw APIError(.unprocessableContent, "invalid_input", "timeout '\(given)': give seconds from 0 to 86400 (none: until the client leaves)")
        }
        return seconds
    }

    /// `since` as `wflo runs --failed --since` reads it (30m, 12h, 7d, 2w, or a date); nil when not given.
    static func since(_ text: String?, now: Date = Date()) throws -> Date? {
        guard let text, !text.isEmpty else { return nil }
        do {
            return try ReportSince.parse(text, now: now)
        } catch let error as ReportError {
            throw APIError(.unprocessableContent, "invalid_input", "since: " + error.message.replacingOccurrences(of: "--since", with: "since"))
        }
    }

    /// `POST /v1/runs/{id}/retry`: continues a failed run from its failed steps here (as `wflo retry
    /// RUN`), answering 202 with what it runs and their worst case; 422 for a run that did not fail.
    func retry(_ request: Request, run reference: String) async throws -> Response {
        _ = try await auth.require(.submit, request)
        let body = try await JSONResponse.object(request)
        var budget: Money?
        if let given = body["budget_usd"], !given.isNull {
            budget = try RunService.parseBudget(given.stringValue ?? given.encoded(), field: "budget_usd")
        }
        let answer = try await Self.startRetry(reference, budget: budget, recovery: recovery, store: store)
        return JSONResponse.make(answer, status: .accepted)
    }

    /// Checks that `reference` is a failed run nobody drives, starts its retry in this process, and
    /// returns the API's answer (the run, the steps it runs again, their worst case). The dashboard's Retry calls it too.
    static func startRetry(_ reference: String, budget: Money?, recovery: RecoveryService, store: any JournalStore) async throws -> JSONValue {
        let plan = try await recovery.retryPlan(reference)
        if let driver = try await store.driver(runID: plan.runID), !driver.isGone(now: Date()) {
            throw APIError(.conflict, "still_running", "run \(plan.runID) is being driven by \(driver.owner); it goes on by itself")
        }
        let id = plan.runID
        Task { _ = try? await recovery.retry(id, budget: budget) }
        return ["run_id": .string(id), "status": "running",
                "retrying_steps": .array(plan.steps.map { .string($0.stepID) }),
                "worst_case_usd": .string(plan.worstCase.description), "unbounded": .bool(plan.unbounded)]
    }

    // MARK: approvals

    func decide(_ request: Request, reference: String, token: APITokenRecord) async throws -> Response {
        let body = try await JSONResponse.object(request)
        let verdict: ApprovalDecision.Verdict
        switch body["decision"]?.stringValue {
        case "approve": verdict = .approve
        case "reject": verdict = .reject
        default: throw APIError(.unprocessableContent, "invalid_input", "decision must be \"approve\" or \"reject\"")
        }
        var comment: String?
        if let given = body["comment"], !given.isNull {
            guard let text = given.stringValue else { throw APIError(.unprocessableContent, "invalid_input", "comment must be a string") }
            comment = text
        }
        return try Self.answer(try await approvals.decide(reference, verdict: verdict, comment: comment, by: token.name, channel: "api"))
    }

    /// A decision's outcome as the API answers it: 200 with the request, 409 naming the first
    /// decision (who, when), 403 for someone not among the approvers.
    static func answer(_ outcome: ApprovalService.Outcome) throws -> Response {
        switch outcome {
        case .recorded(let record):
            return JSONResponse.make(["approval": JSONShapes.approval(record)])
        case .alreadyDecided(let record):
            let who = record.decidedBy ?? "someone"
            let when = record.decidedAt.map { JSONShapes.time($0).stringValue ?? "" } ?? "earlier"
            throw APIError(.conflict, "already_decided", "approval \(record.id) was already \(record.status.rawValue) by \(who) at \(when)",
                           details: ["decided_by": .string(who), "decided_at": record.decidedAt.map(JSONShapes.time) ?? .null,
                                     "status": .string(record.status.rawValue)])
        case .notAnApprover(let record, let who):
            throw APIError(.forbidden, "not_an_approver",
                           "\(who) is not among the approvers of \(record.id) (\(record.settings.approvers.joined(separator: ", ")))")
        }
    }
}
