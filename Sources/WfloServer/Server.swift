import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import WfloApp
import WfloCore
import WfloEngine

/// `wflo server`'s settings, checked.
public struct ServerSettings: Sendable, Hashable {
    public var host: String
    /// 0: the system picks a free port (printed on start).
    public var port: Int
    /// Worker loops driving queued runs in this process.
    public var workers: Int
    /// Where people reach this server (`https://wflo.example.com`), for links in notifications;
    /// nil: `http://HOST:PORT` as it listens.
    public var baseURL: String?
    /// The only folder `POST /v1/runs {"path": …}` reads workflow files from; nil: the current directory at start.
    public var workflowsDirectory: String?

    public init(host: String = "127.0.0.1", port: Int = 8080, workers: Int = 4, baseURL: String? = nil, workflowsDirectory: String? = nil) {
        self.host = host
        self.port = port
        self.workers = workers
        self.baseURL = baseURL
        self.workflowsDirectory = workflowsDirectory
    }

    /// Reads `--listen HOST:PORT` (`[::1]:8080` for IPv6).
    /// - Throws: ``AppError`` `.invalidInput` saying what to write.
    public static func listen(_ text: String) throws -> (host: String, port: Int) {
        let problem = AppError(.invalidInput, "--listen '\(text)' must be HOST:PORT with a port from 0 to 65535 (e.g. 127.0.0.1:8080; port 0 picks a free one)")
        guard let colon = text.lastIndex(of: ":") else { throw problem }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { throw problem }
        return (host, port)
    }

    /// What is wrong with these settings for a person to fix, or nil.
    public var problem: String? {
        if workers < 0 { return "--workers must be 0 or more (got \(workers))" }
        if let baseURL {
            guard let url = URL(string: baseURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                return "--base-url '\(baseURL)' must be an http:// or https:// URL (where people reach this server)"
            }
        }
        if let workflowsDirectory {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: workflowsDirectory, isDirectory: &isFolder), isFolder.boolValue else {
                return "--workflows-dir '\(workflowsDirectory)' is not a folder; give the folder POST /v1/runs {\"path\"} may read workflow files from"
            }
        }
        return nil
    }
}

/// Builds and runs the server: the API's router, the worker loops, graceful shutdown.
public enum WfloServerApp {
    /// The router of the API and the dashboard, with every error of the API answered as JSON.
    public static func router(api: ServerAPI) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        api.register(on: router)
        Dashboard(api: api).register(on: router)
        return router
    }

    /// The API over `environment`'s journal and services; runs are driven without waiting at approvals.
    /// - Parameter metrics: more Prometheus families for `/metrics` (the process's telemetry).
    public static func api(environment: WfloEnvironment, observer: any RunObserver,
                           metrics: @escaping @Sendable () -> String = { "" }) -> ServerAPI {
        let runs = environment.runs(observer: observer, approvals: .noWait)
        var api = ServerAPI(store: environment.store, runs: runs, approvals: environment.approvals, reports: environment.reports,
                            tokens: TokenService(store: environment.store, now: environment.now))
        api.webhooks = WebhookService(runs: runs, secrets: environment.secrets)
        api.extraMetrics = metrics
        return api
    }

    /// Serves until SIGTERM or SIGINT, then stops taking requests, lets the worker loops finish or
    /// give back their runs, and returns.
    /// - Parameter listening: told `http://HOST:PORT` once the socket is bound (the real port when 0 was asked).
    public static func run(environment: WfloEnvironment, settings: ServerSettings, observer: any RunObserver,
                           logger: Logger = Logger(label: "wflo.server"), metrics: @escaping @Sendable () -> String = { "" },
                           listening: @escaping @Sendable (String) -> Void) async throws {
        if let problem = settings.problem { throw AppError(.invalidInput, problem) }
        // Notifications sign their approve/reject links for this address (ApprovalLinks).
        if let baseURL = settings.baseURL {
            try await environment.store.setJournalSetting(JournalSettingName.serverBaseURL, value: baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL)
        }
        var api = api(environment: environment, observer: observer, metrics: metrics)
        if let folder = settings.workflowsDirectory {
            api.workflowsFolder = URL(fileURLWithPath: folder).standardizedFileURL.resolvingSymlinksInPath().path
        }
        let app = Application(router: router(api: api),
                              configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "wflo"),
                              onServerRunning: { channel in
                                  let port = channel.localAddress?.port ?? settings.port
                                  let host = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
                                  listening("http://\(host):\(port)")
                              },
                              logger: logger)
        var services: [any Service] = [app]
        if settings.workers > 0 {
            let worker = WorkerService(store: environment.store, runs: environment.runs(observer: observer, approvals: .noWait),
                                       settings: WorkerService.Settings(concurrency: settings.workers)) { event in
                logger.info("\(event.line)")
            }
            services.append(WorkerLoop(worker: worker))
        }
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// The worker loops as a service: stopped (finishing or giving back their runs) on graceful shutdown.
struct WorkerLoop: Service {
    let worker: WorkerService

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await worker.run()
        } onGracefulShutdown: {
            worker.stop()
        }
    }
}
