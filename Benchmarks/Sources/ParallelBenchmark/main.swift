import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import WfloCore
import WfloDSL
import WfloEngine
import WfloHTTP
import WfloPricing
import WfloProviders
import WfloStore

// LLM calls in parallel: a `for_each` of CALLS llm items with `max_parallel: PARALLEL` against a
// stand-in server that answers after 50 ms (parallel/server.py), beside a plain aiohttp client
// (parallel/client.py) sending the same calls PARALLEL at a time to the same server, interleaved,
// in the same run. Also wflo with AsyncHTTPClient's old pool of 8 connections per host.
//
// Run: python3 -m venv .venv && .venv/bin/pip install aiohttp; swift run -c release ParallelBenchmark

let environment = ProcessInfo.processInfo.environment
let calls = Int(environment["BENCH_CALLS"] ?? "") ?? 640
let parallel = Int(environment["BENCH_PARALLEL"] ?? "") ?? 32
let delayMS = Int(environment["BENCH_DELAY_MS"] ?? "") ?? 50
let repetitions = Int(environment["BENCH_REPS"] ?? "") ?? 5
let python = environment["BENCH_PYTHON"] ?? ".venv/bin/python"
let port = Int(environment["BENCH_PORT"] ?? "") ?? 18_765
let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let scripts = here.appendingPathComponent("parallel")

@discardableResult
func spawn(_ arguments: [String], wait: Bool) throws -> (Process, Pipe) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: arguments[0].hasPrefix("/") ? arguments[0] : here.appendingPathComponent(arguments[0]).path)
    process.arguments = Array(arguments.dropFirst())
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    if wait { process.waitUntilExit() }
    return (process, output)
}

func http(_ method: String, _ path: String) async throws -> JSONValue {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    request.httpMethod = method
    let (data, _) = try await URLSession.shared.data(for: request)
    return try JSONValue.parse(String(decoding: data, as: UTF8.self))
}

func stats(_ values: [Double]) -> (min: Double, median: Double, max: Double) {
    let s = values.sorted()
    return (s.first ?? 0, s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2, s.last ?? 0)
}

let (server, _) = try spawn([python, scripts.appendingPathComponent("server.py").path, String(port), String(delayMS)], wait: false)
defer { server.terminate() }
// Wait for the server to listen.
for attempt in 0... {
    if (try? await http("GET", "/stats")) != nil { break }
    precondition(attempt < 100, "the stand-in server did not start")
    try await Task.sleep(for: .milliseconds(100))
}

let yaml = """
    name: parallel
    inputs:
      xs: {type: array}
    steps:
      - id: each
        type: llm
        for_each: {items: "{{inputs.xs}}", item_var: x, max_parallel: \(parallel)}
        model: bench-gpt
        prompt: "Say ok to item {{for_each.x}}"
        max_tokens: 16
    outputs:
      count: "{{steps.each.output.succeeded}}"
    """
let definition = try WorkflowParser().parse(yaml: yaml, file: "parallel.yaml")
let pricing = try PricingTable(json: ["bench-gpt": ["litellm_provider": "openai", "mode": "chat", "input_cost_per_token": .number("1e-06"),
                                                    "output_cost_per_token": .number("2e-06"), "max_output_tokens": 1000]], source: "bench")
let endpoints = ProviderEndpoints(openAIBaseURL: "http://127.0.0.1:\(port)/v1", openAIKey: "sk-bench", anthropicKey: nil)
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-parallel-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }

/// One wflo run; returns its wall seconds and the most calls the server held at once.
func runWflo(connections: Int, rep: Int) async throws -> (seconds: Double, inFlight: Int) {
    _ = try await http("POST", "/reset")
    let transport = AsyncHTTPTransport(maximumConnectionsPerHost: connections)
    let store = try SQLiteJournalStore(path: directory.appendingPathComponent("run-\(connections)-\(rep).db").path)
    let executor = Executor(ExecutorConfiguration(store: store, pricing: pricing, llm: LLMClient(transport: transport, endpoints: endpoints),
                                                  cacheEnabled: false))
    let items: JSONValue = .array((0..<calls).map { .int($0) })
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try await executor.start(definition: definition, source: yaml, path: "parallel.yaml", inputs: ["xs": items], budget: nil)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    try await transport.shutdown()
    precondition(result.status == .completed && result.outputs?["count"] == .int(calls), "run ended \(result.status): \(result.error ?? "")")
    return (seconds, try await http("GET", "/stats")["max_in_flight"]?.intValue ?? 0)
}

func runAiohttp() async throws -> (seconds: Double, inFlight: Int) {
    _ = try await http("POST", "/reset")
    let (_, output) = try spawn([python, scripts.appendingPathComponent("client.py").path,
                                 "http://127.0.0.1:\(port)/v1/chat/completions", String(calls), String(parallel)], wait: true)
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let seconds = try Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? { fatalError("client printed \(text)") }()
    return (seconds, try await http("GET", "/stats")["max_in_flight"]?.intValue ?? 0)
}

var wflo: [Double] = [], old: [Double] = [], baseline: [Double] = []
var wfloInFlight = 0, oldInFlight = 0, baselineInFlight = 0
_ = try await runWflo(connections: AsyncHTTPTransport.defaultMaximumConnectionsPerHost, rep: -1)  // warm-up
for rep in 0..<repetitions {
    let a = try await runAiohttp(); baseline.append(a.seconds); baselineInFlight = max(baselineInFlight, a.inFlight)
    let w = try await runWflo(connections: AsyncHTTPTransport.defaultMaximumConnectionsPerHost, rep: rep)
    wflo.append(w.seconds); wfloInFlight = max(wfloInFlight, w.inFlight)
    let o = try await runWflo(connections: 8, rep: rep)
    old.append(o.seconds); oldInFlight = max(oldInFlight, o.inFlight)
}

print("\(calls) calls, max_parallel \(parallel), answers after \(delayMS) ms, \(repetitions) interleaved rounds; ideal \(String(format: "%.0f", Double(parallel) * 1000 / Double(delayMS))) calls/s")
func line(_ name: String, _ seconds: [Double], _ inFlight: Int) {
    let s = stats(seconds)
    print(String(format: "%@ calls/s min %.0f · median %.0f · max %.0f; most in flight at the server %d", name.padding(toLength: 44, withPad: " ", startingAt: 0),
                 Double(calls) / s.max, Double(calls) / s.median, Double(calls) / s.min, inFlight))
}
line("aiohttp client (baseline)", baseline, baselineInFlight)
line("wflo for_each (pool \(AsyncHTTPTransport.defaultMaximumConnectionsPerHost) per host)", wflo, wfloInFlight)
line("wflo for_each (old pool: 8 per host)", old, oldInFlight)
print(String(format: "wflo / aiohttp, medians: %.2f", stats(baseline).median / stats(wflo).median))
