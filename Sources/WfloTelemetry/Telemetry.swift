import CoreMetrics
import Foundation
import Logging
import OTel
import Prometheus
import ServiceLifecycle
import Tracing

/// The exporters of a process: OTLP/HTTP spans and metrics when the OTEL_* environment asks for
/// them, and a Prometheus registry whose text the server's and workers' `/metrics` serve.
///
/// Bootstrapped once per process by the composition root (the CLI). ``shutdown()`` flushes what
/// is buffered, bounded in time: a dead collector costs a log line, never a failed or hung run.
public final class Telemetry: Sendable {
    public let settings: TelemetrySettings
    /// The registry behind ``prometheusText()``.
    public let registry: PrometheusCollectorRegistry
    private let group: ServiceGroup?
    private let running: Task<Void, Never>?
    private let logger: Logger
    /// How long ``shutdown()`` waits for the exporters to deliver what they hold.
    public static let flushTimeout: Duration = .seconds(5)

    private static let shared = Locked<Telemetry?>(nil)

    /// The process's telemetry, bootstrapped on first use from `environment`. The tracing and
    /// metrics systems can be bootstrapped once per process, so later calls get the first one.
    public static func bootstrap(environment: [String: String], logger: Logger) throws(TelemetryError) -> Telemetry {
        let settings = try TelemetrySettings(environment: environment)
        return try shared.withLock { current throws(TelemetryError) -> Telemetry in
            if let current { return current }
            let made = try Telemetry(settings: settings, logger: logger)
            current = made
            return made
        }
    }

    /// The process's telemetry if it was bootstrapped.
    public static var current: Telemetry? { shared.withLock { $0 } }

    private init(settings: TelemetrySettings, logger: Logger) throws(TelemetryError) {
        self.settings = settings
        self.logger = logger
        registry = PrometheusCollectorRegistry()
        var prometheus = PrometheusMetricsFactory(registry: registry)
        prometheus.nameAndLabelSanitizer = { name, labels in
            (Telemetry.prometheusName(name), labels.map { (Telemetry.prometheusName($0.0), $0.1) })
        }
        prometheus.valueHistogramBuckets = [
            "gen_ai_client_token_usage": [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
            "gen_ai_client_operation_duration": [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92],
        ]

        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.logs.enabled = false
        configuration.traces.enabled = settings.exportsTraces
        configuration.metrics.enabled = settings.exportsMetrics
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.metrics.otlpExporter.protocol = .httpProtobuf
        configuration.traces.otlpExporter.timeout = .seconds(3)
        configuration.metrics.otlpExporter.timeout = .seconds(3)
        if let endpoint = settings.tracesEndpoint { configuration.traces.otlpExporter.endpoint = endpoint }
        if let endpoint = settings.metricsEndpoint { configuration.metrics.otlpExporter.endpoint = endpoint }
        // Spans go out within a second of ending: a crashed process loses little.
        configuration.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        configuration.traces.batchSpanProcessor.exportTimeout = .seconds(3)
        // swift-otel's batch processor sends one batch per tick (every scheduleDelay, or when its
        // queue is full) and drops what arrives at a full queue: with the defaults (2,048 queued,
        // 512 a batch) a run of a few thousand quick steps lost spans. A larger queue and batch
        // keep up with the engine; OTEL_BSP_MAX_QUEUE_SIZE / OTEL_BSP_MAX_EXPORT_BATCH_SIZE still
        // override them (swift-otel applies the environment after these).
        configuration.traces.batchSpanProcessor.maxQueueSize = 16_384
        configuration.traces.batchSpanProcessor.maxExportBatchSize = 4_096

        var services: [any Service] = []
        do {
            // Both backends are made before either system is bootstrapped: their HTTP clients pick
            // the global tracer when they are created, and an exporter must not trace its own exports.
            let tracing = settings.exportsTraces ? try OTel.makeTracingBackend(configuration: configuration) : nil
            let metrics = settings.exportsMetrics ? try OTel.makeMetricsBackend(configuration: configuration) : nil
            if let tracing {
                InstrumentationSystem.bootstrap(tracing.factory)
                services.append(tracing.service)
            }
            if let metrics {
                MetricsSystem.bootstrap(MultiplexMetricsHandler(factories: [prometheus, metrics.factory]))
                services.append(metrics.service)
            } else {
                MetricsSystem.bootstrap(prometheus)
            }
        } catch {
            throw .unsupported(variable: "OTEL_*", value: "", hint: "the OpenTelemetry exporter could not be set up: \(error)")
        }
        if services.isEmpty {
            group = nil
            running = nil
        } else {
            let group = ServiceGroup(configuration: .init(services: services, logger: logger))
            self.group = group
            running = Task {
                do { try await group.run() } catch { logger.warning("telemetry: the exporters stopped: \(error)") }
            }
        }
    }

    /// The metrics in the Prometheus text format (version 0.0.4), for a `/metrics` route.
    public func prometheusText() -> String {
        registry.emitToString()
    }

    /// Flushes the spans and metrics still buffered and stops the exporters, waiting at most
    /// ``flushTimeout``; a collector that does not answer in time is named in one log line.
    public func shutdown() async {
        guard let group, let running else { return }
        await group.triggerGracefulShutdown()
        let finished = await withTaskGroup(of: Bool.self) { waiters in
            waiters.addTask { await running.value; return true }
            waiters.addTask {
                try? await Task.sleep(for: Telemetry.flushTimeout)
                return false
            }
            let first = await waiters.next() ?? false
            waiters.cancelAll()
            return first
        }
        if !finished {
            running.cancel()
            logger.warning("telemetry: the OTLP exporters did not finish within \(Telemetry.flushTimeout); spans or metrics not yet sent were dropped",
                           metadata: ["endpoint": "\(settings.tracesEndpoint ?? settings.metricsEndpoint ?? "")"])
        }
    }

    /// A metric or label name as Prometheus allows it: `gen_ai.client.token.usage` becomes `gen_ai_client_token_usage`.
    static func prometheusName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
    }
}

/// A lock around a value, for the process-wide bootstrap.
private final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
