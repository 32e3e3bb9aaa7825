import Tracing

/// Ended spans as an OTLP `ExportTraceServiceRequest` in protobuf: one `ResourceSpans` (the
/// process's resource: `service.name` and `OTEL_RESOURCE_ATTRIBUTES`) holding one `ScopeSpans`.
///
/// Field numbers, from opentelemetry-proto's trace.proto and common.proto: the request's
/// resource_spans 1; ResourceSpans resource 1, scope_spans 2; Resource attributes 1; ScopeSpans
/// scope 1, spans 2; InstrumentationScope name 1, version 2; Span trace_id 1, span_id 2,
/// trace_state 3, parent_span_id 4, name 5, kind 6, start 7 and end 8 (fixed64), attributes 9,
/// events 11, links 13, status 15; Event time 1 (fixed64), name 2, attributes 3; Link trace_id 1,
/// span_id 2, trace_state 3, attributes 4; Status message 2, code 3; KeyValue key 1, value 2;
/// AnyValue string 1, bool 2, int 3, double 4, array 5; ArrayValue values 1.
struct OTLPTraceEncoder: Sendable {
    /// The Resource message's fields, encoded once.
    private let resource: [UInt8]
    static let scopeName = "wflo"

    init(resourceAttributes: [String: String]) {
        var writer = ProtobufWriter()
        for key in resourceAttributes.keys.sorted() {
            writer.message(1) { kv in
                kv.string(1, key, always: true)
                kv.message(2) { $0.string(1, resourceAttributes[key] ?? "", always: true) }
            }
        }
        resource = writer.bytes
    }

    /// A whole request carrying `spans`.
    func encode(_ spans: [FinishedSpan]) -> [UInt8] {
        var encoded = EncodedSpans()
        for span in spans { append(span, to: &encoded) }
        return request(encoded)
    }

    /// Spans encoded ahead of their request (by the export task, while the run goes on).
    struct EncodedSpans {
        var writer = ProtobufWriter()
        var count = 0
    }

    /// Encodes `span` as one of a ScopeSpans' spans (field 2).
    func append(_ span: FinishedSpan, to encoded: inout EncodedSpans) {
        encoded.writer.message(2) { Self.write(span, into: &$0) }
        encoded.count += 1
    }

    /// The request around spans encoded with ``append(_:to:)``.
    func request(_ encoded: EncodedSpans) -> [UInt8] {
        var writer = ProtobufWriter(capacity: encoded.writer.bytes.count + resource.count + 64)
        writer.message(1) { resourceSpans in
            resourceSpans.message(1) { $0.raw(resource) }
            resourceSpans.message(2) { scopeSpans in
                scopeSpans.message(1) { $0.string(1, Self.scopeName) }
                scopeSpans.raw(encoded.writer.bytes)
            }
        }
        return writer.bytes
    }

    private static func write(_ span: FinishedSpan, into writer: inout ProtobufWriter) {
        writer.id128(1, high: span.context.traceIDHigh, low: span.context.traceIDLow)
        writer.id64(2, span.context.spanID)
        writer.string(3, span.context.traceState)
        writer.id64(4, span.parentSpanID)
        writer.string(5, span.name, always: true)
        writer.varint(6, kind(span.kind))
        writer.fixed64(7, span.startNanoseconds)
        writer.fixed64(8, span.endNanoseconds)
        write(span.attributes, field: 9, into: &writer)
        for event in span.events {
            writer.message(11) { message in
                message.fixed64(1, event.nanosecondsSinceEpoch)
                message.string(2, event.name, always: true)
                write(event.attributes, field: 3, into: &message)
            }
        }
        for link in span.links {
            writer.message(13) { message in
                message.id128(1, high: link.context.traceIDHigh, low: link.context.traceIDLow)
                message.id64(2, link.context.spanID)
                message.string(3, link.context.traceState)
                write(link.attributes, field: 4, into: &message)
            }
        }
        if let status = span.status {
            writer.message(15) { message in
                switch status.code {
                case .ok: message.varint(3, 1)
                case .error:
                    message.string(2, status.message ?? "")
                    message.varint(3, 2)
                }
            }
        }
    }

    private static func kind(_ kind: SpanKind) -> UInt64 {
        switch kind {
        case .internal: 1
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        }
    }

    private static func write(_ attributes: SpanAttributes, field: UInt32, into writer: inout ProtobufWriter) {
        attributes.forEach { key, value in
            writer.message(field) { kv in
                kv.string(1, key, always: true)
                kv.message(2) { write(value, into: &$0) }
            }
        }
    }

    /// An attribute's value as an AnyValue's fields.
    private static func write(_ value: SpanAttribute, into writer: inout ProtobufWriter) {
        func array<T>(_ values: [T], _ element: (T, inout ProtobufWriter) -> Void) {
            writer.message(5) { list in
                for value in values { list.message(1) { element(value, &$0) } }
            }
        }
        switch value {
        case .string(let text): writer.string(1, text, always: true)
        case .bool(let flag): writer.bool(2, flag)
        case .int32(let number): writeInt(Int64(number), into: &writer)
        case .int64(let number): writeInt(number, into: &writer)
        case .double(let number): writer.double(4, number)
        case .stringArray(let values): array(values) { $1.string(1, $0, always: true) }
        case .boolArray(let values): array(values) { $1.bool(2, $0) }
        case .int32Array(let values): array(values) { writeInt(Int64($0), into: &$1) }
        case .int64Array(let values): array(values) { writeInt($0, into: &$1) }
        case .doubleArray(let values): array(values) { $1.double(4, $0) }
        case .stringConvertible(let convertible): writer.string(1, convertible.description, always: true)
        case .stringConvertibleArray(let values): array(values) { $1.string(1, $0.description, always: true) }
        default: writer.string(1, "\(value)", always: true)
        }
    }

    /// An int_value, written even when zero (inside a oneof, 0 is a value).
    private static func writeInt(_ number: Int64, into writer: inout ProtobufWriter) {
        if number == 0 { writer.bool(3, false) } else { writer.int64(3, number) }
    }
}
