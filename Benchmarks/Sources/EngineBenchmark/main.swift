import Foundation
import GRDBSQLite
import WfloCore
import WfloDSL
import WfloEngine
import WfloHTTP
import WfloPricing
import WfloProviders
import WfloStore

// A 1,000-step chain of `transform` steps (each depends on the previous one) run to completion
// on a file database, against a raw SQLite insert-and-commit loop measured in the same process
// with the same settings (WAL, synchronous=NORMAL): the floor for "one durable commit per step".
// Then a chain of paid `llm` steps with a budget, answered in-process by a canned transport (no
// network), so the number is the attempt path alone: gate, cache lookup, reserve, call, settle.

let steps = Int(ProcessInfo.processInfo.environment["BENCH_STEPS"] ?? "") ?? 1000
let repetitions = Int(ProcessInfo.processInfo.environment["BENCH_REPS"] ?? "") ?? 7
// BENCH_ONLY=paid: the paid chain and its bare client alone (for a profiler).
let paidOnly = ProcessInfo.processInfo.environment["BENCH_ONLY"] == "paid"

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func workflowYAML(steps: Int) -> String {
    var yaml = "name: chain\nbudget: 0\nsteps:\n  - id: s0\n    type: transform\n    output: {n: 0}\n"
    for i in 1..<steps {
        yaml += "  - id: s\(i)\n    type: transform\n    output: {n: \(i), prev: \"{{steps.s\(i - 1).output.n}}\"}\n"
    }
    yaml += "outputs:\n  last: \"{{steps.s\(steps - 1).output.n}}\"\n"
    return yaml
}

func rawSQLiteLoop(path: String, count: Int) -> Double {
    var db: OpaquePointer?
    precondition(sqlite3_open(path, &db) == SQLITE_OK)
    defer { sqlite3_close(db) }
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t(id INTEGER PRIMARY KEY, run TEXT, step TEXT, output TEXT)", nil, nil, nil)
    var insert: OpaquePointer?
    sqlite3_prepare_v2(db, "INSERT INTO t(run, step, output) VALUES (?, ?, ?)", -1, &insert, nil)
    defer { sqlite3_finalize(insert) }
    let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    let start = DispatchTime.now().uptimeNanoseconds
    for i in 0..<count {
        sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil)
        sqlite3_bind_text(insert, 1, "run", -1, transient)
        sqlite3_bind_text(insert, 2, "s\(i)", -1, transient)
        sqlite3_bind_text(insert, 3, "{\"n\":\(i)}", -1, transient)
        precondition(sqlite3_step(insert) == SQLITE_DONE)
        sqlite3_reset(insert)
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
    }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }

let yaml = workflowYAML(steps: steps)
let definition = try WorkflowParser().parse(yaml: yaml, file: "chain.yaml")
let pricing = try PricingTable(json: ["sample_spec": [:]], source: "empty")
let transport = AsyncHTTPTransport()
let llm = LLMClient(transport: transport, endpoints: ProviderEndpoints.fromEnvironment([:]))

// The same number of transform items in one for_each step: each item journaled on its own.
func forEachYAML(items: Int, parallel: Int) -> String {
    """
    name: items
    budget: 0
    inputs:
      xs: {type: array, default: [\((0..<items).map(String.init).joined(separator: ", "))]}
    steps:
      - id: each
        type: transform
        for_each: {items: "{{inputs.xs}}", item_var: x, max_parallel: \(parallel)}
        output: {n: "{{for_each.x}}"}
    outputs:
      count: "{{steps.each.output.count}}"
    """
}
// An OpenAI chat completion, answered without a socket: what is measured is wflo's side of a paid call.
struct CannedTransport: HTTPTransport {
    let body: [UInt8] = Array(#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#.utf8)
    func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        HTTPExchange.Response(status: 200, headers: [.init("content-type", "application/json")], body: body)
    }
}
let llmSteps = max(steps / 2, 1)
func llmChainYAML(steps: Int) -> String {
    var yaml = "name: paid-chain\nbudget: 100\nsteps:\n  - id: s0\n    type: llm\n    model: gpt-4o-mini\n    max_tokens: 20\n    prompt: \"say ok\"\n"
    for i in 1..<steps {
        yaml += "  - id: s\(i)\n    type: llm\n    model: gpt-4o-mini\n    max_tokens: 20\n    prompt: \"after {{steps.s\(i - 1).output.text}} say ok\"\n"
    }
    return yaml
}
let llmYAML = llmChainYAML(steps: llmSteps)
let llmDefinition = try WorkflowParser().parse(yaml: llmYAML, file: "paid-chain.yaml")
let paidPricing = try PricingTable(json: ["gpt-4o-mini": ["litellm_provider": "openai", "mode": "chat", "max_output_tokens": 16384,
                                                         "input_cost_per_token": .number("0.00000015"), "output_cost_per_token": .number("0.0000006")]],
                                   source: "benchmark")
let cannedLLM = LLMClient(transport: CannedTransport(), endpoints: ProviderEndpoints.fromEnvironment([:]), requiresAPIKey: false)
var llmSeconds: [Double] = []
// The bare client: the same provider client and canned transport, called in a loop with the same
// request and nothing around it (no journal, no pricing, no budget). What a paid step costs on
// top of this is everything wflo adds to a model call.
let bareRequest = LLMRequest(provider: .openai, model: "gpt-4o-mini", messages: [LLMMessage(role: "user", content: "after ok say ok")], maxTokens: 20)
var bareSeconds: [Double] = []
func bareCalls(_ count: Int) async throws -> Double {
    let began = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<count {
        let response = try await cannedLLM.complete(bareRequest, timeout: .seconds(60))
        precondition(response.text == "ok")
    }
    return Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
}

/// One round of the paid chain on a fresh journal, then the bare client's calls: both times kept.
@MainActor func paidChainRound(_ rep: Int) async throws {
    let paidStore = try SQLiteJournalStore(path: directory.appendingPathComponent("paid-\(rep).db").path)
    let paidExecutor = Executor(ExecutorConfiguration(store: paidStore, pricing: paidPricing, llm: cannedLLM))
    let paidStart = DispatchTime.now().uptimeNanoseconds
    let paid = try await paidExecutor.start(definition: llmDefinition, source: llmYAML, path: "paid-chain.yaml", inputs: [:], budget: Money(100))
    llmSeconds.append(Double(DispatchTime.now().uptimeNanoseconds - paidStart) / 1e9)
    precondition(paid.status == .completed, "paid chain ended \(paid.status): \(paid.error ?? "")")
    bareSeconds.append(try await bareCalls(llmSteps))
}

let forEachDefinitions = try [1, 8].map { parallel in
    (parallel, forEachYAML(items: steps, parallel: parallel), try WorkflowParser().parse(yaml: forEachYAML(items: steps, parallel: parallel), file: "items.yaml"))
}
var forEachSeconds: [Int: [Double]] = [:]

var engineSeconds: [Double] = []
var rawSeconds: [Double] = []
for rep in 0..<repetitions {
    if paidOnly {
        try await paidChainRound(rep)
        continue
    }
    // Interleave the two so machine noise hits both alike.
    rawSeconds.append(rawSQLiteLoop(path: directory.appendingPathComponent("raw-\(rep).db").path, count: steps))
    let store = try SQLiteJournalStore(path: directory.appendingPathComponent("engine-\(rep).db").path)
    let executor = Executor(ExecutorConfiguration(store: store, pricing: pricing, llm: llm))
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try await executor.start(definition: definition, source: yaml, path: "chain.yaml", inputs: [:], budget: .zero)
    engineSeconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    precondition(result.status == .completed, "benchmark run ended \(result.status): \(result.error ?? "")")
    precondition(result.outputs?["last"] == .int(steps - 1))
    try await paidChainRound(rep)
    for (parallel, text, items) in forEachDefinitions {
        let itemStore = try SQLiteJournalStore(path: directory.appendingPathComponent("items-\(parallel)-\(rep).db").path)
        let itemExecutor = Executor(ExecutorConfiguration(store: itemStore, pricing: pricing, llm: llm))
        let bound: JSONValue = ["xs": items.inputs[0].defaultValue!]
        let began = DispatchTime.now().uptimeNanoseconds
        let done = try await itemExecutor.start(definition: items, source: text, path: "items.yaml", inputs: bound, budget: .zero)
        forEachSeconds[parallel, default: []].append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9)
        precondition(done.status == .completed && done.outputs?["count"] == .int(steps), "for_each run ended \(done.status): \(done.error ?? "")")
    }
}
try await transport.shutdown()
if paidOnly {
    let perCall = median(llmSeconds) / Double(llmSteps) * 1000, bareCall = median(bareSeconds) / Double(llmSteps) * 1000
    print(String(format: "paid llm chain (%d steps): median %.4f ms/call; bare client %.4f ms/call; wflo's cost per paid call %.4f ms",
                 llmSteps, perCall, bareCall, perCall - bareCall))
    print("paid ms/call by round: " + llmSeconds.map { String(format: "%.4f", $0 / Double(llmSteps) * 1000) }.joined(separator: " "))
    exit(0)
}

let engineMedian = median(engineSeconds)
let rawMedian = median(rawSeconds)
let perStep = engineMedian / Double(steps) * 1000
let rawPerStep = rawMedian / Double(steps) * 1000
print("steps per run: \(steps), repetitions: \(repetitions), SQLite WAL synchronous=NORMAL")
print(String(format: "raw sqlite3 insert+commit loop : median %.4f ms/commit", rawPerStep))
print(String(format: "wflo transform chain            : median %.4f ms/step (%.0f steps/s)", perStep, Double(steps) / engineMedian))
print(String(format: "engine overhead per step        : %.4f ms; ratio engine/raw %.2fx", perStep - rawPerStep, perStep / rawPerStep))
for (parallel, _, _) in forEachDefinitions {
    let perItem = median(forEachSeconds[parallel] ?? []) / Double(steps) * 1000
    print(String(format: "for_each of transforms, max_parallel %d : median %.4f ms/item; ratio item/chain step %.2fx", parallel, perItem, perItem / perStep))
}
let perCall = median(llmSeconds) / Double(llmSteps) * 1000
print(String(format: "paid llm chain (%d steps, canned answers) : median %.4f ms/call; ratio call/transform step %.2fx", llmSteps, perCall, perCall / perStep))
let bareCall = median(bareSeconds) / Double(llmSteps) * 1000
func spread(_ values: [Double], per count: Int) -> String {
    let sorted = values.sorted().map { $0 / Double(count) * 1000 }
    return String(format: "min %.4f / median %.4f / max %.4f", sorted.first ?? 0, median(sorted), sorted.last ?? 0)
}
print(String(format: "bare client call (same transport, no wflo) : median %.4f ms/call", bareCall))
print(String(format: "wflo's cost per paid call over the bare client: %.4f ms (of which a durable step %.4f ms)", perCall - bareCall, perStep))
print("  paid step ms/call: " + spread(llmSeconds, per: llmSteps) + "; bare ms/call: " + spread(bareSeconds, per: llmSteps))
print("all runs (ms/step): " + engineSeconds.map { String(format: "%.4f", $0 / Double(steps) * 1000) }.joined(separator: " "))
