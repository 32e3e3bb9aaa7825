import Foundation
import WfloCore
import WfloStore

// Issue 17: what budget scopes add to a paid call's journal work. One attempt = beginAttempt
// (the reservation: run ledger, plus every matching scope's window, in one transaction) and
// finishAttempt (the settlement). Two journals in the same process, same settings: one with no
// scope, one with 3 scopes matching the run (a day, a week and a month window). The rounds
// alternate between them so machine load falls on both alike; medians of BENCH_REPS rounds.
// Goal: with 3 scopes ≤ 1.3 × without.
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

