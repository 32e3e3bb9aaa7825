import Crypto
import Foundation
import Synchronization
import WfloCore
import WfloDSL
import WfloProviders

/// Tells webhooks about each new approval request (a workflow's `notify:` and the server's
/// `--notify`), with signed one-click approve and reject links to the server.
///
/// Exactly once per request and URL: each pass files one outbox row per pending request and URL
/// (``ApprovalNotificationStore``; filing again adds nothing, whichever server or restart does it),
/// then claims due rows with a lease and POSTs them, with ``AlertDeliveryService``'s rules: a 2xx
/// answer is journaled as delivered and never posted again; another answer or no answer is counted
/// and tried again after ``AlertRetryPolicy``'s delay, until it is dead. The body is JSON with a
/// Slack-compatible `text` (what to decide, its worst case, both links).
public final class ApprovalNotificationService: Sendable {
    public struct Settings: Sendable {
        /// Webhooks told about every request, beside each workflow's own.
        public var urls: [String]
        /// Where people reach the server: the links start with it.
        public var baseURL: String
        public var requestTimeout: Duration
        public var retry: AlertRetryPolicy
        /// Seconds a signed link stays valid when its request has no deadline.
        public var linkLifetime: Double

        public init(urls: [String] = [], baseURL: String, requestTimeout: Duration = .seconds(5), retry: AlertRetryPolicy = AlertRetryPolicy(),
                    linkLifetime: Double = 7 * 86_400) {
            self.urls = urls
            self.baseURL = baseURL
            self.requestTimeout = requestTimeout
            self.retry = retry
            self.linkLifetime = linkLifetime
        }
    }

    private let store: any JournalStore
    private let http: any HTTPStepTransport
    public let settings: Settings
    public let links: DecisionLinks
    private let owner = "notify-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.lowercased())"
    private let now: @Sendable () -> Date
    /// Requests already filed by this process (a restart files them again; the outbox ignores repeats).
    private let filed = Mutex<Set<String>>([])

    public init(store: any JournalStore, http: any HTTPStepTransport, settings: Settings, links: DecisionLinks,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.http = http
        self.settings = settings
        self.links = links
        self.now = now
    }

    /// The journal's link-signing key, made by the first process that asks.
    public static func signingKey(store: any JournalStore) async throws -> String {
        var generator = SystemRandomNumberGenerator()
        let proposed = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        return try await store.journalSetting("approval_link_key", proposed: proposed)
    }

    /// The webhooks a run's workflow names in `notify:` (read from the run's journaled source).
    func workflowURLs(runID: String) async throws -> [String] {
        guard let run = try await store.run(id: runID) else { return [] }
        return (try? WorkflowParser().parse(yaml: run.workflowSource, file: run.workflowPath))?.notify ?? []
    }

    /// Files the outbox rows of requests not filed yet, then posts what is due. Never throws: what
    /// fails now is tried on the next pass.
    @discardableResult
    public func pass() async -> Int {
        var posted = 0
        if let pending = try? await store.approvals(runID: nil, status: .pending) {
            let fresh = filed.withLock { seen in pending.filter { !seen.contains($0.id) } }
            for request in fresh {
                guard let workflow = try? await workflowURLs(runID: request.runID) else { continue }
                let urls = Array(Set(workflow + settings.urls)).sorted()
                let rows = urls.map { ApprovalNotification(approvalID: request.id, runID: request.runID, stepID: request.stepID, url: $0, createdAt: now()) }
                if (try? await store.enqueueApprovalNotifications(rows)) != nil { _ = filed.withLock { $0.insert(request.id) } }
            }
        }
        let lease = Double(settings.requestTimeout.components.seconds) + 30
        guard let claimed = try? await store.claimApprovalNotifications(owner: owner, at: now(), lease: lease, limit: 16) else { return 0 }
        for notification in claimed where await deliver(notification) { posted += 1 }
        return posted
    }

    /// Posts one claimed notification and journals the outcome; true when it was delivered.
    private func deliver(_ notification: ApprovalNotification) async -> Bool {
        let body: JSONValue
        do {
            guard let request = try await store.approval(id: notification.approvalID), let run = try await store.run(id: notification.runID) else { return false }
            body = self.body(request: request, workflow: run.workflowName)
        } catch {
            return false
        }
        let exchange = HTTPExchange.Request(method: "POST", url: notification.url,
                                            headers: [HTTPExchange.Header("Content-Type", "application/json"), HTTPExchange.Header("User-Agent", "wflo-notify")],
                                            body: Array(body.encoded(sorted: true).utf8))
        let error: String
        do {
            let response = try await http.send(exchange, timeout: settings.requestTimeout, maximumResponseBytes: 64 << 10)
            if (200..<300).contains(response.status) {
                return (try? await store.markApprovalNotificationDelivered(approvalID: notification.approvalID, url: notification.url,
                                                                            owner: owner, at: now())) == true
            }
            error = "\(AlertWebhook.origin(of: notification.url)) answered HTTP \(response.status)"
        } catch is CancellationError {
            return false
        } catch let failure as ProviderError {
            error = "webhook \(AlertWebhook.origin(of: notification.url)): \(failure.message)"
        } catch let other {
            error = "webhook \(AlertWebhook.origin(of: notification.url)): \(other)"
        }
        let retryAt: Date
        switch settings.retry.after(failedAttempts: notification.attempts + 1, at: now()) {
        case .retry(let at): retryAt = at
        case .dead: retryAt = AlertRetryPolicy.neverAgain
        }
        _ = try? await store.markApprovalNotificationFailed(approvalID: notification.approvalID, url: notification.url, owner: owner,
                                                           error: error, retryAt: retryAt)
        return false
    }

    /// The JSON posted for `request`: what to decide, its worst case, the signed links, and `text` for Slack.
    public func body(request: ApprovalRecord, workflow: String) -> JSONValue {
        let expires = request.deadline ?? request.requestedAt.addingTimeInterval(settings.linkLifetime)
        let approve = links.url(base: settings.baseURL, approvalID: request.id, verdict: .approve, expires: expires)
        let reject = links.url(base: settings.baseURL, approvalID: request.id, verdict: .reject, expires: expires)
        let dashboard = settings.baseURL + "/runs/" + request.runID
        let cost = request.worstCase.map { "worst case \(AlertWebhook.dollars($0))" } ?? "no paid call"
        let text = "Approval needed in \(workflow) (run \(request.runID.prefix(12)), step \(request.stepID)): \(request.message) — \(cost). "
            + "Approve: \(approve) · Reject: \(reject) · Details: \(dashboard)"
        return [
            "event": "approval_requested",
            "approval_id": .string(request.id),
            "run_id": .string(request.runID),
            "step_id": .string(request.stepID),
            "workflow": .string(workflow),
            "message": .string(request.message),
            "worst_case_usd": request.worstCase.map { .string($0.exact()) } ?? .null,
            "approve_url": .string(approve),
            "reject_url": .string(reject),
            "dashboard_url": .string(dashboard),
            "expires_at": .string(expires.formatted(.iso8601)),
            "text": .string(text),
        ]
    }
}

/// Signed, expiring approve/reject links: HMAC-SHA256 over the request, the verdict and the expiry,
/// with the journal's key (so every server sharing the journal accepts them). Single use: the first
/// decision wins, and a decided request takes no other.
public struct DecisionLinks: Sendable {
    let key: [UInt8]

    public init(key: String) {
        self.key = Array(key.utf8)
    }

    public func signature(approvalID: String, verdict: ApprovalDecision.Verdict, expires: Int) -> String {
        let message = "\(approvalID)|\(verdict.rawValue)|\(expires)"
        return HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: key)).map { String(format: "%02x", $0) }.joined()
    }

    public func url(base: String, approvalID: String, verdict: ApprovalDecision.Verdict, expires: Date) -> String {
        let seconds = Int(expires.timeIntervalSince1970)
        return "\(base)/links/\(approvalID)/\(verdict.rawValue)?expires=\(seconds)&sig=\(signature(approvalID: approvalID, verdict: verdict, expires: seconds))"
    }

    /// Whether `sig` signs this request, verdict and expiry, and the expiry is after `now`.
    public func verify(approvalID: String, verdict: ApprovalDecision.Verdict, expires: Int, sig: String, now: Date) -> Bool {
        guard Double(expires) > now.timeIntervalSince1970 else { return false }
        let expected = Array(signature(approvalID: approvalID, verdict: verdict, expires: expires).utf8)
        let given = Array(sig.lowercased().utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
