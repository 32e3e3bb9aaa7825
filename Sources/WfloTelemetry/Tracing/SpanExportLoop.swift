import AsyncHTTPClient
import Logging
import NIOHTTP1
import NIOCore
import Synchronization
import Tracing

/// The one task that sends ended spans. Woken by the ``SpanBuffer`` every few hundred spans, it
/// takes them and encodes them as OTLP protobuf while the run goes on; it POSTs what it encoded
/// every `scheduleDelay`, when a batch is full, and at ``close()``.
///
/// Exports are never traced (its HTTP client has no tracer). A collector that fails costs one log
/// line per run of failures, and a full buffer one line the first time a span is dropped; a run is
/// never held up or failed by either.
final class SpanExportLoop: Sendable {
    let buffer: SpanBuffer
    let endpoint: String
    private let headers: [(String, String)]
    private let timeout: Duration
    private let scheduleDelay: Duration
    private let encoder: OTLPTraceEncoder
    private let client: HTTPClient
    private let logger: Logger

    private struct State {
        var closing = false
        var tick = false
        var failing = false
        var droppedReported = 0
        var delivered = 0
        var lost = 0
    }

    private let state = Mutex(State())

    init(buffer: SpanBuffer, endpoint: String, headers: [String: String], timeout: Duration, scheduleDelay: Duration,
         resourceAttributes: [String: String], logger: Logger) {
        self.buffer = buffer
        self.endpoint = endpoint
        self.headers = headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        self.timeout = timeout
        self.scheduleDelay = scheduleDelay
        encoder = OTLPTraceEncoder(resourceAttributes: resourceAttributes)
        var configuration = HTTPClient.Configuration()
        // An export must not be traced itself (it would feed the buffer it drains).
        configuration.tracing.tracer = nil
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        self.logger = logger
    }

    /// Spans the collector accepted, and spans sent to it in vain (it failed or did not answer).
    var counts: (delivered: Int, lost: Int) { state.withLock { ($0.delivered, $0.lost) } }

    /// Runs until ``close()``: then sends what is buffered and returns. Cancelling it stops it at
    /// once (what is still buffered is lost). Either way its HTTP client is shut down.
    func run() async {
        await InstrumentationContext.$current.withValue(nil) {
            let ticker = Task { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: scheduleDelay)
                    state.withLock { $0.tick = true }
                    buffer.doorbell.ring()
                }
            }
            var encoded = OTLPTraceEncoder.EncodedSpans()
            while !Task.isCancelled {
                await buffer.doorbell.wait()
                let (closing, tick) = state.withLock { state -> (Bool, Bool) in
                    defer { state.tick = false }
                    return (state.closing, state.tick)
                }
                while !Task.isCancelled {
                    let batch = buffer.takeBatch()
                    if batch.isEmpty { break }
                    for span in batch {
                        encoder.append(span, to: &encoded)
                        if encoded.count == buffer.batchSize { await send(&encoded) }
                    }
                }
                if tick || closing { await send(&encoded) }
                reportDrops()
                if closing { break }
            }
            ticker.cancel()
        }
        try? await client.shutdown()
    }

    /// Asks ``run()`` to send what is buffered and return.
    func close() {
        state.withLock { $0.closing = true }
        buffer.doorbell.ring()
    }

    /// POSTs the spans encoded so far and starts anew.
    private func send(_ encoded: inout OTLPTraceEncoder.EncodedSpans) async {
        guard encoded.count > 0 else { return }
        let body = encoder.request(encoded)
        let spans = encoded.count
        encoded = OTLPTraceEncoder.EncodedSpans()
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/x-protobuf")
        request.body = .bytes(ByteBuffer(bytes: body))
        let failure: String?
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            _ = try? await response.body.collect(upTo: 1 << 20)
            failure = (200..<300).contains(response.status.code) ? nil : "the collector answered \(response.status)"
        } catch {
            failure = "\(error)"
        }
        let firstFailure = state.withLock { state -> Bool in
            if failure == nil {
                state.delivered += spans
                state.failing = false
                return false
            }
            state.lost += spans
            defer { state.failing = true }
            return !state.failing
        }
        if firstFailure, let failure {
            logger.warning("telemetry: \(spans) spans could not be exported to \(endpoint): \(failure); spans are dropped until it answers",
                           metadata: ["endpoint": "\(endpoint)"])
        }
    }

    private func reportDrops() {
        let dropped = buffer.dropped
        let first = state.withLock { state -> Bool in
            defer { state.droppedReported = dropped }
            return state.droppedReported == 0 && dropped > 0
        }
        if first {
            logger.warning("telemetry: the span queue is full (\(buffer.capacity) spans, OTEL_BSP_MAX_QUEUE_SIZE): spans are being dropped",
                           metadata: ["endpoint": "\(endpoint)"])
        }
    }
}

private extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
