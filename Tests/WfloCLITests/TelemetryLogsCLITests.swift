import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import WfloCore
import WfloTesting

/// `--log-format json` and the http step's trace context, through the real `wflo` executable with
/// spans exported to the independent receiver: one JSON object a line with run_id, step_id,
/// trace_id and span_id; secrets in none of the lines nor the spans.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct TelemetryLogsCLITests {
    @Test func jsonLogsCarryTheRunStepAndSpanAndNeverASecret() async throws {
        try await TelemetryCLITests.withReceiver { receiver in
            try await HTTPCLITests.withService { service, wflo, directory in
                let environment = TelemetryCLITests.exporting(to: receiver)
                var outputs: [String] = []
                var lines: [JSONValue] = []
                for (path, expect, status) in [("/anything", "[200]", Int32(0)), ("/anything", "[201]", 1), ("/status/503", "[200]", 1)] {
                    let file = try HTTPCLITests.write(HTTPCLITests.workflow(port: service.port, path: path, expect: expect), in: directory)
                    let run = try await wflo.run(["run", file, "--log-format", "json"], extraEnvironment: environment)
                    #expect(run.status == status, "\(run.stderr)")
                    outputs += [run.stdout, run.stderr]
                    for line in run.stderr.split(separator: "\n") {
                        let parsed = try? JSONValue.parse(String(line))
                        #expect(parsed?.objectValue != nil, "not one JSON object: \(line)")
                        if let parsed { lines.append(parsed) }
                    }
                }
                #expect(lines.allSatisfy { $0["run_id"]?.stringValue?.count == 16 })
                let steps = lines.filter { $0["step_id"] != nil }
                #expect(steps.contains { $0["message"] == "attempt failed; retrying" && $0["step_id"] == "call" })
                #expect(steps.contains { $0["message"] == "step failed" })
                for line in steps {
                    #expect(line["trace_id"]?.stringValue?.count == 32, "\(line)")
                    #expect(line["span_id"]?.stringValue?.count == 16, "\(line)")
                }
                // The trace ids in the logs are the exported spans'.
                let traces = Set(try receiver.spans().map(\.traceID))
                let logged = Set(lines.compactMap { $0["trace_id"]?.stringValue })
                #expect(!logged.isEmpty && logged.isSubset(of: traces))
                // The 503 run's retry is an event on its step span, with the reason.
                let retries = try receiver.spans().flatMap { $0.events }.filter { $0.name == "wflo.retry" }
                #expect(retries.contains { $0.attributes["wflo.retry.reason"]?.stringValue?.contains("503") == true }, "\(retries)")
                let spanText = try String(contentsOf: receiver.directory.appendingPathComponent("spans.jsonl"), encoding: .utf8)
                #expect(spanText.contains("[secret:API_TOKEN]"), "url.full is there, redacted")
                for text in outputs + [spanText] {
                    #expect(!text.contains(HTTPCLITests.secret))
                }
            }
        }
    }

    @Test func anHTTPStepSendsItsSpansTraceparentUnlessTraceContextIsOff() async throws {
        try await TelemetryCLITests.withReceiver { receiver in
            try await HTTPCLITests.withService { service, wflo, directory in
                func workflow(_ traceContext: Bool) -> String {
                    """
                    name: traced-call
                    budget: 0.01
                    egress: {allow: ["127.0.0.1"]}
                    steps:
                      - id: call
                        type: http
                        url: "http://127.0.0.1:\(service.port)/anything"
                        trace_context: \(traceContext)
                    """
                }
                let on = try await wflo.run(["run", try HTTPCLITests.write(workflow(true), in: directory)],
                                            extraEnvironment: TelemetryCLITests.exporting(to: receiver))
                #expect(on.status == 0, "\(on.stderr)")
                let sent = try #require(service.requests().last?.headers["traceparent"])
                let span = try #require(try receiver.spans().first { $0.string("http.request.method") == "GET" })
                #expect(sent == "00-\(span.traceID)-\(span.spanID)-01", "the called service hangs under the attempt's client span")
                #expect(span.kind == 3)
                #expect(span.int("http.response.status_code") == 200)

                let off = try await wflo.run(["run", try HTTPCLITests.write(workflow(false), in: directory)],
                                             extraEnvironment: TelemetryCLITests.exporting(to: receiver))
                #expect(off.status == 0, "\(off.stderr)")
                #expect(service.requests().last?.headers["traceparent"] == nil)
                // Without an exporter there is no trace context to send.
                let untraced = try await wflo.run(["run", try HTTPCLITests.write(workflow(true), in: directory)])
                #expect(untraced.status == 0)
                #expect(service.requests().last?.headers["traceparent"] == nil)
            }
        }
    }

    @Test func aBadLogFormatIsAUsageError() async throws {
        try await CLITests.withServer { _, wflo, _ in
            let bad = try await wflo.run(["run", CLITests.brief], extraEnvironment: ["WFLO_LOG_FORMAT": "xml"])
            #expect(bad.status == 2)
            #expect(bad.stderr.contains("WFLO_LOG_FORMAT='xml'"), "\(bad.stderr)")
        }
    }

    @Test func aWorkerServesPrometheusMetricsOfTheRunsItDrove() async throws {
        try await CLITests.withServer { _, wflo, directory in
            let runID = try await WorkerCLITests.submit(wflo, [CLITests.brief])
            let worker = try WorkerCLITests.Worker(wflo, ["--metrics-listen", "127.0.0.1:0"], log: directory.appendingPathComponent("worker.log"))
            defer { worker.process.send(SIGKILL) }
            #expect(try await WorkerCLITests.eventually(30) { try await WorkerCLITests.status(wflo, runID) == "completed" })
            let log = try String(contentsOf: worker.log, encoding: .utf8)
            let line = try #require(log.split(separator: "\n").first { $0.hasPrefix("metrics: http://") })
            let url = try #require(URL(string: String(line.dropFirst("metrics: ".count))))
            let (data, response) = try await URLSession.shared.data(from: url)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            let text = String(decoding: data, as: UTF8.self)
            let report = try JSONValue.parse(try await wflo.run(["report", runID, "--format", "json"]).stdout)
            let models = try #require(report["models"]?.arrayValue)
            for model in models {
                let name = try #require(model["model"]?.stringValue)
                let cost = try #require(model["cost_usd"]?.stringValue.flatMap { Money(string: $0) })
                let sample = try #require(text.split(separator: "\n").first { $0.hasPrefix("wflo_cost_usd_total{") && $0.contains("model=\"\(name)\"") },
                                          "no wflo_cost_usd_total for \(name) in \(text)")
                let value = try #require(Double(sample.split(separator: " ").last ?? ""))
                #expect(abs(value - (Double(cost.description) ?? -1)) < 1e-12, "\(sample) vs \(cost)")
            }
            #expect(text.contains("wflo_attempts_total{kind=\"llm\",outcome=\"settled\"} 3") || text.contains("wflo_attempts_total{outcome=\"settled\",kind=\"llm\"} 3"), "\(text)")
            #expect(text.contains("gen_ai_client_token_usage_bucket"))
            #expect(text.contains("gen_ai_client_operation_duration_count"))
            worker.process.send(SIGTERM)
            _ = await worker.process.finish()
        }
    }
}
