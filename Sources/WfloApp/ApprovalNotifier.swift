import Crypto
import Foundation
import WfloCore
import WfloProviders

/// Signed approve/reject links for approval notifications.
///
/// A link is `BASE/approvals/ID/decide?decision=approve|reject&expires=UNIX&sig=HEX`, where `sig` is
/// the HMAC-SHA256 of `ID:DECISION:EXPIRES` under the journal's link key (random, made once per
/// journal, ``JournalSettingName/approvalLinkKey``), so any process on the journal can sign and the
/// server can check without a table of links. A link is single-use because a request is decided
/// once: the first decision wins, a later click is told who decided and when. It ends at the
/// request's deadline, or a week after the request when it has none.
///
/// The server's page for a link asks for a click (a POST) before it decides, so a chat app that
/// fetches a link to preview it decides nothing.
public struct ApprovalLinks: Sendable {
    /// How long a link lasts when its request has no deadline.
    public static let defaultLifetime: TimeInterval = 7 * 24 * 3600
    /// Recorded as the decider of a decision made through a link.
    public static let decider = "signed link (approval notification)"

    private let key: [UInt8]
    /// The server's base URL (`wflo server --base-url`), without a trailing slash; nil: links cannot be made.
    public let baseURL: String?

    public init(key: [UInt8], baseURL: String?) {
        self.key = key
        self.baseURL = baseURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// The journal's links: its key (made on first use) and its server's base URL.
    public static func load(from store: any JournalStore) async throws -> ApprovalLinks {
        let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        let stored = try await store.journalSetting(JournalSettingName.approvalLinkKey, orInsert: fresh)
        guard let key = Data(base64Encoded: stored), key.count >= 16 else {
            throw AppError(.invalidInput, "the journal's approval link key (\(JournalSettingName.approvalLinkKey)) is unreadable")
        }
        return ApprovalLinks(key: Array(key), baseURL: try await store.journalSetting(JournalSettingName.serverBaseURL))
    }

    /// When a link to `request` stops working.
    public static func expiry(of request: ApprovalRecord) -> Date {
        request.deadline ?? request.requestedAt.addingTimeInterval(defaultLifetime)
    }

    /// The signature of a link's parts, as lowercase hex.
    public func signature(approvalID: String, verdict: ApprovalDecision.Verdict, expires: Int) -> String {
        let message = Data("\(approvalID):\(verdict.rawValue):\(expires)".utf8)
        return HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)).map { String(format: "%02x", $0) }.joined()
    }

    /// The link that makes `verdict` on `request`, or nil without a base URL.
    public func url(for request: ApprovalRecord, verdict: ApprovalDecision.Verdict) -> String? {
        guard let baseURL else { return nil }
        let expires = Int(Self.expiry(of: request).timeIntervalSince1970)
        return "\(baseURL)/approvals/\(request.id)/decide?decision=\(verdict.rawValue)&expires=\(expires)"
            + "&sig=\(signature(approvalID: request.id, verdict: verdict, expires: expires))"
    }

    /// Why a link's parts do not make a decision (nil: they do): a bad signature, an unknown
    /// decision, or a link past its end.
    public func problem(approvalID: String, decision: String, expires: String, signature given: String, now: Date) -> String? {
        guard let verdict = ApprovalDecision.Verdict(rawValue: decision), verdict == .approve || verdict == .reject else {
            return "the link's decision '\(decision)' is neither approve nor reject"
        }
        guard let seconds = Int(expires) else { return "the link's expiry '\(expires)' is not a time" }
        let expected = Array(signature(approvalID: approvalID, verdict: verdict, expires: seconds).utf8)
        let presented = Array(given.lowercased().utf8)
        // Compared in constant time: how long a wrong signature takes to refuse says nothing about the right one.
        var difference = UInt8(expected.count == presented.count ? 0 : 1)
        for (index, byte) in expected.enumerated() { difference |= byte ^ (index < presented.count ? presented[index] : 0) }
        guard difference == 0 else { return "the link's signature does not match: it was altered, or made for another journal" }
        guard now.timeIntervalSince1970 < Double(seconds) else { return "the link expired at \(Date(timeIntervalSince1970: Double(seconds)).formatted(.iso8601))" }
        return nil
    }
}

/// What an approval notification posts, and the Slack-compatible sentence in it.
///
/// JSON with `type: "approval_requested"`, `approval_id`, `run_id`, `workflow`, `step_id`, `message`,
/// `details` (what will run), `worst_case_usd` (exact decimal string or null), `requested_at`,
/// `expires_at`, `approve_url` and `reject_url` (signed links, null until `wflo server --base-url` is
/// set), and `text`, which a Slack incoming webhook shows as the message (links in Slack's `<url|label>` form).
public enum ApprovalNotificationBody {
    public static func body(for request: ApprovalRecord, workflow: String, links: ApprovalLinks) -> JSONValue {
        let approve = links.url(for: request, verdict: .approve)
        let reject = links.url(for: request, verdict: .reject)
        return [
            "type": "approval_requested",
            "approval_id": .string(request.id),
            "run_id": .string(request.runID),
            "workflow": .string(workflow),
            "step_id": .string(request.stepID),
            "message": .string(request.message),
            "details": request.details,
            "worst_case_usd": request.worstCase.map { .string($0.exact()) } ?? .null,
            "requested_at": .string(request.requestedAt.formatted(.iso8601)),
            "expires_at": .string(ApprovalLinks.expiry(of: request).formatted(.iso8601)),
            "approve_url": approve.map(JSONValue.string) ?? .null,
            "reject_url": reject.map(JSONValue.string) ?? .null,
            "text": .string(text(for: request, workflow: workflow, approve: approve, reject: reject)),
        ]
    }

    /// "Approval needed in workflow publish (run 3f2a…, step post): <message> Worst case $0.12. <approve|Approve> · <reject|Reject>"
    public static func text(for request: ApprovalRecord, workflow: String, approve: String?, reject: String?) -> String {
        var text = "Approval needed in workflow \(workflow) (run \(request.runID), step \(request.stepID)): \(request.message)"
        if let worstCase = request.worstCase { text += " Worst case \(AlertWebhook.dollars(worstCase))." }
        if let approve, let reject {
            text += " <\(approve)|Approve> · <\(reject)|Reject>"
        } else {
            text += " Decide with `wflo approve \(request.id)` or `wflo reject \(request.id)`."
        }
        return text
    }
}

/// Delivers the approval outbox: each new approval request to its webhooks (the workflow's
/// `notify:` and the journal's hooks), exactly as ``AlertDeliveryService`` delivers budget alerts —
/// claimed under a lease, POSTed with a bounded timeout, journaled delivered on a 2xx answer, else
/// retried on the ``AlertRetryPolicy`` until dead. Never throws and never slows a run: it is a pass
/// of the alert deliverer, which runs beside runs and workers.
///
/// Exactly once per request and webhook: the outbox row is written in the request's transaction
/// (one per request and webhook, a unique key), and a row answered 2xx is never posted again. A
/// receiver sees a repeat only when an answer was lost; `approval_id` lets it drop the repeat.
public struct ApprovalNotifier: Sendable {
    let store: any JournalStore
    let http: any HTTPStepTransport
    let settings: AlertDeliveryService.Settings
    let owner: String
    let now: @Sendable () -> Date

    /// The outcome of one notification's attempt, for logs and tests.
    public enum Outcome: Sendable, Hashable {
        case delivered(notificationID: String, approvalID: String)
        case failed(notificationID: String, approvalID: String, error: String, retryAt: Date)
        case dead(notificationID: String, approvalID: String, error: String)
    }

    /// One pass: claims and posts due notifications until none is left (at most 10 claims).
    public func deliverDue() async -> [Outcome] {
        await OutboxPost.drain(batch: settings.batch, claim: { () -> [(ApprovalNotification, ApprovalLinks)]? in
            guard let claimed = try? await store.claimDueNotifications(owner: owner, at: now(), lease: settings.lease, limit: settings.batch),
                  !claimed.isEmpty,
                  // Read once per claim, only when one is due: the key is made on first use, the base URL is the server's setting.
                  let links = try? await ApprovalLinks.load(from: store) else { return nil }
            return claimed.map { ($0, links) }
        }, deliver: { item in await self.deliver(item.0, links: item.1) })
    }

    private func deliver(_ notification: ApprovalNotification, links: ApprovalLinks) async -> Outcome? {
        guard let request = try? await store.approval(id: notification.approvalID) else { return nil }
        let workflow = (try? await store.run(id: notification.runID))?.workflowName ?? "?"
        let body = ApprovalNotificationBody.body(for: request, workflow: workflow, links: links)
        let error: String
        switch await OutboxPost.send(body, to: notification.webhook, userAgent: "wflo-approvals", http: http, timeout: settings.requestTimeout) {
        case .delivered:
            guard (try? await store.markNotificationDelivered(id: notification.id, owner: owner, at: now())) == true else { return nil }
            return .delivered(notificationID: notification.id, approvalID: notification.approvalID)
        case .failed(let why):
            error = why
        case .abandoned:
            return nil
        }
        let at = now()
        switch settings.retry.after(failedAttempts: notification.attempts + 1, at: at) {
        case .retry(let retryAt):
            guard (try? await store.markNotificationFailed(id: notification.id, owner: owner, error: error, retryAt: retryAt, at: at)) == true
            else { return nil }
            return .failed(notificationID: notification.id, approvalID: notification.approvalID, error: error, retryAt: retryAt)
        case .dead:
            guard (try? await store.markNotificationFailed(id: notification.id, owner: owner, error: error, retryAt: AlertRetryPolicy.neverAgain,
                                                           at: at)) == true else { return nil }
            return .dead(notificationID: notification.id, approvalID: notification.approvalID, error: error)
        }
    }
}
