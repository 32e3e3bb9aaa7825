import Foundation
import Synchronization
import WfloCore
import WfloProviders

/// Delivers the journal's outboxes: budget alerts to their scopes' webhooks, and approval
/// notifications (``ApprovalNotifier``, one pass of it per pass here). Whoever drives runs
/// delivers: `wflo run` and `wflo resume` while their run goes and once more at its end (through
/// ``RunService``), `wflo worker` on its loop (through ``WorkerService``).
///
/// Each pass claims due alerts with ``BudgetScopeStore/claimDueAlerts(owner:at:lease:limit:)``
/// (leased to this deliverer for longer than a request may take, so two processes never send the
/// same alert at the same time), POSTs each one's JSON (``AlertWebhook``), and journals the
/// outcome: delivered on a 2xx answer; otherwise the attempt is counted with its error and the
/// alert is due again after the ``AlertRetryPolicy`` delay, or dead after its last attempt (dead
/// and failing alerts are listed by `wflo alerts`).
///
/// Guarantees: an alert whose POST was answered 2xx is never posted again. An alert is posted at
/// least once while a deliverer runs and the receiver answers; it is posted twice only when an
/// answer was lost (a timeout after the receiver got the request, a process killed between the
/// answer and its journaling) — the body's `alert_id` lets a receiver drop that repeat.
/// A webhook that is dead, slow or refusing never fails or slows a run: delivery runs beside the
/// run, every request is bounded by ``Settings/requestTimeout``, errors are journaled, never thrown,
/// and the final pass at a run's end waits at most ``Settings/finalPass``.
///
/// Egress: webhook URLs are the operator's configuration (`wflo budgets set --webhook`, written by
/// whoever may set limits on the journal), not data a workflow or a model produced, so they are
/// not held to a workflow's `egress:` policy, which exists to contain what templated requests may
/// reach. They must be http or https (checked when set), redirects are not followed, answers are
/// read up to 64 KiB, and only the URL's origin ever appears in errors (a webhook's path is often
/// its secret, as Slack's is).
public final class AlertDeliveryService: Sendable {
    public struct Settings: Sendable {
        /// The longest one POST may take, connection included.
        public var requestTimeout: Duration
        /// Seconds between looks at the outbox while a run goes or a worker waits.
        public var pollInterval: Double
        /// Seconds the pass at the end of a run (or a worker's stop) may take before it is cut short.
        public var finalPass: Double
        /// Alerts claimed (and posted concurrently) per claim.
        public var batch: Int
        public var retry: AlertRetryPolicy
        /// Hosts whose webhooks get Slack's `text` (``AlertWebhook/slackHosts``).
        public var slackHosts: Set<String>

        public init(requestTimeout: Duration = .seconds(5), pollInterval: Double = 2, finalPass: Double = 3, batch: Int = 8,
                    retry: AlertRetryPolicy = AlertRetryPolicy(), slackHosts: Set<String> = AlertWebhook.slackHosts) {
            self.requestTimeout = requestTimeout
            self.pollInterval = pollInterval
            self.finalPass = finalPass
            self.batch = max(1, batch)
            self.retry = retry
            self.slackHosts = slackHosts
        }

        /// Seconds a claim lasts: longer than any request, so a claim never ends while its POST is in flight.
        var lease: TimeInterval { Double(requestTimeout.components.seconds) + 30 }
    }

    /// The last error of an alert whose scope had no webhook: it is recorded, never posted.
    public static let recordedOnly = "recorded only: the scope had no --webhook when the threshold was crossed"

    /// The outcome of one alert's attempt, for logs and tests.
    public enum Outcome: Sendable, Hashable {
        case delivered(alertID: String, scope: String)
        case failed(alertID: String, scope: String, error: String, retryAt: Date)
        case dead(alertID: String, scope: String, error: String)
    }

    private let store: any JournalStore
    private let http: any HTTPStepTransport
    /// The approval outbox's deliverer, with this one's transport, settings, owner and clock.
    public var approvals: ApprovalNotifier { ApprovalNotifier(store: store, http: http, settings: settings, owner: owner, now: now) }
    public let settings: Settings
    /// Who holds the claims of this deliverer: one per process.
    public let owner: String
    private let now: @Sendable () -> Date
    private let log: @Sendable (Outcome) -> Void

    /// - Parameters:
    ///   - http: what the POSTs go through (the network; a test's loopback server).
    ///   - log: told of every attempt's outcome.
    public init(store: any JournalStore, http: any HTTPStepTransport, settings: Settings = Settings(),
                owner: String = "alerts-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.lowercased())",
                now: @escaping @Sendable () -> Date = { Date() }, log: @escaping @Sendable (Outcome) -> Void = { _ in }) {
        self.store = store
        self.http = http
        self.settings = settings
        self.owner = owner
        self.now = now
        self.log = log
    }

    /// One pass: claims and posts due alerts until none is left (at most 10 claims, so a pass
    /// ends). Never throws: a journal that cannot be read now is read on the next pass.
    /// - Returns: the outcomes, in the order they were journaled.
    @discardableResult
    public func deliverDue() async -> [Outcome] {
        async let notified = approvals.deliverDue()
        let outcomes = await deliverDueAlerts()
        _ = await notified
        return outcomes
    }

    /// The budget alerts' part of a pass.
    private func deliverDueAlerts() async -> [Outcome] {
        await OutboxPost.drain(batch: settings.batch, claim: {
            try? await store.claimDueAlerts(owner: owner, at: now(), lease: settings.lease, limit: settings.batch)
        }, deliver: { alert in await self.deliver(alert) })
    }

    /// Posts one claimed alert and journals the outcome; nil when it could not be journaled (the
    /// claim ends with its lease and the alert is claimed again) or the task was cancelled.
    private func deliver(_ alert: AlertRecord) async -> Outcome? {
        guard let webhook = alert.webhook else {
            // Recorded only (the scope had no --webhook when it crossed): nothing to post, ever.
            _ = try? await store.markAlertFailed(id: alert.id, owner: owner, error: Self.recordedOnly, retryAt: AlertRetryPolicy.neverAgain, at: now())
            return nil
        }
        let body = AlertWebhook.body(for: alert, slack: AlertWebhook.isSlack(url: webhook, hosts: settings.slackHosts))
        let error: String
        switch await OutboxPost.send(body, to: webhook, userAgent: "wflo-alerts", http: http, timeout: settings.requestTimeout) {
        case .delivered:
            guard (try? await store.markAlertDelivered(id: alert.id, owner: owner, at: now())) == true else { return nil }
            let outcome = Outcome.delivered(alertID: alert.id, scope: alert.scope)
            log(outcome)
            return outcome
        case .failed(let why):
            error = why
        case .abandoned:
            return nil
        }
        let at = now()
        switch settings.retry.after(failedAttempts: alert.attempts + 1, at: at) {
        case .retry(let retryAt):
            guard (try? await store.markAlertFailed(id: alert.id, owner: owner, error: error, retryAt: retryAt, at: at)) == true else { return nil }
            let outcome = Outcome.failed(alertID: alert.id, scope: alert.scope, error: error, retryAt: retryAt)
            log(outcome)
            return outcome
        case .dead:
            guard (try? await store.markAlertFailed(id: alert.id, owner: owner, error: error, retryAt: AlertRetryPolicy.neverAgain, at: at)) == true else { return nil }
            let outcome = Outcome.dead(alertID: alert.id, scope: alert.scope, error: error)
            log(outcome)
            return outcome
        }
    }

    /// Starts delivering in the background: a pass every ``Settings/pollInterval`` until
    /// ``Delivering/finish()``, which makes one last pass.
    public func start() -> Delivering {
        Delivering(service: self)
    }

    /// Runs `body` (a run being driven) with delivery beside it, then makes a last pass bounded by
    /// ``Settings/finalPass`` (none when the task was cancelled). `body`'s result or error is returned unchanged.
    public func alongside<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        let delivering = start()
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await body())
        } catch {
            outcome = .failure(error)
        }
        if Task.isCancelled {
            await delivering.cancel()
        } else {
            await delivering.finish()
        }
        return try outcome.get()
    }

    /// Background delivery started by ``start()``. Call ``finish()`` or ``cancel()`` once.
    public final class Delivering: Sendable {
        private final class Flag: Sendable {
            let raised = Mutex(false)
            var isRaised: Bool { raised.withLock { $0 } }
            func raise() { raised.withLock { $0 = true } }
        }
        private let stopped: Flag
        private let wake: AsyncStream<Void>.Continuation
        private let task: Task<Void, Never>
        private let finalPass: Double

        init(service: AlertDeliveryService) {
            let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            self.wake = wake
            finalPass = service.settings.finalPass
            let stopped = Flag()
            self.stopped = stopped
            let interval = service.settings.pollInterval
            task = Task {
                var wakeup = wakeups.makeAsyncIterator()
                while !stopped.isRaised && !Task.isCancelled {
                    await service.deliverDue()
                    if stopped.isRaised { break }
                    // Sleep until the next pass, or until finish() wakes the loop.
                    let timer = Task {
                        try? await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                        wake.yield()
                    }
                    _ = await wakeup.next()
                    timer.cancel()
                }
                // The last pass: alerts the run's last reservations wrote.
                if !Task.isCancelled { await service.deliverDue() }
            }
        }

        /// Stops the loop after one last pass, waiting at most the final-pass time; a pass still
        /// going then is cancelled (its claims end with their lease; the alerts stay due).
        public func finish() async {
            stopped.raise()
            wake.yield()
            let task = self.task
            let limit = finalPass
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await task.value }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(Int64(limit * 1000)))
                    task.cancel()
                }
                await group.next()
                group.cancelAll()
            }
        }

        /// Stops the loop at once, without a last pass: a POST in flight is cut (its alert stays due).
        public func cancel() async {
            stopped.raise()
            task.cancel()
            wake.yield()
            await task.value
        }
    }
}
