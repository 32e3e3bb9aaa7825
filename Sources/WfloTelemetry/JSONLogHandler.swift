import Foundation
import Logging
import Tracing

/// swift-log's handler for `--log-format json` / `WFLO_LOG_FORMAT=json`: one JSON object a line on
/// standard error, with the time, level, logger label, message, the metadata (`run_id`, `step_id`, …)
/// and, when the line is logged inside a span, its `trace_id` and `span_id`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var object: [String: Any] = [
            "time": JSONLogHandler.timestamp(),
            "level": event.level.rawValue,
            "logger": label,
            "message": event.message.description,
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) {
            object[key] = JSONLogHandler.plain(value)
        }
        if let context = InstrumentationContext.current, let (trace, span) = JSONLogHandler.ids(context) {
            object["trace_id"] = trace
            object["span_id"] = span
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        write(String(decoding: data, as: UTF8.self) + "\n")
    }

    /// The trace and span ids of the span `context` holds (none with the no-op tracer).
    static func ids(_ context: InstrumentationContext) -> (String, String)? {
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: Headers())
        guard let parts = headers["traceparent"]?.split(separator: "-"), parts.count == 4 else { return nil }
        return (String(parts[1]), String(parts[2]))
    }

    private static func plain(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(plain)
        case .dictionary(let values): values.mapValues(plain)
        }
    }

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    private struct Headers: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }
}
