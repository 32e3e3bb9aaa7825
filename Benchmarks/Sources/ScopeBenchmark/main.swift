import Foundation
import WfloCore
import WfloDSL
import WfloEngine
import WfloPricing
import WfloProviders
import WfloStore

// Issue 17: what budget scopes add to a paid call's journal work. One attempt = beginAttempt
// (the reservation: run ledger, plus every matching scope's window, in one transaction) and
// finishAttempt (the settlement). Two journals in the same process, same settings: one with no
// scope, one with 3 scopes matching the run (a day, a week and a month window). The rounds
// alternate between them so machine load falls on both alike; medians of BENCH_REPS rounds.
// Then the same comparison for a whole paid call through the engine (a chain of `llm` steps
// answered in-process by a canned transport, as in EngineBenchmark): the per-call overhead the
// goal is about. Goal: with 3 scopes ≤ 1.3 × without.
//
// Run: cd Benchmarks && swift run -c release ScopeBenchmark

let calls = Int(ProcessInfo.processInfo.environment["BENCH_CALLS"] ?? "") ?? 2000
let repetitions = Int(ProcessInfo.processInfo.environment["BENCH_REPS"] ?? "") ?? 7

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

let reserve = Money(string: "0.0001")!
let cost = Money(string: "0.00007")!

/// Seconds for `calls` reserve+settle pairs on a new run of `store`.
func round(_ store: any JournalStore, label: String, index: Int) async throws -> Double {
    let runID = "\(label)-\(index)-\(UUID().uuidString.prefix(8))"
    let now = Date()
    try await store.createRun(RunRecord(id: runID, workflowName: "bench", workflowPath: "bench.yaml", workflowSource: "", inputs: [:],
                                        budget: Money(1_000_000), createdAt: now, updatedAt: now, tags: ["team": "research", "customer": "acme"]))
    let start = DispatchTime.now().uptimeNanoseconds
    for call in 0..<calls {
        let at = Date()
        guard case .started(let id) = try await store.beginAttempt(AttemptStart(runID: runID, stepID: "s\(call)", stepType: .llm, number: 1,
                                                                                 model: "m", reserve: reserve, at: at)) else {
            fatalError("a reservation was refused")
        }
        try await store.finishAttempt(AttemptFinish(attemptID: id, runID: runID, stepID: "s\(call)", succeeded: true, cost: cost, usage: nil,
                                                    error: nil, stepStatus: .completed, stepOutput: nil, at: at))
    }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func addScopes(_ store: any JournalStore) async throws {
    let now = Date()
    let big = Money(1_000_000)
    try await store.setBudgetScope(BudgetScope(name: "org", limit: big, period: .month, createdAt: now))
    try await store.setBudgetScope(BudgetScope(name: "team", limit: big, period: .week, timeZone: "Europe/Berlin", match: ["team": "research"],
                                               alertThresholds: [0.5, 0.8, 0.95], createdAt: now))
    try await store.setBudgetScope(BudgetScope(name: "customer", limit: big, period: .day, timeZone: "America/New_York",
                                               match: ["customer": "acme"], createdAt: now))
}

func compare(name: String, plain: any JournalStore, scoped: any JournalStore) async throws {
    try await addScopes(scoped)
    // Warm-up: statement caches, the windows' first rows.
    _ = try await round(plain, label: "warm", index: 0)
    _ = try await round(scoped, label: "warm", index: 0)
    var without: [Double] = []
    var with: [Double] = []
    for index in 0..<repetitions {
        without.append(try await round(plain, label: "none", index: index))
        with.append(try await round(scoped, label: "three", index: index))
    }
    let a = median(without) / Double(calls) * 1e6
    let b = median(with) / Double(calls) * 1e6
    print("\(name): \(calls) reserve+settle pairs, median of \(repetitions) rounds")
    print(String(format: "  no scope:          %8.1f µs per call", a))
    print(String(format: "  3 matching scopes: %8.1f µs per call  (%.2f×, goal ≤ 1.30×)", b, b / a))
    print("  rounds (s) no scope: \(without.map { String(format: "%.3f", $0) }.joined(separator: " "))")
    print("  rounds (s) 3 scopes: \(with.map { String(format: "%.3f", $0) }.joined(separator: " "))")
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-scope-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
try await compare(name: "SQLite file (WAL, synchronous=NORMAL)",
                  plain: try SQLiteJournalStore(path: directory.appendingPathComponent("plain.db").path),
                  scoped: try SQLiteJournalStore(path: directory.appendingPathComponent("scoped.db").path))


// MARK: - A paid call through the engine

struct CannedTransport: HTTPTransport {
    let body: [UInt8] = Array(#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#.utf8)
    func send(_ request: HTTPExchange.Request, timeout: Duration) async throws -> HTTPExchange.Response {
        HTTPExchange.Response(status: 200, headers: [.init("content-type", "application/json")], body: body)
    }
}

let chainSteps = Int(ProcessInfo.processInfo.environment["BENCH_CHAIN"] ?? "") ?? 300
var chainYAML = "name: paid-chain\nbudget: 100\nsteps:\n  - id: s0\n    type: llm\n    model: gpt-4o-mini\n    max_tokens: 20\n    prompt: \"say ok\"\n"
for i in 1..<chainSteps {
    chainYAML += "  - id: s\(i)\n    type: llm\n    model: gpt-4o-mini\n    max_tokens: 20\n    prompt: \"after {{steps.s\(i - 1).output.text}} say ok\"\n"
}
let chain = try WorkflowParser().parse(yaml: chainYAML, file: "paid-chain.yaml")
let chainPricing = try PricingTable(json: ["gpt-4o-mini": ["litellm_provider": "openai", "mode": "chat", "max_output_tokens": 16384,
                                                          "input_cost_per_token": .number("0.00000015"), "output_cost_per_token": .number("0.0000006")]],
                                    source: "benchmark")
let canned = LLMClient(transport: CannedTransport(), endpoints: ProviderEndpoints.fromEnvironment([:]), requiresAPIKey: false)

func chainRound(_ store: any JournalStore) async throws -> Double {
    let executor = Executor(ExecutorConfiguration(store: store, pricing: chainPricing, llm: canned))
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try await executor.start(definition: chain, source: chainYAML, path: "paid-chain.yaml", inputs: [:], budget: Money(100),
                                          tags: ["team": "research", "customer": "acme"])
    precondition(result.status == .completed, "paid chain ended \(result.status): \(result.error ?? "")")
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

let plainEngine = try SQLiteJournalStore(path: directory.appendingPathComponent("engine-plain.db").path)
let scopedEngine = try SQLiteJournalStore(path: directory.appendingPathComponent("engine-scoped.db").path)
try await addScopes(scopedEngine)
_ = try await chainRound(plainEngine)
_ = try await chainRound(scopedEngine)
var engineWithout: [Double] = []
var engineWith: [Double] = []
for _ in 0..<repetitions {
    engineWithout.append(try await chainRound(plainEngine))
    engineWith.append(try await chainRound(scopedEngine))
}
let perCallWithout = median(engineWithout) / Double(chainSteps) * 1e6
let perCallWith = median(engineWith) / Double(chainSteps) * 1e6
print("Engine, SQLite file: a \(chainSteps)-step paid llm chain (canned answers), median of \(repetitions) runs")
print(String(format: "  no scope:          %8.1f µs per paid call", perCallWithout))
print(String(format: "  3 matching scopes: %8.1f µs per paid call  (%.2f×, goal ≤ 1.30×)", perCallWith, perCallWith / perCallWithout))
print("  runs (s) no scope: \(engineWithout.map { String(format: "%.3f", $0) }.joined(separator: " "))")
print("  runs (s) 3 scopes: \(engineWith.map { String(format: "%.3f", $0) }.joined(separator: " "))")
