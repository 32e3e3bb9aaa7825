import Foundation
import Hummingbird
import WfloApp
import WfloCore

/// The signed approve/reject links of approval notifications: `GET /links/{id}/{verdict}` shows
/// what will be decided and a button (a GET never decides: chat apps open links to preview
/// them); `POST` to the same address decides, once, as "signed link via notify".
struct DecisionLinkRoutes: Sendable {
    let api: ServerAPI
    let links: DecisionLinks

    static let decider = "signed link"

    func register<Context: RequestContext>(on router: some RouterMethods<Context>) {
        router.get("/links/:id/:verdict") { request, context in
            try await respond(request, context: context, decide: false)
        }
        router.post("/links/:id/:verdict") { request, context in
            try await respond(request, context: context, decide: true)
        }
    }

    func respond(_ request: Request, context: some RequestContext, decide: Bool) async throws -> Response {
        let id = try context.parameters.require("id")
        let verdictText = try context.parameters.require("verdict")
        var fields: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { fields[String(key)] = String(value) }
        if decide { for (key, value) in try await Dashboard.form(request) { fields[key] = value } }
        guard let verdict = ApprovalDecision.Verdict(rawValue: verdictText), verdict != .timeout,
              let expires = fields["expires"].flatMap({ Int($0) }), let sig = fields["sig"],
              links.verify(approvalID: id, verdict: verdict, expires: expires, sig: sig, now: Date()) else {
            return Dashboard.html(Dashboard.page(title: "Link not valid", session: nil,
                                                 body: "<h1>This link is not valid</h1><div class=\"err\">The link is damaged or has expired. Decide in the dashboard instead.</div>"),
                                  status: .forbidden)
        }
        let record = try await api.approvals.find(id)
        let run = try await api.store.run(id: record.runID)
        let what = "<p class=\"sub\">run \(Dashboard.e(record.runID)) (\(Dashboard.e(run?.workflowName ?? ""))) · step \(Dashboard.e(record.stepID)) · worst case \(Dashboard.e(record.worstCase?.dollars() ?? "free"))</p>"
        if record.status != .pending {
            let text = "Already \(record.status.rawValue) by \(record.decidedBy ?? "someone") at \(record.decidedAt.map(Dashboard.time) ?? "earlier"): a link decides once."
            return Dashboard.html(Dashboard.page(title: "Already decided", session: nil, body: "<h1>\(Dashboard.e(record.message))</h1>\(what)<div class=\"warn\">\(Dashboard.e(text))</div>"),
                                  status: decide ? .conflict : .ok)
        }
        if !decide {
            let action = "/links/\(Dashboard.e(id))/\(verdict.rawValue)"
            let button = verdict == .approve ? "<button type=\"submit\" class=\"approve\">Approve</button>" : "<button type=\"submit\" class=\"reject\">Reject</button>"
            let body = "<h1>\(Dashboard.e(record.message))</h1>\(what)<form method=\"post\" action=\"\(action)\"><input type=\"hidden\" name=\"expires\" value=\"\(expires)\"/>"
                + "<input type=\"hidden\" name=\"sig\" value=\"\(Dashboard.e(sig))\"/><label>Comment <input name=\"comment\" size=\"40\"/></label> \(button)</form>"
            return Dashboard.html(Dashboard.page(title: verdict == .approve ? "Approve" : "Reject", session: nil, body: body))
        }
        let comment = fields["comment"].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        switch try await api.approvals.decide(record, verdict: verdict, comment: comment, by: Self.decider, channel: "notify") {
        case .recorded(let decided):
            return Dashboard.html(Dashboard.page(title: "Decided", session: nil,
                                                 body: "<h1>\(Dashboard.e(decided.status.rawValue.capitalized))</h1>\(what)<p>Recorded as \(Dashboard.e(decided.decidedBy ?? "")).</p>"))
        case .alreadyDecided(let decided):
            let text = "Already \(decided.status.rawValue) by \(decided.decidedBy ?? "someone")."
            return Dashboard.html(Dashboard.page(title: "Already decided", session: nil, body: "<h1>Already decided</h1><div class=\"warn\">\(Dashboard.e(text))</div>"),
                                  status: .conflict)
        case .notAnApprover(let decided, _):
            let text = "This request names its approvers (\(decided.settings.approvers.joined(separator: ", "))): decide it in the dashboard, logged in as one of them."
            return Dashboard.html(Dashboard.page(title: "Approvers only", session: nil, body: "<h1>Approvers only</h1><div class=\"err\">\(Dashboard.e(text))</div>"),
                                  status: .forbidden)
        }
    }
}
