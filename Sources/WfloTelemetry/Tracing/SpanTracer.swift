import Tracing

/// wflo's tracer behind swift-distributed-tracing's `Tracer`: W3C trace context in and out, the
/// OTEL_TRACES_SAMPLER decision, and spans that on ending go to a ``SpanBuffer`` under a lock.
///
/// Starting and ending a span touches no task and no actor (swift-otel's tracer handed every start
/// and end to a task through an `AsyncStream`, and each ended span to its batch processor through
/// another: several task wake-ups per span, the largest single cost of a traced run). The buffer is
/// drained by ``SpanExportLoop``, on a timer or when a batch fills.
final class SpanTracer: Tracer, Sendable {
    let sampler: TraceSampler
    let buffer: SpanBuffer
    private let ids: SpanIDGenerator

    init(sampler: TraceSampler, buffer: SpanBuffer, ids: SpanIDGenerator = SpanIDGenerator()) {
        self.sampler = sampler
        self.buffer = buffer
        self.ids = ids
    }

    func startSpan<Instant: TracerInstant>(_ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
                                           at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt) -> RecordedSpan {
        var context = context()
        let parent = context.spanContext
        let trace: (high: UInt64, low: UInt64) = if let parent { (parent.traceIDHigh, parent.traceIDLow) } else { ids.nextTraceID() }
        let sampled = sampler.samples(traceIDLow: trace.low, parent: parent)
        let spanContext = SpanContext(traceIDHigh: trace.high, traceIDLow: trace.low, spanID: ids.nextSpanID(), flags: sampled ? 1 : 0,
                                      traceState: parent?.traceState ?? "")
        context.spanContext = spanContext
        return RecordedSpan(name: operationName, kind: kind, context: context, spanContext: spanContext, parentSpanID: parent?.spanID ?? 0,
                            startNanoseconds: sampled ? instant().nanosecondsSinceEpoch : 0, buffer: sampled ? buffer : nil)
    }

    /// Asks the export task to send what is buffered now.
    func forceFlush() {
        buffer.doorbell.ring()
    }

    func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let spanContext = context.spanContext else { return }
        injector.inject(spanContext.traceparent, forKey: "traceparent", into: &carrier)
        if !spanContext.traceState.isEmpty { injector.inject(spanContext.traceState, forKey: "tracestate", into: &carrier) }
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let traceparent = extractor.extract(key: "traceparent", from: carrier),
              let spanContext = SpanContext(traceparent: traceparent, traceState: extractor.extract(key: "tracestate", from: carrier))
        else { return }
        context.spanContext = spanContext
    }
}
