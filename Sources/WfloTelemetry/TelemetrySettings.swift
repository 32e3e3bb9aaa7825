import Foundation

/// What the standard OpenTelemetry environment variables ask for. Unset endpoints mean no exporter at all:
/// the engine's spans then go to the no-op tracer and cost next to nothing.
public struct TelemetrySettings: Sendable, Equatable {
    /// Where spans go (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`).
    public var tracesEndpoint: String?
    /// Where metrics go (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/metrics`).
    public var metricsEndpoint: String?
    public var serviceName: String
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
        serviceName = value("OTEL_SERVICE_NAME") ?? "wflo"
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
