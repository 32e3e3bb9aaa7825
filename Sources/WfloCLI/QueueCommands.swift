import ArgumentParser
import Foundation
import Synchronization
import WfloTelemetry
import WfloApp
import WfloCore
import WfloEngine
import WfloReports

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Queue a workflow run for a worker (`wflo worker`) instead of running it here.",
        discussion: """
            The workflow is validated first, like `wflo run` (file:line errors, exit 2). The same \
            --idempotency-key returns the run it first queued and queues nothing new.
            Exit codes: 0 queued (or already queued with that key), 2 invalid usage or workflow.
            """
    )

    @OptionGroup var request: RunRequestOptions

    @Option(help: "The queue (a worker claims from the queues it names; default: default).")
    var queue: String = QueueSettings.defaultQueue

    @Option(help: "Higher runs first; equal priorities run oldest first.")
    var priority: Int = 0

    @Option(help: "A key the run is known by: submitting it again returns the same run.")
    var idempotencyKey: String?

    @Flag(help: "Print {\"run_id\": …, \"status\": \"queued\"}.")
    var json = false

    @Option(help: "Attach the run's trace to a caller's: a W3C traceparent (00-TRACEID-SPANID-FLAGS); default $TRACEPARENT.")
    var traceparent: String?

    // No --pricing: the worker prices the run with its own table (its --pricing, WFLO_PRICING,
    // the workflow's `pricing:` block), so the file is checked against the same prices.
    @OptionGroup var store: StoreOptions

    func validate() throws {
        if let problem = QueueSettings.problem(name: queue) { throw ValidationError("--queue: " + problem) }
        if let idempotencyKey, idempotencyKey.isEmpty || idempotencyKey.count > 200 {
            throw ValidationError("--idempotency-key must be 1-200 characters")
        }
    }

    func run() async throws {
        let outcome = try await reportingErrors { () -> EnqueueOutcome in
            let parent = try TraceOptions.traceparent(given: traceparent, environment: ProcessInfo.processInfo.environment)
            let environment = try await WfloEnvironment(store: store, cassette: nil, pricing: nil, createJournal: true)
            do {
                let runs = environment.runs(observer: SilentObserver())
                let workflow = try runs.load(file: request.file)
                let outcome = try await runs.submit(workflow, inputs: try request.bindInputs(workflow.definition),
                                                    budget: try request.resolveBudget(workflow.definition), queue: queue,
                                                    priority: priority, idempotencyKey: idempotencyKey, tags: try request.runTags(),
                                                    traceparent: parent)
                try await environment.close()
                return outcome
            } catch let error as StoreError {
                try? await environment.close()
                throw CLIError(error.message, exitCode: 2)
            } catch {
                try? await environment.close()
                throw error
            }
        }
        let run = outcome.run
        if json {
            var object: [String: JSONValue] = ["run_id": .string(run.id), "status": .string(run.status.rawValue)]
            if case .existing = outcome { object["existing"] = true }
            if run.status.isFinal, let error = run.error { object["error"] = .string(error) }
            Console.out(JSONValue.object(object).encoded(sorted: true) + "\n")
        } else if case .existing = outcome {
            Console.out("Run \(run.id) was already submitted with this idempotency key (\(run.status.rawValue)); nothing new was queued\n")
        } else if run.status.isFinal {
            // Ended as it arrived: its workflow's concurrency key was full (on_conflict: skip).
            Console.out("Run \(run.id) was not queued: \(run.error ?? run.status.rawValue)\n")
        } else {
            Console.out("Run \(run.id) queued on '\(queue)' · a worker runs it: wflo worker · follow it: wflo status \(run.id.prefix(8))\n")
        }
    }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Claim queued runs and drive them, until SIGTERM or SIGINT.",
        discussion: """
            Any number of workers may share a journal. Each claimed run is held with a lease timed by \
            the journal's clock and renewed every lease/3; a worker that dies or stalls loses its runs \
            after --lease and another worker continues them from the journal (what a lost worker still \
            tries to write is refused). A run that needs a person is given back waiting_approval and \
            continued by any worker once decided. SIGTERM/SIGINT: no new claims, the runs in hand get \
            --grace to finish, then they are given back for another worker; exit 0.
            """
    )

    @Option(name: .customLong("queue"), help: "A queue to claim from (repeatable; default: every queue).")
    var queues: [String] = []

    @Option(help: "How many runs this worker drives at once.")
    var concurrency: Int = 1

    @Option(help: "How long a claim lasts without renewal (30s, 2m, …).")
    var lease: String = "30s"

    @Option(help: "How long the runs in hand may take to finish after SIGTERM/SIGINT (30s, 2m, …).")
    var grace: String = "30s"

    @Flag(help: "Log one JSON object per line (claimed, finished, released, lease_lost).")
    var jsonLogs = false

    @Flag(help: "Spread the llm/http calls of the runs this worker drives (for_each items, parallel branches) as step tasks any worker with --spread-steps may run, and run other runs' step tasks in free slots.")
    var spreadSteps = false

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464).")
    var metricsListen: String?

    @OptionGroup var store: StoreOptions
    @OptionGroup var pricing: PricingOptions

    private func seconds(_ text: String, _ option: String) throws -> Double {
        guard let seconds = DurationText.seconds(text) else {
            throw ValidationError("--\(option) '\(text)' is not a duration (write 30s, 2m or 1h)")
        }
        return seconds
    }

    func validate() throws {
        let settings = WorkerService.Settings(queues: queues, concurrency: concurrency, lease: try seconds(lease, "lease"),
                                              grace: try seconds(grace, "grace"))
        if let problem = settings.problem { throw ValidationError(problem) }
        if let metricsListen, MetricsEndpoint.address(metricsListen) == nil {
            throw ValidationError("--metrics-listen '\(metricsListen)' is not HOST:PORT (e.g. 127.0.0.1:9464)")
        }
    }

    func run() async throws {
        var settings = WorkerService.Settings(queues: queues, concurrency: concurrency, lease: try seconds(lease, "lease"),
                                              grace: try seconds(grace, "grace"))
        settings.spreadSteps = spreadSteps
        let jsonLogs = self.jsonLogs
        // Before anything slow (the journal, the pricing table): a SIGTERM while the worker starts
        // stops it as gracefully as one later, instead of killing it by the signal's default.
        let stopping = StopRequest()
        WorkerSignals.install { stopping.request() }
        try await reportingErrors {
            let environment = try await WfloEnvironment(store: store, cassette: nil, pricing: pricing, createJournal: true)
            let worker = WorkerService(store: environment.store, runs: environment.runs(observer: SilentObserver(), approvals: .noWait),
                                       settings: settings) { event in
                if jsonLogs {
                    Console.out(event.json.encoded(sorted: true) + "\n")
                } else {
                    Console.err(event.line + "\n")
                }
            }
            stopping.onRequest { worker.stop() }
            var endpoint: MetricsEndpoint?
            if let metricsListen, let (host, port) = MetricsEndpoint.address(metricsListen), let telemetry = Telemetry.current {
                do {
                    endpoint = try await MetricsEndpoint.start(host: host, port: port) { telemetry.prometheusText() }
                } catch {
                    throw CLIError("--metrics-listen \(metricsListen): cannot listen there: \(error)", exitCode: 2)
                }
                Console.err("metrics: http://\(host.contains(":") ? "[\(host)]" : host):\(endpoint?.port ?? port)/metrics\n")
            }
            do {
                try await worker.run()
                await endpoint?.shutdown()
                try await environment.close()
            } catch {
                await endpoint?.shutdown()
                try? await environment.close()
                throw error
            }
        }
    }
}

/// A stop asked for by a signal, possibly before there is a worker to stop: the worker's stop
/// runs when both exist, whichever comes first.
final class StopRequest: Sendable {
    private let state = Mutex<(requested: Bool, action: (@Sendable () -> Void)?)>((false, nil))

    func request() {
        let action = state.withLock { state -> (@Sendable () -> Void)? in
            state.requested = true
            return state.action
        }
        action?()
    }

    func onRequest(_ action: @escaping @Sendable () -> Void) {
        let requested = state.withLock { state -> Bool in
            state.action = action
            return state.requested
        }
        if requested { action() }
    }
}

/// SIGTERM and SIGINT tell the worker to stop (gracefully), once; a second signal exits at once.
enum WorkerSignals {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Written only while the command starts, before any worker task exists.
    static func install(_ stop: @escaping @Sendable () -> Void) {
        let count = Counter()
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if count.next() > 1 { exit(130) }
                stop()
            }
            source.resume()
            sources.append(source)
        }
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}

struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "List the queues with their concurrency and runs (queued, running), or set a queue's concurrency.",
        subcommands: [QueueListCommand.self, QueueSetCommand.self],
        defaultSubcommand: QueueListCommand.self
    )
}

struct QueueListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the queues (the default).")

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let queues = store.exists ? try await store.withJournal { try await $0.queues() } : []
            if json {
                Console.out(JSONValue.array(queues.map { queue in
                    ["name": .string(queue.name), "concurrency": queue.concurrency.map { .int($0) } ?? .null,
                     "queued": .int(queue.queued), "running": .int(queue.running)]
                }).encoded(sorted: true, pretty: true) + "\n")
            } else if queues.isEmpty {
                Console.out("No queues yet. Queue a run with: wflo submit FILE --budget USD\n")
            } else {
                let rows = queues.map { [$0.name, $0.concurrency.map(String.init) ?? "unlimited", String($0.queued), String($0.running)] }
                Console.out(TextTable(header: ["queue", "concurrency", "queued", "running"], rows: rows, rightAligned: [2, 3])
                    .render(separatorBefore: nil))
            }
        }
    }
}

struct QueueSetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set",
                                                    abstract: "Set how many runs of a queue may run at once, across all workers.")

    @Argument(help: "The queue.")
    var name: String

    @Option(help: "At most this many runs of the queue at once (0 pauses it).")
    var concurrency: Int?

    @Flag(help: "Lift the limit.")
    var unlimited = false

    @OptionGroup var store: StoreOptions

    func validate() throws {
        if let problem = QueueSettings.problem(name: name) { throw ValidationError(problem) }
        if (concurrency == nil) == !unlimited { throw ValidationError("give --concurrency N or --unlimited") }
        if let concurrency, concurrency < 0 { throw ValidationError("--concurrency must be 0 or more (got \(concurrency))") }
    }

    func run() async throws {
        try await reportingErrors {
            try await store.withJournal(creating: true) { try await $0.setQueue(QueueSettings(name: name, concurrency: concurrency)) }
            Console.out("Queue '\(name)': \(concurrency.map { "at most \($0) at once" } ?? "no limit")\n")
        }
    }
}
