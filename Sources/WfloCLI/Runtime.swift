import Foundation
import WfloCore
import WfloDSL
import WfloEngine
import WfloPricing
import WfloProviders
import WfloStore

/// The real components a command runs with: the journal, prices, the LLM transport
/// (network, recording, or replay). `close()` saves a recording and shuts the HTTP client.
struct Runtime {
    let store: SQLiteJournalStore
    let pricing: PricingTable
    let llm: LLMClient
    private let network: AsyncHTTPTransport?
    private let recorder: RecordingTransport?
    /// `{{secrets.NAME}}`: WFLO_SECRET_NAME, else ~/.wflo/secrets (mode 0600).
    let secrets: SecretStore
    /// The network for http steps (closed by `close()`).
    private let web: AsyncHTTPStepTransport
    /// What http steps send through: the network, recording to the cassette, or replaying it.
    private let http: any HTTPStepTransport
    /// `~/.wflo/egress.yaml` or `WFLO_EGRESS`: what every workflow's http steps must also pass.
    private let userEgress: UserEgressPolicy?

    /// - Parameters:
    ///   - cassette: nil for commands that make no call (`wflo cancel`): the network, no cassette.
    ///   - pricing: nil for the shipped table and `WFLO_PRICING` only.
    ///   - createJournal: true for `wflo run` only; other commands refuse a missing journal.
    ///   - appendRecording: a resumed run adds to the cassette its start recorded.
    init(store: StoreOptions, cassette: CassetteOptions?, pricing: PricingOptions?, createJournal: Bool = false,
         appendRecording: Bool = false) throws {
        let environment = ProcessInfo.processInfo.environment
        self.store = try store.open(creating: createJournal)
        do {
            self.pricing = try PricingTable.load(overlays: pricing?.files ?? [], environment: environment)
        } catch {
            throw CLIError("\(error)", exitCode: 2)
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
            throw CLIError(error.description, exitCode: 2)
        }
        var replayTransport: ReplayTransport?
        if let replay = cassette?.replay {
            do {
                replayTransport = try ReplayTransport(path: replay)
            } catch {
                // The error names the cassette and what is wrong with it.
                throw CLIError(error is ProviderError ? "\(error)" : "cannot read the cassette \(replay): \(error)", exitCode: 2)
            }
        }
        var recorded: RecordingTransport.Recorded?
        if appendRecording, let record = cassette?.record {
            do {
                recorded = try RecordingTransport.Recorded.read(path: record)
            } catch {
                throw CLIError("\(error)", exitCode: 2)
            }
        }
        let web = AsyncHTTPStepTransport()
        self.web = web
        if let transport = replayTransport {
            self.network = nil
            self.recorder = nil
            self.llm = LLMClient(transport: transport, endpoints: endpoints, requiresAPIKey: false)
            self.http = ReplayHTTPStepTransport(replay: transport, redact: { redactor.redact($0) })
        } else {
            let network = AsyncHTTPTransport()
            self.network = network
            if let record = cassette?.record {
                let recorder = RecordingTransport(wrapping: network, path: record, keeping: recorded)
                self.recorder = recorder
                self.llm = LLMClient(transport: recorder, endpoints: endpoints)
                self.http = RecordingHTTPStepTransport(wrapping: web, recorder: recorder, redact: { redactor.redact($0) })
            } else {
                self.recorder = nil
                self.llm = LLMClient(transport: network, endpoints: endpoints)
                self.http = web
            }
        }
    }

    func executor(observer: any RunObserver, approvals: ApprovalWaitMode = .wait(pollInterval: 0.2), cache: Bool = true) -> Executor {
        let watched = FaultInjectingObserver.wrap(observer, environment: ProcessInfo.processInfo.environment)
        var configuration = ExecutorConfiguration(store: store, pricing: pricing, llm: llm, observer: watched, approvals: approvals,
                                                  cacheEnabled: cache)
        configuration.secrets = secrets
        configuration.http = http
        configuration.userEgress = userEgress
        return Executor(configuration)
    }

    /// The observer of `run`/`resume`: progress lines (unless `--json`), approval requests with
    /// the commands to decide them, the interactive prompt, and Ctrl-C while waiting.
    func console(json: Bool, approvals: ApprovalOptions, dbOption: String?, mode: RunMode) -> ApprovalConsole {
        let console = ApprovalConsole(store: store, dbOption: dbOption, mode: mode, interactive: approvals.interactive,
                                      printer: json ? nil : ConsoleObserver())
        console.installInterruptHandlers()
        return console
    }

    func close() async throws {
        try? await web.shutdown()
        try recorder?.save()
        try await network?.shutdown()
    }
}
