import Foundation
import Logging
import Synchronization
import Testing
import Tracing
import WfloCore
@testable import WfloTelemetry

/// wflo's span pipeline (SpanTracer → SpanBuffer → SpanExportLoop) against the independent OTLP
/// receiver: what it encodes decodes with opentelemetry-proto, every span arrives once, a full
/// buffer drops and says so once, a sampler that is off sends nothing, a dead collector is one line.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SpanPipelineTests {
    /// Log lines at warning and above, kept for the test to read.
    final class Lines: Sendable {
        private let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var logger: Logger { Logger(label: "test") { _ in Handler(lines: self) } }

        struct Handler: LogHandler {
            let lines: Lines
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .warning
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) { lines.append(event.message.description) }
        }
    }

    static func pipeline(endpoint: String, capacity: Int = 16_384, batch: Int = 4_096, sampler: TraceSampler = .default,
                         timeout: Duration = .seconds(3), lines: Lines = Lines()) -> (SpanTracer, SpanExportLoop) {
        let buffer = SpanBuffer(capacity: capacity, batchSize: batch)
        let loop = SpanExportLoop(buffer: buffer, endpoint: endpoint + "/v1/traces", headers: ["x-test": "1"], timeout: timeout,
                                  scheduleDelay: .seconds(1), resourceAttributes: ["service.name": "pipeline-test", "deployment.environment": "ci"],
                                  logger: lines.logger)
        return (SpanTracer(sampler: sampler, buffer: buffer), loop)
    }

    @Test func manySpansFromManyTasksArriveExactlyOnceWithTheirAttributesEventsAndStatus() async throws {
        try await TelemetryCLITests.withReceiver { receiver in
            // A small batch, so the count crossing it wakes the export task many times while spans still end.
            let (tracer, loop) = Self.pipeline(endpoint: receiver.endpoint, batch: 97)
            let running = Task { await loop.run() }
            let tasks = 16, perTask = 400
            let root = tracer.startSpan("root", context: .topLevel, ofKind: .server)
            await withTaskGroup(of: Void.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        for index in 0..<perTask {
                            let span = tracer.startSpan("work \(task)", context: root.context, ofKind: index % 2 == 0 ? .client : .internal)
                            span.attributes["task"] = task
                            span.attributes["index"] = index
                            span.attributes["ratio"] = 0.5
                            span.attributes["even"] = index % 2 == 0
                            span.attributes["tags"] = ["a", "b"]
                            span.attributes["cost"] = "0.00001"
                            if index == 7 {
                                span.addEvent(SpanEvent(name: "wflo.retry", attributes: ["wflo.retry.reason": "HTTP 503"]))
                                span.setStatus(SpanStatus(code: .error, message: "boom"))
                            }
                            span.end()
                        }
                    }
                }
            }
            root.end()
            loop.close()
            await running.value

            let spans = try receiver.spans()
            #expect(spans.count == tasks * perTask + 1)
            #expect(Set(spans.map(\.spanID)).count == spans.count, "every span once")
            #expect(loop.counts.delivered == spans.count && loop.counts.lost == 0)
            let rootSpan = try #require(spans.first { $0.name == "root" })
            #expect(rootSpan.parentSpanID.isEmpty && rootSpan.kind == 2)
            #expect(spans.allSatisfy { $0.traceID == rootSpan.traceID })
            let work = spans.filter { $0.name != "root" }
            #expect(work.allSatisfy { $0.parentSpanID == rootSpan.spanID })
            for task in 0..<tasks {
                let mine = work.filter { $0.int("task") == task }
                #expect(mine.compactMap { $0.int("index") }.sorted() == Array(0..<perTask), "task \(task)")
            }
            let sample = try #require(work.first { $0.int("index") == 7 })
            #expect(sample.kind == 1 && sample.statusCode == 2)
            #expect(sample.attributes["ratio"]?.doubleValue == 0.5)
            #expect(sample.attributes["even"] == .bool(false))
            #expect(sample.attributes["tags"]?.arrayValue == ["a", "b"])
            #expect(sample.string("cost") == "0.00001")
            #expect(sample.events.map(\.name) == ["wflo.retry"])
            #expect(sample.events.first?.attributes["wflo.retry.reason"] == "HTTP 503")
            #expect(work.first { $0.int("index") == 0 }?.kind == 3)
            let raw = try String(contentsOf: receiver.directory.appendingPathComponent("spans.jsonl"), encoding: .utf8)
            #expect(raw.contains("\"service_name\": \"pipeline-test\""))
        }
    }

    @Test func aFullBufferDropsCountsAndSaysSoOnce() async throws {
        try await TelemetryCLITests.withReceiver { receiver in
            let lines = Lines()
            // The export task is not running yet: nothing drains the buffer while the spans end.
            let (tracer, loop) = Self.pipeline(endpoint: receiver.endpoint, capacity: 10, batch: 10, lines: lines)
            for index in 0..<25 {
                let span = tracer.startSpan("s\(index)", context: .topLevel, ofKind: .internal)
                span.end()
            }
            #expect(tracer.buffer.count == 10)
            #expect(tracer.buffer.dropped == 15)
            let running = Task { await loop.run() }
            for index in 25..<30 { tracer.startSpan("s\(index)", context: .topLevel, ofKind: .internal).end() }
            loop.close()
            await running.value
            #expect(lines.all.filter { $0.contains("span queue is full") }.count == 1, "\(lines.all)")
            let names = Set(try receiver.spans().map(\.name))
            #expect((0..<10).allSatisfy { names.contains("s\($0)") }, "the first ten were kept: \(names.sorted())")
            #expect(!names.contains("s10"))
        }
    }

    @Test func aSamplerThatIsOffSendsNothingAndStillPropagatesTheTrace() async throws {
        try await TelemetryCLITests.withReceiver { receiver in
            let (tracer, loop) = Self.pipeline(endpoint: receiver.endpoint, sampler: try TraceSampler(name: "always_off", argument: nil))
            let running = Task { await loop.run() }
            let span = tracer.startSpan("dropped", context: .topLevel, ofKind: .internal)
            span.attributes["x"] = 1
            #expect(!span.isRecording)
            var headers: [String: String] = [:]
            tracer.inject(span.context, into: &headers, using: DictionaryInjector())
            let traceparent = try #require(headers["traceparent"])
            #expect(traceparent.hasSuffix("-00"), "a trace that is not sampled says so: \(traceparent)")
            #expect(traceparent.count == 55 && traceparent.hasPrefix("00-"))
            span.end()
            #expect(tracer.buffer.count == 0)
            loop.close()
            await running.value
            #expect(try receiver.spans().isEmpty)
            #expect(loop.counts.delivered == 0)
            #expect(!FileManager.default.fileExists(atPath: receiver.directory.appendingPathComponent("spans.jsonl").path), "no export was sent")
        }
    }

    @Test func parentBasedSamplersFollowTheCallersFlag() throws {
        let buffer = SpanBuffer(capacity: 100, batchSize: 100)
        let tracer = SpanTracer(sampler: try TraceSampler(name: "parentbased_always_off", argument: nil), buffer: buffer)
        func child(of traceparent: String?) -> RecordedSpan {
            var context = InstrumentationContext.topLevel
            if let traceparent { tracer.extract(["traceparent": traceparent], into: &context, using: DictionaryInjector()) }
            return tracer.startSpan("child", context: context, ofKind: .internal)
        }
        let sampled = child(of: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(sampled.isRecording)
        #expect(sampled.parentSpanID == 0x00f0_67aa_0ba9_02b7)
        #expect(sampled.spanContext.traceparent.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
        #expect(!child(of: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").isRecording)
        #expect(!child(of: nil).isRecording, "a root asks the root sampler: always_off")
        let ratioNone = SpanTracer(sampler: try TraceSampler(name: "traceidratio", argument: "0"), buffer: buffer)
        #expect(!(0..<50).contains { _ in ratioNone.startSpan("r", context: .topLevel, ofKind: .internal).isRecording })
        let ratioAll = SpanTracer(sampler: try TraceSampler(name: "traceidratio", argument: "1"), buffer: buffer)
        #expect((0..<50).allSatisfy { _ in ratioAll.startSpan("r", context: .topLevel, ofKind: .internal).isRecording })
    }

    @Test func aDeadCollectorCostsOneLogLineForAllItsBatches() async throws {
        let lines = Lines()
        // AsyncHTTPClient retries a refused connection until the request's deadline: a short one keeps the test quick.
        let (tracer, loop) = Self.pipeline(endpoint: "http://127.0.0.1:9", batch: 5, timeout: .milliseconds(300), lines: lines)
        let running = Task { await loop.run() }
        for index in 0..<40 {
            tracer.startSpan("s\(index)", context: .topLevel, ofKind: .internal).end()
            if index % 5 == 4 { await Task.yield() }
        }
        loop.close()
        await running.value
        #expect(loop.counts.lost == 40 && loop.counts.delivered == 0)
        let failures = lines.all.filter { $0.contains("could not be exported") }
        #expect(failures.count == 1, "\(lines.all)")
        #expect(failures.first?.contains("http://127.0.0.1:9/v1/traces") == true)
    }

    struct DictionaryInjector: Injector, Extractor {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    }
}
