import Foundation
import WfloCore
import WfloDSL
import WfloEngine
import WfloPricing
import WfloProviders
import WfloStore
import WfloTelemetry
import Logging

// The cost of telemetry on the engine: a 1,000-step chain of paid `llm` steps (canned answers, no
// network: the attempt path alone, one step span and one chat span per step) and a 1,000-step chain
// of transforms, each run with export on (OTLP/HTTP to a local sink, Benchmarks/telemetry/sink.py)
// and off (no OTEL_* variables: the no-op tracer), in child processes started alternately in the
// same run so machine noise hits both alike. A child's time includes the final flush of its spans.
//
// Run: cd Benchmarks && swift run -c release TelemetryBenchmark

let steps = Int(ProcessInfo.processInfo.environment["BENCH_STEPS"] ?? "") ?? 1000
let repetitions = Int(ProcessInfo.processInfo.environment["BENCH_REPS"] ?? "") ?? 7

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

struct CannedTransport: HTTPTransport {
    let body: [UInt8] = Array(#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#.utf8)
    func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        HTTPExchange.Response(status: 200, headers: [.init("content-type", "application/json")], body: body)
    }
}

func llmChainYAML(steps: Int) -> String {
    var yaml = "name: paid-chain\nbudget: 100\nsteps:\n  - id: s0\n    type: llm\n    model: gpt-4o-mini\n    max_tokens: 20\n    prompt: \"say ok\"\n"
    for i in 1..<steps {
        yaml += "  - id: s\(i)\n    type: llm\n    model: gpt-4o-mini\n    max_tokens: 20\n    prompt: \"after {{steps.s\(i - 1).output.text}} say ok\"\n"
    }
    return yaml
}

func transformChainYAML(steps: Int) -> String {
    var yaml = "name: chain\nbudget: 0\nsteps:\n  - id: s0\n    type: transform\n    output: {n: 0}\n"
    for i in 1..<steps {
        yaml += "  - id: s\(i)\n    type: transform\n    output: {n: \(i), prev: \"{{steps.s\(i - 1).output.n}}\"}\n"
    }
    return yaml
}

/// One child: bootstraps telemetry from its environment, runs one chain, flushes, prints seconds.
func child(kind: String) async throws {
    let telemetry = try Telemetry.bootstrap(environment: ProcessInfo.processInfo.environment,
                                            logger: Logger(label: "bench", factory: { StreamLogHandler.standardError(label: $0) }))
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-telemetry-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let yaml = kind == "llm" ? llmChainYAML(steps: steps) : transformChainYAML(steps: steps)
    let definition = try WorkflowParser().parse(yaml: yaml, file: "chain.yaml")
    let pricing = try PricingTable(json: ["gpt-4o-mini": ["litellm_provider": "openai", "mode": "chat", "max_output_tokens": 16384,
                                                          "input_cost_per_token": .number("0.00000015"), "output_cost_per_token": .number("0.0000006")]],
                                   source: "benchmark")
    let llm = LLMClient(transport: CannedTransport(), endpoints: ProviderEndpoints.fromEnvironment([:]), requiresAPIKey: false)
    let store = try SQLiteJournalStore(path: directory.appendingPathComponent("bench.db").path)
    let executor = Executor(ExecutorConfiguration(store: store, pricing: pricing, llm: llm))
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try await executor.start(definition: definition, source: yaml, path: "chain.yaml", inputs: [:], budget: Money(100))
    await telemetry.shutdown()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    precondition(result.status == .completed, "benchmark run ended \(result.status): \(result.error ?? "")")
    print(seconds)
}

func spawn(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> (Process, Pipe) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    return (process, pipe)
}

let arguments = CommandLine.arguments
if arguments.count == 3, arguments[1] == "--child" {
    try await child(kind: arguments[2])
    exit(0)
}

let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let (sink, sinkOut) = try spawn("/usr/bin/python3", [here.appendingPathComponent("telemetry/sink.py").path],
                                environment: ["PATH": "/usr/bin:/bin"])
let portLine = sinkOut.fileHandleForReading.availableData
guard let port = Int(String(decoding: portLine, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
    fatalError("the sink did not print its port")
}
var base = ProcessInfo.processInfo.environment
for key in base.keys where key.hasPrefix("OTEL_") { base[key] = nil }
var on = base
on["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:\(port)"

var seconds: [String: [Double]] = [:]
let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
for _ in 0..<repetitions {
    for kind in ["llm", "transform"] {
        for (mode, environment) in [("off", base), ("on", on)] {
            let (process, pipe) = try spawn(me, ["--child", kind], environment: environment)
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0, let value = Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                fatalError("child \(kind) \(mode) failed: \(process.terminationStatus)")
            }
            seconds["\(kind)-\(mode)", default: []].append(value)
        }
    }
}
sink.terminate()
sink.waitUntilExit()
print(String(decoding: sinkOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), terminator: "")
print("steps \(steps), repetitions \(repetitions) (medians; each child's time includes the final flush)")
for kind in ["llm", "transform"] {
    let off = median(seconds["\(kind)-off"] ?? []), on = median(seconds["\(kind)-on"] ?? [])
    print(String(format: "%@ chain: export off %.3f s (%.3f ms/step) · export on %.3f s (%.3f ms/step) · on/off %.3fx",
                 kind, off, off / Double(steps) * 1000, on, on / Double(steps) * 1000, on / off))
}
