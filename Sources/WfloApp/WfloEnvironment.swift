import Foundation
import WfloCore
import WfloDSL
import WfloEngine
import WfloHTTP
import WfloPricing
import WfloProviders
import WfloStore

/// The composition root: the one place wflo's real components are put together for every front
/// end (the CLI, `WfloKit`, later the worker and the server). It holds the journal, the prices,
/// the LLM transport (network, recording to a cassette, or replaying one), the http-step
/// transport on the same footing, the secrets, the user's egress policy and the clock, and makes
/// executors and services wired to them.
///
/// ```swift
/// let store = try await JournalLocation.resolve(option: nil, environment: ProcessInfo.processInfo.environment).open(creating: true)
/// let environment = try WfloEnvironment(store: store, settings: .init())
/// let runs = environment.runs(observer: SilentObserver())
/// let result = try await runs.start(try environment.loadWorkflow(file: "flow.yaml"), inputs: [:], budget: nil)
/// try await environment.close()
/// ```
///
/// Call ``close()`` once when done: it saves a recording and shuts the HTTP clients down.
public final class WfloEnvironment: Sendable {
    /// How the environment reaches the outside.
    public struct Settings: Sendable {
        /// A cassette to serve LLM and http-step exchanges from: no network, recorded usage charged.
        public var replay: String?
        /// A cassette to write every exchange to (secrets masked).
        public var record: String?
        /// A resumed run adds to the cassette its start recorded instead of starting it afresh.
        public var appendRecording: Bool
        /// Pricing files that add or override models, over the shipped table and `WFLO_PRICING`.
        public var pricingFiles: [String]
        /// A table to use instead of loading one (tests, `WfloKit` callers with their own prices).
        public var pricing: PricingTable?
        /// The process environment: provider keys and base URLs, `WFLO_SECRET_*`, `WFLO_EGRESS`, `WFLO_PRICING`.
        public var environment: [String: String]
        /// The time services stamp decisions and ages with.
        public var now: @Sendable () -> Date
        /// How budget alerts are delivered (timeouts, retries, polling).
        public var alertDelivery: AlertDeliveryService.Settings

        public init(replay: String? = nil, record: String? = nil, appendRecording: Bool = false, pricingFiles: [String] = [],
                    pricing: PricingTable? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                    now: @escaping @Sendable () -> Date = { Date() },
                    alertDelivery: AlertDeliveryService.Settings = AlertDeliveryService.Settings()) {
            self.alertDelivery = alertDelivery
            self.replay = replay
            self.record = record
            self.appendRecording = appendRecording
            self.pricingFiles = pricingFiles
            self.pricing = pricing
            self.environment = environment
            self.now = now
        }
    }

    /// The journal: SQLite or PostgreSQL (``JournalLocation``).
    public let store: any JournalStore
    public let pricing: PricingTable
    public let llm: LLMClient
    /// `{{secrets.NAME}}`: `WFLO_SECRET_NAME`, else `~/.wflo/secrets` (mode 0600).
    public let secrets: SecretStore
    /// What http steps send through: the network, recording to the cassette, or replaying it.
    public let http: any HTTPStepTransport
    /// `~/.wflo/egress.yaml` or `WFLO_EGRESS`: what every workflow's http steps must also pass.
    public let userEgress: UserEgressPolicy?
    public let now: @Sendable () -> Date
    /// Posts budget alerts to their webhooks over the network (never through a cassette); nil when
    /// replaying a cassette, which reaches nothing outside (the alerts wait in the journal for a live
    /// `wflo run` or worker).
    public let alerts: AlertDeliveryService?
    private let network: AsyncHTTPTransport?
    /// The most model calls and http requests in flight to one host (``connectionsPerHost(environment:)``).
    public let connectionsPerHost: Int
    private let recorder: RecordingTransport?
    /// MCP stdio servers' answers: recorded to, or replayed from, the cassette.
    private let mcpCassette: MCPCassette?
    private let web: AsyncHTTPStepTransport

    /// - Throws: ``AppError`` `.configuration` naming the pricing file, cassette or egress file
    ///   that cannot be used. No HTTP client is left open when it throws.
    public init(store: any JournalStore, settings: Settings = Settings()) throws {
        let environment = settings.environment
        self.store = store
        self.now = settings.now
        if let pricing = settings.pricing {
            self.pricing = pricing
        } else {
            do {
                self.pricing = try PricingTable.load(overlays: settings.pricingFiles, environment: environment)
            } catch {
                throw AppError(.configuration, "\(error)")
            }
        }
        let endpoints = ProviderEndpoints.fromEnvironment(environment)
        secrets = SecretStore(environment: environment, filePath: SecretStore.defaultPath(environment: environment))
        let redactor = secrets.redactor
        // Everything that can fail is read before any HTTP client exists: a client that is not
        // shut down traps in its deinit, so a bad cassette or egress file must not leave one behind.
        do {
            userEgress = try EgressFile.load(environment: environment)
                .map { UserEgressPolicy(policy: $0, file: EgressFile.location(environment: environment).path) }
        } catch {
            throw AppError(.configuration, error.description)
        }
        var replayTransport: ReplayTransport?
        if let replay = settings.replay {
            do {
                replayTransport = try ReplayTransport(path: replay)
            } catch {
                // The error names the cassette and what is wrong with it.
                throw AppError(.configuration, error is ProviderError ? "\(error)" : "cannot read the cassette \(replay): \(error)")
            }
        }
        var recorded: RecordingTransport.Recorded?
        if settings.appendRecording, let record = settings.record {
            do {
                recorded = try RecordingTransport.Recorded.read(path: record)
            } catch {
                throw AppError(.configuration, "\(error)")
            }
        }
        // Read before any client is made (a client must be shut down before it goes).
        let connectionsPerHost = try WfloEnvironment.connectionsPerHost(environment: environment)
        self.connectionsPerHost = connectionsPerHost
        let web = AsyncHTTPStepTransport(maximumConnectionsPerHost: connectionsPerHost)
        self.web = web
        alerts = replayTransport == nil ? AlertDeliveryService(store: store, http: web, settings: settings.alertDelivery, now: settings.now) : nil
        if let transport = replayTransport {
            network = nil
            recorder = nil
            llm = LLMClient(transport: transport, endpoints: endpoints, requiresAPIKey: false)
            http = ReplayHTTPStepTransport(replay: transport, redact: { redactor.redact($0) })
            mcpCassette = .replaying(transport, redact: { redactor.redact($0) })
        } else {
            let network = AsyncHTTPTransport(maximumConnectionsPerHost: connectionsPerHost)
            self.network = network
            if let record = settings.record {
                let recorder = RecordingTransport(wrapping: network, path: record, keeping: recorded)
                self.recorder = recorder
                llm = LLMClient(transport: recorder, endpoints: endpoints)
                http = RecordingHTTPStepTransport(wrapping: web, recorder: recorder, redact: { redactor.redact($0) })
                mcpCassette = .recording(recorder, redact: { redactor.redact($0) })
            } else {
                recorder = nil
                mcpCassette = nil
                llm = LLMClient(transport: network, endpoints: endpoints)
                http = web
            }
        }
    }

    /// `WFLO_HTTP_CONNECTIONS_PER_HOST`: how many model calls and http requests may be in flight to
    /// one host at once (each its own connection); unset, ``AsyncHTTPTransport/defaultMaximumConnectionsPerHost``.
    /// A call past it waits for a free connection, and its attempt's clock and timeout start only
    /// when it is sent. Set it at least as high as the largest `max_parallel` that calls one host.
    /// - Throws: ``AppError`` `.configuration` naming the variable when it is not a whole number from 1 to 4096.
    public static func connectionsPerHost(environment: [String: String]) throws -> Int {
        guard let text = environment["WFLO_HTTP_CONNECTIONS_PER_HOST"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else {
            return AsyncHTTPTransport.defaultMaximumConnectionsPerHost
        }
        guard let count = Int(text), (1...4096).contains(count) else {
            throw AppError(.configuration, "WFLO_HTTP_CONNECTIONS_PER_HOST is '\(text)': give a whole number from 1 to 4096, the most calls in flight "
                           + "to one host (default \(AsyncHTTPTransport.defaultMaximumConnectionsPerHost)), or unset it")
        }
        return count
    }

    /// An executor wired to every component here.
    /// - Parameters:
    ///   - approvals: whether a gated step waits for its decision or leaves the run `waiting_approval`.
    ///   - cache: whether the LLM response cache is read and filled.
    /// - Parameter stepTasks: set, the runs' `llm`/`http` calls go to step tasks any `--spread-steps` worker may execute.
    public func executor(observer: any RunObserver, approvals: ApprovalWaitMode = .wait(pollInterval: 0.2), cache: Bool = true,
                         stepTasks: StepTaskSettings? = nil) -> Executor {
        var configuration = ExecutorConfiguration(store: store, pricing: pricing, llm: llm, observer: observer, approvals: approvals,
                                                  cacheEnabled: cache)
        // One clock for the services and the engine. Waits for decisions and cancels are woken by
        // the store when it can push (PostgreSQL), else poll the journal (the engine's default).
        configuration.now = now
        configuration.notifications = store.pushNotifications
        configuration.secrets = secrets
        configuration.http = http
        configuration.userEgress = userEgress
        configuration.mcpCassette = mcpCassette
        configuration.stepTasks = stepTasks
        return Executor(configuration)
    }

    /// The run service, driving runs with an executor made by ``executor(observer:approvals:cache:stepTasks:)``
    /// and delivering budget alerts beside them (``alerts``).
    public func runs(observer: any RunObserver, approvals: ApprovalWaitMode = .wait(pollInterval: 0.2), cache: Bool = true,
                     stepTasks: StepTaskSettings? = nil) -> RunService {
        RunService(store: store, pricing: pricing, executor: executor(observer: observer, approvals: approvals, cache: cache, stepTasks: stepTasks),
                   alerts: alerts)
    }

    /// The approval service over this journal and clock.
    public var approvals: ApprovalService { ApprovalService(store: store, now: now) }

    /// The report service over this journal and clock.
    public var reports: ReportService { ReportService(store: store, now: now) }

    /// Saves a recording, shuts the HTTP clients down and closes the journal. Call once, when done.
    /// - Throws: the recording's write error, or the network client's shutdown error.
    public func close() async throws {
        try? await web.shutdown()
        do {
            try recorder?.save()
            try await network?.shutdown()
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}
