import NIOConcurrencyHelpers
import Tracing

/// A span of ``SpanTracer``: its state behind a lock, and at ``end(at:)`` its final values appended
/// to the tracer's ``SpanBuffer`` — no task, no actor, no wake-up. A span that is not sampled has
/// a context (its ids travel on) and records nothing.
final class RecordedSpan: Span, @unchecked Sendable {
    let context: InstrumentationContext
    let spanContext: SpanContext
    let parentSpanID: UInt64
    let kind: SpanKind
    let startNanoseconds: UInt64
    /// Where the span goes when it ends; nil when it is not sampled.
    private let buffer: SpanBuffer?

    // Guarded by `lock`.
    private let lock = NIOLock()
    private var name: String
    private var _attributes: SpanAttributes = [:]
    private var _status: SpanStatus?
    private var events: [SpanEvent] = []
    private var links: [SpanLink] = []
    private var ended = false

    init(name: String, kind: SpanKind, context: InstrumentationContext, spanContext: SpanContext, parentSpanID: UInt64,
         startNanoseconds: UInt64, buffer: SpanBuffer?) {
        self.name = name
        self.kind = kind
        self.context = context
        self.spanContext = spanContext
        self.parentSpanID = parentSpanID
        self.startNanoseconds = startNanoseconds
        self.buffer = buffer
    }

    var isRecording: Bool { buffer != nil && lock.withLock { !ended } }

    var operationName: String {
        get { lock.withLock { name } }
        set { lock.withLock { name = newValue } }
    }

    var attributes: SpanAttributes {
        get { lock.withLock { _attributes } }
        set {
            guard buffer != nil else { return }
            lock.withLock { _attributes = newValue }
        }
        // `span.attributes["key"] = value` changes the stored attributes in place, without copying them.
        _modify {
            lock.lock()
            defer { lock.unlock() }
            yield &_attributes
        }
    }

    func setStatus(_ status: SpanStatus) {
        guard buffer != nil else { return }
        lock.withLock {
            // Ok is final, and its message is ignored (OpenTelemetry's Set Status).
            guard _status?.code != .ok else { return }
            _status = status.code == .ok ? SpanStatus(code: .ok) : status
        }
    }

    func addEvent(_ event: SpanEvent) {
        guard buffer != nil else { return }
        lock.withLock { events.append(event) }
    }

    func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {
        guard buffer != nil else { return }
        var eventAttributes: SpanAttributes = [
            "exception.type": .string(String(describing: type(of: error))),
            "exception.message": .string(String(describing: error)),
        ]
        eventAttributes.merge(attributes)
        addEvent(SpanEvent(name: "exception", at: instant(), attributes: eventAttributes))
    }

    func addLink(_ link: SpanLink) {
        guard buffer != nil else { return }
        lock.withLock { links.append(link) }
    }

    func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        guard let buffer else { return }
        let end = instant().nanosecondsSinceEpoch
        let finished: FinishedSpan? = lock.withLock {
            guard !ended else { return nil }
            ended = true
            return FinishedSpan(context: spanContext, parentSpanID: parentSpanID, name: name, kind: kind, startNanoseconds: startNanoseconds,
                                endNanoseconds: end, attributes: _attributes, status: _status, events: events,
                                links: links.compactMap { link in link.context.spanContext.map { (context: $0, attributes: link.attributes) } })
        }
        if let finished { buffer.append(finished) }
    }
}

/// An ended span's values, as the exporter encodes them.
struct FinishedSpan: Sendable {
    var context: SpanContext
    var parentSpanID: UInt64
    var name: String
    var kind: SpanKind
    var startNanoseconds: UInt64
    var endNanoseconds: UInt64
    var attributes: SpanAttributes
    var status: SpanStatus?
    var events: [SpanEvent]
    var links: [(context: SpanContext, attributes: SpanAttributes)]
}
