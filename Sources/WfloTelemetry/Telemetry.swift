import CoreMetrics
import Foundation
import Logging
import OTel
import Prometheus
import ServiceLifecycle
import Tracing

/// The exporters of a process: OTLP/HTTP spans (``SpanTracer``, ``SpanExportLoop``) and metrics
/// (swift-otel) when the OTEL_* environment asks for them, and a Prometheus registry whose text the server's and workers' `/metrics` serve.
///
/// Bootstrapped once per process by the composition root (the CLI). ``shutdown()`` flushes what
/// is buffered, bounded in time: a dead collector costs a log line, never a failed or hung run.
public final class Telemetry: Sendable {
    public let settings: TelemetrySettings
    /// The registry behind ``prometheusText()``.
    public let registry: PrometheusCollectorRegistry
    /// The metrics exporter (swift-otel's) and the task running it.
    private let group: ServiceGroup?
    private let running: Task<Void, Never>?
    /// The span exporter and the task running it.
    let spans: SpanExportLoop?
    private let exporting: Task<Void, Never>?
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
        // Spans are wflo's own (SpanTracer): swift-otel exports the metrics only.
        configuration.traces.enabled = false
        configuration.metrics.enabled = settings.exportsMetrics
        configuration.metrics.otlpExporter.protocol = .httpProtobuf
        configuration.metrics.otlpExporter.timeout = .seconds(3)
        if let endpoint = settings.metricsEndpoint { configuration.metrics.otlpExporter.endpoint = endpoint }

        // The metrics backend is made before the tracer is bootstrapped: its HTTP client picks the
        // global tracer when it is created, and an exporter must not trace its own exports.
        let metrics: (factory: any MetricsFactory, service: any Service)?
        do {
            if settings.exportsMetrics {
                let backend = try OTel.makeMetricsBackend(configuration: configuration)
                metrics = (backend.factory, backend.service)
            } else {
                metrics = nil
            }
        } catch {
            throw .unsupported(variable: "OTEL_*", value: "", hint: "the OpenTelemetry exporter could not be set up: \(error)")
        }
        if let metrics {
            MetricsSystem.bootstrap(MultiplexMetricsHandler(factories: [prometheus, metrics.factory]))
            let group = ServiceGroup(configuration: .init(services: [metrics.service], logger: logger))
            self.group = group
            running = Task {
                do { try await group.run() } catch { logger.warning("telemetry: the exporters stopped: \(error)") }
            }
        } else {
            MetricsSystem.bootstrap(prometheus)
            group = nil
            running = nil
        }

        if let endpoint = settings.tracesEndpoint {
            let buffer = SpanBuffer(capacity: settings.spanQueueSize, batchSize: settings.spanBatchSize)
            // Its HTTP client is told to use no tracer: an export is never traced.
            let exporter = SpanExportLoop(buffer: buffer, endpoint: endpoint, headers: settings.tracesHeaders, timeout: settings.tracesTimeout,
                                          scheduleDelay: settings.spanScheduleDelay, resourceAttributes: settings.resourceAttributes, logger: logger)
            spans = exporter
            exporting = Task { await exporter.run() }
            InstrumentationSystem.bootstrap(SpanTracer(sampler: settings.sampler, buffer: buffer))
        } else {
            spans = nil
            exporting = nil
        }
    }

    /// The metrics in the Prometheus text format (version 0.0.4), for a `/metrics` route.
    public func prometheusText() -> String {
        registry.emitToString()
    }

    /// Flushes the spans and metrics still buffered and stops the exporters, waiting at most
    /// ``flushTimeout``; a collector that does not answer in time is named in one log line.
    public func shutdown() async {
        guard spans != nil || group != nil else { return }
        spans?.close()
        await group?.triggerGracefulShutdown()
        let finished = await withTaskGroup(of: Bool.self) { waiters in
            waiters.addTask { [exporting, running] in
                await exporting?.value
                await running?.value
                return true
            }
            waiters.addTask {
                try? await Task.sleep(for: Telemetry.flushTimeout)
                return false
            }
            let first = await waiters.next() ?? false
            waiters.cancelAll()
            return first
        }
        if !finished {
            exporting?.cancel()
            running?.cancel()
            logger.warning("telemetry: the OTLP exporters did not finish within \(Telemetry.flushTimeout); spans or metrics not yet sent were dropped",
                           metadata: ["endpoint": "\(settings.tracesEndpoint ?? settings.metricsEndpoint ?? "")"])
        }
        if let spans, spans.buffer.dropped > 0 {
            logger.warning("telemetry: \(spans.buffer.dropped) spans were dropped in all: the queue of \(spans.buffer.capacity) was full (OTEL_BSP_MAX_QUEUE_SIZE)",
                           metadata: ["endpoint": "\(spans.endpoint)"])
        }
    }

    /// A metric or label name as Prometheus allows it: `gen_ai.client.token.usage` becomes `gen_ai_client_token_usage`.
    /// Every metric's name and labels pass through here each time one is recorded (swift-metrics
    /// makes a handler per use): ASCII names are mapped byte by byte, without Unicode properties.
    static func prometheusName(_ name: String) -> String {
        var ascii = true
        var valid = true
        for byte in name.utf8 {
            if byte >= 0x80 { ascii = false; break }
            if !Self.isNameByte(byte) { valid = false }
        }
        if ascii {
            return valid ? name : String(decoding: name.utf8.map { Self.isNameByte($0) ? $0 : UInt8(ascii: "_") }, as: UTF8.self)
        }
        return String(name.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: ":"): true
        default: false
        }
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
