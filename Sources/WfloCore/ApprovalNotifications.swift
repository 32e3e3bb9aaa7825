import Foundation

/// One message of the approval outbox: a new approval request to announce to one webhook.
///
/// Written in the transaction that files the request (``ApprovalStore/requestApproval(_:stepType:notify:)``),
/// one per request and webhook — the workflow's `notify:` and the journal's hooks (`wflo notify add`) —
/// so every request is announced exactly once per webhook, whichever process filed it and however
/// often the step asks again after a restart. Delivered (POST, retries) by the notification deliverer.
public struct ApprovalNotification: Sendable, Hashable {
    public var id: String
    public var approvalID: String
    public var runID: String
    public var webhook: String
    public var createdAt: Date
    /// Delivery attempts made so far.
    public var attempts: Int
    public var deliveredAt: Date?
    public var lastError: String?
    /// When the deliverer may try again (nil: at once).
    public var nextAttemptAt: Date?

    public init(id: String, approvalID: String, runID: String, webhook: String, createdAt: Date, attempts: Int = 0,
                deliveredAt: Date? = nil, lastError: String? = nil, nextAttemptAt: Date? = nil) {
        self.id = id
        self.approvalID = approvalID
        self.runID = runID
        self.webhook = webhook
        self.createdAt = createdAt
        self.attempts = attempts
        self.deliveredAt = deliveredAt
        self.lastError = lastError
        self.nextAttemptAt = nextAttemptAt
    }

    /// Makes an outbox id: 16 lowercase hex digits.
    public static func makeID() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))
    }

    /// The webhooks a new request is announced to: `notify` (the workflow's) then the journal's
    /// hooks, each once, in that order.
    public static func webhooks(notify: [String], hooks: [String]) -> [String] {
        var seen = Set<String>()
        return (notify + hooks).filter { seen.insert($0).inserted }
    }

    /// What is wrong with a webhook URL a person gave (nil when nothing): an absolute http or
    /// https URL with a host.
    public static func problem(webhook: String) -> String? {
        guard let url = URL(string: webhook), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            return "'\(webhook)' is not an http(s) URL (e.g. https://hooks.slack.com/services/…)"
        }
        return nil
    }
}

/// Where approval requests are announced (the outbox, the journal's hooks) and the journal-wide
/// settings the announcements need (the server's base URL, the key that signs decision links).
public protocol ApprovalNotificationStore: Sendable {
    /// Adds a webhook notified of every approval request of every run on this journal. Returns false
    /// when it was there already.
    func addNotifyHook(url: String, at: Date) async throws -> Bool
    /// Removes one. Returns whether it was there (notifications already written stay).
    func removeNotifyHook(url: String) async throws -> Bool
    /// The journal's hooks, oldest first.
    func notifyHooks() async throws -> [String]

    /// Takes up to `limit` notifications that are not delivered, are due (`nextAttemptAt` nil or not
    /// after `at`) and not held by another deliverer's unexpired lease, leasing them to `owner` until
    /// `at + lease`: two deliverers never hold the same one at the same time. Oldest first.
    func claimDueNotifications(owner: String, at: Date, lease: TimeInterval, limit: Int) async throws -> [ApprovalNotification]
    /// Marks it delivered and ends the lease, if `owner` holds it. Returns whether it did.
    @discardableResult
    func markNotificationDelivered(id: String, owner: String, at: Date) async throws -> Bool
    /// Counts a failed delivery (attempts + 1, `lastError`), ends the lease and makes it due again
    /// at `retryAt`, if `owner` holds it. Returns whether it did.
    @discardableResult
    func markNotificationFailed(id: String, owner: String, error: String, retryAt: Date, at: Date) async throws -> Bool
    /// The outbox, oldest first: of one request, or all.
    func notifications(approvalID: String?) async throws -> [ApprovalNotification]

    /// A journal-wide setting, or nil.
    func journalSetting(_ name: String) async throws -> String?
    /// Sets a journal-wide setting.
    func setJournalSetting(_ name: String, value: String) async throws
    /// The setting, written as `value` first when it has none: every process gets the same value,
    /// however many ask at once (the key that signs decision links is made this way).
    func journalSetting(_ name: String, orInsert value: String) async throws -> String
}

/// Names of journal-wide settings.
public enum JournalSettingName {
    /// The URL people reach `wflo server` at (`--base-url`), for links in notifications.
    public static let serverBaseURL = "server.base_url"
    /// The key that signs approve/reject links (random, made on first use).
    public static let approvalLinkKey = "approvals.link_key"
}
