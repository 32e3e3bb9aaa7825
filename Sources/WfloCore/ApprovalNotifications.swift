import Foundation

/// One message to one webhook about one approval request (`notify:`): the outbox row that makes
/// it durable and exactly-once. Its key is the request and the URL: filing it twice (a second
/// server, a restart) adds nothing.
public struct ApprovalNotification: Sendable, Hashable {
    public var approvalID: String
    public var runID: String
    public var stepID: String
    public var url: String
    public var createdAt: Date
    /// Failed attempts so far.
    public var attempts: Int
    public var deliveredAt: Date?
    public var lastError: String?
    /// When it may be tried again (nil: at once); ``AlertRetryPolicy/neverAgain`` once dead.
    public var nextAttemptAt: Date?

    public init(approvalID: String, runID: String, stepID: String, url: String, createdAt: Date, attempts: Int = 0,
                deliveredAt: Date? = nil, lastError: String? = nil, nextAttemptAt: Date? = nil) {
        self.approvalID = approvalID
        self.runID = runID
        self.stepID = stepID
        self.url = url
        self.createdAt = createdAt
        self.attempts = attempts
        self.deliveredAt = deliveredAt
        self.lastError = lastError
        self.nextAttemptAt = nextAttemptAt
    }

    /// Whether a claim at `now` may hand it out: not delivered, due, and not leased to a live claim.
    public static func isClaimable(deliveredAt: Date?, nextAttemptAt: Date?, leaseExpiresAt: Date?, now: Date) -> Bool {
        deliveredAt == nil && (nextAttemptAt.map { $0 <= now } ?? true) && (leaseExpiresAt.map { $0 <= now } ?? true)
    }
}

/// The approval notifications' outbox, and the journal's secret for signed decision links.
public protocol ApprovalNotificationStore: Sendable {
    /// Adds each notification whose (request, URL) is not in the outbox yet. Returns how many were added.
    @discardableResult
    func enqueueApprovalNotifications(_ notifications: [ApprovalNotification]) async throws -> Int
    /// Up to `limit` claimable notifications (``ApprovalNotification/isClaimable(deliveredAt:nextAttemptAt:leaseExpiresAt:now:)``),
    /// oldest first, leased to `owner` until `at + lease`. Two claimers never get the same one.
    func claimApprovalNotifications(owner: String, at: Date, lease: Double, limit: Int) async throws -> [ApprovalNotification]
    /// Records a 2xx answer, if `owner` still holds the claim. Returns whether it did.
    func markApprovalNotificationDelivered(approvalID: String, url: String, owner: String, at: Date) async throws -> Bool
    /// Records a failed attempt (counted, its error, when to try again), if `owner` still holds the claim.
    func markApprovalNotificationFailed(approvalID: String, url: String, owner: String, error: String, retryAt: Date) async throws -> Bool
    /// The outbox, oldest first; of one request when given.
    func approvalNotifications(approvalID: String?) async throws -> [ApprovalNotification]
    /// The value of the journal's setting `key`, set to `proposed` first when it has none: the
    /// first writer wins, so every process sharing the journal reads the same value.
    func journalSetting(_ key: String, proposed: String) async throws -> String
}
