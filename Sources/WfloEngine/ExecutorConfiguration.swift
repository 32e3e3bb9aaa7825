import Foundation
import WfloCore
import WfloPricing
import WfloProviders
import WfloSandbox

/// Everything the executor needs from the outside world, injected so tests are fast and
/// deterministic: the journal, prices, the LLM client, time, sleeping and randomness.
public struct ExecutorConfiguration: Sendable {
    public var store: any JournalStore
    public var pricing: PricingTable
    public var llm: LLMClient
    public var observer: any RunObserver
    public var now: @Sendable () -> Date
    /// Waits the given number of seconds (retry back-off).
    public var sleep: @Sendable (Double) async throws -> Void
    /// A number in 0..<1 for retry jitter.
    public var random: @Sendable () -> Double
    /// Seconds an LLM attempt may take when the step sets no `timeout`.
    public var defaultLLMTimeout: Double
    /// What a step does when it reaches an approval gate nobody has decided yet.
    public var approvals: ApprovalWaitMode
    /// False for `--no-cache`: no step reads or fills the LLM response cache.
    public var cacheEnabled: Bool
    /// What `{{secrets.NAME}}` in http steps reads; its redactor masks the values in all the run writes.
    public var secrets: SecretStore = .empty
    /// Sends http steps' requests; nil makes every http step fail saying so.
    public var http: (any HTTPStepTransport)? = nil
    /// Resolves hosts for the egress check (getaddrinfo by default).
    public var resolver: HostResolver = .system
    /// The user-level egress policy (`~/.wflo/egress.yaml` or `WFLO_EGRESS`) and its file:
    /// every http request must pass it as well as the workflow's own `egress:`.
    public var userEgress: UserEgressPolicy?
    /// Runs sandbox steps' programs and agents' MCP stdio servers.
    public var sandbox: Sandbox = Sandbox()
    /// `--record` / `--replay` for MCP stdio servers' answers (nil: they are always asked).
    public var mcpCassette: MCPCassette? = nil
    /// Waits the given number of seconds between looks at the journal — for approval decisions,
    /// for cancel requests — and between the lease's heartbeats, on the same clock as ``now``.
    /// Not ``sleep``: tests that record retry back-offs instead of waiting still wait here.
    public var wait: @Sendable (Double) async throws -> Void = { seconds in
        try await Task.sleep(for: .milliseconds(Int64((min(max(seconds, 0), DurationText.maximum) * 1000).rounded())))
    }
    /// How waits for approval decisions and cancel requests learn that another process wrote
    /// one; nil polls the journal (``PollingJournalNotifications`` on ``now`` and ``wait``, every
    /// `pollInterval` of ``approvals`` for decisions, every 0.2 s for cancel requests).
    public var notifications: (any JournalNotifications)? = nil
    /// The claim a worker already holds on the run it hands this executor (`wflo worker`): the
    /// run is driven under it instead of being claimed again, and renewing and releasing it are
    /// left to the worker. ``store`` is then the worker's fenced view of the journal.
    public var heldClaim: RunOwner? = nil
    /// Set: the run's `llm`/`http` calls (for_each items, parallel branches) go to step tasks any worker may execute (``StepTaskSettings``);
    /// nil (the default): every step runs in the driving process.
    public var stepTasks: StepTaskSettings? = nil

    public init(store: any JournalStore, pricing: PricingTable, llm: LLMClient, observer: any RunObserver = SilentObserver(),
                now: @escaping @Sendable () -> Date = { Date() },
                sleep: @escaping @Sendable (Double) async throws -> Void = {
                    try await Task.sleep(for: .milliseconds(Int64((min(max($0, 0), DurationText.maximum) * 1000).rounded())))
                },
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                defaultLLMTimeout: Double = 120, approvals: ApprovalWaitMode = .wait(pollInterval: 0.2),
                cacheEnabled: Bool = true) {
        self.store = store
        self.pricing = pricing
        self.llm = llm
        self.observer = observer
        self.now = now
        self.sleep = sleep
        self.random = random
        self.defaultLLMTimeout = defaultLLMTimeout
        self.approvals = approvals
        self.cacheEnabled = cacheEnabled
    }
}

extension ExecutorConfiguration {
    /// The notifications the run's waits use: the injected ones, else polling on this configuration's clock.
    var journalNotifications: any JournalNotifications {
        if let notifications { return notifications }
        var interval = Executor.cancelPollInterval
        if case .wait(let pollInterval) = approvals { interval = pollInterval }
        return PollingJournalNotifications(approvalInterval: interval, cancelInterval: Executor.cancelPollInterval, now: now, wait: wait)
    }
}

/// A user-level egress policy and the file it was read from (for error messages).
public struct UserEgressPolicy: Sendable, Hashable {
    public var policy: EgressPolicy
    public var file: String
    public init(policy: EgressPolicy, file: String) {
        self.policy = policy
        self.file = file
    }
}

/// How a run meets an undecided approval request.
public enum ApprovalWaitMode: Sendable, Hashable {
    /// Wait in this process, reading the journal every `pollInterval` seconds, so a decision
    /// made by any process sharing the journal is seen within that time.
    case wait(pollInterval: Double)
    /// Do not wait: the run ends `waiting_approval` (exit 4) and `wflo resume` continues it.
    case noWait
}

/// How a run ended, as `wflo run --json` and `wflo resume` report it.
public struct RunResult: Sendable, Hashable {
    public var runID: String
    public var status: RunStatus
    public var ledger: LedgerSnapshot
    public var outputs: JSONValue?
    public var error: String?

    public init(runID: String, status: RunStatus, ledger: LedgerSnapshot, outputs: JSONValue?, error: String?) {
        self.runID = runID
        self.status = status
        self.ledger = ledger
        self.outputs = outputs
        self.error = error
    }
}
