import Foundation

/// What the standard OpenTelemetry environment variables ask for. Unset endpoints mean no exporter at all:
/// the engine's spans then go to the no-op tracer and cost next to nothing.
public struct TelemetrySettings: Sendable, Equatable {
    /// Where spans go (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`).
    public var tracesEndpoint: String?
    /// Where metrics go (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/metrics`).
    public var metricsEndpoint: String?
    /// `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else `wflo`.
    public var serviceName: String
    /// `OTEL_RESOURCE_ATTRIBUTES` (`key=value,…`, values percent-decoded) with `service.name` set.
    public var resourceAttributes: [String: String]
    /// `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`).
    public var sampler: TraceSampler
    /// Ended spans held for export at most (`OTEL_BSP_MAX_QUEUE_SIZE`, default 16,384); more are dropped and counted.
    public var spanQueueSize: Int
    /// Spans a request carries at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, default 4,096); a full batch is sent at once.
    public var spanBatchSize: Int
    /// How often buffered spans are sent (`OTEL_BSP_SCHEDULE_DELAY` in ms, default 1,000).
    public var spanScheduleDelay: Duration
    /// How long one export may take (`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` / `OTEL_EXPORTER_OTLP_TIMEOUT` in ms, default 3,000).
    public var tracesTimeout: Duration
    /// Headers sent with each export of spans (`OTEL_EXPORTER_OTLP_HEADERS`, then `OTEL_EXPORTER_OTLP_TRACES_HEADERS`).
    public var tracesHeaders: [String: String]
    public var exportsTraces: Bool { tracesEndpoint != nil }
    public var exportsMetrics: Bool { metricsEndpoint != nil }

    public init(environment: [String: String]) throws(TelemetryError) {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        if let proto = value("OTEL_EXPORTER_OTLP_PROTOCOL"), proto != "http/protobuf" {
            throw .unsupported(variable: "OTEL_EXPORTER_OTLP_PROTOCOL", value: proto,
                               hint: "wflo exports OTLP over HTTP with protobuf bodies only; unset it or set it to http/protobuf")
        }
        let base = value("OTEL_EXPORTER_OTLP_ENDPOINT")
        func signal(_ specific: String, _ path: String) throws(TelemetryError) -> String? {
            if let url = value(specific) { try Self.check(url, variable: specific); return url }
            guard let base else { return nil }
            try Self.check(base, variable: "OTEL_EXPORTER_OTLP_ENDPOINT")
            return base.hasSuffix("/") ? base + path : base + "/" + path
        }
        tracesEndpoint = try signal("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "v1/traces")
        metricsEndpoint = try signal("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "v1/metrics")
        var resource: [String: String] = [:]
        if let text = value("OTEL_RESOURCE_ATTRIBUTES") {
            resource = try Self.pairs(text, variable: "OTEL_RESOURCE_ATTRIBUTES")
        }
        serviceName = value("OTEL_SERVICE_NAME") ?? resource["service.name"] ?? "wflo"
        resource["service.name"] = serviceName
        resourceAttributes = resource
        sampler = try TraceSampler(name: value("OTEL_TRACES_SAMPLER"), argument: value("OTEL_TRACES_SAMPLER_ARG"))
        func count(_ name: String, _ fallback: Int) throws(TelemetryError) -> Int {
            guard let text = value(name) else { return fallback }
            guard let number = Int(text), number > 0 else { throw .unsupported(variable: name, value: text, hint: "give a whole number above 0") }
            return number
        }
        spanQueueSize = try count("OTEL_BSP_MAX_QUEUE_SIZE", 16_384)
        spanBatchSize = try min(count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 4_096), spanQueueSize)
        spanScheduleDelay = try .milliseconds(count("OTEL_BSP_SCHEDULE_DELAY", 1_000))
        let timeoutName = value("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") != nil ? "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT" : "OTEL_EXPORTER_OTLP_TIMEOUT"
        tracesTimeout = try .milliseconds(count(timeoutName, 3_000))
        var headers: [String: String] = [:]
        for name in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
            if let text = value(name) { headers.merge(try Self.pairs(text, variable: name)) { _, new in new } }
        }
        tracesHeaders = headers
    }

    /// `key1=value1,key2=value2` as OpenTelemetry writes resource attributes and headers; values may be percent-encoded.
    private static func pairs(_ text: String, variable: String) throws(TelemetryError) -> [String: String] {
        var pairs: [String: String] = [:]
        for item in text.split(separator: ",") where !item.trimmingCharacters(in: .whitespaces).isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1)
            let key = parts.first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard parts.count == 2, !key.isEmpty else {
                throw .unsupported(variable: variable, value: text, hint: "'\(item)' is not key=value; give key1=value1,key2=value2")
            }
            let raw = parts[1].trimmingCharacters(in: .whitespaces)
            pairs[key] = raw.removingPercentEncoding ?? raw
        }
        return pairs
    }

    private static func check(_ url: String, variable: String) throws(TelemetryError) {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil else {
            throw .unsupported(variable: variable, value: url, hint: "give an http:// or https:// URL such as http://127.0.0.1:4318")
        }
    }
}

public enum TelemetryError: Error, Equatable, CustomStringConvertible {
    case unsupported(variable: String, value: String, hint: String)

    public var description: String {
        switch self {
        case let .unsupported(variable, value, hint): "\(variable)=\(value) is not usable: \(hint)"
        }
    }
}
