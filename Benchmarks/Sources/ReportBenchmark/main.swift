import Foundation
import WfloCore
import WfloReports
import WfloStore

// `wflo report` on a big journal: 1,000 runs × 100 steps = 100,000 steps, each step one
// attempt with an exact cost and token usage, every 10th step retried once after a failed
// (charged) attempt, the last step of every 50th run left unsettled. The journal is filled
// once through SQLiteJournalStore's public API (the same transactions the engine makes), then
// the reports are timed with interleaved repetitions and their medians printed.
//
// Run: cd Benchmarks && swift run -c release ReportBenchmark
// BENCH_RUNS, BENCH_STEPS (per run) and BENCH_REPS change the sizes.

let runCount = Int(ProcessInfo.processInfo.environment["BENCH_RUNS"] ?? "") ?? 1000
let stepsPerRun = Int(ProcessInfo.processInfo.environment["BENCH_STEPS"] ?? "") ?? 100
let repetitions = Int(ProcessInfo.processInfo.environment["BENCH_REPS"] ?? "") ?? 7

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func milliseconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wflo-report-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
let store = try SQLiteJournalStore(path: directory.appendingPathComponent("wflo.db").path)

let models = ["gpt-4o-mini", "claude-haiku-4-5", "gpt-4.1", "claude-sonnet-4-5"]
let workflows = ["brief", "triage", "research", "publish"]
let now = Date()
let fillStart = DispatchTime.now().uptimeNanoseconds
var attemptCount = 0
for r in 0..<runCount {
    let runID = String(format: "run%05d", r)
    // Runs spread over the last 20 days, so a 7-day window holds about a third of them.
    let created = now.addingTimeInterval(-Double(runCount - r) * 20 * 86_400 / Double(runCount))
    try await store.createRun(RunRecord(id: runID, workflowName: workflows[r % workflows.count], workflowPath: "bench.yaml",
                                        workflowSource: "name: bench\n", inputs: [:], budget: Money(string: "5")!,
                                        status: .completed, createdAt: created, updatedAt: created))
    for s in 0..<stepsPerRun {
        let stepID = "step\(s)"
        let model = models[(r + s) % models.count]
        let at = created.addingTimeInterval(Double(s))
        let usage = TokenUsage(inputTokens: 1_000 + s * 7, cachedInputTokens: s % 3 == 0 ? 256 : 0, outputTokens: 200 + s)
        let cost = Money(string: "0.000\(150 + s)\(r % 97)")!
        let attempts = s % 10 == 9 ? 2 : 1
        for number in 1...attempts {
            guard case .started(let id) = try await store.beginAttempt(AttemptStart(runID: runID, stepID: stepID, stepType: .llm, number: number,
                                                                                    model: model, reserve: Money(string: "0.01")!, at: at)) else {
                fatalError("the benchmark's budget refused an attempt")
            }
            attemptCount += 1
            if r % 50 == 49 && s == stepsPerRun - 1 { continue }  // in flight when the process "died"
            let failed = number < attempts
            try await store.finishAttempt(AttemptFinish(attemptID: id, runID: runID, stepID: stepID, succeeded: !failed,
                                                        cost: failed ? Money(string: "0.0000123")! : cost, usage: usage,
                                                        error: failed ? "HTTP 529 overloaded" : nil,
                                                        stepStatus: failed ? nil : .completed, stepOutput: failed ? nil : ["text": "ok"],
                                                        at: at.addingTimeInterval(0.5)))
        }
    }
    if r % 50 == 49 { _ = try await store.markInFlightUnsettled(runID: runID, at: created.addingTimeInterval(Double(stepsPerRun))) }
}
let fillSeconds = Double(DispatchTime.now().uptimeNanoseconds - fillStart) / 1e9
let fileSize = (try? FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int) ?? 0

// A run in the middle of the journal (the single-run report reads it by its id's index).
let probeRun = String(format: "run%05d", runCount / 2)
let since = try ReportSince.parse("7d", now: now)

var cases: [(name: String, run: () async throws -> Int)] = [
    ("single run: journal + report + table", {
        RunReport(journal: try await store.journal(runID: try await store.resolveRunID(prefix: probeRun))).render(.table).utf8.count
    }),
    ("single run: journal + report + html", {
        RunReport(journal: try await store.journal(runID: probeRun)).render(.html).utf8.count
    }),
]
for grouping in [SpendReport.Grouping.model, .step] {
    cases.append(("--since 7d --by \(grouping.rawValue): query + report + table", {
        let activity = try await store.activity(since: since)
        return SpendReport(runs: activity.runs, attempts: activity.attempts, since: since, until: now, grouping: grouping).render(.table).utf8.count
    }))
}
cases.append(("--since 30d --by day (every run): query + report + html", {
    let all = now.addingTimeInterval(-30 * 86_400)
    let activity = try await store.activity(since: all)
    return SpendReport(runs: activity.runs, attempts: activity.attempts, since: all, until: now, grouping: .day).render(.html).utf8.count
}))
cases.append(("--since 7d: the store query alone", {
    try await store.activity(since: since).attempts.count
}))

// Warm-up, then interleaved repetitions so machine noise hits every case alike.
for c in cases { _ = try await c.run() }
var timings = Array(repeating: [Double](), count: cases.count)
for _ in 0..<repetitions {
    for (i, c) in cases.enumerated() {
        var size = 0
        timings[i].append(try await milliseconds { size = try await c.run() })
        precondition(size > 0)
    }
}

let window = try await store.activity(since: since)
print("journal: \(runCount) runs × \(stepsPerRun) steps = \(runCount * stepsPerRun) steps, \(attemptCount) attempts, "
      + String(format: "%.1f MB; filled through the store API in %.1f s", Double(fileSize) / 1e6, fillSeconds))
print("7-day window: \(window.runs.count) runs, \(window.attempts.count) attempts; repetitions: \(repetitions)")
for (i, c) in cases.enumerated() {
    let all = timings[i].map { String(format: "%.1f", $0) }.joined(separator: " ")
    print(c.name.padding(toLength: 60, withPad: " ", startingAt: 0) + String(format: " median %8.1f ms", median(timings[i])) + "   (all: \(all))")
}
